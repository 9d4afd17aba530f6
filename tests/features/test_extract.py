"""extract_features: equals a hand-written forward pass, caches, handles unreadable images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from invariance_lab.errors import ImageReadError
from invariance_lab.features import extract_features
from invariance_lab.probes import get_probe

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def manual_features(encoder, probe) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference: PIL resize, ImageNet normalisation, fc → Identity, layer3 by hook."""
    model = encoder.model
    h, w = encoder.preprocessing.input_size
    xs = []
    for it in probe.items:
        img = Image.open(probe.resolve(it)).convert("RGB").resize((w, h), Image.BILINEAR)
        xs.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1))
    x = (torch.stack(xs).float() / 255.0 - MEAN) / STD
    grabbed = {}
    handle = model.layer3.register_forward_hook(lambda m, i, o: grabbed.setdefault("layer3", o))
    fc, model.fc = model.fc, nn.Identity()
    try:
        with torch.no_grad():
            pooled = model(x)
    finally:
        model.fc = fc
        handle.remove()
    return pooled.numpy(), grabbed["layer3"].mean(dim=(2, 3)).numpy()


def test_matches_manual_forward(encoder, probe):
    ref_pooled, ref_l3 = manual_features(encoder, probe)
    out = extract_features(
        encoder,
        probe,
        ["pooled", "layer3"],
        device="cpu",
        batch_size=5,
        use_cache=False,
        progress=False,
    )
    assert list(out) == ["pooled", "layer3"]
    fs = out["pooled"]
    assert fs.feat.dtype == np.float32 and fs.feat.shape == (16, 512)
    np.testing.assert_allclose(fs.feat, ref_pooled, rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["layer3"].feat, ref_l3, rtol=0, atol=1e-5)
    assert np.array_equal(fs.item_index, np.arange(16))
    sets, classes, factors = probe.labels()
    assert fs.set_ids == sets and fs.class_ids == classes and fs.factors == factors
    assert (
        fs.skipped == []
        and fs.encoder_digest == encoder.digest
        and fs.probe_digest == probe.digest()
    )
    assert fs.preprocessing["input_size"] == (64, 64) and fs.layer == "pooled"


def test_cache_hit_is_bit_identical_and_skips_the_model(encoder, probe, tmp_path, monkeypatch):
    kw = dict(
        device="cpu", batch_size=4, shard_size=8, cache_dir=tmp_path / "cache", progress=False
    )
    first = extract_features(encoder, probe, **kw)["pooled"]
    assert first.provenance["cache"]["computed_shards"] == [0, 1]

    def no_model(*a, **k):
        raise AssertionError("the model was built although every shard is cached")

    monkeypatch.setattr(encoder, "feature_module", no_model)
    second = extract_features(encoder, probe, **kw)["pooled"]
    assert second.provenance["cache"] == dict(
        first.provenance["cache"], hit_shards=[0, 1], computed_shards=[]
    )
    assert second.feat.tobytes() == first.feat.tobytes()
    assert second.set_ids == first.set_ids


def test_cache_key_separates_layers_dtypes_and_preprocessing(encoder, probe, tmp_path):
    kw = dict(device="cpu", batch_size=8, cache_dir=tmp_path / "cache", progress=False)
    a = extract_features(encoder, probe, **kw)["pooled"]
    b = extract_features(encoder, probe, "layer3", **kw)["layer3"]
    assert b.provenance["cache"]["computed_shards"] == [0] and b.feat.shape[1] == 256
    half = extract_features(encoder, probe, dtype="float16", **kw)["pooled"]
    assert half.provenance["cache"]["computed_shards"] == [0]
    assert np.array_equal(half.feat, a.feat.astype(np.float16).astype(np.float32))
    uncached = extract_features(
        encoder, probe, dtype="float16", device="cpu", batch_size=8, use_cache=False, progress=False
    )
    assert (
        uncached["pooled"].feat.tobytes() == half.feat.tobytes()
    )  # same rounding with or without cache
    encoder.preprocessing = type(encoder.preprocessing)(input_size=(48, 48))
    c = extract_features(encoder, probe, **kw)["pooled"]
    assert c.provenance["cache"]["computed_shards"] == [0] and not np.allclose(c.feat, a.feat)


def test_workers_give_the_same_features(encoder, probe):
    kw = dict(device="cpu", batch_size=6, use_cache=False, progress=False)
    serial = extract_features(encoder, probe, workers=0, **kw)["pooled"]
    parallel = extract_features(encoder, probe, workers=2, **kw)["pooled"]
    assert parallel.feat.tobytes() == serial.feat.tobytes()


