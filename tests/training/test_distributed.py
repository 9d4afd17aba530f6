"""A 2-process gloo DDP run on CPU matches the single-process run where the mathematics says it must.

DDP with per-process (plain) BN, global batch 8 = 2 × 4, gradients averaged, keys gathered in rank
order, equals one process with split-BN in 2 groups over the same 8 images (each group is one
rank's contiguous slice) and no key shuffle: same losses, weights, key encoder and queue.
"""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from invariance_lab.training import train
from invariance_lab.training.checkpoint import load_checkpoint
from tests.training.conftest import tiny


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, data: str, result_dir: str):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)
    try:
        s = train(tiny("mocov2", out, data, bn_mode="plain", epochs=1, max_steps=3))
        torch.save(torch.tensor(s["losses"]), os.path.join(result_dir, f"losses{rank}.pt"))
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_ddp_gloo_matches_single_process(tmp_path, image_dir):
    port = _free_port()
    mp.spawn(
        _worker,
        args=(2, port, str(tmp_path / "ddp"), str(image_dir), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    single = train(
        tiny(
            "mocov2",
            tmp_path / "single",
            image_dir,
            bn_mode="split:2",
            key_shuffle=False,
            epochs=1,
            max_steps=3,
        )
    )

    # the loss of the global batch is the mean of the two ranks' losses
    ddp_loss = (torch.load(tmp_path / "losses0.pt") + torch.load(tmp_path / "losses1.pt")) / 2
    assert torch.allclose(
        ddp_loss, torch.tensor(single["losses"]), atol=1e-3
    )  # float reduction order only

    a = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "single" / "checkpoint.pt")["model"]
    # parameters and the queue agree; BN running statistics legitimately differ (rank 0's vs the group mean)
    keys = [k for k in a if "running_" not in k and "num_batches" not in k]
    diff = {k: float((a[k].float() - b[k].float()).abs().max()) for k in keys}
    assert max(diff.values()) < 1e-3, sorted(diff.items(), key=lambda kv: -kv[1])[:5]
    assert int(a["queue.ptr"]) == 24 % 32
    # and training moved the weights (the comparison is not vacuous)
    assert not torch.equal(a["online.backbone.conv1.weight"], a["encoder_k.backbone.conv1.weight"])


def _worker_shuffle_pirl(rank: int, world: int, port: int, out: str, data: str, result_dir: str):
    from invariance_lab.training.shuffle_bn import batch_shuffle_ddp, batch_unshuffle_ddp

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    try:
        # shuffle-BN bookkeeping across processes: rank r holds samples 10r .. 10r+5
        x = (torch.arange(6.0) + 10 * rank).unsqueeze(1)
        xs, undo = batch_shuffle_ddp(
            x, torch.Generator().manual_seed(rank)
        )  # only rank 0's permutation counts
        keys = batch_unshuffle_ddp(xs * 3 + 1, undo)  # a per-sample "key encoder"
        torch.save({"x": x, "xs": xs, "keys": keys}, os.path.join(result_dir, f"shuffle{rank}.pt"))
        s = train(tiny("pirl", out, data, epochs=1, max_steps=2))
        torch.save(s["method"].bank.bank.clone(), os.path.join(result_dir, f"bank{rank}.pt"))
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_shuffle_returns_keys_and_pirl_banks_stay_identical(tmp_path, image_dir):
    mp.spawn(
        _worker_shuffle_pirl,
        args=(2, _free_port(), str(tmp_path / "pirl"), str(image_dir), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    r0, r1 = torch.load(tmp_path / "shuffle0.pt"), torch.load(tmp_path / "shuffle1.pt")
    for r in (r0, r1):
        assert torch.equal(r["keys"], r["x"] * 3 + 1)  # each key back at its query
    both = torch.cat([r0["xs"], r1["xs"]]).flatten().sort().values
    assert torch.equal(
        both, torch.cat([r0["x"], r1["x"]]).flatten().sort().values
    )  # a permutation of the global batch
    assert not torch.equal(r0["xs"], r0["x"])  # and samples moved
    b0, b1 = torch.load(tmp_path / "bank0.pt"), torch.load(tmp_path / "bank1.pt")
    assert torch.equal(b0, b1)
    assert torch.equal(
        b0, load_checkpoint(tmp_path / "pirl" / "checkpoint.pt")["model"]["bank.bank"]
    )
