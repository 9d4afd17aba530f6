"""Fixture generators writing real files in the published layouts (DATASETS.md fixture recipes).

ALOI: RGB PNGs at 1/8 of the real size; GOT-10k: JPEG frames, `groundtruth.txt`, `.label`
files and `meta_info.ini`; PASCAL3D+: JPEGs and MATLAB v5 `.mat` records written with
`scipy.io.savemat` (header patched so files are byte-reproducible).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from invariance_lab.datasets import aloi

# ---------------------------------------------------------------------------------------------- ALOI
ALOI_SIZE = {"red2": (48, 36), "red4": (24, 18), "full": (96, 72)}  # 1/8 of the real (W, H)


def _aloi_image(obj: int, collection: str, cond, size) -> np.ndarray:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.array([(obj * 53) % 256, (obj * 97) % 256, (obj * 29) % 256], np.float32)
    img = np.zeros((h, w, 3), np.float32)
    cx, cy, r = w / 2, h / 2, min(w, h) / 3
    if collection == "ill":
        lamp = int(str(cond)[1:].split("c")[0])
        cx += (lamp - 4.5) * w / 20
    blob = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
    img[blob] = base
    if collection == "view":
        a = math.radians(float(cond))
        stripe = np.abs((xx - cx) * math.sin(a) - (yy - cy) * math.cos(a)) < 2
        img[blob & stripe] = 255 - base
    if collection == "col":
        t = (float(cond) - 110) / 140
        img *= np.array([1.0, 0.7 + 0.3 * t, 0.4 + 0.6 * t], np.float32)
    return img.clip(0, 255).astype(np.uint8)


def make_aloi(root: Path, objects=(1, 2, 3), collections=aloi.COLLECTIONS, layout: str = "paper",
              reduction: str = "red2") -> dict[str, Path]:
    """Write ALOI collections; layout `paper` (ALOI_viewpoint/...) or `archive` (aloi_red2_view/png2/...)."""
    out = {}
    for col in collections:
        if layout == "paper":
            folder = root / aloi.PAPER_DIRS[col]
        else:
            stem = "aloi" if reduction == "full" else f"aloi_{reduction}"
            folder = root / f"{stem}_{col}" / aloi.REDUCTIONS[reduction]
        for obj in objects:
            d = folder / str(obj)
            d.mkdir(parents=True, exist_ok=True)
            for name in aloi.expected_names(col, obj):
                cond = aloi.factor_of(col, name)
                Image.fromarray(_aloi_image(obj, col, cond, ALOI_SIZE[reduction])).save(d / name, compress_level=1)
        out[col] = folder
    return out


# -------------------------------------------------------------------------------------------- GOT-10k
def fixture_cover(n: int = 12) -> list[int]:
    """Cover levels running 8 -> 0 over n frames: ceil(8 (n-1-i) / (n-1))."""
    return [int(math.ceil(8 * (n - 1 - i) / (n - 1))) for i in range(n)]


def write_got_video(split_dir: Path, name: str, cover, object_class: str = "sea lion", size=(64, 48),
                    boxes=None, absence=None, write_frames: bool = True) -> Path:
    vdir = split_dir / name
    vdir.mkdir(parents=True, exist_ok=True)
    n = len(cover)
    w, h = size
    if boxes is None:
        boxes = [(4 + i % 5, 3 + i % 4, w / 2, h / 2) for i in range(n)]
    if absence is None:
        absence = [1 if c == 0 else 0 for c in cover]
    if write_frames:
        for i in range(n):
            x, y, bw, bh = boxes[i]
            img = np.full((h, w, 3), 40, np.uint8)
            img[int(max(y, 0)):int(max(y + bh, 0)), int(max(x, 0)):int(max(x + bw, 0))] = (200, 30 + 20 * (i % 8), 90)
            Image.fromarray(img).save(vdir / f"{i + 1:08d}.jpg", quality=90)
    (vdir / "groundtruth.txt").write_text("".join("%.4f,%.4f,%.4f,%.4f\n" % tuple(b) for b in boxes))
    (vdir / "cover.label").write_text("".join(f"{c}\n" for c in cover))
    (vdir / "absence.label").write_text("".join(f"{a}\n" for a in absence))
    (vdir / "cut_by_image.label").write_text("0\n" * n)
    (vdir / "meta_info.ini").write_text(
        "[METAINFO]\nurl: https://youtu.be/xxxxxxxxxxx\nbegin: 00:00:01\nend: 00:00:10\nanno_fps: 10Hz\n"
        f"object_class: {object_class}\nmotion_class: swimming\nmajor_class: mammal\nroot_class: animal\n"
        f"motion_adverb: slowly\nresolution: ({w}, {h})\n"
    )
    return vdir


def make_got10k(root: Path, n_videos: int = 3, n_frames: int = 12, split: str = "train", extra=()) -> Path:
    """GOT-10k/<split>/ with `n_videos` sequences whose cover runs 8 -> 0 (DATASETS.md recipe).

    `extra`: (name, cover) pairs appended to list.txt after the standard videos.
    """
    sname = {"train": "Train", "val": "Val", "test": "Test"}[split]
    split_dir = root / "GOT-10k" / split
    names = []
    classes = ["sea lion", "ctenophore", "sea lion"]
    for v in range(n_videos):
        name = f"GOT-10k_{sname}_{v + 1:06d}"
        write_got_video(split_dir, name, fixture_cover(n_frames), classes[v % 3])
        names.append(name)
    for name, cover in extra:
        write_got_video(split_dir, name, cover, "goldfish")
        names.append(name)
    (split_dir / "list.txt").write_text("".join(n + "\n" for n in names))
    return split_dir


# ------------------------------------------------------------------------------------------ PASCAL3D+
P3D_CLASSES = ("aeroplane", "car")
P3D_AZ = (0, 210, 60, 270, 120, 330)
P3D_EL = (5, 35, 65, 5, 35, 65)
_WNID = {"aeroplane": "n02690373", "car": "n02958343"}


def _viewpoint(az, el, fine: bool):
    vp = {"azimuth_coarse": float(az), "elevation_coarse": float(el), "distance": 5.0 if fine else 0.0,
          "azimuth": float(az) if fine else 0.0, "elevation": float(el) if fine else 0.0, "theta": 0.0,
          "focal": 1.0, "px": 60.0, "py": 45.0, "viewport": 2000.0, "error": 0.0}  # fmt: skip
    return vp


def _objects(objs: list[dict]) -> np.ndarray:
    fields = sorted({k for o in objs for k in o})
    arr = np.zeros((1, len(objs)), dtype=[(f, object) for f in fields])
    for i, o in enumerate(objs):
        for f in fields:
            arr[0, i][f] = o.get(f, np.zeros((0, 0)))
    return arr


def write_record(path: Path, filename: str, size, objects: list[dict], database: str = "ImageNet") -> None:
    from scipy.io import savemat

    w, h = size
    record = {"filename": filename, "folder": path.parent.name, "source": {"database": database},
              "imgname": filename, "size": {"width": float(w), "height": float(h), "depth": 3.0},
              "imgsize": np.array([[w, h, 3]], float), "database": database, "segmented": 0.0,
              "objects": _objects(objects)}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"record": record}, do_compression=False)
    with open(path, "r+b") as fh:  # scipy stamps "Created on: <now>" into the 116-byte text header
        fh.write(b"MATLAB 5.0 MAT-file, fixture".ljust(116, b" "))


def p3d_object(cls: str, bbox, az, el, fine=True, **extra) -> dict:
    o = {"class": cls, "bbox": np.array([bbox], float), "truncated": 0.0, "occluded": 0.0, "difficult": 0.0,
         "viewpoint": _viewpoint(az, el, fine), "cad_index": 1.0}  # fmt: skip
    o.update(extra)
    return o


def _jpeg(path: Path, size, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=85)


def make_pascal3d(root: Path, write_pascal_list: bool = True) -> Path:
    """PASCAL3D+_release1.1 with 2 classes x (6 ImageNet + 2 PASCAL images) (DATASETS.md recipe)."""
    p3d = root / "PASCAL3D+_release1.1"
    sets = p3d / "Image_sets"
    sets.mkdir(parents=True, exist_ok=True)
    voc = p3d / "PASCAL" / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    voc.mkdir(parents=True, exist_ok=True)
    for ci, cls in enumerate(P3D_CLASSES):
        stems = [f"{_WNID[cls]}_{1000 + i}" for i in range(6)]
        for i, stem in enumerate(stems):
            _jpeg(p3d / "Images" / f"{cls}_imagenet" / f"{stem}.JPEG", (120, 90), 100 * ci + i)
            extra = {"subtype": "sedan" if i % 2 else ""} if cls == "car" else {}
            obj = p3d_object(cls, [10 + i, 8, 90 + i, 70], P3D_AZ[i] + 5 * ci, P3D_EL[i], fine=i % 2 == 0, **extra)
            write_record(p3d / "Annotations" / f"{cls}_imagenet" / f"{stem}.mat", f"{stem}.JPEG", (120, 90), [obj])
        (sets / f"{cls}_imagenet_train.txt").write_text("".join(s + "\n" for s in stems[:4]))
        (sets / f"{cls}_imagenet_val.txt").write_text("".join(s + "\n" for s in stems[4:]))
        ids = [f"2008_{ci * 10 + j + 1:06d}" for j in range(2)]
        for j, vid in enumerate(ids):
            _jpeg(p3d / "Images" / f"{cls}_pascal" / f"{vid}.jpg", (100, 80), 1000 + 10 * ci + j)
            person = {"class": "person", "bbox": np.array([[1, 1, 20, 40]], float), "truncated": 0.0,
                      "occluded": 0.0, "difficult": 0.0, "viewpoint": np.zeros((0, 0)), "cad_index": 0.0}  # fmt: skip
            target = p3d_object(cls, [20, 10, 80, 60], 40 + 100 * j, -10 if j else 20, truncated=float(j))
            write_record(p3d / "Annotations" / f"{cls}_pascal" / f"{vid}.mat", f"{vid}.jpg", (100, 80), [person, target], "PASCAL VOC")
        if write_pascal_list:
            (sets / f"{cls}_pascal.txt").write_text("".join(f"{v} 1\n" for v in ids))
        (voc / f"{cls}_train.txt").write_text("".join(f"{v}  1\n" for v in ids))
    return p3d


# ---------------------------------------------------------------------------------------- image folder
def make_imagefolder(root: Path, classes=("n01440764", "n01443537"), per_class: int = 3) -> Path:
    for ci, c in enumerate(classes):
        for i in range(per_class):
            _jpeg(root / c / f"ILSVRC2012_val_{ci * 10 + i + 1:08d}.JPEG", (80 + 10 * i, 60 + 7 * ci), 7 * ci + i)
    return root


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """One shared root with every fixture dataset (read-only for tests)."""
    root = tmp_path_factory.mktemp("data")
    make_aloi(root, objects=(1, 2, 3, 10))
    make_got10k(root, extra=[("GOT-10k_Train_000004", [8, 8, 7, 7, 6, 6, 5, 5]), ("GOT-10k_Train_000005", [2, 6, 4, 0, 6])])
    make_pascal3d(root)
    make_imagefolder(root / "imagenet" / "val")
    return root
