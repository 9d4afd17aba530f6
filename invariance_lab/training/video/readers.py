"""Frame-folder video datasets for the temporal trainers: TrackingNet, GOT-10k train, SynthWorld clips.

Layouts (only the annotations are read here; frames are decoded when a training pair needs them):

- **TrackingNet** (Müller et al., ECCV 2018; the `TrackingNet-devkit` layout)::

      ROOT/TRAIN_0/frames/<video>/0.jpg, 1.jpg, ...    0-based frame numbers, not zero-padded
      ROOT/TRAIN_0/anno/<video>.txt                    one "x,y,w,h" line per frame
      ROOT/TRAIN_1/...                                 (ROOT may also be one TRAIN_k chunk)

  Videos are named `TRAIN_k/<video>`.
- **GOT-10k train** (Huang et al., TPAMI 2019; `datasets/got10k.py` finds the split folder)::

      SPLIT/list.txt                    one video name per line
      SPLIT/<video>/00000001.jpg ...     8-digit, 1-based
      SPLIT/<video>/groundtruth.txt      one "x,y,w,h" line per frame
      SPLIT/<video>/absence.label        optional, 1 where the target is absent

- **SynthWorld clips** (`invariance-lab data synth-videos`): GOT-10k's layout, plus
  `objects.json` with the boxes of every object (null where invisible), read as `objects`.

Boxes are x, y, w, h in pixels; an absent target's box is NaN. Ground-truth boxes are only used
by the `oracle` proposal/tracker options (ablations), never by default.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import TrainingError

LAYOUTS = ("auto", "got10k", "trackingnet")


@dataclass
class VideoClip:
    """One video: its frames in order and, where the dataset has them, ground-truth boxes."""

    name: str
    frames: list[Path]
    boxes: np.ndarray | None = None  # (n, 4) x, y, w, h of the annotated target; NaN where absent
    objects: list[np.ndarray] | None = None  # SynthWorld: (n, 4) per object, NaN where invisible

    def __len__(self) -> int:
        return len(self.frames)

    def gt_objects(self) -> list[np.ndarray]:
        """Every annotated object's boxes (SynthWorld: all objects; otherwise the one target).

        Raises:
            TrainingError: the dataset has no boxes (the `oracle` options need them).

        """
        if self.objects is not None:
            return self.objects
        if self.boxes is not None:
            return [self.boxes]
        raise TrainingError(
            f"video {self.name} has no ground-truth boxes; the oracle options need them"
        )


@dataclass
class VideoSet:
    """Videos of one dataset, in a fixed order (the sampler's video ids index this list)."""

    root: Path
    layout: str
    videos: list[VideoClip] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.videos)

    @property
    def n_frames(self) -> int:
        """Frames over all videos."""
        return sum(len(v) for v in self.videos)


def _read_boxes(path: Path, n: int) -> np.ndarray:
    try:
        boxes = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise TrainingError(f"{path}: expected one 'x,y,w,h' line per frame ({e})") from e
    if boxes.shape != (n, 4):
        raise TrainingError(
            f"{path}: {boxes.shape[0]} lines of {boxes.shape[1] if boxes.ndim == 2 else '?'} numbers, "
            f"but the video has {n} frames; one 'x,y,w,h' line per frame is expected"
        )
    return boxes


def read_trackingnet(root: str | os.PathLike) -> VideoSet:
    """Every video of the TrackingNet chunks under `root` (or of the chunk `root` itself).

    Raises:
        TrainingError: no `TRAIN_*/frames`, a video without its `anno/<video>.txt`, a line-count
            mismatch, or frame numbers with holes.

    """
    root = Path(root)
    chunks = sorted(p for p in root.glob("TRAIN_*") if (p / "frames").is_dir())
    if not chunks and (root / "frames").is_dir():
        chunks = [root]
    if not chunks:
        raise TrainingError(f"{root}: no TRAIN_*/frames folder (TrackingNet layout)")
    out = VideoSet(root, "trackingnet")
    for chunk in chunks:
        for vdir in sorted(p for p in (chunk / "frames").iterdir() if p.is_dir()):
            jpgs = [p for p in vdir.iterdir() if p.suffix.lower() == ".jpg"]
            try:
                jpgs.sort(key=lambda p: int(p.stem))
            except ValueError as e:
                raise TrainingError(
                    f"{vdir}: frame names must be integers (0.jpg, 1.jpg, ...): {e}"
                ) from e
            if [int(p.stem) for p in jpgs] != list(range(len(jpgs))):
                raise TrainingError(
                    f"{vdir}: frames must be numbered 0..{len(jpgs) - 1} without holes"
                )
            anno = chunk / "anno" / f"{vdir.name}.txt"
            if not anno.is_file():
                raise TrainingError(
                    f"{anno}: missing (TrackingNet keeps one anno/<video>.txt per video)"
                )
            out.videos.append(
                VideoClip(f"{chunk.name}/{vdir.name}", jpgs, _read_boxes(anno, len(jpgs)))
            )
    if not out.videos:
        raise TrainingError(f"{root}: the TrackingNet frames folders hold no video")
    return out


