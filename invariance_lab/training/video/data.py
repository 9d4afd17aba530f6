"""Video training data: pairs of frames through a view transform, and what the shared loop needs to use them.

`VideoPairDataset` items are `(views, index, -1)` for the sampler's `(pair, seed, video, t, t2)`
keys: frames t and t2 of the video are decoded and `transform(img_t, img_t2, ctx)` draws the views from torch's generator seeded with the pair's seed (as `data.ViewDataset`), so a
view depends only on (run seed, epoch, pair). `index` is the frame's position in the whole
dataset (videos concatenated), for logging. `ctx` holds `video`, `t`, `t2` and, when the dataset
has a `TrackStore`, `boxes`: the stored proposals of frame t and their tracks in frame t2.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import TrainConfig
from ..data import load_rgb
from ..sources import TrainingData
from .readers import VideoSet, read_videos
from .sampler import PairSampler


class VideoPairDataset(torch.utils.data.Dataset):
    """Frame pairs of `videos` through `transform(img_t, img_t2, ctx)` (`store`: stored region tracks)."""

    def __init__(self, videos: VideoSet, transform, store=None):
        self.videos = videos
        self.transform = transform
        self.store = store
        self.offsets = np.concatenate([[0], np.cumsum([len(v) for v in videos.videos])])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, key: tuple[int, int, int, int, int]):
        """Decode the pair's frames and draw its views with the generator seeded by the key's seed."""
        _, seed, v, t, t2 = key
        clip = self.videos.videos[v]
        a = load_rgb(clip.frames[t])
        b = a if t2 == t else load_rgb(clip.frames[t2])
        ctx = {"video": v, "t": t, "t2": t2}
        if self.store is not None:
            ctx["boxes"] = self.store.pairs(v, t, t2 - t)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            views = self.transform(a, b, ctx)
        return views, int(self.offsets[v] + t), -1


class PairViews:
    """MoCo's two views, one per frame: [aug(frame t), aug(frame t + Δ)] (`TwoCrops` for two frames)."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, a, b, ctx=None) -> list[torch.Tensor]:
        """[q view of frame t, k view of frame t2], each (3, size, size)."""
        return [self.transform(a), self.transform(b)]


def frame_gap(cfg: TrainConfig) -> tuple[int, int]:
    """The Δ window of the run: `--frame-gap` for temporal pairs, (0, 0) for `--pairs same-frame`."""
    from ..errors import TrainingError

    if cfg.pairs == "same-frame":
        return 0, 0
    if cfg.pairs != "temporal":
        raise TrainingError(f"--pairs {cfg.pairs!r}: choose temporal or same-frame")
    return int(cfg.frame_gap[0]), int(cfg.frame_gap[1])


def video_training_data(
    cfg: TrainConfig, videos: VideoSet | None = None, store=None
) -> TrainingData:
    """`TrainingData` over the frame pairs of the video dataset `--data` (read unless `videos` is given).

    With a `TrackStore`, first frames are its anchor frames and items carry its boxes.
    """
    videos = videos if videos is not None else read_videos(cfg.data, cfg.video_layout)
    stride = store.stride if store is not None else 1
    gap = frame_gap(cfg)

    def sampler(global_batch, rank, world, seed):
        return PairSampler(
            [len(v) for v in videos.videos],
            gap,
            cfg.video_sampling,
            cfg.pairs_per_epoch,
            global_batch,
            rank,
            world,
            seed,
            stride=stride,
        )

    return TrainingData(
        videos.n_frames, lambda transform: VideoPairDataset(videos, transform, store), sampler
    )
