"""Architecture inference from a backbone state dict (key structure and shapes only).

Used when a checkpoint does not record its architecture and `--arch` is not given, and to
suggest the architecture that fits when shapes do not match. Two families are recognised:

- torchvision/timm ResNets (`conv1`, `bn1`, `layer1..4.<i>.conv*`): depth from the block counts
  of each stage and basic vs bottleneck blocks (torchvision `models/resnet.py`: resnet18/34 use
  BasicBlock [2,2,2,2]/[3,4,6,3]; resnet50/101/152 Bottleneck [3,4,6,3]/[3,4,23,3]/[3,8,36,3]);
  width from `layer1.0.conv1` (128 for wide_resnet50_2 / wide_resnet101_2) and groups from
  `layer1.0.conv2` (resnext). A 3x3 `conv1` means a CIFAR stem (solo-learn `solo/methods/base.py`,
  the MoCo CIFAR-10 demo), built as `tv:NAME[cifar_stem=P]`.
- timm ViTs (`cls_token`, `pos_embed`, `patch_embed.proj`, `blocks.<i>`): size from the embedding
  width and depth (timm `vision_transformer.py`: tiny 192/12, small 384/12, base 768/12, large
  1024/24, huge 1280/32), patch from `patch_embed.proj.weight`, input size from `pos_embed`.
  Weights do not fix the number of attention heads: timm's count for the size is assumed and the
  inference says so (MoCo v3's ViT-S uses 12 heads, not 6).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from ..errors import CheckpointError
from ._arch import join_arch

_RESNETS = {
    ("basic", (2, 2, 2, 2)): "resnet18",
    ("basic", (3, 4, 6, 3)): "resnet34",
    ("bottleneck", (3, 4, 6, 3)): "resnet50",
    ("bottleneck", (3, 4, 23, 3)): "resnet101",
    ("bottleneck", (3, 8, 36, 3)): "resnet152",
}
_WIDE = {"resnet50": "wide_resnet50_2", "resnet101": "wide_resnet101_2"}
_RESNEXT = {("resnet50", 32, 4): "resnext50_32x4d", ("resnet101", 32, 8): "resnext101_32x8d",
            ("resnet101", 64, 4): "resnext101_64x4d"}  # fmt: skip
_VIT_SIZES = {(192, 12): ("tiny", 3), (384, 12): ("small", 6), (768, 12): ("base", 12),
              (1024, 24): ("large", 16), (1280, 32): ("huge", 16)}  # fmt: skip
_BLOCK = re.compile(r"^layer([1-4])\.(\d+)\.")


@dataclass
class Inferred:
    """An inferred architecture, the evidence in words, and what the weights cannot tell.

    `arch` reads like `tv:resnet50` or `timm:vit_small_patch16_224[img_size=64]`.
    """

    arch: str
    reason: str
    warnings: list[str] = field(default_factory=list)


def _shape(state: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...] | None:
    t = state.get(key)
    return tuple(t.shape) if isinstance(t, torch.Tensor) else None


def _first(state: Mapping[str, torch.Tensor], pattern: str) -> tuple[int, ...]:
    for k in sorted(state):
        if re.match(pattern, k):
            return tuple(state[k].shape)
    raise CheckpointError(f"no key matches {pattern!r}; pass --arch NAME")


def _resnet(state: Mapping[str, torch.Tensor], cifar_padding: int) -> Inferred:
    counts = [0, 0, 0, 0]
    for k in state:
        m = _BLOCK.match(k)
        if m:
            counts[int(m.group(1)) - 1] = max(counts[int(m.group(1)) - 1], int(m.group(2)) + 1)
    block = "bottleneck" if any(re.match(r"^layer\d\.\d+\.conv3\.weight$", k) for k in state) else "basic"
    name = _RESNETS.get((block, tuple(counts)))
    if name is None:
        raise CheckpointError(f"ResNet with {block} blocks {counts} per stage is not a torchvision architecture; pass --arch NAME")
    stem = _shape(state, "conv1.weight")
    evidence = f"{block} blocks {counts} per stage"
    if block == "bottleneck":
        width = _first(state, r"^layer1\.\d+\.conv1\.weight$")[0]
        conv2 = _first(state, r"^layer1\.\d+\.conv2\.weight$")
        groups = width // conv2[1]
        if groups > 1:
            name = _RESNEXT.get((name, groups, width // groups))
            if name is None:
                raise CheckpointError(f"grouped ResNet (groups {groups}, width {width}) is not a torchvision architecture; pass --arch NAME")
            evidence += f", {groups} groups of width {width // groups}"
        elif width == 128 and name in _WIDE:
            name = _WIDE[name]
            evidence += ", inner width 128 (x2)"
        elif width != 64:
            raise CheckpointError(f"ResNet with inner width {width} in layer1 is not a torchvision architecture; pass --arch NAME")
    if stem is None or stem[0] != 64:
        raise CheckpointError(
            f"ResNet stem conv1.weight has shape {stem}; torchvision ResNets have 64 stem channels. Widened-everywhere "
            "ResNets (SimCLR 2x/4x) are not torchvision architectures"
        )
    warnings = []
    if stem[-1] == 3:
        name = join_arch(name, {"cifar_stem": cifar_padding})
        evidence += f", 3x3 conv1 (CIFAR stem, no max-pool; padding {cifar_padding} assumed)"
        warnings.append(
            f"CIFAR stem: 3x3 conv1 stride 1, no max-pool; the conv1 padding is not stored in the weights, "
            f"{cifar_padding} was used (solo-learn uses 2, most other CIFAR code 1): pass --arch tv:NAME[cifar_stem=P] to change it"
        )
    return Inferred(f"tv:{name}", evidence, warnings)


def _vit(state: Mapping[str, torch.Tensor], num_heads: int | None) -> Inferred:
    import timm

    dim, _, p, _ = _shape(state, "patch_embed.proj.weight")
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    size = _VIT_SIZES.get((dim, depth))
    if size is None:
        raise CheckpointError(f"ViT with width {dim} and depth {depth} is not a standard timm size; pass --arch timm:NAME")
    label, heads = size
    tokens = _shape(state, "pos_embed")[1] - (1 if "cls_token" in state else 0)
    grid = math.isqrt(tokens)
    if grid * grid != tokens:
        raise CheckpointError(f"pos_embed has {tokens} patch tokens, not a square grid; pass --arch timm:NAME")
    img = grid * p
    options: dict[str, int] = {}
    name = f"vit_{label}_patch{p}_{img}"
    if not timm.is_model(name):
        name, options = f"vit_{label}_patch{p}_224", {"img_size": img}
        if not timm.is_model(name):
            raise CheckpointError(f"timm has no vit_{label}_patch{p}_*; pass --arch timm:NAME")
    warnings = []
    if num_heads is not None and num_heads != heads:
        options["num_heads"] = num_heads
    elif num_heads is None:
        warnings.append(
            f"the number of attention heads is not stored in the weights; timm's {heads} for ViT-{label} was assumed "
            f"(MoCo v3's ViT-S uses 12): pass --arch 'timm:{name}[num_heads=N]' if it was trained otherwise"
        )
    evidence = f"ViT width {dim}, depth {depth}, patch {p}, {grid}x{grid} patch grid ({img}px input)"
    return Inferred(f"timm:{join_arch(name, options)}", evidence, warnings)


def infer_arch(state: Mapping[str, torch.Tensor], *, cifar_padding: int = 1, num_heads: int | None = None) -> Inferred:
    """The architecture whose state dict has these keys and shapes.

    Args:
        state: backbone keys in torchvision/timm names (after a format's key map; heads may remain).
        cifar_padding: conv1 padding assumed for a 3x3 (CIFAR) ResNet stem (solo-learn: 2).
        num_heads: attention heads of a ViT when the format knows them.

    Returns:
        The architecture, the evidence, and warnings about what the weights leave open.

    Raises:
        CheckpointError: the keys are not a ResNet or ViT that torchvision/timm can build; pass
            `--arch NAME`.

    """
    if "conv1.weight" in state and any(k.startswith("layer1.") for k in state):
        return _resnet(state, cifar_padding)
    if "patch_embed.proj.weight" in state and "pos_embed" in state and any(k.startswith("blocks.") for k in state):
        return _vit(state, num_heads)
    first = ", ".join(list(state)[:6])
    raise CheckpointError(
        f"cannot infer the architecture from the keys ({first}, ...): neither a torchvision ResNet nor a timm ViT. "
        "Pass --arch NAME (e.g. tv:resnet50, timm:vit_small_patch16_224)"
    )


def suggest_arch(state: Mapping[str, torch.Tensor], **options) -> str | None:
    """`infer_arch(...).arch`, or None when nothing fits (for hints in error messages)."""
    try:
        return infer_arch(state, **options).arch
    except (CheckpointError, TypeError, ValueError, IndexError, KeyError):
        return None
