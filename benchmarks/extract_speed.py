"""Throughput of the whole extraction path versus the bare model forward (DESIGN.md §7).

Writes a probe of generated PNGs to a temporary folder, then measures, with the same model, batch
size and device:

1. `model`: the feature module alone on pre-made normalised tensors already on the device (the
   ceiling: what the network can do);
2. `extract`: `extract_features` from the PNG files (decode, resize, DataLoader, transfer,
   normalise, forward, copy back), cache off.

and prints images/s of both and their ratio (target ≥ 0.9: extraction bound by the model, not the
loader): the median over `--repeats` interleaved runs of each side, after a short warm-up of the
model. On CPU it also prints the decoding rate alone and the bound it sets: the forward already
uses every core, so decoding (in worker processes or not) takes core time from it.

Example:
    python benchmarks/extract_speed.py                      # CPU: resnet18, 768 images
    python benchmarks/extract_speed.py --device cuda        # GPU: resnet50, 4096 images
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from invariance_lab.cli._common import workers_arg
from invariance_lab.encoders import Preprocessing, load_encoder
from invariance_lab.features import extract_features, resolve_device, resolve_workers
from invariance_lab.features.extract import CPU_CHANNELS_LAST_MIN_SIDE, ProbeImages, _collate
from invariance_lab.probes import get_probe


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--arch",
        default=None,
        help="torchvision architecture (default resnet18 on CPU, resnet50 on GPU)",
    )
    p.add_argument(
        "--size", type=int, default=128, help="network input size in pixels (the paper: 128)"
    )
    p.add_argument(
        "--src-size",
        type=int,
        default=None,
        help="side of the generated PNGs (default 1.5 × size, so resizing is measured)",
    )
    p.add_argument("--batch-size", type=int, default=None, help="default 64 on CPU, 256 on GPU")
    p.add_argument("--n-images", type=int, default=None, help="default 768 on CPU, 4096 on GPU")
    p.add_argument(
        "--workers",
        type=workers_arg,
        default="auto",
        help="DataLoader workers: auto (the tool's default, see features.resolve_workers) or a count",
    )
    p.add_argument("--worker-kind", choices=["auto", "thread", "process"], default="auto", help="decode in threads or processes (auto: the tool's default)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="interleaved runs of each side; the median ratio is reported",
    )
    return p


def write_pngs(root: Path, n: int, side: int, per_set: int = 8) -> None:
    """n smooth random pictures in <class>/<set>/ folders (noise would make PNG decoding unrealistically slow)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    for i in range(n):
        d = root / f"c{i // (per_set * 16)}" / f"s{i // per_set}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(small[i]).resize((side, side), Image.BICUBIC).save(d / f"{i}.png")


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bare_forward(encoder, dev, n: int, batch_size: int) -> float:
    """Images/s of the feature module on normalised tensors resident on the device (same settings as extraction)."""
    model = encoder.feature_module(["pooled"]).eval().to(dev)
    cuda = dev.type == "cuda"
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    h, w = encoder.preprocessing.input_size
    x = torch.randint(0, 256, (batch_size, 3, h, w), dtype=torch.uint8, device=dev)
    x = encoder.preprocessing.normalize(x)
    channels_last = cuda or min(encoder.preprocessing.input_size) >= CPU_CHANNELS_LAST_MIN_SIDE
    if channels_last:  # as extraction runs it (extract_features(channels_last="auto"), the default)
        model, x = (
            model.to(memory_format=torch.channels_last),
            x.contiguous(memory_format=torch.channels_last),
        )
    n_batches = -(-n // batch_size)
    with torch.inference_mode(), amp:
        for _ in range(3):  # warm-up: kernels, allocator
            model(x)
        sync(dev)
        t0 = time.perf_counter()
        for _ in range(n_batches):
            model(x)["pooled"].float().cpu()  # the copy back is part of extraction too
        sync(dev)
    return n_batches * batch_size / (time.perf_counter() - t0)


def decode_rate(probe, pre, n: int) -> float:
    """Images/s of decoding + resizing + collating alone, in this process (one core)."""
    ds = ProbeImages(probe, pre)
    t0 = time.perf_counter()
    for b in range(0, n, 64):
        _collate([ds[i] for i in range(b, min(b + 64, n))])
    return n / (time.perf_counter() - t0)


def main(argv=None) -> None:
    args = get_args_parser().parse_args(argv)
    dev = resolve_device(args.device)
    gpu = dev.type == "cuda"
    arch = args.arch or ("resnet50" if gpu else "resnet18")
    bs = args.batch_size or (256 if gpu else 64)
    n = args.n_images or (4096 if gpu else 768)
    kind, workers = resolve_workers(args.workers, dev, -(-n // bs), kind=args.worker_kind)  # (as extraction will)
    torch.manual_seed(0)
    encoder = load_encoder(f"tv:{arch}")
    encoder.preprocessing = Preprocessing(input_size=(args.size, args.size))
    model_runs, extract_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        write_pngs(Path(tmp), n, args.src_size or args.size * 3 // 2)
        probe = get_probe(f"folder:{tmp}")
        dec_ips = decode_rate(probe, encoder.preprocessing, min(n, 256))
        for _ in range(args.repeats):  # interleaved, so slow drifts of the machine hit both sides
            model_runs.append(bare_forward(encoder, dev, n, bs))
            t0 = time.perf_counter()
            fs = extract_features(
                encoder,
                probe,
                device=dev,
                batch_size=bs,
                workers=args.workers,
                worker_kind=args.worker_kind,
                use_cache=False,
                progress=False,
            )["pooled"]
            sync(dev)
            extract_runs.append(fs.n_images / (time.perf_counter() - t0))
    ratios = sorted(e / m for e, m in zip(extract_runs, model_runs, strict=True))
    model_ips, extract_ips = statistics.median(model_runs), statistics.median(extract_runs)
    threads = torch.get_num_threads()
    print(
        f"device={dev} arch={arch} size={args.size} batch={bs} images={n} workers={workers} {kind}s "
        f"threads={threads} repeats={args.repeats}"
    )
    print(f"decode + resize alone (one core):  {dec_ips:8.1f} images/s")
    print(f"model forward (pre-made tensors):  {model_ips:8.1f} images/s (median)")
    print(f"whole extraction (PNG on disk):    {extract_ips:8.1f} images/s (median)")
    if not gpu:
        # On CPU the forward already uses every core, so decoding can only take core time from it:
        # at best extraction/model = 1 / (1 + model_ips / (decode_ips × threads)).
        print(
            f"CPU bound if the forward used all {threads} cores perfectly: {1 / (1 + model_ips / (dec_ips * threads)):.3f}"
        )
    print(f"ratio per run: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"ratio: {statistics.median(ratios):.3f} (median; target >= 0.9)")


if __name__ == "__main__":
    main()
