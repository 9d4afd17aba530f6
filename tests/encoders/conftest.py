"""Shared tiny fixtures: a resnet18 with known weights and a 64×64 batch."""

from __future__ import annotations

import pytest
import torch
import torchvision


@pytest.fixture(scope="session")
def source_model() -> torch.nn.Module:
    """A torchvision resnet18 whose weights differ from the loader's seeded init (seed 1, not 0)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = torchvision.models.resnet18(weights=None)
        # Non-trivial BatchNorm statistics, so a buffer that failed to load would change the features.
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="session")
def batch() -> torch.Tensor:
    """A normalised-looking batch (B=2, 3, 64, 64)."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 64, 64, generator=g)
