"""The probe contract: a named, digestible list of items grouped into sets and classes.

A probe yields `ProbeItem`s. Each item is one image (a file, optionally with a crop box) that
belongs to one *set* (images of the same object under the probe's transformation) and one
*class*; `factor` is the transformation's value for that image (an angle, a cover level, a colour
temperature, ...). The invariance measure only needs `set_id` and `class_id`; the factor feeds
reports and checks.

A probe describes itself (`describe()`) and has two digests:
- `digest()`: identity of the item list (names, sets, classes, factors, boxes), portable across
  machines; two labs with the same digest measured the same sets.
- `fingerprint()`: `digest()` plus file sizes and modification times, used to key caches so that a
  re-rendered or replaced image invalidates cached features.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .._registry import Registry
from ..errors import ImageReadError, ProbeError

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the source image


@dataclass(frozen=True)
class ProbeItem:
    """One probe image.

    Attributes:
        path: image file (absolute, or relative to the probe's `root`).
        set_id: the set it belongs to (one object under one transformation sweep).
        class_id: the class of that object (the set id again where a dataset has no classes).
        factor: the transformation's value for this image (angle in degrees, cover level, ...).
        box: optional crop box (x0, y0, x1, y1) in source pixels, applied before resizing.

    """

    path: str
    set_id: str
    class_id: str
    factor: float | int | str | None = None
    box: Box | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (box as a list)."""
        d = asdict(self)
        if d["box"] is not None:
            d["box"] = [float(v) for v in d["box"]]
        return d


@dataclass
class Probe:
    """A list of items plus how to read them.

    Subclasses (or factories) fill `items`; most only need to construct this class. Override
    `load_image` for sources that are not plain image files.

    Attributes:
        name: registered name, e.g. `folder`, `aloi-viewpoint`, `synth-viewpoint`.
        factor: what varies within a set ("viewpoint", "occlusion", "illumination colour", ...).
        items: the images, in a fixed, documented order.
        root: folder that relative item paths refer to.
        params: options that define the item list (seed, selection rule, scale, ...).

    """

    name: str
    factor: str
    items: list[ProbeItem]
    root: Path | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.items:
            where = f" under {self.root}" if self.root else ""
            raise ProbeError(f"probe {self.name!r} has no images{where}; check the path and layout")

    def __len__(self) -> int:
        return len(self.items)

    # -- identity -------------------------------------------------------------------------
    def _item_payload(self) -> list[dict[str, Any]]:
        return [it.to_json() for it in self.items]

    def digest(self) -> str:
        """SHA-256 of name, params and item list (paths relative to `root`): portable identity."""
        payload = {"name": self.name, "factor": self.factor, "params": self.params, "items": self._item_payload()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def fingerprint(self) -> str:
        """`digest()` plus each file's size and mtime: changes when an image file changes."""
        h = hashlib.sha256(self.digest().encode())
        for it in self.items:
            try:
                st = os.stat(self.resolve(it))
                h.update(f"{st.st_size}:{st.st_mtime_ns};".encode())
            except OSError:
                h.update(b"missing;")
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        """Name, factor, sizes and digest, as written into results files."""
        sets = {it.set_id for it in self.items}
        classes = {it.class_id for it in self.items}
        return {
            "name": self.name,
            "factor": self.factor,
            "root": str(self.root) if self.root else None,
            "params": self.params,
            "n_images": len(self.items),
            "n_sets": len(sets),
            "n_classes": len(classes),
            "digest": self.digest(),
        }

    # -- reading --------------------------------------------------------------------------
    def resolve(self, item: ProbeItem) -> Path:
        """Absolute path of an item's image."""
        p = Path(item.path)
        return p if p.is_absolute() or self.root is None else self.root / p

    def load_image(self, index: int) -> Image.Image:
        """Decode item `index` as an RGB PIL image, cropped to its box if it has one.

        Raises:
            ImageReadError: naming the file and the item when the image cannot be decoded.

        """
        item = self.items[index]
        path = self.resolve(item)
        try:
            with Image.open(path) as im:
                im.load()
                img = im.convert("RGB")
        except Exception as exc:  # PIL raises many types for corrupt files
            raise ImageReadError(
                f"cannot read image {path} (probe {self.name!r}, item {index}, set {item.set_id!r}): "
                f"{type(exc).__name__}: {exc}. Fix or remove the file, or pass --on-error skip"
            ) from exc
        if item.box is not None:
            img = crop_box(img, item.box)
        return img

    def labels(self) -> tuple[list[str], list[str], list[Any]]:
        """(set ids, class ids, factors), one entry per item."""
        return ([it.set_id for it in self.items], [it.class_id for it in self.items], [it.factor for it in self.items])


def crop_box(img: Image.Image, box: Box) -> Image.Image:
    """Crop to (x0, y0, x1, y1), clamped to the image; a box with no area is an error."""
    x0, y0, x1, y1 = box
    w, h = img.size
    x0, y0 = max(0.0, float(x0)), max(0.0, float(y0))
    x1, y1 = min(float(w), float(x1)), min(float(h), float(y1))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise ImageReadError(f"crop box {box} lies outside the {w}x{h} image or has no area")
    return img.crop((round(x0), round(y0), round(x1), round(y1)))


ProbeFactory = Callable[..., Probe]
PROBES: Registry[ProbeFactory] = Registry("probe")
register_probe = PROBES.register


def list_probes(pattern: str = "*") -> list[str]:
    """Registered probe names matching a shell pattern."""
    return PROBES.list(pattern)


def get_probe(spec: str, root: str | os.PathLike | None = None, **options: Any) -> Probe:
    """Build a probe from its spec.

    Args:
        spec: a registered name (`aloi-viewpoint`, `synth-viewpoint`) or `name:ARG`, e.g.
            `folder:/data/my_sets` where ARG is the folder.
        root: data root for named dataset probes (else `$INVARIANCE_LAB_DATA`, else config file).
        **options: probe-specific options (seed, selection, scale, ...).

    Example:
        >>> probe = get_probe("folder:tests/fixtures/sets")  # doctest: +SKIP

    """
    if isinstance(spec, Probe):
        return spec
    name, _, arg = spec.partition(":")
    factory = PROBES.get(name)
    return factory(arg or None, root=root, **options)


def check_probe_sets(set_ids: Sequence[str], class_ids: Sequence[str], name: str) -> None:
    """Reject a set that spans several classes (the measure assigns each set one class)."""
    seen: dict[str, str] = {}
    for s, c in zip(set_ids, class_ids, strict=True):
        if seen.setdefault(s, c) != c:
            raise ProbeError(f"probe {name!r}: set {s!r} has images of classes {seen[s]!r} and {c!r}; a set must be one class")
