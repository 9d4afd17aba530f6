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
INPUT_NORMS = ("none", "greyworld")
"""Hand-built input layers `Preprocessing.input_norm` can put in front of a network."""
GREYWORLD_EPS = 1e-6


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
        input_norm: a hand-built invariance applied in `normalize` before mean/std: "none", or
            "greyworld", von Kries / grey-world colour constancy: each channel of each image is
            divided by its own spatial mean and multiplied by `mean`, so the normalised input
            has zero spatial mean per channel. A per-channel gain g (an illuminant colour
            change to first order: von Kries 1902; the grey-world estimate is Buchsbaum 1980)
            scales a channel and its mean alike and cancels exactly (up to float rounding and
            uint8 clipping). Spell it `tv:resnet18[input_norm=greyworld]` (any architecture) or
            pass `preprocessing={"input_norm": "greyworld"}` to `load_encoder`.

    """

    input_size: tuple[int, int] = (128, 128)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: str = "squash"
    interpolation: str = "bilinear"
    input_norm: str = "none"

    def __post_init__(self):
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"unknown input_norm {self.input_norm!r}; use one of {', '.join(INPUT_NORMS)}")

    def to_dict(self) -> dict:
        """JSON-ready description (`input_norm` only when set, so older digests stay valid)."""
        d = asdict(self)
        if d["input_norm"] == "none":
            del d["input_norm"]
        return d

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
        x = batch.to(dtype).div(255.0)
        mean = torch.tensor(self.mean, dtype=dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=dtype, device=x.device).view(1, 3, 1, 1)
        if self.input_norm == "greyworld":
            x = x / x.mean(dim=(2, 3), keepdim=True).clamp_min(GREYWORLD_EPS) * mean
        return x.sub_(mean).div_(std)
