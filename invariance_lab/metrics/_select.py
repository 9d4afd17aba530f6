"""Exact per-column order statistics of a large (N, D) matrix without sorting it.

`column_order_stats(feat, ranks)` returns, for every column, the values at the given ascending
ranks: exactly what `np.sort(feat, axis=0)[ranks]` gives, at a fraction of the time and memory.
With `with_counts=True` it also returns, per rank and column, how many values lie strictly below
the selected value and how many equal it, whether each column is constant and whether it holds
NaN or inf, so that callers get firing counts (F ≥ t, F ≤ t) without another pass over the data.

Method (sample-select; Floyd & Rivest, "Expected time bounds for selection", CACM 1975): a row
sample gives, per column and rank, a bracket [lo, hi] that contains the wanted value with very
high probability; one streaming pass over row blocks counts the values below each bracket (and,
for brackets with lo == hi, the values equal to it) and collects the few values inside the others;
the wanted value is then read off the candidates, sorted once by (column, value). Any column whose
bracket missed (or whose candidates overflow a budget, e.g. heavy ties) is resolved by exact
partial selection of that column alone, so the result is always exact.

Speed details: row blocks of at most 255 rows let boolean masks be counted with uint8 adds
(`np.add.reduce(..., dtype=uint8)`), about twice as fast as a sum into int64; all ranks share one
pass; blocks are processed by a thread pool (NumPy releases the GIL in its loops); for float32
the candidates are sorted as one uint64 key per value (column in the high bits, the value's
order-preserving bit pattern in the low bits) instead of a Python loop over columns.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

_SAMPLE_ROWS = 8192
_DIRECT_BELOW = 16384  # below this many rows, plain partial selection is as fast
_BLOCK_ELEMENTS = 1 << 20  # ~4 MB of float32 per block for the direct path
_SCAN_ROWS = 255  # rows per scanned block: counts fit in uint8


def n_threads() -> int:
    """Threads for streaming passes (all cores, at most 8)."""
    return max(1, min(8, os.cpu_count() or 1))


@dataclass
class ColumnCounts:
    """What one pass learns besides the order statistics.

    Attributes:
        n_lt: (R, D) number of values strictly below the selected value of each rank.
        n_eq: (R, D) number of values equal to it.
        constant: (D,) the column holds a single value.
        nonfinite: (D,) the column holds NaN or ±inf (its order statistics are then meaningless).

    """

    n_lt: np.ndarray
    n_eq: np.ndarray
    constant: np.ndarray
    nonfinite: np.ndarray


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


def _direct_counts(feat: np.ndarray, values: np.ndarray) -> ColumnCounts:
    n_lt = np.stack([(feat < v).sum(axis=0, dtype=np.int64) for v in values])
    n_eq = np.stack([(feat == v).sum(axis=0, dtype=np.int64) for v in values])
    nonfinite = ~np.isfinite(feat).all(axis=0)
    constant = (feat.min(axis=0) == feat.max(axis=0)) & ~nonfinite
    return ColumnCounts(n_lt, n_eq, constant, nonfinite)


def column_order_stats(
    feat: np.ndarray,
    ranks: list[int],
    *,
    sample_rows: int = _SAMPLE_ROWS,
    force_sample: bool = False,
    with_counts: bool = False,
) -> np.ndarray | tuple[np.ndarray, ColumnCounts]:
    """Values at ascending 0-based `ranks` of every column of `feat` (exact).

    Args:
        feat: (N, D) floats, C-contiguous rows.
        ranks: ranks in [0, N).
        sample_rows: rows in the bracketing sample.
        force_sample: use the sample-select path even for small N (tests).
        with_counts: also return a `ColumnCounts`.

    Returns:
        (len(ranks), D) array in feat's dtype, and the `ColumnCounts` if asked for. Columns with
        NaN are flagged in `nonfinite`; their values are unspecified.

    """
    n, d = feat.shape
    ranks = [int(r) for r in ranks]
    if n < _DIRECT_BELOW and not force_sample:
        values = direct_order_stats(feat, ranks)
        return (values, _direct_counts(feat, values)) if with_counts else values
    m = min(n, sample_rows)
    sample_idx = np.linspace(0, n - 1, m).round().astype(np.int64)
    brackets = [_bracket(r, n, m) for r in ranks]
    rows = feat[sample_idx]
    sample = np.empty((d, m), dtype=feat.dtype)  # each column's sample, transposed in row tiles
    for i0 in range(0, m, 256):  # (a single strided transpose thrashes the cache)
        sample[:, i0 : i0 + 256] = rows[i0 : i0 + 256].T
    del rows
    sample.sort(axis=1)  # NumPy's SIMD sort beats a multi-rank partition here
    lo = [sample[:, b_lo].copy() for b_lo, _ in brackets]
    hi = [sample[:, b_hi].copy() for _, b_hi in brackets]
    sample_constant = sample[:, 0] == sample[:, m - 1]
    del sample
    scan = _scan(feat, lo, hi)
    values = np.empty((len(ranks), d), dtype=feat.dtype)
    n_lt = np.empty((len(ranks), d), dtype=np.int64)
    n_eq = np.empty((len(ranks), d), dtype=np.int64)
    for i, r in enumerate(ranks):
        budget = int(8 * (2 * _bracket_half(r, n, m) / m) * n * (lo[i] != hi[i]).sum()) + 4 * n
        values[i], n_lt[i], n_eq[i] = _resolve(feat, r, lo[i], hi[i], scan[i], budget)
    # a constant column has a constant sample, hence point brackets, and every value equals them
    nonfinite = ~np.isfinite(scan.col_sum)
    if nonfinite.any():  # a float32 sum can overflow: check those columns exactly
        idx = np.flatnonzero(nonfinite)
        nonfinite[idx] = ~np.isfinite(feat[:, idx]).all(axis=0)
    constant = sample_constant & (n_eq[0] == n) & ~nonfinite
    return (values, ColumnCounts(n_lt, n_eq, constant, nonfinite)) if with_counts else values


def _bracket_half(r: int, n: int, m: int) -> float:
    q = (r + 0.5) / n
    return 4.0 * math.sqrt(m * q * (1 - q)) + 2.0  # ±4σ of the sample rank of the wanted value


def _bracket(r: int, n: int, m: int) -> tuple[int, int]:
    """Sample ranks whose values bracket the rank-r value of the full column (with high probability)."""
    pos, half = (r + 0.5) / n * m, _bracket_half(r, n, m)
    return max(0, int(math.floor(pos - half))), min(m - 1, int(math.ceil(pos + half)))


@dataclass
class _RankScan:
    below: np.ndarray  # (D,) values < lo
    upto: np.ndarray | None  # (D,) values <= hi (only when some bracket is a point)
    vals: np.ndarray  # candidate values lo <= v <= hi of span columns
    cols: np.ndarray  # their columns


class _Scan(list):
    col_sum: np.ndarray


def _scan(feat: np.ndarray, lo: list[np.ndarray], hi: list[np.ndarray]) -> _Scan:
    """One pass over row blocks: per rank, counts below lo (and up to hi) and the candidates inside."""
    n, d = feat.shape
    span = [lo_i != hi_i for lo_i, hi_i in zip(lo, hi, strict=True)]
    any_point = [not s.all() for s in span]
    any_span = [bool(s.any()) for s in span]
    local = threading.local()

    def block(i0: int):
        blk = feat[i0 : i0 + _SCAN_ROWS]
        rows = len(blk)
        if not hasattr(local, "a"):
            local.a = np.empty((_SCAN_ROWS, d), dtype=bool)
            local.b = np.empty((_SCAN_ROWS, d), dtype=bool)
        a, b = local.a[:rows], local.b[:rows]
        out = []
        for i in range(len(lo)):
            np.less(blk, lo[i], out=a)
            below = np.add.reduce(a.view(np.uint8), axis=0, dtype=np.uint8)
            np.less_equal(blk, hi[i], out=b)
            upto = np.add.reduce(b.view(np.uint8), axis=0, dtype=np.uint8) if any_point[i] else None
            vals = cols = None
            if any_span[i]:
                np.greater(b, a, out=b)  # lo <= v <= hi
                if any_point[i]:
                    b &= span[i]  # point brackets are decided by counting, not by candidates
                flat = np.flatnonzero(b)
                vals = blk.reshape(-1)[flat]
                cols = flat % d
            out.append((below, upto, vals, cols))
        return out, blk.sum(axis=0)

    with ThreadPoolExecutor(n_threads()) as ex:
        parts = list(ex.map(block, range(0, n, _SCAN_ROWS)))
    scan = _Scan()
    for i in range(len(lo)):
        below = np.zeros(d, dtype=np.int64)
        upto = np.zeros(d, dtype=np.int64) if any_point[i] else None
        for p, _ in parts:
            below += p[i][0]
            if upto is not None:
                upto += p[i][1]
        if any_span[i]:
            vals = np.concatenate([p[i][2] for p, _ in parts])
            cols = np.concatenate([p[i][3] for p, _ in parts])
        else:
            vals, cols = np.empty(0, feat.dtype), np.empty(0, np.int64)
        scan.append(_RankScan(below, upto, vals, cols))
    scan.col_sum = np.sum([s for _, s in parts], axis=0)
    return scan


def _sortable_bits(vals: np.ndarray) -> np.ndarray:
    """uint64 holding float32 values' order-preserving bit patterns (-0.0 taken as +0.0)."""
    bits = (vals + np.float32(0)).view(np.uint32).astype(np.uint64)  # -0.0 + 0.0 = +0.0
    neg = bits >= 0x80000000
    bits[neg] = 0xFFFFFFFF - bits[neg]  # negative: reverse their order below the positives
    bits[~neg] += 0x80000000
    return bits


