"""The kNN monitor: weighted k-nearest-neighbour accuracy of backbone features on held-out labels.

Wu et al., InstDisc (CVPR 2018, https://arxiv.org/abs/1805.01978, §3.4): cosine similarity to the
k nearest bank features, each neighbour voting for its class with weight exp(s/τ); defaults
k = 20, τ = 0.07 as that paper (the MoCo CIFAR demo uses k = 200, τ = 0.1). Features are the
backbone's pooled output (the layer `evaluate` measures), L2-normalised; the bank and query sets
are disjoint parts of a labelled held-out set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def knn_predict(
    feats: torch.Tensor,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    n_classes: int,
    k: int = 20,
    temperature: float = 0.07,
) -> torch.Tensor:
    """Class scores (Q, C) for normalised query features (Q, D) given a normalised bank (N, D)."""
    sim = feats @ bank.T  # (Q, N) cosine similarities
    k = min(k, bank.shape[0])
    s, idx = sim.topk(k, dim=1)  # (Q, k)
    w = torch.exp(s / temperature)
    one_hot = F.one_hot(bank_labels[idx], n_classes).to(w.dtype)  # (Q, k, C)
    return (one_hot * w.unsqueeze(-1)).sum(1)


@torch.no_grad()
def extract(
    backbone: nn.Module,
    images: torch.Tensor,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
) -> torch.Tensor:
    """L2-normalised backbone features (N, D) of preprocessed images (N, 3, H, W), in eval mode."""
    was = backbone.training
    backbone.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size].to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out.append(F.normalize(backbone(x).float(), dim=1).cpu())
    backbone.train(was)
    return torch.cat(out)


def knn_accuracy(
    backbone: nn.Module,
    bank_x: torch.Tensor,
    bank_y: torch.Tensor,
    query_x: torch.Tensor,
    query_y: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
    **kw,
) -> float:
    """Top-1 kNN accuracy (0–1) of `backbone` with `(bank_x, bank_y)` as the labelled memory."""
    n_classes = int(max(bank_y.max(), query_y.max())) + 1
    bank = extract(backbone, bank_x, **kw)
    query = extract(backbone, query_x, **kw)
    pred = knn_predict(query, bank, bank_y, n_classes, k, temperature).argmax(1)
    return float((pred == query_y).float().mean())
