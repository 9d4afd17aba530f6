"""ALOI (Amsterdam Library of Object Images): finding a collection on disk and listing its images.

Three collections are probes: `view` (72 images per object, `<obj>_r<angle>.png`, angle 0..355 step
5), `ill` (24, `<obj>_l<L>c<C>.png`, L 1..8 lamp configuration, C 1..3 camera) and `col` (12,
`<obj>_i<T>.png`, T = lamp voltage x 10). Objects are folders `1` .. `1000` (not padded).

Accepted layouts, for any reduction (full `png/`, half `png2/`, quarter `png4/`):

1. the paper's renames (demystifyssl README: `tar -xf aloi_red2_view.tar; mv png2 ALOI_viewpoint`):
   `<root>/ALOI_viewpoint/<obj>/…`, `<root>/ALOI_illumdir/…`, `<root>/ALOI_illumcolor/…`;
2. the archives as extracted into a folder named after the archive:
   `<root>/aloi_red2_view/png2/<obj>/…` (also `aloi_view/png/`, `aloi_red4_ill/png4/`, ...);
3. `<root>` itself holding `png2/` (or `png`, `png4`) or the object folders, when it is the
   collection's own folder.

The released extractor took `sorted(glob(dir/*))` per object, i.e. lexicographic order
(`1_r0, 1_r10, 1_r100, ...`) and any file at all; the measure does not depend on order, so this
reader orders numerically by the condition and only takes the collection's own file names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ._common import Problem, natural_key

COLLECTIONS = ("view", "ill", "col")
PAPER_DIRS = {"view": "ALOI_viewpoint", "ill": "ALOI_illumdir", "col": "ALOI_illumcolor"}
REDUCTIONS = {"full": "png", "red2": "png2", "red4": "png4"}
VIEW_ANGLES = tuple(range(0, 360, 5))
ILL_CONDITIONS = tuple((lamp, cam) for lamp in range(1, 9) for cam in range(1, 4))
COL_TEMPERATURES = (110, 120, 130, 140, 150, 160, 170, 180, 190, 210, 230, 250)
N_OBJECTS = 1000
IMAGE_SIZE = {"full": (768, 576), "red2": (384, 288), "red4": (192, 144)}  # (W, H)

_PATTERNS = {
    "view": re.compile(r"^(\d+)_r(\d+)\.png$"),
    "ill": re.compile(r"^(\d+)_l(\d+)c(\d+)\.png$"),
    "col": re.compile(r"^(\d+)_i(\d+)\.png$"),
}


def expected_names(collection: str, obj: int) -> list[str]:
    """File names of one object in one collection, in factor order."""
    if collection == "view":
        return [f"{obj}_r{a}.png" for a in VIEW_ANGLES]
    if collection == "ill":
        return [f"{obj}_l{lamp}c{cam}.png" for lamp, cam in ILL_CONDITIONS]
    if collection == "col":
        return [f"{obj}_i{t}.png" for t in COL_TEMPERATURES]
    raise ValueError(f"unknown ALOI collection {collection!r}; one of {COLLECTIONS}")


def factor_of(collection: str, name: str) -> int | str | None:
    """The condition of a file name: angle (view), 'l<L>c<C>' (ill), T (col)."""
    m = _PATTERNS[collection].match(name)
    if not m:
        return None
    if collection == "ill":
        return f"l{m.group(2)}c{m.group(3)}"
    return int(m.group(2))


def _has_objects(d: Path) -> bool:
    return d.is_dir() and any(p.is_dir() and p.name.isdigit() for p in d.iterdir())


def find_collection(root: Path, collection: str, reduction: str | None = None) -> Path | None:
    """The folder that holds the object folders of `collection` under `root`, or None."""
    reds = [reduction] if reduction else ["red2", "full", "red4"]  # red2 first: the paper's
    cands = [root / PAPER_DIRS[collection]]
    for red in reds:
        png = REDUCTIONS[red]
        stem = "aloi" if red == "full" else f"aloi_{red}"
        cands += [root / f"{stem}_{collection}" / png, root / f"{stem}_{collection}", root / "ALOI" / f"{stem}_{collection}" / png]
    cands += [root / "ALOI" / PAPER_DIRS[collection]]
    for c in cands:
        if _has_objects(c):
            return c
        if c.is_dir():  # e.g. ALOI_viewpoint/png2/... (moved without the rename)
            for red in reds:
                if _has_objects(c / REDUCTIONS[red]):
                    return c / REDUCTIONS[red]
    # `root` is the collection's own folder (holding png<k>/ or the object folders): accept it when
    # its first object folder holds this collection's file names
    for c in [root] + [root / REDUCTIONS[red] for red in reds]:
        if _has_objects(c) and _holds_collection(c, collection):
            return c
    return None


def _holds_collection(folder: Path, collection: str) -> bool:
    first = min((p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    return any(_PATTERNS[collection].match(f.name) for f in first.iterdir())


@dataclass
class AloiObject:
    obj: int
    files: list[tuple[str, int | str]]  # (path relative to the collection folder, factor)
    missing: list[str] = field(default_factory=list)


@dataclass
class AloiListing:
    folder: Path
    collection: str
    objects: list[AloiObject]
    problems: list[Problem]
    ignored: list[str]  # files that are not this collection's images (Thumbs.db, ...)


def list_collection(folder: Path, collection: str, objects: list[int] | None = None) -> AloiListing:
    """Every object's images in numeric order, with missing files and stray files reported.

    Args:
        folder: the folder holding `<obj>/` sub-folders (see `find_collection`).
        collection: `view`, `ill` or `col`.
        objects: object ids to take (default: every numeric folder present).

    """
    present = {int(p.name): p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()}
    wanted = sorted(present) if objects is None else list(objects)
    problems: list[Problem] = []
    ignored: list[str] = []
    out: list[AloiObject] = []
    for obj in wanted:
        d = present.get(obj)
        if d is None:
            problems.append(Problem(str(folder / str(obj)), "object folder missing"))
            continue
        names = {p.name for p in d.iterdir() if p.is_file()}
        exp = expected_names(collection, obj)
        missing = [n for n in exp if n not in names]
        extra = sorted(set(names) - set(exp), key=natural_key)
        ignored += [f"{obj}/{n}" for n in extra]
        for n in missing:
            problems.append(Problem(str(d / n), f"missing ({collection} collection expects {len(exp)} images per object)"))
        files = [(f"{obj}/{n}", factor_of(collection, n)) for n in exp if n in names]
        out.append(AloiObject(obj, files, missing))
    return AloiListing(folder, collection, out, problems, ignored)
