"""`invariance-lab data`: datasets, their manifests, checks, downloads, decode-once caches; SynthWorld renders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ._common import kv, workers_arg


def register(sub) -> None:
    data = sub.add_parser("data", help="datasets (list, check, fetch, prepare) and SynthWorld")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    lst = data_sub.add_parser("list", help="every dataset and probe: found under the data root or not, what is missing")
    lst.add_argument("--root", "--data-root", dest="root", help="data root (else $INVARIANCE_LAB_DATA, else the config file)")
    lst.set_defaults(func=list_)

    chk = data_sub.add_parser("check", help="validate a dataset's layout, counts, checksums and images; exit 0 when its probes can run")
    chk.add_argument("name", help="dataset (aloi, got10k, pascal3d, imagenet) or probe name")
    chk.add_argument("--root", "--data-root", dest="root", help="data root (else $INVARIANCE_LAB_DATA, else the config file)")
    chk.add_argument("--no-decode", action="store_true", help="check layout and annotations only, do not decode images")
    chk.add_argument("--probe-option", action="append", type=kv, default=[], metavar="KEY=VALUE")
    chk.add_argument("--json", help="also write the report as JSON to this file")
    chk.set_defaults(func=check)

    fet = data_sub.add_parser("fetch", help="download (resumable, checksum-verified) and unpack a public dataset")
    fet.add_argument("name", help="dataset id (aloi, pascal3d, ...)")
    fet.add_argument("--root", "--data-root", dest="root", help="data root to unpack into")
    fet.add_argument("--archive", action="append", help="archive name to fetch (repeatable; default: the manifest's default set)")
    fet.add_argument("--delete-archives", action="store_true", help="delete each archive once unpacked")
    fet.add_argument("--accept-terms", action="store_true", help="accept the dataset's terms (printed when missing) where its manifest asks for it")
    fet.set_defaults(func=fetch)

    pre = data_sub.add_parser("prepare", help="decode, crop and resize a probe's images once (memory-mapped uint8 cache) + probe manifest")
    pre.add_argument("name", help="probe name, e.g. aloi-viewpoint, got10k-occlusion")
    pre.add_argument("--root", "--data-root", dest="root", help="data root (else $INVARIANCE_LAB_DATA, else the config file)")
    pre.add_argument("--size", type=int, nargs="+", default=[128], help="input size H [W] (default 128, the paper's)")
    pre.add_argument("--resize", choices=["squash", "shorter-center"], default="squash")
    pre.add_argument("--interpolation", choices=["bilinear", "bicubic"], default="bilinear")
    pre.add_argument("--cache-dir", help="base cache folder (default $INVARIANCE_LAB_CACHE or ~/.cache/invariance_lab)")
    pre.add_argument("--workers", type=workers_arg, default="auto", help="decoding worker processes (auto: one per core, at most 8)")
    pre.add_argument("--manifest-out", help="also write the probe manifest (frozen item list, file sizes and sha256) here; "
                     "run it later with --probe manifest:PATH")
    pre.add_argument("--on-error", choices=["stop", "skip"], default="stop", help="unreadable image: stop, or record it and go on")
    pre.add_argument("--probe-option", action="append", type=kv, default=[], metavar="KEY=VALUE")
    pre.set_defaults(func=prepare)

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

    trk = data_sub.add_parser("tracks", help="region proposals + unsupervised tracks of a video dataset, stored once per video (resumable), for `train region-tracker`")
    trk.add_argument("data", help="video dataset: GOT-10k train split, TrackingNet root or SynthWorld clips")
    trk.add_argument("--layout", choices=["auto", "got10k", "trackingnet"], default="auto")
    trk.add_argument("--tracks-dir", help="output folder (default DATA/tracks, next to the frames)")
    trk.add_argument("--proposals", choices=["selective-search", "felzenszwalb", "oracle"], default="selective-search")
    trk.add_argument("--max-proposals", type=int, default=8, help="proposals kept per anchor frame")
    trk.add_argument("--tracker", choices=["kcf", "csrt", "oracle"], default="kcf", help="oracle: ground-truth boxes (ablations only)")
    trk.add_argument("--horizon", type=int, default=8, help="frames tracked after each anchor (>= the largest --frame-gap of training)")
    trk.add_argument("--anchor-stride", type=int, default=2, help="proposals every N frames")
    trk.add_argument("--min-size", type=float, default=0.08, help="smallest box side, as a fraction of the shorter frame side")
    trk.add_argument("--max-jump", type=float, default=0.5, help="largest per-frame centre motion, × box size")
    trk.add_argument("--max-scale", type=float, default=2.0, help="largest area change vs. the proposal")
    trk.add_argument("--min-inside", type=float, default=0.5, help="smallest fraction of a box inside the frame")
    trk.add_argument("--min-ncc", type=float, default=0.2, help="smallest patch correlation with the proposal")
    trk.set_defaults(func=tracks)


def _root(arg):
    from ..config import resolve_data_root
    from ..errors import ProbeError

    try:
        return Path(resolve_data_root(arg))
    except ProbeError:
        return None


def list_(args) -> int:
    from ..datasets.check import check_probe
    from ..datasets.manifests import dataset_of_probe, list_data_manifests, load_data_manifest
    from ..probes import PROBES

    root = _root(args.root)
    print(f"data root: {root if root else 'not set (--root, $INVARIANCE_LAB_DATA or data_root in the config file)'}\n")
    print("datasets:")
    for ds in list_data_manifests():
        m = load_data_manifest(ds)
        print(f"  {ds:10s} {m['title']}  [{m['access']}]  {m['homepage']}")
    print("\nprobes:")
    for name, factory in PROBES.items():
        doc = (factory.__doc__ or "").strip().splitlines()
        ds = dataset_of_probe(name)
        status = ""
        if ds and root is not None:
            chk = check_probe(name, root, decode=False)
            if not chk.found:
                status = f"  -- missing: {chk.error.splitlines()[0] if chk.error else 'not found'}"
            elif chk.problems:
                status = f"  -- found, {chk.n_images} images in {chk.n_sets} sets, {len(chk.problems)} problem(s): run `data check {name}`"
            else:
                status = f"  -- found: {chk.n_images} images in {chk.n_sets} sets"
        elif ds:
            status = "  -- (no data root set)"
        print(f"  {name:28s} {doc[0] if doc else ''}{status}")
    return 0


def check(args) -> int:
    """Exit 0: every probe of the dataset can run; 1: found but with problems; 2: not found."""
    from ..datasets.check import check_dataset

    root = _root(args.root)
    if root is None:
        print("data check needs --root DIR (or $INVARIANCE_LAB_DATA / data_root in the config file)", file=sys.stderr)
        return 2
    rep = check_dataset(args.name, root, decode=not args.no_decode, probe_options=dict(args.probe_option))
    print(f"{rep.dataset} under {root}")
    for pc in rep.probes:
        if not pc.found:
            print(f"  {pc.name}: NOT FOUND -- {pc.error}")
            continue
        state = "OK" if pc.ok else f"{len(pc.problems)} problem(s)"
        print(f"  {pc.name}: {pc.n_images} images in {pc.n_sets} sets -- {state}")
        if pc.error:
            print(f"    {pc.error.splitlines()[0]}")
        for p in pc.problems:
            print(f"    {p}")
    for path, status in rep.archives:
        print(f"  archive {path}: {status}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "dataset": rep.dataset, "root": str(root), "ok": rep.ok,
            "probes": [{"name": p.name, "found": p.found, "ok": p.ok, "n_images": p.n_images, "n_sets": p.n_sets,
                        "error": p.error, "problems": [{"path": q.path, "what": q.what} for q in p.problems]} for p in rep.probes],
            "archives": [{"path": a, "status": s} for a, s in rep.archives],
        }, indent=1))  # fmt: skip
    if rep.ok:
        print("all probes can run")
        return 0
    return 1 if rep.any_found else 2


def fetch(args) -> int:
    from ..datasets.fetch import fetch_dataset
    from ..datasets.manifests import load_data_manifest

    root = _root(args.root)
    if root is None:
        print("data fetch needs --root DIR", file=sys.stderr)
        return 2
    for r in fetch_dataset(load_data_manifest(args.name), root, args.archive, keep_archive=not args.delete_archives,
                           accept_terms=args.accept_terms):
        extra = f" ({r['bytes']} bytes{', resumed' if r.get('resumed') else ''}{', checksum ok' if r.get('verified') else ''})" if "bytes" in r else ""
        print(f"{r['archive']}: {r['status']} into {r['into']}{extra}")
    return 0


def prepare(args) -> int:
    from ..datasets.manifests import write_probe_manifest
    from ..datasets.prepare import prepare_probe
    from ..encoders import Preprocessing
    from ..probes import get_probe

    size = tuple(args.size * 2 if len(args.size) == 1 else args.size[:2])
    pre = Preprocessing(input_size=size, resize=args.resize, interpolation=args.interpolation)
    data_root = _root(args.root)
    probe = get_probe(args.name, root=data_root, **dict(args.probe_option))
    d = probe.describe()
    print(f"{probe.name}: {d['n_images']} images, {d['n_sets']} sets, {d['n_classes']} classes; left out: {probe.params.get('left_out', {})}")
    res = prepare_probe(probe, pre, args.cache_dir, workers=args.workers, on_error=args.on_error, progress=True)
    if args.manifest_out:
        sha = write_probe_manifest(probe, args.manifest_out, data_root=data_root, files=True)
        print(f"probe manifest {args.manifest_out} (sha256 {sha})")
    print(f"prepared {res['n_items']} images at {size[0]}x{size[1]} in {res['path']} "
          f"(decoded {res['decoded']} now, resumed from {res['resumed_from']}, {len(res['errors'])} unreadable, {res['seconds']:.1f} s)")
    for i, path, msg in res["errors"][:20]:
        print(f"  unreadable item {i}: {path}: {msg}")
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


def tracks(args) -> int:
    """Compute (or finish) the stored proposals and tracks of a video dataset."""
    from ..training.video import TrackParams, prepare_tracks, read_videos
    from .train import format_tracks_summary

    p = TrackParams(proposals=args.proposals, max_proposals=args.max_proposals, tracker=args.tracker, horizon=args.horizon,
                    anchor_stride=args.anchor_stride, min_size=args.min_size, max_jump=args.max_jump, max_scale=args.max_scale,
                    min_inside=args.min_inside, min_ncc=args.min_ncc)  # fmt: skip
    print(format_tracks_summary(prepare_tracks(read_videos(args.data, args.layout), p, args.tracks_dir, progress=True)))
    return 0
