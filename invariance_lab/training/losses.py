"""Similarity and losses: dot products of L2-normalised embeddings divided by a temperature.

- `info_nce`: MoCo's loss (He et al., CVPR 2020, Eq. 1; Oord et al., https://arxiv.org/abs/1807.03748):
  L = −log exp(q·k⁺/τ) / (exp(q·k⁺/τ) + Σ_i exp(q·k_i/τ)), i.e. cross-entropy over 1+K logits with
  the positive at index 0 (facebookresearch/moco `moco/builder.py`, `forward`).
- `nce_loss`: NPID's binary NCE (Wu et al., CVPR 2018, https://arxiv.org/abs/1805.01978, Eq. 5-7)
  used by PIRL's default config: P(i|v) = exp(v·m_i/τ)/Z, Z estimated once as N·mean(exp(s/τ)) on
  the first batch; h = P/(P + K·P_n) with P_n = 1/N; L = −[log h(positive) + Σ_negatives
  log(1 − h)] averaged over the batch (as VISSL's `NCECriterion`, `vissl/losses/nce_loss.py`).
- `memory_contrast`: one PIRL term, an embedding against its bank positive and sampled negatives,
  with either loss (`nce`, or `cross_entropy` = InfoNCE as VISSL's MLP-head config).

Similarities, logits and the loss are computed in float32 even under autocast (TRAINERS.md §7.4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = float(torch.finfo(torch.float32).eps)


def info_nce(
    q: torch.Tensor, k: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE of queries against their positive key and a shared set of negatives.

    Args:
        q: (B, D) L2-normalised queries.
        k: (B, D) L2-normalised positive keys (no gradient needed).
        negatives: (K, D) L2-normalised negatives (the queue), shared by the batch.
        temperature: τ (0.07 in MoCo v1, 0.2 in v2).

    Returns:
        (mean loss, logits (B, 1+K) with the positive in column 0).

    """
    q, k, negatives = q.float(), k.float(), negatives.float()
    l_pos = (q * k).sum(dim=1, keepdim=True)  # (B, 1)
    l_neg = q @ negatives.T  # (B, K)
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature  # (B, 1+K)
    labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, labels), logits


def masked_info_nce(
    q: torch.Tensor,
    k: torch.Tensor,
    negatives: torch.Tensor,
    temperature: float,
    mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`info_nce` row by row (row i's positive is k[i]), averaged over the rows where `mask` is True.

    The Region Tracker's region term: each query region's positive is its own tracked key region.
    Rows outside `mask` (padding) contribute nothing; with no row the loss is 0 (still a graph).

    Args:
        q: (N, D) L2-normalised query regions.
        k: (N, D) L2-normalised key regions, row-aligned with `q`.
        negatives: (K, D) L2-normalised negatives (the region queue).
        temperature: τ.
        mask: (N,) bool, the rows that are real region pairs.

    Returns:
        (loss, logits (N, 1+K) with the positive in column 0).

    """
    q, k, negatives = q.float(), k.float(), negatives.float()
    l_pos = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
    logits = torch.cat([l_pos, q @ negatives.T], dim=1) / temperature  # (N, 1+K)
    labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    per_row = F.cross_entropy(logits, labels, reduction="none")  # (N,)
    m = mask.to(per_row.dtype)
    return (per_row * m).sum() / m.sum().clamp(min=1.0), logits


def estimate_partition(scores: torch.Tensor, temperature: float, n_data: int) -> torch.Tensor:
    """Z = N · mean(exp(s/τ)) over a batch of similarities `scores` (NPID's one-off estimate)."""
    return torch.exp(scores.float().detach() / temperature).mean() * n_data


def nce_loss(
    scores: torch.Tensor, temperature: float, z: torch.Tensor | float, n_data: int
) -> torch.Tensor:
    """NPID's binary NCE over (B, 1+K) similarities with the positive in column 0.

    Args:
        scores: (B, 1+K) dot products of normalised vectors.
        temperature: τ (0.07 in PIRL).
        z: the normalising constant Z (see `estimate_partition`).
        n_data: N, the number of training images (noise distribution P_n = 1/N).

    """
    p = torch.exp(scores.float() / temperature) / z  # (B, 1+K): model probabilities P(i|v)
    k = p.shape[1] - 1
    kpn = k / n_data
    log_h_pos = torch.log(p[:, 0] / (p[:, 0] + kpn + EPS))  # log P(data | positive)
    log_h_neg = torch.log(kpn / (p[:, 1:] + kpn + EPS))  # log P(noise | negative)
    return -(log_h_pos.sum() + log_h_neg.sum()) / p.shape[0]


def memory_contrast(
    emb: torch.Tensor,
    bank_rows: torch.Tensor,
    temperature: float,
    loss: str,
    z: torch.Tensor | float | None = None,
    n_data: int | None = None,
) -> torch.Tensor:
    """One PIRL term: L2-normalised `emb` (B, D) against bank rows (B, 1+K, D), positive first.

    Args:
        emb: (B, D) normalised embeddings (f or g).
        bank_rows: (B, 1+K, D) bank entries, the positive first.
        temperature: τ.
        loss: "nce" (needs `z` and `n_data`) or "cross_entropy" (InfoNCE).
        z: NCE normalising constant.
        n_data: dataset size N (NCE noise distribution).

    """
    scores = torch.einsum("bd,bkd->bk", emb.float(), bank_rows.float())  # (B, 1+K)
    if loss == "nce":
        return nce_loss(scores, temperature, z, n_data)
    labels = torch.zeros(emb.shape[0], dtype=torch.long, device=emb.device)
    return F.cross_entropy(scores / temperature, labels)
