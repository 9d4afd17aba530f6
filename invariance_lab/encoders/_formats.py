"""The registry of checkpoint formats: how a file's keys map to a plain backbone state dict.

A format is data, not code paths in a central switch (STYLE.md, "Entries carry data"): a detector
over the file's key structure, a key map to the architecture's own names, the head keys it may
drop, the preprocessing its weights expect and where the format comes from. Each format lives in
one module under `formats/` and registers itself with `register_format`; `formats/__init__.py`
imports them all by name.

Detection reads the structure of the file (tensor key paths, scalar entries), never its name.
Exactly one specific format must match; "fallback" formats (`plain`) are tried only when no
specific one does. `--format NAME` skips detection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .._registry import Registry
from ..errors import CheckpointError
from ._loading import CLASSIFIER_HEADS, SSL_HEADS, Checkpoint
from ._preprocess import Preprocessing

StateDict = dict[str, torch.Tensor]


def no_preprocessing(obj: Any) -> Preprocessing | None:
    """Preprocessing factory of formats that do not constrain it (the architecture's default applies)."""
    return None


def arch_from_meta(obj: Any) -> str | None:
    """A top-level `arch` string (MoCo, PIRL, torchvision reference scripts store one), else None."""
    if isinstance(obj, Mapping) and isinstance(obj.get("arch"), str):
        return obj["arch"]
    return None


@dataclass(frozen=True)
class CheckpointFormat:
    """One checkpoint layout.

    Attributes:
        name: registered name, the value of `--format` (`plain`, `invariance-lab`, `mocov2`, ...).
        description: the key pattern it recognises, one line (shown by `list_formats`).
        detect: `(keys, meta) -> bool` over `Checkpoint.keys` (tensor paths, containers joined by
            "/") and `Checkpoint.meta` (scalar entries). Must not raise.
        map: raw loaded object → state dict in the architecture's own key names. Keys it cannot
            place may be kept (then `heads` must cover them) or dropped.
        heads: shell-style patterns of keys that `load_strict` may drop (heads, queues, momentum
            encoders), applied to the mapped keys.
        preprocessing: raw object → the `Preprocessing` its weights expect, or None for the
            architecture's default (ImageNet mean/std at 128×128 for torchvision).
        arch: raw object → the architecture recorded in the file (`resnet50`, `tv:resnet50`,
            `timm:vit_small_patch16_224`), or None when `--arch` must say it.
        citation: where the layout is documented (URL, repository file, paper).
        fallback: tried only when no specific format matches.
        needs_pickle: its files usually need `--trust-checkpoint` (informative).
        head_tap: key prefix (in mapped names) of the projection head that `--head` keeps as the
            extra tap `head` (`fc` for MoCo v2's MLP), or None when the format has none.
        warnings: caveats copied into every load report (e.g. BYOL's TF "SAME" padding).
        infer_options: keyword arguments of `_infer.infer_arch` for files that do not record
            their architecture (`{"cifar_padding": 2}` for solo-learn).
        match_shapes: optional `(shapes) -> bool` over {tensor path: shape}, checked after
            `detect` for layouts whose keys alone are not specific (a 128-d `fc`).

    """

    name: str
    description: str
    detect: Callable[[list[str], dict[str, Any]], bool]
    map: Callable[[Any], StateDict]
    heads: tuple[str, ...] = CLASSIFIER_HEADS + SSL_HEADS
    preprocessing: Callable[[Any], Preprocessing | None] = no_preprocessing
    arch: Callable[[Any], str | None] = arch_from_meta
    citation: str = ""
    fallback: bool = False
    needs_pickle: bool = False
    head_tap: str | None = None
    warnings: tuple[str, ...] = ()
    infer_options: Mapping[str, Any] = field(default_factory=dict)
    match_shapes: Callable[[dict[str, tuple[int, ...]]], bool] | None = None


FORMATS: Registry[CheckpointFormat] = Registry("checkpoint format")
"""Every registered checkpoint format by name (filled by the modules in `formats/`)."""


def register_format(fmt: CheckpointFormat) -> CheckpointFormat:
    """Add `fmt` to `FORMATS` and return it.

    Raises:
        RegistryError: if a format of that name exists (choose a versioned name, e.g. `mocov3`).

    """
    FORMATS.add(fmt.name, fmt)
    return fmt


def get_format(name: str) -> CheckpointFormat:
    """The format called `name`.

    Raises:
        RegistryError: naming the registered formats when `name` is unknown.

    """
    return FORMATS.get(name)


def list_formats(pattern: str = "*") -> list[tuple[str, str]]:
    """(name, description of the key pattern) rows, sorted by name, for `encoders formats`."""
    return [(n, FORMATS.get(n).description) for n in FORMATS.list(pattern)]


def _first_keys(ckpt: Checkpoint, n: int = 10) -> str:
    keys = ckpt.keys[:n] + [
        f"{k} = {v!r}" for k, v in list(ckpt.meta.items())[: max(0, n - len(ckpt.keys))]
    ]
    more = len(ckpt.keys) + len(ckpt.meta) - len(keys)
    return "\n    ".join(keys or ["(no tensors and no scalar entries)"]) + (
        f"\n    ... and {more} more" if more > 0 else ""
    )


def detect_format(ckpt: Checkpoint, forced: str | None = None) -> CheckpointFormat:
    """The format of a checkpoint: `forced` if given, else the single one whose detector matches.

    Raises:
        CheckpointError: no format or several specific formats match; the message lists the
            candidates and the first keys of the file. Pass `--format NAME` to choose one.
        RegistryError: `forced` is not a registered format.

    """
    if forced is not None:
        return get_format(forced)
    formats = [f for _, f in FORMATS.items()]
    for tier in ([f for f in formats if not f.fallback], [f for f in formats if f.fallback]):
        hits = [
            f
            for f in tier
            if f.detect(ckpt.keys, ckpt.meta) and (f.match_shapes is None or f.match_shapes(ckpt.shapes))
        ]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise CheckpointError(
                f"checkpoint {ckpt.path} matches several formats: {', '.join(f.name for f in hits)}. "
                f"Pass --format NAME to choose one. First keys of the file:\n    {_first_keys(ckpt)}"
            )
    rows = "\n    ".join(f"{n}: {d}" for n, d in list_formats())
    raise CheckpointError(
        f"checkpoint {ckpt.path} matches no known format. First keys of the file:\n    {_first_keys(ckpt)}\n"
        f"  Known formats:\n    {rows}\n"
        "  Pass --format NAME if one of them applies, or add a module under invariance_lab/encoders/formats/."
    )
