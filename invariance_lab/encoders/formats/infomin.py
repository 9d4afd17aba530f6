"""InfoMin / PyContrast checkpoints (HobbitLong/PyContrast).

Sources (HobbitLong/PyContrast@d72bb9a): pycontrast/learning/contrast_trainer.py `save` writes
`{'model': DDP state (module.encoder.*, module.head.*, module.head_jig.* with --jigsaw),
'contrast': memory buffers, 'optimizer', 'epoch'}` plus `model_ema` (encoder.*, head.*: the
momentum encoder) for MoCo-style memories and `amp`; pycontrast/detection/convert_pretrained.py
reads `obj['model']` with prefix `module.encoder.` (or `model_ema` with `encoder.`) and renames
torchvision's `conv1`/`bnK`/`layerN`/`downsample.0/1`, so the encoder keys are torchvision's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._formats import CheckpointFormat, StateDict, register_format
from ._common import container, has, remap, tensors


def _map(obj: Any) -> StateDict:
    state = remap(tensors(container(obj, "model", "infomin")), [("module.encoder.", ""), ("module.", "")])
    ema = obj.get("model_ema")
    if isinstance(ema, Mapping):
        state.update({f"model_ema.{k}": v for k, v in tensors(ema).items()})
    return state


register_format(
    CheckpointFormat(
        name="infomin",
        description="{'model','contrast','optimizer','epoch'[,'model_ema']}; model: module.encoder.*, module.head.*",
        detect=lambda keys, meta: has(keys, "model/module.encoder.", "model/module.head"),
        map=_map,
        heads=("head.*", "head_jig.*", "model_ema.*"),
        citation="HobbitLong/PyContrast@d72bb9a pycontrast/learning/contrast_trainer.py (save), "
        "pycontrast/detection/convert_pretrained.py",
        head_tap="head",
    )
)
