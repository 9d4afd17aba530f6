"""Barlow Twins training checkpoints (facebookresearch/barlowtwins).

Sources (facebookresearch/barlowtwins@8e8d284): main.py's `BarlowTwins` holds `backbone`
(torchvision resnet50, `fc` = Identity), `projector` (Linear/BN/ReLU, last Linear) and `bn`
(BatchNorm1d without affine); the DDP-wrapped model is saved as `{'epoch', 'model', 'optimizer'}`
(keys `module.backbone.*`, ...). The release `resnet50.pth` is
`model.module.backbone.state_dict()`, a flat torchvision dict without `fc` (evaluate.py asserts
missing == fc.weight, fc.bias): the `plain` format reads it.
"""

from __future__ import annotations

from typing import Any

from .._formats import CheckpointFormat, StateDict, register_format
from ._common import container, has, remap, tensors


def _map(obj: Any) -> StateDict:
    return remap(tensors(container(obj, "model", "barlowtwins")), [("module.backbone.", ""), ("module.", "")])


register_format(
    CheckpointFormat(
        name="barlowtwins",
        description="{'epoch','model','optimizer'}; model: module.backbone.*, module.projector.*, module.bn.*",
        detect=lambda keys, meta: has(keys, "model/module.backbone.", "model/module.projector."),
        map=_map,
        heads=("projector.*", "bn.*"),
        citation="facebookresearch/barlowtwins@8e8d284 main.py (BarlowTwins, checkpoint), evaluate.py",
        head_tap="projector",
    )
)
