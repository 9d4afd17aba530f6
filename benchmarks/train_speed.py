"""Training-step throughput of the MoCo v2 trainer on CPU (or GPU): overhead vs a bare step, and vs lightly.

Three steps on the same networks (ResNet backbone + MoCo v2 MLP head, a momentum copy) and the same
batch of two views, timed alternately so that load on a shared machine hits them alike:

- bare: q = online(x_q); k = key(x_k) without grad; loss = -(q·k).mean(); backward; SGD step. The
  floor: the forward and backward passes any MoCo step needs, no contrastive machinery.
- ours: `MoCo.training_step` (momentum update, in-device key shuffle, normalisation, InfoNCE against
  a K-queue) + backward + SGD step + `after_step` (enqueue), as `training/loop.py` runs it.
- lightly (if installed): the same step built from lightly's components (MoCoProjectionHead,
  update_momentum, batch_shuffle/unshuffle, NTXentLoss with a memory bank of K), as lightly's
  `examples/pytorch/moco.py`.

Prints images/s and the ratios ours/bare (target ≥ 0.85) and ours/lightly (target ≥ 1.0).

    python benchmarks/train_speed.py --arch tv:resnet18 --size 64 --batch 32 --queue 65536 --steps 20
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F


def build_ours(args):
    from invariance_lab.training import TrainConfig
    from invariance_lab.training.methods import get_method
    from invariance_lab.training.shuffle_bn import convert_split_bn

    torch.manual_seed(0)
    cfg = TrainConfig.for_method(
        "mocov2", arch=args.arch, image_size=args.size, queue_size=args.queue, moco_m=0.999
    )
    m = get_method("mocov2")(cfg, 10_000, torch.Generator().manual_seed(0))
    convert_split_bn(
        m.online, 1
    )  # one group: plain BN statistics, in-device key shuffle (as lightly)
    m.to(args.device)
    m.setup(args.device, ("split", 1))
    m.train()
    opt = torch.optim.SGD(m.online.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)

    def step(xq, xk):
        loss, _ = m.training_step([xq, xk], None, m.online)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        m.after_step()

    def bare(xq, xk):
        q = m.online(xq)
        with torch.no_grad():
            k = m.encoder_k(xk)
        loss = -(q * k).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, bare


def build_lightly(args):
    from lightly.loss import NTXentLoss
    from lightly.models.modules import MoCoProjectionHead
    from lightly.models.utils import (
        batch_shuffle,
        batch_unshuffle,
        deactivate_requires_grad,
        update_momentum,
    )

    from invariance_lab.training.heads import build_backbone

    torch.manual_seed(0)
    backbone, width = build_backbone(args.arch)
    head = MoCoProjectionHead(width, width, 128)
    key_backbone, key_head = copy.deepcopy(backbone), copy.deepcopy(head)
    deactivate_requires_grad(key_backbone)
    deactivate_requires_grad(key_head)
    for mod in (backbone, head, key_backbone, key_head):
        mod.to(args.device).train()
    criterion = NTXentLoss(temperature=0.2, memory_bank_size=(args.queue, 128)).to(args.device)
    params = list(backbone.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.03, momentum=0.9, weight_decay=1e-4)

    def step(xq, xk):
        update_momentum(backbone, key_backbone, 0.999)
        update_momentum(head, key_head, 0.999)
        q = head(backbone(xq))
        with torch.no_grad():
            xs, shuffle = batch_shuffle(xk)
            k = batch_unshuffle(key_head(key_backbone(xs)), shuffle)
        loss = criterion(q, k)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def timed(fn, xq, xk, device) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn(xq, xk)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="tv:resnet18")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--queue", type=int, default=65536)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-lightly", action="store_true")
    args = p.parse_args()

    ours, bare = build_ours(args)
    runners = {"bare": bare, "ours": ours}
    if not args.no_lightly:
        try:
            runners["lightly"] = build_lightly(args)
        except ImportError as e:
            print(f"lightly not available ({e}); pip install lightly to compare")
    g = torch.Generator().manual_seed(0)
    xq = F.normalize(torch.randn(args.batch, 3, args.size, args.size, generator=g)).to(args.device)
    xk = F.normalize(torch.randn(args.batch, 3, args.size, args.size, generator=g)).to(args.device)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for i in range(args.warmup + args.steps):
        for name, fn in runners.items():  # interleaved, so shared-machine load hits all alike
            t = timed(fn, xq, xk, args.device)
            if i >= args.warmup:
                times[name].append(t)
    ips = {k: args.batch / statistics.median(v) for k, v in times.items()}
    print(
        f"device {args.device}, threads {torch.get_num_threads()}, {args.arch} at {args.size}px, batch {args.batch}, queue {args.queue}, {args.steps} steps (median)"
    )
    for k, v in ips.items():
        print(f"  {k:8s} {v:8.1f} images/s")
    print(f"ours / bare    = {ips['ours'] / ips['bare']:.3f}  (target >= 0.85)")
    if "lightly" in ips:
        print(f"ours / lightly = {ips['ours'] / ips['lightly']:.3f}  (target >= 1.0)")


if __name__ == "__main__":
    main()
