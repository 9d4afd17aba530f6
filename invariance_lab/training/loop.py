"""The shared training loop: data, optimiser, schedule, AMP, DDP, checkpoints, logging, kNN monitor.

It knows nothing about any method: it asks the `Method` for its views (`transform`), the network
to optimise (`online`), and the loss of a batch (`training_step`). Everything else is here:

- processes: `torchrun` sets the environment, `distributed.init_from_env` joins the group (NCCL on
  CUDA, gloo on CPU); the global batch is split evenly; rank 0 logs and writes checkpoints.
- optimiser: SGD, lr = `lr` × global batch / 256 (the linear scaling rule of MoCo's README);
  schedule per epoch, step (×0.1 at `lr_steps`, MoCo v1) or cosine (MoCo v2's `--cos`:
  lr·0.5·(1 + cos(π·epoch/epochs)), facebookresearch/moco `main_moco.py: adjust_learning_rate`).
- precision: `amp` bf16 (no scaler) or fp16 (GradScaler); channels_last and cudnn.benchmark on
  CUDA; optional `torch.compile` of the online network (the gathers stay outside it).
- checkpoints: `OUT/checkpoint.pt`, written atomically every `ckpt_every` steps, at each epoch end
  and at the end; it holds what a resumed run needs to continue bit-identically on CPU (model,
  queue/bank, optimiser, scheduler, scaler, sampler position, RNG states).
- monitoring: `OUT/log.csv` (loss, lr, images/s, method scalars; kNN top-1 each epoch), a tqdm
  bar, optional TensorBoard (`OUT/tb`).
"""

from __future__ import annotations

import json
import math
import random
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import distributed as D
from .augment import IMAGENET_MEAN, IMAGENET_STD
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .errors import TrainingError
from .knn import knn_accuracy
from .logger import RunLog
from .methods import get_method
from .shuffle_bn import convert_split_bn, parse_bn_mode
from .sources import knn_sets

