"""Decode once, evaluate many: the second encoder's end-to-end time with and without `data prepare`.

1. ALOI-like fixture: `--objects` objects x 72 views as red2-sized (384x288) RGB PNGs in the
   paper's layout (ALOI_viewpoint/<obj>/<obj>_r<angle>.png).
2. A cheap encoder (ResNet-18 at `--size` px, random weights, CPU) so that decoding matters.
   Path A, "decode per run": `extract_features(..., prepared=False)` decodes, resizes and runs the
   model (what every encoder pays without the prepared cache).
   Path B, "prepared": `prepare_probe` once (timed separately), then `extract_features` reads the
   memory-mapped uint8 store. Both feature matrices are compared (must be identical).
3. GOT-10k: `--videos` sequences with GOT-like lengths (log-normal, median ~120 frames, 30..600)
   and cover labels (a sticky random walk on 0..8 that spends most time fully visible); counts the
   frames the released script decodes (every frame of every listed video, stride 1) versus the
   frames `got10k-occlusion` opens (only the selected ones).

Usage: .venv/bin/python benchmarks/prepare_speed.py [--objects 40] [--size 64] [--videos 60] [--workers 0]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_aloi_like(root: Path, n_objects: int) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "ALOI_viewpoint"
    yy, xx = np.mgrid[0:288, 0:384].astype(np.float32)
    for obj in range(1, n_objects + 1):
        d = folder / str(obj)
        d.mkdir(parents=True, exist_ok=True)
        base = rng.integers(40, 255, 3)
        tex = rng.integers(0, 60, (288, 384, 1), dtype=np.int16)
        for a in range(0, 360, 5):
            t = math.radians(a)
            r = 60 + 40 * abs(math.cos(t))
            blob = ((xx - 192) / r) ** 2 + ((yy - 144) / 90) ** 2 < 1
            img = np.zeros((288, 384, 3), np.int16)
            img[blob] = base
            img = np.clip(img + tex * blob[..., None], 0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / f"{obj}_r{a}.png")
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=40)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--videos", type=int, default=60)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    from invariance_lab.datasets.prepare import prepare_probe
    from invariance_lab.encoders import Preprocessing, load_encoder
    from invariance_lab.features import extract_features
    from invariance_lab.probes import get_probe

    out: dict = {"torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        make_aloi_like(tmp / "data", args.objects)
        out["fixture_seconds"] = round(time.perf_counter() - t, 1)
        probe = get_probe("aloi-viewpoint", root=tmp / "data")
        n = len(probe)
        pre = Preprocessing(input_size=(args.size, args.size))
        torch.manual_seed(0)
        enc = load_encoder("tv:resnet18")
        enc.preprocessing = pre
        kw = dict(use_cache=False, progress=False, batch_size=args.batch_size, workers=args.workers, device="cpu")
        extract_features(enc, get_probe("aloi-viewpoint", root=tmp / "data", objects=1), prepared=False, **kw)  # warm-up
        t = time.perf_counter()
        a = extract_features(enc, probe, prepared=False, **kw)["pooled"]
        t_decode = time.perf_counter() - t
        t = time.perf_counter()
        prep = prepare_probe(probe, pre, tmp / "cache", workers=args.workers)
        t_prepare = time.perf_counter() - t
        t = time.perf_counter()
        b = extract_features(enc, probe, prepared=tmp / "cache", **kw)["pooled"]
        t_prepared = time.perf_counter() - t
        assert b.provenance["image_cache"]["decoded_shards"] == []
        out["aloi"] = {
            "images": n, "png_size": [384, 288], "input_size": args.size, "encoder": "resnet18 (random weights, cpu fp32)",
            "decode_per_run_s": round(t_decode, 2), "decode_per_run_img_s": round(n / t_decode, 1),
            "prepare_once_s": round(t_prepare, 2), "prepare_img_s": round(n / t_prepare, 1),
            "prepared_run_s": round(t_prepared, 2), "prepared_run_img_s": round(n / t_prepared, 1),
            "speedup_second_encoder": round(t_decode / t_prepared, 2),
            "features_identical": bool(np.array_equal(a.feat, b.feat)), "store": prep["path"].rsplit("/", 1)[-1],
        }  # fmt: skip
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
