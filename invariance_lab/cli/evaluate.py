"""`invariance-lab evaluate`: measure one encoder on probes."""

from __future__ import annotations

from ._common import (
    check_run_args,
    encoder_parser,
    evaluate_and_write,
    probes_from_names,
    run_parser,
)


def register(sub) -> None:
    ev = sub.add_parser("evaluate", parents=[encoder_parser(), run_parser()], help="measure one encoder on probes",
                        description="Extract features of an encoder on probes, score their invariance, write DIR/results.{csv,json}.")  # fmt: skip
    ev.add_argument("--encoder", required=True, help="tv:NAME[:imagenet], timm:NAME, or a checkpoint file")
    ev.add_argument("--probe", action="append", required=True, dest="probes",
                    help="probe name (repeatable): synth-viewpoint, folder:PATH (PATH/<class>/<set>/<image>), aloi-viewpoint, ...")  # fmt: skip
    ev.add_argument("--out", required=True, help="output folder")
    ev.set_defaults(func=run)


def run(args) -> int:
    from ..encoders import load_encoder

    check_run_args(args)
    enc = load_encoder(args.encoder, args.weights, format=args.ckpt_format, arch=args.arch, trust_checkpoint=args.trust_checkpoint, head=args.head)
    evaluate_and_write([enc], probes_from_names(args.probes, args), args)
    return 0
