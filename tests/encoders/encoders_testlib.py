"""Helpers for the encoder tests (a module with a unique name: test folders share sys.path)."""

from __future__ import annotations

import torch


def pooled_resnet(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Independent computation of resnet18's penultimate features: flatten(avgpool(layer4(...))).

    Works for torchvision (`relu`, `avgpool`) and timm (`act1`, `global_pool`) resnets.
    """
    act = model.relu if hasattr(model, "relu") else model.act1
    with torch.no_grad():
        h = model.maxpool(act(model.bn1(model.conv1(x))))
        h = model.layer4(model.layer3(model.layer2(model.layer1(h))))
        if hasattr(model, "avgpool"):
            return torch.flatten(model.avgpool(h), 1)
        return h.mean(dim=(2, 3))


def features(encoder, x: torch.Tensor, layers=("pooled",)) -> dict[str, torch.Tensor]:
    """Run an encoder's feature module without gradients."""
    with torch.no_grad():
        return encoder.feature_module(list(layers))(x)


def prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The same state dict with `prefix` in front of every key (e.g. DDP's `module.`)."""
    return {prefix + k: v for k, v in state.items()}
