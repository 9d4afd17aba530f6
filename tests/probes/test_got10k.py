from __future__ import annotations

import numpy as np
import pytest

from invariance_lab.datasets import DatasetError, DatasetNotFound, got10k
from invariance_lab.probes import get_probe
from invariance_lab.probes import got10k as got_probe
from tests.datasets.fixtures import fixture_cover, make_got10k, write_got_video

# DATASETS.md §7 [run]: the official rule (seed 1992, list order) on three 12-frame videos with
# cover ceil(8 (11 - i) / 11) = [8,8,7,6,6,5,4,3,3,2,1,0] picks these frames (ascending cover).
GOLDEN = [[11, 10, 9, 8, 6, 5, 4, 2, 1], [11, 10, 9, 7, 6, 5, 4, 2, 1], [11, 10, 9, 8, 6, 5, 4, 2, 1]]


def frames_by_set(p):
    out = {}
    for it in p.items:
        out.setdefault(it.set_id, []).append(int(it.path[-12:-4]) - 1)
    return out


def test_fixture_cover():
    assert fixture_cover() == [8, 8, 7, 6, 6, 5, 4, 3, 3, 2, 1, 0]


def test_paper_selection_golden(data_root):
    p = get_probe("got10k-occlusion", root=data_root, selection="paper")
    f = frames_by_set(p)
    assert [f[f"GOT-10k_Train_{i:06d}"] for i in (1, 2, 3)] == GOLDEN
    # video 4 spans 8-5 = 3 < 4: dropped, and it draws nothing; video 5 (cover [2,6,4,0,6]):
    # covers 0,2,4 have one frame each (3, 0, 2), cover 6 draws from {1, 4}
    assert "GOT-10k_Train_000004" not in f
    assert f["GOT-10k_Train_000005"] == [3, 0, 2, 1]
    assert p.params["left_out"]["cover_span_below_min"] == 1 and p.params["n_sets"] == 4 and len(p) == 31
    cover = [it.factor for it in p.items if it.set_id == "GOT-10k_Train_000001"]
    assert cover == list(range(9))
    assert {it.class_id for it in p.items} == {"sea_lion", "ctenophore", "goldfish"}  # spaces -> '_'


def test_paper_selection_is_the_legacy_call_sequence():
    """Same calls as the released loop: one RandomState(1992), choice per cover level, none for dropped videos."""
    rs = np.random.RandomState(1992)
    covers = [np.array(fixture_cover())] * 3
    expect = [[int(rs.choice(np.where(c == u)[0])) for u in np.unique(c)] for c in covers]
    assert expect == GOLDEN
    vids = [got10k.Video(f"v{i}", 12, np.ones((12, 4)), c, np.zeros(12, int), "x", {}) for i, c in enumerate(covers)]
    short = got10k.Video("short", 4, np.ones((4, 4)), np.array([3, 3, 2, 1]), np.zeros(4, int), "x", {})
    sel = got_probe.select_paper([vids[0], short, vids[1], vids[2]])
    assert [sel[f"v{i}"] for i in range(3)] == GOLDEN and "short" not in sel


def test_list_order_matters_in_paper_mode_not_in_balanced(tmp_path):
    split = make_got10k(tmp_path)
    a = frames_by_set(get_probe("got10k-occlusion", root=tmp_path, selection="balanced"))
    pa = frames_by_set(get_probe("got10k-occlusion", root=tmp_path))
    names = got10k.read_list(split)
    (split / "list.txt").write_text("\n".join(reversed(names)) + "\n")
    b = frames_by_set(get_probe("got10k-occlusion", root=tmp_path, selection="balanced"))
    pb = frames_by_set(get_probe("got10k-occlusion", root=tmp_path))
    assert a == b
    assert pb["GOT-10k_Train_000003"] == GOLDEN[0] and pa["GOT-10k_Train_000002"] == GOLDEN[1]


def test_balanced_excludes_absent_and_empty_boxes(data_root):
    p = get_probe("got10k-occlusion", root=data_root, selection="balanced")
    f = frames_by_set(p)
    assert all(11 not in v for v in f.values())  # cover-0 frames are absent in the fixture
    assert [it.factor for it in p.items if it.set_id == "GOT-10k_Train_000001"] == list(range(1, 9))
    assert f["GOT-10k_Train_000005"] == [0, 2, 4] or f["GOT-10k_Train_000005"] == [0, 2, 1]
    with pytest.raises(Exception, match="seed 1992"):
        get_probe("got10k-occlusion", root=data_root, selection="paper", seed=3)
    other = frames_by_set(get_probe("got10k-occlusion", root=data_root, selection="balanced", seed=7))
    assert other.keys() == f.keys()


