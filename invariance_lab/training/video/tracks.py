"""Region proposals in anchor frames, tracked forward by an unsupervised tracker, computed once per video.

Proposals (`--proposals`):
- `selective-search` (default): Uijlings et al., "Selective Search for Object Recognition", IJCV
  2013, in its fast mode as implemented by OpenCV contrib (`cv2.ximgproc.segmentation`). Chosen
  because it is the standard unsupervised, class-agnostic proposal method of the R-CNN era (no
  learned weights, so no data leaks from a supervised detector), deterministic given OpenCV's RNG
  seed, and maintained in a pip wheel.
- `felzenszwalb`: the boxes of Felzenszwalb & Huttenlocher's graph segments (IJCV 2004; the
  base segmentation of selective search), largest first.
- `oracle`: the ground-truth boxes of the frame (ablations only).

Boxes are filtered: width and height at least `min_size` × the shorter frame side, area at most
80 % of the frame, aspect ratio at most 4, then greedy de-duplication (IoU > 0.5 with a kept box
drops a box) in the method's ranking, and the first `max_proposals` are kept.

Trackers (`--tracker`): OpenCV's KCF (Henriques et al., "High-Speed Tracking with Kernelized
Correlation Filters", TPAMI 2015; default) or CSRT (Lukežič et al., "Discriminative Correlation
Filter with Channel and Spatial Reliability", CVPR 2017; adapts the box size), both unsupervised
correlation filters initialised on the proposal; or `oracle`, which matches the proposal to a
ground-truth object (IoU ≥ 0.5) and moves it with that object's box. KCF is the default because
on SynthWorld clips (96 px, 8-frame tracks of the objects) both kept a mean IoU of 0.85 with the
true boxes while CSRT was about 80× slower on CPU (measured 2026-11 with OpenCV 5.0).

A track from anchor t is followed for `horizon` frames and dropped, with the first reason counted,
at the first frame where: the tracker reports failure (`failure`); the centre moves more than
`max_jump` × the box's size (√(w·h)) from the previous frame (`jump`); width or height falls below
`min_size` (`small`); the area changes by more than `max_scale`× from the proposal (`scale`); less
than `min_inside` of the box lies in the frame (`outside`); or the normalised cross-correlation of
its 16×16 grey patch with the proposal's is below `min_ncc` (`low_confidence`, an appearance check
that catches a tracker that latched onto background). Oracle drops: `no_match`, `absent`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from ..errors import TrainingError

PROPOSALS = ("selective-search", "felzenszwalb", "oracle")
TRACKERS = ("csrt", "kcf", "oracle")
REASONS = ("failure", "jump", "small", "scale", "outside", "low_confidence", "no_match", "absent")
MAX_AREA = 0.8
MAX_ASPECT = 4.0
NMS_IOU = 0.5
MATCH_IOU = 0.5
NCC_SIDE = 16


@dataclass(frozen=True)
class TrackParams:
    """Everything that decides the stored proposals and tracks (its digest names them)."""

    proposals: str = "selective-search"
    max_proposals: int = 8
    tracker: str = "kcf"
    horizon: int = 8
    anchor_stride: int = 2
    min_size: float = 0.08
    max_jump: float = 0.5
    max_scale: float = 2.0
    min_inside: float = 0.5
    min_ncc: float = 0.2
    seed: int = 0

    def __post_init__(self):
        if self.proposals not in PROPOSALS:
            raise TrainingError(
                f"--proposals {self.proposals!r}: choose one of {', '.join(PROPOSALS)}"
            )
        if self.tracker not in TRACKERS:
            raise TrainingError(f"--tracker {self.tracker!r}: choose one of {', '.join(TRACKERS)}")
        if self.horizon < 0 or self.anchor_stride < 1 or self.max_proposals < 1:
            raise TrainingError(
                "tracks need horizon >= 0, --anchor-stride >= 1 and --max-proposals >= 1"
            )

    @classmethod
    def from_config(cls, cfg) -> TrackParams:
        """The track options of a `TrainConfig` (horizon = the largest frame gap)."""
        return cls(
            proposals=cfg.proposals,
            max_proposals=cfg.max_proposals,
            tracker=cfg.tracker,
            horizon=int(cfg.frame_gap[1]),
            anchor_stride=cfg.anchor_stride,
            min_size=cfg.track_min_size,
            max_jump=cfg.track_max_jump,
            max_scale=cfg.track_max_scale,
            min_inside=cfg.track_min_inside,
            min_ncc=cfg.track_min_ncc,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """A short hash of the parameters (stored in every per-video file)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of x, y, w, h boxes (NaN boxes give 0)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y2 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return np.nan_to_num(out, nan=0.0)


