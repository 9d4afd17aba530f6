"""Frame pairs (video, t, t + Δ) for the temporal trainers, drawn per epoch, resumable like `ResumableBatchSampler`.

One epoch is a list of pairs drawn from a generator seeded by (run seed, epoch):

1. videos: `balanced` (default) gives every video the same number of pairs, m = max(1,
   round(P / V)); `proportional` draws P videos with probability proportional to their frames
   (what uniform sampling over all frames would give). P = `pairs_per_epoch` (default: the number
   of frames, so an epoch shows as many pairs as the dataset has frames).
2. the gap: Δ uniform over the integers in [lo, min(hi, n_v − 1)] (n_v frames in video v);
   videos with n_v − 1 < lo cannot hold a pair and are left out (counted in `skipped`).
3. the first frame: t uniform over the anchor frames {0, s, 2s, ...} (stride s, 1 unless the
   region tracks were stored every s frames) with t + Δ ≤ n_v − 1, so a pair never leaves its video.

`same-frame` pairs are Δ = 0 (lo = hi = 0): two views of one frame, i.e. MoCo v2 on frames.
The list is permuted, cut into global batches (`drop_last`), rank r takes the r-th slice of each,
and iteration can start at any step: the checkpoint's "sampler position", as `data.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..data import sample_seed
from ..errors import TrainingError

SAMPLING = ("balanced", "proportional")


def draw_pairs(
    lengths: list[int] | np.ndarray,
    gap: tuple[int, int],
    sampling: str,
    n_pairs: int,
    rng: np.random.Generator,
    stride: int = 1,
) -> np.ndarray:
    """One epoch's pairs as an (N, 3) int64 array of (video, t, t + Δ), in draw order.

    Args:
        lengths: frames per video.
        gap: (lo, hi) inclusive range of Δ in frames (0, 0 for same-frame pairs).
        sampling: `balanced` or `proportional` (see the module docstring).
        n_pairs: P, pairs per epoch before balancing.
        rng: the epoch's generator.
        stride: first frames are multiples of it.

    Raises:
        TrainingError: bad gap or sampling, or no video long enough for the gap.

    """
    lo, hi = int(gap[0]), int(gap[1])
    if not 0 <= lo <= hi:
        raise TrainingError(f"--frame-gap {lo},{hi}: need 0 <= LOW <= HIGH (frames)")
    if sampling not in SAMPLING:
        raise TrainingError(f"--video-sampling {sampling!r}: choose {' or '.join(SAMPLING)}")
    n = np.asarray(lengths, dtype=np.int64)
    usable = np.flatnonzero(n - 1 >= lo)
    if len(usable) == 0:
        raise TrainingError(
            f"no video has more than {lo} frames, so no pair with a gap of at least {lo} fits; lower --frame-gap"
        )
    if sampling == "balanced":
        m = max(1, round(n_pairs / len(usable)))
        vid = np.repeat(usable, m)
    else:
        p = n[usable] / n[usable].sum()
        vid = usable[rng.choice(len(usable), size=max(1, n_pairs), p=p)]
    top = np.minimum(hi, n[vid] - 1)  # largest gap that fits in each video
    delta = lo + np.floor(rng.random(len(vid)) * (top - lo + 1)).astype(np.int64)
    n_first = (n[vid] - 1 - delta) // stride + 1  # anchors t = k·stride with t + Δ <= n − 1
    t = stride * np.floor(rng.random(len(vid)) * n_first).astype(np.int64)
    return np.stack([vid, t, t + delta], axis=1)


class PairSampler:
    """Batches of `(pair index, seed, video, t, t2)` keys for one rank; epochs of `draw_pairs`, a start step.

    Args:
        lengths: frames per video.
        gap, sampling, pairs_per_epoch, stride: as `draw_pairs` (pairs_per_epoch None: total frames).
        global_batch: pairs per step over all ranks.
        rank, world: this process and the number of processes.
        seed: run seed.

    """

    def __init__(
        self,
        lengths,
        gap: tuple[int, int],
        sampling: str,
        pairs_per_epoch: int | None,
        global_batch: int,
        rank: int,
        world: int,
        seed: int,
        stride: int = 1,
    ):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.gap, self.sampling, self.stride = (int(gap[0]), int(gap[1])), sampling, int(stride)
        self.n_pairs = int(pairs_per_epoch or self.lengths.sum())
        self.global_batch, self.rank, self.world, self.seed = global_batch, rank, world, seed
        self.local = global_batch // world
        self.epoch, self.start = 0, 0
        first = self.pairs(0)
        self.skipped = int((self.lengths - 1 < self.gap[0]).sum())
        if global_batch > len(first):
            raise TrainingError(
                f"--batch-size {global_batch} exceeds the {len(first)} pairs of an epoch; lower it or raise --pairs-per-epoch"
            )
        self._len = len(first)

    def pairs(self, epoch: int) -> np.ndarray:
        """The epoch's pairs (N, 3) in iteration order (drawn, then permuted)."""
        rng = np.random.default_rng([self.seed, epoch, 0x7E3])
        p = draw_pairs(self.lengths, self.gap, self.sampling, self.n_pairs, rng, self.stride)
        return p[rng.permutation(len(p))]

    @property
    def steps_per_epoch(self) -> int:
        """Full global batches per epoch (the last partial one is dropped)."""
        return self._len // self.global_batch

    def __len__(self) -> int:
        return self.steps_per_epoch - self.start

    def set_position(self, epoch: int, start_step: int = 0) -> None:
        """Iterate epoch `epoch` from step `start_step`."""
        self.epoch, self.start = epoch, start_step

    def __iter__(self) -> Iterator[list[tuple[int, int, int, int, int]]]:
        pairs = self.pairs(self.epoch)
        b = self.global_batch
        for step in range(self.start, self.steps_per_epoch):
            mine = range(step * b + self.rank * self.local, step * b + (self.rank + 1) * self.local)
            yield [
                (i, sample_seed(self.seed, self.epoch, i), *(int(x) for x in pairs[i]))
                for i in mine
            ]
