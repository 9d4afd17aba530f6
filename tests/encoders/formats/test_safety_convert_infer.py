"""Pickle safety, `convert` round trips, and architecture inference from key structure."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from releases_testlib import RELEASES, SLOW, resnet18, resnet18_cifar, vit
from safetensors import safe_open

from invariance_lab.cli import main
from invariance_lab.encoders import load_encoder
from invariance_lab.encoders._infer import infer_arch
from invariance_lab.errors import CheckpointError

X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


class _CreatesFile:
    """Unpickling this calls open(path, "w"): the file appears only if the pickle runs."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_arbitrary_pickle_is_refused_and_runs_only_when_trusted(tmp_path, capsys):
    witness = tmp_path / "created_by_pickle.txt"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": resnet18().state_dict(), "payload": _CreatesFile(witness)}, path)
    assert main(["convert", str(path), "-o", str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "--trust-checkpoint" in err and "open" in err and str(path) in err
    assert not witness.exists()
    assert main(["convert", str(path), "-o", str(tmp_path / "o.safetensors"), "--trust-checkpoint"]) == 0
    assert witness.exists()


def _features(enc):
    with torch.no_grad():
        return enc.feature_module(["pooled"])(X)["pooled"]


@pytest.mark.parametrize(
    ("rid", "suffix"),
    [("mocov2", ".safetensors"), ("mocov2", ".pth"), ("solo-learn-cifar", ".safetensors"),
     pytest.param("dino-vit", ".pth", marks=SLOW)],
)
def test_convert_round_trips(rid, suffix, tmp_path, capsys):
    rel = RELEASES[rid]
    model = rel.source()
    src = tmp_path / "src.pth"
    torch.save(rel.build(dict(model.state_dict())), src)
    out = tmp_path / f"backbone{suffix}"
    assert main(["convert", str(src), "--format", "auto", "-o", str(out)]) == 0
    assert f"format {rel.format}" in capsys.readouterr().out
    side = json.loads((tmp_path / f"backbone{suffix}.json").read_text())
    first, again = load_encoder(str(src)), load_encoder(str(out))
    assert side["source_format"] == rel.format and side["digest"] == first.digest == again.digest
    assert side["arch"] == first.load_report["arch"] == again.load_report["arch"]
    assert again.load_report["format"] == "converted" and again.preprocessing == first.preprocessing
    assert set(side["dropped"]) == set(first.load_report["dropped"])
    assert torch.equal(_features(first), _features(again))
    if suffix == ".safetensors":  # plain tensors in the architecture's names, for other tools
        with safe_open(str(out), framework="pt") as f:
            keys = set(f.keys())
            assert json.loads(f.metadata()["invariance_lab"])["arch"] == side["arch"]
        assert not any(k.startswith(("fc.", "head.")) for k in keys) and "layer1.0.conv1.weight" in keys or "blocks.0.attn.qkv.weight" in keys


def _meta_state(name: str) -> dict:
    with torch.device("meta"):  # shapes only: inference never reads values
        return torchvision.models.get_model(name).state_dict()


@pytest.mark.parametrize(
    "name", ["resnet18", "resnet34", "resnet50", "resnet101", "wide_resnet50_2", "resnext50_32x4d"]
)
def test_resnet_inferred_from_keys(name):
    state = {k: v for k, v in _meta_state(name).items() if not k.startswith("fc.")}
    assert infer_arch(state).arch == f"tv:{name}"


def test_vit_size_inferred_and_cifar_stem_flagged():
    got = infer_arch(vit().state_dict())
    assert got.arch == "timm:vit_tiny_patch16_224[img_size=32]" and "heads" in got.warnings[0]
    assert infer_arch(vit().state_dict(), num_heads=12).arch.endswith("num_heads=12]")
    cifar = infer_arch(resnet18_cifar().state_dict(), cifar_padding=2)
    assert cifar.arch == "tv:resnet18[cifar_stem=2]" and "CIFAR stem" in cifar.warnings[0]
    with pytest.raises(CheckpointError, match="--arch"):
        infer_arch({"encoder.w": torch.zeros(1)})


def test_path_alone_infers_and_mismatch_suggests_the_fitting_arch(tmp_path):
    path = tmp_path / "cifar.pth"
    torch.save(resnet18_cifar(padding=1).state_dict(), path)
    enc = load_encoder(str(path))
    assert enc.arch == "resnet18[cifar_stem=1]" and enc.load_report["arch_source"].startswith("inferred")
    with pytest.raises(CheckpointError) as err:
        load_encoder(str(path), arch="resnet18")
    msg = str(err.value)
    assert "conv1.weight: checkpoint (64, 3, 3, 3) vs model (64, 3, 7, 7)" in msg
    assert "missing backbone keys" not in msg  # a mis-shaped key is reported once, as a mismatch
    assert "fit tv:resnet18[cifar_stem=1]" in msg
