"""The `invariance-lab` command: one module per sub-command in this package.

Each module `cli/<name>.py` (not starting with "_") defines `register(subparsers)`, which adds its
sub-command's parser and sets `func=` to the handler `func(args) -> int`. Modules are discovered,
so adding a sub-command is adding a file; `ORDER` only fixes the order of `--help`.

Parsers come from factories (`_common.encoder_parser()`, `_common.run_parser()`), so other tools
can reuse them with `parents=`; the parser does no I/O, and choices come from the registries.
Errors on bad input print one message (no traceback) and exit with status 2; results computed
before the error are written to `OUT/results.partial.{csv,json}`.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import InvarianceLabError

ORDER = ["evaluate", "compare", "score", "report", "train", "convert", "demo", "probes", "encoders", "data"]
"""Sub-commands in the order `--help` lists them; other modules follow alphabetically."""


def _command_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def build_parser() -> argparse.ArgumentParser:
    """The full `invariance-lab` parser."""
    from .._version import __version__

    parser = argparse.ArgumentParser(prog="invariance-lab", description="Measure what an image encoder is invariant to.")
    parser.add_argument("--version", action="version", version=f"invariance-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _command_modules():
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InvarianceLabError as exc:
        partial = getattr(exc, "partial_results", None)
        out = getattr(args, "out", None)
        if partial is not None and out and not partial.table.empty:
            csv_path, _ = partial.write(out, stem="results.partial")
            print(f"note: results computed before the error were written to {csv_path}", file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
