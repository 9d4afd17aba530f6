"""`converted`: the backbone files that `invariance-lab convert` writes.

Layout (this project's `encoders/convert.py`): `{"state_dict": tensors, "invariance_lab":
{"format": "invariance-lab-backbone", "arch", "preprocessing", "source_format", ...}}`; a
`.safetensors` output carries the same dict as its `invariance_lab` metadata entry, which
`safe_load` returns in this shape. The recorded arch and preprocessing make a converted file load
back exactly like its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._formats import CheckpointFormat, register_format
from .._preprocess import Preprocessing
from ._common import container, tensors

TAG = "invariance-lab-backbone"


def _meta(obj: Any) -> Mapping[str, Any]:
    m = obj.get("invariance_lab") if isinstance(obj, Mapping) else None
    return m if isinstance(m, Mapping) else {}


def _preprocessing(obj: Any) -> Preprocessing | None:
    d = _meta(obj).get("preprocessing")
    if not isinstance(d, Mapping):
        return None
    return Preprocessing(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


register_format(
    CheckpointFormat(
        name="converted",
        description="{'state_dict': backbone, 'invariance_lab': {'format': 'invariance-lab-backbone', 'arch', "
        "'preprocessing', ...}} (.pth, or .safetensors metadata) written by `invariance-lab convert`",
        detect=lambda keys, meta: meta.get("invariance_lab/format") == TAG and any(k.startswith("state_dict/") for k in keys),
        map=lambda obj: tensors(container(obj, "state_dict", "converted")),
        heads=(),
        arch=lambda obj: _meta(obj).get("arch"),
        preprocessing=_preprocessing,
        citation="invariance_lab/encoders/convert.py (convert_checkpoint)",
    )
)
