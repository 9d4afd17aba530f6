"""Encoder specs → `Encoder` (minimal version: `tv:NAME` and `timm:NAME` without weights).

To be extended by the encoder-format work (weights files, format registry, strict loading).
"""

from __future__ import annotations

from ..errors import EncoderSpecError
from ._encoder import Encoder


def load_encoder(spec: str, weights: str | None = None, **kwargs) -> Encoder:
    """Build an encoder from a spec such as `tv:resnet18` or `timm:resnet18`."""
    family, _, name = spec.partition(":")
    if family == "tv":
        import torchvision

        model = torchvision.models.get_model(name, weights=None)
        fam = "torchvision"
    elif family == "timm":
        import timm

        model = timm.create_model(name, pretrained=False)
        fam = "timm"
    else:
        raise EncoderSpecError(f"unknown encoder spec {spec!r}; use tv:NAME or timm:NAME")
    return Encoder(spec=spec, arch=name, family=fam, model=model.eval())
