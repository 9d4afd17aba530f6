"""Feature extraction: probe images → encoder taps → one `FeatureSet` per layer.

Pipeline (DESIGN.md §2, §7): a `torch.utils.data.Dataset` decodes each probe item with
`probe.load_image` and turns it into a uint8 (3, H, W) tensor with `preprocessing.to_uint8`, so
loader workers ship small uint8 tensors; on the device the batch is normalised, then run once
through `encoder.feature_module(layers)`, which returns every requested tap from that single
forward pass. Model and input are channels_last on CUDA, and on CPU for inputs of 96 px and more
(oneDNN runs ResNets 1.3-1.45× faster in it there). On CUDA the forward runs under bf16 autocast
(fp16 on request); on CPU it is plain fp32, normalised by table lookup into a reusable buffer
(`_Normalizer`).

Decode once, evaluate many: when a complete prepared store of the probe exists (`data prepare`,
`datasets/prepare.py`), its shards skip the DataLoader altogether: a reader thread slices each
batch straight out of the memory-mapped uint8 array (normalising it on CPU, or into pinned memory
for CUDA) while the model runs the previous one (`_prepared_batches`). Same batches, same bytes,
same features as decoding.

Work is cut into shards at fixed item indices (`shard_size`) and batches never cross a shard
boundary, so each shard is always computed from the same batches. With the cache on, every shard
is written as soon as it is finished; a killed run resumes from the shards already listed in the
cache index and ends bit-identical to an uninterrupted one (see `cache.py`).
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..config import default_cache_dir
from ..errors import ImageReadError, InvarianceLabError, OptionError
from .cache import STORAGE_DTYPES, FeatureCacheEntry, features_cache_dir

DEFAULT_SHARD_SIZE = 2048
"""Items per cache shard: small enough that a killed run loses little, large enough for few files."""

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CPU_CHANNELS_LAST_MIN_SIDE = 96
"""On CPU, `channels_last="auto"` uses channels_last from this input side up (measured above/below it)."""
_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class FeatureSet:
    """Features of one layer for the readable items of a probe, with labels and provenance.

    Attributes:
        feat: (N, D) float32 features, one row per kept item, in probe order.
        set_ids: set id of each row (N).
        class_ids: class id of each row (N).
        factors: factor value of each row (N).
        item_index: (N,) int64 indices into `probe.items` of the rows.
        skipped: (item index, image path, error message) of items that could not be read.
        layer: the tap name.
        encoder_digest: `Encoder.digest` of the weights.
        probe_digest: `Probe.digest()` (portable item-list identity).
        preprocessing: `Preprocessing.to_dict()` used to make the inputs.
        provenance: everything else: encoder spec, probe description and fingerprint, device,
            precision, storage dtype, and what the cache did (`cache`: hit and computed shards).

    """

    feat: np.ndarray
    set_ids: list[str]
    class_ids: list[str]
    factors: list[Any]
    item_index: np.ndarray
    skipped: list[tuple[int, str, str]]
    layer: str
    encoder_digest: str
    probe_digest: str
    preprocessing: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        """Number of rows (kept items)."""
        return int(self.feat.shape[0])

    @property
    def n_skipped(self) -> int:
        """Number of probe items that could not be read."""
        return len(self.skipped)


class ProbeImages(Dataset):
    """Probe items as uint8 (3, H, W) tensors; unreadable items come back as an error message.

    Errors are returned rather than raised so that the main process decides (stop or skip) and a
    worker never dies on one bad file.
    """

    def __init__(self, probe, preprocessing):
        self.probe = probe
        self.preprocessing = preprocessing

    def __len__(self) -> int:
        return len(self.probe)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            img = self.probe.load_image(index)
        except ImageReadError as exc:
            return index, None, str(exc)
        return index, self.preprocessing.to_uint8(img), None


def _collate(samples: list[tuple[int, torch.Tensor | None, str | None]]):
    ok = [s for s in samples if s[1] is not None]
    # x: B×3×H×W uint8, stacked by NumPy (one thread) rather than torch.stack: the first parallel
    # torch op after a long single-threaded decode has to wake torch's OpenMP workers, which on a
    # busy CPU cost up to ~0.5 s per batch (profiled in benchmarks/prepare_speed.py); same bytes.
    x = torch.from_numpy(np.stack([s[1].numpy() for s in ok])) if ok else None
    return [s[0] for s in ok], x, [(s[0], s[2]) for s in samples if s[1] is None]


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # (not on Linux)
        return max(1, os.cpu_count() or 1)


WORKER_KINDS = ("auto", "thread", "process")


def resolve_workers(
    workers: int | str, dev: torch.device, n_batches: int, *, kind: str = "auto", decode_only: bool = False
) -> tuple[str, int]:
    """How images are decoded: (`"thread"` or `"process"`, count); `"auto"` chooses from the work.

    Kind `"auto"` is `"thread"` when the model runs on the CPU and `"process"` (DataLoader
    workers) with CUDA or with no model at all (`decode_only`, as in `data prepare`).

    - Threads (CPU model): a pool decodes the next batch while the forward runs (Pillow releases
      the GIL while it decodes and resizes). There is no process start-up, and no worker
      pre-empting the forward's OpenMP threads for long. On 2 cores, ResNet-18 at 128 px ran at
      0.83 of the bare model's throughput (bound set by decoding: 0.886), against 0.79 with one
      worker process and 0.76 with none (`benchmarks/extract_speed.py`). `"auto"` count: one
      thread per core, at most 8.
    - Processes: `"auto"` count is `min(8, cores - 1)` with CUDA, so the GPU does not wait on
      decoding; `min(8, cores)` for `decode_only`; `max(1, cores // 4)` beside a CPU model (asked
      for with `kind="process"`). None when there are fewer than 2 batches, since nothing
      overlaps and a worker costs its start-up.

    A single core gets no worker of either kind, and 0 decodes in this process between forwards.
    """
    if kind not in WORKER_KINDS:
        raise OptionError(f"worker kind must be one of {WORKER_KINDS}, got {kind!r}")
    if kind == "auto":
        kind = "thread" if dev.type != "cuda" and not decode_only else "process"
    if isinstance(workers, str) and workers != "auto":
        try:
            workers = int(workers)
        except ValueError:
            raise OptionError(f"workers must be 'auto' or an integer >= 0, got {workers!r}") from None
    if workers == "auto":
        cores = available_cpus()
        if cores < 2:
            return kind, 0
        if kind == "thread":
            return kind, min(8, cores)
        if n_batches < 2:
            return kind, 0
        if decode_only:
            return kind, min(8, cores)
        return kind, min(8, cores - 1 if dev.type == "cuda" else max(1, cores // 4))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise OptionError(f"workers must be 'auto' or an integer >= 0, got {workers!r}")
    return kind, workers


def _threaded_batches(dataset, batches: list[list[int]], n_threads: int):
    """`_collate`d batches decoded by a thread pool, in order, the next one while this one is used."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(n_threads, thread_name_prefix="invariance-lab-decode")
    try:
        ahead = [pool.submit(dataset.__getitem__, i) for i in batches[0]] if batches else []
        for j in range(len(batches)):
            samples = [f.result() for f in ahead]
            ahead = [pool.submit(dataset.__getitem__, i) for i in batches[j + 1]] if j + 1 < len(batches) else []
            yield _collate(samples)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def check_extraction_options(device, batch_size, workers, worker_kind="auto") -> torch.device:
    """Raise `OptionError` naming an unusable device, batch size or worker setting; return the device.

    `extract_features` calls it, and so do `evaluate` and the CLI before they build probes or load
    encoders, so a bad option fails before any work.
    """
    dev = resolve_device(device)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise OptionError(f"batch size must be an integer >= 1, got {batch_size!r}")
    resolve_workers(workers, dev, 0, kind=worker_kind)  # validates; the count is resolved once the work is known
    return dev