def filter_boxes(boxes: np.ndarray, width: int, height: int, p: TrackParams) -> np.ndarray:
    """Size, area, aspect filters and greedy de-duplication, in the given order; at most `max_proposals`."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    side = p.min_size * min(width, height)
    w, h = boxes[:, 2], boxes[:, 3]
    ok = (w >= side) & (h >= side) & (w * h <= MAX_AREA * width * height)
    ok &= np.maximum(w / np.maximum(h, 1e-9), h / np.maximum(w, 1e-9)) <= MAX_ASPECT
    kept: list[np.ndarray] = []
    for b in boxes[ok]:
        if kept and iou(b, np.stack(kept)).max() > NMS_IOU:
            continue
        kept.append(b)
        if len(kept) == p.max_proposals:
            break
    return np.stack(kept) if kept else np.zeros((0, 4))


def propose(bgr: np.ndarray, p: TrackParams, gt: np.ndarray | None = None) -> np.ndarray:
    """Filtered proposals (P, 4) x, y, w, h of one frame (BGR uint8), best ranked first.

    Args:
        bgr: the frame, (H, W, 3) uint8 in OpenCV's BGR order.
        p: parameters (`proposals`, `max_proposals`, `min_size`, `seed`).
        gt: (K, 4) ground-truth boxes of the frame, NaN rows for absent objects (`oracle` only).

    """
    import cv2

    h, w = bgr.shape[:2]
    if p.proposals == "oracle":
        if gt is None:
            raise TrainingError(
                "--proposals oracle needs ground-truth boxes, which this dataset lacks"
            )
        raw = np.asarray(gt, float)[~np.isnan(np.asarray(gt, float)).any(axis=1)]
    elif p.proposals == "selective-search":
        _seed_c_rand(p.seed)
        ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        ss.setBaseImage(bgr)
        ss.switchToSelectiveSearchFast()
        raw = np.asarray(ss.process(), dtype=np.float64).reshape(-1, 4)
    else:  # felzenszwalb
        gs = cv2.ximgproc.segmentation.createGraphSegmentation(0.8, 150.0, max(4, (h * w) // 400))
        labels = gs.processImage(bgr)
        raw = []
        for lab in np.argsort(-np.bincount(labels.ravel())):
            ys, xs = np.nonzero(labels == lab)
            if len(xs):
                raw.append([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1])
        raw = np.asarray(raw, dtype=np.float64).reshape(-1, 4)
    return filter_boxes(raw, w, h, p)


def _seed_c_rand(seed: int) -> None:
    """Seed the C library's `rand()`, which OpenCV's selective search uses to rank its regions.

    The set of boxes is deterministic, their order is not (rank = hierarchy level × rand(), Uijlings
    et al. §3.4); `cv2.setRNGSeed` does not reach it. Seeding makes stored proposals reproducible.
    """
    import ctypes
    import warnings

    try:
        libc = ctypes.CDLL(None) if os.name != "nt" else ctypes.cdll.msvcrt
        libc.srand(ctypes.c_uint(seed))
    except (
        OSError,
        AttributeError,
    ) as e:  # pragma: no cover - platform without a loadable C library
        warnings.warn(
            f"cannot seed the C library's rand() ({e}): selective-search proposal order will vary between runs",
            stacklevel=3,
        )


def _patch(gray: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    import cv2

    h, w = gray.shape
    x0, y0 = int(max(0, np.floor(box[0]))), int(max(0, np.floor(box[1])))
    x1, y1 = int(min(w, np.ceil(box[0] + box[2]))), int(min(h, np.ceil(box[1] + box[3])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return cv2.resize(
        gray[y0:y1, x0:x1], (NCC_SIDE, NCC_SIDE), interpolation=cv2.INTER_AREA
    ).astype(np.float64)


def ncc(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Normalised cross-correlation of two equal-size patches (0 when either is flat or missing)."""
    if a is None or b is None:
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-9 else 0.0


