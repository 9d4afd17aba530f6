"""PIRL: an image and its jigsaw should embed close to the image's memory-bank entry.

Misra & van der Maaten, "Self-Supervised Learning of Pretext-Invariant Representations", CVPR 2020
(https://arxiv.org/abs/1912.01991), Eq. 5: L = λ·L_NCE(m_I, g(v_{I^t})) + (1−λ)·L_NCE(m_I, f(v_I)),
λ = 0.5. Both terms contrast against the bank: positive = the image's own entry m_I, negatives =
entries drawn uniformly (32,000), τ = 0.07. The bank is updated with the image embedding f only,
m_I ← normalize(0.5·m_I + 0.5·f) (paper Eq. 4; VISSL `update_mem_with_emb_index: 1`). Facts as
facebookresearch/vissl `configs/config/pretrain/pirl/` and `vissl/losses/nce_loss.py` (TRAINERS.md §3.1).

Network: the same trunk encodes the image view and each of the 9 patches; f = Linear(D→128) on the
image, g = `JigsawHead` on the patches (per-patch projection, concatenation in the jigsaw's random
order, projection to 128); `--mlp` uses 2-layer heads instead. The bank lives in this module (and
so in the checkpoint), sized to the dataset.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import PIRLViews
from ..distributed import all_reduce_mean, broadcast_, concat_all_gather
from ..heads import JigsawHead, build_backbone, linear_head, mlp_head
from ..losses import estimate_partition, memory_contrast
from ..memory_bank import MemoryBank
from .base import Method, register_method


class PIRLNet(nn.Module):
    """Trunk + image head f + jigsaw head g; one forward for both inputs (one DDP call per step)."""

    def __init__(self, backbone: nn.Module, width: int, dim: int, grid: int, mlp: bool):
        super().__init__()
        self.backbone = backbone
        self.image_head = mlp_head(width, dim) if mlp else linear_head(width, dim)
        self.patch_head = JigsawHead(width, grid * grid, dim, dim)
        if mlp:  # VISSL's MLP variant: a hidden layer before the per-patch projection too
            self.patch_head.patch = nn.Sequential(
                nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, dim)
            )

    def forward(
        self, images: torch.Tensor, patches: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Map images (B, 3, H, W), patches (B, 9, 3, P, P) → (f (B, dim), g (B, dim)), not normalised."""
        f = self.image_head(self.backbone(images))
        g = self.patch_head(self.backbone(patches.flatten(0, 1)))  # (B·9, D) → (B, dim)
        return f, g


@register_method("pirl")
class PIRL(Method):
    """PIRL with the options `n_negatives`, `bank_momentum`, `pirl_lambda` λ, `pirl_loss`, `temperature`."""

    DEFAULTS = dict(temperature=0.07, schedule="cos", mlp=False, wd_bn_bias=False, bn_mode="plain")
    STATS = ("loss_patch", "loss_image")

    def __init__(self, cfg, n_data, generator):
        super().__init__(cfg, n_data, generator)
        backbone, width = build_backbone(cfg.arch)
        self.online = PIRLNet(backbone, width, cfg.dim, cfg.jigsaw_grid, cfg.mlp)
        self.bank = MemoryBank(n_data, cfg.dim, cfg.bank_momentum)
        # NCE normalising constant Z, estimated on the first batch (−1: not yet)
        self.register_buffer("nce_z", torch.tensor(-1.0))

    def transform(self):
        """The image view and the shuffled jigsaw of each image."""
        c = self.cfg
        return PIRLViews(
            c.image_size,
            tuple(c.image_crop_scale),
            tuple(c.patch_crop_scale),
            c.jigsaw_grid,
            blur=c.blur and c.mlp,
        )

    def setup(self, device, bn):
        """Give every rank rank 0's bank (VISSL syncs it once before the first step)."""
        broadcast_(self.bank.bank)

    def training_step(self, views, index, net):
        """λ·NCE(patches vs bank) + (1−λ)·NCE(image vs bank); then the bank update with f."""
        images, patches = views
        f, g = net(images, patches)
        f, g = F.normalize(f.float(), dim=1), F.normalize(g.float(), dim=1)  # (B, dim)
        idx = self.bank.sample(
            index, min(self.cfg.n_negatives, self.n_data - 1), self.generator
        )  # (B, 1+K)
        rows = self.bank.lookup(idx)  # (B, 1+K, dim)
        c = self.cfg
        if c.pirl_loss == "nce" and self.nce_z < 0:
            s = torch.einsum("bd,bkd->bk", g.detach(), rows)
            self.nce_z.fill_(
                float(all_reduce_mean(estimate_partition(s, c.temperature, self.n_data)))
            )
        kw = {"z": self.nce_z, "n_data": self.n_data} if c.pirl_loss == "nce" else {}
        l_patch = memory_contrast(g, rows, c.temperature, c.pirl_loss, **kw)
        l_image = memory_contrast(f, rows, c.temperature, c.pirl_loss, **kw)
        loss = c.pirl_lambda * l_patch + (1 - c.pirl_lambda) * l_image
        self.bank.update(concat_all_gather(index), concat_all_gather(f.detach()))
        return loss, {"loss_patch": l_patch.detach(), "loss_image": l_image.detach()}
