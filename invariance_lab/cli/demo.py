"""`invariance-lab demo`: the embedded default (render SynthWorld, train a small encoder, evaluate three).

The three encoders and what physics says about them:

- `tv:resnet18`: a randomly initialised ResNet-18 (seed `encoders._arch.INIT_SEED`), the baseline;
- `tv:resnet18[input_norm=greyworld]`: the same network behind a hand-built grey-world input
  layer (each channel divided by its image mean, `Preprocessing.input_norm`). An illuminant
  colour change is, to first order, a per-channel gain (von Kries), which this layer cancels: it
  must score higher than the baseline on `synth-illum-color`, and about the same elsewhere;
- `mocov2-r18-synth-64px.pt`: a ResNet-18 trained here with MoCo v2 (`invariance_lab.training`)
  on SynthWorld renders at 64 px for a short fixed budget (`DEMO_TRAINING`), evaluated like the
  others at the paper's 128 px. Its augmentations (random resized crops, colour jitter,
  grey-scale) teach crop and colour invariance.

The trained encoder is cached under `<cache>/demo/<settings digest>/` (the digest covers the
training settings, the world version and the torch/Mitsuba versions), so a second demo run reuses
it; a killed training run resumes from its last checkpoint. `--no-train` leaves it out.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

from ._common import check_run_args, run_options, run_parser

DEMO_ENCODERS = "tv:resnet18,tv:resnet18[input_norm=greyworld]"
DEMO_TRAINING = {
    "method": "mocov2", "arch": "tv:resnet18", "data": "synth", "image_size": 64, "batch_size": 32, "epochs": 7,
    "lr": 0.12, "queue_size": 1024, "moco_m": 0.99, "bn_mode": "split:2", "synth_instances": 16, "synth_views": 2,
    "seed": 0, "knn_every": 0,
}  # fmt: skip
"""The demo's training run: 384 renders (12 categories x 16 instances x 2 views), 7 epochs of 12
steps of 32 pairs (2,688 pairs, about 2-3 minutes on a 2-core CPU); lr and key momentum raised
for a short run, as MoCo's CIFAR demo does; BN statistics over 2 groups of 16 (split BN, the
one-device stand-in for MoCo's shuffle BN) rather than the default 8 groups of 4."""
TRAINED_NAME = "mocov2-r18-synth-64px.pt"


def register(sub) -> None:
    demo = sub.add_parser("demo", parents=[run_parser()], help="the embedded default: render SynthWorld, train a small encoder, evaluate three")
    demo.add_argument("--out", default="reports/demo", help="output folder (default reports/demo)")
    demo.add_argument("--encoders", default=DEMO_ENCODERS, help=f"comma-separated encoder specs evaluated besides the trained one (default {DEMO_ENCODERS})")
    demo.add_argument("--no-train", action="store_true", help="do not train (or reuse) the small MoCo v2 encoder")
    demo.add_argument("--scale", type=int, default=1, help="SynthWorld probe size multiplier")
    demo.add_argument("--no-report", action="store_true", help="write the results only, not OUT/report.html")
    demo.set_defaults(func=run)


