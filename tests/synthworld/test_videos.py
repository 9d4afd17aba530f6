"""SynthWorld videos: GOT-10k layout, boxes on the objects, resume, determinism."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from invariance_lab.synthworld import render_videos
from invariance_lab.synthworld.videos import ClipRenderer, clip_complete, frame_state, plan_clip

FRAMES, RES, SEED = 6, 64, 3
OPC = (2, 3)  # several objects per clip


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("videos")
    paths = render_videos(out, 2, frames=FRAMES, resolution=RES, seed=SEED, objects_per_clip=OPC, workers=1, progress=False)
    assert [p.parent for p in paths] == [out, out]
    return out


def _gt(folder):
    return [tuple(float(v) for v in line.split(",")) for line in (folder / "groundtruth.txt").read_text().splitlines()]


def test_layout_is_got10k_like(clips_dir):
    names = (clips_dir / "list.txt").read_text().split()
    assert names == ["SynthWorld_s3_000001", "SynthWorld_s3_000002"]
    assert not (clips_dir / ".partial").exists()
    for n in names:
        d = clips_dir / n
        jpgs = sorted(p.name for p in d.glob("*.jpg"))
        assert jpgs == [f"{t:08d}.jpg" for t in range(1, FRAMES + 1)]
        with Image.open(d / jpgs[0]) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and im.size == (RES, RES)
        gt = _gt(d)
        assert len(gt) == FRAMES and all(len(b) == 4 and np.isfinite(b).all() for b in gt)
        for label in ("absence.label", "cover.label", "cut_by_image.label"):
            vals = [int(v) for v in (d / label).read_text().split()]
            assert len(vals) == FRAMES
        assert all(0 <= c <= 8 for c in map(int, (d / "cover.label").read_text().split()))
        meta = json.loads((d / "objects.json").read_text())
        assert OPC[0] <= len(meta["objects"]) <= OPC[1]
        assert meta["objects"][0]["primary"] and meta["objects"][0]["category"] in (d / "meta_info.ini").read_text()
        for o in meta["objects"]:
            assert len(o["boxes"]) == len(o["visible_fraction"]) == len(o["cover"]) == FRAMES
            assert all(0.0 <= v <= 1.0 for v in o["visible_fraction"])
        assert clip_complete(d, FRAMES, meta["params"])


def test_boxes_stay_on_the_objects(clips_dir):
    """Every box is the tight box of its object's pixels in an independent `aov` shape_index render."""
    checked = 0
    for i in range(2):
        plan = plan_clip(SEED, i, FRAMES, RES, OPC)
        d = clips_dir / plan.name
        meta = json.loads((d / "objects.json").read_text())
        gt, absent = _gt(d), [int(v) for v in (d / "absence.label").read_text().split()]
        rend = ClipRenderer(plan)
        for t in range(FRAMES):
            labels = rend.meshes.shape_index_labels(frame_state(plan, t), RES)
            for k, o in enumerate(meta["objects"]):
                mask = labels == k + 1
                box = o["boxes"][t]
                if box is None:
                    assert not mask.any()
                    continue
                x, y, w, h = (int(v) for v in box)
                inside = np.zeros_like(mask)
                inside[y : y + h, x : x + w] = True
                assert mask.any() and not (mask & ~inside).any(), f"{plan.name} frame {t} object {k}: mask outside its box"
                ys, xs = np.nonzero(mask)  # tight: the mask touches all four sides
                assert (xs.min(), ys.min(), xs.max(), ys.max()) == (x, y, x + w - 1, y + h - 1)
                assert o["pixels"][t] == int(mask.sum())
                checked += 1
            prim = meta["objects"][0]["boxes"][t]
            assert absent[t] == int(prim is None)
            if prim is not None:
                assert gt[t] == pytest.approx(tuple(prim))
    assert checked >= 2 * FRAMES


def test_resume_skips_complete_clips_and_redoes_a_partial_one(clips_dir):
    a, b = clips_dir / "SynthWorld_s3_000001", clips_dir / "SynthWorld_s3_000002"
    before = {p: p.stat().st_mtime_ns for p in a.iterdir()}
    frame3 = (b / "00000003.jpg").read_bytes()
    gt_b = (b / "groundtruth.txt").read_text()
    # a killed run: clip b lost a frame and its groundtruth, and left a stale temporary folder
    (b / "00000003.jpg").unlink()
    (b / "groundtruth.txt").unlink()
    stale = clips_dir / ".partial" / f"{b.name}.999999"
    stale.mkdir(parents=True)
    (stale / "00000001.jpg").write_bytes(b"junk")
    render_videos(clips_dir, 2, frames=FRAMES, resolution=RES, seed=SEED, objects_per_clip=OPC, workers=1, progress=False)
    assert {p: p.stat().st_mtime_ns for p in a.iterdir()} == before  # skipped
    assert (b / "00000003.jpg").read_bytes() == frame3  # redone, identical
    assert (b / "groundtruth.txt").read_text() == gt_b
    assert not (clips_dir / ".partial").exists()
    # a different frame count is a different clip: redone, not skipped
    assert not clip_complete(a, FRAMES + 1)


def test_deterministic_by_seed(clips_dir, tmp_path):
    render_videos(tmp_path / "again", [1], frames=FRAMES, resolution=RES, seed=SEED, objects_per_clip=OPC, workers=1, progress=False)
    ref, again = clips_dir / "SynthWorld_s3_000002", tmp_path / "again" / "SynthWorld_s3_000002"
    for name in sorted(os.listdir(ref)):
        assert (again / name).read_bytes() == (ref / name).read_bytes(), name
    assert (tmp_path / "again" / "list.txt").read_text().split() == [again.name]
    assert plan_clip(SEED, 1, FRAMES, RES, OPC) != plan_clip(SEED + 1, 1, FRAMES, RES, OPC)
    shutil.rmtree(tmp_path / "again")
