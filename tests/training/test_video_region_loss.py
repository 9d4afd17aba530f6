"""The region-level term: each query region's positive is its own tracked key region.

Checked three ways: against an independent plain-loop implementation; by permutation (pairing a
query with another region's key changes the loss); and through `RegionViews`, whose r-th query
crop and r-th key crop must come from the same stored track.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from invariance_lab.training.losses import masked_info_nce
from invariance_lab.training.video.views import RegionViews, geometric_view


def _unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def _plain_loop(q, k, neg, tau, mask):
    """−log(exp(q_i·k_i/τ) / (exp(q_i·k_i/τ) + Σ_j exp(q_i·n_j/τ))) over the masked rows, averaged."""
    total, count = 0.0, 0
    for i in range(q.shape[0]):
        if not mask[i]:
            continue
        pos = math.exp(float(q[i] @ k[i]) / tau)
        negs = sum(math.exp(float(q[i] @ n) / tau) for n in neg)
        total += -math.log(pos / (pos + negs))
        count += 1
    return total / max(count, 1)


def test_masked_info_nce_matches_a_plain_loop():
    q, k, neg = _unit(10, 16, seed=1), _unit(10, 16, seed=2), _unit(30, 16, seed=3)
    mask = torch.tensor([1, 1, 0, 1, 0, 1, 1, 1, 0, 1], dtype=torch.bool)
    loss, logits = masked_info_nce(q, k, neg, 0.2, mask)
    assert logits.shape == (10, 31)
    assert loss.item() == pytest.approx(_plain_loop(q, k, neg, 0.2, mask), rel=1e-5)
    none, _ = masked_info_nce(q, k, neg, 0.2, torch.zeros(10, dtype=torch.bool))
    assert none.item() == 0.0


def test_each_query_region_is_paired_with_its_own_key():
    k = _unit(8, 16, seed=4)
    q = F.normalize(k + 0.1 * _unit(8, 16, seed=5), dim=1)  # query region i ≈ its tracked key i
    neg, mask = _unit(64, 16, seed=6), torch.ones(8, dtype=torch.bool)
    aligned, _ = masked_info_nce(q, k, neg, 0.2, mask)
    perm = torch.roll(torch.arange(8), 1)
    shuffled, _ = masked_info_nce(q, k[perm], neg, 0.2, mask)
    assert (
        aligned.item() < 1.0 and shuffled.item() > aligned.item() + 2.0
    )  # other regions are not positives
    # padding rows do not count: changing them leaves the loss unchanged
    mask[5] = False
    a, _ = masked_info_nce(q, k, neg, 0.2, mask)
    q2 = q.clone()
    q2[5] = -q2[5]
    b, _ = masked_info_nce(q2, k, neg, 0.2, mask)
    assert a.item() == pytest.approx(b.item())


def test_region_views_keep_the_track_pairing():
    """Frame t has 4 coloured squares; frame t+Δ has them moved. Crop r of the query and of the key show one colour."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    a, b = np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)
    qb, kb = [], []
    for i, c in enumerate(colours):
        x, y = 4 + 14 * i, 8
        a[y : y + 12, x : x + 12] = c
        b[y + 30 : y + 42, x + 2 : x + 14] = c
        qb.append([x, y, 12, 12])
        kb.append([x + 2, y + 30, 12, 12])
    views = RegionViews(64, regions=6, pool="crop", region_size=16)
    views.region_aug = lambda im: torch.from_numpy(
        np.asarray(im.resize((16, 16)), dtype=np.float32)
    ).permute(2, 0, 1)
    torch.manual_seed(0)
    _, _, rq, rk, valid = views(
        Image.fromarray(a),
        Image.fromarray(b),
        {"boxes": (np.array(qb, float), np.array(kb, float))},
    )
    assert valid.tolist() == [True] * 4 + [False] * 2  # 4 tracks, 2 padding slots
    got_q = [tuple(rq[r].mean((1, 2)).round().int().tolist()) for r in range(4)]
    got_k = [tuple(rk[r].mean((1, 2)).round().int().tolist()) for r in range(4)]
    assert got_q == got_k and sorted(got_q) == sorted(colours)
    assert (rq[4:] == 0).all()


def test_geometric_view_maps_boxes_into_the_view():
    img = np.zeros((80, 80, 3), np.uint8)
    img[20:50, 30:60] = 255
    box = np.array([[30.0, 20.0, 30.0, 30.0]])
    checked = 0
    for seed in range(15):
        torch.manual_seed(seed)
        view, boxes, visible = geometric_view(
            Image.fromarray(img), box, 48, scale=(0.3, 1.0), blur=False
        )
        x1, y1, x2, y2 = boxes[0].tolist()
        if visible[0] < 0.5 or x2 - x1 < 3 or y2 - y1 < 3:
            continue
        lum = view.mean(0)  # normalised, but a monotone map of brightness per channel
        inside = torch.zeros_like(lum, dtype=torch.bool)
        inside[int(np.ceil(y1)) : int(np.floor(y2)), int(np.ceil(x1)) : int(np.floor(x2))] = True
        grown = torch.zeros_like(inside)
        grown[max(0, int(y1) - 2) : int(y2) + 3, max(0, int(x1) - 2) : int(x2) + 3] = True
        if (~grown).any():
            assert lum[inside].min() > lum[~grown].max()
            checked += 1
    assert checked >= 5
