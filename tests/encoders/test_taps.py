"""Feature taps: names, dimensions, and equality with a hand-written forward pass."""

from __future__ import annotations

import pytest
import torch
from encoders_testlib import features, pooled_resnet

from invariance_lab.encoders import DEFAULT_LAYER, load_encoder
from invariance_lab.errors import LayerNotFoundError


@pytest.fixture(scope="module", params=["tv:resnet18", "timm:resnet18"])
def enc(request):
    """Built once per module: these tests only read the encoder."""
    return load_encoder(request.param)


def test_resnet18_feature_dims(enc, batch):
    out = features(enc, batch, (DEFAULT_LAYER, "layer3"))
    assert out[DEFAULT_LAYER].shape == (2, 512)
    assert out["layer3"].shape == (2, 256)


def test_default_tap_equals_manual(enc, batch):
    out = features(enc, batch, (DEFAULT_LAYER, "layer3"))
    torch.testing.assert_close(
        out[DEFAULT_LAYER], pooled_resnet(enc.model, batch), atol=1e-6, rtol=0
    )
    m = enc.model
    with torch.no_grad():
        act = m.relu if hasattr(m, "relu") else m.act1  # torchvision / timm naming
        l3 = m.layer3(m.layer2(m.layer1(m.maxpool(act(m.bn1(m.conv1(batch)))))))
    torch.testing.assert_close(out["layer3"], l3.mean(dim=(2, 3)), atol=1e-6, rtol=0)


def test_default_tap_equals_the_libraries_own_pre_logits(enc, batch):
    m = enc.model
    with torch.no_grad():
        if enc.family == "timm":
            ref = m.forward_head(m.forward_features(batch), pre_logits=True)
        else:
            ref = torch.nn.Sequential(*list(m.children())[:-1])(batch).flatten(1)  # all but fc
    torch.testing.assert_close(features(enc, batch)[DEFAULT_LAYER], ref, atol=1e-6, rtol=0)


def test_unknown_layer_lists_close_names(enc):
    with pytest.raises(LayerNotFoundError) as err:
        enc.feature_module(["layer5"])
    assert "layer4" in str(err.value) and "layer5" in str(err.value)


def test_layer_names_start_with_default(enc):
    names = enc.layer_names()
    assert names[0] == DEFAULT_LAYER
    assert "layer3" in names and "layer3.1.conv2" in names
