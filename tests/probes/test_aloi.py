from __future__ import annotations

import shutil

import pytest
from PIL import Image

from invariance_lab.datasets import DatasetError, DatasetNotFound, aloi
from invariance_lab.errors import ImageReadError
from invariance_lab.probes import get_probe
from tests.datasets.fixtures import make_aloi


@pytest.mark.parametrize(("name", "per"), [("aloi-viewpoint", 72), ("aloi-illum-dir", 24), ("aloi-illum-color", 12)])
def test_one_set_per_object_all_images(data_root, name, per):
    p = get_probe(name, root=data_root)
    assert len(p) == 4 * per
    sets = list(dict.fromkeys(it.set_id for it in p.items))
    assert sets == ["1", "2", "3", "10"]  # numeric order: 10 after 3 (not lexicographic)
    assert all(it.class_id == it.set_id for it in p.items)
    assert p.params["n_sets"] == 4 and p.params["left_out"]["missing_files"] == 0
    assert p.describe()["n_classes"] == 4


def test_viewpoint_items_numeric_angle_order(data_root):
    p = get_probe("aloi-viewpoint", root=data_root)
    obj1 = [it for it in p.items if it.set_id == "1"]
    assert [it.factor for it in obj1] == list(range(0, 360, 5))
    assert obj1[2].path == "1/1_r10.png"  # r10 after r5, not after r0 as sorted(glob) would
    ill = get_probe("aloi-illum-dir", root=data_root)
    assert [it.factor for it in ill.items[:4]] == ["l1c1", "l1c2", "l1c3", "l2c1"]
    col = get_probe("aloi-illum-color", root=data_root)
    assert [it.factor for it in col.items[:12]] == list(aloi.COL_TEMPERATURES)


def test_archive_layout_and_reductions(tmp_path):
    make_aloi(tmp_path, objects=(5,), collections=("col",), layout="archive", reduction="red4")
    p = get_probe("aloi-illum-color", root=tmp_path)
    assert p.root.name == "png4" and len(p) == 12
    assert get_probe("aloi-illum-color", root=tmp_path, reduction="red4").items == p.items
    with pytest.raises(DatasetNotFound, match="aloi_red2_col/png2"):
        get_probe("aloi-illum-color", root=tmp_path, reduction="red2")
    # a root that is the collection folder itself
    assert len(get_probe("aloi-illum-color", root=tmp_path / "aloi_red4_col")) == 12


def test_objects_option(data_root):
    p = get_probe("aloi-illum-color", root=data_root, objects=2)
    assert {it.set_id for it in p.items} == {"1", "2"}


def test_missing_view_stray_file_and_skip(tmp_path):
    folders = make_aloi(tmp_path, objects=(1, 2), collections=("view",))
    (folders["view"] / "2" / "2_r35.png").unlink()
    (folders["view"] / "1" / "Thumbs.db").write_bytes(b"x")
    with pytest.raises(DatasetError) as ei:
        get_probe("aloi-viewpoint", root=tmp_path)
    msg = str(ei.value)
    assert "2_r35.png" in msg and "missing" in msg
    assert [p.path.endswith("2_r35.png") for p in ei.value.problems] == [True]
    p = get_probe("aloi-viewpoint", root=tmp_path, on_error="skip")
    assert len(p) == 143 and p.params["left_out"] == {"missing_files": 1, "missing_objects": 0, "ignored_files": 1}


def test_missing_object_folder(tmp_path):
    make_aloi(tmp_path, objects=(1,), collections=("col",))
    with pytest.raises(DatasetError, match=r"ALOI_illumcolor/2: object folder missing"):
        get_probe("aloi-illum-color", root=tmp_path, objects=2)


def test_truncated_png_named_at_load(tmp_path):
    folders = make_aloi(tmp_path, objects=(1,), collections=("col",))
    f = folders["col"] / "1" / "1_i150.png"
    f.write_bytes(f.read_bytes()[:60])
    p = get_probe("aloi-illum-color", root=tmp_path)
    idx = [i for i, it in enumerate(p.items) if it.path.endswith("1_i150.png")][0]
    with pytest.raises(ImageReadError, match="1_i150.png"):
        p.load_image(idx)
    assert isinstance(p.load_image(0), Image.Image)


def test_no_data(tmp_path):
    with pytest.raises(DatasetNotFound, match="ALOI_viewpoint"):
        get_probe("aloi-viewpoint", root=tmp_path)
    shutil.rmtree(tmp_path)
