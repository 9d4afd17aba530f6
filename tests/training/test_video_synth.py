"""Proposals, tracks and training on SynthWorld clips (rendered once per session, exact boxes from the renderer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import invariance_lab
from invariance_lab.cli import main
from invariance_lab.encoders import DEFAULT_LAYER
from invariance_lab.training import TrainConfig, TrainingError, train
from invariance_lab.training.checkpoint import load_checkpoint
from invariance_lab.training.video import TrackParams, TrackStore, prepare_tracks, read_videos
from invariance_lab.training.video.store import _Frames, video_file
from invariance_lab.training.video.tracks import iou, propose, track_anchor
from tests.training.video_fixtures import square_frames, write_got10k


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a loaded 2-core machine, tiny CPU steps run ~6x faster than with 2."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def synth_clips(tmp_path_factory):
    """3 SynthWorld clips × 16 frames at 96 px (GOT-10k layout with objects.json), ~5 s."""
    from invariance_lab.synthworld import render_videos

    root = tmp_path_factory.mktemp("synth-clips")
    render_videos(root, 3, frames=16, resolution=96, seed=11, workers=1, progress=False)
    return root


def _visible(box, min_side=10):
    return not np.isnan(box).any() and box[2] >= min_side and box[3] >= min_side


def test_proposals_cover_the_rendered_objects(synth_clips):
    vs = read_videos(synth_clips)
    best = []
    for clip in vs.videos:
        frames = _Frames(clip)
        for t in (0, 5, 10, 15):
            boxes = propose(frames(t), TrackParams())
            assert 0 < len(boxes) <= 8
            best += [iou(o[t], boxes).max() for o in clip.objects if _visible(o[t])]
    best = np.array(best)
    assert len(best) >= 10
    assert (best >= 0.5).mean() >= 0.6, best  # most objects have a proposal with IoU >= 0.5


def test_tracking_keeps_the_true_boxes_over_the_gap(synth_clips):
    vs = read_videos(synth_clips)
    p = TrackParams(horizon=8)
    ious, n_valid, n_total = [], 0, 0
    for clip in vs.videos:
        for t in (0, 6):
            objs = [o for o in clip.objects if _visible(o[t], 12)]
            boxes = np.stack([o[t] for o in objs])
            tracks, valid, _ = track_anchor(_Frames(clip), t, boxes, p)
            for i, o in enumerate(objs):
                for d in range(1, 9):
                    if _visible(o[t + d], 6):
                        n_total += 1
                        if valid[i, d]:
                            n_valid += 1
                            ious.append(iou(tracks[i, d], o[t + d])[0, 0])
    ious = np.array(ious)
    assert n_valid >= 0.5 * n_total  # most tracks survive the drop checks (KCF: 58 of 94 here)
    assert ious.mean() >= 0.6 and (ious >= 0.5).mean() >= 0.75, (ious.mean(), (ious >= 0.5).mean())


def test_oracle_tracker_follows_ground_truth(synth_clips):
    clip = read_videos(synth_clips).videos[0]
    o = clip.objects[0]
    tracks, valid, counts = track_anchor(
        _Frames(clip), 0, o[0][None], TrackParams(tracker="oracle", horizon=5), clip.objects
    )
    for d in range(6):
        if valid[0, d]:
            assert np.allclose(tracks[0, d], o[d], atol=1e-3)
    assert valid[0].sum() + counts["absent"] >= 1


class _Squares:
    """Frames of a square that leaves the image to the right (as `_Frames`)."""

    def __init__(self, n):
        self.f, self.boxes = square_frames(n, size=64, seed=1, speed=6.0, side=16)
        self.f = [np.ascontiguousarray(x[:, :, ::-1]) for x in self.f]
        self.n = n

    def __call__(self, i):
        return self.f[i]


def test_drifting_or_leaving_tracks_are_dropped_and_counted():
    frames = _Squares(14)
    tracks, valid, counts = track_anchor(
        frames, 0, frames.boxes[:1], TrackParams(horizon=13, min_ncc=-2)
    )
    assert valid[0, 0] and not valid[0, -1]  # the square leaves the 64-px frame by frame 10
    assert sum(counts.values()) == 1  # one drop, counted once
    last = int(np.flatnonzero(valid[0]).max())
    assert (~valid[0, last + 1 :]).all()  # nothing after the drop
    inside = [(min(64, b[0] + b[2]) - max(0, b[0])) / b[2] for b in tracks[0, 1 : last + 1]]
    assert min(inside) >= 0.5


def _tiny_set(tmp_path, lengths=(14, 12, 16, 13, 15, 14)):
    return write_got10k(tmp_path / "vids", lengths=lengths, size=64)


TRACK_ARGS = ["--horizon", "4", "--anchor-stride", "4", "--max-proposals", "4"]


def test_tracks_cache_resumes_after_sigkill(tmp_path):
    root = _tiny_set(tmp_path, lengths=(9,) * 6)
    vs = read_videos(root)
    full = tmp_path / "full"
    assert main(["data", "tracks", str(root), "--tracks-dir", str(full), *TRACK_ARGS]) == 0
    part = tmp_path / "part"
    code = "import sys; from invariance_lab.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [
        sys.executable,
        "-c",
        code,
        "data",
        "tracks",
        str(root),
        "--tracks-dir",
        str(part),
        *TRACK_ARGS,
    ]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list(part.glob("*.npz")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in part.glob("*.npz")}
    assert 1 <= len(done) < len(vs), "the kill should land between two videos"
    assert main(["data", "tracks", str(root), "--tracks-dir", str(part), *TRACK_ARGS]) == 0
    assert {
        p.name: p.stat().st_mtime_ns for p in part.glob("*.npz") if p.name in done
    } == done  # not redone
    assert not list(part.glob(".*.tmp"))
    for clip in vs.videos:
        with np.load(video_file(full, clip.name)) as a, np.load(video_file(part, clip.name)) as b:
            for key in ("anchors", "tracks", "valid", "counts"):
                assert np.array_equal(a[key], b[key], equal_nan=True), (clip.name, key)
    with pytest.raises(TrainingError, match="other parameters"):
        prepare_tracks(vs, TrackParams(horizon=5, anchor_stride=4, max_proposals=4), part)
    with pytest.raises(TrainingError, match="tracks reach 4 frames but --frame-gap goes to 6"):
        TrackStore(vs, part, horizon=6)


def _cfg(method, data, out, **kw):
    base = dict(arch="tv:resnet18", data=str(data), image_size=32, batch_size=8, epochs=2, progress=False, out=str(out),
                knn_every=0, log_every=1, queue_size=16, bn_mode="split:2", pairs_per_epoch=32)  # fmt: skip
    return TrainConfig.for_method(method, **{**base, **kw})


def test_temporal_resume_is_bit_exact_and_checkpoint_loads_in_evaluate(tmp_path):
    root = _tiny_set(tmp_path)
    kw = dict(pairs_per_epoch=16)
    full = train(_cfg("temporal", root, tmp_path / "full", **kw))
    part = train(_cfg("temporal", root, tmp_path / "part", max_steps=3, ckpt_every=2, **kw))
    assert load_checkpoint(part["checkpoint"])["position"] == {
        "epoch": 1,
        "step": 1,
        "global_step": 3,
    }
    rest = train(_cfg("temporal", root, tmp_path / "part", resume="auto", **kw))
    # 6 videos × round(16 / 6) pairs = 18 pairs: 2 steps of 8 per epoch, 2 epochs
    assert part["losses"] + rest["losses"] == full["losses"] and len(full["losses"]) == 4
    a, b = load_checkpoint(full["checkpoint"]), load_checkpoint(rest["checkpoint"])
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["method"] == "temporal"
    enc = invariance_lab.load_encoder(full["checkpoint"])
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = full["method"].backbone.eval()(x)
        got = enc.feature_module([DEFAULT_LAYER])(x)[DEFAULT_LAYER]
    assert torch.allclose(got, want, atol=1e-5)


@pytest.fixture(scope="module")
def synth_tracks(synth_clips, tmp_path_factory):
    """Stored tracks of the session's clips, made through `train region-tracker --prepare-only`."""
    tracks = tmp_path_factory.mktemp("synth-tracks")
    rc = main(["train", "region-tracker", "--data", str(synth_clips), "--tracks-dir", str(tracks), "--prepare-only",
               "--frame-gap", "1,4", "--anchor-stride", "3", "--max-proposals", "4", "--out", str(tracks / "run"),
               "--no-progress"])  # fmt: skip
    assert rc == 0 and len(list(tracks.glob("*.npz"))) == 3
    return tracks


