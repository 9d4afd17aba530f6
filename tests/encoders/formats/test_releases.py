"""Every published checkpoint layout: detected by structure, loaded bit-identically, refused precisely.

Checkpoints are built by `releases_testlib.RELEASES` with each release's real key structure from a
ResNet-18 (a CIFAR-stem one for solo-learn) or a small timm ViT with fixed random weights.
"""

from __future__ import annotations

import pytest
import torch
from releases_testlib import RELEASES, SLOW, Release

from invariance_lab.cli import main
from invariance_lab.encoders import detect_format, load_encoder
from invariance_lab.encoders._loading import read_checkpoint, safe_load

X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def reference(model: torch.nn.Module) -> torch.Tensor:
    """Penultimate features computed directly (independent of the encoder's taps)."""
    with torch.no_grad():
        if hasattr(model, "forward_head"):
            return model.forward_head(model.forward_features(X), pre_logits=True)
        h = model.maxpool(model.relu(model.bn1(model.conv1(X))))
        h = model.layer4(model.layer3(model.layer2(model.layer1(h))))
        return torch.flatten(model.avgpool(h), 1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each release saved once: {id: (path, source model)}."""
    root = tmp_path_factory.mktemp("releases")
    out = {}
    for rid, rel in RELEASES.items():
        model = rel.source()
        path = root / f"{rid}.pth"
        torch.save(rel.build({k: v.clone() for k, v in model.state_dict().items()}), path)
        out[rid] = (path, model)
    return out


def _format_args(rel: Release) -> dict:
    return {"format": rel.format} if rel.forced else {}


@pytest.mark.parametrize("rid", list(RELEASES))
def test_detected_and_features_identical(rid, saved):
    rel = RELEASES[rid]
    path, model = saved[rid]
    ckpt = read_checkpoint(path)
    if rel.forced:  # same keys as a plain state dict: detection must not claim it
        assert detect_format(ckpt).name == "plain"
    else:
        assert detect_format(ckpt).name == rel.format
    enc = load_encoder(str(path), **_format_args(rel))
    rep = enc.load_report
    assert rep["format"] == rel.format and rep["pickled"] is False
    assert rep["n_loaded"] + len(rep["missing_allowed"]) >= len(model.state_dict()) - 2  # all but the classifier
    with torch.no_grad():
        got = enc.feature_module(["pooled"])(X)["pooled"]
    assert torch.equal(got, reference(model)), f"{rid}: features differ"


@pytest.mark.parametrize("rid", [pytest.param(r, marks=SLOW) if RELEASES[r].is_vit else r for r in RELEASES])
@pytest.mark.parametrize("damage", ["delete", "rename", "reshape"])
def test_damaged_backbone_key_is_named_by_the_cli(rid, damage, saved, tmp_path, capsys):
    rel = RELEASES[rid]
    obj, _ = safe_load(saved[rid][0])
    where, prefix = rel.where
    box = obj
    for part in where:
        box = box[part]
    raw = prefix + rel.target_key
    value = box.pop(raw)
    if damage == "rename":
        box[raw.replace(".weight", ".weightX")] = value
    elif damage == "reshape":
        box[raw] = torch.zeros(value.shape[0] + 1, *value.shape[1:])
    path = tmp_path / "damaged.pth"
    torch.save(obj, path)
    argv = ["convert", str(path), "-o", str(tmp_path / "out.safetensors")]
    argv += ["--format", rel.format] if rel.forced else []
    assert main(argv) == 2
    err = capsys.readouterr().err
    mapped = rel.target_key if rel.is_vit else "layer1.0.conv1.weight"
    assert mapped in err, err
    expected = {"delete": "missing backbone keys", "rename": "unexpected keys", "reshape": "shape mismatches"}[damage]
    assert expected in err
    if damage == "reshape":
        assert f"checkpoint ({value.shape[0] + 1}," in err and f"model {tuple(value.shape)}" in err
    assert not (tmp_path / "out.safetensors").exists()


def test_dropped_heads_are_listed(saved):
    rep = load_encoder(str(saved["mocov2"][0])).load_report
    dropped = set(rep["dropped"])
    assert {"fc.0.weight", "fc.2.bias", "queue", "queue_ptr", "encoder_k.conv1.weight"} <= dropped
    assert not any(k.startswith(("layer", "conv1", "bn1")) for k in dropped)
    dino = load_encoder(str(saved["dino-resnet"][0])).load_report
    assert "head.last_layer.weight_g" in dino["dropped"] and "dino_loss.center" in dino["dropped"]


def test_release_specific_reports(saved):
    simclr = load_encoder(str(saved["simclr-v1"][0]), format="simclr-v1")
    assert simclr.preprocessing.mean == (0.0, 0.0, 0.0) and simclr.preprocessing.std == (1.0, 1.0, 1.0)
    byol = load_encoder(str(saved["byol"][0])).load_report
    assert any("SAME" in w for w in byol["warnings"])
    solo = load_encoder(str(saved["solo-learn-cifar"][0]))
    assert solo.load_report["arch"] == "tv:resnet18[cifar_stem=2]"
    assert "CIFAR stem" in " ".join(solo.load_report["warnings"])
    assert solo.model.conv1.padding == (2, 2) and isinstance(solo.model.maxpool, torch.nn.Identity)
    moco3 = load_encoder(str(saved["mocov3-vit"][0])).load_report
    assert moco3["arch"] == "timm:vit_small_patch16_224[img_size=32,num_heads=12]"
    assert moco3["arch_source"] == "recorded in the file"


def test_head_tap_rebuilds_the_projection(saved):
    path, model = saved["mocov2"]
    enc = load_encoder(str(path), head=True)
    sd = torch.load(path, weights_only=True)["state_dict"]
    with torch.no_grad():
        out = enc.feature_module(["pooled", "head"])(X)
        h = torch.relu(out["pooled"] @ sd["module.encoder_q.fc.0.weight"].T + sd["module.encoder_q.fc.0.bias"])
        want = h @ sd["module.encoder_q.fc.2.weight"].T + sd["module.encoder_q.fc.2.bias"]
    torch.testing.assert_close(out["head"], want, rtol=1e-5, atol=1e-5)
    assert "head" in enc.layer_names() and enc.load_report["projection_head"]["prefix"] == "fc"
    assert enc.digest != load_encoder(str(path)).digest  # the head's weights are part of the identity
    with pytest.raises(Exception, match="no projection head"):
        load_encoder(str(saved["dino-resnet"][0]), head=True)


def test_forced_format_overrides_detection(saved):
    enc = load_encoder(str(saved["pirl-demystify"][0]), format="plain", arch="resnet18")
    assert enc.load_report["format"] == "plain"
