"""Any image folder: ImageNet-style `<dir>/<class>/<image>` or a flat `<dir>/<image>` folder."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ._common import natural_key

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm"})


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def list_images(folder: Path) -> list[tuple[str, str]]:
    """(path relative to `folder`, class) in natural order; class = sub-folder name, or `""` when flat.

    Images directly in `folder` are taken when there are no class sub-folders with images.
    """
    out: list[tuple[str, str]] = []
    subdirs = sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: natural_key(d.name))
    for d in subdirs:
        files = sorted((f for f in d.iterdir() if _is_image(f)), key=lambda f: natural_key(f.name))
        out += [(f"{d.name}/{f.name}", d.name) for f in files]
    if not out:
        files = sorted((f for f in folder.iterdir() if _is_image(f)), key=lambda f: natural_key(f.name))
        out = [(f.name, "") for f in files]
    return out


def rrc_params(width: int, height: int, scale: tuple[float, float], ratio: tuple[float, float],
               generator: torch.Generator) -> tuple[int, int, int, int]:
    """(top, left, h, w) drawn exactly as torchvision's `RandomResizedCrop.get_params`.

    The draws come from `generator` instead of the global torch RNG (same calls, same order: 10 tries of a uniform
    scale and a log-uniform aspect ratio, then two `randint`s; central-crop fallback).
    """
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0].item(), log_ratio[1].item(), generator=generator)).item()
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = torch.randint(0, height - h + 1, size=(1,), generator=generator).item()
            j = torch.randint(0, width - w + 1, size=(1,), generator=generator).item()
            return int(i), int(j), h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w
