"""ALOI probes: `aloi-viewpoint`, `aloi-illum-dir`, `aloi-illum-color` (the paper's three ALOI probes).

One set per object holding all its images in the collection; class = set = object id (as the
released `extract_generic_ALOI_features.py`). Options:

- `reduction`: `red2` (the paper's half-resolution archives, default search order red2, full,
  red4), `full` or `red4`;
- `objects`: how many objects (first N ids) or a list of ids; default every object present;
- `on_error`: `stop` (default) raises on a missing object folder or image, naming each file;
  `skip` leaves the missing files out and counts them in `params['left_out']`.
"""

from __future__ import annotations

from pathlib import Path

from ..config import resolve_data_root
from ..datasets import aloi
from ..datasets._common import DatasetNotFound, check_on_error, raise_problems
from ..errors import ProbeError
from ._base import Probe, ProbeItem, register_probe

_FACTORS = {"view": "viewpoint", "ill": "illumination direction", "col": "illumination colour"}


def build_aloi_probe(name: str, collection: str, root=None, reduction: str | None = None, objects=None,
                     on_error: str = "stop") -> Probe:
    check_on_error(on_error)
    if reduction is not None and reduction not in aloi.REDUCTIONS:
        raise ProbeError(f"{name}: reduction must be one of {sorted(aloi.REDUCTIONS)}, got {reduction!r}")
    base = resolve_data_root(root, required_by=f"probe {name!r}")
    folder = aloi.find_collection(Path(base), collection, reduction)
    if folder is None:
        raise DatasetNotFound(
            f"{name}: no ALOI '{collection}' collection under {base}; expected {base}/{aloi.PAPER_DIRS[collection]}/<obj>/ "
            f"or {base}/aloi_red2_{collection}/png2/<obj>/ (see `invariance-lab data check aloi`)"
        )
    ids = list(range(1, int(objects) + 1)) if isinstance(objects, int) else objects
    listing = aloi.list_collection(folder, collection, ids)
    if on_error == "stop":
        raise_problems(listing.problems, f"ALOI {collection} collection in {folder}")
    items = [
        ProbeItem(path=rel, set_id=str(o.obj), class_id=str(o.obj), factor=fac)
        for o in listing.objects
        for rel, fac in o.files
    ]
    n_exp = len(aloi.expected_names(collection, 1))
    params = {
        "dataset": "aloi", "collection": collection, "reduction": reduction or "auto", "folder": folder.name,
        "selection": "all images of each object (released extract_generic_ALOI_features.py), numeric order",
        "n_sets": len(listing.objects), "n_images": len(items), "expected_per_set": n_exp,
        "left_out": {
            "missing_files": sum(len(o.missing) for o in listing.objects),
            "missing_objects": len(listing.problems) - sum(len(o.missing) for o in listing.objects),
            "ignored_files": len(listing.ignored),
        },
    }  # fmt: skip
    probe = Probe(name=name, factor=_FACTORS[collection], items=items, root=folder.resolve(), params=params)
    probe.problems = list(listing.problems)  # what on_error=skip left out (read by `data check`)
    return probe


@register_probe("aloi-viewpoint")
def aloi_viewpoint(arg=None, root=None, **opts) -> Probe:
    """ALOI viewpoint: 72 views (0..355 deg) per object, one set per object."""
    return build_aloi_probe("aloi-viewpoint", "view", root, **opts)


@register_probe("aloi-illum-dir")
def aloi_illum_dir(arg=None, root=None, **opts) -> Probe:
    """ALOI illumination direction: 24 lamp/camera conditions per object, one set per object."""
    return build_aloi_probe("aloi-illum-dir", "ill", root, **opts)


@register_probe("aloi-illum-color")
def aloi_illum_color(arg=None, root=None, **opts) -> Probe:
    """ALOI illumination colour: 12 colour temperatures per object, one set per object."""
    return build_aloi_probe("aloi-illum-color", "col", root, **opts)
