"""`invariance-lab score`: score features extracted elsewhere (the paper's alldata.pth, or .npz)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._common import add_strict_options, strict_options


def register(sub) -> None:
    sc = sub.add_parser("score", help="score features extracted elsewhere (alldata.pth or .npz)",
                        description="Score a features file: the paper's alldata.pth (feat, instance, classes) or an .npz with those keys.")  # fmt: skip
    sc.add_argument("features", help="alldata.pth or .npz with keys feat (N×D), instance (N), optional classes (N)")
    sc.add_argument("--mode", choices=["paper", "strict"], default="paper")
    sc.add_argument("--k", type=int, action="append", dest="ks")
    sc.add_argument("--n-boot", type=int, default=None)
    sc.add_argument("--seed", type=int, default=0)
    add_strict_options(sc)
    sc.add_argument("--json", dest="json_out", help="write the scores as JSON here")
    sc.set_defaults(func=run)


def run(args) -> int:
    from ..evaluate import _jsonable
    from ..features import load_feature_file
    from ..metrics import score_features

    strict = strict_options(args)
    ff = load_feature_file(args.features)
    options: dict[str, Any] = {"n_boot": args.n_boot if args.n_boot is not None else (1000 if args.mode == "strict" else 0), "seed": args.seed}
    if args.mode == "strict":
        options.update(strict)
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
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(_jsonable(summary), indent=1))
        print(f"wrote {args.json_out}")
    return 0
