"""GOT-10k: finding a split on disk and reading its per-video annotations (never the frames).

Layout (GOT-10k toolkit `got10k/datasets/got10k.py`; demystifyssl README)::

    <split dir>/list.txt                      one sequence name per line
    <split dir>/GOT-10k_Train_000001/00000001.jpg ...   8-digit, 1-based
                                    groundtruth.txt     "x,y,w,h" per frame
                                    cover.label         0..8 per frame (visible-ratio level)
                                    absence.label       0/1 per frame
                                    cut_by_image.label  0/1 per frame
                                    meta_info.ini       [METAINFO] key: value lines (object_class, ...)

The split folder is found as `<root>/GOT-10k/<split>`, `<root>/GOT10k/<split>`, `<root>/GOT/<split>`,
`<root>/<split>`, or `<root>/GOT` / `<root>` itself when it holds `list.txt` (the paper's
`data/GOT/` held the train split directly).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._common import Problem

SPLITS = ("train", "val", "test")
ANNOTATION_FILES = ("groundtruth.txt", "cover.label", "absence.label", "meta_info.ini")


def find_split(root: Path, split: str = "train") -> Path | None:
    """The folder holding `list.txt` of `split` under `root`, or None."""
    cands = [root / "GOT-10k" / split, root / "GOT10k" / split, root / "got10k" / split, root / "GOT" / split,
             root / split, root / "GOT", root]  # fmt: skip
    for c in cands:
        if (c / "list.txt").is_file():
            return c
    return None


def read_list(split_dir: Path) -> list[str]:
    """Sequence names of `list.txt`, in file order (the order the paper's RNG draws in)."""
    return [line.strip() for line in (split_dir / "list.txt").read_text().splitlines() if line.strip()]


def parse_meta(path: Path) -> dict[str, str]:
    """`meta_info.ini` as a dict (the toolkit splits each line after the first on ': ')."""
    meta = {}
    for line in path.read_text(errors="replace").splitlines()[1:]:
        key, sep, value = line.partition(": ")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


def _read_ints(path: Path) -> np.ndarray:
    text = path.read_text().split()
    return np.array([int(float(t)) for t in text], dtype=np.int64)


@dataclass
class Video:
    """Annotations of one sequence (frames are not opened)."""

    name: str
    n_frames: int
    boxes: np.ndarray  # (n, 4) x, y, w, h
    cover: np.ndarray  # (n,) int
    absence: np.ndarray  # (n,) int
    object_class: str  # spaces replaced by '_' (as the released script)
    meta: dict[str, str]

    def frame(self, i: int) -> str:
        """Path of frame index `i` (0-based) relative to the split folder."""
        return f"{self.name}/{i + 1:08d}.jpg"

    def box(self, i: int) -> tuple[float, float, float, float]:
        x, y, w, h = (float(v) for v in self.boxes[i])
        return (x, y, x + w, y + h)


def read_video(split_dir: Path, name: str) -> tuple[Video | None, list[Problem]]:
    """Read one sequence's annotations; (None, problems) when they are missing or inconsistent."""
    vdir = split_dir / name
    if not vdir.is_dir():
        return None, [Problem(str(vdir), "listed in list.txt but the folder is missing")]
    problems = [Problem(str(vdir / f), "missing annotation file") for f in ANNOTATION_FILES if not (vdir / f).is_file()]
    if problems:
        return None, problems
    try:
        gt = np.loadtxt(vdir / "groundtruth.txt", delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        return None, [Problem(str(vdir / "groundtruth.txt"), f"not 'x,y,w,h' lines ({exc})")]
    if gt.size == 0 or gt.shape[1] != 4:
        return None, [Problem(str(vdir / "groundtruth.txt"), f"expected 4 comma-separated numbers per line, got shape {gt.shape}")]
    n = gt.shape[0]
    try:
        cover, absence = _read_ints(vdir / "cover.label"), _read_ints(vdir / "absence.label")
    except ValueError as exc:
        return None, [Problem(str(vdir), f"label file with a non-integer line ({exc})")]
    n_jpg = sum(1 for e in os.scandir(vdir) if e.name.endswith(".jpg"))
    if len(cover) != n:
        problems.append(Problem(str(vdir / "cover.label"), f"{len(cover)} lines but groundtruth.txt has {n} frames"))
    if len(absence) != n:
        problems.append(Problem(str(vdir / "absence.label"), f"{len(absence)} lines but groundtruth.txt has {n} frames"))
    if n_jpg != n:
        problems.append(Problem(str(vdir), f"{n_jpg} .jpg frames but groundtruth.txt has {n} lines"))
    meta = parse_meta(vdir / "meta_info.ini")
    if "object_class" not in meta:
        problems.append(Problem(str(vdir / "meta_info.ini"), "no 'object_class: ...' line"))
    if problems:
        return None, problems
    cls = meta["object_class"].replace(" ", "_")
    return Video(name, n, gt, cover, absence, cls, meta), []
