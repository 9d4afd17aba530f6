"""`manifest:PATH`: a probe rebuilt from a frozen manifest written by `data prepare --manifest-out`."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from invariance_lab.cli import main as cli_main
from invariance_lab.datasets import DatasetError
from invariance_lab.datasets._common import DatasetNotFound
from invariance_lab.encoders import load_encoder, save_encoder
from invariance_lab.errors import ProbeError
from invariance_lab.features import extract_features
from invariance_lab.probes import get_probe
from tests.datasets.fixtures import make_aloi


@pytest.fixture(scope="module")
def got_manifest(data_root, tmp_path_factory):
    """`data prepare got10k-occlusion --manifest-out` on the shared fixture, and a second lab's copy of the data."""
    tmp = tmp_path_factory.mktemp("man")
    out = tmp / "got.json"
    rc = cli_main(["data", "prepare", "got10k-occlusion", "--root", str(data_root), "--size", "16",
                   "--cache-dir", str(tmp / "cache"), "--manifest-out", str(out)])  # fmt: skip
    assert rc == 0
    other = tmp / "other_lab"
    shutil.copytree(data_root / "GOT-10k", other / "GOT-10k")
    return out, other


def test_manifest_rebuilds_the_same_probe_elsewhere(data_root, got_manifest):
    path, other = got_manifest
    orig = get_probe("got10k-occlusion", root=data_root)
    data = json.loads(path.read_text())
    assert data["root_rel"] == "GOT-10k/train" and data["digest"] == orig.digest()
    first = orig.resolve(orig.items[0])
    assert data["items"][0]["bytes"] == first.stat().st_size
    assert data["items"][0]["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()

    p = get_probe(f"manifest:{path}", root=other)  # another data root with the same dataset
    assert p.name == "got10k-occlusion" and p.digest() == orig.digest()
    assert p.items == orig.items and p.labels() == orig.labels()  # boxes, sets, classes, cover levels
    assert p.root == (other / "GOT-10k" / "train").resolve()
    assert p.resolve(p.items[0]).read_bytes() == first.read_bytes()
    # the dataset folder itself, and the data root from the environment
    assert get_probe(f"manifest:{path}", dataset_root=other / "GOT-10k" / "train").items == orig.items


def test_manifest_probe_on_the_command_line(data_root, tmp_path, monkeypatch):
    make_aloi(tmp_path / "d", objects=(4,), collections=("col",))
    man = tmp_path / "col.json"
    assert cli_main(["data", "prepare", "aloi-illum-color", "--root", str(tmp_path / "d"), "--size", "32",
                     "--cache-dir", str(tmp_path / "c"), "--manifest-out", str(man)]) == 0  # fmt: skip
    torch.manual_seed(0)
    enc = load_encoder("tv:resnet18", preprocessing={"input_size": (32, 32)})
    orig = get_probe("aloi-illum-color", root=tmp_path / "d")
    monkeypatch.setenv("INVARIANCE_LAB_DATA", str(tmp_path / "d"))
    frozen = get_probe(f"manifest:{man}")
    kw = dict(use_cache=False, progress=False, prepared=False, device="cpu")
    assert np.array_equal(extract_features(enc, frozen, **kw)["pooled"].feat, extract_features(enc, orig, **kw)["pooled"].feat)
    save_encoder(enc, tmp_path / "r18.pth")
    rc = cli_main(["evaluate", "--encoder", str(tmp_path / "r18.pth"), "--probe", f"manifest:{man}", "--data-root",
                   str(tmp_path / "d"), "--out", str(tmp_path / "out"), "--no-cache", "--no-progress", "--k", "5"])  # fmt: skip
    assert rc == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {r["probe"] for r in res["results"]} == {"aloi-illum-color"} and res["results"][0]["n_images"] == 12


def _copy(got_manifest, tmp_path):
    path, other = got_manifest
    root = tmp_path / "lab"
    shutil.copytree(other, root)
    return path, root


def test_missing_and_changed_files_are_named(got_manifest, tmp_path):
    path, root = _copy(got_manifest, tmp_path)
    p = get_probe(f"manifest:{path}", root=root)
    gone, grown, same = (p.resolve(p.items[i]) for i in (3, 9, 20))
    gone.unlink()
    grown.write_bytes(grown.read_bytes() + b"\0")
    raw = bytearray(same.read_bytes())
    raw[-3] ^= 0xFF  # same size, other bytes
    same.write_bytes(bytes(raw))
    with pytest.raises(DatasetError) as ei:
        get_probe(f"manifest:{path}", root=root)
    msg = str(ei.value)
    assert "2 of 31 image files" in msg and f"{gone}: missing" in msg and f"{grown}: changed: " in msg
    assert str(same) not in msg  # sizes alone cannot see it ...
    with pytest.raises(DatasetError) as ei:
        get_probe(f"manifest:{path}", root=root, verify="sha256")
    assert f"{same}: changed: sha256 differs" in str(ei.value) and "3 of 31" in str(ei.value)  # ... hashes can
    assert len(get_probe(f"manifest:{path}", root=root, verify="none")) == 31


def test_bad_manifests(got_manifest, tmp_path):
    path, other = got_manifest
    with pytest.raises(DatasetNotFound, match=r"first image 'GOT-10k_Train_000001/.*' is not under .*empty/GOT-10k/train or .*empty"):
        get_probe(f"manifest:{path}", root=tmp_path / "empty")
    data = json.loads(path.read_text())
    data["items"][1]["class"] = "walrus"
    (tmp_path / "edited.json").write_text(json.dumps(data))
    with pytest.raises(ProbeError, match="edited.json: item list does not match its recorded digest"):
        get_probe(f"manifest:{tmp_path / 'edited.json'}", root=other)
    (tmp_path / "not.json").write_text('{"schema": "something/else"}')
    with pytest.raises(ProbeError, match="not.json: not a probe manifest"):
        get_probe(f"manifest:{tmp_path / 'not.json'}", root=other)
    with pytest.raises(ProbeError, match="no probe manifest .*nope.json .*--manifest-out"):
        get_probe(f"manifest:{tmp_path / 'nope.json'}", root=other)
    with pytest.raises(ProbeError, match=r"takes no selection options \(got \['seed'\]\)"):
        get_probe(f"manifest:{path}", root=other, seed=3)
    with pytest.raises(ProbeError, match="needs a path"):
        get_probe("manifest", root=other)
