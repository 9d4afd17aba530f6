"""`invariance-lab report`: one page (HTML, Markdown or LaTeX) from one or more results files."""

from __future__ import annotations


def register(sub) -> None:
    rep = sub.add_parser("report", help="build a self-contained HTML (or Markdown/LaTeX) report from results files",
                         description="Merge results files (same metric mode and probe manifests) into one report: summary "
                                     "table, per-probe bars, profiles, top-K curves, per-layer heat map, example sets, metadata.")  # fmt: skip
    rep.add_argument("results", nargs="+", help="results.json files, or folders holding one")
    rep.add_argument("-o", "--out", required=True, help="page to write, e.g. reports/NAME.html (.md/.tex pick the format)")
    rep.add_argument("--format", choices=["html", "md", "tex"], default=None, help="output format (default: from the suffix of --out, else html)")
    rep.add_argument("--allow-mixed", action="store_true", help="merge results of different metric modes or probe digests (labelled apart)")
    rep.add_argument("--title", default=None, help="page title")
    rep.add_argument("--data-root", default=None, help="root of the real datasets, to show example images of their probes")
    rep.add_argument("--no-examples", action="store_true", help="leave out the example-set thumbnails")
    rep.add_argument("--no-figures", action="store_true", help="tables and metadata only")
    rep.set_defaults(func=run)


def run(args) -> int:
    from ..report import build_report

    path = build_report(list(args.results), args.out, format=args.format, allow_mixed=args.allow_mixed, title=args.title,
                        data_root=args.data_root, examples=not args.no_examples, figures=not args.no_figures)  # fmt: skip
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