def test_boxes_and_crop(data_root):
    p = get_probe("got10k-occlusion", root=data_root)
    it = p.items[0]
    x, y, w, h = np.loadtxt(p.root / it.set_id / "groundtruth.txt", delimiter=",")[11]
    assert it.box == (x, y, x + w, y + h)
    assert p.load_image(0).size == (round(x + w) - round(x), round(y + h) - round(y))


def test_only_selected_frames_opened(data_root, monkeypatch):
    opened = []
    real = got_probe.image_size
    monkeypatch.setattr(got_probe, "image_size", lambda path: opened.append(path) or real(path))
    p = get_probe("got10k-occlusion", root=data_root)
    assert len(opened) == len(p) == 31  # of 49 frames in kept videos (57 listed)
    assert p.params["frames_in_kept_videos"] == 49


def test_layouts_and_missing(tmp_path):
    with pytest.raises(DatasetNotFound, match="registration"):
        get_probe("got10k-occlusion", root=tmp_path)
    write_got_video(tmp_path / "GOT", "GOT-10k_Train_000001", fixture_cover())
    (tmp_path / "GOT" / "list.txt").write_text("GOT-10k_Train_000001\n")
    assert len(get_probe("got10k-occlusion", root=tmp_path)) == 9  # the paper's data/GOT/ layout


def _bad_root(tmp_path):
    split = make_got10k(tmp_path, n_videos=2)
    write_got_video(split, "GOT-10k_Train_000009", fixture_cover())
    (split / "list.txt").write_text("GOT-10k_Train_000001\nGOT-10k_Train_000009\nGOT-10k_Train_000404\nGOT-10k_Train_000002\n")
    return split


def test_missing_video_folder_and_skip_keeps_draws(tmp_path):
    split = _bad_root(tmp_path)
    (split / "GOT-10k_Train_000009" / "absence.label").unlink()
    with pytest.raises(DatasetError) as ei:
        get_probe("got10k-occlusion", root=tmp_path)
    msg = str(ei.value)
    assert "GOT-10k_Train_000404: listed in list.txt but the folder is missing" in msg
    assert "GOT-10k_Train_000009/absence.label: missing annotation file" in msg
    p = get_probe("got10k-occlusion", root=tmp_path, on_error="skip")
    f = frames_by_set(p)
    assert [f["GOT-10k_Train_000001"], f["GOT-10k_Train_000002"]] == GOLDEN[:2]
    assert p.params["left_out"]["unreadable_videos"] == 2 and len(p.problems) == 2


def test_cover_label_length_mismatch(tmp_path):
    split = _bad_root(tmp_path)
    (split / "GOT-10k_Train_000404").mkdir()
    write_got_video(split, "GOT-10k_Train_000404", fixture_cover())
    (split / "GOT-10k_Train_000009" / "cover.label").write_text("8\n" * 11)
    with pytest.raises(DatasetError, match=r"000009/cover.label: 11 lines but groundtruth.txt has 12 frames"):
        get_probe("got10k-occlusion", root=tmp_path)


def test_missing_frame_and_bad_meta(tmp_path):
    split = make_got10k(tmp_path, n_videos=2)
    (split / "GOT-10k_Train_000001" / "00000005.jpg").unlink()
    (split / "GOT-10k_Train_000002" / "meta_info.ini").write_text("[METAINFO]\nurl: x\n")
    with pytest.raises(DatasetError) as ei:
        get_probe("got10k-occlusion", root=tmp_path)
    assert "000001: 11 .jpg frames but groundtruth.txt has 12 lines" in str(ei.value)
    assert "000002/meta_info.ini: no 'object_class" in str(ei.value)


@pytest.mark.parametrize(("box", "what"), [((5, 5, 0, 10), "zero area"), ((500, 400, 20, 20), "outside the 64x48 image")])
def test_bad_boxes(tmp_path, box, what):
    boxes = [(4, 3, 30, 20)] * 12
    boxes[11] = box  # frame 11 is the only cover-0 frame: always selected
    write_got_video(tmp_path / "train", "GOT-10k_Train_000001", fixture_cover(), boxes=boxes)
    (tmp_path / "train" / "list.txt").write_text("GOT-10k_Train_000001\n")
    with pytest.raises(DatasetError, match=rf"00000012.jpg: box .* {what} \(groundtruth.txt line 12\)"):
        get_probe("got10k-occlusion", root=tmp_path)
    p = get_probe("got10k-occlusion", root=tmp_path, on_error="skip")
    assert len(p) == 8 and p.params["left_out"]["frames_with_bad_box"] == 1
