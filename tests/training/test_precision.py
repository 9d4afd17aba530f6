"""Precision and memory-format options of the shared loop on CPU: bf16 autocast, channels_last,
torch.compile, and the refusals for options that need CUDA (fp16 with a scaler, SyncBN)."""

from __future__ import annotations

import math

import pytest

from invariance_lab.training import TrainingError, train
from tests.training.conftest import tiny


def _losses(tmp_path, image_dir, name, **kw):
    return train(tiny("mocov2", tmp_path / name, image_dir, epochs=1, max_steps=1, workers=0, **kw))["losses"]


def test_bf16_autocast_runs_in_bf16_and_stays_close_to_fp32(tmp_path, image_dir):
    fp32 = _losses(tmp_path, image_dir, "fp32", amp="none")
    bf16 = _losses(tmp_path, image_dir, "bf16", amp="bf16")
    assert all(math.isfinite(x) for x in bf16)
    # Same initial weights, data and queue: the first InfoNCE loss (about log(queue + 1)) agrees
    # to bf16's ~3 significant digits, but not bit for bit (so autocast really ran in bf16).
    assert bf16[0] != fp32[0]
    assert abs(bf16[0] - fp32[0]) / fp32[0] < 0.02


def test_channels_last_gives_the_same_losses(tmp_path, image_dir):
    a = _losses(tmp_path, image_dir, "contig", channels_last="off")
    b = _losses(tmp_path, image_dir, "cl", channels_last="on")
    assert all(abs(x - y) < 1e-4 * abs(x) for x, y in zip(a, b, strict=True))


def test_fp16_on_cpu_is_refused_with_the_alternative(tmp_path, image_dir):
    with pytest.raises(TrainingError, match="bf16"):
        _losses(tmp_path, image_dir, "fp16", amp="fp16")
    assert not (tmp_path / "fp16" / "checkpoint.pt").exists()


def test_sync_bn_on_cpu_is_refused_with_the_alternatives(tmp_path, image_dir):
    with pytest.raises(TrainingError, match="split:G"):
        _losses(tmp_path, image_dir, "sync", bn_mode="sync")


@pytest.mark.slow
def test_compiled_network_matches_eager(tmp_path, image_dir):
    eager = _losses(tmp_path, image_dir, "eager")
    compiled = _losses(tmp_path, image_dir, "compiled", compile=True)
    assert all(abs(x - y) < 1e-3 * abs(x) for x, y in zip(eager, compiled, strict=True))
