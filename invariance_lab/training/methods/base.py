"""What a method is: a module wiring the five parts, and the registry the CLI reads its names from.

A `Method` (Falcon & Cho, "A Framework for Contrastive Self-Supervised Learning",
https://arxiv.org/abs/2009.00104) owns its views (`transform`), its trainable network (`online`:
backbone + heads, the part the loop wraps in DDP and optimises), its extra state (momentum
encoder, queue, memory bank) and `training_step`, which returns the loss. The loop knows nothing
else about it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ..._registry import Registry
from ..config import TrainConfig

METHODS: Registry[type[Method]] = Registry("training method")
"""Every method class by name (`moco`, `mocov2`, `pirl`)."""


def register_method(name: str):
    """Class decorator adding a `Method` to `METHODS` under `name` (raises on duplicates)."""

    def deco(cls):
        METHODS.add(name, cls)
        return cls

    return deco


def get_method(name: str) -> type[Method]:
    """The method class called `name` (RegistryError naming the registered ones otherwise)."""
    return METHODS.get(name)


def list_methods(pattern: str = "*") -> list[str]:
    """Registered method names matching a shell-style pattern."""
    return METHODS.list(pattern)


class Method(nn.Module):
    """Base class: subclasses set `DEFAULTS`, build `online` and implement `transform`/`training_step`.

    Args:
        cfg: the resolved options.
        n_data: training-set size (the memory bank is sized to it).
        generator: the method's own random generator (key shuffles, negative sampling); saved in
            checkpoints so a resumed run draws the same numbers.

    """

    DEFAULTS: ClassVar[dict[str, Any]] = {}
    STATS: ClassVar[tuple[str, ...]] = ()  # scalars `training_step` returns, logged as CSV columns
    online: nn.Module

    def __init__(self, cfg: TrainConfig, n_data: int, generator: torch.Generator):
        super().__init__()
        self.cfg = cfg
        self.n_data = n_data
        self.generator = generator

    @property
    def backbone(self) -> nn.Module:
        """The encoder that is saved under `encoder` and measured (`online.backbone`)."""
        return self.online.backbone

    @classmethod
    def training_data(cls, cfg: TrainConfig):
        """The run's data (`sources.TrainingData`): the images of `--data`; video methods read frame pairs."""
        from ..sources import image_training_data

        return image_training_data(cfg)

    def transform(self):
        """Callable PIL image → list of view tensors (what one dataset item holds)."""
        raise NotImplementedError

    def setup(self, device: torch.device, bn: tuple[str, int]) -> None:
        """Called once after `.to(device)`: build momentum copies, sync state across ranks."""

    def after_step(self) -> None:
        """Called by the loop after the optimiser step (MoCo enqueues its keys here)."""

    def training_step(
        self, views: list[torch.Tensor], index: torch.Tensor, net: nn.Module
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one batch and scalars to log; `net` is `online`, possibly DDP-wrapped (use it for the forward).

        The loop then runs backward, the optimiser step and `after_step`.
        """
        raise NotImplementedError
