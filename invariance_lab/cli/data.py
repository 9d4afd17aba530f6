"""`invariance-lab data`: datasets, their manifests, and SynthWorld renders."""

from __future__ import annotations

from ._common import kv


def register(sub) -> None:
    data = sub.add_parser("data", help="datasets and SynthWorld")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    data_sub.add_parser("list", help="list probes and where their data comes from").set_defaults(func=list_)
    prev = data_sub.add_parser("synth-preview", help="contact sheet (PNG) of a SynthWorld probe")
    prev.add_argument("probe", help="synth-viewpoint, synth-illum-dir, ...")
    prev.add_argument("-o", "--out", required=True, help="PNG file to write")
    prev.add_argument("--probe-option", action="append", type=kv, default=[], metavar="KEY=VALUE")
    prev.set_defaults(func=synth_preview)
    vid = data_sub.add_parser("synth-videos", help="render SynthWorld clips in GOT-10k layout (resumable)")
    vid.add_argument("--out", required=True, help="output folder (list.txt, <clip>/00000001.jpg…, groundtruth.txt)")
    vid.add_argument("--clips", type=int, required=True)
    vid.add_argument("--frames", type=int, default=32)
    vid.add_argument("--resolution", type=int, default=128)
    vid.add_argument("--seed", type=int, default=0)
    vid.add_argument("--workers", type=int, default=None)
    vid.set_defaults(func=synth_videos)


def list_(args) -> int:
    from ..probes import PROBES

    for name, factory in PROBES.items():
        doc = (factory.__doc__ or "").strip().splitlines()
        print(f"{name:22s} {doc[0] if doc else ''}")
    return 0


def synth_preview(args) -> int:
    from ..synthworld import render_preview

    path = render_preview(args.probe, args.out, **dict(args.probe_option))
    print(f"wrote {path}")
    return 0


def synth_videos(args) -> int:
    from ..synthworld import render_videos

    clips = render_videos(args.out, args.clips, frames=args.frames, resolution=args.resolution, seed=args.seed, workers=args.workers)
    print(f"{len(clips)} clips in {args.out}")
    return 0
