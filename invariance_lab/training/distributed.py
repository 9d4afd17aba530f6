"""Process-group helpers: torchrun setup, rank/world queries and the all-gather of keys.

`torchrun --nproc_per_node N -m invariance_lab train ...` sets RANK, LOCAL_RANK and WORLD_SIZE
(https://pytorch.org/docs/stable/elastic/run.html); `init_from_env` reads them and joins the
group with NCCL on CUDA and gloo on CPU. Without them the run is single-process.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_dist() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes (1 outside a group)."""
    return dist.get_world_size() if is_dist() else 1


def rank() -> int:
    """The rank of this process (0 outside a group)."""
    return dist.get_rank() if is_dist() else 0


def init_from_env(device: str) -> tuple[int, int, int]:
    """Join the process group described by torchrun's environment, if any.

    Args:
        device: "cpu" or "cuda"; picks the backend (gloo or NCCL).

    Returns:
        (rank, local_rank, world_size); (0, 0, 1) when not launched by torchrun.

    """
    n = int(os.environ.get("WORLD_SIZE", "1"))
    if n <= 1 or is_dist():
        return rank(), int(os.environ.get("LOCAL_RANK", "0")), world_size()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    return dist.get_rank(), local, dist.get_world_size()


@torch.no_grad()
def concat_all_gather(t: torch.Tensor) -> torch.Tensor:
    """All processes' `t` concatenated along dim 0 in rank order (no gradient).

    Like `concat_all_gather` in facebookresearch/moco `moco/builder.py`: `all_gather` carries no
    gradient, which is fine for keys, bank entries and indices. Identity outside a group.
    """
    if not is_dist():
        return t
    out = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t.contiguous())
    return torch.cat(out, dim=0)


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean of `t` over processes (a copy); `t` itself outside a group."""
    if not is_dist():
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / dist.get_world_size()


def broadcast_(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite `t` in place with rank `src`'s copy (no-op outside a group)."""
    if is_dist():
        dist.broadcast(t, src)
    return t
