"""`invariance-lab train {moco,mocov2,pirl,temporal,region-tracker}`: train a reference model; checkpoints load in `evaluate`.

Defaults are the papers' (MoCo v1/v2: facebookresearch/moco `main_moco.py` and README; PIRL:
VISSL's `pirl_jigsaw_4node_resnet50.yaml`; the video methods: MoCo v2 plus our reading of
Purushwalkam & Gupta 2020, see `training/methods/temporal.py`); each sub-command shows its own. Under torchrun
(`torchrun --nproc_per_node N -m invariance_lab train ...`) the run is distributed.
"""

from __future__ import annotations

import argparse


def _pair(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(",")
    try:
        return float(lo), float(hi)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LOW,HIGH (e.g. 0.2,1.0), got {text!r}"
        ) from None


def _int_pair(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition(",")
    try:
        return (int(lo), int(hi)) if sep else (int(lo), int(lo))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LOW,HIGH frames (e.g. 1,8), got {text!r}"
        ) from None


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected on/off, got {text!r}")


def common_parser() -> argparse.ArgumentParser:
    """Options shared by every method (data, optimisation, runtime); defaults None = the method's."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        default="synth",
        help="image folder (ImageNet layout or flat, e.g. COCO train2017/), or 'synth' (SynthWorld renders, nothing downloaded)",
    )
    g.add_argument("--image-size", type=int, help="training resolution (default 224; 64 for synth)")
    g.add_argument(
        "--synth-categories", help="comma-separated SynthWorld categories (default: all)"
    )
    g.add_argument("--synth-instances", type=int, help="synth: instances per category (default 16)")
    g.add_argument("--synth-views", type=int, help="synth: random views per instance (default 2)")
    g.add_argument(
        "--synth-cache",
        help="synth: render cache folder (default: $INVARIANCE_LAB_CACHE/synthworld)",
    )
    g.add_argument(
        "--knn-data",
        help="labelled folder (ImageNet layout) for the kNN monitor, or 'synth' for held-out SynthWorld renders (the default with --data synth)",
    )
    g.add_argument(
        "--workers",
        type=int,
        help="data-loading processes per rank (default 0; raise on GPU machines)",
    )
    g = p.add_argument_group("model")
    g.add_argument("--arch", help="backbone, tv:NAME or timm:NAME (default tv:resnet50)")
    g.add_argument("--dim", type=int, help="embedding dimension (128)")
    g.add_argument("--mlp", type=_bool, help="2-layer MLP head on/off (MoCo v2: on)")
    g.add_argument(
        "--temperature", type=float, help="softmax temperature T (MoCo v1 0.07, v2 0.2, PIRL 0.07)"
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, help="epochs (200)")
    g.add_argument("--batch-size", type=int, help="global batch over all processes (256)")
    g.add_argument(
        "--lr", type=float, help="SGD lr per 256 images, scaled linearly with the batch (0.03)"
    )
    g.add_argument(
        "--schedule", choices=["step", "cos"], help="per-epoch lr schedule (v1: step, v2/PIRL: cos)"
    )
    g.add_argument(
        "--lr-steps",
        type=lambda s: [int(x) for x in s.split(",")],
        help="step schedule: epochs where lr ×0.1 (120,160)",
    )
    g.add_argument("--sgd-momentum", type=float, help="SGD momentum (0.9)")
    g.add_argument("--weight-decay", type=float, help="weight decay (1e-4)")
    g.add_argument(
        "--wd-bn-bias",
        type=_bool,
        help="weight decay on BN and bias parameters too (MoCo: on; PIRL/VISSL: off)",
    )
    g.add_argument("--max-steps", type=int, help="stop (and checkpoint) after this many steps")
    g = p.add_argument_group("runtime")
    g.add_argument("--out", required=True, help="run folder: checkpoint.pt, log.csv, config.json")
    g.add_argument("--seed", type=int, help="seed of weights, views and sampling (0)")
    g.add_argument("--device", help="auto (CUDA if available), cpu, cuda")
    g.add_argument(
        "--amp",
        choices=["auto", "none", "bf16", "fp16"],
        help="mixed precision (auto: bf16 on CUDA, none on CPU)",
    )
    g.add_argument(
        "--channels-last",
        choices=["auto", "on", "off"],
        help="channels_last memory format (auto: on for CUDA)",
    )
    g.add_argument(
        "--compile", action="store_true", default=None, help="torch.compile the online network"
    )
    g.add_argument(
        "--ckpt-every", type=int, help="also checkpoint every N steps (0: each epoch end only)"
    )
    g.add_argument(
        "--resume", help="checkpoint to continue from, or 'auto' (OUT/checkpoint.pt if present)"
    )
    g.add_argument("--knn-every", type=int, help="kNN monitor every N epochs (1; 0: off)")
    g.add_argument("--knn-k", type=int, help="kNN neighbours (20, InstDisc)")
    g.add_argument("--knn-t", type=float, help="kNN temperature (0.07, InstDisc)")
    g.add_argument("--log-every", type=int, help="CSV log every N steps (10)")
    g.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="also write TensorBoard scalars to OUT/tb",
    )
    g.add_argument(
        "--no-progress", dest="progress", action="store_false", default=None, help="no progress bar"
    )
    return p


def moco_parser() -> argparse.ArgumentParser:
    """MoCo options (queue, momentum, BN mode, augmentation)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("MoCo")
    g.add_argument(
        "--queue-size", type=int, help="queue length K (65536; K=4096 suffices on CIFAR-sized data)"
    )
    g.add_argument(
        "--moco-m", type=float, help="key-encoder momentum m (0.999; 0.99 for short runs)"
    )
    g.add_argument(
        "--aug", choices=["v1", "v2"], help="augmentation preset (moco: v1, mocov2: v2 'aug+')"
    )
    g.add_argument(
        "--crop-scale",
        type=_pair,
        help="RandomResizedCrop area range LOW,HIGH (0.2,1.0; 1,1 = no aggressive crop)",
    )
    g.add_argument("--blur", type=_bool, help="v2 Gaussian blur on/off (on)")
    g.add_argument(
        "--bn-mode",
        help="auto (shuffle under DDP, split:8 on one device), shuffle, split:G, sync (CUDA), plain",
    )
    g.add_argument(
        "--key-shuffle",
        type=_bool,
        help="split mode: permute the key batch within the device (on, as the CIFAR demo)",
    )
    return p


