"""Where the images come from: the training set named by `--data` and the kNN monitor's held-out set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from . import distributed as D
from .config import TrainConfig
from .data import (
    ImageList,
    ResumableBatchSampler,
    ViewDataset,
    image_folder,
    load_rgb,
    synth_images,
)
from .errors import TrainingError


@dataclass
class TrainingData:
    """What the loop needs from a data source: its size, a dataset for a transform, a sampler.

    Attributes:
        n: number of items (images or frames); a memory bank is sized to it.
        dataset: transform → `torch.utils.data.Dataset` of `(views, index, label)` items.
        sampler: (global batch, rank, world, seed) → a resumable batch sampler (`steps_per_epoch`,
            `set_position(epoch, step)`, iteration over lists of dataset keys).

    """

    n: int
    dataset: Callable[[Any], torch.utils.data.Dataset]
    sampler: Callable[[int, int, int, int], Any]


def image_training_data(cfg: TrainConfig) -> TrainingData:
    """The image datasets of `--data` (folder or synth) with `ViewDataset` and `ResumableBatchSampler`."""
    images = training_images(cfg)
    return TrainingData(
        len(images),
        lambda transform: ViewDataset(images, transform),
        lambda global_batch, rank, world, seed: ResumableBatchSampler(
            len(images), global_batch, rank, world, seed
        ),
    )


def training_images(cfg: TrainConfig) -> ImageList:
    """The training set named by `--data` (rank 0 renders synth images first; the others read the cache)."""
    if cfg.data != "synth":
        return image_folder(cfg.data)

    def make():
        return synth_images(
            cfg.synth_categories,
            cfg.synth_instances,
            cfg.synth_views,
            cfg.image_size,
            cfg.seed,
            cache_dir=cfg.synth_cache,
            workers=None,
            progress=cfg.progress and D.rank() == 0,
        )

    if D.rank() == 0:
        images = make()
    if D.is_dist():
        torch.distributed.barrier()
    return images if D.rank() == 0 else make()


def knn_sets(cfg: TrainConfig) -> tuple[torch.Tensor, ...] | None:
    """(bank_x, bank_y, query_x, query_y) for the kNN monitor, preprocessed once; None when there is no labelled held-out set.

    Synth: `synth_heldout_instances` new instances per category (seed + 1), one view each; even
    instances form the bank, odd ones the queries (so kNN measures category, not instance,
    recognition); `--knn-data synth` uses them with any training data (e.g. videos). `--knn-data DIR`
    (ImageNet layout): alternate images of each class.
    """
    if cfg.knn_every <= 0:
        return None
    if cfg.knn_data and cfg.knn_data != "synth":
        imgs = image_folder(cfg.knn_data)
        if not imgs.classes:
            raise TrainingError(
                f"--knn-data {cfg.knn_data}: needs class sub-folders (ImageNet layout) for labels"
            )
        seen: dict[int, int] = {}
        side = []
        for y in imgs.labels:
            side.append(seen.get(y, 0) % 2)
            seen[y] = seen.get(y, 0) + 1
    elif cfg.data == "synth" or cfg.knn_data == "synth":
        imgs = synth_images(
            cfg.synth_categories,
            cfg.synth_heldout_instances,
            1,
            cfg.image_size,
            cfg.seed + 1,
            cache_dir=cfg.synth_cache,
        )
        side = [i % 2 for i in range(len(imgs))]  # one view per instance: alternate instances
    else:
        return None
    from torchvision import transforms as T

    from .augment import IMAGENET_MEAN, IMAGENET_STD

    pre = T.Compose(
        [
            T.Resize(cfg.image_size),
            T.CenterCrop(cfg.image_size),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    x = torch.stack([pre(load_rgb(p)) for p in imgs.paths])
    y = torch.tensor(imgs.labels)
    s = torch.tensor(side)
    return x[s == 0], y[s == 0], x[s == 1], y[s == 1]
