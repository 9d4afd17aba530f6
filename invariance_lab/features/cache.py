"""On-disk feature cache: sharded `.npy` files plus an atomically written JSON index.

One cache *entry* holds the features of one key: (encoder digest, probe fingerprint, layer,
preprocessing digest, storage dtype, compute mode, shard size). The entry is a folder named by the
key's SHA-256 under `cache_dir` (default `default_cache_dir()/features`)::

    <cache_dir>/<key-sha256>/index.json          # what is stored, with size + sha256 per shard
    <cache_dir>/<key-sha256>/shard-00000.npy     # rows of items [0, shard_size), kept items only
    <cache_dir>/<key-sha256>/shard-00001.npy     # rows of items [shard_size, 2 * shard_size)
    ...

Shard boundaries sit at fixed item indices, so a killed run recomputes exactly the shards that the
index does not list, with the same batches, and ends bit-identical to an uninterrupted run
(DESIGN.md §3). Crash safety comes from the write order: a shard file is written to a temporary
file in the same folder, fsynced and renamed into place; only then is the index (written the same
way) updated to list it. A shard on disk but not in the index, or whose size, sha256, shape or dtype
does not match its index record, is recomputed rather than trusted.

The compute mode (device type and precision, e.g. `cpu-fp32`, `cuda-bf16`) is part of the key
because bf16 and fp32 features differ; mixing them in one entry would break bit-identity.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import default_cache_dir
from ..errors import CacheError

try:  # POSIX advisory locks keep concurrent runs from losing each other's index updates
    import fcntl
except ImportError:  # pragma: no cover - Windows: last writer wins, lost shards are recomputed
    fcntl = None  # type: ignore[assignment]

INDEX_NAME = "index.json"
INDEX_FORMAT = "invariance_lab.features/1"
STORAGE_DTYPES = {"float32": np.float32, "float16": np.float16}
"""Storage dtypes of feature shards (returned as float32)."""
_ENTRY_DTYPES = {**STORAGE_DTYPES, "uint8": np.uint8}  # uint8: the decode-once image cache
_STALE_TMP_S = 3600.0  # temp files older than this belong to killed runs


def features_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding feature cache entries: `cache_dir`, else `default_cache_dir()/features`."""
    return (
        Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir() / "features"
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part.

    Writes a temporary file in the same folder (so the rename cannot cross file systems), flushes
    and fsyncs it, `os.replace`s it onto `path`, then fsyncs the folder so the rename itself
    survives a power loss.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix="-" + path.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@dataclass(frozen=True)
class ShardRecord:
    """Index entry of one shard.

    Attributes:
        start, stop: item range [start, stop) of the probe that the shard covers.
        rows: number of kept items (stop - start - len(skipped)).
        dim: feature dimension (0 when every item of the shard was skipped).
        skipped: (item index, image path, error message) of items that could not be read.
        file: shard file name inside the entry folder.
        nbytes, sha256: size and digest of the whole `.npy` file, checked on every read.

    """

    start: int
    stop: int
    rows: int
    dim: int
    skipped: tuple[tuple[int, str, str], ...]
    file: str
    nbytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d["skipped"] = [list(s) for s in self.skipped]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ShardRecord:
        return cls(
            start=int(d["start"]), stop=int(d["stop"]), rows=int(d["rows"]), dim=int(d["dim"]),
            skipped=tuple((int(i), str(p), str(m)) for i, p, m in d["skipped"]),
            file=str(d["file"]), nbytes=int(d["nbytes"]), sha256=str(d["sha256"]),
        )  # fmt: skip

    def kept_indices(self) -> np.ndarray:
        """Probe item indices of the shard's rows, in order."""
        skip = {s[0] for s in self.skipped}
        return np.array([i for i in range(self.start, self.stop) if i not in skip], dtype=np.int64)


class FeatureCacheEntry:
    """The shards of one cache key.

    Args:
        cache_dir: folder of entries (see `features_cache_dir`).
        key: the identifying fields (digests, layer, dtype, compute mode, shard size); JSON-able.
        n_items: number of probe items; shards cover [0, n_items) in steps of `key["shard_size"]`.

    Raises:
        CacheError: when `key["dtype"]` is not a storage dtype or the folder cannot be created.

    """

    def __init__(self, cache_dir: str | os.PathLike | None, key: dict[str, Any], n_items: int):
        if key.get("dtype") not in _ENTRY_DTYPES:
            raise CacheError(
                f"cache dtype must be one of {sorted(_ENTRY_DTYPES)}, got {key.get('dtype')!r}"
            )
        self.key = dict(key)
        self.n_items = int(n_items)
        self.shard_size = int(key["shard_size"])
        self.dtype = np.dtype(_ENTRY_DTYPES[key["dtype"]])
        self.key_digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()
        self.path = features_cache_dir(cache_dir) / self.key_digest
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"cannot create feature cache folder {self.path}: {exc}; pass another cache_dir"
            ) from exc
        self._remove_stale_temp_files()

    # -- layout ---------------------------------------------------------------------------
    @property
    def n_shards(self) -> int:
        return -(-self.n_items // self.shard_size)

    def bounds(self, shard: int) -> tuple[int, int]:
        """Item range [start, stop) of shard number `shard`."""
        start = shard * self.shard_size
        return start, min(start + self.shard_size, self.n_items)

    @property
    def index_path(self) -> Path:
        return self.path / INDEX_NAME

    # -- index ----------------------------------------------------------------------------
    def read_index(self) -> dict[int, ShardRecord]:
        """Shard records listed in the index; an unreadable or foreign index counts as empty."""
        try:
            data = json.loads(self.index_path.read_text())
            if (
                data.get("format") != INDEX_FORMAT
                or data.get("key") != self.key
                or data.get("n_items") != self.n_items
            ):
                return {}
            return {int(k): ShardRecord.from_json(v) for k, v in data["shards"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _write_index(self, shards: dict[int, ShardRecord]) -> None:
        data = {
            "format": INDEX_FORMAT,
            "key": self.key,
            "n_items": self.n_items,
            "n_shards": self.n_shards,
            "complete": len(shards) == self.n_shards,
            "shards": {str(k): shards[k].to_json() for k in sorted(shards)},
        }
        atomic_write_bytes(self.index_path, json.dumps(data, indent=1).encode())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        with open(self.path / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- shards ---------------------------------------------------------------------------
    def load(
        self, shard: int, record: ShardRecord | None = None
    ) -> tuple[np.ndarray, ShardRecord] | None:
        """The verified rows (rows × dim; float32 for features, uint8 for images) and record, or None.

        None when the index does not list the shard, or its file is missing, has another size or
        sha256 than recorded, or does not parse as an array of the recorded shape and dtype.
        """
        if record is None:
            record = self.read_index().get(shard)
        if record is None or (record.start, record.stop) != self.bounds(shard):
            return None
        fpath = self.path / record.file
        try:
            if fpath.stat().st_size != record.nbytes:
                return None
            raw = fpath.read_bytes()
        except OSError:
            return None
        if len(raw) != record.nbytes or hashlib.sha256(raw).hexdigest() != record.sha256:
            return None
        try:
            arr = np.load(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, OSError, EOFError):
            return None
        if arr.dtype != self.dtype or arr.shape != (record.rows, record.dim):
            return None
        return (arr if arr.dtype == np.uint8 else arr.astype(np.float32)), record

    def write(
        self, shard: int, feat: np.ndarray, skipped: list[tuple[int, str, str]]
    ) -> ShardRecord:
        """Store one finished shard (file first, then the index), each write atomic.

        Args:
            shard: shard number.
            feat: (rows, dim) features of the shard's kept items, in item order.
            skipped: (item index, path, message) of the shard's unreadable items.

        Returns:
            The record now listed in the index.

        """
        start, stop = self.bounds(shard)
        arr = np.ascontiguousarray(feat, dtype=self.dtype)
        if arr.ndim != 2 or arr.shape[0] != stop - start - len(skipped):
            raise CacheError(
                f"shard {shard} of {self.path}: expected {stop - start - len(skipped)} rows, got shape {arr.shape}"
            )
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        raw = buf.getvalue()
        fname = f"shard-{shard:05d}.npy"
        atomic_write_bytes(self.path / fname, raw)
        record = ShardRecord(
            start=start, stop=stop, rows=arr.shape[0], dim=arr.shape[1],
            skipped=tuple((int(i), str(p), str(m)) for i, p, m in skipped),
            file=fname, nbytes=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
        )  # fmt: skip
        with self._locked():  # re-read: another process may have added shards meanwhile
            shards = self.read_index()
            shards[shard] = record
            self._write_index(shards)
        return record

    def _remove_stale_temp_files(self) -> None:
        now = time.time()
        for p in self.path.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > _STALE_TMP_S:
                    p.unlink()
