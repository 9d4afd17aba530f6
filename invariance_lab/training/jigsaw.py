"""PIRL's jigsaw view: a crop of the image cut into a 3×3 grid, a random patch inside each cell, shuffled.

Facts from VISSL's PIRL transform (`vissl/data/ssl_transforms/img_pil_to_patches_and_image.py`,
`img_patches_tensor.py`, TRAINERS.md §3.1) and the paper (Misra & van der Maaten, CVPR 2020,
https://arxiv.org/abs/1912.01991, §4.1): at 224 px the image is randomly resized-cropped to 255 px
(scale 0.6–1), cut into 3×3 cells of 85 px, and a random 64×64 patch is taken inside each cell
(jitter 21 px). `jigsaw_sizes` scales those numbers to other input sizes (64 px → 72, 24, 18).

Bookkeeping: `boxes[c]` is the patch box of grid cell c (row-major); the output order is
`perm`, i.e. output j shows cell `perm[j]`. All randomness uses torch's global generator, which
the data pipeline seeds per (epoch, image), so a jigsaw is reproducible.
"""

from __future__ import annotations

import torch
from PIL import Image


def jigsaw_sizes(image_size: int, grid: int = 3) -> tuple[int, int]:
    """(crop size, patch size) for an input size, scaled from PIRL's 255/85/64 at 224 px."""
    cell = max(1, round(image_size * 85 / 224))
    patch = max(1, round(cell * 64 / 85))
    return cell * grid, patch


def jigsaw_boxes(crop_size: int, grid: int, patch: int) -> torch.Tensor:
    """Patch boxes (grid², 4) as (x0, y0, x1, y1), one random position inside each cell, row-major.

    Raises:
        ValueError: the patch is larger than a cell.

    """
    cell = crop_size // grid
    if patch > cell:
        raise ValueError(
            f"jigsaw patch {patch}px does not fit a {cell}px cell of a {crop_size}px crop"
        )
    jitter = cell - patch
    off = torch.randint(0, jitter + 1, (grid * grid, 2))  # (x, y) offset inside each cell
    rows = torch.arange(grid).repeat_interleave(grid)
    cols = torch.arange(grid).repeat(grid)
    x0 = cols * cell + off[:, 0]
    y0 = rows * cell + off[:, 1]
    return torch.stack([x0, y0, x0 + patch, y0 + patch], dim=1)


def jigsaw(
    img: Image.Image, grid: int = 3, patch: int = 64
) -> tuple[list[Image.Image], torch.Tensor, torch.Tensor]:
    """Cut an (already cropped, square) image into shuffled patches.

    Args:
        img: the crop, `grid`·cell pixels square.
        grid: cells per side (3).
        patch: patch side in pixels (64 at 224 px).

    Returns:
        (patches in output order, perm (grid²,) with output j = cell perm[j], boxes (grid², 4) per cell).

    """
    boxes = jigsaw_boxes(min(img.size), grid, patch)
    perm = torch.randperm(grid * grid)
    patches = [img.crop(tuple(int(v) for v in boxes[c])) for c in perm.tolist()]
    return patches, perm, boxes
