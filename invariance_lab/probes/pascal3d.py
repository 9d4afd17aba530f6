"""Pascal3D+ probes: `pascal3d-instance` and `pascal3d-viewpoint-instance`.

`pascal3d-instance`: coarse viewpoint held constant, instances change;
`pascal3d-viewpoint-instance`: viewpoint and instance change.

Built as `extract_features/pascal3d/extract_pascal3d_features.py` of the released code
(senthilps8/demystifyssl @ 4ba46dd) forms them, from PASCAL3D+ release 1.1, ImageNet and PASCAL
subsets:

- classes = `sorted(glob('Image_sets/*imagenet_train.txt'))`; objects in the order ImageNet train
  then val (object 0 of each image) per class, then PASCAL entries per class;
- each object cropped to its `.mat` `bbox` [x1 y1 x2 y2] as stored (1-based MATLAB pixels used as
  0-based left/top, as the released crop does);
- `pascal3d-instance`: set = (class, `(azimuth_coarse % 180) // 30`, `(elevation_coarse % 90) // 30`):
  6 azimuth bins with front and back folded together, 3 elevation bins with negative elevations
  folded into the top bin by Python's modulo;
- `pascal3d-viewpoint-instance`: within a class the k-th object of each azimuth bin forms set k,
  so a set holds one object per azimuth bin (at most 6), each a different instance.

Quirks fixed: the released binning indexes an array with a float (fails on NumPy >= 1.12; cast to
int here); `Image_sets/<cls>_pascal.txt` is read when present but is not in the public release,
so otherwise the PASCAL part is built from the annotations (every object of the class with a
viewpoint); its 100-iteration dead feature-extraction loop is not reproduced. The released script
resized to 224x224; DESIGN.md §5 uses 128x128 for every real probe (the encoder's preprocessing
decides). Sets of fewer than 3 images are kept here and dropped by the measure (as in the paper).
Options: `subsets` (`imagenet,pascal` default), `classes`, `on_error`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..config import resolve_data_root
from ..datasets import pascal3d
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


def build_pascal3d_probe(name: str, root=None, subsets="imagenet,pascal", classes=None, on_error: str = "stop",
                         check_boxes: bool = True) -> Probe:
    check_on_error(on_error)
    subsets = tuple(subsets.split(",")) if isinstance(subsets, str) else tuple(subsets)
    if set(subsets) - set(pascal3d.SUBSETS):
        raise ProbeError(f"{name}: subsets must be from {pascal3d.SUBSETS}, got {subsets}")
    if isinstance(classes, str):
        classes = classes.split(",")
    base = Path(resolve_data_root(root, required_by=f"probe {name!r}"))
    p3d = pascal3d.find_root(base)
    if p3d is None:
        raise DatasetNotFound(f"{name}: no PASCAL3D+ release under {base} (expected PASCAL3D+_release1.1/ or pascal3d/ "
                         "with Annotations/ and Images/; see `invariance-lab data check pascal3d`)")
    if not classes and not pascal3d.image_set_classes(p3d):
        raise DatasetNotFound(f"{name}: no Image_sets/*_imagenet_train.txt under {p3d}")
    objs, problems, info = pascal3d.list_objects(p3d, list(classes) if classes else None, subsets)
    if on_error == "stop":
        raise_problems(problems, f"PASCAL3D+ in {p3d}")
    good, box_problems = [], []
    for o in objs:
        if check_boxes:
            path = p3d / o.image
            try:
                what = box_problem(o.bbox, image_size(path))
            except OSError as exc:
                what = f"cannot read the image header ({exc})"
            if what:
                box_problems.append(Problem(str(path), f"{what} (object {o.index} of {o.annotation})"))
                continue
        good.append(o)
    if on_error == "stop":
        raise_problems(box_problems, f"PASCAL3D+ in {p3d}")
    if name == "pascal3d-instance":
        ids = pascal3d.viewpoint_constant_sets(good)
        items = [ProbeItem(o.image, f"{o.cls}/az{pascal3d.azimuth_bin(o.azimuth)}el{pascal3d.elevation_bin(o.elevation)}",
                           o.cls, f"{o.stem}#{o.index}", o.bbox) for o, _ in zip(good, ids, strict=True)]
        factor = "instance (coarse viewpoint constant)"
        rule = "set = (class, (azimuth_coarse % 180) // 30, (elevation_coarse % 90) // 30)"
    else:
        ids = pascal3d.viewpoint_instance_sets(good)
        items = [ProbeItem(o.image, f"{o.cls}/{k}", o.cls, o.azimuth, o.bbox) for o, k in zip(good, ids, strict=True)]
        factor = "viewpoint + instance"
        rule = "set k of a class = the k-th object of each azimuth bin (azimuth_coarse % 180) // 30"
    sizes = Counter(it.set_id for it in items)
    n_sets = len(sizes)
    params = {
        "dataset": "pascal3d", "subsets": list(subsets), "classes": info["classes"], "rule": rule,
        "pascal_lists": info["pascal_lists"], "paper_input_size": [224, 224],
        "n_sets": n_sets, "n_images": len(items),
        "n_sets_below_3": sum(1 for v in sizes.values() if v < 3),
        "left_out": {"unreadable_annotations": len(problems), "bad_boxes": len(box_problems)},
    }  # fmt: skip
    probe = Probe(name=name, factor=factor, items=items, root=p3d.resolve(), params=params)
    probe.problems = problems + box_problems  # what on_error=skip left out (read by `data check`)
    return probe


@register_probe("pascal3d-instance")
def pascal3d_instance(arg=None, root=None, **opts) -> Probe:
    """Pascal3D+ instance change at constant coarse viewpoint: sets = (class, az bin, el bin)."""
    return build_pascal3d_probe("pascal3d-instance", root, **opts)


@register_probe("pascal3d-viewpoint-instance")
def pascal3d_viewpoint_instance(arg=None, root=None, **opts) -> Probe:
    """Pascal3D+ viewpoint + instance change: one object per azimuth bin per set."""
    return build_pascal3d_probe("pascal3d-viewpoint-instance", root, **opts)
