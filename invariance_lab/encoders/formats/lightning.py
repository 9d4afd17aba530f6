"""PyTorch Lightning checkpoints of solo-learn and lightly.

Lightning saves `{'epoch', 'global_step', 'pytorch-lightning_version', 'state_dict',
'optimizer_states', 'lr_schedulers', 'callbacks', 'loops', 'hyper_parameters', ...}`; the module
state sits under `state_dict` without a DDP prefix.

solo-learn (vturrisi/solo-learn@9187ea3, solo/methods/base.py, main_linear.py): the backbone is
`backbone.*` (older releases: `encoder.*`), `fc` replaced by Identity; heads are `projector.*`,
`classifier.*` (online linear), `predictor.*`, `prototypes*`, `head.*` and, for momentum methods,
`momentum_backbone.*`, `momentum_projector.*`, `momentum_classifier.*`, `queue*`. CIFAR runs
replace the stem: `conv1 = Conv2d(3, 64, kernel_size=3, stride=1, padding=2)`, `maxpool =
Identity` — recognised from the 3x3 `conv1` and built as `tv:NAME[cifar_stem=2]`. The
`hyper_parameters` OmegaConf config needs `--trust-checkpoint`.

lightly (lightly-ai/lightly@e8d317f): benchmarks/imagenet/resnet50/*.py keep a torchvision model
as `backbone.*` (fc = Identity) with `projection_head.layers.*`, `key_backbone.*`,
`key_projection_head.*`, `online_classifier.classification_head.*`. The Imagenette benchmark wraps
torchvision resnet18's children in a Sequential: `backbone.0` = conv1, `.1` = bn1, `.4`..`.7` =
layer1..4, mapped back here. The CIFAR benchmark's ResNetGenerator (`backbone.2..5` with
`shortcut.*`) is not a torchvision architecture and is refused with that explanation.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import CheckpointError
from .._formats import CheckpointFormat, StateDict, register_format
from ._common import container, has, remap, tensors

SOLO_HEADS = ("projector.*", "classifier.*", "predictor.*", "prototypes*", "head.*", "momentum_*", "queue*")
LIGHTLY_HEADS = ("projection_head.*", "prediction_head.*", "key_*", "momentum_*", "online_classifier.*", "prototypes*")
_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
_INDEXED = re.compile(r"^backbone\.(\d+)\.")


def _solo(obj: Any) -> StateDict:
    sd = tensors(container(obj, "state_dict", "solo-learn"))
    prefix = "backbone." if any(k.startswith("backbone.") for k in sd) else "encoder."
    return remap(sd, [(prefix, "")])


def _solo_detect(keys: list[str], meta: dict[str, Any]) -> bool:
    if has(keys, "state_dict/projection_head.") or has(keys, "state_dict/key_backbone."):
        return False
    return (has(keys, "state_dict/backbone.") or has(keys, "state_dict/encoder.")) and (
        has(keys, "state_dict/projector.") or has(keys, "state_dict/momentum_backbone.") or has(keys, "state_dict/classifier.")
    )


def _lightly(obj: Any) -> StateDict:
    sd = tensors(container(obj, "state_dict", "lightly"))
    if any(".shortcut." in k for k in sd if k.startswith("backbone.")):
        raise CheckpointError(
            "lightly CIFAR checkpoint (ResNetGenerator backbone: backbone.0 = 3x3 conv, layers with shortcut.*): "
            "not a torchvision architecture, and the Sequential wrapper drops the stem ReLU, so its features cannot "
            "be reproduced by a stock model; re-export the backbone as a torchvision ResNet"
        )
    out: StateDict = {}
    for k, v in sd.items():
        m = _INDEXED.match(k)
        if m and m.group(1) in _CHILDREN:
            k = _CHILDREN[m.group(1)] + k[m.end() - 1 :]
        elif k.startswith("backbone."):
            k = k[len("backbone.") :]
        out[k] = v
    return out


register_format(
    CheckpointFormat(
        name="solo-learn",
        description="Lightning ckpt; state_dict: backbone.* (or encoder.*), projector.*, classifier.*, momentum_*, "
        "queue (CIFAR: 3x3 conv1, padding 2, no max-pool)",
        detect=_solo_detect,
        map=_solo,
        heads=SOLO_HEADS,
        citation="vturrisi/solo-learn@9187ea3 solo/methods/base.py, solo/methods/base.py BaseMomentumMethod, main_linear.py",
        needs_pickle=True,
        head_tap="projector",
        infer_options={"cifar_padding": 2},
    )
)

register_format(
    CheckpointFormat(
        name="lightly",
        description="Lightning ckpt; state_dict: backbone.* (torchvision names or Sequential indices 0,1,4-7), "
        "projection_head.layers.*, key_backbone.*, online_classifier.*",
        detect=lambda keys, meta: has(keys, "state_dict/backbone.")
        and (has(keys, "state_dict/projection_head.") or has(keys, "state_dict/key_backbone.")),
        map=_lightly,
        heads=LIGHTLY_HEADS,
        citation="lightly-ai/lightly@e8d317f benchmarks/imagenet/resnet50/mocov2.py, "
        "docs/source/getting_started/benchmarks/imagenette_benchmark.py, cifar10_benchmark.py",
        head_tap="projection_head.layers",
    )
)
