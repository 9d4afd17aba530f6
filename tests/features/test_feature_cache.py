"""Feature cache: SIGKILL at any point resumes bit-identically; damaged shards are recomputed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from invariance_lab.features import FeatureCacheEntry, extract_features

KW = dict(device="cpu", batch_size=2, shard_size=2, progress=False)  # 16 items → 8 shards

SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[4])
    from conftest import make_encoder
    from invariance_lab.features import extract_features
    from invariance_lab.probes import get_probe

    probe_dir, weights, cache = sys.argv[1:4]
    enc = make_encoder(weights)
    probe = get_probe("folder:" + probe_dir)
    load = probe.load_image

    def slow_load(i):  # slow decoding so that the parent can kill us between shards
        time.sleep(0.1)
        return load(i)

    probe.load_image = slow_load
    print("started", flush=True)
    extract_features(enc, probe, cache_dir=cache, device="cpu", batch_size=2, shard_size=2, progress=False)
    print("finished", flush=True)
    """
)


def listed_shards(cache_dir) -> set[int]:
    found = set()
    for index in cache_dir.glob("*/index.json"):
        found |= {int(k) for k in json.loads(index.read_text())["shards"]}
    return found


def test_sigkill_then_resume_is_bit_identical(encoder, probe, probe_dir, weights_file, tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))  # same CPU kernels as here
    proc = subprocess.Popen(
        [sys.executable, str(script), str(probe_dir), str(weights_file), str(cache), os.path.dirname(__file__)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not listed_shards(cache) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, (
            f"extraction ended before it could be killed: {proc.communicate()}"
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    stored = listed_shards(cache)
    assert 1 <= len(stored) < 8, stored

    resumed = extract_features(encoder, probe, cache_dir=cache, **KW)["pooled"]
    assert resumed.provenance["cache"]["hit_shards"] == sorted(stored)
    assert resumed.provenance["cache"]["computed_shards"] == sorted(set(range(8)) - stored)
    reference = extract_features(encoder, probe, use_cache=False, **KW)["pooled"]
    assert resumed.feat.tobytes() == reference.feat.tobytes()
    assert np.array_equal(resumed.item_index, reference.item_index)
    assert listed_shards(cache) == set(range(8))


def test_damaged_shards_are_recomputed(encoder, probe, tmp_path):
    cache = tmp_path / "cache"
    first = extract_features(encoder, probe, cache_dir=cache, **KW)["pooled"]
    entry = first.provenance["cache"]["entry"]

    def shard(i):
        return os.path.join(entry, f"shard-{i:05d}.npy")

    raw = bytearray(open(shard(1), "rb").read())
    raw[-5] ^= 0xFF  # same size, one feature byte changed: only the sha256 notices
    open(shard(1), "wb").write(bytes(raw))
    raw = open(shard(2), "rb").read()
    open(shard(2), "wb").write(raw[: len(raw) // 2])  # truncated
    os.unlink(shard(4))  # missing
    index_path = os.path.join(entry, "index.json")
    index = json.loads(open(index_path).read())
    del index["shards"]["5"]  # killed after the shard file was written, before the index listed it
    open(index_path, "w").write(json.dumps(index))

    second = extract_features(encoder, probe, cache_dir=cache, **KW)["pooled"]
    assert second.provenance["cache"]["computed_shards"] == [1, 2, 4, 5]
    assert second.feat.tobytes() == first.feat.tobytes()
    third = extract_features(encoder, probe, cache_dir=cache, **KW)["pooled"]
    assert third.provenance["cache"]["computed_shards"] == []


def test_entry_layout_and_index(tmp_path):
    key = {
        "encoder": "e",
        "probe": "p",
        "layer": "pooled",
        "preprocessing": "x",
        "dtype": "float16",
        "compute": "cpu-fp32",
        "shard_size": 3,
    }
    entry = FeatureCacheEntry(tmp_path, key, n_items=7)
    assert entry.n_shards == 3 and entry.bounds(2) == (6, 7)
    feat = np.arange(8, dtype=np.float32).reshape(2, 4) / 3
    rec = entry.write(1, feat, skipped=[(4, "/x/img.png", "bad")])
    assert rec.rows == 2 and list(rec.kept_indices()) == [3, 5]
    loaded, rec2 = entry.load(1)
    assert rec2 == rec and loaded.dtype == np.float32
    assert np.array_equal(loaded, feat.astype(np.float16).astype(np.float32))
    assert entry.load(0) is None
    index = json.loads(entry.index_path.read_text())
    assert index["key"] == key and not index["complete"] and list(index["shards"]) == ["1"]
    assert not list(entry.path.glob(".tmp-*"))  # atomic writes leave no temporary files
    with pytest.raises(Exception, match="rows"):
        entry.write(0, feat, skipped=[])  # shard 0 covers 3 items
