"""Spec parsing and building: tv:/timm:/paths, preprocessing defaults, refusals with actionable messages."""

from __future__ import annotations

import re

import pytest
import torch

from invariance_lab.encoders import (
    IMAGENET_MEAN,
    Preprocessing,
    _arch,
    load_encoder,
    state_dict_digest,
)
from invariance_lab.errors import CheckpointError, EncoderSpecError


def test_random_init_is_reproducible():
    a, b = load_encoder("tv:resnet18"), load_encoder("tv:resnet18")
    assert a.digest == b.digest
    assert a.load_report["weights"].startswith("random init")


def test_default_preprocessing():
    tv = load_encoder("tv:resnet18")
    assert tv.preprocessing == Preprocessing()  # paper: 128x128, ImageNet mean/std
    vit = load_encoder("timm:vit_tiny_patch16_224")
    assert vit.preprocessing.input_size == (224, 224)  # fixed input size of a ViT
    assert vit.preprocessing.mean == (0.5, 0.5, 0.5)  # from timm's pretrained_cfg
    assert "fixed input size" in vit.load_report["preprocessing_source"]
    over = load_encoder("tv:resnet18", preprocessing={"input_size": [64, 64]})
    assert over.preprocessing.input_size == (64, 64) and over.preprocessing.mean == IMAGENET_MEAN


def test_ambiguous_spec_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tv:resnet18").write_bytes(b"")
    with pytest.raises(EncoderSpecError) as err:
        load_encoder("tv:resnet18")
    msg = str(err.value)
    assert "ambiguous" in msg and "file" in msg and "torchvision model 'resnet18'" in msg


def test_imagenet_weights_missing_names_the_cache_path(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    expected = tmp_path / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(CheckpointError, match="not in the local cache") as err:
        load_encoder("tv:resnet18:imagenet")
    assert str(expected) in str(err.value)
    # A file of the right name but other content is caught by the hash prefix in its name.
    expected.parent.mkdir()
    torch.save({"x": torch.zeros(1)}, expected)
    with pytest.raises(CheckpointError, match="SHA-256 prefix f37072fd"):
        load_encoder("tv:resnet18:imagenet")
    with pytest.raises(EncoderSpecError, match="IMAGENET1K_V1"):
        load_encoder("tv:resnet18:IMAGENET9K")


def test_imagenet_weights_from_the_cache(tmp_path, monkeypatch, source_model):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    # Our stand-in file cannot have the real SHA-256 prefix; switch that check off for this test.
    monkeypatch.setattr(_arch, "_HASH_IN_NAME", re.compile(r"(?!)"))
    path = tmp_path / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir()
    torch.save(source_model.state_dict(), path)
    enc = load_encoder("tv:resnet18:imagenet")
    assert enc.load_report["weights"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert enc.load_report["head"] == "loaded from checkpoint"
    assert enc.digest == state_dict_digest(source_model.state_dict())


@pytest.mark.parametrize(
    ("spec", "kwargs", "match"),
    [
        ("tv:resnet19", {}, "resnet18"),
        ("timm:resnet19", {}, "resnet18"),
        ("timm:resnet18:imagenet", {}, "--weights"),
        ("torchvision:resnet18", {}, "tv:NAME"),
        ("tv:resnet18", {"format": "plain"}, "--format"),
        ("tv:resnet18", {"arch": "resnet34"}, "contradicts"),
    ],
)
def test_bad_specs(spec, kwargs, match):
    with pytest.raises(EncoderSpecError, match=match):
        load_encoder(spec, **kwargs)


def test_path_without_recorded_arch_infers_it_or_asks_for_arch(tmp_path, source_model):
    path = tmp_path / "r18.pth"
    torch.save(source_model.state_dict(), path)
    enc = load_encoder(str(path))  # inferred from the block structure (encoders/_infer.py)
    assert enc.load_report["arch"] == "tv:resnet18" and enc.load_report["arch_source"].startswith("inferred")
    odd = tmp_path / "odd.pth"
    torch.save({"w": torch.zeros(2)}, odd)
    with pytest.raises(CheckpointError, match="--arch"):
        load_encoder(str(odd))
    assert load_encoder(str(path), arch="timm:resnet18").family == "timm"
