"""SwAV and DeepCluster-v2 (facebookresearch/swav).

Sources (facebookresearch/swav, TRAINERS.md §4 row 14): hubconf.py loads the release
`swav_800ep_pretrain.pth.tar` as a flat dict and strips `module.` before a non-strict load into
torchvision's resnet50; src/resnet50.py names the heads `projection_head` (Linear, BN, ReLU,
Linear) and `prototypes` (or `prototypes<N>` with several heads); main_swav.py's training
checkpoints hold the same dict under `state_dict`. The stem (ConstantPad2d(1) + conv padding 2)
equals torchvision's padding 3, so names and outputs match. w2/w4/w5 widen every layer and are
not torchvision architectures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._formats import CheckpointFormat, StateDict, register_format
from ._common import remap, tensors


def _state(obj: Any) -> dict:
    inner = obj.get("state_dict") if isinstance(obj, Mapping) else None
    return tensors(inner if isinstance(inner, Mapping) else obj)


def _detect(keys: list[str], meta: dict[str, Any]) -> bool:
    names = [k.removeprefix("state_dict/") for k in keys]
    return any(k.startswith("module.prototypes") for k in names) and any(k.startswith("module.layer4.") for k in names)


def _map(obj: Any) -> StateDict:
    return remap(_state(obj), [("module.", "")])


register_format(
    CheckpointFormat(
        name="swav",
        description="module.<torchvision keys>, module.projection_head.*, module.prototypes* (flat, or under state_dict)",
        detect=_detect,
        map=_map,
        heads=("projection_head.*", "prototypes*", "fc.*"),
        citation="facebookresearch/swav hubconf.py, src/resnet50.py, main_swav.py",
        head_tap="projection_head",
    )
)