@pytest.fixture
def bad_probe(probe_dir):
    bad = probe_dir / "class0" / "set1" / "img2.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return get_probe(f"folder:{probe_dir}"), bad


def test_unreadable_image_stops_naming_the_file(encoder, bad_probe, tmp_path):
    probe, bad = bad_probe
    with pytest.raises(ImageReadError, match=r"img2\.png") as info:
        extract_features(encoder, probe, device="cpu", cache_dir=tmp_path / "c", progress=False)
    assert str(bad) in str(info.value) and "item 6" in str(info.value)


def test_unreadable_image_skipped_and_recorded(encoder, bad_probe, tmp_path):
    probe, bad = bad_probe
    kw = dict(device="cpu", batch_size=4, shard_size=8, cache_dir=tmp_path / "c", progress=False)
    fs = extract_features(encoder, probe, on_error="skip", **kw)["pooled"]
    assert fs.feat.shape == (15, 512) and fs.n_skipped == 1
    ((idx, path, msg),) = fs.skipped
    assert idx == 6 and path == str(bad) and "img2.png" in msg
    assert 6 not in fs.item_index and len(fs.item_index) == len(fs.set_ids) == 15
    assert fs.set_ids[6] == probe.items[7].set_id
    ok = extract_features(
        encoder,
        probe,
        on_error="skip",
        use_cache=False,
        device="cpu",
        batch_size=4,
        shard_size=8,
        progress=False,
    )
    np.testing.assert_array_equal(ok["pooled"].feat, fs.feat)
    # a cached shard with a skipped item is a cache hit for skip, but stop must still raise
    again = extract_features(encoder, probe, on_error="skip", **kw)["pooled"]
    assert again.skipped == fs.skipped and again.provenance["cache"]["computed_shards"] == []
    with pytest.raises(ImageReadError, match="img2.png"):
        extract_features(encoder, probe, on_error="stop", **kw)


def test_bad_options_are_refused(encoder, probe):
    for kw in (
        {"on_error": "ignore"},
        {"dtype": "float64"},
        {"precision": "int8"},
        {"batch_size": 0},
    ):
        with pytest.raises(ValueError):
            extract_features(encoder, probe, use_cache=False, progress=False, **kw)


def test_image_cache_decodes_once(encoder, bad_probe, tmp_path, monkeypatch):
    probe, _ = bad_probe
    kw = dict(
        device="cpu",
        batch_size=4,
        shard_size=8,
        use_cache=False,
        on_error="skip",
        image_cache=tmp_path / "img",
        progress=False,
    )
    first = extract_features(encoder, probe, **kw)["pooled"]
    assert first.provenance["image_cache"]["decoded_shards"] == [0, 1]

    def no_decode(i):
        raise AssertionError("an image was decoded again")

    monkeypatch.setattr(probe, "load_image", no_decode)
    second = extract_features(encoder, probe, ["layer3", "pooled"], **kw)
    assert second["pooled"].provenance["image_cache"]["hit_shards"] == [0, 1]
    assert second["pooled"].feat.tobytes() == first.feat.tobytes()
    assert second["layer3"].skipped == first.skipped and second["layer3"].feat.shape == (15, 256)