def _new_tracker(kind: str):
    import cv2

    return cv2.TrackerCSRT_create() if kind == "csrt" else cv2.TrackerKCF_create()


def _check(box, prev, first, width, height, p: TrackParams, patch0, gray) -> str | None:
    """The drop reason of a tracked box (None: keep)."""
    side = p.min_size * min(width, height)
    if box[2] < side or box[3] < side:
        return "small"
    area, area0 = box[2] * box[3], first[2] * first[3]
    if area > p.max_scale * area0 or area * p.max_scale < area0:
        return "scale"
    size = np.sqrt(max(prev[2] * prev[3], 1e-9))
    c, cp = box[:2] + box[2:] / 2, prev[:2] + prev[2:] / 2
    if np.hypot(*(c - cp)) > p.max_jump * size:
        return "jump"
    ix = max(0.0, min(width, box[0] + box[2]) - max(0.0, box[0]))
    iy = max(0.0, min(height, box[1] + box[3]) - max(0.0, box[1]))
    if ix * iy < p.min_inside * area:
        return "outside"
    if p.min_ncc > -1 and ncc(patch0, _patch(gray, box)) < p.min_ncc:
        return "low_confidence"
    return None


def track_anchor(frames, t: int, boxes: np.ndarray, p: TrackParams, gt_objects=None):
    """Track `boxes` (P, 4) of frame t through frames t+1 .. t+horizon.

    Args:
        frames: callable i → BGR uint8 frame i, with `frames.n` frames.
        t: anchor frame.
        boxes: proposals in frame t.
        p: parameters.
        gt_objects: list of (n, 4) ground-truth boxes per object (`oracle` tracker only).

    Returns:
        (tracks (P, horizon + 1, 4) float32 with the proposal at offset 0 and NaN where invalid,
        valid (P, horizon + 1) bool, counts {reason: proposals dropped for it}).

    """
    import cv2

    P, H, n = len(boxes), p.horizon, frames.n
    tracks = np.full((P, H + 1, 4), np.nan, dtype=np.float32)
    valid = np.zeros((P, H + 1), dtype=bool)
    counts = dict.fromkeys(REASONS, 0)
    if P == 0:
        return tracks, valid, counts
    tracks[:, 0], valid[:, 0] = boxes, True
    f0 = frames(t)
    height, width = f0.shape[:2]
    gray0 = cv2.cvtColor(f0, cv2.COLOR_BGR2GRAY)
    for i, box in enumerate(np.asarray(boxes, float)):
        patch0 = _patch(gray0, box)
        if p.tracker == "oracle":
            if gt_objects is None:
                raise TrainingError(
                    "--tracker oracle needs ground-truth boxes, which this dataset lacks"
                )
            gts = np.stack([o[t] for o in gt_objects])
            m = iou(box, gts)[0]
            if m.max() < MATCH_IOU:
                counts["no_match"] += 1
                continue
            obj, g0 = gt_objects[int(m.argmax())], gts[int(m.argmax())]
        else:
            tracker = _new_tracker(p.tracker)
            try:
                tracker.init(f0, tuple(int(round(v)) for v in box))
            except cv2.error:
                counts["failure"] += 1
                continue
        prev = box
        for d in range(1, H + 1):
            if t + d >= n:
                break
            frame = frames(t + d)
            if p.tracker == "oracle":
                g = obj[t + d]
                if np.isnan(g).any():
                    counts["absent"] += 1
                    break
                sx, sy = g[2] / g0[2], g[3] / g0[3]  # move the proposal with its object's box
                new = np.array(
                    [
                        g[0] + (box[0] - g0[0]) * sx,
                        g[1] + (box[1] - g0[1]) * sy,
                        box[2] * sx,
                        box[3] * sy,
                    ]
                )
                why = None
            else:
                try:
                    ok, b = tracker.update(frame)
                except cv2.error:
                    ok, b = False, None
                if not ok:
                    counts["failure"] += 1
                    break
                new = np.asarray(b, dtype=np.float64)
                why = _check(
                    new,
                    prev,
                    box,
                    width,
                    height,
                    p,
                    patch0,
                    cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY),
                )
            if why is not None:
                counts[why] += 1
                break
            tracks[i, d], valid[i, d] = new, True
            prev = new
    return tracks, valid, counts
