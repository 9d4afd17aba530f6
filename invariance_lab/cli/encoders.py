"""`invariance-lab encoders formats|layers`: checkpoint formats and the taps of an encoder."""

from __future__ import annotations

from ._common import encoder_parser


def register(sub) -> None:
    en = sub.add_parser("encoders", help="encoder formats and layers")
    en_sub = en.add_subparsers(dest="encoders_command", required=True)
    en_sub.add_parser("formats", help="list checkpoint formats and the key patterns they recognise").set_defaults(func=formats)
    lay = en_sub.add_parser("layers", parents=[encoder_parser()], help="list the tap names of an encoder")
    lay.add_argument("spec")
    lay.set_defaults(func=layers)


def formats(args) -> int:
    from ..encoders import list_formats

    for name, desc in list_formats():
        print(f"{name:20s} {desc}")
    return 0


def layers(args) -> int:
    from ..encoders import load_encoder

    enc = load_encoder(args.spec, args.weights, format=args.ckpt_format, arch=args.arch, trust_checkpoint=args.trust_checkpoint, head=args.head)
    print("\n".join(enc.layer_names()))
    return 0
