"""Shared pieces of the dataset readers: the error type, problem lists, numeric sort, image checks."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import ProbeError

ON_ERROR = ("stop", "skip")


class DatasetError(ProbeError):
    """A dataset on disk that does not match its published layout (names every file at fault)."""

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class DatasetNotFound(ProbeError):
    """No copy of the dataset where the probe looked (the message says where and how to get it)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: the file (or folder) and what is wrong with it."""

    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def natural_key(name: str) -> list:
    """Sort key ordering digit runs numerically (`1_r5` < `1_r10`, `9/` < `10/`)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def raise_problems(problems: Iterable[Problem], dataset: str, hint: str = "") -> None:
    """Raise one `DatasetError` listing every problem (the first 20 in the message)."""
    problems = list(problems)
    if not problems:
        return
    shown = "\n  ".join(str(p) for p in problems[:20])
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    tail = hint or (
        "run `invariance-lab data check` for the full list, or pass --probe-option on_error=skip "
        "to leave these out and count them"
    )
    raise DatasetError(f"{dataset}: {len(problems)} problem(s):\n  {shown}{more}\n{tail}", problems)


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise ProbeError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    return on_error


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header only (no pixel decoding)."""
    with Image.open(path) as im:
        return im.size


def verify_image(path: Path) -> str | None:
    """None when `path` decodes completely, else what is wrong (missing, truncated, not an image)."""
    if not path.is_file():
        return "missing"
    if path.stat().st_size == 0:
        return "empty file"
    try:
        with Image.open(path) as im:
            im.load()
    except Exception as exc:  # PIL raises many types for corrupt files
        return f"cannot decode ({type(exc).__name__}: {exc})"
    return None


def box_problem(box: tuple[float, float, float, float], size: tuple[int, int]) -> str | None:
    """What is wrong with an (x0, y0, x1, y1) box in an image of `size` (w, h), or None."""
    x0, y0, x1, y1 = box
    w, h = size
    if not all(v == v for v in box):  # NaN
        return f"box {list(box)} has NaN coordinates"
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        return f"box {[round(v, 2) for v in box]} has zero area"
    if min(x1, w) - max(x0, 0) < 1 or min(y1, h) - max(y0, 0) < 1:
        return f"box {[round(v, 2) for v in box]} lies outside the {w}x{h} image"
    return None
