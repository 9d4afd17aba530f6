"""DINO full training checkpoints (facebookresearch/dino).

Sources (facebookresearch/dino@7c446df): main_dino.py saves `{'student', 'teacher', 'optimizer',
'epoch', 'args', 'dino_loss'}` (+ `fp16_scaler`); utils.py `load_pretrained_weights` takes
`checkpoint_key` (default `teacher`), strips `module.` then `backbone.` (the MultiCropWrapper),
loads non-strictly. The teacher of a ResNet run is DDP-wrapped (SyncBN), so its keys read
`module.backbone.`; a ViT teacher reads `backbone.`. `head.*` is the DINOHead (MLP +
weight-normalised last layer). `args` is an `argparse.Namespace`, allow-listed by `safe_load`.
The backbone-only releases (`dino_resnet50_pretrain.pth`, `dino_deitsmall16_pretrain.pth`) are
flat torchvision/timm-named dicts: the `plain` format reads them and the architecture is inferred.
"""

from __future__ import annotations

from typing import Any

from .._formats import CheckpointFormat, StateDict, register_format
from ._common import container, has, remap, tensors


def _map(obj: Any) -> StateDict:
    """Teacher backbone → plain names; teacher head, student and loss centre kept under dropped names."""
    state = remap(tensors(container(obj, "teacher", "dino")), [("module.backbone.", ""), ("backbone.", ""),
                                                              ("module.head.", "head."), ("module.", "")])  # fmt: skip
    state.update({f"student.{k}": v for k, v in tensors(container(obj, "student", "dino")).items()})
    loss = obj.get("dino_loss")
    if isinstance(loss, dict):
        state.update({f"dino_loss.{k}": v for k, v in tensors(loss).items()})
    return state


register_format(
    CheckpointFormat(
        name="dino",
        description="{'teacher','student','optimizer','epoch','args','dino_loss'}; teacher: (module.)backbone.*, head.*",
        detect=lambda keys, meta: has(keys, "teacher/", "student/") and any(
            k.startswith(("teacher/backbone.", "teacher/module.backbone.")) for k in keys
        ),
        map=_map,
        heads=("head.*", "student.*", "dino_loss.*"),
        citation="facebookresearch/dino@7c446df main_dino.py (save_dict), utils.py (load_pretrained_weights)",
    )
)
