"""The MoCo queue of negative keys (He et al., CVPR 2020, https://arxiv.org/abs/1911.05722, §3.2).

Keys of the current batch are enqueued and the oldest dequeued: a FIFO of `K` rows written at a
pointer that advances modulo `K`. The reference (facebookresearch/moco `moco/builder.py`,
`_dequeue_and_enqueue`) stores the queue as (dim, K) and requires `K % batch == 0`; we store rows
(K, dim), which makes a negative a row, and wrap a batch that crosses the end of the buffer, so any
batch size works. Under DDP the caller passes keys gathered from every process, in rank order, so
every rank holds the same queue and no buffer broadcast is needed (TRAINERS.md §7.3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Queue(nn.Module):
    """A FIFO of `size` unit vectors of dimension `dim`, initialised at random.

    Args:
        size: number of keys K (65,536 in MoCo).
        dim: key dimension (128 in MoCo).

    Attributes:
        keys: (K, dim) buffer; row i is the i-th slot, not the i-th newest key.
        ptr: (1,) long buffer, the slot the next key goes to.

    """

    def __init__(self, size: int, dim: int):
        super().__init__()
        # random unit vectors, as the reference initialises (randn, normalised along the key dim)
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros(1, dtype=torch.long))

    @property
    def size(self) -> int:
        """K, the number of slots."""
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, k: torch.Tensor) -> None:
        """Write keys `k` (B, dim) at the pointer, oldest slots first, wrapping at the end.

        A batch larger than the queue keeps only its last `K` keys, as a FIFO would.
        """
        k = k.detach().to(self.keys.dtype)
        if k.shape[0] > self.size:
            k = k[-self.size :]
        b, p = k.shape[0], int(self.ptr)
        idx = (torch.arange(b, device=self.keys.device) + p) % self.size
        self.keys.index_copy_(0, idx, k)
        self.ptr[0] = (p + b) % self.size