def test_auto_workers_follow_device_cores_and_work(monkeypatch):
    from invariance_lab.features import extract as ex

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(ex, "available_cpus", lambda: 2)
    assert ex.resolve_workers("auto", cpu, 1) == ("thread", 2)  # CPU model: a thread per core
    assert ex.resolve_workers("auto", cuda, 6) == ("process", 1)  # CUDA: processes, one core left
    assert ex.resolve_workers("auto", cuda, 1) == ("process", 0)  # a single batch: nothing to overlap
    assert ex.resolve_workers("auto", cpu, 6, decode_only=True) == ("process", 2)
    assert ex.resolve_workers("auto", cpu, 6, kind="process") == ("process", 1)
    monkeypatch.setattr(ex, "available_cpus", lambda: 16)
    assert ex.resolve_workers("auto", cpu, 6) == ("thread", 8) and ex.resolve_workers("auto", cuda, 6) == ("process", 8)
    monkeypatch.setattr(ex, "available_cpus", lambda: 1)
    assert ex.resolve_workers("auto", cpu, 100) == ("thread", 0) and ex.resolve_workers("auto", cuda, 100)[1] == 0
    assert ex.resolve_workers(3, cpu, 1) == ("thread", 3) and ex.resolve_workers("2", cuda, 1) == ("process", 2)
    for bad in (-1, "many", 1.5, True):
        with pytest.raises(ValueError, match="workers"):
            ex.resolve_workers(bad, cpu, 4)
    with pytest.raises(ValueError, match="worker kind"):
        ex.resolve_workers(2, cpu, 4, kind="fibre")


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_worker_kinds_give_the_same_features(encoder, probe, monkeypatch, kind):
    from invariance_lab.features import extract as ex

    monkeypatch.setattr(ex, "available_cpus", lambda: 4)  # auto → workers even on a 1-core runner
    used = []
    real_loader, real_threads = ex.DataLoader, ex._threaded_batches
    monkeypatch.setattr(ex, "DataLoader", lambda *a, **k: used.append(("process", k["num_workers"])) or real_loader(*a, **k))
    monkeypatch.setattr(ex, "_threaded_batches", lambda d, b, n: used.append(("thread", n)) or real_threads(d, b, n))
    kw = dict(device="cpu", batch_size=5, use_cache=False, progress=False)
    serial = extract_features(encoder, probe, workers=0, worker_kind="process", **kw)["pooled"]
    got = extract_features(encoder, probe, worker_kind=kind, **kw)["pooled"]  # workers="auto" is the default
    assert used == [("process", 0), (kind, 4 if kind == "thread" else 1)]
    assert got.feat.tobytes() == serial.feat.tobytes()
    with pytest.raises(ValueError, match="workers"):
        extract_features(encoder, probe, workers=-2, **kw)


def test_threaded_decoding_reports_unreadable_images_in_order(encoder, bad_probe):
    bad_probe, _ = bad_probe
    kw = dict(device="cpu", batch_size=3, use_cache=False, progress=False, workers=3, worker_kind="thread")
    with pytest.raises(ImageReadError, match="img2.png"):
        extract_features(encoder, bad_probe, **kw)
    fs = extract_features(encoder, bad_probe, on_error="skip", **kw)["pooled"]
    ref = extract_features(encoder, bad_probe, **dict(kw, workers=0), on_error="skip")["pooled"]
    assert [s[1] for s in fs.skipped] == [s[1] for s in ref.skipped] and "img2.png" in fs.skipped[0][1]
    assert fs.feat.tobytes() == ref.feat.tobytes() and np.array_equal(fs.item_index, ref.item_index)


def test_channels_last_is_the_same_model_and_keyed_apart(encoder, probe, tmp_path):
    """channels_last changes rounding only; the cache never mixes formats; "auto" follows the input size on CPU."""
    kw = dict(device="cpu", batch_size=8, progress=False, cache_dir=tmp_path)
    cl = extract_features(encoder, probe, ["pooled", "layer3"], channels_last=True, **kw)
    plain = extract_features(encoder, probe, ["pooled", "layer3"], channels_last=False, **kw)
    assert plain["pooled"].provenance["cache"]["computed_shards"] == [0]  # not served from the channels_last entry
    assert cl["pooled"].provenance["memory_format"] == "channels_last"
    assert plain["pooled"].provenance["memory_format"] == "contiguous"
    for layer in ("pooled", "layer3"):
        np.testing.assert_allclose(cl[layer].feat, plain[layer].feat, rtol=0, atol=1e-5)
    assert encoder.model.conv1.weight.is_contiguous(memory_format=torch.channels_last) is False  # left as given


def test_channels_last_auto_on_cpu_follows_input_size(encoder, probe):
    from invariance_lab.features.extract import CPU_CHANNELS_LAST_MIN_SIDE

    kw = dict(device="cpu", batch_size=16, use_cache=False, progress=False)
    pre = type(encoder.preprocessing)
    for side, want in ((CPU_CHANNELS_LAST_MIN_SIDE - 32, "contiguous"), (CPU_CHANNELS_LAST_MIN_SIDE, "channels_last")):
        encoder.preprocessing = pre(input_size=(side, side))
        fs = extract_features(encoder, probe, **kw)["pooled"]
        assert fs.provenance["memory_format"] == want
        forced = extract_features(encoder, probe, channels_last=want == "contiguous", **kw)["pooled"]
        assert forced.provenance["memory_format"] != want
        np.testing.assert_allclose(fs.feat, forced.feat, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="channels_last"):
        extract_features(encoder, probe, channels_last="yes", **kw)
