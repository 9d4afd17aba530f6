from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from invariance_lab.datasets import manifests
from invariance_lab.probes import get_probe, list_probes


@pytest.mark.parametrize("name", ["aloi", "got10k", "pascal3d", "imagenet"])
def test_data_manifest_schema(name):
    d = manifests.load_data_manifest(name)
    assert manifests.validate_data_manifest(d) == []
    assert set(d["probes"]) <= set(list_probes())
    assert d["citation"].lstrip().startswith("@")
    if d["access"] == "registration":
        assert d["registration_url"].startswith("http")


def test_every_real_probe_has_a_manifest():
    for p in ["aloi-viewpoint", "aloi-illum-dir", "aloi-illum-color", "got10k-occlusion", "pascal3d-instance",
              "pascal3d-viewpoint-instance", "crop"]:
        assert manifests.dataset_of_probe(p) is not None, p


def test_registration_datasets():
    assert manifests.load_data_manifest("got10k")["access"] == "registration"
    assert manifests.load_data_manifest("aloi")["access"] == "open"


def test_validator_catches_errors():
    d = yaml.safe_load((manifests.manifests_dir() / "aloi.yaml").read_text())
    d["archives"][3]["md5"] = "xyz"
    d["access"] = "registration"
    d["sources"][0]["tag"] = "rumour"
    del d["counts"]
    assert manifests.validate_data_manifest(d) == ["missing field 'counts'"]
    d["counts"] = {}
    errs = manifests.validate_data_manifest(d)
    assert any("registration_url" in e for e in errs) and any("md5" in e for e in errs) and any("sources[0]" in e for e in errs)


def test_probe_manifest_round_trip(data_root, tmp_path):
    p = get_probe("got10k-occlusion", root=data_root)
    sha = manifests.write_probe_manifest(p, tmp_path / "got.json")
    raw = (tmp_path / "got.json").read_bytes()
    assert raw.endswith(b"\n") and b": " not in raw[:200]
    data = json.loads(raw)
    assert data["schema"] == "invariance_lab.probe/v1" and data["n_sets"] == 4 and data["n_images"] == 31
    assert data["items"][0] == {"path": "GOT-10k_Train_000001/00000012.jpg", "set": "GOT-10k_Train_000001", "class": "sea_lion",
                                "factor": 0, "box": list(p.items[0].box)}
    assert data["params"]["left_out"]["cover_span_below_min"] == 1
    q = manifests.load_probe_manifest(tmp_path / "got.json", root=p.root)
    assert q.items == p.items and q.digest() == p.digest()
    assert manifests.write_probe_manifest(q, tmp_path / "again.json") == sha
    data["items"][0]["set"] = "edited"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="digest"):
        manifests.load_probe_manifest(tmp_path / "bad.json")


@pytest.mark.parametrize("name", ["aloi", "got10k", "pascal3d", "imagenet"])
def test_each_probe_states_the_command_deriving_its_frozen_manifest(name, data_root, tmp_path):
    """The stated command parses as `data prepare PROBE … --manifest-out`, and on the fixture data writes the probe's manifest."""
    import shlex

    from invariance_lab.cli import build_parser
    from invariance_lab.cli.data import prepare as prepare_command

    d = manifests.load_data_manifest(name)
    assert sorted(d["derive_probe_manifests"]) == sorted(d["probes"])
    for probe, cmd in d["derive_probe_manifests"].items():
        argv = shlex.split(cmd)
        assert argv[:4] == ["invariance-lab", "data", "prepare", probe]
        out = tmp_path / f"{probe}.json"
        args = build_parser().parse_args([a if a != "DIR" else str(data_root) for a in argv[1:]] + ["--size", "8", "--cache-dir", str(tmp_path / "c")])
        assert args.func is prepare_command and args.name == probe and args.root == str(data_root)
        args.manifest_out = str(tmp_path / Path(args.manifest_out).name)
        assert args.func(args) == 0
        orig = get_probe(probe, root=data_root, **dict(args.probe_option))
        assert json.loads(out.read_text())["digest"] == orig.digest()
        frozen = get_probe(f"manifest:{out}", root=data_root)  # and it runs again as manifest:FILE
        assert frozen.digest() == orig.digest() and frozen.items == orig.items and frozen.root == orig.root


def test_validator_wants_a_derive_command_per_probe():
    d = yaml.safe_load((manifests.manifests_dir() / "pascal3d.yaml").read_text())
    del d["derive_probe_manifests"]["pascal3d-instance"]
    d["derive_probe_manifests"]["pascal3d-viewpoint-instance"] = "invariance-lab data prepare pascal3d-instance --root DIR"
    errs = manifests.validate_data_manifest(d)
    assert len(errs) == 2 and all("derive_probe_manifests['pascal3d-" in e for e in errs)
