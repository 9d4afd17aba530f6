"""The `Encoder`: a network, its preprocessing, and named feature taps.

Every encoder, whatever it was loaded from (torchvision, timm, a MoCo release, this project's
trainers), is one of these. Downstream code (feature extraction, reports) only uses this class.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ._preprocess import Preprocessing

DEFAULT_LAYER = "pooled"
"""Name of the default tap: the globally pooled penultimate features (what the paper measures)."""


@dataclass
class Encoder:
    """A frozen image encoder ready for feature extraction.

    Attributes:
        spec: the spec it was built from (`tv:resnet50`, `timm:vit_small_patch16_224`, a path).
        arch: architecture name (`resnet50`).
        family: "torchvision" or "timm" (which feature API serves its taps).
        model: the backbone in eval mode, classification head still attached (taps stop before it).
        preprocessing: the input size and normalisation its weights expect.
        load_report: what loading did: `weights` or `format` and `file`, `n_loaded` of
            `n_model_keys`, `dropped` {key: reason}, `head`, `digest`, `preprocessing_source`.

    """

    spec: str
    arch: str
    family: str
    model: nn.Module
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    load_report: dict[str, Any] = field(default_factory=dict)
    _digest: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """Short display name (the spec, or the file name for paths)."""
        return self.load_report.get("display_name") or self.spec

    @property
    def digest(self) -> str:
        """SHA-256 over parameter and buffer names, shapes, dtypes and bytes (cache key, provenance)."""
        if self._digest is None:
            self._digest = state_dict_digest(self.model.state_dict())
        return self._digest

    def layer_names(self) -> list[str]:
        """Names accepted by `feature_module` (DEFAULT_LAYER first, then module names)."""
        from ._taps import available_layers

        return available_layers(self)

    def feature_module(self, layers: list[str]) -> nn.Module:
        """A module mapping a normalised batch (B, 3, H, W) to {layer: (B, C) pooled features}.

        All requested taps come from one forward pass. Spatial maps (B, C, H, W) are globally
        average-pooled; token sequences (B, T, C) of transformers are averaged over tokens except
        for `DEFAULT_LAYER`, which follows the model's own pooling (class token or mean).

        Raises:
            LayerNotFoundError: listing the nearest valid names for an unknown layer.

        """
        from ._taps import build_feature_module

        return build_feature_module(self, layers)


def state_dict_digest(state: dict[str, torch.Tensor]) -> str:
    """Content digest of a state dict, independent of device and of dict order."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k]
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{k}|{tuple(t.shape)}|{t.dtype};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
