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

HEAD_LAYER = "head"
"""Tap name of a checkpoint's projection head kept with `--head` (applied to `DEFAULT_LAYER`)."""


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
        projection: a checkpoint's projection head (`--head`), served as the tap `head` on top of
            the pooled features; None when not requested.

    """

    spec: str
    arch: str
    family: str
    model: nn.Module
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    load_report: dict[str, Any] = field(default_factory=dict)
    _digest: str | None = field(default=None, repr=False)
    projection: nn.Module | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """Short display name (the spec, or the file name for paths)."""
        return self.load_report.get("display_name") or self.spec

    @property
    def digest(self) -> str:
        """SHA-256 over parameter and buffer names, shapes, dtypes and bytes (cache key, provenance).

        A hand-built input layer (`preprocessing.input_norm`, e.g. grey-world) changes the
        function, so it is mixed in: `tv:resnet18[input_norm=greyworld]` and `tv:resnet18` share
        weights but not digests.
        """
        if self._digest is None:
            state = dict(self.model.state_dict())
            if self.projection is not None:
                state.update({f"{HEAD_LAYER}:{k}": v for k, v in self.projection.state_dict().items()})
            self._digest = state_dict_digest(state)
        norm = self.preprocessing.input_norm
        if norm != "none":
            return hashlib.sha256(f"{self._digest}|input_norm={norm}".encode()).hexdigest()
        return self._digest

    def layer_names(self) -> list[str]:
        """Names accepted by `feature_module` (DEFAULT_LAYER first, then module names)."""
        from ._taps import available_layers

        names = available_layers(self)
        return names[:1] + [HEAD_LAYER] + names[1:] if self.projection is not None else names

    def feature_module(self, layers: list[str]) -> nn.Module:
        """A module mapping a normalised batch (B, 3, H, W) to {layer: (B, C) pooled features}.

        All requested taps come from one forward pass. Spatial maps (B, C, H, W) are globally
        average-pooled; token sequences (B, T, C) of transformers are averaged over tokens except
        for `DEFAULT_LAYER`, which follows the model's own pooling (class token or mean).

        Raises:
            LayerNotFoundError: listing the nearest valid names for an unknown layer.

        """
        from ._taps import build_feature_module

        if self.projection is None or HEAD_LAYER not in layers:
            return build_feature_module(self, layers)
        inner = [n for n in layers if n != HEAD_LAYER]
        return _WithProjection(build_feature_module(self, inner + [DEFAULT_LAYER]), self.projection,
                               keep_pooled=DEFAULT_LAYER in inner)  # fmt: skip


class _WithProjection(nn.Module):
    """Adds the tap `head` = projection(pooled) to a feature module's outputs."""

    def __init__(self, taps: nn.Module, projection: nn.Module, keep_pooled: bool):
        super().__init__()
        self.taps, self.projection, self.keep_pooled = taps, projection.eval(), keep_pooled

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.taps(x)
        out[HEAD_LAYER] = self.projection(out[DEFAULT_LAYER])  # (B, D_head)
        if not self.keep_pooled:
            del out[DEFAULT_LAYER]
        return out


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
