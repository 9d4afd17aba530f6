"""`invariance-lab convert`: a published checkpoint → plain backbone weights + JSON sidecar."""

from __future__ import annotations


def register(sub) -> None:
    cv = sub.add_parser("convert", help="write a checkpoint's backbone as plain .safetensors/.pth with a JSON sidecar",
                        description="Detect a checkpoint's format, load it strictly, and write the mapped backbone "
                        "(architecture's own key names) plus OUT.json: source format, arch, dropped keys, digest, "
                        "preprocessing. `invariance-lab evaluate --encoder OUT` loads it back identically.")  # fmt: skip
    cv.add_argument("checkpoint", help="checkpoint file (any format listed by `invariance-lab encoders formats`)")
    cv.add_argument("-o", "--out", required=True, help="output file, .safetensors or .pth")
    cv.add_argument("--format", dest="ckpt_format", default="auto", help="source format, or auto (detect; default)")
    cv.add_argument("--arch", help="architecture when the file neither records it nor lets it be inferred")
    cv.add_argument("--trust-checkpoint", action="store_true", help="allow full pickle for the source (trusted files only)")
    cv.set_defaults(func=run)


def run(args) -> int:
    from ..encoders.convert import convert_checkpoint

    side = convert_checkpoint(args.checkpoint, args.out, format=args.ckpt_format, arch=args.arch,
                              trust_checkpoint=args.trust_checkpoint)  # fmt: skip
    print(f"{args.checkpoint}: format {side['source_format']}, arch {side['arch']} ({side['arch_source']})")
    print(f"  kept {side['n_tensors']} tensors, dropped {len(side['dropped'])} head keys; digest {side['digest'][:16]}")
    for w in side["warnings"]:
        print(f"  warning: {w}")
    print(f"wrote {args.out} and {args.out}.json")
    return 0