def training_key(settings: dict) -> str:
    """Digest of what determines the trained weights: the settings, the world, torch and Mitsuba."""
    from ..synthworld.scene import WORLD_VERSION

    payload = {"settings": settings, "world_version": WORLD_VERSION, "torch": version("torch"), "mitsuba": version("mitsuba")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def trained_encoder(cache_root: Path, *, device: str = "auto", render_cache: str | None = None, progress: bool = True) -> tuple[Path, bool]:
    """The demo's MoCo v2 encoder file, trained now unless cached; returns (path, trained now).

    Raises:
        TrainingError: from the trainer (bad device, unreadable renders).

    """
    from ..encoders import load_encoder
    from ..encoders.formats.native import save_encoder
    from ..training import TrainConfig, train

    settings = dict(DEMO_TRAINING)
    folder = cache_root / "demo" / training_key(settings)
    final = folder / TRAINED_NAME
    if final.is_file():
        return final, False
    method = settings.pop("method")
    cfg = TrainConfig.for_method(method, **settings, out=str(folder / "run"), resume="auto", device=device,
                                 synth_cache=render_cache, progress=progress)  # fmt: skip
    train(cfg)
    ckpt = folder / "run" / "checkpoint.pt"
    enc = load_encoder(ckpt)
    save_encoder(enc, final, meta={"trained_by": "invariance-lab demo", "training": cfg.to_dict(), "key": folder.name})
    ckpt.unlink()  # the training state (optimiser, queue, key encoder) is not needed once the encoder is saved
    return final, True


def run(args) -> int:
    from ..config import default_cache_dir
    from ..encoders import load_encoder
    from ..evaluate import evaluate, format_table
    from ..features import extract_features
    from ..synthworld import BATTERY, render_battery

    check_run_args(args)
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    clock = _Clock(timings, cpu)
    clock.start()
    opts = dict(args.probe_option)
    opts.setdefault("device", "cuda" if args.device.startswith("cuda") else args.device)  # renders: default GPU
    probes = render_battery(scale=args.scale, progress=not args.no_progress, **opts)
    clock.stop("render")
    print(f"rendered {len(probes)} SynthWorld probes: {', '.join(BATTERY)}")

    specs: list = [e for e in args.encoders.split(",") if e]
    if not args.no_train:
        clock.start()
        path, fresh = trained_encoder(Path(default_cache_dir()), device=args.device, render_cache=opts.get("cache_dir"),
                                      progress=not args.no_progress)  # fmt: skip
        clock.stop("train")
        print(f"{'trained' if fresh else 'reusing the cached'} MoCo v2 encoder: {path}")
        specs.append(str(path))
    encoders = [load_encoder(s) for s in specs]

    kw = run_options(args)
    if kw["use_cache"]:  # extract first (cached on disk), so that scoring is timed on its own
        clock.start()
        for enc in encoders:
            for probe in probes:
                extract_features(enc, probe, kw["layers"], device=kw["device"], batch_size=kw["batch_size"], workers=kw["workers"],
                                 worker_kind=kw["worker_kind"],
                                 cache_dir=kw["cache_dir"], on_error=kw["on_error"], progress=kw["progress"])  # fmt: skip
        clock.stop("extract")
    clock.start()
    results = evaluate(encoders, probes, return_results=True, **kw)
    clock.stop("score" if kw["use_cache"] else "extract+score")
    results.config["command"] = " ".join(sys.argv)
    results.config["demo"] = {"encoders": specs, "training": DEMO_TRAINING if not args.no_train else None,
                              "timings_s": {k: round(v, 1) for k, v in timings.items()},
                              "cpu_s": {k: round(v, 1) for k, v in cpu.items()}}  # fmt: skip
    csv_path, json_path = results.write(args.out)
    print(format_table(results.table))
    print(f"\nwrote {csv_path} and {json_path}")
    if not args.no_report:
        from .compare import write_report

        clock.start()
        write_report(results, args.out, title="invariance-lab demo: SynthWorld battery, three encoders")
        clock.stop("report")
    print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + f"; total {sum(timings.values()):.0f} s")
    print("CPU time (all processes and threads): " + ", ".join(f"{k} {v:.0f} s" for k, v in cpu.items()) + f"; total {sum(cpu.values()):.0f} s")
    return 0


class _Clock:
    """Wall and CPU seconds per phase.

    CPU: this process's threads plus finished worker processes (`os.times`), so that a run on a
    busy machine still tells what the work itself costs.
    """

    def __init__(self, wall: dict[str, float], cpu: dict[str, float]):
        self.wall, self.cpu = wall, cpu

    @staticmethod
    def _cpu() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def start(self) -> None:
        self.t0, self.c0 = time.perf_counter(), self._cpu()

    def stop(self, name: str) -> None:
        self.wall[name] = time.perf_counter() - self.t0
        self.cpu[name] = self._cpu() - self.c0
