"""Keeping BatchNorm from leaking the positive pair: shuffle-BN and split-BN.

MoCo (He et al., CVPR 2020, §3.3) computes the key encoder's BN statistics over a different
subset of samples than the query encoder's, otherwise the model "cheats" through intra-batch
statistics. Three ways, chosen by `bn_mode`:

- `shuffle` (DDP, the reference): all-gather the key images, permute them with a permutation drawn
  on rank 0 and broadcast, encode each rank's slice, gather the keys and take back this rank's
  original slice (facebookresearch/moco `moco/builder.py`, `_batch_shuffle_ddp` /
  `_batch_unshuffle_ddp`).
- `split:G` (one device): every BN normalises G groups of the batch separately (`SplitBatchNorm`,
  as the official single-GPU CIFAR-10 demo, facebookresearch/moco branch `colab-notebook`), and the
  key batch is permuted within the device before the key encoder, so groups differ.
- `sync` (`torch.nn.SyncBatchNorm`, CUDA only) and `plain` (per-process BN, no shuffle).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .distributed import concat_all_gather, is_dist


class SplitBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are computed over `num_splits` equal groups of the batch.

    The batch (N, C, H, W) is viewed as (N/G, C·G, H, W), so each group gets its own mean and
    variance; the running statistics are the mean over groups. Eval mode is plain BN. The state dict
    has BatchNorm2d's keys, so checkpoints load into a plain torchvision model.

    Raises:
        ValueError: the batch is not divisible by `num_splits` (pick a divisor of the per-device
            batch with `--bn-mode split:G`).

    """

    def __init__(self, num_features: int, num_splits: int, **kw):
        super().__init__(num_features, **kw)
        self.num_splits = num_splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each of the G groups with its own statistics (training) or the running ones (eval)."""
        n, c, h, w = x.shape
        g = self.num_splits
        if not self.training or g == 1:
            return super().forward(x)
        if n % g:
            raise ValueError(
                f"SplitBatchNorm: batch {n} is not divisible by {g} splits; use --bn-mode split:G with G dividing the per-device batch"
            )
        rm = self.running_mean.repeat(g)
        rv = self.running_var.repeat(g)
        # contiguous groups (group j = samples j·N/G … (j+1)·N/G − 1, i.e. what one of G processes
        # would see), moved onto the channel axis so one batch_norm call normalises them separately.
        # The Colab demo's plain view interleaves the groups instead; either split is valid.
        xg = x.view(g, n // g, c, h, w).transpose(0, 1).reshape(n // g, g * c, h, w)
        out = F.batch_norm(
            xg, rm, rv, self.weight.repeat(g), self.bias.repeat(g), True, self.momentum, self.eps
        )
        self.running_mean.copy_(rm.view(g, c).mean(0))
        self.running_var.copy_(rv.view(g, c).mean(0))
        self.num_batches_tracked.add_(1)
        return out.view(n // g, g, c, h, w).transpose(0, 1).reshape(n, c, h, w)


def convert_split_bn(module: nn.Module, num_splits: int) -> nn.Module:
    """Replace every BatchNorm2d in `module` by a `SplitBatchNorm` holding the same tensors."""
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, SplitBatchNorm):
        new = SplitBatchNorm(
            module.num_features,
            num_splits,
            eps=module.eps,
            momentum=module.momentum,
            affine=module.affine,
            track_running_stats=module.track_running_stats,
        )
        new.load_state_dict(module.state_dict())
        return new
    for name, child in module.named_children():
        setattr(module, name, convert_split_bn(child, num_splits))
    return module


@torch.no_grad()
def batch_shuffle_ddp(
    x: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The slice of the globally permuted batch for this rank, and the index that undoes it.

    Rank 0 draws the permutation and broadcasts it, as the reference; every rank must hold the same
    per-rank batch size.

    Returns:
        (x_shuffled (B, ...), idx_unshuffle (world·B,)), for `batch_unshuffle_ddp`.

    """
    b = x.shape[0]
    x_all = concat_all_gather(x)
    n = x_all.shape[0]
    perm = torch.randperm(n, generator=generator).to(x.device)
    if is_dist():
        dist.broadcast(perm, 0)
    idx_unshuffle = torch.argsort(perm)
    r = dist.get_rank() if is_dist() else 0
    return x_all[perm[r * b : (r + 1) * b]], idx_unshuffle


@torch.no_grad()
def batch_unshuffle_ddp(x: torch.Tensor, idx_unshuffle: torch.Tensor) -> torch.Tensor:
    """Gather the shuffled keys and return this rank's original slice (inverse of `batch_shuffle_ddp`)."""
    b = x.shape[0]
    x_all = concat_all_gather(x)
    r = dist.get_rank() if is_dist() else 0
    return x_all[idx_unshuffle[r * b : (r + 1) * b]]


@torch.no_grad()
def batch_shuffle(
    x: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Permute a batch on one device; returns (x[perm], argsort(perm))."""
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    return x[perm], torch.argsort(perm)


def batch_unshuffle(x: torch.Tensor, idx_unshuffle: torch.Tensor) -> torch.Tensor:
    """Undo `batch_shuffle`: row i of the result is the key of input i."""
    return x[idx_unshuffle]


def parse_bn_mode(mode: str, world: int, device: str) -> tuple[str, int]:
    """(`shuffle`|`split`|`sync`|`plain`, splits) from a `--bn-mode` value; `auto` resolves as documented.

    `auto` is `shuffle` under DDP and `split:8` on one device.

    Raises:
        ValueError: unknown mode, `shuffle` without several processes, `sync` on CPU.

    """
    if mode == "auto":
        mode = "shuffle" if world > 1 else "split:8"
    kind, _, arg = mode.partition(":")
    if kind == "split":
        g = int(arg or 8)
        if g < 1:
            raise ValueError(f"--bn-mode {mode}: the number of splits must be >= 1")
        return "split", g
    if kind == "shuffle" and world < 2:
        raise ValueError(
            "--bn-mode shuffle needs several processes (torchrun --nproc_per_node N); on one device use split:G (the single-GPU reference) or plain"
        )
    if kind == "sync" and device != "cuda":
        raise ValueError(
            "--bn-mode sync needs CUDA (torch.nn.SyncBatchNorm has no CPU kernel); use shuffle, split:G or plain"
        )
    if kind not in ("shuffle", "sync", "plain"):
        raise ValueError(
            f"unknown --bn-mode {mode!r}; choose auto, shuffle, split:G, sync or plain"
        )
    return kind, 1
