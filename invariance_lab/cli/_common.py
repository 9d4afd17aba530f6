"""Option factories and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def kv(text: str) -> tuple[str, Any]:
    """Argparse type of `KEY=VALUE` options; the value is parsed as JSON when it is JSON."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def workers_arg(text: str) -> int | str:
    """Argparse type of `--workers`: `auto` or a count >= 0."""
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 0, got {text!r}")
    return n


def encoder_parser() -> argparse.ArgumentParser:
    """Options that say how to load an encoder (shared by evaluate, compare, encoders layers)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("encoder loading")
    g.add_argument("--weights", help="checkpoint to load into a tv:/timm: architecture (plain state dict, strict)")
    g.add_argument("--format", dest="ckpt_format", help="checkpoint format; skips detection (see `invariance-lab encoders formats`)")
    g.add_argument("--arch", help="architecture of a checkpoint file that does not record one, e.g. resnet50")
    g.add_argument("--trust-checkpoint", action="store_true", help="allow full pickle for files weights_only refuses (trusted files only)")
    g.add_argument("--head", nargs="?", const=True, default=False, metavar="PREFIX",
                   help="also measure the checkpoint's projection head as tap 'head' (e.g. MoCo v2's MLP fc); "
                   "PREFIX names another head's key prefix")  # fmt: skip
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
    add_strict_options(g)
    g = p.add_argument_group("extraction")
    g.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--workers", type=workers_arg, default="auto",
                   help="image-decoding workers; auto (default): a thread per core (at most 8) when the model runs on "
                        "the CPU, cores-1 processes (at most 8) with CUDA; 0 decodes between forwards")  # fmt: skip
    g.add_argument("--worker-kind", choices=["auto", "thread", "process"], default="auto",
                   help="decode in a thread pool or in DataLoader processes; auto: threads when the model runs on the CPU, processes with CUDA")  # fmt: skip
    g.add_argument("--cache-dir", help="feature cache folder (default: $XDG_CACHE_HOME/invariance_lab)")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write cached features")
    g.add_argument("--on-error", choices=["stop", "skip"], default="stop", help="unreadable image: stop, or skip it and count it")
    g.add_argument("--data-root", help="root of the real datasets (else $INVARIANCE_LAB_DATA, else the config file)")
    g.add_argument("--probe-option", action="append", type=kv, default=[], metavar="KEY=VALUE",
                   help="option passed to every probe, e.g. scale=2 or resolution=64")  # fmt: skip
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


STRICT_DEFAULTS = {"firing_rate": 0.05, "min_set_size": 3, "tie_tolerance": 2.0}


def add_strict_options(g) -> None:
    """Strict mode's options; None until given, so that paper mode can say it ignores them."""
    g.add_argument("--firing-rate", type=float, default=None, help="strict mode: target global firing rate (default 0.05)")
    g.add_argument("--min-set-size", type=int, default=None, help="strict mode: smaller sets are skipped and counted (default 3)")
    g.add_argument("--tie-tolerance", type=float, default=None,
                   help="strict mode: units whose global firing rate lies outside [q/T, q*T] (ties) are excluded (default 2)")  # fmt: skip


def strict_options(args) -> dict[str, Any]:
    """Strict mode's settings from `add_strict_options`, with defaults filled in.

    In paper mode a warning on stderr names any that were given (the paper's measure has none).
    """
    given = [k for k in STRICT_DEFAULTS if getattr(args, k) is not None]
    if args.mode == "paper" and given:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        print(f"warning: {names}: strict-mode settings, ignored in paper mode", file=sys.stderr)
    return {k: v if (v := getattr(args, k)) is not None else d for k, d in STRICT_DEFAULTS.items()}


def check_run_args(args) -> None:
    """Refuse an unusable --device, --batch-size or --workers before any probe is built or encoder loaded."""
    from ..features.extract import check_extraction_options

    check_extraction_options(args.device, args.batch_size, args.workers, args.worker_kind)


def run_options(args) -> dict[str, Any]:
    """Keyword arguments of `evaluate()` from the options of `run_parser()`."""
    return {
        "layers": args.layers or ["pooled"], "mode": args.mode, "ks": args.ks or [10, 25], "device": args.device,
        "batch_size": args.batch_size, "workers": args.workers, "worker_kind": args.worker_kind, "cache_dir": args.cache_dir, "use_cache": not args.no_cache,
        "on_error": args.on_error, "data_root": args.data_root, "n_boot": args.n_boot, "seed": args.seed,
        **strict_options(args), "progress": not args.no_progress,
    }  # fmt: skip


def probes_from_names(names: list[str], args) -> list:
    """Build the named probes with `--data-root` and the `--probe-option` values."""
    from ..probes import get_probe

    opts = dict(args.probe_option)
    # folder probes take no options; the rest receive what the user passed
    return [get_probe(n, root=args.data_root, **({} if n.startswith("folder") else opts)) for n in names]


def evaluate_and_write(encoders: list, probes: list, args):
    """Run `evaluate`, print the table, write `args.out/results.{csv,json}`; returns the `Results`."""
    from ..evaluate import evaluate, format_table

    results = evaluate(encoders, probes, return_results=True, **run_options(args))
    results.config["command"] = " ".join(sys.argv)
    csv_path, json_path = results.write(args.out)
    print(format_table(results.table))
    print(f"\nwrote {csv_path} and {json_path}")
    return results
