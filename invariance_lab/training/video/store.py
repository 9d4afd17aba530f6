"""The prepare step: proposals and tracks computed once per video and stored, resumably; and their reader.

Layout of a tracks folder (default `DATA/tracks/`, next to the frames)::

    params.json              the `TrackParams` the folder was made with (one set per folder)
    <video>.npz              per video ('/' in TrackingNet names becomes '__'), written atomically:
        anchors   (A,)              anchor frames 0, s, 2s, ...
        tracks    (A, P, H+1, 4)    float32 x, y, w, h; offset 0 is the proposal; NaN where invalid
        valid     (A, P, H+1)       bool
        counts    (len(REASONS),)   proposals dropped, by reason (tracks.REASONS order)
        n_frames, digest            for the completeness check
    summary.json             totals over the videos (written at the end of `prepare_tracks`)

A killed run leaves only complete `<video>.npz` files (temporary file, then `os.replace`; the next
run deletes leftover temporary files, so run one prepare per folder at a time) and the next run skips every video whose file loads and carries the same parameter digest and frame count.
Training reads these boxes and never recomputes them (`TrackStore`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import TrainingError
from .readers import VideoClip, VideoSet
from .tracks import REASONS, TrackParams, propose, track_anchor


def default_tracks_dir(videos: VideoSet) -> Path:
    """`<dataset root>/tracks` (next to the frames)."""
    return Path(videos.root) / "tracks"


def video_file(tracks_dir: Path, name: str) -> Path:
    """The per-video file of video `name`."""
    return Path(tracks_dir) / (name.replace("/", "__") + ".npz")


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Frames:
    """Frame i of a clip as BGR uint8, decoded on demand and kept while the anchors need it."""

    def __init__(self, clip: VideoClip):
        self.clip, self.n, self._cache = clip, len(clip), {}

    def __call__(self, i: int) -> np.ndarray:
        if i not in self._cache:
            from PIL import Image

            with Image.open(self.clip.frames[i]) as im:
                self._cache[i] = np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, :, ::-1])
        return self._cache[i]

    def forget_before(self, i: int) -> None:
        for k in [k for k in self._cache if k < i]:
            del self._cache[k]


def compute_video(clip: VideoClip, p: TrackParams) -> dict[str, np.ndarray]:
    """Proposals at every anchor frame of `clip`, tracked `p.horizon` frames on (the arrays of one file)."""
    frames = _Frames(clip)
    gt = clip.gt_objects() if "oracle" in (p.proposals, p.tracker) else None
    anchors = np.arange(0, len(clip), p.anchor_stride)
    tracks = np.full((len(anchors), p.max_proposals, p.horizon + 1, 4), np.nan, dtype=np.float32)
    valid = np.zeros((len(anchors), p.max_proposals, p.horizon + 1), dtype=bool)
    counts = np.zeros(len(REASONS), dtype=np.int64)
    for a, t in enumerate(anchors):
        frames.forget_before(int(t))
        boxes = propose(frames(int(t)), p, None if gt is None else np.stack([o[t] for o in gt]))
        tr, va, c = track_anchor(frames, int(t), boxes, p, gt)
        tracks[a, : len(boxes)], valid[a, : len(boxes)] = tr, va
        counts += np.array([c[r] for r in REASONS])
    return {"anchors": anchors, "tracks": tracks, "valid": valid, "counts": counts}


def _complete(path: Path, n_frames: int, digest: str) -> bool:
    try:
        with np.load(path, allow_pickle=False) as z:
            return str(z["digest"]) == digest and int(z["n_frames"]) == n_frames
    except (OSError, ValueError, KeyError):
        return False


def _check_params(tracks_dir: Path, p: TrackParams, create: bool) -> None:
    path = tracks_dir / "params.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != p.to_dict():
            diff = sorted(
                k for k in set(saved) | set(p.to_dict()) if saved.get(k) != p.to_dict().get(k)
            )
            raise TrainingError(
                f"{path}: this tracks folder was made with other parameters ({', '.join(diff)} differ); "
                "use the same options or another --tracks-dir"
            )
    elif create:
        _atomic_write(path, lambda f: f.write(json.dumps(p.to_dict(), indent=1).encode()))
    else:
        raise TrainingError(
            f"{path}: missing; run `invariance-lab data tracks` on this dataset first"
        )


def prepare_tracks(
    videos: VideoSet, p: TrackParams, tracks_dir=None, progress: bool = False
) -> dict:
    """Compute and store proposals and tracks of every video not yet done (resumable after a kill).

    Returns:
        {"tracks_dir", "videos", "computed", "resumed", "proposals", "tracked_pairs", "dropped": {reason: n}}.

    Raises:
        TrainingError: the folder holds tracks made with other parameters.

    """
    import cv2

    cv2.setNumThreads(1)
    out = Path(tracks_dir) if tracks_dir else default_tracks_dir(videos)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):  # left by a killed run (one prepare per folder at a time)
        stale.unlink(missing_ok=True)
    _check_params(out, p, create=True)
    digest = p.digest()
    computed = resumed = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(videos), desc="proposals + tracks", unit="video")
    for clip in videos.videos:
        path = video_file(out, clip.name)
        if _complete(path, len(clip), digest):
            resumed += 1
        else:
            arr = {"n_frames": len(clip), "digest": digest, **compute_video(clip, p)}
            _atomic_write(path, lambda f, arr=arr: np.savez(f, **arr))
            computed += 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    summary = {
        "tracks_dir": str(out),
        "videos": len(videos),
        "computed": computed,
        "resumed": resumed,
        **summarize(out, videos),
    }
    _atomic_write(out / "summary.json", lambda f: f.write(json.dumps(summary, indent=1).encode()))
    return summary


def summarize(tracks_dir: Path, videos: VideoSet) -> dict:
    """Proposals, tracked (anchor, proposal) pairs at each offset, and drops by reason, over the stored videos."""
    counts = np.zeros(len(REASONS), dtype=np.int64)
    proposals, per_offset = 0, None
    for clip in videos.videos:
        with np.load(video_file(tracks_dir, clip.name), allow_pickle=False) as z:
            counts += z["counts"]
            v = z["valid"]
            proposals += int(v[:, :, 0].sum())
            per_offset = (
                v.sum(axis=(0, 1)) if per_offset is None else per_offset + v.sum(axis=(0, 1))
            )
    return {
        "proposals": proposals,
        "valid_tracks_by_offset": [int(x) for x in per_offset] if per_offset is not None else [],
        "dropped": {r: int(c) for r, c in zip(REASONS, counts, strict=True)},
    }


class TrackStore:
    """Reads stored tracks: the proposal boxes of an anchor frame and where they are Δ frames later.

    Args:
        videos: the dataset (same order as the sampler's video ids).
        tracks_dir: the folder `prepare_tracks` wrote (default `DATA/tracks`).
        horizon: the largest gap training will ask for.

    Raises:
        TrainingError: no or other-parameter tracks, a horizon shorter than the gap, missing videos.

    """

    def __init__(self, videos: VideoSet, tracks_dir=None, horizon: int = 0):
        self.dir = Path(tracks_dir) if tracks_dir else default_tracks_dir(videos)
        path = self.dir / "params.json"
        if not path.is_file():
            raise TrainingError(
                f"{path}: no stored tracks; compute them once with `invariance-lab data tracks {videos.root}` "
                "(or `invariance-lab train region-tracker --prepare-only ...`)"
            )
        self.params = TrackParams(**json.loads(path.read_text()))
        if self.params.horizon < horizon:
            raise TrainingError(
                f"{self.dir}: tracks reach {self.params.horizon} frames but --frame-gap goes to {horizon}; "
                "lower the gap or prepare tracks with a longer horizon in another --tracks-dir"
            )
        self.videos = videos
        missing = [c.name for c in videos.videos if not video_file(self.dir, c.name).is_file()]
        if missing:
            raise TrainingError(
                f"{self.dir}: no tracks for {len(missing)} of {len(videos)} videos (e.g. {missing[0]}); "
                "finish them with `invariance-lab data tracks` (it resumes)"
            )
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def stride(self) -> int:
        """Anchor frames are multiples of it."""
        return self.params.anchor_stride

    def _load(self, v: int) -> tuple[np.ndarray, np.ndarray]:
        if v not in self._cache:
            with np.load(video_file(self.dir, self.videos.videos[v].name), allow_pickle=False) as z:
                self._cache[v] = (z["tracks"], z["valid"])
        return self._cache[v]

    def pairs(self, v: int, t: int, delta: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (M, 4) in frame t and their tracked boxes (M, 4) in frame t + delta, for the M valid tracks."""
        if t % self.stride:
            raise TrainingError(f"frame {t} is not an anchor frame (stride {self.stride})")
        tracks, valid = self._load(v)
        a = t // self.stride
        ok = valid[a, :, delta]
        return tracks[a, ok, 0].astype(np.float64), tracks[a, ok, delta].astype(np.float64)
