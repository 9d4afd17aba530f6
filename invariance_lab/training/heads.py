"""Representation extraction: the backbone's pooled output and the projection heads on top of it.

- `build_backbone`: a torchvision or timm classifier with its classifier removed, so its output is
  the global-pooled penultimate features (what `evaluate` measures by default) and its state dict
  keeps the architecture's own key names.
- `mlp_head`: MoCo v2's 2-layer MLP (Chen et al., "Improved Baselines with Momentum Contrastive
  Learning", https://arxiv.org/abs/2003.04297: "a 2-layer MLP head (hidden layer 2048-d, with
  ReLU)"); keys `0.*` and `2.*` as the reference's `fc.0`/`fc.2`. `linear_head`: MoCo v1's fc.
- `JigsawHead`: PIRL's g(·) over patches (Misra & van der Maaten, https://arxiv.org/abs/1912.01991,
  §3: each patch projected, the projections concatenated in a random order, then projected again;
  dimensions as VISSL's PIRL config: per-patch Linear(D→128), Linear(9·128→128)).
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import TrainingError


def build_backbone(arch: str) -> tuple[nn.Module, int]:
    """A headless classifier (`tv:NAME` or `timm:NAME`) and its pooled feature width.

    Raises:
        TrainingError: the spec is neither `tv:NAME` nor `timm:NAME`, or the model is unknown.

    """
    kind, _, name = arch.partition(":")
    if kind == "tv":
        import torchvision

        try:
            model = torchvision.models.get_model(name, weights=None)
        except ValueError as e:
            raise TrainingError(f"--arch {arch}: {e}") from e
        for attr in ("fc", "classifier", "head", "heads"):
            if isinstance(getattr(model, attr, None), nn.Linear):
                dim = getattr(model, attr).in_features
                setattr(model, attr, nn.Identity())
                return model, dim
        raise TrainingError(
            f"--arch {arch}: cannot find its linear classifier (fc/classifier/head); use a ResNet-like model or timm:NAME"
        )
    if kind == "timm":
        import timm

        try:
            model = timm.create_model(name, pretrained=False, num_classes=0)
        except RuntimeError as e:
            raise TrainingError(f"--arch {arch}: {e}") from e
        return model, model.num_features
    raise TrainingError(
        f"--arch {arch!r}: write tv:NAME (torchvision, e.g. tv:resnet50) or timm:NAME"
    )


def linear_head(in_dim: int, out_dim: int = 128) -> nn.Module:
    """MoCo v1's projection: the fc layer to `out_dim`."""
    return nn.Linear(in_dim, out_dim)


def mlp_head(in_dim: int, out_dim: int = 128, hidden: int | None = None) -> nn.Module:
    """MoCo v2's head: Linear(in→hidden)–ReLU–Linear(hidden→out); hidden defaults to `in_dim` (2048 for R50)."""
    hidden = hidden or in_dim
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)
    )


class Projected(nn.Module):
    """`head(backbone(x))`: the network one view goes through (MoCo's encoder_q / encoder_k)."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → (B, out_dim), not normalised."""
        return self.head(self.backbone(x))


class JigsawHead(nn.Module):
    """PIRL's patch branch g: per-patch Linear, concatenation in the given (shuffled) order, Linear.

    Args:
        in_dim: backbone feature width D.
        n_patches: patches per image (9 for a 3×3 grid).
        patch_dim: per-patch projection width (128).
        out_dim: embedding width (128).

    """

    def __init__(self, in_dim: int, n_patches: int = 9, patch_dim: int = 128, out_dim: int = 128):
        super().__init__()
        self.n_patches = n_patches
        self.patch = nn.Linear(in_dim, patch_dim)
        self.joint = nn.Linear(n_patches * patch_dim, out_dim)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B·n_patches, D) patch features, image-major and in jigsaw order → (B, out_dim)."""
        p = self.patch(feats)  # (B·9, 128)
        return self.joint(p.reshape(-1, self.n_patches * p.shape[1]))  # (B, 9·128) → (B, 128)
