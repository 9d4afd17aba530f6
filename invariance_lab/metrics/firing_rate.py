"""Firing-rate invariance, paper-compatible and strict.

The measure is Goodfellow et al.'s firing-rate invariance ("Measuring invariances in deep
networks", NIPS 2009) as Purushwalkam & Gupta apply it to pooled features ("Demystifying
Contrastive Self-Supervised Learning", NeurIPS 2020, §3 and their `measure_invariances.py`).
A neuron "fires" on an image when its activation passes a threshold chosen so that it fires on a
small fraction G of all probe images (the global firing rate). For a set S of transformed images
of one object, among the sets where the neuron fires at least once, the local firing rate is the
fraction of S on which it fires; L averages that over sets of a class. Invariance is L / G; a
representation's score is the mean of its top-K neurons, per class, averaged over classes.

`paper_invariance` reproduces the released script exactly, quirks included (DESIGN.md §4);
`strict_invariance` fixes the quirks. Both find the thresholds by exact sample-select and count
each set's firing images in the same single pass over chunks of whole sets
(`_select.select_and_count`), so memory stays near the size of the feature matrix in its own
dtype (no float64 copy, no full sort of N×D).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MetricInputError
from ._groups import Groups, make_groups
from ._select import ColumnCounts, select_and_count
from .bootstrap import bootstrap_topk, class_scores, class_topk

DEFAULT_KS = (10, 25)


@dataclass
class InvarianceResult:
    """Scores of one feature matrix on one probe.

    Attributes:
        mode: "paper" or "strict".
        ks: the K values (top-K neurons/units averaged).
        topk: {K: score} on the paper's printed scale (mean L/G over top-K, averaged over
            classes, times `scale`).
        ci: {K: (low, high)} bootstrap percentile interval on the same scale (NaN when not run).
        scale: multiplier to the printed scale: (100 - p) in paper mode, 100·q in strict mode.
        curve: mean over classes of the k-th best unit's L/G times `scale` (index k-1), the
            curve that K = 10 and 25 summarise.
        unit_scores: (C, U) L/G of every unit in every class (NaN: no evidence, strict only).
        global_firing: (U,) global firing rate G of each unit.
        units: (U, 2) int array of (neuron index, sign ±1); paper mode uses sign 0 (max of both).
        class_labels: (C,) class labels, in the order of `unit_scores` rows.
        topk_per_class: {K: (C,) array}: each class's top-K mean on the printed scale, in the
            order of `class_labels` (`topk[K]` is their mean; NaN for a class strict mode left
            out: no kept set, or fewer than K units that fired in it).
        counts: sizes and exclusions (images, sets, classes used/skipped, excluded units, ...).
        params: the settings that produced it (firing rate, min set size, bootstrap, seed).

    """

    mode: str
    ks: tuple[int, ...]
    topk: dict[int, float]
    ci: dict[int, tuple[float, float]]
    scale: float
    curve: np.ndarray
    unit_scores: np.ndarray
    global_firing: np.ndarray
    units: np.ndarray
    class_labels: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    topk_per_class: dict[int, np.ndarray] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no per-unit arrays): `top10`, `top25`, CIs, counts, params, per class.

        `per_class` is {class label: {"top10": …, "top25": …}}, None where a class has no score.
        """
        out: dict[str, Any] = {"mode": self.mode, "scale": self.scale}
        for k in self.ks:
            out[f"top{k}"] = self.topk[k]
            lo, hi = self.ci.get(k, (math.nan, math.nan))
            out[f"top{k}_ci"] = [lo, hi]
        out.update(self.counts)
        out["params"] = self.params
        if self.topk_per_class:
            out["per_class"] = {
                str(label): {f"top{k}": (None if np.isnan(v := float(self.topk_per_class[k][c])) else v) for k in self.ks}
                for c, label in enumerate(self.class_labels)
            }
        return out


