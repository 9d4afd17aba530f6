"""Frame Temporal Invariance: MoCo v2 whose query and key are two frames of a video, Δ frames apart.

Purushwalkam & Gupta, "Demystifying Contrastive Self-Supervised Learning: Invariances,
Augmentations and Dataset Biases", NeurIPS 2020 (https://arxiv.org/abs/2007.13916), §5: the
naturally occurring transformations of video (the object turning, the camera moving, light
changing, occlusion) supply the positives; the model works "in the MOCOv2 framework" with "full
frames ... separated in time as the query and key". Everything else is MoCo v2 (`moco.py`):
encoders, queue, momentum, shuffle-BN, MLP head, T 0.2, aug+ applied independently to each frame,
cosine schedule.

Our reading (the paper's appendix B was not available; each choice is an option, README "our
reading of the method"): Δ uniform in `--frame-gap` (default 1–8 frames), videos balanced per
epoch (`--video-sampling`), an epoch = as many pairs as frames (`--pairs-per-epoch`).
`--pairs same-frame` (Δ = 0) is the paper's baseline: MoCo v2 on individual frames of the same
videos, with everything else equal.
"""

from __future__ import annotations

from ..video.data import PairViews, video_training_data
from .base import register_method
from .moco import MOCO_V2, MoCo


@register_method("temporal")
class FrameTemporal(MoCo):
    """MoCo v2 on frame pairs (video, t, t + Δ) of `--data` (GOT-10k, TrackingNet or SynthWorld clips)."""

    DEFAULTS = MOCO_V2

    @classmethod
    def training_data(cls, cfg):
        """Frame pairs of the video dataset `--data`."""
        return video_training_data(cfg)

    def transform(self):
        """aug+ drawn independently for frame t (query) and frame t + Δ (key)."""
        return PairViews(super().transform().transform)
