"""Input preprocessing an encoder expects: size, resize rule, normalisation.

Split in two on purpose (DESIGN.md §7, "decode once, evaluate many"):
`to_uint8` turns a decoded PIL image into a uint8 CHW tensor at the input size (done once per
image, cacheable, cheap to ship between processes); `normalize` turns a uint8 batch into the
float input on the model's device.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How images are prepared for an encoder.

    The default reproduces the Demystifying paper's extraction: `Resize((128, 128))` (which
    squashes the aspect ratio), then ImageNet mean/std.

    Attributes:
        input_size: (height, width) fed to the network.
        mean: per-channel mean on the [0, 1] scale.
        std: per-channel standard deviation; (1, 1, 1) with mean (0, 0, 0) means "unnormalised".
        resize: "squash" resizes to exactly `input_size` (the paper); "shorter-center" resizes the
            shorter side then centre-crops (torchvision's evaluation transform).
        interpolation: "bilinear" or "bicubic".

    """

    input_size: tuple[int, int] = (128, 128)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: str = "squash"
    interpolation: str = "bilinear"

    def to_dict(self) -> dict:
        """JSON-ready description."""
        return asdict(self)

    def digest(self) -> str:
        """Short SHA-256 of the settings (part of feature-cache keys)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def geometry_digest(self) -> str:
        """Digest of what `to_uint8` depends on (size, resize rule, interpolation), not mean/std."""
        d = {
            "input_size": list(self.input_size),
            "resize": self.resize,
            "interpolation": self.interpolation,
        }
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_uint8(self, img: Image.Image) -> torch.Tensor:
        """Resize an RGB PIL image to a uint8 tensor of shape (3, H, W)."""
        interp = (
            InterpolationMode.BICUBIC
            if self.interpolation == "bicubic"
            else InterpolationMode.BILINEAR
        )
        h, w = self.input_size
        if self.resize == "squash":
            img = img.resize(
                (w, h),
                resample=Image.BICUBIC if self.interpolation == "bicubic" else Image.BILINEAR,
            )
        elif self.resize == "shorter-center":
            img = TF.resize(img, min(h, w), interpolation=interp)
            img = TF.center_crop(img, [h, w])
        else:
            raise ValueError(
                f"unknown resize rule {self.resize!r}; use 'squash' or 'shorter-center'"
            )
        return TF.pil_to_tensor(img)

    def normalize(self, batch: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """uint8 (B, 3, H, W) → normalised float (B, 3, H, W) on the batch's device."""
        x = batch.to(dtype).div_(255.0)
        mean = torch.tensor(self.mean, dtype=dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=dtype, device=x.device).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)
