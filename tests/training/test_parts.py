"""Momentum update, shuffle-BN bookkeeping, split-BN, jigsaw geometry and permutation."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from invariance_lab.training.jigsaw import jigsaw, jigsaw_boxes, jigsaw_sizes
from invariance_lab.training.shuffle_bn import (
    SplitBatchNorm,
    batch_shuffle,
    batch_shuffle_ddp,
    batch_unshuffle,
    batch_unshuffle_ddp,
    convert_split_bn,
)


def test_momentum_update_formula(tmp_path, image_dir):
    from invariance_lab.training.methods import get_method
    from tests.training.conftest import tiny

    cfg = tiny("mocov2", tmp_path, image_dir, moco_m=0.9)
    cfg.image_size = 32
    m = get_method("mocov2")(cfg, 10, torch.Generator().manual_seed(0))
    m.setup(torch.device("cpu"), ("plain", 1))
    with torch.no_grad():
        for p in m.online.parameters():
            p.add_(torch.randn_like(p))
    k0 = [p.clone() for p in m.encoder_k.parameters()]
    q = [p.clone() for p in m.online.parameters()]
    m.momentum_update()
    for a, b, c in zip(m.encoder_k.parameters(), k0, q, strict=True):
        assert torch.allclose(a, 0.9 * b + 0.1 * c, atol=1e-6)
    assert not any(p.requires_grad for p in m.encoder_k.parameters())


def test_shuffle_unshuffle_returns_each_key_to_its_query():
    x = torch.arange(12.0).unsqueeze(1)
    g = torch.Generator().manual_seed(0)
    xs, undo = batch_shuffle(x, g)
    assert not torch.equal(xs, x)
    assert torch.equal(batch_unshuffle(xs * 10, undo), x * 10)  # a per-sample "encoder" commutes
    xs, undo = batch_shuffle_ddp(x, g)  # single process: same contract
    assert torch.equal(batch_unshuffle_ddp(xs + 1, undo), x + 1)


def test_split_bn_equals_bn_per_group():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4)
    sbn = SplitBatchNorm(3, 2).train()
    bn = nn.BatchNorm2d(3).train()
    out = sbn(x)
    want = torch.cat([bn(x[:4]), nn.BatchNorm2d(3).train()(x[4:])])
    assert torch.allclose(out, want, atol=1e-5)
    model = convert_split_bn(nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)), 4)
    assert isinstance(model[1], SplitBatchNorm)
    assert set(model.state_dict()) == {
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    }


def test_jigsaw_sizes_follow_pirl():
    assert jigsaw_sizes(224) == (255, 64)
    assert jigsaw_sizes(64) == (72, 18)


def test_jigsaw_boxes_lie_inside_their_cells():
    torch.manual_seed(0)
    for _ in range(20):
        boxes = jigsaw_boxes(255, 3, 64)
        for c, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
            r, col = divmod(c, 3)
            assert x1 - x0 == 64 and y1 - y0 == 64
            assert col * 85 <= x0 and x1 <= (col + 1) * 85
            assert r * 85 <= y0 and y1 <= (r + 1) * 85


def test_jigsaw_permutation_bookkeeping():
    # each pixel encodes its cell: value = 10 * cell index
    cell = np.repeat(np.repeat(np.arange(9).reshape(3, 3) * 10, 24, 0), 24, 1).astype(np.uint8)
    img = Image.fromarray(np.stack([cell] * 3, -1))
    torch.manual_seed(1)
    patches, perm, boxes = jigsaw(img, 3, 18)
    assert sorted(perm.tolist()) == list(range(9))
    assert perm.tolist() != list(range(9))
    for j, p in enumerate(patches):
        assert p.size == (18, 18)
        assert set(np.asarray(p)[..., 0].ravel().tolist()) == {10 * int(perm[j])}
