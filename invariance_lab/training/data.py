"""Training data: image folders and SynthWorld renders, seeded views, and a resumable sampler.

Sources (`--data`):
- a folder in ImageNet layout (`ROOT/<class>/<image>`, class = sub-folder) or flat
  (`ROOT/<image>`, e.g. COCO `train2017/`; no labels). Images are found recursively.
- `synth`: SynthWorld renders (`synth_images`): N instances per category at random views and
  lights, rendered once into the SynthWorld disk cache; label = category. Nothing is downloaded.

Reproducibility: the sampler yields `(index, seed)` pairs, and `ViewDataset` draws every random
choice of the augmentation from torch's generator seeded with that seed inside `fork_rng`, so a
view depends only on (run seed, epoch, index), never on worker count or on a restart. The sampler
draws one permutation of the dataset per epoch from (seed, epoch), cuts it into global batches
(`drop_last`, as MoCo), gives rank r the r-th contiguous slice of each global batch, and can start
at any step of an epoch: that is the "sampler position" a checkpoint stores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from .errors import TrainingError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")


@dataclass
class ImageList:
    """Image files with integer labels (-1 when unlabelled) and the class names."""

    paths: list[Path]
    labels: list[int]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.paths)


def image_folder(root: str | os.PathLike) -> ImageList:
    """Every image under `root`; labelled by first-level sub-folder when all images sit in one.

    Raises:
        TrainingError: the folder does not exist or holds no image.

    """
    root = Path(root)
    if not root.is_dir():
        raise TrainingError(
            f"--data {root}: not a folder; give an image folder (ImageNet layout or flat) or 'synth'"
        )
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise TrainingError(
            f"--data {root}: no images ({', '.join(IMAGE_SUFFIXES)}) found under it"
        )
    rel = [p.relative_to(root).parts for p in paths]
    if all(len(r) >= 2 for r in rel):
        classes = sorted({r[0] for r in rel})
        index = {c: i for i, c in enumerate(classes)}
        return ImageList(paths, [index[r[0]] for r in rel], classes)
    return ImageList(paths, [-1] * len(paths), [])


def synth_images(
    categories: list[str] | None,
    instances: int,
    views: int,
    resolution: int,
    seed: int,
    cache_dir=None,
    workers: int | None = None,
    progress: bool = False,
) -> ImageList:
    """SynthWorld renders: `instances` per category × `views` random views each; label = category.

    Views draw azimuth in [0, 360), elevation in [5, 50], key-light azimuth in [−150, 150] and
    elevation in [15, 70], and a background from plain/gradient/clutter, from a generator seeded by
    (seed, category, instance), so two runs with the same options render (and cache) the same set.
    Instance seeds start at `seed`·1000 + 700, away from the `synth-*` probes' seeds.
    """
    from ..synthworld.categories import list_categories, rng_for
    from ..synthworld.render import render_jobs
    from ..synthworld.scene import RenderJob, View

    cats = categories or list_categories()
    unknown = sorted(set(cats) - set(list_categories()))
    if unknown:
        raise TrainingError(
            f"--synth-categories: unknown {unknown}; known: {', '.join(list_categories())}"
        )
    jobs, labels = [], []
    for ci, c in enumerate(cats):
        for k in range(instances):
            s = seed * 1000 + 700 + k
            rng = rng_for("train-views", c, s)
            for _ in range(views):
                view = View(
                    azimuth=float(rng.uniform(0, 360)),
                    elevation=float(rng.uniform(5, 50)),
                    light_azimuth=float(rng.uniform(-150, 150)),
                    light_elevation=float(rng.uniform(15, 70)),
                    background=("plain", "gradient", "clutter")[int(rng.integers(3))],
                    bg_seed=int(rng.integers(1 << 30)),
                )
                jobs.append(RenderJob(c, s, view, resolution))
                labels.append(ci)
    paths = render_jobs(
        jobs, cache_dir, workers=workers, progress=progress, desc="rendering synth training set"
    )
    return ImageList(list(paths), labels, list(cats))


def load_rgb(path: Path) -> Image.Image:
    """Decode an image as RGB.

    Raises:
        TrainingError: naming the file that cannot be read.

    """
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError as e:
        raise TrainingError(
            f"cannot read training image {path}: {e}; remove or replace the file"
        ) from e


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one image's views in one epoch (a fixed mix of the three numbers)."""
    return (seed * 1_000_003 + epoch * 7_919_999 + index * 2_654_435_761) % (2**63 - 1)


class ViewDataset(torch.utils.data.Dataset):
    """Items `(views, index, label)` for `(index, seed)` keys; views from `transform(image)`."""

    def __init__(self, images: ImageList, transform):
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]):
        """Decode image `key[0]` and draw its views with the generator seeded by `key[1]`."""
        index, seed = key
        img = load_rgb(self.images.paths[index])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            views = self.transform(img)
        return views, index, self.images.labels[index]


class ResumableBatchSampler:
    """Batches of `(index, seed)` for one rank: epoch permutation, contiguous per-rank slices, a start step.

    Args:
        n: dataset size.
        global_batch: images per step over all ranks.
        rank, world: this process and the number of processes (global_batch % world == 0).
        seed: run seed.

    """

    def __init__(self, n: int, global_batch: int, rank: int, world: int, seed: int):
        if global_batch > n:
            raise TrainingError(
                f"--batch-size {global_batch} exceeds the dataset size {n}; lower it or add data"
            )
        self.n, self.global_batch, self.rank, self.world, self.seed = (
            n,
            global_batch,
            rank,
            world,
            seed,
        )
        self.local = global_batch // world
        self.epoch, self.start = 0, 0

    def __len__(self) -> int:
        return self.n // self.global_batch - self.start

    @property
    def steps_per_epoch(self) -> int:
        """Full global batches per epoch (the last partial one is dropped)."""
        return self.n // self.global_batch

    def set_position(self, epoch: int, start_step: int = 0) -> None:
        """Iterate epoch `epoch` from step `start_step`."""
        self.epoch, self.start = epoch, start_step

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        for step in range(self.start, self.steps_per_epoch):
            batch = perm[step * self.global_batch : (step + 1) * self.global_batch]
            mine = batch[self.rank * self.local : (self.rank + 1) * self.local]
            yield [(i, sample_seed(self.seed, self.epoch, i)) for i in mine]
