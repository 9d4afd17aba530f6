"""The command line end to end: evaluate, score, error cases with their messages and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from invariance_lab.cli import main
from invariance_lab.encoders import load_encoder, save_encoder
from invariance_lab.evaluate import evaluate
from invariance_lab.features import extract_features
from invariance_lab.metrics import score_features
from invariance_lab.probes import get_probe

REPO = Path(__file__).resolve().parents[2]


def _make_folder_probe(root: Path, n_classes=2, n_sets=4, n_images=5, size=40):
    rng = np.random.default_rng(0)
    for c in range(n_classes):
        for s in range(n_sets):
            base = rng.integers(0, 255, size=(size, size, 3))
            d = root / f"class{c}" / f"obj{s}"
            d.mkdir(parents=True)
            for i in range(n_images):
                img = np.clip(base + rng.normal(0, 20, size=base.shape), 0, 255).astype(np.uint8)
                Image.fromarray(np.roll(img, 3 * i, axis=1)).save(d / f"view{i}.png")
    return root


@pytest.fixture(scope="module")
def small_encoder(tmp_path_factory):
    torch.manual_seed(0)
    enc = load_encoder("tv:resnet18", preprocessing={"input_size": (48, 48)})
    path = tmp_path_factory.mktemp("enc") / "r18.pth"
    save_encoder(enc, path)
    return path


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    return _make_folder_probe(tmp_path_factory.mktemp("probe") / "sets")


def _cli(*argv, env_cache=None):
    return main([str(a) for a in argv])


def test_evaluate_cli_matches_api_and_writes_schema(tmp_path, small_encoder, probe_dir, capsys):
    out = tmp_path / "out"
    rc = _cli("evaluate", "--encoder", small_encoder, "--probe", f"folder:{probe_dir}", "--k", 5, "--k", 10,
              "--out", out, "--cache-dir", tmp_path / "cache", "--no-progress", "--layer", "pooled", "--layer", "layer3")
    assert rc == 0
    printed = capsys.readouterr().out
    assert "folder" in printed and "top5" in printed
    table = json.loads((out / "results.json").read_text())
    rows = table["results"]
    assert {"encoder", "probe", "layer", "metric", "mode", "k", "score", "ci_low", "ci_high", "n_images", "n_sets", "n_classes"} <= set(rows[0])
    assert len(rows) == 4 and {r["layer"] for r in rows} == {"pooled", "layer3"}
    assert table["versions"]["torch"].startswith("2.14") and table["encoders"]
    assert list(table["encoders"].values())[0]["digest"] == load_encoder(str(small_encoder)).digest
    api = evaluate(str(small_encoder), f"folder:{probe_dir}", ["pooled", "layer3"], ks=(5, 10), use_cache=False, progress=False)
    cli_scores = sorted((r["layer"], r["k"], r["score"]) for r in rows)
    api_scores = sorted(zip(api["layer"], api["k"], api["score"], strict=True))
    assert [a[:2] for a in cli_scores] == [a[:2] for a in api_scores]
    assert np.allclose([a[2] for a in cli_scores], [a[2] for a in api_scores], atol=1e-9)
    assert (out / "results.csv").read_text().startswith("encoder,probe,layer,metric")


def test_score_paper_file(tmp_path, capsys):
    from tests.metrics.paper_reference import reference_paper_scores

    rng = np.random.default_rng(0)
    inst = [int(i) for i in np.repeat(np.arange(1, 41), 6)]
    feat = np.zeros((240, 32))
    for i in range(240):  # as the paper's extract scripts: float64 np.zeros filled row by row
        feat[i] = rng.normal(size=32)
    torch.save({"feat": feat, "instance": inst, "classes": inst}, tmp_path / "alldata.pth")
    assert _cli("score", tmp_path / "alldata.pth", "--json", tmp_path / "s.json") == 0
    got = json.loads((tmp_path / "s.json").read_text())
    want = reference_paper_scores(feat, inst, inst)
    assert abs(got["top10"] - want[10]) <= 1e-6 and abs(got["top25"] - want[25]) <= 1e-6
    np.savez(tmp_path / "f.npz", feat=rng.normal(size=(240, 64)), instance=np.array(inst))
    assert _cli("score", tmp_path / "f.npz", "--mode", "strict", "--n-boot", 50, "--json", tmp_path / "t.json") == 0
    strict = json.loads((tmp_path / "t.json").read_text())
    assert strict["mode"] == "strict" and strict["top10_ci"][0] <= strict["top10"] <= strict["top10_ci"][1]


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("missing_key", "instance"),
        ("nan", "NaN or inf"),
        ("constant", "constant"),
        ("small_sets", "3 or more"),
    ],
)
def test_score_errors(tmp_path, capsys, case, pattern):
    rng = np.random.default_rng(0)
    feat = rng.normal(size=(60, 30))
    inst = np.repeat(np.arange(15), 4)
    if case == "missing_key":
        np.savez(tmp_path / "f.npz", feat=feat)
    elif case == "nan":
        feat[2, 5] = np.nan
        feat[41, 17] = -np.inf
        np.savez(tmp_path / "f.npz", feat=feat, instance=inst)
    elif case == "constant":
        np.savez(tmp_path / "f.npz", feat=np.ones((60, 30)), instance=inst)
    else:
        np.savez(tmp_path / "f.npz", feat=feat, instance=np.repeat(np.arange(30), 2))
    assert _cli("score", tmp_path / "f.npz") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and pattern in err
    if case == "missing_key":
        assert "f.npz" in err
    if case == "nan":  # the message names exactly the columns that hold a NaN or an inf
        bad = np.flatnonzero(~np.isfinite(feat).all(axis=0)).tolist()
        assert bad == [5, 17]
        assert f"NaN or inf in {len(bad)} neuron(s) (column indices {bad})" in err


def test_evaluate_errors(tmp_path, small_encoder, probe_dir, capsys):
    # unknown layer: lists the nearest names
    rc = _cli("evaluate", "--encoder", small_encoder, "--probe", f"folder:{probe_dir}", "--layer", "layer9",
              "--out", tmp_path / "o", "--no-cache", "--no-progress")
    assert rc == 2 and "layer4" in capsys.readouterr().err
    # empty probe
    (tmp_path / "empty").mkdir()
    rc = _cli("evaluate", "--encoder", small_encoder, "--probe", f"folder:{tmp_path / 'empty'}", "--out", tmp_path / "o", "--no-progress")
    assert rc == 2 and "no images" in capsys.readouterr().err
    # corrupt image: stop names the file; skip counts it
    bad = _make_folder_probe(tmp_path / "bad", n_classes=1, n_sets=4)
    (bad / "class0" / "obj1" / "view2.png").write_bytes(b"not a png")
    rc = _cli("evaluate", "--encoder", small_encoder, "--probe", f"folder:{bad}", "--out", tmp_path / "o2", "--k", 5,
              "--cache-dir", tmp_path / "c", "--no-progress")
    assert rc == 2 and "view2.png" in capsys.readouterr().err
    rc = _cli("evaluate", "--encoder", small_encoder, "--probe", f"folder:{bad}", "--out", tmp_path / "o3", "--k", 5,
              "--cache-dir", tmp_path / "c", "--on-error", "skip", "--no-progress")
    assert rc == 0
    rows = json.loads((tmp_path / "o3" / "results.json").read_text())["results"]
    assert rows[0]["n_images_skipped"] == 1 and rows[0]["n_images"] == 19
    # a checkpoint with a missing backbone key
    sd = torch.load(small_encoder, weights_only=True)["state_dict"]
    sd.pop("layer2.0.conv1.weight")
    torch.save(sd, tmp_path / "broken.pth")
    rc = _cli("evaluate", "--encoder", "tv:resnet18", "--weights", tmp_path / "broken.pth", "--probe", f"folder:{probe_dir}",
              "--out", tmp_path / "o4", "--no-progress")
    assert rc == 2 and "layer2.0.conv1.weight" in capsys.readouterr().err


def test_partial_results_survive_a_later_error(tmp_path, small_encoder, probe_dir, capsys):
    # the second probe builds and extracts, but every set has 2 images: scoring it fails after the
    # first probe was extracted and scored
    pair = 2
    pairs = _make_folder_probe(tmp_path / "pairs", n_classes=2, n_sets=3, n_images=pair)
    out, cache = tmp_path / "o", tmp_path / "cache"
    rc = _cli("evaluate", "--encoder", small_encoder, "--probe", f"folder:{probe_dir}", "--probe", f"folder:{pairs}",
              "--out", out, "--cache-dir", cache, "--device", "cpu", "--batch-size", 16, "--no-progress", "--k", 5, "--k", 10)
    assert rc == 2
    err = capsys.readouterr().err
    assert f"no set has 3 or more images (largest has {pair})" in err
    assert "results.partial.csv" in err
    assert not (out / "results.json").exists() and not (out / "results.csv").exists()
    # the partial files hold the first probe's rows, with the scores an API run of it alone gives
    first = get_probe(f"folder:{probe_dir}")
    rows = json.loads((out / "results.partial.json").read_text())["results"]
    table = pd.read_csv(out / "results.partial.csv")
    assert len(rows) == len(table) == 2
    assert {r["probe_digest"] for r in rows} == set(table["probe_digest"]) == {first.digest()}
    assert {r["n_images"] for r in rows} == {len(first)}
    api = evaluate(str(small_encoder), first, "pooled", ks=(5, 10), device="cpu", use_cache=False, progress=False)
    want = dict(zip(api["k"], api["score"], strict=True))
    assert sorted(want) == sorted(r["k"] for r in rows) == sorted(table["k"])
    for r in rows:
        assert r["score"] == pytest.approx(want[r["k"]], abs=1e-9)
    for k, score in zip(table["k"], table["score"], strict=True):
        assert score == pytest.approx(want[k], abs=1e-6)  # CSV text round trip
    # the first probe's features stayed cached: rerunning it alone computes nothing
    fs = extract_features(load_encoder(str(small_encoder)), first, "pooled", cache_dir=cache, device="cpu", batch_size=16,
                          progress=False)["pooled"]
    assert fs.provenance["cache"]["hit_shards"] and fs.provenance["cache"]["computed_shards"] == []


def test_evaluate_cli_features_equal_api_features_bytewise(tmp_path, capsys):
    # tv:resnet18 without weights is built under a fixed seed, so the CLI and this test load the same encoder
    sets = _make_folder_probe(tmp_path / "sets", n_classes=2, n_sets=2, n_images=3, size=32)
    cache, out = tmp_path / "cache", tmp_path / "o"
    rc = _cli("evaluate", "--encoder", "tv:resnet18", "--probe", f"folder:{sets}", "--out", out, "--cache-dir", cache,
              "--device", "cpu", "--batch-size", 4, "--k", 5, "--no-progress")
    assert rc == 0
    capsys.readouterr()
    enc, probe = load_encoder("tv:resnet18"), get_probe(f"folder:{sets}")
    assert json.loads((out / "results.json").read_text())["results"][0]["encoder_digest"] == enc.digest
    kw = {"device": "cpu", "batch_size": 4, "progress": False}
    cached = extract_features(enc, probe, "pooled", cache_dir=cache, **kw)["pooled"]
    assert cached.provenance["cache"]["hit_shards"] and cached.provenance["cache"]["computed_shards"] == []
    fresh = extract_features(enc, probe, "pooled", use_cache=False, **kw)["pooled"]
    assert fresh.provenance["cache"]["computed_shards"] and fresh.provenance["cache"]["hit_shards"] == []
    assert cached.feat.shape == fresh.feat.shape and cached.feat.shape[0] == len(probe)
    assert cached.feat.dtype == fresh.feat.dtype
    assert cached.feat.tobytes() == fresh.feat.tobytes()
    # and the CLI's score is that of these features
    row = json.loads((out / "results.json").read_text())["results"][0]
    res = score_features(fresh.feat, fresh.set_ids, fresh.class_ids, mode="paper", ks=[5])
    assert row["score"] == pytest.approx(res.topk[5], abs=1e-9)


def test_strict_mode_refuses_sets_below_min_set_size(tmp_path, small_encoder, probe_dir, capsys):
    sizes = np.unique([it.set_id for it in get_probe(f"folder:{probe_dir}").items], return_counts=True)[1]
    largest = int(sizes.max())
    min_size = largest + 1  # every set is smaller
    rc = _cli("evaluate", "--encoder", small_encoder, "--probe", f"folder:{probe_dir}", "--mode", "strict",
              "--min-set-size", min_size, "--k", 5, "--out", tmp_path / "o", "--no-cache", "--no-progress")
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert f"every set has fewer than min_set_size = {min_size} images (largest: {largest})" in err
    assert "--min-set-size" in err
    assert not (tmp_path / "o" / "results.json").exists()


def test_module_entry_point_and_help():
    out = subprocess.run([sys.executable, "-m", "invariance_lab", "--help"], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0
    for cmd in ("evaluate", "score", "compare", "demo", "encoders", "data"):
        assert cmd in out.stdout


@pytest.mark.parametrize("bad", ["-1", "lots"])
def test_bad_workers_value_is_refused(bad, probe_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _cli("evaluate", "--encoder", "tv:resnet18", "--probe", f"folder:{probe_dir}", "--workers", bad, "--out", tmp_path)
    assert exc.value.code == 2 and "--workers" in capsys.readouterr().err
