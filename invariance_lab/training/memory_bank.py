"""The memory bank of PIRL/NPID: one running-average embedding per training image.

Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance Discrimination" (CVPR 2018,
https://arxiv.org/abs/1805.01978) and Misra & van der Maaten, PIRL (CVPR 2020,
https://arxiv.org/abs/1912.01991, Eq. 4-5). Facts as in VISSL's `NCEAverage`
(facebookresearch/vissl `vissl/losses/nce_loss.py`): initialised uniform in ±1/sqrt(dim/3) and
L2-normalised; updated as m_i ← normalize(μ·m_i + (1−μ)·f_i) with μ = 0.5; negatives drawn
uniformly (VISSL's alias sampler over uniform weights); under DDP the update uses embeddings and
indices gathered from every process, so all ranks keep the same bank.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MemoryBank(nn.Module):
    """`size` unit embeddings of dimension `dim`, one per dataset index.

    Args:
        size: number of training images N (the bank is sized to the dataset).
        dim: embedding dimension (128 in PIRL).
        momentum: μ in m ← normalize(μ·m + (1−μ)·f) (0.5 in PIRL).

    """

    def __init__(self, size: int, dim: int, momentum: float = 0.5):
        super().__init__()
        stdv = 1.0 / math.sqrt(dim / 3)
        self.momentum = momentum
        self.register_buffer("bank", F.normalize(torch.rand(size, dim) * (2 * stdv) - stdv, dim=1))

    @property
    def size(self) -> int:
        """N, the number of entries."""
        return self.bank.shape[0]

    def sample(
        self, index: torch.Tensor, n_negatives: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Indices (B, 1 + n_negatives): column 0 is each sample's own index, the rest uniform draws.

        As in NPID/VISSL, a draw may hit the sample's own index; with N ≫ B this is rare.
        """
        b = index.shape[0]
        idx = torch.randint(0, self.size, (b, 1 + n_negatives), generator=generator, device="cpu")
        idx = idx.to(index.device)
        idx[:, 0] = index
        return idx

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Bank rows for indices of any shape: (*idx.shape, dim), detached."""
        return self.bank.index_select(0, idx.reshape(-1)).view(*idx.shape, -1).detach()

    @torch.no_grad()
    def update(self, index: torch.Tensor, emb: torch.Tensor) -> None:
        """m_i ← normalize(μ·m_i + (1−μ)·f_i) for each (i, f_i); `emb` must be L2-normalised.

        Indices should be unique within a call (one view per image per step); with repeats the
        last write wins, as `index_copy_` in the reference.
        """
        old = self.bank.index_select(0, index)
        new = F.normalize(
            self.momentum * old + (1 - self.momentum) * emb.detach().to(old.dtype), dim=1
        )
        self.bank.index_copy_(0, index, new)
