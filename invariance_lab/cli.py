"""The `invariance-lab` command: evaluate, score, compare, demo, probes, encoders, data.

Parsers come from factories (`*_parser()`), so other tools can reuse them with `parents=`; the
parser does no I/O, and choices come from the registries. Errors on bad input print one message
(no traceback) and exit with status 2; results computed before the error are written to
`OUT/results.partial.{csv,json}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .errors import InvarianceLabError


def _kv(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def encoder_parser() -> argparse.ArgumentParser:
    """Options that say how to load an encoder (shared by evaluate, compare, encoders layers)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("encoder loading")
    g.add_argument("--weights", help="checkpoint to load into a tv:/timm: architecture (plain state dict, strict)")
    g.add_argument("--format", dest="ckpt_format", help="checkpoint format; skips detection (see `invariance-lab encoders formats`)")
    g.add_argument("--arch", help="architecture of a checkpoint file that does not record one, e.g. resnet50")
    g.add_argument("--trust-checkpoint", action="store_true", help="allow full pickle for files weights_only refuses (trusted files only)")
    return p


def run_parser() -> argparse.ArgumentParser:
    """Extraction and measurement options (shared by evaluate, compare, demo)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("measurement")
    g.add_argument("--layer", action="append", dest="layers", help="tap to measure (repeatable); default: pooled penultimate features")
    g.add_argument("--mode", choices=["paper", "strict"], default="paper",
                   help="paper: reproduces the released script exactly; strict: quirks fixed, with bootstrap CIs")  # fmt: skip
    g.add_argument("--k", type=int, action="append", dest="ks", help="top-K neurons averaged (repeatable; default 10 and 25)")
    g.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples (default 1000 in strict mode, 0 in paper mode)")
    g.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    g.add_argument("--firing-rate", type=float, default=0.05, help="strict mode: target global firing rate")
    g.add_argument("--min-set-size", type=int, default=3, help="strict mode: smaller sets are skipped and counted")
    g = p.add_argument_group("extraction")
    g.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--workers", type=int, default=0, help="image-decoding worker processes (raise on a GPU machine)")
    g.add_argument("--cache-dir", help="feature cache folder (default: $XDG_CACHE_HOME/invariance_lab)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write cached features")
    g.add_argument("--on-error", choices=["stop", "skip"], default="stop", help="unreadable image: stop, or skip it and count it")
    g.add_argument("--data-root", help="root of the real datasets (else $INVARIANCE_LAB_DATA, else the config file)")
    g.add_argument("--probe-option", action="append", type=_kv, default=[], metavar="KEY=VALUE",
                   help="option passed to every probe, e.g. scale=2 or resolution=64")  # fmt: skip
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def build_parser() -> argparse.ArgumentParser:
    """The full `invariance-lab` parser."""
    parser = argparse.ArgumentParser(prog="invariance-lab", description="Measure what an image encoder is invariant to.")
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"invariance-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", parents=[encoder_parser(), run_parser()], help="measure one encoder on probes",
                        description="Extract features of an encoder on probes, score their invariance, write DIR/results.{csv,json}.")  # fmt: skip
    ev.add_argument("--encoder", required=True, help="tv:NAME[:imagenet], timm:NAME, or a checkpoint file")
    ev.add_argument("--probe", action="append", required=True, dest="probes",
                    help="probe name (repeatable): synth-viewpoint, folder:PATH (PATH/<class>/<set>/<image>), aloi-viewpoint, ...")  # fmt: skip
    ev.add_argument("--out", required=True, help="output folder")

    cmp_ = sub.add_parser("compare", parents=[run_parser()], help="measure several encoders on the same probes")
    cmp_.add_argument("encoders", nargs="+", help="encoder specs")
    cmp_.add_argument("--probes", required=True, help="comma-separated probe names")
    cmp_.add_argument("--out", required=True, help="output folder")

    sc = sub.add_parser("score", help="score features extracted elsewhere (alldata.pth or .npz)",
                        description="Score a features file: the paper's alldata.pth (feat, instance, classes) or an .npz with those keys.")  # fmt: skip
    sc.add_argument("features", help="alldata.pth or .npz with keys feat (N×D), instance (N), optional classes (N)")
    sc.add_argument("--mode", choices=["paper", "strict"], default="paper")
    sc.add_argument("--k", type=int, action="append", dest="ks")
    sc.add_argument("--n-boot", type=int, default=None)
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--firing-rate", type=float, default=0.05)
    sc.add_argument("--min-set-size", type=int, default=3)
    sc.add_argument("--json", dest="json_out", help="write the scores as JSON here")

    demo = sub.add_parser("demo", parents=[run_parser()], help="the embedded default: render SynthWorld, evaluate baseline encoders")
    demo.add_argument("--out", default="reports/demo", help="output folder (default reports/demo)")
    demo.add_argument("--encoders", default="tv:resnet18,tv:mobilenet_v3_small", help="comma-separated encoder specs")
    demo.add_argument("--scale", type=int, default=1, help="SynthWorld probe size multiplier")

    pr = sub.add_parser("probes", help="list registered probes")
    pr.add_argument("pattern", nargs="?", default="*")

    en = sub.add_parser("encoders", help="encoder formats and layers")
    en_sub = en.add_subparsers(dest="encoders_command", required=True)
    en_sub.add_parser("formats", help="list checkpoint formats and the key patterns they recognise")
    lay = en_sub.add_parser("layers", parents=[encoder_parser()], help="list the tap names of an encoder")
    lay.add_argument("spec")

    data = sub.add_parser("data", help="datasets and SynthWorld")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    data_sub.add_parser("list", help="list probes and where their data comes from")
    prev = data_sub.add_parser("synth-preview", help="contact sheet (PNG) of a SynthWorld probe")
    prev.add_argument("probe", help="synth-viewpoint, synth-illum-dir, ...")
    prev.add_argument("-o", "--out", required=True, help="PNG file to write")
    prev.add_argument("--probe-option", action="append", type=_kv, default=[], metavar="KEY=VALUE")
    vid = data_sub.add_parser("synth-videos", help="render SynthWorld clips in GOT-10k layout (resumable)")
    vid.add_argument("--out", required=True, help="output folder (list.txt, <clip>/00000001.jpg…, groundtruth.txt)")
    vid.add_argument("--clips", type=int, required=True)
    vid.add_argument("--frames", type=int, default=32)
    vid.add_argument("--resolution", type=int, default=128)
    vid.add_argument("--seed", type=int, default=0)
    vid.add_argument("--workers", type=int, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except InvarianceLabError as exc:
        partial = getattr(exc, "partial_results", None)
        out = getattr(args, "out", None)
        if partial is not None and out and not partial.table.empty:
            csv_path, _ = partial.write(out, stem="results.partial")
            print(f"note: results computed before the error were written to {csv_path}", file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def _run_options(args) -> dict[str, Any]:
    return {
        "layers": args.layers or ["pooled"], "mode": args.mode, "ks": args.ks or [10, 25], "device": args.device,
        "batch_size": args.batch_size, "workers": args.workers, "cache_dir": args.cache_dir, "use_cache": not args.no_cache,
        "on_error": args.on_error, "data_root": args.data_root, "n_boot": args.n_boot, "seed": args.seed,
        "firing_rate": args.firing_rate, "min_set_size": args.min_set_size, "progress": not args.no_progress,
    }  # fmt: skip


def _probes(names: list[str], args) -> list:
    from .probes import get_probe

    opts = dict(args.probe_option)
    return [get_probe(n, root=args.data_root, **_probe_opts(n, opts)) for n in names]


def _probe_opts(name: str, opts: dict[str, Any]) -> dict[str, Any]:
    # folder probes take no options; the rest receive what the user passed
    return {} if name.startswith("folder") else opts


def _evaluate_and_write(encoders: list, probes: list, args) -> int:
    from .evaluate import evaluate, format_table

    results = evaluate(encoders, probes, return_results=True, **_run_options(args))
    results.config["command"] = " ".join(sys.argv)
    csv_path, json_path = results.write(args.out)
    print(format_table(results.table))
    print(f"\nwrote {csv_path} and {json_path}")
    return 0


def _dispatch(args) -> int:
    if args.command == "evaluate":
        from .encoders import load_encoder

        enc = load_encoder(args.encoder, args.weights, format=args.ckpt_format, arch=args.arch, trust_checkpoint=args.trust_checkpoint)
        return _evaluate_and_write([enc], _probes(args.probes, args), args)
    if args.command == "compare":
        names = [n for n in args.probes.split(",") if n]
        return _evaluate_and_write(list(args.encoders), _probes(names, args), args)
    if args.command == "score":
        return _score(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "probes":
        from .probes import list_probes

        print("\n".join(list_probes(args.pattern)))
        return 0
    if args.command == "encoders":
        from .encoders import list_formats, load_encoder

        if args.encoders_command == "formats":
            for name, desc in list_formats():
                print(f"{name:20s} {desc}")
            return 0
        enc = load_encoder(args.spec, args.weights, format=args.ckpt_format, arch=args.arch, trust_checkpoint=args.trust_checkpoint)
        print("\n".join(enc.layer_names()))
        return 0
    if args.command == "data":
        if args.data_command == "list":
            from .probes import PROBES

            for name, factory in PROBES.items():
                doc = (factory.__doc__ or "").strip().splitlines()
                print(f"{name:22s} {doc[0] if doc else ''}")
            return 0
        if args.data_command == "synth-preview":
            from .synthworld import render_preview

            path = render_preview(args.probe, args.out, **dict(args.probe_option))
            print(f"wrote {path}")
            return 0
        if args.data_command == "synth-videos":
            from .synthworld import render_videos

            clips = render_videos(args.out, args.clips, frames=args.frames, resolution=args.resolution, seed=args.seed, workers=args.workers)
            print(f"{len(clips)} clips in {args.out}")
            return 0
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees a known command


def _score(args) -> int:
    from .features import load_feature_file
    from .metrics import score_features

    ff = load_feature_file(args.features)
    options: dict[str, Any] = {"n_boot": args.n_boot if args.n_boot is not None else (1000 if args.mode == "strict" else 0), "seed": args.seed}
    if args.mode == "strict":
        options.update(firing_rate=args.firing_rate, min_set_size=args.min_set_size)
    res = score_features(ff.feat, ff.instance, ff.classes, mode=args.mode, ks=args.ks or [10, 25], **options)
    summary = res.summary()
    summary["file"] = str(args.features)
    summary["curve"] = [float(v) for v in res.curve[:512]]
    for k in res.ks:
        lo, hi = res.ci[k]
        ci = f"  [{lo:.3f}, {hi:.3f}]" if lo == lo else ""
        print(f"top{k:<4d} {res.topk[k]:8.3f}{ci}")
    c = res.counts
    print(f"({args.mode} mode; {c['n_images']} images, {c['n_sets_used']}/{c['n_sets']} sets, {c['n_classes']} classes, {c['n_neurons']} neurons)")
    if args.json_out:
        from .evaluate import _jsonable

        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(_jsonable(summary), indent=1))
        print(f"wrote {args.json_out}")
    return 0


def _demo(args) -> int:
    from .synthworld import BATTERY, render_battery

    opts = dict(args.probe_option)
    probes = render_battery(scale=args.scale, progress=not args.no_progress, **opts)
    print(f"rendered {len(probes)} SynthWorld probes: {', '.join(BATTERY)}")
    encoders = [e for e in args.encoders.split(",") if e]
    return _evaluate_and_write(encoders, probes, args)
