"""Example sets of each probe as small JPEG contact sheets, so readers see what a factor meant.

Results files carry, per probe, a few example sets (`examples`: set id, class, item paths relative
to the probe root, boxes; see `invariance_lab.evaluate.example_sets`). Images are read from the
recorded root; when that is not on this machine, the probe is rebuilt from its name and params
(`get_probe`; SynthWorld probes are not re-rendered, their render cache is read) and the paths are
read under the rebuilt root. Results without `examples` (older files) take example sets from the
rebuilt probe. When no image can be read the page says so instead of failing.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

TILE = 64
PER_ROW = 12


@dataclass
class ExampleSet:
    set_id: str
    class_id: str
    n_items: int
    factors: list[Any]
    jpeg: bytes
    n_shown: int


@dataclass
class ProbeExamples:
    col: str
    factor: str
    sets: list[ExampleSet] = field(default_factory=list)
    note: str = ""


def _rebuild(desc: dict[str, Any], data_root: str | None):
    """The probe rebuilt from its description without rendering, or None."""
    name = desc.get("name")
    if not name:
        return None
    params = dict(desc.get("params") or {})
    try:
        from ..probes import get_probe

        if name == "folder":
            return get_probe(f"folder:{desc['root']}") if desc.get("root") else None
        cats = params.pop("categories", None)
        for k in ("world_version", "path"):
            params.pop(k, None)
        spec = name if not cats or cats == "all" else f"{name}:{cats}"
        if name.startswith(("synth-", "mesh-")):
            params["render"] = False
        return get_probe(spec, root=data_root, **params)
    except Exception:  # any failure means "images unavailable", said on the page
        return None


def _sheet(images: list[Image.Image], tile: int, quality: int) -> bytes:
    cols = min(PER_ROW, len(images))
    rows = math.ceil(len(images) / cols)
    sheet = Image.new("RGB", (cols * tile, rows * tile), (255, 255, 255))
    for n, im in enumerate(images):
        im = im.convert("RGB")
        im.thumbnail((tile, tile))
        x = (n % cols) * tile + (tile - im.width) // 2
        y = (n // cols) * tile + (tile - im.height) // 2
        sheet.paste(im, (x, y))
    buf = io.BytesIO()
    sheet.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def probe_examples(col: str, desc: dict[str, Any], *, data_root: str | None = None, tile: int = TILE,
                   quality: int = 70, max_sets: int = 3) -> ProbeExamples:  # fmt: skip
    """Contact sheets of a probe's example sets (or a note saying why there are none)."""
    from ..probes._base import Probe, ProbeItem

    out = ProbeExamples(col=col, factor=str(desc.get("factor") or ""))
    examples = desc.get("examples")
    roots: list[Path] = []
    if desc.get("root") and Path(desc["root"]).is_dir():
        roots.append(Path(desc["root"]))
    rebuilt = None
    need_rebuild = not examples or not roots or not _any_exists(examples, roots)
    if need_rebuild:
        rebuilt = _rebuild(desc, data_root)
        if rebuilt is not None and rebuilt.root is not None:
            roots.append(Path(rebuilt.root))
        if rebuilt is not None and desc.get("digest") and rebuilt.digest() != desc["digest"]:
            out.note = ("the probe rebuilt here differs from the one measured (digest "
                        f"{rebuilt.digest()[:12]} ≠ {str(desc['digest'])[:12]}); the examples may not be the measured images")  # fmt: skip
        if not examples and rebuilt is not None:
            from ..evaluate import example_sets

            examples = example_sets(rebuilt, n_sets=max_sets)
    if not examples:
        out.note = "example images unavailable: the results carry no example sets and the probe could not be rebuilt here"
        return out
    missing = 0
    for ex in examples[:max_sets]:
        items = ex.get("items") or []
        imgs, factors = [], []
        for it in items:
            pi = ProbeItem(path=str(it.get("path")), set_id=str(ex.get("set_id")), class_id=str(ex.get("class_id")),
                           factor=it.get("factor"), box=tuple(it["box"]) if it.get("box") else None)  # fmt: skip
            img = None
            for root in roots or [None]:
                try:
                    img = Probe(name=str(desc.get("name")), factor=out.factor, items=[pi], root=root).load_image(0)
                    break
                except Exception:
                    continue
            if img is None:
                missing += 1
                continue
            imgs.append(img)
            factors.append(it.get("factor"))
        if imgs:
            out.sets.append(ExampleSet(set_id=str(ex.get("set_id")), class_id=str(ex.get("class_id")),
                                       n_items=int(ex.get("n_items") or len(items)), factors=factors,
                                       jpeg=_sheet(imgs, tile, quality), n_shown=len(imgs)))  # fmt: skip
    if not out.sets:
        where = ", ".join(str(r) for r in roots) or str(desc.get("root"))
        out.note = (f"example images unavailable on this machine (not found under {where}); "
                    f"re-run the evaluation here, or build the report where the probe's images are")  # fmt: skip
    elif missing:
        out.note = (out.note + "; " if out.note else "") + f"{missing} example image(s) could not be read"
    return out


def _any_exists(examples: list[dict[str, Any]], roots: list[Path]) -> bool:
    for ex in examples:
        for it in ex.get("items") or []:
            p = Path(str(it.get("path")))
            if p.is_absolute():
                return p.exists()
            return any((r / p).exists() for r in roots)
    return False