def pirl_parser() -> argparse.ArgumentParser:
    """PIRL options (memory bank, NCE, jigsaw)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("PIRL")
    g.add_argument(
        "--n-negatives", type=int, help="negatives drawn from the memory bank per image (32000)"
    )
    g.add_argument("--bank-momentum", type=float, help="memory-bank momentum (0.5)")
    g.add_argument(
        "--pirl-lambda", type=float, help="λ: weight of the jigsaw term; 1−λ the image term (0.5)"
    )
    g.add_argument(
        "--pirl-loss",
        choices=["nce", "cross_entropy"],
        help="NPID's binary NCE (default) or InfoNCE (VISSL's MLP config)",
    )
    g.add_argument("--jigsaw-grid", type=int, help="jigsaw cells per side (3)")
    g.add_argument(
        "--image-crop-scale", type=_pair, help="image view RandomResizedCrop scale (0.08,1.0)"
    )
    g.add_argument(
        "--patch-crop-scale", type=_pair, help="crop the jigsaw is cut from, scale (0.6,1.0)"
    )
    g.add_argument(
        "--blur", type=_bool, help="Gaussian blur in the photometric jitter (with --mlp on)"
    )
    g.add_argument(
        "--bn-mode", help="plain (per-process BN, default), sync (CUDA SyncBatchNorm) or split:G"
    )
    return p


def video_parser() -> argparse.ArgumentParser:
    """Frame-pair options of the video methods (data layout, gap, sampling)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group(
        "video frame pairs (--data is a video dataset: GOT-10k, TrackingNet or SynthWorld clips)"
    )
    g.add_argument(
        "--video-layout",
        choices=["auto", "got10k", "trackingnet"],
        help="dataset layout (auto: list.txt means GOT-10k)",
    )
    g.add_argument(
        "--pairs",
        choices=["temporal", "same-frame"],
        help="temporal: frames t and t+Δ (default); same-frame: two views of one frame, the MoCo v2 baseline",
    )
    g.add_argument(
        "--frame-gap", type=_int_pair, help="Δ window LOW,HIGH in frames, inclusive (1,8)"
    )
    g.add_argument(
        "--video-sampling",
        choices=["balanced", "proportional"],
        help="balanced: every video gives the same number of pairs per epoch (default); proportional: by frames",
    )
    g.add_argument(
        "--pairs-per-epoch", type=int, help="pairs per epoch (default: the number of frames)"
    )
    return p