def _synth_objects(path: Path, n: int) -> list[np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
        objs = []
        for o in meta["objects"]:
            b = np.array([[np.nan] * 4 if x is None else x for x in o["boxes"]], dtype=np.float64)
            if b.shape != (n, 4):
                raise ValueError(f"object {o.get('id')} has {len(b)} boxes for {n} frames")
            objs.append(b)
    except (ValueError, KeyError, TypeError) as e:
        raise TrainingError(
            f"{path}: not a SynthWorld objects.json ({e}); re-render the clip"
        ) from e
    return objs


def read_got10k(root: str | os.PathLike) -> VideoSet:
    """The videos of a GOT-10k split (or of SynthWorld clips) named by its `list.txt`.

    Raises:
        TrainingError: no `list.txt`, a listed video folder missing, frames missing, or a
            `groundtruth.txt` whose line count differs from the frame count.

    """
    from ...datasets.got10k import _read_ints, find_split, read_list

    root = Path(root)
    split = find_split(root, "train")
    if split is None:
        raise TrainingError(f"{root}: no list.txt (GOT-10k / SynthWorld layout) under it")
    out = VideoSet(split, "got10k")
    for name in read_list(split):
        vdir = split / name
        if not vdir.is_dir():
            raise TrainingError(f"{vdir}: listed in {split / 'list.txt'} but missing")
        n = sum(1 for e in os.scandir(vdir) if e.name.endswith(".jpg"))
        frames = [vdir / f"{i + 1:08d}.jpg" for i in range(n)]
        if n == 0 or not frames[-1].is_file():
            raise TrainingError(
                f"{vdir}: expected frames 00000001.jpg..{n:08d}.jpg (8-digit, 1-based)"
            )
        gt = vdir / "groundtruth.txt"
        if not gt.is_file():
            raise TrainingError(f"{gt}: missing (GOT-10k keeps one groundtruth.txt per video)")
        boxes = _read_boxes(gt, n)
        absence = vdir / "absence.label"
        if absence.is_file():
            flags = _read_ints(absence)
            if len(flags) != n:
                raise TrainingError(f"{absence}: {len(flags)} lines for {n} frames")
            boxes[flags == 1] = np.nan
        out.videos.append(VideoClip(name, frames, boxes, _synth_objects(vdir / "objects.json", n)))
    if not out.videos:
        raise TrainingError(f"{split / 'list.txt'}: lists no video")
    return out


def read_videos(root: str | os.PathLike, layout: str = "auto") -> VideoSet:
    """Read a video dataset; `auto` picks GOT-10k when a `list.txt` is found, else TrackingNet.

    Raises:
        TrainingError: unknown layout, or a folder in neither layout.

    """
    root = Path(root)
    if layout not in LAYOUTS:
        raise TrainingError(f"--video-layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    if not root.is_dir():
        raise TrainingError(
            f"--data {root}: not a folder; give a video dataset (GOT-10k, TrackingNet, or SynthWorld clips "
            "rendered with `invariance-lab data synth-videos --out DIR --clips N`)"
        )
    if layout == "auto":
        from ...datasets.got10k import find_split

        if find_split(root, "train") is not None:
            layout = "got10k"
        elif any(root.glob("TRAIN_*/frames")) or (root / "frames").is_dir():
            layout = "trackingnet"
        else:
            raise TrainingError(
                f"--data {root}: neither GOT-10k/SynthWorld (list.txt + <video>/00000001.jpg) nor "
                "TrackingNet (TRAIN_*/frames/<video>/0.jpg + TRAIN_*/anno/<video>.txt); "
                "render clips with `invariance-lab data synth-videos --out DIR --clips N`"
            )
    return read_got10k(root) if layout == "got10k" else read_trackingnet(root)
