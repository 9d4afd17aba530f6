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
        prepare.prepare_probe(p, PRE, tmp_path / "c", chunk=16, workers=0)  # (the injected interrupt must hit this process)
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


@pytest.mark.parametrize("input_norm", ["none", "greyworld"])
def test_normalizer_is_bit_identical(input_norm):
    """The extraction loop's normalisation (lookup table, or sliced calls) equals `Preprocessing.normalize` exactly."""
    from invariance_lab.features.extract import NORM_CHUNK_BYTES, _Normalizer

    pre = Preprocessing(input_size=(128, 128), input_norm=input_norm)
    norm = _Normalizer(pre)
    assert (norm.lut is not None) == (input_norm == "none")
    g = torch.Generator().manual_seed(0)
    step = NORM_CHUNK_BYTES // (4 * 3 * 128 * 128)
    buf = torch.empty((64, 3, 128, 128))
    for b in (1, step + 1, 64):  # one slice, a partial second slice, a full batch
        x = torch.randint(0, 256, (b, 3, 128, 128), dtype=torch.uint8, generator=g)
        x[0, :, :2] = torch.arange(256, dtype=torch.uint8).view(1, 2, 128)  # every byte value
        want = pre.normalize(x)
        for src in (x, x.numpy(), x.numpy()[:, :, ::-1, :][:, :, ::-1, :]):  # tensor, array, strided view
            got = norm(src, buf)
            assert got.data_ptr() == buf.data_ptr() and torch.equal(got, want)


def test_prepared_batches_skip_holes_and_stop_their_thread(tmp_path, encoder):
    """Items missing from the store (non-contiguous rows) give the same features as decoding with skip."""
    import threading

    from invariance_lab.features.extract import _prepared_batches

    folders = make_aloi(tmp_path / "d", objects=(1,), collections=("col",))
    for name in ("1_i120.png", "1_i150.png"):
        f = folders["col"] / "1" / name
        f.write_bytes(f.read_bytes()[:50])
    p = get_probe("aloi-illum-color", root=tmp_path / "d")
    prepare.prepare_probe(p, PRE, tmp_path / "c")
    kw = dict(use_cache=False, progress=False, on_error="skip", batch_size=5, shard_size=12)
    ref = extract_features(encoder, p, prepared=False, **kw)["pooled"]
    got = extract_features(encoder, p, prepared=tmp_path / "c", **kw)["pooled"]
    assert got.provenance["image_cache"]["prepared_shards"] == [0]
    assert np.array_equal(got.feat, ref.feat) and got.item_index.tolist() == ref.item_index.tolist()
    assert [s[0] for s in got.skipped] == [1, 4] and got.n_images == 10
    store = prepare.find_prepared(p, PRE, tmp_path / "c")
    plan = [(0, list(range(b, min(b + 5, 12))), b == 10) for b in range(0, 12, 5)]
    gen = _prepared_batches(store, plan, 5)
    (kept, x, errs), meta = next(gen)
    assert kept == [0, 2, 3] and [e[0] for e in errs] == [1, 4] and meta == (0, False)
    assert np.array_equal(x.numpy(), store.images[[0, 2, 3]])
    gen.close()  # a consumer that stops early (an error downstream) must not leave the reader behind
    assert not any(t.name == "prepared-reader" for t in threading.enumerate())


def test_parallel_prepare_equals_serial(data_root, tmp_path, monkeypatch):
    from invariance_lab.features import extract as ex

    monkeypatch.setattr(ex, "available_cpus", lambda: 2)  # auto → 2 decoding workers
    p = get_probe("got10k-occlusion", root=data_root)
    prepare.prepare_probe(p, PRE, tmp_path / "serial", workers=0, chunk=8)
    res = prepare.prepare_probe(p, PRE, tmp_path / "auto", chunk=8)  # 4 chunks, in order, index after each
    assert res["decoded"] == len(p) and not res["errors"]
    a = prepare.find_prepared(p, PRE, tmp_path / "serial").images
    b = prepare.find_prepared(p, PRE, tmp_path / "auto").images
    assert np.array_equal(a, b)