CHECKPOINT_NAME = "checkpoint.pt"


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of an epoch: scaled base lr times the step or cosine factor."""
    base = cfg.lr * cfg.batch_size / 256
    if cfg.schedule == "cos":
        return base * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
    if cfg.schedule == "step":
        return base * 0.1 ** sum(epoch >= m for m in cfg.lr_steps)
    raise TrainingError(f"--schedule {cfg.schedule!r}: choose step or cos")


def _device(cfg: TrainConfig) -> str:
    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"--device {cfg.device}: CUDA is not available here; use --device cpu")
    return "cuda" if cfg.device.startswith("cuda") else "cpu"


def _amp(cfg: TrainConfig, device: str) -> torch.dtype | None:
    mode = cfg.amp
    if mode == "auto":
        mode = "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "none"
    if mode not in ("none", "bf16", "fp16"):
        raise TrainingError(f"--amp {cfg.amp!r}: choose auto, none, bf16 or fp16")
    if mode == "fp16" and device != "cuda":
        raise TrainingError("--amp fp16 needs CUDA; use --amp bf16 or none on CPU")
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def _drain(pending: list[torch.Tensor], losses: list[float], global_step: int) -> float:
    """Move pending per-step losses to `losses`; return the last one.

    Raises:
        TrainingError: a loss is NaN or infinite (names the step and what to change).

    """
    if not pending:
        return losses[-1] if losses else float("nan")
    values = torch.stack(pending).float().cpu().tolist()
    pending.clear()
    losses.extend(values)
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise TrainingError(
            f"loss became {bad[0]} by step {global_step}; lower --lr, or use --amp none/bf16 instead of fp16"
        )
    return values[-1]


def _restore(
    path, cfg, method, opt, scaler, generator, rank: int, world: int
) -> tuple[int, int, int]:
    """Load a checkpoint into the run's objects; returns its (epoch, step, global_step).

    Each rank takes back its own method generator when the world size is unchanged.

    Raises:
        TrainingError: unreadable file, or options that change the model or the sampler.

    """
    ck = load_checkpoint(path)
    saved = ck.get("config", {})
    for key in ("method", "arch", "dim", "batch_size", "queue_size"):
        if saved.get(key) != getattr(cfg, key):
            raise TrainingError(
                f"--resume {path}: the checkpoint has {key}={saved.get(key)!r} but this run "
                f"{getattr(cfg, key)!r}; use the same options or a new --out"
            )
    method.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    if scaler is not None and ck.get("scaler"):
        scaler.load_state_dict(ck["scaler"])
    rng = dict(ck["rng"])
    gens = rng["method"]
    same_world = gens.ndim == 2 and gens.shape[0] == world
    rng["method"] = gens[rank] if same_world else generator.get_state()
    set_rng_state(rng, generator)
    pos = ck["position"]
    return pos["epoch"], pos["step"], pos["global_step"]


def _param_groups(net: nn.Module, wd: float, wd_bn_bias: bool) -> list[dict]:
    if wd_bn_bias:
        return [{"params": [p for p in net.parameters() if p.requires_grad], "weight_decay": wd}]
    decay, no_decay = [], []
    for p in net.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) one training run; returns a summary.

    Args:
        cfg: resolved options (`TrainConfig.for_method(name, ...)`).

    Returns:
        {"checkpoint": path, "losses": [per-step losses of this process], "knn": [(epoch, top-1)],
        "global_step": int, "images_per_s": float}.

    Raises:
        TrainingError: bad options, unreadable data, a checkpoint from another run.

    Example:
        >>> cfg = TrainConfig.for_method("mocov2", arch="tv:resnet18", data="synth", epochs=1)
        >>> train(cfg)["checkpoint"]  # doctest: +SKIP

    """
    device = _device(cfg)
    rank, local, world = D.init_from_env(device)
    if cfg.image_size is None:
        cfg.image_size = 64 if cfg.data == "synth" else 224
    if cfg.batch_size % world:
        raise TrainingError(
            f"--batch-size {cfg.batch_size} (global) is not divisible by {world} processes"
        )
    dev = torch.device(device, local) if device == "cuda" else torch.device("cpu")
    try:
        bn = parse_bn_mode(cfg.bn_mode, world, device)
    except ValueError as e:
        raise TrainingError(str(e)) from e
    amp_dtype = _amp(cfg, device)
    channels_last = cfg.channels_last == "on" or (cfg.channels_last == "auto" and device == "cuda")
    if device == "cuda":
        torch.backends.cudnn.benchmark = True

    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    out = Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    method_cls = get_method(cfg.method)
    data = method_cls.training_data(cfg)  # images of --data, or frame pairs for video methods
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    method = method_cls(cfg, data.n, generator)
    if bn[0] == "split":
        convert_split_bn(method.online, bn[1])
    elif bn[0] == "sync":
        method.online = nn.SyncBatchNorm.convert_sync_batchnorm(method.online)
    method.to(dev)
    if channels_last:
        method.to(memory_format=torch.channels_last)
    method.setup(dev, bn)

    net: nn.Module = method.online
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[local] if device == "cuda" else None
        )
    if cfg.compile:
        net = torch.compile(net)
    opt = torch.optim.SGD(
        _param_groups(method.online, cfg.weight_decay, cfg.wd_bn_bias),
        lr=lr_at(cfg, 0),
        momentum=cfg.sgd_momentum,
    )
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    sampler = data.sampler(cfg.batch_size, rank, world, cfg.seed)
    steps_per_epoch = sampler.steps_per_epoch
    epoch, step, global_step = 0, 0, 0
    resume = cfg.resume
    if resume == "auto":
        resume = str(out / CHECKPOINT_NAME) if (out / CHECKPOINT_NAME).exists() else None
    if resume:
        epoch, step, global_step = _restore(
            resume, cfg, method, opt, scaler, generator, rank, world
        )
        if step >= steps_per_epoch:
            epoch, step = epoch + 1, 0

    loader = torch.utils.data.DataLoader(
        data.dataset(method.transform()),
        batch_sampler=sampler,
        num_workers=cfg.workers,
        pin_memory=device == "cuda",
        persistent_workers=cfg.workers > 0,
    )
    knn = knn_sets(cfg) if rank == 0 else None
    log = RunLog(out, list(method.STATS), cfg.tensorboard, rank == 0)
    if rank == 0:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))

    def checkpoint() -> Path:
        gen_states = D.concat_all_gather(
            generator.get_state().unsqueeze(0)
        )  # every rank's, (world, n)
        if rank != 0:
            return out / CHECKPOINT_NAME
        state = rng_state(generator)
        state["method"] = gen_states
        return save_checkpoint(
            out / CHECKPOINT_NAME,
            {
                "method": cfg.method,
                "arch": cfg.arch,
                "encoder": {
                    k: v.detach().cpu().clone() for k, v in method.backbone.state_dict().items()
                },
                "preprocessing": {
                    "input_size": [cfg.image_size, cfg.image_size],
                    "mean": list(IMAGENET_MEAN),
                    "std": list(IMAGENET_STD),
                },
                "model": {k: v.detach().cpu().clone() for k, v in method.state_dict().items()},
                "optimizer": opt.state_dict(),
                "scheduler": {
                    "schedule": cfg.schedule,
                    "epoch": epoch,
                    "lr": opt.param_groups[0]["lr"],
                },
                "scaler": scaler.state_dict() if scaler is not None else None,
                "position": {"epoch": epoch, "step": step, "global_step": global_step},
                "rng": state,
                "config": cfg.to_dict(),
            },
        )

    losses: list[float] = []
    pending: list[torch.Tensor] = []
    knn_hist: list[tuple[int, float]] = []
    ips = 0.0
    stop = False
    autocast = (
        (lambda: torch.autocast(device, dtype=amp_dtype)) if amp_dtype is not None else nullcontext
    )
    method.train()
    while epoch < cfg.epochs and not stop:
        lr = lr_at(cfg, epoch)
        for g in opt.param_groups:
            g["lr"] = lr
        sampler.set_position(epoch, step)
        bar = None
        if rank == 0 and cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=steps_per_epoch,
                initial=step,
                desc=f"{cfg.method} epoch {epoch}",
                unit="step",
                leave=False,
            )
        t0, n0 = time.perf_counter(), 0
        for views, index, _ in loader:
            views = [v.to(dev, non_blocking=True) for v in views]
            if channels_last:
                views = [
                    v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v
                    for v in views
                ]
            index = index.to(dev, non_blocking=True)
            with autocast():
                loss, stats = method.training_step(views, index, net)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            method.after_step()
            step += 1
            global_step += 1
            n0 += cfg.batch_size
            pending.append(loss.detach())  # read back at log points only: no per-step device sync
            if bar is not None:
                bar.update(1)
            if global_step % max(cfg.log_every, 1) == 0 or step == steps_per_epoch:
                lv = _drain(pending, losses, global_step)
                if bar is not None:
                    bar.set_postfix(loss=f"{lv:.3f}")
                ips = n0 / (time.perf_counter() - t0)
                log.write(
                    {
                        "epoch": epoch,
                        "step": step,
                        "global_step": global_step,
                        "loss": lv,
                        "lr": lr,
                        "images_per_s": round(ips, 2),
                        **{k: float(v) for k, v in stats.items()},
                    }
                )
                t0, n0 = time.perf_counter(), 0
            if cfg.max_steps is not None and global_step >= cfg.max_steps:
                stop = True
            if stop:
                _drain(pending, losses, global_step)
            if stop or (
                cfg.ckpt_every and global_step % cfg.ckpt_every == 0 and step < steps_per_epoch
            ):
                checkpoint()
            if stop:
                break
        if bar is not None:
            bar.close()
        if stop:
            break
        if knn is not None and (epoch + 1) % cfg.knn_every == 0:
            acc = knn_accuracy(
                method.backbone,
                *knn,
                k=cfg.knn_k,
                temperature=cfg.knn_t,
                device=dev,
                channels_last=channels_last,
            )
            knn_hist.append((epoch, acc))
            log.write(
                {
                    "epoch": epoch,
                    "step": step,
                    "global_step": global_step,
                    "knn_top1": round(acc, 4),
                }
            )
            if rank == 0 and cfg.progress:
                print(f"epoch {epoch}: loss {losses[-1]:.4f}  kNN top-1 {acc:.3f}  {ips:.1f} img/s")
        epoch, step = epoch + 1, 0
        checkpoint()
    if global_step == 0 and not resume:
        checkpoint()  # epochs=0: still leave a loadable file
    if D.is_dist():
        torch.distributed.barrier()
    return {
        "checkpoint": out / CHECKPOINT_NAME,
        "losses": losses,
        "knn": knn_hist,
        "global_step": global_step,
        "images_per_s": ips,
        "method": method,
    }
