"""The summary table's numbers, shared by the HTML, Markdown and LaTeX writers and the figures."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .load import ReportData


def default_k(data: ReportData) -> int:
    """The K the figures show: 10 when present (the paper's first), else the smallest."""
    return 10 if 10 in data.ks else data.ks[0]


def score_grid(data: ReportData, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, ci_low, ci_high) arrays of shape (rows, cols) for top-`k`; NaN where not measured."""
    rows, cols = data.rows, data.cols
    ri = {r: i for i, r in enumerate(rows)}
    ci = {c: j for j, c in enumerate(cols)}
    out = np.full((3, len(rows), len(cols)), np.nan)
    sub = data.table[data.table["k"] == k]
    for r, c, s, lo, hi in zip(sub["row"], sub["col"], sub["score"], sub["ci_low"], sub["ci_high"], strict=True):
        out[:, ri[r], ci[c]] = (s, lo, hi)
    return out[0], out[1], out[2]


def best_mask(score: np.ndarray) -> np.ndarray:
    """True at the best (highest) score of each column, ties included; False where a column is empty."""
    mask = np.zeros(score.shape, dtype=bool)
    for j in range(score.shape[1]):
        col = score[:, j]
        if np.isfinite(col).any():
            mask[:, j] = np.isfinite(col) & (col >= np.nanmax(col) - 1e-12)
    return mask


def fmt_score(v: float) -> str:
    """Two decimals, or "" when missing."""
    return "" if v is None or not math.isfinite(v) else f"{v:.2f}"


def cell_grid(data: ReportData, k: int, best: Callable[[str], str], ci: Callable[[str], str]) -> list[list[str]]:
    """Formatted top-`k` cells, one list per encoder row.

    `best(score)` marks the column's best, `ci(text)` wraps the confidence interval; a cell the
    run did not measure is "" (never 0).
    """
    score, lo, hi = score_grid(data, k)
    is_best = best_mask(score)
    grid = []
    for i in range(len(data.rows)):
        cells = []
        for j in range(len(data.cols)):
            v = score[i, j]
            if not math.isfinite(v):
                cells.append("")
                continue
            s = best(fmt_score(v)) if is_best[i, j] else fmt_score(v)
            interval = fmt_ci(lo[i, j], hi[i, j])
            cells.append(s + (ci(interval) if interval else ""))
        grid.append(cells)
    return grid


def fmt_ci(lo: float, hi: float) -> str:
    """`[lo, hi]` with one decimal, or "" when there is no interval."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f"[{lo:.1f}, {hi:.1f}]"


def probe_sizes(data: ReportData, col: str) -> dict[str, Any]:
    """n_images, n_sets, n_classes of a probe column (description first, else the results rows)."""
    desc = (data.probes.get(col) or {}).get("desc") or {}
    sub = data.table[data.table["col"] == col]
    out = {}
    for key in ("n_images", "n_sets", "n_classes"):
        v = desc.get(key)
        if v is None and key in sub and len(sub):
            v = sub[key].iloc[0]
        out[key] = None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
    return out


def firing_rate(data: ReportData, col: str) -> float | None:
    """The global firing rate g the scale is built on: (100 − p)/100 in paper mode, q in strict mode."""
    if data.mode == "paper":
        c = probe_sizes(data, col)["n_classes"]
        if not c:
            return None
        p = min((1.0 - 1.0 / c) * 100, 95)
        return (100.0 - p) / 100.0
    if data.mode == "strict":
        return float(data.config().get("firing_rate", 0.05))
    return None


def chance_level(data: ReportData, col: str) -> float | None:
    """Score of one neuron whose firing ignores set membership: 100·g / (1 − (1 − g)^m), m = mean set size.

    On the printed scale (L/G × 100g) a neuron firing independently of the set with probability g
    has local rate g / (1 − (1 − g)^m) among sets where it fires at least once. The top-K of many
    neurons lies above this even for random features; in paper mode L also counts the lower tail,
    so the value is a lower bound there.
    """
    g = firing_rate(data, col)
    sz = probe_sizes(data, col)
    if g is None or not sz["n_images"] or not sz["n_sets"]:
        return None
    if g >= 1.0:
        return 100.0
    m = sz["n_images"] / sz["n_sets"]
    return 100.0 * g / (1.0 - (1.0 - g) ** m)


def caption(data: ReportData, k: int) -> str:
    """Plain-text caption of the summary table for top-`k`: mode, K, layer, what is marked."""
    mode = {"paper": "paper-compatible mode (the released script's measure)", "strict": "strict mode"}.get(data.mode, "mixed modes (rows labelled)")
    extra = ""
    if data.mode == "strict":
        cfg = data.config()
        extra = f", target firing rate {100 * float(cfg.get('firing_rate', 0.05)):g} %, {cfg.get('n_boot', '?')} bootstrap resamples over sets"
    layer = f"layer {data.layers[0]}" if len(data.layers) == 1 else "rows per encoder · layer"
    return (f"Firing-rate invariance, mean of the top-{k} neurons ({mode}{extra}); {layer}. "
            f"Higher = more invariant (100 = fully invariant); ★ marks the best in each column; "
            f"brackets: confidence interval; blank: not measured.")  # fmt: skip