def resolve_device(device: str | torch.device) -> torch.device:
    """`"auto"` → CUDA when available, else CPU; anything else is passed to `torch.device`."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise OptionError(f"unknown device {device!r} ({exc}); use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise OptionError(f"device {device!r} asked for, but torch ({build}) finds no CUDA GPU; use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise OptionError(f"device {device!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev


@contextlib.contextmanager
def _deterministic_cuda() -> Iterator[None]:
    """CuDNN autotuning may pick another kernel on the next run; pin it so resumes are bit-identical."""
    saved = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved


def extract_features(
    encoder,
    probe,
    layers: str | Sequence[str] = ("pooled",),
    *,
    device: str | torch.device = "auto",
    batch_size: int = 64,
    workers: int | str = "auto",
    worker_kind: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    on_error: str = "stop",
    dtype: str = "float32",
    precision: str = "auto",
    shard_size: int = DEFAULT_SHARD_SIZE,
    channels_last: bool | str = "auto",
    image_cache: bool | str | os.PathLike = False,
    prepared: bool | str | os.PathLike = "auto",
    progress: bool = True,
) -> dict[str, FeatureSet]:
    """Extract pooled features of `probe`'s images at one or more taps of `encoder`.

    Always returns a dict keyed by layer (in the order given), also for a single layer, so callers
    never branch on the return type: `extract_features(enc, probe)["pooled"]`.

    Args:
        encoder: an `invariance_lab.encoders.Encoder`.
        probe: an `invariance_lab.probes.Probe`.
        layers: tap name(s); `"pooled"` is the globally pooled penultimate features.
        device: `"auto"` (CUDA if available), `"cpu"`, `"cuda"`, `"cuda:1"`, ...
        batch_size: images per forward pass. Bit-identity of resumed runs assumes the same value.
        workers: threads or processes decoding images (0 decodes in this process between
            forwards); `"auto"` chooses from the device, the cores and the work (`resolve_workers`).
        worker_kind: `"thread"` (a pool in this process), `"process"` (DataLoader workers) or
            `"auto"`: threads when the model runs on the CPU, processes with CUDA.
        cache_dir: feature cache folder; default `default_cache_dir()/features`.
        use_cache: False neither reads nor writes the cache.
        on_error: `"stop"` raises `ImageReadError` at the first unreadable image; `"skip"` leaves
            it out and records it in `FeatureSet.skipped`.
        dtype: storage dtype, `"float32"` or `"float16"`. Features are rounded to it even without
            the cache (so results do not depend on whether the cache was used), then returned as
            float32.
        precision: `"auto"` (bf16 autocast on CUDA, fp32 on CPU), `"fp32"`, `"bf16"` or `"fp16"`.
        shard_size: items per cache shard (part of the cache key).
        channels_last: run the model and its input in the channels_last memory format. `"auto"`:
            always on CUDA; on CPU when the input is at least `CPU_CHANNELS_LAST_MIN_SIDE` pixels
            on its shorter side. PyTorch's oneDNN kernels are much faster in it there (2 cores:
            ResNet-18 at 128 px 166 vs 117 images/s, ResNet-50 at 224 px 1.45×, EfficientNet-B0
            at 128 px 1.4×), but not at small inputs (ResNet-18 at 64 px: 0.85×). Features differ
            between the formats only by float rounding; the memory format is part of the cache
            key, so the two never mix.
        image_cache: decode once, evaluate many (DESIGN.md §7): keep the decoded, resized uint8
            inputs on disk, keyed by probe fingerprint + `preprocessing.geometry_digest()`, so a
            second encoder with the same input geometry reads tensors instead of image files.
            True uses `default_cache_dir()/images`; a path uses that folder. Costs 3·H·W bytes per
            image (49 KB at 128 px). Only consulted for shards whose features must be computed.
        prepared: the store written by `invariance-lab data prepare` (`datasets.prepare`): a
            memory-mapped uint8 array of the whole probe at this input geometry. `"auto"` uses
            one under `default_cache_dir()/prepared` when a complete one exists for this probe
            fingerprint and geometry; a path is the base cache folder to look in; False never
            looks. It is read only, never written here, and gives the same bytes as decoding.
        progress: show a tqdm progress bar.

    Returns:
        {layer: FeatureSet}.

    Raises:
        ImageReadError: an image cannot be read and `on_error="stop"` (names the file and item),
            or no image at all could be read.
        ValueError: an invalid option value.

    Example:
        >>> enc = load_encoder("tv:resnet50")  # doctest: +SKIP
        >>> fs = extract_features(enc, get_probe("folder:data/sets"))["pooled"]  # doctest: +SKIP
        >>> fs.feat.shape  # doctest: +SKIP
        (240, 2048)

    """
    layers = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers))
    if not layers:
        raise OptionError("extract_features needs at least one layer")
    if on_error not in ("stop", "skip"):
        raise OptionError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    if dtype not in STORAGE_DTYPES:
        raise OptionError(f"dtype must be one of {sorted(STORAGE_DTYPES)}, got {dtype!r}")
    if precision not in PRECISIONS:
        raise OptionError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if shard_size < 1:
        raise OptionError(f"shard size must be >= 1, got {shard_size}")
    dev = check_extraction_options(device, batch_size, workers, worker_kind)
    if precision == "auto":
        precision = "bf16" if dev.type == "cuda" else "fp32"
    pre = encoder.preprocessing
    if channels_last == "auto":
        channels_last = dev.type == "cuda" or min(pre.input_size) >= CPU_CHANNELS_LAST_MIN_SIDE
    elif not isinstance(channels_last, bool):
        raise OptionError(f"channels_last must be True, False or 'auto', got {channels_last!r}")
    n = len(probe)
    n_shards = -(-n // shard_size)
    fingerprint = probe.fingerprint()
    enc_digest = encoder.digest

    entries: dict[str, FeatureCacheEntry] = {}
    if use_cache:
        for layer in layers:
            key = {
                "encoder": enc_digest, "probe": fingerprint, "layer": layer, "preprocessing": pre.digest(),
                "dtype": dtype, "compute": f"{dev.type}-{precision}", "shard_size": shard_size,
                "memory_format": "channels_last" if channels_last else "contiguous",
            }  # fmt: skip
            entries[layer] = FeatureCacheEntry(cache_dir, key, n)

    # shard -> {layer: (rows, kept indices, skipped)}; a shard is computed unless every layer loads.
    done: dict[int, dict[str, tuple[np.ndarray, np.ndarray, list]]] = {}
    indexes = {layer: e.read_index() for layer, e in entries.items()}
    for s in range(n_shards if use_cache else 0):
        got = {}
        for layer, e in entries.items():
            res = e.load(s, indexes[layer].get(s))
            if res is None or (on_error == "stop" and res[1].skipped):  # stop must raise again
                break
            got[layer] = (res[0], res[1].kept_indices(), list(res[1].skipped))
        else:
            done[s] = got
    todo = [s for s in range(n_shards) if s not in done]
    hit = sorted(done)
    image_info = None

    if todo:
        images = None
        if image_cache:
            img_dir = default_cache_dir() / "images" if image_cache is True else image_cache
            key = {
                "kind": "images",
                "probe": fingerprint,
                "geometry": pre.geometry_digest(),
                "dtype": "uint8",
                "shard_size": shard_size,
            }
            images = FeatureCacheEntry(img_dir, key, n)
        store = None
        if prepared:
            from ..datasets.prepare import find_prepared

            store = find_prepared(probe, pre, None if prepared in (True, "auto") else prepared, fingerprint)
        computed, image_info = _compute(
            encoder, probe, layers, todo, dev=dev, precision=precision, batch_size=batch_size,
            workers=workers, shard_size=shard_size, on_error=on_error, dtype=dtype,
            entries=entries, progress=progress, images=images, prepared=store, channels_last=channels_last,
            worker_kind=worker_kind,
        )  # fmt: skip
        done.update(computed)

    base_prov = {
        "encoder": encoder.spec,
        "encoder_name": encoder.name,
        "probe": probe.describe(),
        "probe_fingerprint": fingerprint,
        "device": str(dev),
        "precision": precision,
        "memory_format": "channels_last" if channels_last else "contiguous",
        "dtype": dtype,
        "batch_size": batch_size,
        "shard_size": shard_size,
        "cache": {
            "dir": str(features_cache_dir(cache_dir)) if use_cache else None,
            "hit_shards": hit,
            "computed_shards": todo,
        },
        "image_cache": image_info,
    }
    set_ids, class_ids, factors = probe.labels()
    out: dict[str, FeatureSet] = {}
    for layer in layers:
        parts = [done[s][layer] for s in range(n_shards)]
        dims = {p[0].shape[1] for p in parts if p[0].shape[0]}
        if not dims:
            first = next(sk for p in parts for sk in p[2])
            raise ImageReadError(
                f"no image of probe {probe.name!r} could be read ({n} items); first error: {first[2]}"
            )
        dim = dims.pop()
        feat = np.concatenate([p[0] for p in parts if p[0].shape[0]], axis=0).reshape(-1, dim)
        idx = np.concatenate([p[1] for p in parts]).astype(np.int64)
        prov = dict(
            base_prov,
            cache=dict(base_prov["cache"], entry=str(entries[layer].path) if use_cache else None),
        )
        out[layer] = FeatureSet(
            feat=feat,
            set_ids=[set_ids[i] for i in idx],
            class_ids=[class_ids[i] for i in idx],
            factors=[factors[i] for i in idx],
            item_index=idx,
            skipped=[tuple(sk) for p in parts for sk in p[2]],
            layer=layer,
            encoder_digest=enc_digest,
            probe_digest=probe.digest(),
            preprocessing=pre.to_dict(),
            provenance=prov,
        )
    return out


def _compute(
    encoder,
    probe,
    layers,
    todo,
    *,
    dev,
    precision,
    batch_size,
    workers,
    shard_size,
    on_error,
    dtype,
    entries,
    progress,
    images,
    channels_last,
    worker_kind,
    prepared=None,
):
    """Run the model over the shards in `todo`; write each to the cache as soon as it is complete.

    Returns ({shard: {layer: (rows, kept indices, skipped)}}, image-cache provenance).
    """
    from tqdm.auto import tqdm

    pre = encoder.preprocessing
    n = len(probe)
    cached_imgs = {}  # shard -> (uint8 rows×3×H×W, record) from the decode-once cache
    if images is not None:
        index = images.read_index()
        for s in todo:
            res = images.load(s, index.get(s))
            if res is not None and (on_error == "skip" or not res[1].skipped):
                cached_imgs[s] = (torch.from_numpy(res[0]).view(-1, 3, *pre.input_size), res[1])
    from_prepared = []
    if prepared is not None:
        for s in todo:
            lo, hi = s * shard_size, min((s + 1) * shard_size, n)
            bad = [i for i in range(lo, hi) if i in prepared.errors]
            if s in cached_imgs or (bad and on_error == "stop"):  # stop: decode so the error is raised as usual
                continue
            from_prepared.append(s)
    decode = [s for s in todo if s not in cached_imgs and s not in from_prepared]
    decoding = set(decode)

    def chunks(s):
        lo, hi = s * shard_size, min((s + 1) * shard_size, n)
        starts = list(range(lo, hi, batch_size))
        return [
            (list(range(b, min(b + batch_size, hi))), j == len(starts) - 1)
            for j, b in enumerate(starts)
        ]

    def from_image_cache():
        """Batches of cached shards, cut exactly as the loader would cut them (same batches → same bits)."""
        for s, (u8, rec) in cached_imgs.items():
            kept = rec.kept_indices()
            msgs = {i: m for i, _, m in rec.skipped}
            for items, last in chunks(s):
                sel = np.flatnonzero((kept >= items[0]) & (kept <= items[-1]))
                x = u8[torch.from_numpy(sel)] if len(sel) else None
                yield (kept[sel].tolist(), x, [(i, msgs[i]) for i in items if i in msgs]), (s, last)

    batches, meta = [], []
    for s in decode:
        for items, last in chunks(s):
            batches.append(items)
            meta.append((s, last))
    loader = None
    kind, workers = resolve_workers(workers, dev, len(batches), kind=worker_kind)
    if batches and kind == "thread" and workers > 0:
        loader = _threaded_batches(ProbeImages(probe, pre), batches, workers)
    elif batches:
        loader = DataLoader(
            ProbeImages(probe, pre),
            batch_sampler=batches,
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=dev.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )

    def stream():
        yield from from_image_cache()
        if from_prepared:
            plan = [(s, items, last) for s in from_prepared for items, last in chunks(s)]
            cpu = dev.type != "cuda"
            yield from _prepared_batches(prepared, plan, batch_size, _Normalizer(pre) if cpu else None, pin=not cpu)
        if loader is not None:
            yield from zip(loader, meta, strict=True)

    model = encoder.feature_module(list(layers)).eval().to(dev)
    cuda = dev.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    amp = (
        torch.autocast(device_type=dev.type, dtype=_AMP_DTYPES[precision])
        if precision in _AMP_DTYPES
        else contextlib.nullcontext()
    )
    store_dtype = STORAGE_DTYPES[dtype]
    results: dict[int, dict[str, tuple[np.ndarray, np.ndarray, list]]] = {}
    pending: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    pending_u8: list[torch.Tensor] = []
    kept: list[int] = []
    skipped: list[tuple[int, str, str]] = []
    total = sum(min((s + 1) * shard_size, n) - s * shard_size for s in todo)
    bar = tqdm(total=total, unit="img", desc=f"{encoder.name} | {probe.name}", disable=not progress)
    normalize = _Normalizer(pre) if not cuda else None
    norm_buf = torch.empty((batch_size, 3, *pre.input_size), dtype=torch.float32) if not cuda else None
    guard = _deterministic_cuda() if cuda else contextlib.nullcontext()
    try:
        with guard, torch.inference_mode():
            for (idx, x, errors), (shard, last) in stream():
                for i, msg in errors:
                    if on_error == "stop":
                        raise ImageReadError(msg)
                    skipped.append((i, str(probe.resolve(probe.items[i])), msg))
                if x is not None:
                    if images is not None and shard in decoding:
                        pending_u8.append(x)  # (image-cache and prepared shards are not re-stored)
                    if cuda:
                        x = pre.normalize(x.to(dev, non_blocking=True))  # x: B×3×H×W float32
                    elif x.dtype == torch.uint8:  # (prepared batches come normalised by their reader thread)
                        x = normalize(x, norm_buf)  # x: B×3×H×W float32, a view of norm_buf
                    if channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)
                    with amp:
                        feats = model(x)
                    for layer in layers:
                        if layer not in feats:
                            raise InvarianceLabError(
                                f"encoder {encoder.spec} returned no tap {layer!r} (got {sorted(feats)})"
                            )
                        # round to the storage dtype here so cached and uncached runs agree exactly
                        pending[layer].append(
                            feats[layer]
                            .float()
                            .cpu()
                            .numpy()
                            .astype(store_dtype)
                            .astype(np.float32)
                        )
                    kept.extend(idx)
                bar.update(len(idx) + len(errors))
                if last:
                    if images is not None and shard in decoding:
                        u8 = (
                            torch.cat(pending_u8).flatten(1).numpy()
                            if pending_u8
                            else np.zeros((0, 0), np.uint8)
                        )
                        images.write(shard, u8, skipped)  # u8: rows×(3·H·W)
                    results[shard] = _finish_shard(shard, layers, pending, kept, skipped, entries)
                    pending = {layer: [] for layer in layers}
                    pending_u8, kept, skipped = [], [], []
    finally:
        bar.close()
        if inspect.isgenerator(loader):
            loader.close()  # decoding threads: cancel what is queued, wait for what runs
        loader = None  # let persistent workers shut down now rather than at garbage collection
    info = None
    if images is not None:
        info = {
            "dir": str(images.path),
            "hit_shards": sorted(cached_imgs),
            "decoded_shards": decode,
        }
    if prepared is not None:
        info = dict(info or {}, prepared=str(prepared.path), prepared_shards=from_prepared, decoded_shards=decode)
    return results, info


NORM_CHUNK_BYTES = 1 << 21
"""Float32 bytes per `Preprocessing.normalize` call when it cannot use a lookup table (~2 MB)."""


class _Normalizer:
    """`pre.normalize` on CPU, into reusable float buffers, bit for bit.

    With `input_norm == "none"`, `normalize` maps each byte value v of channel c to one float
    (x/255, minus mean[c], over std[c]: elementwise). The table of those 3×256 floats is built
    by calling `pre.normalize` itself on the 256 byte values, so it holds exactly the floats it
    would compute; a batch is then one table lookup per element (`np.take`, single-threaded,
    straight from a memmap when the rows are contiguous): no float temporaries, and no torch
    parallel region, whose wake-up on a busy CPU cost more than the arithmetic (profiled in
    `benchmarks/prepare_speed.py`). Other input norms (grey-world divides by a per-image mean)
    call `pre.normalize` on a few images at a time (`NORM_CHUNK_BYTES`) into the buffer.
    """

    def __init__(self, pre):
        self.pre = pre
        self.lut = None
        if getattr(pre, "input_norm", "none") == "none":
            ramp = torch.arange(256, dtype=torch.uint8).view(1, 1, 1, 256).expand(1, 3, 1, 256).contiguous()
            self.lut = pre.normalize(ramp).reshape(3, 256).numpy().astype(np.float32)

    def __call__(self, x, out: torch.Tensor) -> torch.Tensor:
        """Normalise uint8 `x` (B×3×H×W, tensor or array) into `out[:B]` (float32) and return that view."""
        b = x.shape[0]
        dst = out[:b]
        if self.lut is not None:
            src = x.numpy() if isinstance(x, torch.Tensor) else x
            d = dst.numpy()
            for c in range(3):  # mode="clip": no bounds check to buffer (a uint8 index is always < 256)
                np.take(self.lut[c], src[:, c], out=d[:, c], mode="clip")
            return dst
        xt = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x))  # (a copy: memmaps are read-only)
        step = max(1, NORM_CHUNK_BYTES // (4 * xt[0].numel()))
        for i in range(0, b, step):
            j = min(i + step, b)
            dst[i:j] = self.pre.normalize(xt[i:j])
        return dst


def _prepared_batches(prepared, plan, batch_size: int, normalizer: _Normalizer | None = None, pin: bool = False,
                      depth: int = 2):
    """Batches read straight from a prepared memmap by a reader thread, `depth` ahead of the model.

    `plan` is [(shard, item indices of the batch, last batch of its shard)], cut as the decoding
    loader cuts them (so the same batches, hence the same bits). For each batch the thread takes
    the rows of its readable items from the memmap (one contiguous slice when none is missing, the
    usual case) and, with a `normalizer` (CPU), writes the normalised float batch into one of
    `depth + 2` reusable buffers; without one (CUDA) it copies the uint8 rows into reusable pinned
    buffers, so the host-to-device copy can be asynchronous and normalising happens on the device.
    No DataLoader, no worker processes, no per-item tensors, no collate; reading, page-ins from
    disk and normalising overlap the forward pass. A buffer goes back to the pool when the consumer
    asks for the next batch (by then the previous batch's features were copied to the CPU, which
    also waits for its device copy).

    Yields ((kept indices, batch B×3×H×W or None, [(index, message)]), (shard, last)); the batch
    is float32 and normalised with a `normalizer`, uint8 without.
    """
    import queue
    import threading

    mm = prepared.images
    shape = (batch_size, *mm.shape[1:])
    pool: queue.Queue = queue.Queue()
    for _ in range(depth + 2):
        if normalizer is not None:
            pool.put(torch.empty(shape, dtype=torch.float32))
        else:
            pool.put(torch.empty(shape, dtype=torch.uint8, pin_memory=pin))
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for s, items, last in plan:
                kept = [i for i in items if i not in prepared.errors]
                errs = [(i, prepared.errors[i][1]) for i in items if i in prepared.errors]
                buf = x = None
                if kept:
                    while buf is None:
                        if stop.is_set():
                            return
                        try:
                            buf = pool.get(timeout=0.1)
                        except queue.Empty:
                            continue
                    contiguous = kept[-1] - kept[0] + 1 == len(kept)
                    rows = mm[kept[0] : kept[-1] + 1] if contiguous else np.take(mm, kept, axis=0)
                    if normalizer is not None:
                        x = normalizer(rows, buf)
                    else:
                        np.copyto(buf.numpy()[: len(kept)], rows)
                        x = buf[: len(kept)]
                if not put(((kept, x, errs), (s, last), buf)):
                    return
            put(done)
        except BaseException as exc:  # hand it to the consumer, which re-raises it
            put(exc)

    thread = threading.Thread(target=reader, name="prepared-reader", daemon=True)
    thread.start()
    held = None
    try:
        while True:
            item = out.get()
            if held is not None:
                pool.put(held)
                held = None
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            batch, meta, held = item
            yield batch, meta
    finally:
        stop.set()
        thread.join()


def _finish_shard(shard, layers, pending, kept, skipped, entries):
    out = {}
    for layer in layers:
        rows = pending[layer]
        feat = (
            np.concatenate(rows, axis=0) if rows else np.zeros((0, 0), np.float32)
        )  # feat: rows×D
        if layer in entries:
            entries[layer].write(shard, feat, skipped)
        out[layer] = (feat, np.asarray(kept, dtype=np.int64), list(skipped))
    return out
