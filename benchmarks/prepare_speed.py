"""Decode once, evaluate many: the second encoder's end-to-end time with and without `data prepare`.

1. ALOI-like fixture (`--objects` objects x 72 views, default 40 = 2880 PNGs) in the paper's
   layout (`ALOI_viewpoint/<obj>/<obj>_r<angle>.png`), shaped like the red2 reduction the paper
   used: 384x288 RGB (DATASETS.md §1), a shaded, textured object on a dark background with sensor
   noise. The noise level is set so a PNG is about 100 KB, the compression ratio of the real
   red4 archive (`aloi_red4_view.tar` ~1.8 GB for 72,000 images of 192x144, DATASETS.md §1); real
   red2 file sizes are not known to us. `--fixture DIR` keeps it between runs.
2. For each (encoder, tap) of `--configs`, at the paper's 128 px, on CPU, with the tool's defaults
   for both paths (`--batch-size 64`, `--workers 0`, torch's default thread count), alternating
   the two paths `--repeats` times (median):
   - "decode per run": `get_probe` + `extract_features(prepared=False)`: decode, resize, run;
   - "prepared": `get_probe` + `extract_features(prepared=STORE)`: read the memmap, run
     (`prepare_probe` itself is timed separately: it is paid once, by the first encoder).
   Features of the two paths must be bit-identical (checked). Also measured: the model alone on
   ready tensors (`model_ms_img`, in the same alternation) and decode+resize alone
   (`decode_resize_ms_img`), which bound
   the ratio: (decode + model) / model; and the CPU time of each run (`cpu_speedup`, the ratio
   of process CPU seconds), less sensitive than wall time to other jobs on a shared machine.
3. GOT-10k: `--videos` sequences with GOT-like lengths (log-normal, median ~120 frames, 30..600)
   and cover labels (a sticky random walk on 0..8 that spends most time fully visible); counts
   the frames the released script decodes (every frame of every listed video) versus the frames
   `got10k-occlusion` opens.

Default configuration: `tv:resnet18@pooled`, the project's baseline encoder (the demo's) and the
cheapest backbone of the paper's family; the paper's own encoders are ResNet-50s, whose ratio is
lower (the model costs ~3x more per image). The other configurations are a cost dial: earlier
taps of the same ResNet-18 (the feature extractor stops at the tap, so `maxpool` costs one
convolution) show how the ratio grows as the encoder gets cheaper.

Usage:
    python benchmarks/prepare_speed.py                                  # default: ResNet-18, 2880 PNGs
    python benchmarks/prepare_speed.py --configs tv:resnet18@maxpool,tv:resnet18@layer1,tv:resnet18@layer2,tv:resnet18@pooled,tv:resnet50@pooled --objects 10
    python benchmarks/prepare_speed.py --profile                        # cProfile of one prepared run
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

RED2_HW = (288, 384)  # ALOI red2: 384x288 (W x H), DATASETS.md §1
PNG_NOISE = 1.2  # background sensor noise (grey levels): gives ~100 KB PNGs (see the docstring)


def _texture(rng: np.random.Generator) -> np.ndarray:
    h, w = RED2_HW
    t = Image.fromarray(rng.integers(0, 256, (h, 2 * w), dtype=np.uint8)).filter(ImageFilter.GaussianBlur(2.5))
    t = np.asarray(t, np.float32)
    return (t - t.min()) / (np.ptp(t) + 1e-6)


def aloi_view(rng: np.random.Generator, base: np.ndarray, tex: np.ndarray, angle: int) -> Image.Image:
    """One red2-sized view: an elliptic object (texture turning with `angle`, shading) on black + noise."""
    h, w = RED2_HW
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = math.radians(angle)
    rx, cx = 70 + 45 * abs(math.cos(t)), 192 + 12 * math.sin(t)
    inside = ((xx - cx) / rx) ** 2 + ((yy - 150) / 100) ** 2 < 1
    shade = 0.45 + 0.55 * np.clip(1 - ((xx - cx + 0.4 * rx * math.cos(t)) / (1.5 * rx)) ** 2 - ((yy - 115) / 150) ** 2, 0, 1)
    tx = np.roll(tex, int(angle / 360 * 2 * w), axis=1)[:, :w]
    img = np.where(inside[..., None], base * (shade * (0.55 + 0.9 * tx))[..., None], 3.0)
    img = img + rng.normal(0, PNG_NOISE, (h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_aloi_like(root: Path, n_objects: int) -> Path:
    """`root/ALOI_viewpoint/<obj>/<obj>_r<angle>.png`, 72 views per object (kept if already there)."""
    rng = np.random.default_rng(0)
    folder = root / "ALOI_viewpoint"
    for obj in range(1, n_objects + 1):
        d = folder / str(obj)
        if d.is_dir() and len(list(d.glob("*.png"))) == 72:
            continue
        d.mkdir(parents=True, exist_ok=True)
        base, tex = rng.integers(60, 255, 3).astype(np.float32), _texture(rng)
        for a in range(0, 360, 5):
            aloi_view(rng, base, tex, a).save(d / f"{obj}_r{a}.png")
    return root


def make_got_like(root: Path, n_videos: int) -> tuple[Path, int]:
    rng = np.random.default_rng(1)
    split = root / "GOT-10k" / "train"
    names, total = [], 0
    tiny = Image.fromarray(np.full((36, 48, 3), 90, np.uint8))
    for v in range(n_videos):
        n = int(np.clip(rng.lognormal(math.log(120), 0.6), 30, 600))
        cover, c = [], 8
        for _ in range(n):
            if rng.random() < 0.08:
                c = int(np.clip(c + rng.integers(-3, 4), 0, 8))
            elif c < 8 and rng.random() < 0.05:
                c = 8
            cover.append(c)
        name = f"GOT-10k_Train_{v + 1:06d}"
        d = split / name
        d.mkdir(parents=True)
        for i in range(n):
            tiny.save(d / f"{i + 1:08d}.jpg")
        (d / "groundtruth.txt").write_text("5.0,4.0,20.0,15.0\n" * n)
        (d / "cover.label").write_text("".join(f"{x}\n" for x in cover))
        (d / "absence.label").write_text("".join(f"{int(x == 0)}\n" for x in cover))
        (d / "cut_by_image.label").write_text("0\n" * n)
        (d / "meta_info.ini").write_text(f"[METAINFO]\nobject_class: class {v % 7}\n")
        names.append(name)
        total += n
    (split / "list.txt").write_text("\n".join(names) + "\n")
    return root, total


def _median(ts: list[float]) -> float:
    return statistics.median(ts)


def bench_config(spec: str, layer: str, data: Path, cache: Path, pre, args) -> dict:
    from invariance_lab.encoders import load_encoder
    from invariance_lab.features import extract_features
    from invariance_lab.probes import get_probe

    torch.manual_seed(0)
    enc = load_encoder(spec)
    enc.preprocessing = pre
    kw = dict(layers=[layer], use_cache=False, progress=False, batch_size=args.batch_size, workers=args.workers, device="cpu")
    n = len(get_probe("aloi-viewpoint", root=data))
    # the model alone on ready tensors, same batches (the floor of both paths)
    model = enc.feature_module([layer]).eval()
    x = pre.normalize(torch.randint(0, 256, (args.batch_size, 3, *pre.input_size), dtype=torch.uint8))
    with torch.inference_mode():
        model(x)  # warm-up

    def model_only() -> None:
        with torch.inference_mode():
            for b in range(0, n, args.batch_size):
                model(x[: min(args.batch_size, n - b)])

    wall: dict[str, list[float]] = {"model": [], "decode": [], "prepared": []}
    cpu: dict[str, list[float]] = {"model": [], "decode": [], "prepared": []}
    feats = {}
    dec = []
    for _ in range(args.repeats):  # alternate so that a change of machine load hits every path
        dec.append(decode_cost(data, pre, reps=1))
        for path in ("model", "decode", "prepared"):
            t, c = time.perf_counter(), time.process_time()
            if path == "model":
                model_only()
            else:
                probe = get_probe("aloi-viewpoint", root=data)
                feats[path] = extract_features(enc, probe, prepared=False if path == "decode" else cache, **kw)[layer]
            wall[path].append(time.perf_counter() - t)
            cpu[path].append(time.process_time() - c)
    t_model = _median(wall["model"])
    assert feats["prepared"].provenance["image_cache"]["decoded_shards"] == [], "prepared run decoded images"
    td, tp = _median(wall["decode"]), _median(wall["prepared"])
    return {
        "encoder": spec, "layer": layer, "dim": int(feats["decode"].feat.shape[1]),
        "model_ms_img": round(1e3 * t_model / n, 2), "model_img_s": round(n / t_model, 1),
        "decode_per_run_s": round(td, 2), "decode_per_run_img_s": round(n / td, 1),
        "prepared_run_s": round(tp, 2), "prepared_run_img_s": round(n / tp, 1),
        "speedup_second_encoder": round(td / tp, 2),
        "cpu_speedup": round(_median(cpu["decode"]) / _median(cpu["prepared"]), 2),
        "runs_wall_s": {k: [round(v, 2) for v in vs] for k, vs in wall.items()},
        "runs_cpu_s": {k: [round(v, 2) for v in vs] for k, vs in cpu.items()},
        "features_identical": bool(np.array_equal(feats["decode"].feat, feats["prepared"].feat)),
        "decode_resize_ms_img": round(1e3 * _median(dec), 2),
        "bound_decode_plus_model_over_model": round((_median(dec) + t_model / n) / (t_model / n), 2),
    }  # fmt: skip


def decode_cost(data: Path, pre, n: int = 144, reps: int = 3) -> float:
    """Seconds per image of decode + resize to uint8 (what the prepared store saves), median of `reps`."""
    from invariance_lab.probes import get_probe

    probe = get_probe("aloi-viewpoint", root=data)
    idx = range(0, len(probe), max(1, len(probe) // n))
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        for i in idx:
            pre.to_uint8(probe.load_image(i))
        ts.append((time.perf_counter() - t) / len(idx))
    return _median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=40, help="ALOI-like objects (72 PNGs each); default 40 = 2880 PNGs")
    ap.add_argument("--configs", default="tv:resnet18@pooled", help="comma-separated ENCODER@TAP (default tv:resnet18@pooled)")
    ap.add_argument("--size", type=int, default=128, help="input size (default 128, the paper's)")
    ap.add_argument("--batch-size", type=int, default=64, help="default 64 (the tool's default)")
    ap.add_argument("--workers", type=int, default=0, help="decoding workers (default 0, the tool's default)")
    ap.add_argument("--repeats", type=int, default=1, help="alternating runs of each path (median reported)")
    ap.add_argument("--videos", type=int, default=60, help="GOT-10k-like videos (0 skips that part)")
    ap.add_argument("--fixture", help="folder for the ALOI-like fixture, kept between runs (default: a temporary one)")
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile of one prepared run")
    args = ap.parse_args()

    from invariance_lab.datasets.prepare import prepare_probe
    from invariance_lab.encoders import Preprocessing
    from invariance_lab.probes import get_probe

    out: dict = {"torch_threads": torch.get_num_threads(), "batch_size": args.batch_size, "workers": args.workers,
                 "input_size": args.size, "device": "cpu (fp32)"}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = Path(args.fixture) if args.fixture else tmp / "data"
        t = time.perf_counter()
        make_aloi_like(data, args.objects)
        out["fixture_seconds"] = round(time.perf_counter() - t, 1)
        probe = get_probe("aloi-viewpoint", root=data)
        if len(probe) != 72 * args.objects:
            raise SystemExit(f"{data} holds more than --objects {args.objects} objects; use a fresh --fixture folder")
        files = [probe.resolve(it) for it in probe.items]
        pre = Preprocessing(input_size=(args.size, args.size))
        t = time.perf_counter()
        prep = prepare_probe(probe, pre, tmp / "cache", workers=args.workers)
        t_prepare = time.perf_counter() - t
        n = len(probe)
        dec = decode_cost(data, pre)
        out["aloi"] = {
            "images": n, "png_size_wh": [RED2_HW[1], RED2_HW[0]], "png_kb_mean": round(sum(f.stat().st_size for f in files) / n / 1e3, 1),
            "decode_resize_ms_img": round(1e3 * dec, 2),
            "prepare_once_s": round(t_prepare, 2), "prepare_img_s": round(n / t_prepare, 1),
            "store": prep["path"].rsplit("/", 1)[-1], "store_mb": round(Path(prep["path"], "images.npy").stat().st_size / 1e6, 1),
            "configs": [],
        }  # fmt: skip
        for cfg in args.configs.split(","):
            spec, _, layer = cfg.strip().partition("@")
            r = bench_config(spec, layer or "pooled", data, tmp / "cache", pre, args)
            out["aloi"]["configs"].append(r)
            print(json.dumps(r), flush=True)
        if args.profile:
            import cProfile
            import pstats

            from invariance_lab.encoders import load_encoder
            from invariance_lab.features import extract_features

            spec, _, layer = args.configs.split(",")[0].partition("@")
            enc = load_encoder(spec)
            enc.preprocessing = pre
            prof = cProfile.Profile()
            prof.enable()
            extract_features(enc, get_probe("aloi-viewpoint", root=data), [layer or "pooled"], use_cache=False, progress=False,
                             batch_size=args.batch_size, device="cpu", prepared=tmp / "cache")  # fmt: skip
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)
        if args.videos:
            t = time.perf_counter()
            _, total = make_got_like(tmp / "got", args.videos)
            t_gen = time.perf_counter() - t
            t = time.perf_counter()
            gp = get_probe("got10k-occlusion", root=tmp / "got")
            t_build = time.perf_counter() - t
            out["got10k"] = {
                "videos": args.videos, "frames_total": total, "fixture_seconds": round(t_gen, 1),
                "released_script_frames_decoded": total, "probe_frames_opened": len(gp),
                "fraction": round(len(gp) / total, 4), "kept_videos": gp.params["n_sets"],
                "left_out": gp.params["left_out"], "probe_build_s": round(t_build, 2),
            }  # fmt: skip
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