def region_parser() -> argparse.ArgumentParser:
    """Region Tracker options: stored tracks, the region term, and how tracks are prepared."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("Region Tracker")
    g.add_argument(
        "--tracks-dir", help="stored proposals and tracks (default DATA/tracks; see `data tracks`)"
    )
    g.add_argument(
        "--prepare-only",
        action="store_true",
        help="compute the proposals and tracks (resumable) and stop",
    )
    g.add_argument("--regions", type=int, help="tracked region pairs per frame pair (4)")
    g.add_argument(
        "--region-pool",
        choices=["crop", "roi"],
        help="crop: regions cut out and encoded (default); roi: RoIAlign on the trunk's map",
    )
    g.add_argument("--region-size", type=int, help="crop: region view side (image size / 2)")
    g.add_argument("--roi-output", type=int, help="roi: RoIAlign output side (2)")
    g.add_argument(
        "--region-weight", type=float, help="loss = frame term + weight × region term (1.0)"
    )
    g.add_argument(
        "--region-queue-size", type=int, help="region queue length (default: --queue-size)"
    )
    g = p.add_argument_group(
        "Region Tracker: preparing tracks (--prepare-only, or `invariance-lab data tracks`)"
    )
    g.add_argument(
        "--proposals",
        choices=["selective-search", "felzenszwalb", "oracle"],
        help="region proposals (selective-search)",
    )
    g.add_argument("--max-proposals", type=int, help="proposals kept per anchor frame (8)")
    g.add_argument(
        "--tracker",
        choices=["kcf", "csrt", "oracle"],
        help="tracker (kcf; oracle uses ground-truth boxes, ablations only)",
    )
    g.add_argument("--anchor-stride", type=int, help="proposals every N frames (2)")
    g.add_argument(
        "--track-min-size",
        type=float,
        help="drop boxes narrower than this fraction of the frame side (0.08)",
    )
    g.add_argument(
        "--track-max-jump",
        type=float,
        help="drop a track whose centre moves more than this × box size in a frame (0.5)",
    )
    g.add_argument(
        "--track-max-scale",
        type=float,
        help="drop a track whose area changes more than this factor (2)",
    )
    g.add_argument(
        "--track-min-inside",
        type=float,
        help="drop a box with less than this fraction inside the frame (0.5)",
    )
    g.add_argument(
        "--track-min-ncc",
        type=float,
        help="drop a track whose patch correlates less than this with the proposal (0.2)",
    )
    return p


HELP = {
    "moco": "MoCo v1 (He et al. 2020)",
    "mocov2": "MoCo v2 (Chen et al. 2020)",
    "pirl": "PIRL (Misra & van der Maaten 2020)",
    "temporal": "Frame Temporal Invariance (Purushwalkam & Gupta 2020): MoCo v2 on frames t, t+Δ",
    "region-tracker": "Region Tracker (Purushwalkam & Gupta 2020): frames + tracked region proposals",
}


def method_parsers(name: str) -> list[argparse.ArgumentParser]:
    """The option groups of a method's sub-command (after the common ones)."""
    if name == "pirl":
        return [pirl_parser()]
    if name == "temporal":
        return [moco_parser(), video_parser()]
    if name == "region-tracker":
        return [moco_parser(), video_parser(), region_parser()]
    return [moco_parser()]


def register(sub) -> None:
    """Add `train` with one sub-command per registered method."""
    from ..training.methods import list_methods

    tr = sub.add_parser(
        "train",
        help="train a reference model (MoCo v1/v2, PIRL, Frame Temporal Invariance, Region Tracker)",
        description="Train a reference self-supervised model; OUT/checkpoint.pt loads with `evaluate --encoder OUT/checkpoint.pt`.",
    )
    methods = tr.add_subparsers(dest="method", required=True)
    for name in list_methods():
        m = methods.add_parser(
            name, parents=[common_parser(), *method_parsers(name)], help=HELP.get(name, name)
        )
        m.set_defaults(func=run)


def run(args) -> int:
    """Resolve the options against the method's defaults and train."""
    from ..training import TrainConfig, train

    given = {
        k: v
        for k, v in vars(args).items()
        if k not in ("command", "method", "func", "prepare_only")
    }
    if given.get("synth_categories"):
        given["synth_categories"] = given["synth_categories"].split(",")
    cfg = TrainConfig.for_method(args.method, **given)
    if getattr(args, "prepare_only", False):
        from ..training.video import TrackParams, prepare_tracks, read_videos

        s = prepare_tracks(
            read_videos(cfg.data, cfg.video_layout),
            TrackParams.from_config(cfg),
            cfg.tracks_dir,
            progress=cfg.progress,
        )
        print(format_tracks_summary(s))
        return 0
    summary = train(cfg)
    from ..training.distributed import rank

    if rank() == 0:
        print(
            f"wrote {summary['checkpoint']} after {summary['global_step']} steps; evaluate it with: invariance-lab evaluate --encoder {summary['checkpoint']} ..."
        )
    return 0


def format_tracks_summary(s: dict) -> str:
    """One paragraph on a `prepare_tracks` result (also used by `data tracks`)."""
    dropped = ", ".join(f"{k} {v}" for k, v in s["dropped"].items() if v) or "none"
    return (
        f"tracks of {s['videos']} videos in {s['tracks_dir']} ({s['computed']} computed now, {s['resumed']} already there); "
        f"{s['proposals']} proposals; valid tracks by offset 0..{len(s['valid_tracks_by_offset']) - 1}: "
        f"{s['valid_tracks_by_offset']}; dropped: {dropped}"
    )
