from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from invariance_lab.datasets import prepare
from invariance_lab.encoders import Preprocessing, load_encoder
from invariance_lab.errors import ImageReadError
from invariance_lab.features import extract_features
from invariance_lab.probes import get_probe
from tests.datasets.fixtures import make_aloi

PRE = Preprocessing(input_size=(32, 32))


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    enc = load_encoder("tv:resnet18")
    enc.model.eval()
    enc.preprocessing = PRE
    return enc


def test_prepared_store_equals_decoding(data_root, tmp_path):
    p = get_probe("got10k-occlusion", root=data_root)
    res = prepare.prepare_probe(p, PRE, tmp_path)
    assert res["decoded"] == len(p) == 31 and not res["errors"]
    store = prepare.find_prepared(p, PRE, tmp_path)
    assert store.images.shape == (31, 3, 32, 32) and isinstance(store.images, np.memmap)
    for i in (0, 7, 30):
        assert np.array_equal(store.images[i], PRE.to_uint8(p.load_image(i)).numpy())
    assert json.loads((store.path / "probe.json").read_text())["n_images"] == 31
    assert prepare.find_prepared(p, Preprocessing(input_size=(48, 48)), tmp_path) is None
    again = prepare.prepare_probe(p, PRE, tmp_path)
    assert again["decoded"] == 0


def test_features_from_prepared_equal_on_the_fly(data_root, tmp_path, encoder, monkeypatch):
    p = get_probe("aloi-illum-color", root=data_root, objects=[10])
    ref = extract_features(encoder, p, use_cache=False, prepared=False, progress=False, batch_size=4, shard_size=6)["pooled"]
    prepare.prepare_probe(p, PRE, tmp_path)
    monkeypatch.setattr(type(p), "load_image", lambda self, i: (_ for _ in ()).throw(AssertionError("decoded")))
    got = extract_features(encoder, p, use_cache=False, prepared=tmp_path, progress=False, batch_size=4, shard_size=6)["pooled"]
    assert np.array_equal(got.feat, ref.feat)
    assert got.provenance["image_cache"]["prepared_shards"] == [0, 1] and got.provenance["image_cache"]["decoded_shards"] == []
    # "auto" finds it under the default cache dir
    monkeypatch.setenv("INVARIANCE_LAB_CACHE", str(tmp_path))
    auto = extract_features(encoder, p, use_cache=False, progress=False, batch_size=4, shard_size=6)["pooled"]
    assert np.array_equal(auto.feat, ref.feat)


def test_resume_after_kill(tmp_path, monkeypatch):
    make_aloi(tmp_path / "d", objects=(1,), collections=("view",))
    p = get_probe("aloi-viewpoint", root=tmp_path / "d")
    real = type(p).load_image

    def dying(self, i):
        if i == 40:
            raise KeyboardInterrupt  # killed while decoding the third chunk
        return real(self, i)

    monkeypatch.setattr(type(p), "load_image", dying)
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare_probe(p, PRE, tmp_path / "c", chunk=16)
    monkeypatch.setattr(type(p), "load_image", real)
    assert prepare.find_prepared(p, PRE, tmp_path / "c") is None  # incomplete: not trusted
    res = prepare.prepare_probe(p, PRE, tmp_path / "c", chunk=16)
    assert res["resumed_from"] == 32 and res["decoded"] == 40
    store = prepare.find_prepared(p, PRE, tmp_path / "c")
    for i in (0, 31, 32, 71):
        assert np.array_equal(store.images[i], PRE.to_uint8(p.load_image(i)).numpy())


def test_truncated_image_stop_and_skip(tmp_path, encoder):
    folders = make_aloi(tmp_path / "d", objects=(1,), collections=("col",))
    f = folders["col"] / "1" / "1_i150.png"
    f.write_bytes(f.read_bytes()[:50])
    p = get_probe("aloi-illum-color", root=tmp_path / "d")
    with pytest.raises(ImageReadError, match="1_i150.png"):
        prepare.prepare_probe(p, PRE, tmp_path / "c", on_error="stop")
    res = prepare.prepare_probe(p, PRE, tmp_path / "c2")
    assert [e[0] for e in res["errors"]] == [4] and "1_i150.png" in res["errors"][0][1]
    with pytest.raises(ImageReadError, match="1_i150.png"):  # extraction still stops by default
        extract_features(encoder, p, use_cache=False, prepared=tmp_path / "c2", progress=False)
    fs = extract_features(encoder, p, use_cache=False, prepared=tmp_path / "c2", on_error="skip", progress=False)["pooled"]
    assert fs.n_images == 11 and fs.skipped[0][0] == 4
