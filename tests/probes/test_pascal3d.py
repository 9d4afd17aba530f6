from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

from invariance_lab.datasets import DatasetError, DatasetNotFound, pascal3d
from invariance_lab.probes import get_probe
from tests.datasets.fixtures import make_pascal3d, p3d_object, write_record


def test_bins_hand_computed():
    # (az % 180) // 30 and (el % 90) // 30, with Python's modulo on negatives
    assert [pascal3d.azimuth_bin(a) for a in (0, 210, 60, 270, 120, 330, 179.9, 180, -10)] == [0, 1, 2, 3, 4, 5, 5, 0, 5]
    assert [pascal3d.elevation_bin(e) for e in (5, 35, 65, 89.9, 90, -10, -60)] == [0, 1, 2, 2, 0, 2, 1]


def test_instance_probe_sets(data_root):
    p = get_probe("pascal3d-instance", root=data_root)
    # ImageNet: az 0,210,60,270,120,330 (+5 for car) -> bins 0..5; el 5,35,65,5,35,65 -> 0,1,2,0,1,2
    # PASCAL objects (index 1): az 40 el 20 -> (1, 0); az 140 el -10 -> (4, 2) (el -10 folds to 80)
    expect_aero = ["az0el0", "az1el1", "az2el2", "az3el0", "az4el1", "az5el2"]
    assert [it.set_id for it in p.items[:6]] == [f"aeroplane/{s}" for s in expect_aero]
    assert [it.set_id for it in p.items[12:]] == ["aeroplane/az1el0", "aeroplane/az4el2", "car/az1el0", "car/az4el2"]
    assert [it.path for it in p.items[:2]] == ["Images/aeroplane_imagenet/n02690373_1000.JPEG", "Images/aeroplane_imagenet/n02690373_1001.JPEG"]
    assert p.items[12].path == "Images/aeroplane_pascal/2008_000001.jpg" and p.items[12].factor == "2008_000001#1"
    assert p.params["n_sets"] == 16 and p.params["n_sets_below_3"] == 16
    assert p.items[0].box == (10.0, 8.0, 90.0, 70.0)  # bbox [x1 y1 x2 y2] as stored
    assert p.load_image(0).size == (80, 62)


def test_viewpoint_instance_sets(data_root):
    p = get_probe("pascal3d-viewpoint-instance", root=data_root)
    # aeroplane: the six ImageNet objects are the first of their azimuth bins -> set 0; PASCAL
    # objects fall in bins 1 and 4 (second of those bins) -> set 1. car starts at the largest
    # count reached so far (2): ImageNet -> 2, PASCAL -> 3.
    assert [it.set_id for it in p.items] == ["aeroplane/0"] * 6 + ["car/2"] * 6 + ["aeroplane/1"] * 2 + ["car/3"] * 2
    assert [it.factor for it in p.items[:6]] == [0.0, 210.0, 60.0, 270.0, 120.0, 330.0]
    assert sorted({it.class_id for it in p.items}) == ["aeroplane", "car"]


def test_pascal_list_missing_built_from_annotations(data_root, tmp_path):
    make_pascal3d(tmp_path, write_pascal_list=False)
    a = get_probe("pascal3d-instance", root=data_root)
    b = get_probe("pascal3d-instance", root=tmp_path)
    assert [(i.path, i.set_id, i.box) for i in a.items] == [(i.path, i.set_id, i.box) for i in b.items]
    assert b.params["pascal_lists"]["car"] == "built from Annotations/car_pascal/*.mat"
    assert a.params["pascal_lists"]["car"] == "Image_sets/car_pascal.txt"


def test_subsets_and_classes(data_root):
    assert len(get_probe("pascal3d-instance", root=data_root, subsets="imagenet")) == 12
    assert {i.class_id for i in get_probe("pascal3d-instance", root=data_root, classes="car").items} == {"car"}
    with pytest.raises(DatasetNotFound):
        get_probe("pascal3d-instance", root=data_root / "nowhere")


def test_numpy_readers_agree(data_root):
    from scipy.io import loadmat

    f = data_root / "PASCAL3D+_release1.1" / "Annotations" / "car_pascal" / "2008_000011.mat"
    rec = loadmat(f)["record"]
    obj = rec["objects"][0][0][0][1]
    assert float(obj["viewpoint"]["azimuth_coarse"][0][0][0][0]) == 40.0
    assert rec["objects"][0][0][0][0]["viewpoint"].size == 0  # person: [] (use .size, not truthiness)
    cells = loadmat(f, simplify_cells=True)["record"]["objects"]
    assert [o["class"] for o in cells] == ["person", "car"]


@pytest.fixture
def p3d(tmp_path):
    return make_pascal3d(tmp_path)


def test_mat_without_fields(p3d, tmp_path):
    savemat(str(p3d / "Annotations" / "car_imagenet" / "n02958343_1002.mat"), {"other": np.ones(3)})
    bad = {"class": "car", "bbox": np.array([[1, 2, 30, 40]], float)}  # no viewpoint field
    write_record(p3d / "Annotations" / "car_imagenet" / "n02958343_1003.mat", "x.JPEG", (120, 90), [bad])
    (p3d / "Annotations" / "car_imagenet" / "n02958343_1004.mat").unlink()
    with pytest.raises(DatasetError) as ei:
        get_probe("pascal3d-instance", root=tmp_path)
    msg = str(ei.value)
    assert "n02958343_1002.mat: no variable 'record'" in msg
    assert "n02958343_1003.mat: object 0 has no field 'viewpoint'" in msg
    assert "n02958343_1004.mat: missing annotation file" in msg
    p = get_probe("pascal3d-instance", root=tmp_path, on_error="skip")
    assert len(p) == 13 and p.params["left_out"]["unreadable_annotations"] == 3


def test_empty_viewpoint_and_bad_index(p3d, tmp_path):
    (p3d / "Image_sets" / "car_pascal.txt").write_text("2008_000011 0\n2008_000012 5\n")
    with pytest.raises(DatasetError) as ei:
        get_probe("pascal3d-viewpoint-instance", root=tmp_path)
    assert "2008_000011.mat: object 0 has an empty viewpoint ([])" in str(ei.value)
    assert "2008_000012.mat: record.objects has 2 object(s), object index 5 requested" in str(ei.value)


@pytest.mark.parametrize(("bbox", "what"), [([50, 20, 50, 60], "zero area"), ([200, 150, 260, 190], "outside the 120x90 image")])
def test_bad_bbox(p3d, tmp_path, bbox, what):
    obj = p3d_object("aeroplane", bbox, 0, 5)
    write_record(p3d / "Annotations" / "aeroplane_imagenet" / "n02690373_1001.mat", "x.JPEG", (120, 90), [obj])
    with pytest.raises(DatasetError, match=rf"n02690373_1001.JPEG: box .* {what} \(object 0"):
        get_probe("pascal3d-instance", root=tmp_path)
