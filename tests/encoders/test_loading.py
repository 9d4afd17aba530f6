"""Strict loading: what fills the backbone, what is dropped, what is refused, and with which message."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from encoders_testlib import features, pooled_resnet, prefixed
from safetensors.torch import save_file

from invariance_lab.encoders import (
    DEFAULT_LAYER,
    load_encoder,
    load_strict,
    safe_load,
    state_dict_digest,
)
from invariance_lab.encoders._loading import HEAD_NOT_IN_CHECKPOINT
from invariance_lab.errors import CheckpointError


@pytest.fixture
def sd(source_model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in source_model.state_dict().items()}


def _assert_same_features(enc, source_model, batch):
    torch.testing.assert_close(
        features(enc, batch)[DEFAULT_LAYER], pooled_resnet(source_model, batch), atol=1e-6, rtol=0
    )


@pytest.mark.parametrize("container", ["state_dict", "model"])
def test_module_prefix_under_container_loads_identically(
    tmp_path, sd, source_model, batch, container
):
    path = tmp_path / "ddp.pth"
    torch.save({container: prefixed(sd, "module."), "epoch": 3}, path)
    enc = load_encoder("tv:resnet18", weights=path)
    assert enc.digest == state_dict_digest(sd)
    assert enc.load_report["format"] == "plain"
    assert enc.load_report["n_loaded"] == len(sd)
    assert enc.load_report["head"] == "loaded from checkpoint"
    _assert_same_features(enc, source_model, batch)


def test_checkpoint_path_with_arch(tmp_path, sd, source_model, batch):
    path = tmp_path / "plain.pt"
    torch.save(sd, path)
    enc = load_encoder(str(path), arch="resnet18")
    assert (enc.family, enc.arch, enc.name) == ("torchvision", "resnet18", "plain.pt")
    _assert_same_features(enc, source_model, batch)


def test_safetensors_weights(tmp_path, sd, source_model, batch):
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    enc = load_encoder("tv:resnet18", weights=path)
    assert enc.digest == state_dict_digest(sd)
    _assert_same_features(enc, source_model, batch)


def test_missing_backbone_key_is_listed(tmp_path, sd):
    del sd["layer2.0.conv1.weight"]
    path = tmp_path / "missing.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as err:
        load_encoder("tv:resnet18", weights=path)
    msg = str(err.value)
    assert "layer2.0.conv1.weight" in msg and "missing backbone keys (1)" in msg
    assert str(path) in msg and "--format" in msg and "--arch" in msg


def test_unexpected_key_is_listed(tmp_path, sd):
    sd["extra_block.weight"] = torch.zeros(3)
    path = tmp_path / "extra.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"unexpected keys \(1\):\s+extra_block\.weight"):
        load_encoder("tv:resnet18", weights=path)


def test_backbone_shape_mismatch_is_listed(sd, source_model):
    sd["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(
        CheckpointError, match=r"conv1\.weight: checkpoint \(64, 3, 3, 3\) vs model \(64, 3, 7, 7\)"
    ):
        load_strict(source_model, sd, source="x.pth", known_heads=(), head="fc")


def test_head_of_other_size_is_dropped_and_reported(tmp_path, sd, source_model, batch):
    sd["fc.weight"], sd["fc.bias"] = torch.zeros(10, 512), torch.zeros(10)
    path = tmp_path / "head10.pth"
    torch.save(sd, path)
    enc = load_encoder("tv:resnet18", weights=path)
    assert set(enc.load_report["dropped"]) == {"fc.weight", "fc.bias"}
    assert "(10, 512)" in enc.load_report["dropped"]["fc.weight"]
    assert enc.load_report["head"].startswith("dropped")
    _assert_same_features(enc, source_model, batch)


def test_headless_ssl_backbone_with_projector(tmp_path, sd, source_model, batch):
    del sd["fc.weight"], sd["fc.bias"]
    sd["projector.0.weight"] = torch.zeros(128, 512)
    path = tmp_path / "ssl.pth"
    torch.save({"state_dict": sd}, path)
    enc = load_encoder("tv:resnet18", weights=path)
    assert enc.load_report["head"] == HEAD_NOT_IN_CHECKPOINT
    assert list(enc.load_report["dropped"]) == ["projector.0.weight"]
    _assert_same_features(enc, source_model, batch)
    # The unfilled head comes from the seeded init, so the digest is reproducible.
    assert load_encoder("tv:resnet18", weights=path).digest == enc.digest


def test_missing_num_batches_tracked_is_allowed_and_reported(sd, source_model):
    counters = [k for k in sd if k.endswith("num_batches_tracked")]
    for k in counters:
        del sd[k]
    import torchvision

    report = load_strict(
        torchvision.models.resnet18(), sd, source="x.pth", known_heads=(), head="fc"
    )
    assert sorted(report["missing_allowed"]) == sorted(counters)


def test_long_key_lists_are_truncated_and_prefix_is_hinted(sd, source_model):
    wrapped = prefixed(sd, "encoder.")
    with pytest.raises(CheckpointError) as err:
        load_strict(source_model, wrapped, source="x.pth", known_heads=(), head="fc")
    msg = str(err.value)
    assert f"unexpected keys ({len(sd)})" in msg and f"and {len(sd) - 20} more" in msg
    assert "0 of 122 model keys matched" in msg
    assert "removing the prefix 'encoder.'" in msg


@pytest.mark.parametrize(
    "payload",
    [np.zeros(3), np.float64(0.5), np.dtype("float32"), argparse.Namespace(lr=0.1, arch="resnet50")],
    ids=["numpy-array", "numpy-scalar", "numpy-dtype", "namespace"],
)
def test_harmless_globals_load_without_trust(tmp_path, sd, payload):
    """What the releases pickle besides tensors (DINO/MoCo v3 `args`, NumPy numbers) is allow-listed."""
    path = tmp_path / "with_args.pth"
    torch.save({"state_dict": sd, "args": payload}, path)
    enc = load_encoder("tv:resnet18", weights=path)
    assert enc.load_report["pickled"] is False
    assert enc.digest == state_dict_digest(sd)


def test_pickle_needed_is_refused_without_trust(tmp_path, sd):
    from fractions import Fraction  # an arbitrary class: not on the allow-list

    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": sd, "extra": Fraction(1, 3)}, path)
    with pytest.raises(CheckpointError) as err:
        load_encoder("tv:resnet18", weights=path)
    msg = str(err.value)
    assert "--trust-checkpoint" in msg and str(path) in msg and "fractions.Fraction" in msg
    enc = load_encoder("tv:resnet18", weights=path, trust_checkpoint=True)
    assert enc.load_report["pickled"] is True
    assert enc.digest == state_dict_digest(sd)


def test_corrupt_file_names_the_file(tmp_path, sd):
    good = tmp_path / "good.pth"
    torch.save(sd, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated.pth"):
        safe_load(truncated)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="garbage.pth.*corrupt"):
        load_encoder("tv:resnet18", weights=garbage)
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        safe_load(bad_st)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_encoder(str(tmp_path / "nope.pth"), arch="resnet18")
