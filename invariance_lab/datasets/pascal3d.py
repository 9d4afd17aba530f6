"""PASCAL3D+ release 1.1: the image lists, the `.mat` annotation records, and the coarse-viewpoint bins.

Layout (project page; demystifyssl README `unzip PASCAL3D+_release1.1.zip; mv PASCAL3D+_release1.1 pascal3d`)::

    <p3d>/Images/<cls>_imagenet/<wnid>_<n>.JPEG     <p3d>/Annotations/<cls>_imagenet/<stem>.mat
    <p3d>/Images/<cls>_pascal/<YYYY_NNNNNN>.jpg     <p3d>/Annotations/<cls>_pascal/<stem>.mat
    <p3d>/Image_sets/<cls>_imagenet_{train,val}.txt (one stem per line)
    <p3d>/Image_sets/<cls>_pascal.txt               "<voc id> <object index>" -- read by the released
                                                    script but not part of the public release

`<p3d>` is `<root>/PASCAL3D+_release1.1`, `<root>/pascal3d` (the paper's rename) or `<root>`.

Each `.mat` holds a MATLAB struct `record` whose `objects` is a 1xN struct array with, per object,
`class`, `bbox` ([x1 y1 x2 y2], 1-based pixels) and `viewpoint` (a struct with `azimuth_coarse`,
`elevation_coarse`, ... or `[]` for objects without a viewpoint, e.g. `person` in PASCAL images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._common import Problem

CLASSES = ("aeroplane", "bicycle", "boat", "bottle", "bus", "car", "chair", "diningtable", "motorbike", "sofa", "train", "tvmonitor")
SUBSETS = ("imagenet", "pascal")


def find_root(root: Path) -> Path | None:
    """The release folder (holding `Annotations/` and `Images/`) under `root`, or None."""
    for c in (root / "PASCAL3D+_release1.1", root / "pascal3d", root / "PASCAL3D", root):
        if (c / "Annotations").is_dir() and (c / "Images").is_dir():
            return c
    return None


@dataclass(frozen=True)
class P3dObject:
    """One annotated object: image, annotation, object index, category, box and coarse viewpoint."""

    cls: str
    subset: str  # imagenet | pascal
    stem: str
    index: int  # object index in record.objects (0-based)
    bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 as stored
    azimuth: float  # azimuth_coarse (degrees)
    elevation: float  # elevation_coarse (degrees)

    @property
    def image(self) -> str:
        ext = "JPEG" if self.subset == "imagenet" else "jpg"
        return f"Images/{self.cls}_{self.subset}/{self.stem}.{ext}"

    @property
    def annotation(self) -> str:
        return f"Annotations/{self.cls}_{self.subset}/{self.stem}.mat"


def _scalar(x) -> float:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size != 1:
        raise ValueError(f"expected one number, got {a.size}")
    return float(a[0])


def _text(x) -> str:
    a = np.asarray(x).ravel()
    return str(a[0]) if a.size else ""


def load_record(path: Path):
    """`record` of a `.mat` file (scipy, `struct_as_record=False`), or raise ValueError saying why."""
    from scipy.io import loadmat

    try:
        data = loadmat(str(path), struct_as_record=False)
    except Exception as exc:  # scipy raises several types on damaged files
        raise ValueError(f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from exc
    if "record" not in data:
        raise ValueError(f"no variable 'record' (variables: {sorted(k for k in data if not k.startswith('__'))})")
    rec = data["record"]
    if rec.size < 1:
        raise ValueError("'record' is empty")
    rec = rec.flat[0]
    if not hasattr(rec, "objects"):
        raise ValueError(f"'record' has no field 'objects' (fields: {list(getattr(rec, '_fieldnames', []))})")
    return rec


def read_object(root: Path, cls: str, subset: str, stem: str, index: int) -> tuple[P3dObject | None, Problem | None]:
    """Object `index` of one annotation file, or a Problem naming the file and what is wrong."""
    ann = root / "Annotations" / f"{cls}_{subset}" / f"{stem}.mat"
    if not ann.is_file():
        return None, Problem(str(ann), "missing annotation file")
    try:
        rec = load_record(ann)
        objs = rec.objects
        if objs.size <= index:
            raise ValueError(f"record.objects has {objs.size} object(s), object index {index} requested")
        obj = objs.flat[index]
        for f in ("bbox", "viewpoint"):
            if not hasattr(obj, f):
                raise ValueError(f"object {index} has no field '{f}'")
        bbox = np.asarray(obj.bbox, dtype=np.float64).ravel()
        if bbox.size != 4:
            raise ValueError(f"object {index}: bbox has {bbox.size} values, expected [x1 y1 x2 y2]")
        vp = obj.viewpoint
        if np.asarray(vp).size == 0:
            raise ValueError(f"object {index} has an empty viewpoint ([])")
        vp = np.asarray(vp).flat[0]
        for f in ("azimuth_coarse", "elevation_coarse"):
            if not hasattr(vp, f):
                raise ValueError(f"object {index}: viewpoint has no field '{f}'")
        az, el = _scalar(vp.azimuth_coarse), _scalar(vp.elevation_coarse)
    except ValueError as exc:
        return None, Problem(str(ann), str(exc))
    return P3dObject(cls, subset, stem, index, tuple(float(v) for v in bbox), az, el), None


def image_set_classes(root: Path) -> list[str]:
    """Classes as the released script finds them: `sorted(glob('Image_sets/*imagenet_train.txt'))`."""
    files = sorted((root / "Image_sets").glob("*imagenet_train.txt"))
    return [f.name.split("_")[0] for f in files]


def _lines(path: Path) -> list[str]:
    return [s for s in path.read_text().splitlines() if s.strip()]


def pascal_entries(root: Path, cls: str) -> tuple[list[tuple[str, int]], str]:
    """(voc id, object index) pairs of the PASCAL part of a class, and where they came from.

    `Image_sets/<cls>_pascal.txt` when present (the released script's input); otherwise built from
    the annotations: every object of class `cls` with a non-empty viewpoint, in sorted file order.
    """
    listed = root / "Image_sets" / f"{cls}_pascal.txt"
    if listed.is_file():
        out = []
        for line in _lines(listed):
            parts = line.split()
            out.append((parts[0], int(parts[1]) if len(parts) > 1 else 0))
        return out, str(listed.relative_to(root))
    out = []
    adir = root / "Annotations" / f"{cls}_pascal"
    for ann in sorted(adir.glob("*.mat")) if adir.is_dir() else []:
        try:
            rec = load_record(ann)
        except ValueError:
            out.append((ann.stem, 0))  # reported when read
            continue
        for i in range(rec.objects.size):
            o = rec.objects.flat[i]
            if _text(getattr(o, "class", "")) == cls and np.asarray(getattr(o, "viewpoint", [])).size:
                out.append((ann.stem, i))
    return out, f"built from Annotations/{cls}_pascal/*.mat"


def list_objects(root: Path, classes: list[str] | None = None, subsets=SUBSETS) -> tuple[list[P3dObject], list[Problem], dict]:
    """Objects in the released script's order; returns (objects, problems, info).

    Per class ImageNet train then val (object 0 of each image), then per class the PASCAL entries.
    """
    classes = classes or image_set_classes(root)
    objs: list[P3dObject] = []
    problems: list[Problem] = []
    info: dict = {"classes": classes, "pascal_lists": {}}
    if "imagenet" in subsets:
        for cls in classes:
            for part in ("train", "val"):
                lst = root / "Image_sets" / f"{cls}_imagenet_{part}.txt"
                if not lst.is_file():
                    problems.append(Problem(str(lst), "missing image list"))
                    continue
                for stem in _lines(lst):
                    o, p = read_object(root, cls, "imagenet", stem.strip(), 0)
                    objs += [o] if o else []
                    problems += [p] if p else []
    if "pascal" in subsets:
        for cls in classes:
            entries, src = pascal_entries(root, cls)
            info["pascal_lists"][cls] = src
            for stem, idx in entries:
                o, p = read_object(root, cls, "pascal", stem, idx)
                objs += [o] if o else []
                problems += [p] if p else []
    return objs, problems, info


def azimuth_bin(az: float) -> int:
    """Released rule `(az % 180) // 30`: 6 bins of 30 deg, front and back folded together."""
    return int((az % 180) // 30)


def elevation_bin(el: float) -> int:
    """Released rule `(el % 90) // 30`: 3 bins; Python's modulo folds negative elevations (-10 -> 80 -> bin 2)."""
    return int((el % 90) // 30)


def viewpoint_instance_sets(objs: list[P3dObject]) -> list[int]:
    """Set ids of `pascal3dimnet_viewpointchange` (the released script's instance numbers).

    Within a class the k-th object of each azimuth bin gets id base + k, base = the largest count reached by the previous classes (classes in sorted order,
    objects in list order), so a set holds one object per azimuth bin, all different instances.
    """
    ids = [0] * len(objs)
    count = np.zeros(6, dtype=np.int64)
    for cls in sorted({o.cls for o in objs}):
        count = np.full(6, count.max())
        for i, o in enumerate(objs):
            if o.cls == cls:
                b = azimuth_bin(o.azimuth)
                ids[i] = int(count[b])
                count[b] += 1
    return ids


def viewpoint_constant_sets(objs: list[P3dObject]) -> list[int]:
    """Set ids of `pascal3dimnet_viewpointconstant_instance` (the released script's numbers).

    One set per (class, azimuth bin, elevation bin), numbered per class in lexicographic (az bin, el bin) order, classes in sorted order.
    """
    ids = [0] * len(objs)
    offset = 0
    for cls in sorted({o.cls for o in objs}):
        idx = [i for i, o in enumerate(objs) if o.cls == cls]
        keys = [(azimuth_bin(objs[i].azimuth), elevation_bin(objs[i].elevation)) for i in idx]
        uniq = sorted(set(keys))
        pos = {k: j for j, k in enumerate(uniq)}
        for i, k in zip(idx, keys, strict=True):
            ids[i] = offset + pos[k]
        offset += len(uniq)
    return ids
