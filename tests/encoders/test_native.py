"""This project's own file (`save_encoder`): exact round trip, safe to open, versioned."""

from __future__ import annotations

import pytest
import torch
from encoders_testlib import features

from invariance_lab.encoders import (
    DEFAULT_LAYER,
    Encoder,
    load_encoder,
    save_encoder,
    state_dict_digest,
)
from invariance_lab.errors import CheckpointError


@pytest.mark.parametrize("spec", ["tv:resnet18", "timm:resnet18"])
def test_round_trip_identical_features_and_digest(tmp_path, source_model, batch, spec):
    pre = {"input_size": (64, 64), "mean": (0.5, 0.5, 0.5)}
    built = load_encoder(spec, preprocessing=pre)
    # torchvision and timm resnet18 share key names, so both take the source weights.
    built.model.load_state_dict(source_model.state_dict())
    enc = Encoder(spec, built.arch, built.family, built.model, built.preprocessing)
    path = save_encoder(enc, tmp_path / "enc.pt", meta={"epoch": 7, "note": ["a", 1]})
    raw = torch.load(path, weights_only=True)  # opens without pickle
    assert raw["format"] == "invariance-lab" and raw["meta"]["epoch"] == 7
    back = load_encoder(str(path))
    assert (back.arch, back.family, back.preprocessing) == (enc.arch, enc.family, enc.preprocessing)
    assert back.digest == enc.digest == state_dict_digest(source_model.state_dict())
    assert back.load_report["format"] == "invariance-lab"
    a, b = (
        features(enc, batch, (DEFAULT_LAYER, "layer3")),
        features(back, batch, (DEFAULT_LAYER, "layer3")),
    )
    for k in a:
        assert torch.equal(a[k], b[k])


def test_meta_must_be_json_like(tmp_path):
    enc = load_encoder("tv:resnet18")
    with pytest.raises(TypeError, match="meta.args"):
        save_encoder(enc, tmp_path / "x.pt", meta={"args": object()})
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_recorded_arch_conflict_and_newer_version(tmp_path):
    enc = load_encoder("tv:resnet18")
    path = save_encoder(enc, tmp_path / "r18.pt")
    with pytest.raises(CheckpointError, match="records architecture 'tv:resnet18' but 'resnet34'"):
        load_encoder(str(path), arch="resnet34")
    with pytest.raises(CheckpointError, match="records architecture"):
        load_encoder("timm:resnet18", weights=path)
    raw = torch.load(path, weights_only=True)
    raw["version"] = 2
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="version 2.*upgrade"):
        load_encoder(str(path))