def _region_run(synth_clips, synth_tracks, out, pool, steps, **kw):
    opts = dict(tracks_dir=str(synth_tracks), frame_gap=(1, 4), region_pool=pool, epochs=1, pairs_per_epoch=8 * steps,
                queue_size=8, lr=3.0, regions=2)  # fmt: skip
    return train(_cfg("region-tracker", synth_clips, out, **{**opts, **kw}))


def _loss_falls(s, out, steps):
    losses = s["losses"]
    assert len(losses) == steps
    # the queues hold real keys from step 2 on (K = batch): compare early and late steps after that
    assert np.mean(losses[-6:]) < np.mean(losses[1:7]), losses
    log = (out / "log.csv").read_text().splitlines()
    assert (
        "loss_region" in log[0]
        and float(log[-1].split(",")[log[0].split(",").index("regions")]) > 0
    )
    assert (
        invariance_lab.load_encoder(s["checkpoint"]).load_report["format"] == "invariance-lab-train"
    )


def test_region_tracker_trains_on_synthworld_and_loss_falls(synth_clips, synth_tracks, tmp_path):
    s = _region_run(synth_clips, synth_tracks, tmp_path, "crop", 24)
    _loss_falls(s, tmp_path, 24)


@pytest.mark.slow
def test_region_tracker_roi_trains_and_loss_falls(synth_clips, synth_tracks, tmp_path):
    s = _region_run(synth_clips, synth_tracks, tmp_path, "roi", 24)
    _loss_falls(s, tmp_path, 24)


def test_region_tracker_roi_step_enqueues_only_real_regions(synth_clips, synth_tracks, tmp_path):
    s = _region_run(synth_clips, synth_tracks, tmp_path, "roi", 3, queue_size=64)
    m = s["method"]
    log = (tmp_path / "log.csv").read_text().splitlines()
    regions = [float(r.split(",")[log[0].split(",").index("regions")]) for r in log[1:]]
    assert len(regions) == len(s["losses"]) >= 1 and 0 < sum(regions) < 2 * len(
        regions
    )  # some padding
    assert int(m.region_queue.ptr) == round(sum(regions) * 8)  # padding slots never enter the queue
    assert int(m.queue.ptr) == 8 * len(s["losses"])