# ----------------------------------------------------------------------------------------------
# shared machinery
# ----------------------------------------------------------------------------------------------
def _as_features(feat: Any) -> np.ndarray:
    """Float32 view/copy of the features; float64 input is kept as is (no copy, exact paper match)."""
    if type(feat).__module__.startswith("torch"):  # a torch.Tensor, without importing torch here
        feat = feat.detach().cpu()
        feat = (feat if str(feat.dtype) in ("torch.float32", "torch.float64") else feat.float()).numpy()
    arr = np.asarray(feat)
    if arr.ndim != 2:
        raise MetricInputError(f"features must be a 2-D array (images × neurons), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MetricInputError(f"features are empty (shape {arr.shape}); the probe produced no images or the layer no channels")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32)
    return arr


def _thresholds_and_counts(
    feat: np.ndarray, ranks: Sequence[int], groups: Groups, keep: np.ndarray, tests: list[tuple[int, str]]
) -> tuple[np.ndarray, ColumnCounts, list[np.ndarray]]:
    """Thresholds, global firing counts and per-set firing counts in one pass over `feat`.

    Exact order statistics of every column at 0-based `ranks`, with the counts of values below
    and equal to each, "column is constant", and per kept set the counts of rows passing each
    test (i, op) against the thresholds of rank i (`_select.select_and_count`).

    Raises:
        MetricInputError: naming the neurons that hold NaN or inf.

    """
    values, counts, set_counts = select_and_count(feat, [int(r) for r in ranks], groups, keep, tests)
    if counts.nonfinite.any():
        bad = np.flatnonzero(counts.nonfinite).tolist()
        raise MetricInputError(
            f"features hold NaN or inf in {len(bad)} neuron(s) (column indices {bad[:20]}{' …' if len(bad) > 20 else ''}); "
            "check the encoder's weights and input normalisation"
        )
    return values, counts, set_counts


def _set_chunks(n_sets: int, d: int):
    """Slices of at most ~1M (set, neuron) entries, to bound float64 temporaries."""
    step = max(1, (1 << 20) // d)
    for a in range(0, n_sets, step):
        yield slice(a, min(n_sets, a + step))


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise MetricInputError(f"K values must be positive integers, got {ks}")
    return ks


# ----------------------------------------------------------------------------------------------
# paper-compatible mode
# ----------------------------------------------------------------------------------------------
def paper_firing_percent(n_classes: int) -> float:
    """The released script's percentile p = min((1 - 1/C)·100, 95); neurons fire on ~(100 - p)%."""
    return min((1.0 - 1.0 / n_classes) * 100, 95)


def paper_invariance(
    feat: Any,
    set_ids: Sequence,
    class_ids: Sequence | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    n_boot: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
    ci_method: str = "conditional",
) -> InvarianceResult:
    """Firing-rate invariance exactly as the Demystifying paper's `measure_invariances.py` computes it.

    Steps (DESIGN.md §4): C classes (the sets when there are none); p = min((1 - 1/C)·100, 95);
    k = floor(N·p/100); t⁺_j = element k of column j ascending, t⁻_j = element k descending;
    G_j = mean(F ≥ t⁺_j); sets of < 3 images skipped; per set u = #(F > t⁺), d = #(F < t⁻),
    f = max(u, d), and where f > 0 add f/|S| to the set's class and count it; L = sum/count per
    class (0 where never counted); per class the mean of the top-K of L/G; reported value = mean
    over classes × (100 - p).

    Quirks kept on purpose (see `strict_invariance` for the fixes): the firing rate depends on the
    number of classes (one class gives p = 0, every neuron fires everywhere, score 100); G uses ≥
    and only the upper sign while L uses > and < and both signs; ties at the threshold (ReLU zeros)
    inflate G; classes whose sets were all skipped still count, with score 0; no uncertainty.

    Args:
        feat: (N, D) features; float64 input is used as is, anything else as float32.
        set_ids: (N,) set label of each row (the script's `instance`).
        class_ids: (N,) class labels (the script's `classes`); None uses the set labels.
        ks: numbers of top neurons to average (the paper: 10 and 25).
        n_boot: bootstrap resamples for confidence intervals (0 = none, as the paper).
        seed: bootstrap seed.
        confidence: interval coverage.
        ci_method: "conditional" (top-K units fixed at their full-sample choice) or "reselect";
            see `invariance_lab.metrics.bootstrap`.

    Returns:
        InvarianceResult with `topk` on the paper's printed scale.

    Raises:
        MetricInputError: non-finite or all-constant features, K larger than D, or no set with ≥ 3 images.

    """
    feat = _as_features(feat)
    ks = _check_ks(ks)
    n, d = feat.shape
    if max(ks) > d:
        raise MetricInputError(f"K = {max(ks)} exceeds the {d} neurons of these features; choose smaller --k values")
    groups = make_groups(set_ids, class_ids, n)
    C = groups.n_classes
    p = paper_firing_percent(C)
    k = int((n * p) // 100)  # same float expression as the script
    keep = groups.set_size >= 3
    # thresholds, G's counts and per kept set u = #(F > t⁺), d = #(F < t⁻), in one pass
    (t_up, t_dn), cc, (u, dn) = _thresholds_and_counts(feat, [k, n - 1 - k], groups, keep, [(0, "gt"), (1, "lt")])
    constant = cc.constant
    if constant.all():
        raise MetricInputError("every neuron is constant over the probe; the features carry no information")
    G = (n - cc.n_lt[0]) / n  # mean(F >= t_up), float64, > 0 since element k itself passes

    if not keep.any():
        raise MetricInputError(f"no set has 3 or more images (largest has {groups.set_size.max()}); the paper's measure skips such sets")
    frac = np.zeros((groups.n_sets, d), dtype=np.float32) if n_boot else None  # per-set f/|S|, for the bootstrap
    lsum = np.zeros((C, d))
    lcnt = np.zeros((C, d))
    kept = np.flatnonzero(keep)  # sets are ordered by class, so a class's kept sets are adjacent
    for sl in _set_chunks(len(kept), d):
        f = np.maximum(u[sl], dn[sl])
        fr = f / groups.set_size[kept[sl], None].astype(np.float64)
        if frac is not None:
            frac[kept[sl]] = fr
        cls = groups.set_class[kept[sl]]
        starts = np.flatnonzero(np.r_[True, cls[1:] != cls[:-1]])
        if len(starts) == len(cls):  # one set per class here (e.g. class = set): nothing to sum
            lsum[cls] += fr
            lcnt[cls] += f > 0
        else:
            lsum[cls[starts]] += np.add.reduceat(fr, starts, axis=0)
            lcnt[cls[starts]] += np.add.reduceat(f > 0, starts, axis=0, dtype=np.int64)
    L = lsum / (lcnt + 1e-20)  # the script's expression: 0 where never counted
    scores = L / G
    scale = 100.0 - p
    topk_cls, curve = class_topk(scores, ks, nan_policy="zero")
    topk = {kk: float(np.mean(topk_cls[kk]) * scale) for kk in ks}
    ci = {kk: (math.nan, math.nan) for kk in ks}
    if n_boot:
        ci = bootstrap_topk(frac, groups, keep, G, ks, n_boot=n_boot, seed=seed, confidence=confidence, nan_policy="zero", scale=scale, method=ci_method)
    units = np.stack([np.arange(d), np.zeros(d, dtype=np.int64)], axis=1)
    counts = {
        "n_images": n,
        "n_neurons": d,
        "n_sets": groups.n_sets,
        "n_sets_used": int(keep.sum()),
        "n_sets_skipped": int((~keep).sum()),
        "n_classes": C,
        "n_classes_used": C,
        "n_constant_neurons": int(constant.sum()),
        "n_units_excluded": 0,
    }
    params = {"firing_percent": p, "threshold_index": k, "min_set_size": 3, "n_boot": n_boot, "seed": seed, "confidence": confidence, "ci_method": ci_method}
    per_class = {kk: topk_cls[kk] * scale for kk in ks}
    return InvarianceResult(
        "paper", ks, topk, ci, scale, curve * scale, scores.astype(np.float32), G, units, groups.class_labels, counts, params, per_class
    )


# ----------------------------------------------------------------------------------------------
# strict mode
# ----------------------------------------------------------------------------------------------
def strict_invariance(
    feat: Any,
    set_ids: Sequence,
    class_ids: Sequence | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    firing_rate: float = 0.05,
    tie_tolerance: float = 2.0,
    min_set_size: int = 3,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    ci_method: str = "conditional",
) -> InvarianceResult:
    """Firing-rate invariance with the paper script's quirks fixed.

    Each fix, against the paper-compatible mode:

    1. *Fixed firing rate.* The target global firing rate q (default 5 %) does not depend on the
       number of classes, so a single-class probe is measured like any other instead of scoring
       a trivial 100.
    2. *Units are (neuron, sign) pairs.* A neuron's high and low tails are separate units, each
       with its own threshold (t⁺ = the ⌈qN⌉-th largest value, t⁻ = the ⌈qN⌉-th smallest) and its
       own global firing rate, instead of a lower sign that enters L but never G.
    3. *Same inequality in G and L.* A unit fires when F ≥ t⁺ (upper) or F ≤ t⁻ (lower), both
       when G is counted and when L is.
    4. *Ties excluded and counted.* With ties at the threshold (ReLU zeros, saturated units) G
       can be far from q and L/G meaningless; units whose G is outside [q/t, q·t] (t =
       `tie_tolerance`, default 2) are excluded and their number reported.
    5. *Set size explicit.* The minimum set size is a parameter, and the number of sets below it
       is reported; classes left with no set are dropped from the mean (and counted) instead of
       entering it with score 0.
    6. *No evidence is not zero.* A unit that never fires within a class has no local firing rate
       there (NaN) and is not ranked for that class, instead of counting as 0.
    7. *Uncertainty.* Bootstrap percentile intervals over sets (two-stage: classes, then sets
       within each class), with thresholds held at their full-sample values.

    The printed scale is L/G × 100q, so a perfectly invariant unit (L = 1, G = q) scores 100 and
    a unit independent of the set scores 100q / (1 - (1 - q)^m) for sets of m images (≈ 5 at
    q = 5 % and large m), as on the paper's scale.

    Args:
        feat: (N, D) features.
        set_ids: (N,) set label per row.
        class_ids: (N,) class label per row, or None (each set its own class).
        ks: numbers of top units to average.
        firing_rate: target global firing rate q in (0, 0.5].
        tie_tolerance: factor by which a unit's G may miss q before it is excluded.
        min_set_size: sets with fewer images are skipped (and counted).
        n_boot: bootstrap resamples (0 disables intervals).
        seed: bootstrap seed.
        confidence: interval coverage.
        ci_method: "conditional" (top-K units fixed at their full-sample choice) or "reselect";
            see `invariance_lab.metrics.bootstrap`.

    Raises:
        MetricInputError: bad parameters, non-finite features, every unit tied or constant,
            or every set below `min_set_size`.

    """
    if not 0 < firing_rate <= 0.5:
        raise MetricInputError(f"firing_rate must be in (0, 0.5], got {firing_rate}")
    if tie_tolerance < 1:
        raise MetricInputError(f"tie_tolerance must be ≥ 1, got {tie_tolerance}")
    if min_set_size < 2:
        raise MetricInputError(f"min_set_size must be ≥ 2 (a set of one image says nothing about invariance), got {min_set_size}")
    feat = _as_features(feat)
    ks = _check_ks(ks)
    n, d = feat.shape
    groups = make_groups(set_ids, class_ids, n)
    n_fire = max(1, math.ceil(firing_rate * n - 1e-9))
    keep = groups.set_size >= min_set_size
    # thresholds, G's counts and per kept set #(F ≥ t⁺), #(F ≤ t⁻), in one pass
    (t_hi, t_lo), cc, (u_hi, u_lo) = _thresholds_and_counts(feat, [n - n_fire, n_fire - 1], groups, keep, [(0, "ge"), (1, "le")])
    constant = cc.constant
    if constant.all():
        raise MetricInputError("every neuron is constant over the probe; the features carry no information")
    c_hi = n - cc.n_lt[0]  # #(F >= t_hi)
    c_lo = cc.n_lt[1] + cc.n_eq[1]  # #(F <= t_lo)
    G = np.concatenate([c_hi, c_lo]) / n  # units: [neuron j upper for all j, neuron j lower for all j]
    valid_unit = (G <= firing_rate * tie_tolerance) & (G >= firing_rate / tie_tolerance)
    if not valid_unit.any():
        raise MetricInputError(
            f"all {2 * d} (neuron, sign) units have a global firing rate outside "
            f"[{firing_rate / tie_tolerance:.3g}, {firing_rate * tie_tolerance:.3g}] because of tied values; "
            "the features are (nearly) constant or quantised — try another layer or --tie-tolerance"
        )
    if not keep.any():
        raise MetricInputError(
            f"every set has fewer than min_set_size = {min_set_size} images (largest: {groups.set_size.max()}); lower --min-set-size"
        )
    U = 2 * d
    # per-set fraction of images on which each unit fires (0 where it does not fire); float32 S×U
    frac = np.zeros((groups.n_sets, U), dtype=np.float32)
    kept = np.flatnonzero(keep)
    for sl in _set_chunks(len(kept), d):
        size = groups.set_size[kept[sl], None].astype(np.float32)
        frac[kept[sl], :d] = u_hi[sl] / size
        frac[kept[sl], d:] = u_lo[sl] / size
    frac[:, ~valid_unit] = 0.0
    scale = 100.0 * firing_rate
    w = keep.astype(np.float64)
    scores = class_scores(frac, groups, w, G, "skip", valid_unit)
    class_has_sets = np.bincount(groups.set_class, weights=w, minlength=groups.n_classes) > 0
    topk_cls, curve = class_topk(scores[class_has_sets], ks, nan_policy="skip")
    if all(np.isnan(topk_cls[kk]).all() for kk in ks):
        raise MetricInputError(
            f"no class has {min(ks)} units that fired within it; use a smaller K (--k) or more images per class"
        )
    # a K that no class reaches is reported as NaN (and counted below), the others still stand
    topk = {kk: float(np.nanmean(topk_cls[kk]) * scale) if not np.isnan(topk_cls[kk]).all() else math.nan for kk in ks}
    ci = {kk: (math.nan, math.nan) for kk in ks}
    if n_boot:
        ci = bootstrap_topk(
            frac, groups, keep, G, ks, n_boot=n_boot, seed=seed, confidence=confidence, nan_policy="skip", scale=scale, valid_unit=valid_unit, method=ci_method
        )
    units = np.concatenate(
        [np.stack([np.arange(d), np.ones(d, dtype=np.int64)], 1), np.stack([np.arange(d), -np.ones(d, dtype=np.int64)], 1)]
    )
    counts = {
        "n_images": n,
        "n_neurons": d,
        "n_sets": groups.n_sets,
        "n_sets_used": int(keep.sum()),
        "n_sets_skipped": int((~keep).sum()),
        "n_classes": groups.n_classes,
        "n_classes_used": int(class_has_sets.sum()),
        "n_constant_neurons": int(constant.sum()),
        "n_units": U,
        "n_units_excluded": int((~valid_unit).sum()),
    }
    for kk in ks:
        counts[f"n_classes_short_top{kk}"] = int(np.isnan(topk_cls[kk]).sum())
    params = {
        "firing_rate": firing_rate,
        "tie_tolerance": tie_tolerance,
        "min_set_size": min_set_size,
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "ci_method": ci_method,
    }
    per_class = {}
    for kk in ks:  # back to all classes, NaN for those without kept sets
        per_class[kk] = np.full(groups.n_classes, np.nan)
        per_class[kk][class_has_sets] = topk_cls[kk] * scale
    return InvarianceResult(
        "strict", ks, topk, ci, scale, curve * scale, scores.astype(np.float32), G, units, groups.class_labels, counts, params, per_class
    )


def score_features(
    feat: Any,
    set_ids: Sequence,
    class_ids: Sequence | None = None,
    mode: str = "paper",
    ks: Sequence[int] = DEFAULT_KS,
    **options: Any,
) -> InvarianceResult:
    """Score features in either mode (`paper` or `strict`); options go to the mode's function."""
    if mode == "paper":
        return paper_invariance(feat, set_ids, class_ids, ks, **options)
    if mode == "strict":
        return strict_invariance(feat, set_ids, class_ids, ks, **options)
    raise MetricInputError(f"unknown mode {mode!r}; use 'paper' or 'strict'")
