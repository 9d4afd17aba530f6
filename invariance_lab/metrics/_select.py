"""Exact per-column order statistics of a large (N, D) matrix without sorting it.

`column_order_stats(feat, ranks)` returns, for every column, the values at the given ascending
ranks: exactly what `np.sort(feat, axis=0)[ranks]` gives, at a fraction of the time and memory.

Method (sample-select; Floyd & Rivest, "Expected time bounds for selection", CACM 1975): a row
sample gives, per column and rank, a bracket [lo, hi] that contains the wanted value with very
high probability; one streaming pass over row blocks counts the values below each bracket and
collects the few values inside it; the wanted value is then selected among those candidates.
Any column whose bracket missed (or whose candidates overflow a budget, e.g. heavy ties) is
resolved by exact partial selection of that column alone, so the result is always exact.
Row blocks are processed by a thread pool: NumPy releases the GIL in its loops.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_SAMPLE_ROWS = 4096
_DIRECT_BELOW = 16384  # below this many rows, plain partial selection is as fast
_BLOCK_ELEMENTS = 1 << 20  # ~4 MB of float32 per scanned block: stays in cache across the comparisons


def n_threads() -> int:
    """Threads for streaming passes (all cores, at most 8)."""
    return max(1, min(8, os.cpu_count() or 1))


def direct_order_stats(feat: np.ndarray, ranks: list[int]) -> np.ndarray:
    """Exact order statistics by partial selection on column blocks (tiled transpose + partition)."""
    n, d = feat.shape
    out = np.empty((len(ranks), d), dtype=feat.dtype)
    kth = sorted(set(ranks))
    cols = max(1, (_BLOCK_ELEMENTS * 4) // n)
    for j0 in range(0, d, cols):
        j1 = min(d, j0 + cols)
        block = np.empty((j1 - j0, n), dtype=feat.dtype)
        for i0 in range(0, n, 4096):  # tiles: a single strided transpose thrashes the cache
            block[:, i0 : i0 + 4096] = feat[i0 : i0 + 4096, j0:j1].T
        block.partition(kth, axis=1)
        for i, r in enumerate(ranks):
            out[i, j0:j1] = block[:, r]
    return out


def column_order_stats(feat: np.ndarray, ranks: list[int], *, sample_rows: int = _SAMPLE_ROWS, force_sample: bool = False) -> np.ndarray:
    """Values at ascending 0-based `ranks` of every column of `feat` (exact).

    Args:
        feat: (N, D) finite floats.
        ranks: ranks in [0, N).
        sample_rows: rows in the bracketing sample.
        force_sample: use the sample-select path even for small N (tests).

    Returns:
        (len(ranks), D) array in feat's dtype.

    """
    n, d = feat.shape
    if n < _DIRECT_BELOW and not force_sample:
        return direct_order_stats(feat, ranks)
    m = min(n, sample_rows)
    sample_idx = np.linspace(0, n - 1, m).round().astype(np.int64)
    brackets = [_bracket(r, n, m) for r in ranks]
    sample = np.ascontiguousarray(feat[sample_idx].T)  # (D, m): each column's sample
    sample.partition(sorted({b for pair in brackets for b in pair}), axis=1)  # only the bracket ranks are needed
    out = np.empty((len(ranks), d), dtype=feat.dtype)
    for i, (r, (b_lo, b_hi)) in enumerate(zip(ranks, brackets, strict=True)):
        out[i] = _select_rank(feat, r, sample[:, b_lo].copy(), sample[:, b_hi].copy(), _bracket_half(r, n, m), n, m)
    return out


def _bracket_half(r: int, n: int, m: int) -> float:
    q = (r + 0.5) / n
    return 4.0 * math.sqrt(m * q * (1 - q)) + 2.0  # ±4σ of the sample rank of the wanted value


def _bracket(r: int, n: int, m: int) -> tuple[int, int]:
    """Sample ranks whose values bracket the rank-r value of the full column (with high probability)."""
    pos, half = (r + 0.5) / n * m, _bracket_half(r, n, m)
    return max(0, int(math.floor(pos - half))), min(m - 1, int(math.ceil(pos + half)))


def _select_rank(feat: np.ndarray, r: int, lo: np.ndarray, hi: np.ndarray, half: float, n: int, m: int) -> np.ndarray:
    """Rank-r value of every column, given per-column bracket values lo ≤ value ≤ hi (usually)."""
    d = feat.shape[1]
    point = lo == hi  # tied bracket (e.g. ReLU zeros): decided by counting alone
    span = ~point
    budget = int(8 * (2 * half / m) * n * span.sum()) + 4 * n  # candidates we accept before giving up

    point_idx = np.flatnonzero(point)

    def scan(i0: int, i1: int):
        blk = feat[i0:i1]
        below = (blk < lo).sum(axis=0, dtype=np.int64)
        inside = blk >= lo
        inside &= blk <= hi
        equal = None
        if len(point_idx):
            equal = inside.sum(axis=0, dtype=np.int64)[point_idx]  # lo == hi there: inside means equal
            inside &= span  # tied columns are decided by counting, not by collecting candidates
        flat = np.flatnonzero(inside)  # row-major: flat = row * d + column
        return below, equal, blk.reshape(-1)[flat], (flat % d)

    rows_per = max(1, _BLOCK_ELEMENTS // max(d, 1))
    spans = [(i0, min(n, i0 + rows_per)) for i0 in range(0, n, rows_per)]
    with ThreadPoolExecutor(n_threads()) as ex:
        parts = list(ex.map(lambda s: scan(*s), spans))
    below = np.sum([p[0] for p in parts], axis=0)
    result = np.empty(d, dtype=feat.dtype)
    resolved = np.zeros(d, dtype=bool)
    # tied brackets: the wanted rank falls inside the run of values equal to lo
    if point.any():
        equal = np.sum([p[1] for p in parts], axis=0)
        b = below[point]
        ok = (b <= r) & (r < b + equal)
        idx = np.flatnonzero(point)[ok]
        result[idx] = lo[idx]
        resolved[idx] = True
    vals = np.concatenate([p[2] for p in parts])
    span_idx = np.flatnonzero(span)
    if len(vals) <= budget and len(span_idx):
        cols = np.concatenate([p[3] for p in parts]).astype(np.uint16 if d < 65536 else np.int64)
        order = np.argsort(cols, kind="stable")  # radix sort on small ints: groups candidates by column
        vals = vals[order]
        counts = np.bincount(cols, minlength=d)
        starts = np.concatenate([[0], np.cumsum(counts)])
        for j in span_idx:
            rr = r - below[j]
            if 0 <= rr < counts[j]:
                seg = vals[starts[j] : starts[j + 1]]
                result[j] = np.partition(seg, rr)[rr]
                resolved[j] = True
    # exact fallback for columns whose bracket missed
    for j in np.flatnonzero(~resolved):
        col = np.ascontiguousarray(feat[:, j])
        result[j] = np.partition(col, r)[r]
    return result
