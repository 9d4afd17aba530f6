"""CLI option handling: strict-mode settings, paper mode's warning, unusable devices and sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from invariance_lab.cli import main


def _tied_features(path, rng):
    """ReLU-like features: 85 % exact zeros in every column, so the lower tail ties at q = 5 %."""
    inst = np.repeat(np.arange(30), 6)
    feat = np.maximum(rng.normal(size=(len(inst), 24)) - 1.04, 0).astype(np.float32)
    np.savez(path, feat=feat, instance=inst, classes=inst % 3)
    return feat


def test_tie_tolerance_reaches_strict_mode(tmp_path, capsys):
    _tied_features(tmp_path / "f.npz", np.random.default_rng(0))
    out = {}
    for tol in ("2", "40"):
        rc = main(["score", str(tmp_path / "f.npz"), "--mode", "strict", "--n-boot", "0", "--tie-tolerance", tol,
                   "--json", str(tmp_path / f"s{tol}.json")])  # fmt: skip
        assert rc == 0
        out[tol] = json.loads((tmp_path / f"s{tol}.json").read_text())
    assert out["2"]["params"]["tie_tolerance"] == 2.0 and out["40"]["params"]["tie_tolerance"] == 40.0
    # the lower tails (G ≈ 0.85, far above 2q) are excluded at 2 and kept once the tolerance allows them
    assert out["2"]["n_units_excluded"] >= 24 > out["40"]["n_units_excluded"]
    assert "per_class" in out["2"] and set(out["2"]["per_class"]) == {"0", "1", "2"}


def test_strict_options_in_paper_mode_warn(tmp_path, capsys):
    _tied_features(tmp_path / "f.npz", np.random.default_rng(1))
    assert main(["score", str(tmp_path / "f.npz"), "--k", "10", "--firing-rate", "0.1", "--tie-tolerance", "3"]) == 0
    err = capsys.readouterr().err
    assert "--firing-rate, --tie-tolerance: strict-mode settings, ignored in paper mode" in err
    assert main(["score", str(tmp_path / "f.npz"), "--k", "10", "--mode", "strict", "--firing-rate", "0.1", "--n-boot", "0"]) == 0
    assert "ignored" not in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--device", "cuda", "finds no CUDA GPU"), ("--device", "gpu0", "unknown device"), ("--batch-size", "0", "batch size")],
)
def test_unusable_run_options_fail_before_any_work(tmp_path, capsys, option, value, message):
    folder = tmp_path / "sets" / "c" / "s"
    folder.mkdir(parents=True)  # no images: were the probe built first, the error would be "no images"
    rc = main(["evaluate", "--encoder", "tv:resnet18", "--probe", f"folder:{tmp_path / 'sets'}", option, value,
               "--out", str(tmp_path / "out"), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
