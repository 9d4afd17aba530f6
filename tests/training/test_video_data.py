"""Video readers (exact layouts) and frame-pair sampling (gap window, video boundaries, balance, resume)."""

from __future__ import annotations

import numpy as np
import pytest

from invariance_lab.training import TrainingError
from invariance_lab.training.video import PairSampler, draw_pairs, read_videos
from tests.training.video_fixtures import write_got10k, write_trackingnet


def test_got10k_reader_reads_frames_boxes_and_absence(tmp_path):
    root = write_got10k(tmp_path / "got", lengths=(12, 5), absent_frame=3)
    vs = read_videos(root)
    assert vs.layout == "got10k" and [v.name for v in vs.videos] == [
        "GOT-10k_Train_000001",
        "GOT-10k_Train_000002",
    ]
    assert [len(v) for v in vs.videos] == [12, 5] and vs.n_frames == 17
    v = vs.videos[0]
    assert v.frames[0].name == "00000001.jpg" and v.frames[-1].name == "00000012.jpg"
    assert np.isnan(v.boxes[3]).all() and not np.isnan(v.boxes[4]).any()  # absence.label = 1 → NaN
    assert v.boxes[0][2:].tolist() == [16.0, 16.0]


def test_trackingnet_reader_orders_frames_numerically(tmp_path):
    root = write_trackingnet(tmp_path / "tn", chunks=((12, 3), (4,)))
    vs = read_videos(root)
    assert vs.layout == "trackingnet"
    assert [v.name for v in vs.videos] == ["TRAIN_0/vid0_0", "TRAIN_0/vid0_1", "TRAIN_1/vid1_0"]
    assert [f.name for f in vs.videos[0].frames][9:12] == [
        "9.jpg",
        "10.jpg",
        "11.jpg",
    ]  # not 1, 10, 11, 2 ...
    assert vs.videos[0].boxes.shape == (12, 4)
    assert read_videos(root / "TRAIN_1").videos[0].name == "TRAIN_1/vid1_0"  # one chunk as the root


def test_readers_name_the_broken_file(tmp_path):
    root = write_trackingnet(tmp_path / "tn", chunks=((5,),))
    (root / "TRAIN_0" / "anno" / "vid0_0.txt").write_text("1,2,3,4\n")
    with pytest.raises(TrainingError, match=r"vid0_0\.txt.*5 frames"):
        read_videos(root)
    got = write_got10k(tmp_path / "got", lengths=(4,))
    (got / "GOT-10k_Train_000001" / "groundtruth.txt").unlink()
    with pytest.raises(TrainingError, match="groundtruth.txt"):
        read_videos(got)
    with pytest.raises(TrainingError, match="neither GOT-10k"):
        read_videos(tmp_path)


@pytest.mark.parametrize("sampling", ["balanced", "proportional"])
def test_pairs_respect_gap_window_and_video_boundaries(sampling):
    lengths = [3, 40, 9, 1, 17]
    for epoch in range(20):
        rng = np.random.default_rng(epoch)
        p = draw_pairs(lengths, (2, 6), sampling, 500, rng)
        v, t, t2 = p.T
        n = np.array(lengths)[v]
        assert ((t2 - t >= 2) & (t2 - t <= 6)).all()
        assert ((t >= 0) & (t2 <= n - 1)).all()  # both frames inside their own video
        assert not np.isin(v, [3]).any()  # a 1-frame video holds no pair with gap >= 2
    # every gap in the window occurs, where the video is long enough
    p = draw_pairs([40], (2, 6), sampling, 2000, np.random.default_rng(0))
    assert sorted(set((p[:, 2] - p[:, 1]).tolist())) == [2, 3, 4, 5, 6]
    # the first frames reach both ends of the video
    assert p[:, 1].min() == 0 and p[:, 2].max() == 39


def test_stride_and_same_frame_pairs():
    p = draw_pairs([30, 11], (1, 4), "balanced", 400, np.random.default_rng(1), stride=3)
    assert (p[:, 1] % 3 == 0).all() and (p[:, 2] - p[:, 1] <= 4).all()
    same = draw_pairs([30, 11], (0, 0), "balanced", 400, np.random.default_rng(1))
    assert (same[:, 1] == same[:, 2]).all()
    with pytest.raises(TrainingError, match="--frame-gap"):
        draw_pairs([30], (5, 2), "balanced", 10, np.random.default_rng(0))
    with pytest.raises(TrainingError, match="no video has more than 40"):
        draw_pairs([30, 11], (40, 50), "balanced", 10, np.random.default_rng(0))


def test_balanced_gives_each_video_the_same_share_proportional_follows_frames():
    lengths = [100, 10, 10, 10]
    bal = draw_pairs(lengths, (1, 3), "balanced", 400, np.random.default_rng(0))
    assert np.bincount(bal[:, 0]).tolist() == [100, 100, 100, 100]
    prop = draw_pairs(lengths, (1, 3), "proportional", 13000, np.random.default_rng(0))
    share = np.bincount(prop[:, 0]) / len(prop)
    assert abs(share[0] - 100 / 130) < 0.02 and all(abs(s - 10 / 130) < 0.02 for s in share[1:])


def _keys(sampler, epoch, start=0):
    sampler.set_position(epoch, start)
    return [k for batch in sampler for k in batch]


def test_pair_sampler_is_deterministic_resumable_and_splits_ranks():
    lengths = [20, 7, 33]
    args = dict(gap=(1, 5), sampling="balanced", pairs_per_epoch=60, global_batch=8, seed=3)
    one = PairSampler(lengths, rank=0, world=1, **args)
    assert one.steps_per_epoch == 60 // 8
    full = _keys(one, 2)
    assert full == _keys(PairSampler(lengths, rank=0, world=1, **args), 2)  # same seed, same pairs
    assert full != _keys(one, 3)  # another epoch, other pairs
    assert _keys(one, 2, start=4) == full[4 * 8 :]  # resuming at step 4 continues the same epoch
    r0 = _keys(PairSampler(lengths, rank=0, world=2, **args), 2)
    r1 = _keys(PairSampler(lengths, rank=1, world=2, **args), 2)
    merged = [
        k for s in range(one.steps_per_epoch) for k in r0[4 * s : 4 * s + 4] + r1[4 * s : 4 * s + 4]
    ]
    assert merged == full  # rank r holds the r-th half of every global batch
    for _, _, v, t, t2 in full:
        assert 1 <= t2 - t <= 5 and t2 < lengths[v]
