"""The shared loop: bit-exact resume, checkpoints that `load_encoder` reads, CLI, errors."""

from __future__ import annotations

import csv

import pytest
import torch

import invariance_lab
from invariance_lab.cli import main
from invariance_lab.encoders import DEFAULT_LAYER
from invariance_lab.training import TrainingError, train
from invariance_lab.training.checkpoint import load_checkpoint
from tests.training.conftest import tiny


def _same_state(a: dict, b: dict) -> list[str]:
    assert set(a) == set(b)
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.mark.parametrize("method", ["mocov2", "pirl"])
def test_resume_is_bit_exact(tmp_path, image_dir, method):
    full = train(tiny(method, tmp_path / "full", image_dir))
    part = train(tiny(method, tmp_path / "part", image_dir, max_steps=5, ckpt_every=3))
    assert part["global_step"] == 5
    pos = load_checkpoint(tmp_path / "part" / "checkpoint.pt")["position"]
    assert (pos["epoch"], pos["step"]) == (1, 1)  # 4 steps per epoch: stopped inside epoch 1
    rest = train(tiny(method, tmp_path / "part", image_dir, resume="auto"))
    assert rest["global_step"] == full["global_step"] == 8
    assert part["losses"] + rest["losses"] == full["losses"]
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoint.pt")
    assert _same_state(a["model"], b["model"]) == []
    assert _same_state(a["encoder"], b["encoder"]) == []
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.equal(sa[i]["momentum_buffer"], sb[i]["momentum_buffer"]) for i in sa)


def test_checkpoint_loads_in_evaluate_with_equal_features(tmp_path, image_dir):
    s = train(tiny("mocov2", tmp_path, image_dir, epochs=1))
    ck = torch.load(s["checkpoint"], weights_only=True)
    assert ck["format"] == "invariance-lab-train" and ck["version"] == 1
    assert ck["method"] == "mocov2" and ck["arch"] == "tv:resnet18"
    assert "queue.keys" in ck["model"] and not any(k.startswith("fc.") for k in ck["encoder"])
    enc = invariance_lab.load_encoder(s["checkpoint"])
    assert enc.load_report["format"] == "invariance-lab-train"
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    backbone = s["method"].backbone.eval()
    with torch.no_grad():
        want = backbone(x)
        got = enc.feature_module([DEFAULT_LAYER])(x)[DEFAULT_LAYER]
    assert torch.allclose(got, want, atol=1e-5)


def test_pirl_checkpoint_keeps_bank_sized_to_dataset(tmp_path, image_dir):
    s = train(tiny("pirl", tmp_path, image_dir, epochs=1))
    ck = torch.load(s["checkpoint"], weights_only=True)
    assert ck["model"]["bank.bank"].shape == (32, 128)
    assert float(ck["model"]["nce_z"]) > 0
    invariance_lab.load_encoder(s["checkpoint"])


def test_cli_trains_and_logs(tmp_path, image_dir):
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "moco",
            "--arch",
            "tv:resnet18",
            "--data",
            str(image_dir),
            "--image-size",
            "32",
            "--batch-size",
            "8",
            "--queue-size",
            "16",
            "--bn-mode",
            "plain",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--no-progress",
            "--log-every",
            "1",
        ]
    )
    assert rc == 0
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert len(rows) == 4 and float(rows[0]["lr"]) == pytest.approx(0.03 * 8 / 256)
    cfg = load_checkpoint(out / "checkpoint.pt")["config"]
    assert cfg["temperature"] == 0.07 and cfg["mlp"] is False and cfg["aug"] == "v1"


def test_cli_errors_name_the_option(tmp_path, image_dir, capsys):
    rc = main(
        [
            "train",
            "mocov2",
            "--data",
            str(image_dir),
            "--bn-mode",
            "shuffle",
            "--out",
            str(tmp_path),
            "--arch",
            "tv:resnet18",
        ]
    )
    assert rc == 2 and "--bn-mode shuffle" in capsys.readouterr().err
    with pytest.raises(TrainingError, match="--data"):
        train(tiny("mocov2", tmp_path, tmp_path / "missing"))
    with pytest.raises(TrainingError, match="--resume"):
        train(tiny("mocov2", tmp_path, image_dir, resume=str(tmp_path / "nope.pt")))


def test_v2_defaults_are_the_papers():
    from invariance_lab.training import TrainConfig

    c = TrainConfig.for_method("mocov2")
    assert (c.arch, c.dim, c.queue_size, c.moco_m, c.temperature, c.mlp, c.aug, c.schedule) == (
        "tv:resnet50",
        128,
        65536,
        0.999,
        0.2,
        True,
        "v2",
        "cos",
    )
    assert (c.lr, c.sgd_momentum, c.weight_decay, c.epochs, c.batch_size, c.crop_scale) == (
        0.03,
        0.9,
        1e-4,
        200,
        256,
        (0.2, 1.0),
    )
    p = TrainConfig.for_method("pirl")
    assert (p.n_negatives, p.bank_momentum, p.pirl_lambda, p.temperature) == (32000, 0.5, 0.5, 0.07)


def test_lr_schedules_follow_main_moco():
    from invariance_lab.training import TrainConfig
    from invariance_lab.training.loop import lr_at

    v1 = TrainConfig.for_method("moco", batch_size=512)
    assert [lr_at(v1, e) for e in (0, 119, 120, 159, 160)] == pytest.approx(
        [0.06, 0.06, 0.006, 0.006, 0.0006]
    )
    v2 = TrainConfig.for_method("mocov2")
    assert [lr_at(v2, e) for e in (0, 100, 200)] == pytest.approx([0.03, 0.015, 0.0])


def test_trainer_format_refuses_newer_versions_and_is_detected_alone():
    from invariance_lab.encoders import detect_format
    from invariance_lab.encoders._loading import Checkpoint
    from invariance_lab.encoders.formats.trainer import to_state
    from invariance_lab.errors import CheckpointError

    obj = {
        "format": "invariance-lab-train",
        "version": 1,
        "arch": "tv:resnet18",
        "encoder": {"conv1.weight": torch.zeros(1)},
        "model": {"queue.keys": torch.zeros(2, 2)},
        "optimizer": {"state": {}},
    }
    ck = Checkpoint(
        path="x.pt",
        obj=obj,
        keys=["encoder/conv1.weight", "model/queue.keys"],
        meta={"format": "invariance-lab-train", "version": 1},
    )
    assert detect_format(ck).name == "invariance-lab-train"
    assert list(to_state(obj)) == ["conv1.weight"]
    with pytest.raises(CheckpointError, match="upgrade"):
        to_state({**obj, "version": 2})


def test_views_do_not_depend_on_worker_count(tmp_path, image_dir):
    a = train(tiny("mocov2", tmp_path / "w0", image_dir, epochs=1, workers=0))
    b = train(tiny("mocov2", tmp_path / "w2", image_dir, epochs=1, workers=2))
    assert a["losses"] == b["losses"]
