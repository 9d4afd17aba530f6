"""View generation: the augmentations of MoCo v1, MoCo v2 ("aug+") and PIRL, on PIL images.

MoCo v1 (facebookresearch/moco `main_moco.py`): RandomResizedCrop(scale 0.2–1), RandomGrayscale
0.2, ColorJitter(0.4, 0.4, 0.4, 0.4), horizontal flip. MoCo v2 (Chen et al.,
https://arxiv.org/abs/2003.04297; `main_moco.py --aug-plus`): RandomResizedCrop(scale 0.2–1),
ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, RandomGrayscale 0.2, Gaussian blur σ ∈ [0.1, 2] with
p 0.5 (`moco/loader.py`, PIL's GaussianBlur radius), flip. Both end with ToTensor and ImageNet
normalisation. `TwoCrops` draws two independent views (`moco/loader.py: TwoCropsTransform`).

PIRL (VISSL `pirl_jigsaw_4node_resnet50.yaml`): the image view is RandomResizedCrop(scale
0.08–1) then photometric jitter; the patch view is a RandomResizedCrop(scale 0.6–1) cut into a
jigsaw whose patches are jittered independently. Deviation: VISSL's `ImgPilRandomPhotometric` is
not reproduced; the photometric part is ColorJitter(0.4, 0.4, 0.4, 0.2) p 0.8, grayscale 0.2, flip
(+ blur p 0.5 with `blur=True`, as the `photo_gblur` override).

All randomness comes from torch's global generator (torchvision transforms and our blur), so
seeding it per image (`data.ViewDataset`) makes a view a function of (seed, epoch, index).
"""

from __future__ import annotations

import torch
from PIL import Image, ImageFilter
from torchvision import transforms as T

from .jigsaw import jigsaw, jigsaw_sizes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GaussianBlur:
    """PIL Gaussian blur with σ uniform in `sigma` (MoCo v2, following SimCLR)."""

    def __init__(self, sigma: tuple[float, float] = (0.1, 2.0)):
        self.sigma = sigma

    def __call__(self, img: Image.Image) -> Image.Image:
        """Blur `img` with a freshly drawn σ."""
        s = float(torch.empty(1).uniform_(*self.sigma))
        return img.filter(ImageFilter.GaussianBlur(radius=s))


def _finish(mean=IMAGENET_MEAN, std=IMAGENET_STD) -> list:
    return [T.ToTensor(), T.Normalize(mean, std)]


def moco_v1(size: int, scale: tuple[float, float] = (0.2, 1.0)) -> T.Compose:
    """MoCo v1's augmentation at `size` px."""
    return T.Compose(
        [
            T.RandomResizedCrop(size, scale=scale),
            T.RandomGrayscale(p=0.2),
            T.ColorJitter(0.4, 0.4, 0.4, 0.4),
            T.RandomHorizontalFlip(),
            *_finish(),
        ]
    )


def aug_plus_photometric(blur: bool = True) -> list:
    """The photometric steps of MoCo v2's "aug+", in its order: jitter (p 0.8), grey (0.2), blur (0.5)."""
    return [
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        *([T.RandomApply([GaussianBlur((0.1, 2.0))], p=0.5)] if blur else []),
    ]


def moco_v2(size: int, scale: tuple[float, float] = (0.2, 1.0), blur: bool = True) -> T.Compose:
    """MoCo v2's "aug+" at `size` px (`blur=False` drops the Gaussian blur)."""
    return T.Compose(
        [
            T.RandomResizedCrop(size, scale=scale),
            *aug_plus_photometric(blur),
            T.RandomHorizontalFlip(),
            *_finish(),
        ]
    )


AUGMENTATIONS = {"v1": moco_v1, "v2": moco_v2}
"""MoCo augmentation presets by `--aug` name."""


class TwoCrops:
    """Two independent draws of `transform`: [query view, key view]."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, img: Image.Image) -> list[torch.Tensor]:
        """[q, k], each (3, size, size)."""
        return [self.transform(img), self.transform(img)]


def photometric(blur: bool = False) -> list:
    """PIRL's per-element photometric jitter (see the module docstring for the deviation)."""
    return [
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.2)], p=0.8),
        T.RandomGrayscale(p=0.2),
        *([T.RandomApply([GaussianBlur((0.1, 2.0))], p=0.5)] if blur else []),
        T.RandomHorizontalFlip(),
    ]


class PIRLViews:
    """The image view and the jigsaw view of one image.

    Args:
        size: image view size (224 in PIRL); the jigsaw crop and patch sizes follow `jigsaw_sizes`.
        image_scale: RandomResizedCrop scale of the image view (0.08–1).
        patch_scale: RandomResizedCrop scale of the crop the jigsaw is cut from (0.6–1).
        grid: jigsaw cells per side (3).
        blur: add Gaussian blur p 0.5 to the photometric jitter.

    Returns (when called): (image (3, size, size), patches (grid², 3, P, P) in shuffled order).

    """

    def __init__(
        self,
        size: int,
        image_scale=(0.08, 1.0),
        patch_scale=(0.6, 1.0),
        grid: int = 3,
        blur: bool = False,
    ):
        self.grid = grid
        crop, self.patch = jigsaw_sizes(size, grid)
        self.image = T.Compose(
            [T.RandomResizedCrop(size, scale=image_scale), *photometric(blur), *_finish()]
        )
        self.crop = T.RandomResizedCrop(crop, scale=patch_scale)
        self.per_patch = T.Compose([*photometric(blur), *_finish()])

    def __call__(self, img: Image.Image) -> list[torch.Tensor]:
        """[image view, stacked patches]."""
        patches, _, _ = jigsaw(self.crop(img), self.grid, self.patch)
        return [self.image(img), torch.stack([self.per_patch(p) for p in patches])]
