"""`got10k-occlusion`: one frame per distinct cover level of GOT-10k videos, cropped to the target box.

Selection (`selection` option):

- `paper` (default) reproduces `extract_features/GOT/extract_GOT10k_features.py` of the released
  code (senthilps8/demystifyssl @ 4ba46dd) frame for frame: one legacy NumPy generator seeded with
  1992 (`np.random.seed(1992)` once at start); videos in `list.txt` order (stride 1, no
  `max_videos` cut at its default of 10,000,000); a video is kept when `max(cover) - min(cover) >= 4`
  (a dropped video draws nothing); for each distinct cover value in ascending order one draw
  `np.random.choice(np.where(cover == c)[0])`. `absence.label` is read but not used, exactly as
  there. The only difference: a video the released script would crash on (missing folder or
  annotation file, label lengths that disagree) is reported, and with `on_error=skip` left out
  before any draw, so the draws for the other videos stay those of the script run on the
  corrected list.
- `balanced`: the same filter and one frame per cover level, but frames marked absent or with a
  zero-area / out-of-image box are not eligible, and each video draws from its own generator
  (`numpy.random.default_rng([seed, sha256(video name)])`), so a video's frames do not depend on
  `list.txt` order or on which other videos exist. `seed` (default 1992) is an option.

Set = video, class = `object_class` from `meta_info.ini` (spaces replaced by `_` as in the
released script), factor = cover level (0 = fully occluded .. 8 = fully visible). Each item is the
frame's file with its `groundtruth.txt` box (x, y, x + w, y + h); only the selected frames are ever
opened (their headers, to check the box lies in the image), never the rest of the video.
Other options: `split` (default `train`), `min_span` (default 4), `max_videos` (the released
config's subsampling `vids[::len(vids)//max_videos]`), `on_error` (`stop`/`skip`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..config import resolve_data_root
from ..datasets import got10k
from ..datasets._common import (
    DatasetNotFound,
    Problem,
    box_problem,
    check_on_error,
    image_size,
    raise_problems,
)
from ..errors import ProbeError
from ._base import Probe, ProbeItem, register_probe

PAPER_SEED = 1992
SELECTIONS = ("paper", "balanced")


def select_paper(videos: list[got10k.Video], min_span: int = 4, seed: int = PAPER_SEED) -> dict[str, list[int]]:
    """The released script's frame draw: {video name: chosen frame indices (0-based)}."""
    rs = np.random.RandomState(seed)
    out = {}
    for v in videos:
        uniq = np.unique(v.cover)
        if uniq.max() - uniq.min() < min_span:
            continue
        out[v.name] = [int(rs.choice(np.where(v.cover == c)[0])) for c in uniq]
    return out


def _video_seed(seed: int, name: str) -> list[int]:
    return [int(seed), int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")]


def select_balanced(videos, split_dir: Path, min_span: int = 4, seed: int = PAPER_SEED) -> dict[str, list[int]]:
    """Per-video generator; absent frames and boxes with no area are not eligible."""
    out = {}
    for v in videos:
        wh = v.boxes[:, 2:]
        ok = (v.absence == 0) & (wh[:, 0] > 0) & (wh[:, 1] > 0)
        uniq = np.unique(v.cover[ok])
        if uniq.size == 0 or uniq.max() - uniq.min() < min_span:
            continue
        rng = np.random.default_rng(_video_seed(seed, v.name))
        out[v.name] = [int(rng.choice(np.flatnonzero(ok & (v.cover == c)))) for c in uniq]
    return out


@register_probe("got10k-occlusion")
def got10k_occlusion(arg=None, root=None, selection: str = "paper", split: str = "train", min_span: int = 4,
                     seed: int = PAPER_SEED, max_videos: int | None = None, on_error: str = "stop",
                     check_boxes: bool = True) -> Probe:
    """GOT-10k occlusion: one frame per cover level of videos whose cover spans >= 4 levels."""
    check_on_error(on_error)
    if selection not in SELECTIONS:
        raise ProbeError(f"got10k-occlusion: selection must be one of {SELECTIONS}, got {selection!r}")
    if selection == "paper" and int(seed) != PAPER_SEED:
        raise ProbeError("got10k-occlusion: selection=paper uses the released seed 1992; use selection=balanced for another seed")
    base = Path(resolve_data_root(root, required_by="probe 'got10k-occlusion'"))
    split_dir = got10k.find_split(base, split)
    if split_dir is None:
        raise DatasetNotFound(
            f"got10k-occlusion: no GOT-10k {split} split under {base} (looked for GOT-10k/{split}/list.txt, "
            f"{split}/list.txt, GOT/list.txt, list.txt); GOT-10k needs registration at http://got-10k.aitestunion.com"
        )
    names = got10k.read_list(split_dir)
    if max_videos and len(names) > int(max_videos):
        names = names[:: len(names) // int(max_videos)]
    videos, problems = [], []
    for n in names:
        v, probs = got10k.read_video(split_dir, n)
        problems += probs
        if v is not None:
            videos.append(v)
    if on_error == "stop":
        raise_problems(problems, f"GOT-10k {split} split in {split_dir}")
    if selection == "paper":
        chosen = select_paper(videos, int(min_span))
    else:
        chosen = select_balanced(videos, split_dir, int(min_span), int(seed))
    items: list[ProbeItem] = []
    box_problems: list[Problem] = []
    by_name = {v.name: v for v in videos}
    for name, frames in chosen.items():
        v = by_name[name]
        for i in frames:
            box = v.box(i)
            if check_boxes:
                fpath = split_dir / v.frame(i)
                try:
                    what = box_problem(box, image_size(fpath))
                except OSError as exc:
                    what = f"cannot read the image header ({exc})"
                if what:
                    box_problems.append(Problem(str(fpath), f"{what} (groundtruth.txt line {i + 1})"))
                    continue
            items.append(ProbeItem(path=v.frame(i), set_id=name, class_id=v.object_class, factor=int(v.cover[i]), box=box))
    if on_error == "stop":
        raise_problems(box_problems, f"GOT-10k {split} split in {split_dir}")
    n_frames_total = sum(v.n_frames for v in videos)
    params = {
        "dataset": "got10k", "split": split, "selection": selection, "seed": int(seed), "min_span": int(min_span),
        "max_videos": max_videos, "n_listed": len(names), "n_sets": len(chosen), "n_images": len(items),
        "frames_in_kept_videos": n_frames_total,
        "left_out": {
            "unreadable_videos": len(names) - len(videos),
            "cover_span_below_min": len(videos) - len(chosen),
            "frames_with_bad_box": len(box_problems),
        },
    }  # fmt: skip
    probe = Probe(name="got10k-occlusion", factor="occlusion (cover level)", items=items, root=split_dir.resolve(), params=params)
    probe.problems = problems + box_problems  # what on_error=skip left out (read by `data check`)
    return probe
