"""Queue FIFO order and wrap-around; memory-bank initialisation, sampling and update rule."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from invariance_lab.training.memory_bank import MemoryBank
from invariance_lab.training.queue import Queue


def keys(start, n, dim=4):
    return torch.arange(start, start + n, dtype=torch.float32).unsqueeze(1).repeat(1, dim)


def test_queue_enqueue_order_and_pointer():
    q = Queue(8, 4)
    assert torch.allclose(q.keys.norm(dim=1), torch.ones(8))
    q.enqueue(keys(0, 3))
    assert int(q.ptr) == 3
    assert q.keys[:3, 0].tolist() == [0, 1, 2]
    q.enqueue(keys(3, 3))
    assert q.keys[:6, 0].tolist() == [0, 1, 2, 3, 4, 5]


def test_queue_wraps_around_and_drops_oldest():
    q = Queue(8, 4)
    q.enqueue(keys(0, 6))
    q.enqueue(keys(6, 4))  # slots 6, 7, then 0, 1
    assert int(q.ptr) == 2
    assert q.keys[:, 0].tolist() == [8, 9, 2, 3, 4, 5, 6, 7]
    q.enqueue(keys(100, 20))  # larger than the queue: the last 8 keys remain
    assert sorted(q.keys[:, 0].tolist()) == list(range(112, 120))


def test_memory_bank_init_and_update_rule():
    torch.manual_seed(0)
    bank = MemoryBank(10, 6, momentum=0.5)
    assert torch.allclose(bank.bank.norm(dim=1), torch.ones(10), atol=1e-6)
    before = bank.bank.clone()
    idx = torch.tensor([2, 7])
    emb = F.normalize(torch.randn(2, 6), dim=1)
    bank.update(idx, emb)
    want = F.normalize(0.5 * before[idx] + 0.5 * emb, dim=1)
    assert torch.allclose(bank.bank[idx], want, atol=1e-6)
    untouched = [i for i in range(10) if i not in (2, 7)]
    assert torch.equal(bank.bank[untouched], before[untouched])


def test_memory_bank_sample_puts_positive_first():
    bank = MemoryBank(50, 4)
    g = torch.Generator().manual_seed(0)
    idx = bank.sample(torch.tensor([3, 9, 11]), 20, g)
    assert idx.shape == (3, 21)
    assert idx[:, 0].tolist() == [3, 9, 11]
    assert int(idx.min()) >= 0 and int(idx.max()) < 50
    assert bank.lookup(idx).shape == (3, 21, 4)
