"""InfoNCE and NCE against plain-loop implementations, plus analytic cases."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from invariance_lab.training.losses import estimate_partition, info_nce, memory_contrast, nce_loss


def _unit(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1).float()


def info_nce_loop(q, k, queue, t):
    total = 0.0
    for i in range(q.shape[0]):
        pos = math.exp(float(q[i] @ k[i]) / t)
        neg = sum(math.exp(float(q[i] @ queue[j]) / t) for j in range(queue.shape[0]))
        total += -math.log(pos / (pos + neg))
    return total / q.shape[0]


def test_info_nce_matches_plain_loop():
    q, k, queue = _unit(5, 8, seed=1), _unit(5, 8, seed=2), _unit(11, 8, seed=3)
    loss, logits = info_nce(q, k, queue, 0.2)
    assert logits.shape == (5, 12)
    assert abs(float(loss) - info_nce_loop(q, k, queue, 0.2)) < 1e-5


def test_info_nce_analytic_cases():
    q = _unit(4, 6)
    # negatives equal to the positive: every logit ties, loss = log(1 + K)
    loss, _ = info_nce(q, q, q[:1].repeat(7, 1) * 0 + q[0], 0.1)
    loss_tied, _ = info_nce(q[:1], q[:1], q[:1].repeat(7, 1), 0.1)
    assert abs(float(loss_tied) - math.log(8)) < 1e-5
    # positive aligned, negatives opposite: loss → 0 at low temperature
    loss_easy, _ = info_nce(q[:1], q[:1], -q[:1].repeat(7, 1), 0.05)
    assert float(loss_easy) < 1e-6
    assert float(loss) > 0


def nce_loop(scores, t, z, n):
    b, k1 = scores.shape
    k = k1 - 1
    pn = 1.0 / n
    total = 0.0
    for i in range(b):
        p0 = math.exp(float(scores[i, 0]) / t) / z
        total += math.log(p0 / (p0 + k * pn + 1.1920928955078125e-07))
        for j in range(1, k1):
            pj = math.exp(float(scores[i, j]) / t) / z
            total += math.log(k * pn / (pj + k * pn + 1.1920928955078125e-07))
    return -total / b


def test_nce_matches_plain_loop():
    emb = _unit(3, 8, seed=4)
    rows = _unit(3, 6, 8, seed=5)
    scores = torch.einsum("bd,bkd->bk", emb, rows)
    n, t = 1000, 0.07
    z = float(estimate_partition(scores, t, n))
    assert abs(z - float(torch.exp(scores / t).mean()) * n) < 1e-3 * z
    want = nce_loop(scores.double(), t, z, n)
    assert abs(float(nce_loss(scores, t, z, n)) - want) < 1e-4 * max(1, abs(want))
    assert abs(float(memory_contrast(emb, rows, t, "nce", z=z, n_data=n)) - want) < 1e-4 * max(
        1, abs(want)
    )


def test_memory_contrast_cross_entropy_is_info_nce():
    emb = _unit(3, 8, seed=6)
    rows = _unit(3, 5, 8, seed=7)
    want = sum(-F.log_softmax(rows[i] @ emb[i] / 0.1, 0)[0] for i in range(3)) / 3
    assert torch.allclose(memory_contrast(emb, rows, 0.1, "cross_entropy"), want, atol=1e-5)


def test_nce_decreases_when_positive_aligns():
    emb = _unit(2, 8, seed=8)
    rows = _unit(2, 9, 8, seed=9)
    aligned = rows.clone()
    aligned[:, 0] = emb
    z = 100.0
    assert float(nce_loss(torch.einsum("bd,bkd->bk", emb, aligned), 0.07, z, 100)) < float(
        nce_loss(torch.einsum("bd,bkd->bk", emb, rows), 0.07, z, 100)
    )
