"""Throughput of the whole extraction path versus the bare model forward (DESIGN.md §7).

Writes a probe of generated PNGs to a temporary folder, then measures, with the same model, batch
size and device:

1. `model`: the feature module alone on pre-made normalised tensors already on the device (the
   ceiling: what the network can do);
2. `extract`: `extract_features` from the PNG files (decode, resize, DataLoader, transfer,
   normalise, forward, copy back), cache off.

and prints images/s of both and their ratio (target ≥ 0.9: extraction bound by the model, not the
loader). One run each, after a short warm-up of the model.

Example:
    python benchmarks/extract_speed.py                      # CPU: resnet18, 384 images
    python benchmarks/extract_speed.py --device cuda        # GPU: resnet50, 4096 images
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from invariance_lab.encoders import Preprocessing, load_encoder
from invariance_lab.features import extract_features, resolve_device
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
    p.add_argument("--n-images", type=int, default=None, help="default 384 on CPU, 4096 on GPU")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="DataLoader workers (default 0 on CPU, min(8, cores - 1) on GPU)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
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
    if cuda:
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


def main(argv=None) -> None:
    args = get_args_parser().parse_args(argv)
    dev = resolve_device(args.device)
    gpu = dev.type == "cuda"
    arch = args.arch or ("resnet50" if gpu else "resnet18")
    bs = args.batch_size or (256 if gpu else 64)
    n = args.n_images or (4096 if gpu else 384)
    workers = (
        args.workers
        if args.workers is not None
        else (min(8, max(1, (os.cpu_count() or 2) - 1)) if gpu else 0)
    )
    torch.manual_seed(0)
    encoder = load_encoder(f"tv:{arch}")
    encoder.preprocessing = Preprocessing(input_size=(args.size, args.size))
    with tempfile.TemporaryDirectory() as tmp:
        write_pngs(Path(tmp), n, args.src_size or args.size * 3 // 2)
        probe = get_probe(f"folder:{tmp}")
        model_ips = bare_forward(encoder, dev, n, bs)
        t0 = time.perf_counter()
        fs = extract_features(
            encoder,
            probe,
            device=dev,
            batch_size=bs,
            workers=workers,
            use_cache=False,
            progress=False,
        )["pooled"]
        sync(dev)
        extract_ips = fs.n_images / (time.perf_counter() - t0)
    print(
        f"device={dev} arch={arch} size={args.size} batch={bs} images={n} workers={workers} threads={torch.get_num_threads()}"
    )
    print(f"model forward (pre-made tensors): {model_ips:8.1f} images/s")
    print(f"whole extraction (PNG on disk):   {extract_ips:8.1f} images/s")
    print(f"ratio: {extract_ips / model_ips:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
