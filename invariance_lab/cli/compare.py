"""`invariance-lab compare`: measure several encoders on the same probes, then write the report."""

from __future__ import annotations

from pathlib import Path

from ._common import check_run_args, evaluate_and_write, probes_from_names, run_parser


def register(sub) -> None:
    cmp_ = sub.add_parser("compare", parents=[run_parser()], help="measure several encoders on the same probes, with a report")
    cmp_.add_argument("encoders", nargs="+", help="encoder specs")
    cmp_.add_argument("--probes", required=True, help="comma-separated probe names")
    cmp_.add_argument("--out", required=True, help="output folder: results.csv, results.json and report.html")
    cmp_.add_argument("--report-format", choices=["html", "md", "tex"], default="html", help="format of the report (default html)")
    cmp_.add_argument("--no-report", action="store_true", help="write the results only")
    cmp_.add_argument("--title", default=None, help="report title")
    cmp_.set_defaults(func=run)


def run(args) -> int:
    check_run_args(args)
    names = [n for n in args.probes.split(",") if n]
    results = evaluate_and_write(list(args.encoders), probes_from_names(names, args), args)
    if not args.no_report:
        write_report(results, args.out, fmt=getattr(args, "report_format", "html"), title=getattr(args, "title", None),
                     data_root=getattr(args, "data_root", None))  # fmt: skip
    return 0


def write_report(results, out_dir, fmt: str = "html", title: str | None = None, data_root: str | None = None) -> Path:
    """Write `out_dir/report.<fmt>` from a `Results`; prints where."""
    from ..report import build_report

    suffix = {"html": "html", "md": "md", "tex": "tex"}[fmt]
    path = build_report(results, Path(out_dir) / f"report.{suffix}", format=fmt, title=title, data_root=data_root,
                        command=results.config.get("command"))  # fmt: skip
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return path
