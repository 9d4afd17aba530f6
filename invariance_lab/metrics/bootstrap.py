"""Top-K aggregation and bootstrap confidence intervals over sets.

The unit of resampling is the set (one object under the probe's transformation), in two stages:
classes are drawn with replacement, then, within each drawn class, its sets are drawn with
replacement (a hierarchical bootstrap; Davison & Hinkley, "Bootstrap Methods and their
Application", 1997, §3.8). Thresholds and global firing rates stay at their full-sample values,
so the interval reflects which objects happened to be in the probe, not threshold noise.
Classes with a single set keep a fixed score and only enter through the class draw, which keeps
the common case (ALOI: one set per class) cheap.

Two interval methods:
- "conditional" (default): each class's top-K units are chosen once, on the full sample, and the
  resamples re-estimate those units' L/G. The top-K mean is a maximum over noisy estimates, so
  re-selecting the best units in every resample shifts the whole bootstrap distribution upward
  (with few sets per class, above the point estimate itself). Holding the selection fixed
  measures how much the selected units' invariance depends on which objects were sampled.
- "reselect": the top-K are re-selected in every resample; includes selection uncertainty but
  inherits that upward shift, so the interval may not contain the point estimate.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from ._groups import Groups


def class_sums(x: np.ndarray, groups: Groups, set_weight: np.ndarray) -> np.ndarray:
    """(C, U) weighted sums of per-set rows `x` (S, U) within each class (sets are sorted by class)."""
    starts = np.searchsorted(groups.set_class, np.arange(groups.n_classes))
    return np.add.reduceat(x * set_weight[:, None], starts, axis=0)


def _topk_from_scores(scores: np.ndarray, ks: Sequence[int], nan_policy: str) -> dict[int, np.ndarray]:
    """{K: (C,) mean of each row's top-K} by partial selection; NaN rows entries are 'no evidence'."""
    s = np.where(np.isnan(scores), -np.inf if nan_policy == "skip" else 0.0, scores)
    kmax = max(ks)
    u = s.shape[1]
    if u > kmax:
        top = -np.partition(-s, kmax - 1, axis=1)[:, :kmax]
    else:
        top = s
    top = -np.sort(-top, axis=1)
    return _topk_means(top, np.isfinite(s).sum(axis=1), ks)


def _topk_means(top: np.ndarray, n_valid: np.ndarray, ks: Sequence[int]) -> dict[int, np.ndarray]:
    """{K: (C,) mean of the first K columns of `top` (rows sorted descending).

    NaN where a row has fewer than K valid entries.
    """
    out = {}
    for k in ks:
        if k > top.shape[1]:
            out[k] = np.full(top.shape[0], np.nan)
            continue
        with np.errstate(invalid="ignore"):
            m = np.mean(top[:, :k], axis=1)
        out[k] = np.where(n_valid >= k, m, np.nan)  # a class with fewer ranked units than K is "short"
    return out


def class_topk(scores: np.ndarray, ks: Sequence[int], nan_policy: str) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Per-class top-K means and the curve of the k-th best unit, averaged over classes.

    Args:
        scores: (C, U) L/G per class and unit.
        ks: K values.
        nan_policy: "zero" treats NaN as 0 (paper mode never produces NaN); "skip" leaves such
            units out of the ranking, and a class with fewer than K ranked units gets NaN.

    Returns:
        ({K: (C,)}, (U,) curve) — curve[k-1] is the mean over classes of the k-th largest score
        (classes with fewer than k ranked units left out).

    """
    s = np.where(np.isnan(scores), -np.inf if nan_policy == "skip" else 0.0, scores)
    srt = -np.sort(-s, axis=1)  # the curve needs the full sort; the top-K means reuse it
    topk = _topk_means(srt, np.isfinite(s).sum(axis=1), ks)
    srt[~np.isfinite(srt)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no class ranks that many units
        curve = np.nanmean(srt, axis=0) if srt.shape[0] else np.full(s.shape[1], np.nan)
    return topk, curve


def bootstrap_topk(
    frac: np.ndarray,
    groups: Groups,
    keep: np.ndarray,
    G: np.ndarray,
    ks: Sequence[int],
    *,
    n_boot: int,
    seed: int,
    confidence: float,
    nan_policy: str,
    scale: float,
    valid_unit: np.ndarray | None = None,
    method: str = "conditional",
) -> dict[int, tuple[float, float]]:
    """Percentile intervals of the aggregate top-K score under a two-stage set bootstrap.

    Args:
        frac: (S, U) per-set fraction of images on which each unit fires (0 = did not fire).
        groups: set/class structure (sets sorted by class).
        keep: (S,) sets that enter the measure (size ≥ the minimum).
        G: (U,) global firing rates (held fixed).
        ks: K values.
        n_boot: number of resamples.
        seed: seed of the resampling generator.
        confidence: coverage of the interval (0.95 → 2.5th and 97.5th percentiles).
        nan_policy: as in `class_topk`; with "zero" (paper mode) classes without kept sets keep
            score 0 and stay in the mean, with "skip" they are left out.
        scale: multiplier to the printed scale.
        valid_unit: (U,) units allowed in the ranking (strict mode's tie exclusion).
        method: "conditional" or "reselect" (see the module docstring).

    Returns:
        {K: (low, high)} on the printed scale.

    """
    if method not in ("conditional", "reselect"):
        raise ValueError(f"unknown bootstrap method {method!r}; use 'conditional' or 'reselect'")
    rng = np.random.default_rng(seed)
    C = groups.n_classes
    kept_per_class = np.bincount(groups.set_class[keep], minlength=C)
    # classes entering the class-level draw
    eligible = np.flatnonzero(kept_per_class > 0) if nan_policy == "skip" else np.arange(C)
    multi = np.flatnonzero(kept_per_class > 1)
    # fixed scores for classes with at most one kept set
    w_full = keep.astype(np.float64)
    base_scores = class_scores(frac, groups, w_full, G, nan_policy, valid_unit)
    fixed = _topk_from_scores(base_scores, ks, nan_policy)
    for k in ks:
        if nan_policy == "zero":
            fixed[k] = np.where(kept_per_class > 0, fixed[k], 0.0)

    # kept sets of multi-set classes, contiguous by class
    m_sets = np.flatnonzero(keep & np.isin(groups.set_class, multi))
    m_class = groups.set_class[m_sets]
    m_starts = np.searchsorted(m_class, multi)  # start of each multi class within m_sets
    m_sizes = kept_per_class[multi]
    slot_start = np.repeat(m_starts, m_sizes)
    slot_size = np.repeat(m_sizes, m_sizes)
    sub_frac = frac[m_sets]
    sub_fired = sub_frac > 0
    if method == "conditional":
        # full-sample top-K units of each multi-set class: (len(multi), kmax) unit indices
        ranked = np.where(np.isnan(base_scores[multi]), -np.inf, base_scores[multi])
        kmax = min(max(ks), ranked.shape[1])
        selected = np.argsort(-ranked, axis=1, kind="stable")[:, :kmax]

    stats = {k: np.empty(n_boot) for k in ks}
    for b in range(n_boot):
        cls_draw = np.bincount(rng.choice(eligible, size=len(eligible)), minlength=C).astype(np.float64)
        per_class = {k: fixed[k].copy() for k in ks}
        if len(multi):
            pick = slot_start + (rng.random(len(slot_start)) * slot_size).astype(np.int64)
            w = np.bincount(pick, minlength=len(m_sets)).astype(np.float64)
            num = np.add.reduceat(sub_frac * w[:, None], m_starts, axis=0)
            den = np.add.reduceat(sub_fired * w[:, None], m_starts, axis=0)
            sc = _invariance_ratio(num, den, G, nan_policy, valid_unit)
            if method == "conditional":
                picked = np.take_along_axis(sc, selected, axis=1)
                if nan_policy == "zero":
                    picked = np.nan_to_num(picked, nan=0.0)
                for k in ks:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        # a selected unit that no resampled set fires on has no estimate: left out
                        per_class[k][multi] = np.where(np.isfinite(fixed[k][multi]), np.nanmean(picked[:, :k], axis=1), np.nan)
            else:
                resampled = _topk_from_scores(sc, ks, nan_policy)
                for k in ks:
                    per_class[k][multi] = resampled[k]
        for k in ks:
            v = per_class[k]
            ok = np.isfinite(v) & (cls_draw > 0)
            stats[k][b] = np.sum(v[ok] * cls_draw[ok]) / np.sum(cls_draw[ok]) if ok.any() else np.nan
    alpha = (1.0 - confidence) / 2.0
    out = {}
    for k in ks:
        s = stats[k][np.isfinite(stats[k])]
        if len(s) == 0:
            out[k] = (math.nan, math.nan)
        else:
            lo, hi = np.quantile(s, [alpha, 1.0 - alpha])
            out[k] = (float(lo * scale), float(hi * scale))
    return out


def class_scores(
    frac: np.ndarray, groups: Groups, set_weight: np.ndarray, G: np.ndarray, nan_policy: str, valid_unit: np.ndarray | None = None
) -> np.ndarray:
    """(C, U) L/G per class from per-set firing fractions.

    Units that never fired in a class get NaN ("skip") or 0 ("zero", the paper's 0/(0 + 1e-20));
    excluded units get NaN.
    """
    return _invariance_ratio(class_sums(frac, groups, set_weight), class_sums(frac > 0, groups, set_weight), G, nan_policy, valid_unit)


def _invariance_ratio(num, den, G, nan_policy, valid_unit):
    """L/G from per-class sums of firing fractions (num) and of firing sets (den)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        L = num / den
    if nan_policy == "zero":
        L = np.nan_to_num(L, nan=0.0)
    sc = L / G
    if valid_unit is not None:
        sc[:, ~valid_unit] = np.nan
    return sc
