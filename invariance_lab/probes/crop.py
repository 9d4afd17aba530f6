"""`crop[:PATH]`: K random-resized crops of each image of a folder (MoCo's crop distribution).

PATH is an ImageNet-style folder (`<class>/<image>.JPEG`, e.g. ImageNet val split into wnid
folders) or a flat folder of images; without PATH, `<data root>/imagenet/val`. Set = one image,
class = its class folder (the image itself for a flat folder). Each crop is a `ProbeItem` box
(x0, y0, x1, y1) = (left, top, left + w, top + h) with integer corners; extraction crops to it,
then resizes to the encoder's input size, which is what torchvision's
`RandomResizedCrop` (`F.resized_crop`: crop, then resize) does.

Boxes come from `datasets.imagefolder.rrc_params`, the draw of
`torchvision.transforms.RandomResizedCrop.get_params` made with a `torch.Generator` seeded per
image from (seed, relative path): the crops of an image do not depend on which other images the
folder holds. Options: `k` (crops per image, default 10), `scale` (default `0.2,1.0`, MoCo v1/v2's
`RandomResizedCrop(224, scale=(0.2, 1.))`), `ratio` (default `0.75,1.3333333333333333`,
torchvision's), `seed` (default 0), `max_images` (first N images in order), `per_class` (first N
images of each class). Only image headers are read to build the probe.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ..config import resolve_data_root
from ..datasets._common import DatasetNotFound, Problem, check_on_error, image_size, raise_problems
from ..datasets.imagefolder import list_images, rrc_params
from ..errors import ProbeError
from ._base import Probe, ProbeItem, register_probe

MOCO_SCALE = (0.2, 1.0)
TV_RATIO = (3.0 / 4.0, 4.0 / 3.0)


def _pair(v, name) -> tuple[float, float]:
    if isinstance(v, str):
        v = v.split(",")
    a, b = (float(x) for x in v)
    if not 0 < a <= b:
        raise ProbeError(f"crop probe: {name} must be 'lo,hi' with 0 < lo <= hi, got {v}")
    return a, b


def _image_seed(seed: int, rel: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{int(seed)}:{rel}".encode()).digest()[:8], "little") & ((1 << 63) - 1)


@register_probe("crop")
def crop_probe(arg=None, root=None, k: int = 10, scale=MOCO_SCALE, ratio=TV_RATIO, seed: int = 0,
               max_images: int | None = None, per_class: int | None = None, on_error: str = "stop") -> Probe:
    """Random-resized crops: set = K crops of one image (MoCo's scale 0.2-1, aspect 3/4-4/3)."""
    check_on_error(on_error)
    scale, ratio = _pair(scale, "scale"), _pair(ratio, "ratio")
    if int(k) < 1:
        raise ProbeError(f"crop probe: k must be >= 1, got {k}")
    folder = Path(arg).expanduser() if arg else Path(resolve_data_root(root, required_by="probe 'crop'")) / "imagenet" / "val"
    if not folder.is_dir():
        raise DatasetNotFound(f"crop probe: {folder} is not a directory (give crop:PATH with PATH/<class>/<image> or PATH/<image>)")
    images = list_images(folder)
    if per_class:
        seen: dict[str, int] = {}
        kept = []
        for rel, cls in images:
            seen[cls] = seen.get(cls, 0) + 1
            if seen[cls] <= int(per_class):
                kept.append((rel, cls))
        images = kept
    if max_images:
        images = images[: int(max_images)]
    items, problems = [], []
    for rel, cls in images:
        try:
            w, h = image_size(folder / rel)
        except OSError as exc:
            problems.append(Problem(str(folder / rel), f"cannot read the image header ({exc})"))
            continue
        g = torch.Generator().manual_seed(_image_seed(seed, rel))
        for c in range(int(k)):
            top, left, ch, cw = rrc_params(w, h, scale, ratio, g)
            items.append(ProbeItem(rel, rel, cls or rel, c, (float(left), float(top), float(left + cw), float(top + ch))))
    if on_error == "stop":
        raise_problems(problems, f"image folder {folder}")
    params = {
        "dataset": "imagefolder", "folder": folder.name, "k": int(k), "scale": list(scale), "ratio": list(ratio),
        "seed": int(seed), "max_images": max_images, "per_class": per_class,
        "n_sets": len(images) - len(problems), "n_images": len(items), "left_out": {"unreadable_images": len(problems)},
    }  # fmt: skip
    probe = Probe(name="crop", factor="random-resized crop", items=items, root=folder.resolve(), params=params)
    probe.problems = problems  # what on_error=skip left out (read by `data check`)
    return probe