def _resolve(feat: np.ndarray, r: int, lo: np.ndarray, hi: np.ndarray, sc: _RankScan, budget: int):
    """Rank-r value of every column, values below it and values equal to it."""
    n, d = feat.shape
    value = np.empty(d, dtype=feat.dtype)
    n_lt = np.zeros(d, dtype=np.int64)
    n_eq = np.zeros(d, dtype=np.int64)
    resolved = np.zeros(d, dtype=bool)
    point = lo == hi
    if point.any():  # the wanted rank falls inside the run of values equal to lo
        equal = sc.upto - sc.below
        ok = point & (sc.below <= r) & (r < sc.below + equal)
        value[ok], n_lt[ok], n_eq[ok] = lo[ok], sc.below[ok], equal[ok]
        resolved |= ok
    span = ~point
    if span.any() and len(sc.vals) <= budget:
        counts = np.bincount(sc.cols, minlength=d)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rr = r - sc.below
        ok = span & (rr >= 0) & (rr < counts)
        idx = np.flatnonzero(ok)
        if feat.dtype == np.float32:
            keys = (sc.cols.astype(np.uint64) << np.uint64(32)) | _sortable_bits(sc.vals)
            keys.sort()
            chosen = keys[starts[idx] + rr[idx]]
            value[idx] = _from_bits(chosen & np.uint64(0xFFFFFFFF))
            left = np.searchsorted(keys, chosen, side="left")
            right = np.searchsorted(keys, chosen, side="right")
            n_lt[idx] = sc.below[idx] + left - starts[idx]
            n_eq[idx] = right - left
        else:  # float64: no room for the column in the key; group by column, select per column
            order = np.argsort(sc.cols, kind="stable")
            vals = sc.vals[order]
            for j in idx:
                seg = vals[starts[j] : starts[j] + counts[j]]
                v = np.partition(seg, rr[j])[rr[j]]
                value[j], n_lt[j], n_eq[j] = v, sc.below[j] + (seg < v).sum(), (seg == v).sum()
        resolved[idx] = True
    for j in np.flatnonzero(~resolved):  # exact fallback for columns whose bracket missed
        col = np.ascontiguousarray(feat[:, j])
        v = np.partition(col, r)[r]
        value[j], n_lt[j], n_eq[j] = v, (col < v).sum(), (col == v).sum()
    return value, n_lt, n_eq


def _from_bits(bits: np.ndarray) -> np.ndarray:
    """Inverse of `_sortable_bits` (low 32 bits) back to float32."""
    bits = bits.astype(np.uint32)
    pos = bits >= 0x80000000
    out = np.where(pos, bits - np.uint32(0x80000000), np.uint32(0xFFFFFFFF) - bits).astype(np.uint32)
    return out.view(np.float32)
