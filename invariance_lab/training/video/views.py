"""Views of a frame pair for the Region Tracker: the two frame views plus R tracked region pairs.

Every view gets MoCo v2's augmentation ("aug+", `augment.moco_v2`), frames and regions alike.

- `crop` (default): each region is cut from its frame (query: the proposal in frame t; key: its
  tracked box in frame t + Δ) and goes through aug+ at `region_size` px, like an image of its own.
  Item: [frame_q, frame_k, regions_q (R, 3, s, s), regions_k (R, 3, s, s), valid (R,)].
- `roi`: the frame views are drawn with the same aug+ but by `geometric_view`, which also maps
  the boxes through the crop and flip; the network pools region features from the trunk's feature
  map with RoIAlign. A region whose box keeps less than half of its area inside either view is
  marked invalid. Item: [frame_q, frame_k, boxes_q (R, 4), boxes_k (R, 4) as x1, y1, x2, y2 in view
  pixels, valid (R,)].

R = `regions`: that many of the anchor's valid tracks are drawn without replacement (fewer when
fewer survive to t + Δ; the rest is padding marked invalid, zeros).
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from ..augment import IMAGENET_MEAN, IMAGENET_STD, aug_plus_photometric, moco_v2

MIN_VISIBLE = 0.5


def geometric_view(img, boxes: np.ndarray, size: int, scale=(0.2, 1.0), blur: bool = True):
    """MoCo v2's aug+ of `img` that also maps boxes (N, 4 as x, y, w, h) into the view.

    Same steps and draw order as `augment.moco_v2` (RandomResizedCrop, jitter p 0.8, grey 0.2,
    blur p 0.5, flip p 0.5, normalise). Returns (view (3, size, size), boxes (N, 4) x1, y1, x2, y2
    clipped to the view, visible (N,) fraction of each box's area inside the crop).
    """
    i, j, h, w = T.RandomResizedCrop.get_params(img, scale, (3 / 4, 4 / 3))
    out = TF.resized_crop(img, i, j, h, w, [size, size], antialias=True)
    for f in aug_plus_photometric(blur):
        out = f(out)
    flip = bool(torch.rand(1) < 0.5)
    if flip:
        out = TF.hflip(out)
    view = TF.normalize(TF.to_tensor(out), IMAGENET_MEAN, IMAGENET_STD)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    xyxy = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)
    xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - j) * size / w
    xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - i) * size / h
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    clipped = np.clip(xyxy, 0, size)
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    visible = np.where(area > 0, inside / np.maximum(area, 1e-9), 0.0)
    if flip:
        clipped[:, [0, 2]] = size - clipped[:, [2, 0]]
    return view, torch.as_tensor(clipped, dtype=torch.float32), torch.as_tensor(visible)


class RegionViews:
    """Frame views and R region pairs (see the module docstring).

    Args:
        size: frame view side.
        regions: R, region pairs per item.
        pool: `crop` or `roi`.
        region_size: crop side of region views (`crop` only).
        scale: RandomResizedCrop area range (aug+: 0.2–1).
        blur: aug+ Gaussian blur on/off.

    """

    def __init__(
        self,
        size: int,
        regions: int,
        pool: str,
        region_size: int,
        scale=(0.2, 1.0),
        blur: bool = True,
    ):
        self.size, self.regions, self.pool, self.region_size = size, regions, pool, region_size
        self.scale, self.blur = tuple(scale), blur
        self.frame_aug = moco_v2(size, scale=self.scale, blur=blur)
        self.region_aug = moco_v2(region_size, scale=self.scale, blur=blur)

    def __call__(self, a, b, ctx) -> list[torch.Tensor]:
        """[frame_q, frame_k, regions_q, regions_k, valid] for frames a (t) and b (t + Δ); ctx["boxes"] = (boxes_t, boxes_t2)."""
        qb, kb = ctx["boxes"]
        R = self.regions
        pick = torch.randperm(len(qb))[:R].numpy()
        qb, kb = qb[pick], kb[pick]
        valid = torch.zeros(R, dtype=torch.bool)
        valid[: len(pick)] = True
        if self.pool == "crop":
            s = self.region_size
            rq, rk = torch.zeros(R, 3, s, s), torch.zeros(R, 3, s, s)
            for r in range(len(pick)):
                rq[r] = self.region_aug(_crop(a, qb[r]))
                rk[r] = self.region_aug(_crop(b, kb[r]))
            return [self.frame_aug(a), self.frame_aug(b), rq, rk, valid]
        vq, bq, visq = geometric_view(a, qb, self.size, self.scale, self.blur)
        vk, bk, visk = geometric_view(b, kb, self.size, self.scale, self.blur)
        boxes_q, boxes_k = torch.zeros(R, 4), torch.zeros(R, 4)
        boxes_q[: len(pick)], boxes_k[: len(pick)] = bq, bk
        boxes_q[len(pick) :, 2:] = boxes_k[len(pick) :, 2:] = 1.0  # padding: a 1-px box, masked out
        valid[: len(pick)] &= (visq >= MIN_VISIBLE) & (visk >= MIN_VISIBLE)
        return [vq, vk, boxes_q, boxes_k, valid]


def _crop(img, box):
    """The box (x, y, w, h) of a PIL image, rounded outwards to whole pixels and kept inside it."""
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1 = min(img.width, max(x0 + 1, int(np.ceil(box[0] + box[2]))))
    y1 = min(img.height, max(y0 + 1, int(np.ceil(box[1] + box[3]))))
    return img.crop((x0, y0, x1, y1))
