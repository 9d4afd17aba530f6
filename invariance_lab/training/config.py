"""`TrainConfig`: every option of `invariance-lab train`, with the papers' values as defaults.

Method-specific defaults (MoCo v1 vs v2 vs PIRL) come from each method's `DEFAULTS`
(`methods/`), applied by `TrainConfig.for_method`; anything given explicitly wins. The resolved
config is saved with every checkpoint and in `OUT/config.json`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import TrainingError


@dataclass
class TrainConfig:
    """Options of a training run (see the README's option table for when to change them)."""

    method: str = "mocov2"
    out: str = "runs/train"
    # data
    data: str = "synth"  # image folder, or "synth"
    image_size: int | None = None  # None: 224 for folders, 64 for synth
    synth_categories: list[str] | None = None
    synth_instances: int = 16
    synth_views: int = 2
    synth_heldout_instances: int = 6
    synth_cache: str | None = None  # render cache (default: the SynthWorld cache)
    knn_data: str | None = (
        None  # labelled folder for the kNN monitor (default: synth held-out, or none)
    )
    workers: int = 0
    # encoder and heads
    arch: str = "tv:resnet50"
    dim: int = 128
    mlp: bool = False
    # MoCo
    queue_size: int = 65536
    moco_m: float = 0.999
    temperature: float = 0.07
    aug: str = "v1"
    crop_scale: tuple[float, float] = (0.2, 1.0)
    blur: bool = True
    bn_mode: str = "auto"  # auto | shuffle | split:G | sync | plain
    key_shuffle: bool = True
    # PIRL
    n_negatives: int = 32000
    bank_momentum: float = 0.5
    pirl_lambda: float = 0.5
    pirl_loss: str = "nce"  # nce | cross_entropy
    jigsaw_grid: int = 3
    image_crop_scale: tuple[float, float] = (0.08, 1.0)
    patch_crop_scale: tuple[float, float] = (0.6, 1.0)
    # video methods (temporal, region-tracker): frame pairs (training/video/)
    video_layout: str = "auto"  # auto | got10k | trackingnet
    pairs: str = "temporal"  # temporal | same-frame (MoCo v2 on frames)
    frame_gap: tuple[int, int] = (1, 8)  # Δ window in frames, inclusive
    video_sampling: str = "balanced"  # balanced | proportional
    pairs_per_epoch: int | None = None  # None: the number of frames
    # region tracker: stored proposals and tracks, region term
    tracks_dir: str | None = None  # None: DATA/tracks
    proposals: str = "selective-search"  # selective-search | felzenszwalb | oracle
    max_proposals: int = 8
    tracker: str = "kcf"  # kcf | csrt | oracle
    anchor_stride: int = 2  # proposals every N frames
    track_min_size: float = 0.08  # fraction of the shorter frame side
    track_max_jump: float = 0.5  # per-frame centre motion / box size
    track_max_scale: float = 2.0  # area change vs. the proposal
    track_min_inside: float = 0.5  # fraction of the box inside the frame
    track_min_ncc: float = 0.2  # appearance consistency with the proposal
    regions: int = 4  # region pairs per frame pair
    region_pool: str = "crop"  # crop | roi
    region_size: int | None = None  # crop: region crop side (None: image_size // 2)
    roi_output: int = 2  # roi: RoIAlign output side
    region_weight: float = 1.0  # loss = frame term + weight × region term
    region_queue_size: int | None = None  # None: queue_size
    # optimisation
    epochs: int = 200
    batch_size: int = 256  # global, over all processes
    lr: float = 0.03  # per 256 images (linear scaling rule)
    schedule: str = "step"  # step | cos
    lr_steps: list[int] = field(default_factory=lambda: [120, 160])
    sgd_momentum: float = 0.9
    weight_decay: float = 1e-4
    wd_bn_bias: bool = True
    max_steps: int | None = None  # stop early (tests, benchmarks)
    # runtime
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto | none | bf16 | fp16
    channels_last: str = "auto"  # auto | on | off
    compile: bool = False
    ckpt_every: int = 0  # steps; 0: at the end of each epoch only
    resume: str | None = None  # a checkpoint, or "auto" (OUT/checkpoint.pt if present)
    knn_every: int = 1  # epochs; 0: never
    knn_k: int = 20
    knn_t: float = 0.07
    log_every: int = 10
    tensorboard: bool = False
    progress: bool = True

    @classmethod
    def for_method(cls, method: str, **given: Any) -> TrainConfig:
        """Defaults of `method` (its `DEFAULTS`), then the given options.

        Raises:
            TrainingError: an option name that does not exist.

        """
        from .methods import get_method

        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise TrainingError(
                f"unknown training options {unknown}; valid: {', '.join(sorted(names))}"
            )
        values = {
            **get_method(method).DEFAULTS,
            **{k: v for k, v in given.items() if v is not None},
        }
        return cls(method=method, **values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-like dict (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }
