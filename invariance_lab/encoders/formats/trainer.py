"""`invariance-lab-train`: checkpoints written by `invariance-lab train` (MoCo v1/v2, PIRL, temporal, region-tracker).

Layout (invariance_lab/training/checkpoint.py): a dict with `"format": "invariance-lab-train"`,
`"version"`, `"method"`, `"arch"` (`tv:resnet18`, `timm:NAME`) and the backbone under `"encoder"`
in the architecture's own key names (classifier removed), beside the full training state (`model`
with heads, key encoder, queue or memory bank; `optimizer`, `rng`, ...). The map keeps `encoder`
only; the training state is never loaded. Preprocessing is left to the architecture's default
(the paper's 128×128 protocol); the training resolution is recorded under `preprocessing` for
reference.
"""

from __future__ import annotations

from typing import Any

from ...errors import CheckpointError
from .._formats import CheckpointFormat, StateDict, register_format

FORMAT_NAME = "invariance-lab-train"
VERSION = 1


def detect(keys: list[str], meta: dict[str, Any]) -> bool:
    """The `format` entry says so."""
    return meta.get("format") == FORMAT_NAME


def to_state(obj: Any) -> StateDict:
    """The backbone state dict under `encoder`.

    Raises:
        CheckpointError: a newer file version (upgrade invariance_lab) or no `encoder` entry.

    """
    v = obj.get("version")
    if not isinstance(v, int) or v > VERSION:
        raise CheckpointError(
            f"{FORMAT_NAME} checkpoint version {v!r} is not supported (reads 1..{VERSION}); upgrade invariance_lab"
        )
    enc = obj.get("encoder")
    if not isinstance(enc, dict) or not enc:
        raise CheckpointError(
            f"{FORMAT_NAME} checkpoint has no 'encoder' state dict; it was not written by `invariance-lab train`"
        )
    return dict(enc)


TRAINER = register_format(
    CheckpointFormat(
        name=FORMAT_NAME,
        description="{'format': 'invariance-lab-train', 'method', 'arch', 'encoder': backbone, 'model'/'optimizer'/...: training state}",
        detect=detect,
        map=to_state,
        heads=(),
        citation="invariance_lab/training/checkpoint.py (invariance-lab train)",
    )
)
