"""`invariance-lab demo`: the embedded default (render SynthWorld, evaluate baseline encoders)."""

from __future__ import annotations

from ._common import evaluate_and_write, run_parser


def register(sub) -> None:
    demo = sub.add_parser("demo", parents=[run_parser()], help="the embedded default: render SynthWorld, evaluate baseline encoders")
    demo.add_argument("--out", default="reports/demo", help="output folder (default reports/demo)")
    demo.add_argument("--encoders", default="tv:resnet18,tv:mobilenet_v3_small", help="comma-separated encoder specs")
    demo.add_argument("--scale", type=int, default=1, help="SynthWorld probe size multiplier")
    demo.add_argument("--no-report", action="store_true", help="write the results only, not OUT/report.html")
    demo.set_defaults(func=run)


def run(args) -> int:
    from ..synthworld import BATTERY, render_battery

    opts = dict(args.probe_option)
    probes = render_battery(scale=args.scale, progress=not args.no_progress, **opts)
    print(f"rendered {len(probes)} SynthWorld probes: {', '.join(BATTERY)}")
    encoders = [e for e in args.encoders.split(",") if e]
    results = evaluate_and_write(encoders, probes, args)
    if not args.no_report:
        from .compare import write_report

        write_report(results, args.out, title="invariance-lab demo: SynthWorld battery")
    return 0
