"""MoCo v1 and v2: a query encoder, its momentum copy, a queue of keys, InfoNCE.

He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020
(https://arxiv.org/abs/1911.05722), and Chen et al., "Improved Baselines with Momentum Contrastive
Learning" (https://arxiv.org/abs/2003.04297). Algorithm as facebookresearch/moco `moco/builder.py`
(commit 7397dfe): q = normalize(f_q(x_q)); under no_grad, momentum update θ_k ← m·θ_k + (1−m)·θ_q
(parameters only; the key encoder's BN buffers evolve through its own forward passes), key batch
shuffled for BN, k = normalize(f_k(x_k)), unshuffled; logits [q·k, q·queue]/T, label 0; then the
keys, gathered from all processes, are enqueued. Hyper-parameters from `main_moco.py` and the README
(TRAINERS.md §1.2).

Deviations: the queue is a buffer of this module but outside the DDP-wrapped `online` network, so
DDP never broadcasts it; every rank enqueues the same gathered keys instead (TRAINERS.md §7.3).
The enqueue runs in `after_step`, after the optimiser step, so the logits can use the queue without
the reference's per-step clone; the negatives each step sees are the same.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import AUGMENTATIONS, TwoCrops
from ..distributed import concat_all_gather, world_size
from ..heads import Projected, build_backbone, linear_head, mlp_head
from ..losses import info_nce
from ..queue import Queue
from ..shuffle_bn import batch_shuffle, batch_shuffle_ddp, batch_unshuffle, batch_unshuffle_ddp
from .base import Method, register_method

MOCO_V1 = dict(temperature=0.07, mlp=False, aug="v1", schedule="step", lr_steps=[120, 160])
MOCO_V2 = dict(temperature=0.2, mlp=True, aug="v2", schedule="cos")


class MoCo(Method):
    """MoCo with the options of `TrainConfig` (`dim`, `queue_size` K, `moco_m` m, `temperature` T, `mlp`)."""

    DEFAULTS = MOCO_V1
    STATS = ("acc1",)

    def __init__(self, cfg, n_data, generator):
        super().__init__(cfg, n_data, generator)
        backbone, width = build_backbone(cfg.arch)
        head = mlp_head(width, cfg.dim) if cfg.mlp else linear_head(width, cfg.dim)
        self.online = Projected(backbone, head)  # encoder_q
        self.queue = Queue(cfg.queue_size, cfg.dim)
        self.encoder_k: nn.Module | None = None
        self._keys: torch.Tensor | None = None  # this step's keys, enqueued by after_step
        self.shuffle = "none"

    def transform(self):
        """Two independent draws of the v1 or v2 augmentation."""
        c = self.cfg
        aug = AUGMENTATIONS[c.aug]
        kw = {"blur": c.blur} if c.aug == "v2" else {}
        return TwoCrops(aug(c.image_size, scale=tuple(c.crop_scale), **kw))

    def setup(self, device, bn):
        """Create the key encoder as a copy of the (already BN-converted) query encoder."""
        kind, _ = bn
        if self.encoder_k is None:
            self.encoder_k = copy.deepcopy(self.online)
            for p in self.encoder_k.parameters():
                p.requires_grad_(False)
        if kind == "shuffle" and world_size() > 1:
            self.shuffle = "ddp"
        elif kind == "split" and self.cfg.key_shuffle:
            self.shuffle = "local"
        else:
            self.shuffle = "none"

    @torch.no_grad()
    def momentum_update(self) -> None:
        """θ_k ← m·θ_k + (1−m)·θ_q over parameters (a lerp towards θ_q by 1−m)."""
        k = [p for p in self.encoder_k.parameters()]
        q = [p.detach() for p in self.online.parameters()]
        torch._foreach_lerp_(k, q, 1.0 - self.cfg.moco_m)

    @torch.no_grad()
    def shuffled(self, fn, x: torch.Tensor) -> torch.Tensor:
        """`fn(x)` computed on the batch permuted for BN (shuffle-BN), returned in the order of `x`."""
        if self.shuffle == "ddp":
            xs, undo = batch_shuffle_ddp(x, self.generator)
            return batch_unshuffle_ddp(fn(xs), undo)
        if self.shuffle == "local":
            xs, undo = batch_shuffle(x, self.generator)
            return batch_unshuffle(fn(xs), undo)
        return fn(x)

    @torch.no_grad()
    def keys(self, im_k: torch.Tensor) -> torch.Tensor:
        """Normalised keys (B, dim) in the order of `im_k`, computed on a shuffled batch."""
        return self.shuffled(lambda x: F.normalize(self.encoder_k(x), dim=1), im_k)

    def training_step(self, views, index, net):
        """InfoNCE of q against its key and the queue; `after_step` enqueues the gathered keys."""
        im_q, im_k = views
        q = F.normalize(net(im_q).float(), dim=1)  # (B, dim)
        with torch.no_grad():
            self.momentum_update()
            k = self.keys(im_k).float()  # (B, dim)
        # The queue is used as is (the reference clones it): it changes only in `after_step`, once
        # backward has consumed it, which saves a K×dim copy per step.
        loss, logits = info_nce(q, k, self.queue.keys, self.cfg.temperature)  # logits: B×(1+K)
        self._keys = concat_all_gather(k)  # (world·B, dim), rank order
        acc = (logits.argmax(1) == 0).float().mean()
        return loss, {"acc1": acc}

    def after_step(self) -> None:
        """Enqueue this step's keys (gathered from all processes), the reference's dequeue-and-enqueue."""
        if self._keys is not None:
            self.queue.enqueue(self._keys)
            self._keys = None


@register_method("moco")
class MoCoV1(MoCo):
    """MoCo v1: linear head, T 0.07, v1 augmentation, step schedule ×0.1 at epochs 120 and 160."""

    DEFAULTS = MOCO_V1


@register_method("mocov2")
class MoCoV2(MoCo):
    """MoCo v2: MLP head, T 0.2, aug+ (blur), cosine schedule."""

    DEFAULTS = MOCO_V2
