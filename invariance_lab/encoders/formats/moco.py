"""MoCo v1 / v2 (facebookresearch/moco) and MoCo v3 (facebookresearch/moco-v3) checkpoints.

Sources (read at the commits pinned in TRAINERS.md §1-§2):
- v1/v2: https://github.com/facebookresearch/moco/blob/7397dfe146c7ca6bbb58e9c382498069178ba764/main_moco.py
  (`save_checkpoint({'epoch', 'arch', 'state_dict', 'optimizer'})` of the DDP-wrapped MoCo module),
  moco/builder.py (`encoder_q`, `encoder_k`, buffers `queue` and `queue_ptr`; v2's `--mlp` turns
  `fc` into Sequential(Linear, ReLU, Linear), so its keys are `fc.0.*` and `fc.2.*`), and
  main_lincls.py (keeps `module.encoder_q.*` minus `fc`, the reference for this key map).
- v3: https://github.com/facebookresearch/moco-v3/blob/c349e6e24f40d3fedb22d973f92defa4cedf37a7/main_moco.py
  (`{'epoch', 'arch', 'state_dict', 'optimizer', 'scaler'}`; modules `base_encoder`,
  `momentum_encoder`, `predictor`; the projector replaces `fc` (ResNet) or `head` (ViT)),
  vits.py (`vit_small`: 384 wide, 12 blocks, **12 heads**; `vit_base`: 768/12/12) and
  main_lincls.py (keeps `module.base_encoder.*` minus `fc`/`head`).
"""

from __future__ import annotations

from typing import Any

from ...errors import CheckpointError
from .._formats import CheckpointFormat, StateDict, arch_from_meta, register_format
from .._infer import infer_arch
from ._common import container, has, remap, tensors

V12_HEADS = ("fc.*", "encoder_k.*", "queue", "queue_ptr")
V3_HEADS = ("fc.*", "head.*", "momentum_encoder.*", "predictor.*")


def _moco_v12(obj: Any) -> StateDict:
    """`state_dict/module.encoder_q.X` → X; encoder_k, queue and queue_ptr keep their names (dropped)."""
    sd = tensors(container(obj, "state_dict", "mocov2"))
    return remap(sd, [("module.encoder_q.", ""), ("module.", "")])


def _is_v12(keys: list[str]) -> bool:
    return has(keys, "state_dict/module.encoder_q.") and has(keys, "state_dict/module.encoder_k.")


def _detect_v1(keys: list[str], meta: dict[str, Any]) -> bool:
    return _is_v12(keys) and "state_dict/module.encoder_q.fc.weight" in keys


def _detect_v2(keys: list[str], meta: dict[str, Any]) -> bool:
    return _is_v12(keys) and "state_dict/module.encoder_q.fc.0.weight" in keys


for _name, _detect, _head in (("mocov1", _detect_v1, "linear fc [128, D]"), ("mocov2", _detect_v2, "MLP fc.0/fc.2")):
    register_format(
        CheckpointFormat(
            name=_name,
            description=f"{{'epoch','arch','state_dict','optimizer'}}; state_dict: module.encoder_q.* ({_head} head), "
            "module.encoder_k.*, module.queue, module.queue_ptr",
            detect=_detect,
            map=_moco_v12,
            heads=V12_HEADS,
            citation="facebookresearch/moco@7397dfe main_moco.py (save_checkpoint), moco/builder.py, main_lincls.py",
            head_tap="fc",
        )
    )


def _moco_v3(obj: Any) -> StateDict:
    """`state_dict/module.base_encoder.X` → X; momentum_encoder and predictor keep their names (dropped)."""
    sd = tensors(container(obj, "state_dict", "mocov3"))
    return remap(sd, [("module.base_encoder.", ""), ("module.", "")])


def _v3_arch(obj: Any) -> str | None:
    """ResNets by name; MoCo v3's own ViT names → timm ViTs (vit_small with 12 heads), sized from pos_embed."""
    arch = arch_from_meta(obj)
    if arch is None or not arch.startswith("vit"):
        return arch
    heads = {"vit_small": 12, "vit_base": 12}.get(arch)
    if heads is None:
        raise CheckpointError(
            f"MoCo v3 architecture {arch!r} (convolutional ViT stem) has no timm equivalent; only vit_small and "
            "vit_base load"
        )
    return infer_arch(_moco_v3(obj), num_heads=heads).arch


register_format(
    CheckpointFormat(
        name="mocov3",
        description="{'epoch','arch','state_dict','optimizer','scaler'}; state_dict: module.base_encoder.* "
        "(fc.* or head.* projector), module.momentum_encoder.*, module.predictor.*",
        detect=lambda keys, meta: has(keys, "state_dict/module.base_encoder.", "state_dict/module.momentum_encoder."),
        map=_moco_v3,
        heads=V3_HEADS,
        arch=_v3_arch,
        citation="facebookresearch/moco-v3@c349e6e main_moco.py, moco/builder.py, vits.py, main_lincls.py",
        head_tap="fc",
    )
)
