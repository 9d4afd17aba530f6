"""`invariance-lab compare`: measure several encoders on the same probes."""

from __future__ import annotations

from ._common import evaluate_and_write, probes_from_names, run_parser


def register(sub) -> None:
    cmp_ = sub.add_parser("compare", parents=[run_parser()], help="measure several encoders on the same probes")
    cmp_.add_argument("encoders", nargs="+", help="encoder specs")
    cmp_.add_argument("--probes", required=True, help="comma-separated probe names")
    cmp_.add_argument("--out", required=True, help="output folder")
    cmp_.set_defaults(func=run)


def run(args) -> int:
    names = [n for n in args.probes.split(",") if n]
    evaluate_and_write(list(args.encoders), probes_from_names(names, args), args)
    return 0
