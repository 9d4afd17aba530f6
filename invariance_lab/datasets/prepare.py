"""Decode once, evaluate many (DESIGN.md §7): a probe's images decoded, cropped and resized once.

`prepare_probe(probe, preprocessing)` writes, under `<cache>/prepared/<key>/`::

    images.npy    uint8 (N, 3, H, W), written through `numpy.lib.format.open_memmap`
    index.json    key (probe fingerprint + input geometry), N, input size, how many items are done,
                  the unreadable items (index, path, message), `complete`
    probe.json    the probe manifest (frozen item list; see `manifests.py`)

The key is the probe's `fingerprint()` (item list + file sizes and mtimes) and the preprocessing's
`geometry_digest()` (input size, resize rule, interpolation; not mean/std), so any encoder with
the same input geometry reuses it, and a changed image file makes a new store.

Writing is resumable and crash safe: items are decoded in chunks (by `ProbeImages`, the same code
on-the-fly extraction uses, so the bytes are identical); after each chunk the memmap is flushed,
then `index.json` is replaced atomically with the new `done` count. A killed run restarts from
`done`; readers trust only a store whose index says `complete`.

`extract_features` looks the store up by key (`find_prepared`) and, when it is complete, reads
batches straight from the memmap instead of decoding files (see its `image_cache` argument).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import default_cache_dir
from ..errors import ImageReadError

FORMAT = "invariance_lab.prepared/1"
CHUNK = 256


def prepared_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder of prepared stores: `<cache_dir>/prepared` (default cache dir when None)."""
    return (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / "prepared"


def store_key(fingerprint: str, preprocessing) -> dict[str, Any]:
    return {"probe": fingerprint, "geometry": preprocessing.geometry_digest(), "input_size": list(preprocessing.input_size)}


def _key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class PreparedImages:
    """A complete prepared store: `images` is a read-only memmap (N, 3, H, W) uint8."""

    path: Path
    images: np.ndarray
    errors: dict[int, tuple[str, str]]  # item index -> (path, message)
    index: dict[str, Any]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _read_index(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "index.json").read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("format") == FORMAT else None


def find_prepared(probe, preprocessing, cache_dir=None, fingerprint: str | None = None) -> PreparedImages | None:
    """The complete prepared store of (probe, input geometry), or None."""
    key = store_key(fingerprint or probe.fingerprint(), preprocessing)
    path = prepared_dir(cache_dir) / _key_digest(key)
    idx = _read_index(path)
    if not idx or idx.get("key") != key or not idx.get("complete") or idx.get("n_items") != len(probe):
        return None
    try:
        mm = np.load(path / "images.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    h, w = preprocessing.input_size
    if mm.shape != (len(probe), 3, h, w) or mm.dtype != np.uint8:
        return None
    errors = {int(i): (p, m) for i, p, m in idx.get("errors", [])}
    return PreparedImages(path, mm, errors, idx)


def prepare_probe(probe, preprocessing=None, cache_dir=None, workers: int | str = "auto", on_error: str = "skip",
                  progress: bool = False, chunk: int = CHUNK) -> dict[str, Any]:
    """Decode, crop and resize every item of `probe` once into a prepared store (resumable).

    Args:
        probe: the probe.
        preprocessing: an `encoders.Preprocessing` (default: the paper's 128x128 squash).
        cache_dir: base cache folder (store under `<cache_dir>/prepared/`).
        workers: decoding worker processes; `"auto"`: one per core (at most 8), none for a single chunk.
        on_error: `skip` records unreadable items in the index (extraction then skips or stops as
            it is told); `stop` raises `ImageReadError` at the first one.
        progress: tqdm bar.
        chunk: items decoded between two index updates (what a killed run can lose).

    Returns:
        A summary: path, n_items, decoded (this call), resumed_from, errors, seconds.

    """
    import time

    import torch
    from torch.utils.data import DataLoader

    from ..encoders import Preprocessing
    from ..features.cache import atomic_write_bytes
    from ..features.extract import ProbeImages, _collate, resolve_workers
    from .manifests import write_probe_manifest

    pre = preprocessing or Preprocessing()
    t0 = time.perf_counter()
    n = len(probe)
    h, w = pre.input_size
    key = store_key(probe.fingerprint(), pre)
    path = prepared_dir(cache_dir) / _key_digest(key)
    path.mkdir(parents=True, exist_ok=True)
    idx = _read_index(path)
    npy = path / "images.npy"
    fresh = not (idx and idx.get("key") == key and idx.get("n_items") == n and npy.is_file())
    if fresh:
        idx = {"format": FORMAT, "key": key, "n_items": n, "probe": probe.name, "done": 0, "errors": [], "complete": False}
        mm = np.lib.format.open_memmap(npy, mode="w+", dtype=np.uint8, shape=(n, 3, h, w))
        write_probe_manifest(probe, path / "probe.json")
    else:
        mm = np.load(npy, mmap_mode="r+")
    start = int(idx["done"])
    errors = [tuple(e) for e in idx["errors"] if int(e[0]) < start]

    def save_index(done: int) -> None:
        idx.update(done=done, errors=[list(e) for e in errors], complete=done >= n)
        atomic_write_bytes(path / "index.json", json.dumps(idx, indent=1).encode())

    if start < n:
        batches = [list(range(b, min(b + chunk, n))) for b in range(start, n, chunk)]
        _, workers = resolve_workers(workers, torch.device("cpu"), len(batches), decode_only=True)
        loader = DataLoader(ProbeImages(probe, pre), batch_sampler=batches, num_workers=workers, collate_fn=_collate)
        from tqdm.auto import tqdm

        bar = tqdm(total=n - start, unit="img", desc=f"prepare {probe.name}", disable=not progress)
        for items, (got, x, errs) in zip(batches, loader, strict=True):
            for i, msg in errs:
                if on_error == "stop":
                    raise ImageReadError(msg)
                errors.append((i, str(probe.resolve(probe.items[i])), msg))
            if x is not None:
                mm[torch.as_tensor(got).numpy()] = x.numpy()
            mm.flush()
            save_index(items[-1] + 1)
            bar.update(len(items))
        bar.close()
    else:
        save_index(n)
    del mm
    return {"path": str(path), "n_items": n, "decoded": n - start, "resumed_from": start, "errors": [list(e) for e in errors],
            "input_size": [h, w], "seconds": time.perf_counter() - t0}  # fmt: skip
