from __future__ import annotations

import json

from invariance_lab.cli import main as cli_main
from invariance_lab.datasets.prepare import find_prepared
from invariance_lab.encoders import Preprocessing
from invariance_lab.probes import get_probe
from tests.datasets.fixtures import make_aloi, make_got10k


def test_data_list(data_root, tmp_path, capsys):
    assert cli_main(["data", "list", "--root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert "got10k-occlusion" in out and "found: 31 images in 4 sets" in out
    assert "aloi-viewpoint" in out and "found: 288 images in 4 sets" in out
    assert "[registration]" in out
    assert cli_main(["data", "list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "aloi-viewpoint" in out and "missing: aloi-viewpoint: no ALOI 'view' collection" in out


def test_data_check_ok(data_root, capsys):
    assert cli_main(["data", "check", "got10k", "--root", str(data_root)]) == 0
    assert "all probes can run" in capsys.readouterr().out
    assert cli_main(["data", "check", "pascal3d-instance", "--root", str(data_root)]) == 0


def test_data_check_lists_every_problem(tmp_path, capsys):
    folders = make_aloi(tmp_path, objects=(1, 2), collections=("view", "col"))
    (folders["view"] / "1" / "1_r90.png").unlink()
    t = folders["view"] / "2" / "2_r40.png"
    t.write_bytes(t.read_bytes()[:70])
    (folders["col"] / "2" / "2_i130.png").write_bytes(b"\x89PNG garbage")
    report = tmp_path / "r.json"
    assert cli_main(["data", "check", "aloi", "--root", str(tmp_path), "--json", str(report)]) == 1
    out = capsys.readouterr().out
    assert "1_r90.png: missing" in out
    assert "2_r40.png: cannot decode" in out
    assert "2_i130.png: cannot decode" in out
    assert "aloi-illum-dir: NOT FOUND" in out
    rep = json.loads(report.read_text())
    probs = {p["name"]: [q["path"].rsplit("/", 1)[1] for q in p["problems"]] for p in rep["probes"]}
    assert probs == {"aloi-viewpoint": ["1_r90.png", "2_r40.png"], "aloi-illum-dir": [], "aloi-illum-color": ["2_i130.png"]}
    assert cli_main(["data", "check", "aloi-illum-color", "--root", str(tmp_path), "--no-decode"]) == 0


def test_data_check_not_found(tmp_path, capsys):
    assert cli_main(["data", "check", "got10k", "--root", str(tmp_path)]) == 2
    assert "NOT FOUND" in capsys.readouterr().out


def test_data_check_got_bad_labels(tmp_path, capsys):
    split = make_got10k(tmp_path, n_videos=2)
    (split / "GOT-10k_Train_000002" / "cover.label").write_text("8\n3\n")
    assert cli_main(["data", "check", "got10k", "--root", str(tmp_path)]) == 1
    assert "000002/cover.label: 2 lines but groundtruth.txt has 12 frames" in capsys.readouterr().out


def test_data_prepare(data_root, tmp_path, capsys):
    args = ["data", "prepare", "got10k-occlusion", "--root", str(data_root), "--size", "32", "--cache-dir", str(tmp_path),
            "--manifest-out", str(tmp_path / "got.json"), "--probe-option", "selection=balanced"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "prepared 27 images at 32x32" in out
    probe = get_probe("got10k-occlusion", root=data_root, selection="balanced")
    assert find_prepared(probe, Preprocessing(input_size=(32, 32)), tmp_path) is not None
    assert json.loads((tmp_path / "got.json").read_text())["params"]["selection"] == "balanced"
    assert cli_main(args) == 0
    assert "decoded 0 now" in capsys.readouterr().out


def test_data_check_archive_checksum(tmp_path, capsys):
    make_aloi(tmp_path, objects=(1,), collections=("view", "ill", "col"))
    (tmp_path / "aloi_red4_view.tar").write_bytes(b"not the published archive")
    assert cli_main(["data", "check", "aloi", "--root", str(tmp_path), "--no-decode"]) == 1
    out = capsys.readouterr().out
    assert "aloi_red4_view.tar: BAD md5" in out and "expected ca29f342bb0c1fa4788e9f76f591ec59" in out
