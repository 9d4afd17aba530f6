"""Exact per-column order statistics of a large (N, D) matrix, fused with per-set firing counts.

No full sort of the matrix, and a single pass over it.

`column_order_stats(feat, ranks)` returns, for every column, the values at the given ascending
ranks: exactly what `np.sort(feat, axis=0)[ranks]` gives, at a fraction of the time and memory.
With `with_counts=True` it also returns, per rank and column, how many values lie strictly below
the selected value and how many equal it, whether each column is constant and whether it holds
NaN or inf, so that callers get global firing counts (F ≥ t, F ≤ t) without another pass.

`select_and_count(feat, ranks, groups, keep, tests)` does the same and, in the same single pass
over the data, counts per kept set how many of its rows pass each test `F op t` (op one of >, ≥,
<, ≤, t the selected value of a rank): everything the firing-rate measures need, so the feature
matrix is read once.

Method (sample-select; Floyd & Rivest, "Expected time bounds for selection", CACM 1975): a row
sample gives, per column and rank, a bracket [lo, hi] that contains the wanted value with very
high probability. One streaming pass over chunks of whole sets counts, per set, the values below
each bracket and the values up to its top (the global counts are their sums) and collects the
few values inside the brackets (the candidates) with their column and set. The wanted value is
then read off the candidates, sorted once by (column, value), and a set's count of `F > t` is
its count above the bracket plus its candidates above t (likewise for the other tests). Where a
bracket is a single value (lo == hi, e.g. the zeros of ReLU features), counting alone decides.
Any column whose bracket missed (or whose candidates overflow a budget, e.g. heavy ties) is
resolved by exact partial selection of that column alone and its per-set counts by a second pass
over that column alone, so the result is always exact. Below `_DIRECT_BELOW` rows the values come
from plain partial selection and the pass runs with single-value brackets at those values.

Speed details: chunks hold at most 255 rows (counts of a boolean mask fit in uint8 and are added
with `np.add.reduce(..., dtype=uint8)`, about twice as fast as a sum into int64) and about
512 KB, so a chunk and its masks stay in a core's L2 cache, which makes the comparisons about
twice as fast as on 2 MB blocks; chunks are processed by a thread pool (NumPy releases the GIL in
its loops); for float32 the candidates are sorted as one uint64 key per value (column in the high
bits, the value's order-preserving bit pattern in the low bits) instead of a loop over columns.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

_SAMPLE_ROWS = 8192
_DIRECT_BELOW = 16384  # below this many rows, plain partial selection is as fast
_BLOCK_ELEMENTS = 1 << 20  # ~4 MB of float32 per block for the direct path
_CHUNK_BYTES = 1 << 19  # target size of one scanned chunk (it and its masks stay in L2)
_MAX_CHUNK_ROWS = 255  # rows per scanned chunk: per-set counts fit in uint8
_OPS = ("gt", "ge", "lt", "le")


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


def column_order_stats(
    feat: np.ndarray,
    ranks: list[int],
    *,
    sample_rows: int | None = None,
    force_sample: bool = False,
    with_counts: bool = False,
) -> np.ndarray | tuple[np.ndarray, ColumnCounts]:
    """Values at ascending 0-based `ranks` of every column of `feat` (exact).

    Args:
        feat: (N, D) floats.
        ranks: ranks in [0, N).
        sample_rows: rows in the bracketing sample (default `_SAMPLE_ROWS`).
        force_sample: use the sample-select path even for small N (tests).
        with_counts: also return a `ColumnCounts`.

    Returns:
        (len(ranks), D) array in feat's dtype, and the `ColumnCounts` if asked for. Columns with
        NaN are flagged in `nonfinite`; their values are unspecified.

    """
    values, counts, _ = select_and_count(feat, ranks, sample_rows=sample_rows, force_sample=force_sample)
    return (values, counts) if with_counts else values


def select_and_count(
    feat: np.ndarray,
    ranks: Sequence[int],
    groups=None,
    keep: np.ndarray | None = None,
    tests: Sequence[tuple[int, str]] = (),
    *,
    sample_rows: int | None = None,
    force_sample: bool = False,
) -> tuple[np.ndarray, ColumnCounts, list[np.ndarray]]:
    """Order statistics of every column and, per kept set, firing counts against them (exact).

    Args:
        feat: (N, D) float32 or float64 features.
        ranks: 0-based ranks in [0, N), in any order.
        groups: a `Groups` (rows by set); None when no per-set counts are wanted.
        keep: (S,) which sets to count (default: all).
        tests: (i, op) pairs: count per kept set the rows with `F op values[i]`, op in
            "gt" (>), "ge" (≥), "lt" (<), "le" (≤).
        sample_rows: rows in the bracketing sample (default `_SAMPLE_ROWS`).
        force_sample: use the sample-select path even for small N (tests).

    Returns:
        values (R, D) in feat's dtype, `ColumnCounts`, and per test a (n_kept, D) array of counts
        (kept sets in the order of `np.flatnonzero(keep)`, unsigned dtype wide enough for the
        largest set). Columns with NaN are flagged in `nonfinite`; their values and counts are
        unspecified.

    """
    feat = np.ascontiguousarray(feat)
    n, d = feat.shape
    ranks = [int(r) for r in ranks]
    tests = [(int(i), str(op)) for i, op in tests]
    for i, op in tests:
        if op not in _OPS or not 0 <= i < len(ranks):
            raise ValueError(f"bad test {(i, op)}: op must be one of {_OPS} and i a rank index")
    layout = _Layout.make(n, d, feat.itemsize, groups, keep if tests else None)
    test_ranks = sorted({i for i, _ in tests})
    if n < _DIRECT_BELOW and not force_sample:  # (module constants read at call time: tests patch them)
        exact = direct_order_stats(feat, ranks)
        lo = hi = list(exact)  # single-value brackets at the exact values: counting decides
        sample_info = None
    else:
        m = min(n, sample_rows or _SAMPLE_ROWS)
        sample_idx = np.linspace(0, n - 1, m).round().astype(np.int64)
        brackets = [_bracket(r, n, m) for r in ranks]
        lo = [np.empty(d, dtype=feat.dtype) for _ in ranks]
        hi = [np.empty(d, dtype=feat.dtype) for _ in ranks]

        def bracket_cols(j0: int) -> None:  # one column range: gather, transpose in tiles, sort
            j1 = min(d, j0 + 256)
            rows = feat[sample_idx, j0:j1]
            sample = np.empty((j1 - j0, m), dtype=feat.dtype)
            for i0 in range(0, m, 128):  # (a single strided transpose thrashes the cache)
                sample[:, i0 : i0 + 128] = rows[i0 : i0 + 128].T
            sample.sort(axis=1)  # NumPy's SIMD sort beats a multi-rank partition here
            for i, (b_lo, b_hi) in enumerate(brackets):
                lo[i][j0:j1] = sample[:, b_lo]
                hi[i][j0:j1] = sample[:, b_hi]

        with ThreadPoolExecutor(n_threads()) as ex:
            list(ex.map(bracket_cols, range(0, d, 256)))
        sample_info = m
    scan = _scan(feat, layout, lo, hi, test_ranks)
    R = len(ranks)
    values = np.empty((R, d), dtype=feat.dtype)
    n_lt = np.empty((R, d), dtype=np.int64)
    n_eq = np.empty((R, d), dtype=np.int64)
    missed = np.zeros((R, d), dtype=bool)
    set_counts: list = [None] * len(tests)

    def rank_job(i: int) -> None:  # read off rank i's values, then the per-set counts of its tests
        r = ranks[i]
        budget = 0
        if sample_info is not None:
            m = sample_info
            budget = int(8 * (2 * _bracket_half(r, n, m) / m) * n * (lo[i] != hi[i]).sum()) + 4 * n
        values[i], n_lt[i], n_eq[i], missed[i] = _resolve(feat, r, lo[i], hi[i], scan, i, budget)
        for t, (ti, op) in enumerate(tests):
            if ti == i:
                set_counts[t] = _test_counts(scan, layout, i, op, values[i], lo[i] == hi[i])

    with ThreadPoolExecutor(n_threads()) as ex:
        list(ex.map(rank_job, range(R)))
    fallback = missed[test_ranks].any(axis=0)
    nonfinite = ~np.isfinite(scan.col_sum)
    if nonfinite.any():  # a float32 sum can overflow: check those columns exactly
        idx = np.flatnonzero(nonfinite)
        nonfinite[idx] = ~np.isfinite(feat[:, idx]).all(axis=0)
    constant = (n_eq[0] == n) & ~nonfinite  # every value equals the selected one
    fb = np.flatnonzero(fallback & ~nonfinite)
    if len(fb) and tests:  # columns decided by exact selection: count them in a pass of their own
        sub = np.ascontiguousarray(feat[:, fb])
        sub_layout = _Layout.make(n, len(fb), feat.itemsize, groups, keep)
        sub_vals = [values[i, fb] for i in range(R)]
        sub_scan = _scan(sub, sub_layout, sub_vals, sub_vals, test_ranks)
        for t, (i, op) in enumerate(tests):
            set_counts[t][:, fb] = _test_counts(sub_scan, sub_layout, i, op, sub_vals[i], np.ones(len(fb), dtype=bool))
    return values, ColumnCounts(n_lt, n_eq, constant, nonfinite), set_counts


def _bracket_half(r: int, n: int, m: int) -> float:
    q = (r + 0.5) / n
    return 4.0 * math.sqrt(m * q * (1 - q)) + 2.0  # ±4σ of the sample rank of the wanted value


def _bracket(r: int, n: int, m: int) -> tuple[int, int]:
    """Sample ranks whose values bracket the rank-r value of the full column (with high probability)."""
    pos, half = (r + 0.5) / n * m, _bracket_half(r, n, m)
    return max(0, int(math.floor(pos - half))), min(m - 1, int(math.ceil(pos + half)))


@dataclass
class _Chunk:
    """At most 255 consecutive rows of `order`: whole sets [s0, s1), or a piece of one large set."""

    r0: int
    r1: int
    offsets: np.ndarray  # start of each set within the chunk
    equal: int  # the common set size, 0 if sizes differ
    slots: np.ndarray  # kept-set slot of each set (-1: not kept)
    row_base: np.ndarray | None  # per row: slot·D of its set, < -D if not kept (None: no set kept)
    partial: bool  # a piece of a larger set: its counts are added, not stored


@dataclass
class _Layout:
    """How the pass walks the rows.

    Sets are runs of consecutive rows of `order`; they are cut into chunks, and consecutive
    chunks are grouped into thread-pool jobs.
    """

    order: np.ndarray | None  # row permutation (None: rows as stored)
    slot: np.ndarray  # (S,) position of each set among the kept sets, -1 if not kept
    kept_size: np.ndarray  # (n_kept,) rows of each kept set
    jobs: list[list[_Chunk]]  # consecutive chunks, one thread-pool job each
    all_kept: bool  # every set is kept

    @property
    def n_kept(self) -> int:
        return len(self.kept_size)

    @staticmethod
    def make(n: int, d: int, itemsize: int, groups, keep: np.ndarray | None) -> _Layout:
        chunk_rows = max(1, min(_MAX_CHUNK_ROWS, _CHUNK_BYTES // (itemsize * d)))
        if groups is None:  # no sets: fixed chunks of rows, nothing kept
            set_start = np.r_[np.arange(0, n, chunk_rows), n].astype(np.int64)
            order, kept = None, np.zeros(len(set_start) - 1, dtype=bool)
        else:
            order = None if np.array_equal(groups.order, np.arange(n)) else np.asarray(groups.order)
            set_start = np.asarray(groups.set_start, dtype=np.int64)
            kept = np.ones(len(set_start) - 1, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
        sizes = np.diff(set_start)
        slot = np.where(kept, np.cumsum(kept) - 1, -1)
        chunks = []
        s0, rows = 0, 0
        bounds = []
        for s, m in enumerate(sizes.tolist()):  # greedy: whole sets while they fit in a chunk
            if s > s0 and rows + m > chunk_rows:
                bounds.append((s0, s))
                s0, rows = s, 0
            rows += m
        if len(sizes):
            bounds.append((s0, len(sizes)))
        for s0, s1 in bounds:
            r0, r1 = int(set_start[s0]), int(set_start[s1])
            sl = slot[s0:s1]
            if s1 - s0 == 1 and r1 - r0 > _MAX_CHUNK_ROWS:  # a large set: pieces whose counts are added
                one = np.zeros(1, np.int64)
                for a in range(r0, r1, chunk_rows):
                    b = min(a + chunk_rows, r1)
                    chunks.append(_Chunk(a, b, one, 0, sl, np.full(b - a, sl[0] * d) if sl[0] >= 0 else None, True))
            else:
                sz = sizes[s0:s1]
                equal = int(sz[0]) if (sz == sz[0]).all() else 0
                row_base = np.repeat(np.where(sl >= 0, sl * d, -2 * d - 1), sz) if (sl >= 0).any() else None
                chunks.append(_Chunk(r0, r1, set_start[s0:s1] - r0, equal, sl, row_base, False))
        per_job = max(1, min(16, len(chunks) // (8 * n_threads())))  # few jobs: pool overhead is ~50 µs each
        jobs = [chunks[i : i + per_job] for i in range(0, len(chunks), per_job)]
        return _Layout(order, slot, sizes[kept], jobs, bool(kept.all()))


@dataclass
class _PassResult:
    below: np.ndarray  # (R, D) values < lo
    upto: np.ndarray  # (R, D) values <= hi
    col_sum: np.ndarray  # (D,) float64 column sums (NaN/inf detection)
    cand_vals: list[np.ndarray]  # per rank: values lo <= v <= hi of span columns
    cand_cols: list[np.ndarray]  # their columns
    cand_keys: list[np.ndarray | None]  # slot·D + column of their set (< 0: set not kept), ranks with tests only
    set_below: dict[int, np.ndarray]  # per tested rank: (n_kept, D) values < lo per kept set
    set_upto: dict[int, np.ndarray]  # per tested rank: (n_kept, D) values <= hi per kept set


def _count_dtype(max_size: int):
    return np.uint8 if max_size <= 255 else np.uint16 if max_size <= 65535 else np.int64


def _set_reduce(mask: np.ndarray, offsets: np.ndarray, equal: int) -> np.ndarray:
    """(sets, D) uint8 counts of True per set; a chunk holds ≤ 255 rows so uint8 cannot overflow."""
    u8 = mask.view(np.uint8)
    if len(offsets) == 1:
        return np.add.reduce(u8, axis=0, dtype=np.uint8)[None]
    if equal:
        return np.add.reduce(u8.reshape(len(offsets), equal, -1), axis=1, dtype=np.uint8)
    return np.add.reduceat(u8, offsets, axis=0, dtype=np.uint8)


def _scan(feat: np.ndarray, layout: _Layout, lo: list[np.ndarray], hi: list[np.ndarray], test_ranks: list[int]) -> _PassResult:
    """One pass over chunks of whole sets: counts below and up to each bracket, and candidates.

    Counts are global and, for tested ranks, per kept set; candidates are the values inside the
    brackets, with their column and kept-set slot.
    """
    n, d = feat.shape
    R = len(lo)
    span = [lo_i != hi_i for lo_i, hi_i in zip(lo, hi, strict=True)]
    any_point = [not s.all() for s in span]
    any_span = [bool(s.any()) for s in span]
    need_upto = [any_point[i] or i in test_ranks for i in range(R)]
    cdt = _count_dtype(int(layout.kept_size.max()) if layout.n_kept else 0)
    set_below = {i: np.zeros((layout.n_kept, d), dtype=cdt) for i in test_ranks}
    set_upto = {i: np.zeros((layout.n_kept, d), dtype=cdt) for i in test_ranks}
    accs = []
    lock = threading.Lock()
    local = threading.local()
    order = layout.order

    def acc():
        if not hasattr(local, "acc"):
            local.acc = (np.zeros((R, d), np.int64), np.zeros((R, d), np.int64), np.zeros(d, np.float64))
            with lock:
                accs.append(local.acc)
        return local.acc

    def masks(rows):
        if getattr(local, "rows", 0) < rows:
            local.rows = max(rows, _MAX_CHUNK_ROWS)
            local.ma = np.empty((local.rows, d), dtype=bool)
            local.mb = np.empty((local.rows, d), dtype=bool)
        return local.ma[:rows], local.mb[:rows]

    def job(chunks: list[_Chunk]):
        below_acc, upto_acc, col_sum = acc()
        cands = [[] for _ in range(R)]
        for ch in chunks:
            blk = feat[ch.r0 : ch.r1] if order is None else feat[order[ch.r0 : ch.r1]]
            with np.errstate(over="ignore", invalid="ignore"):  # overflow/inf is checked exactly later
                np.add(col_sum, blk.sum(axis=0), out=col_sum)
            ma, mb = masks(ch.r1 - ch.r0)
            store = bool(test_ranks) and ch.row_base is not None
            for i in range(R):
                np.less(blk, lo[i], out=ma)
                bl = _set_reduce(ma, ch.offsets, ch.equal)
                below_acc[i] += bl[0] if len(bl) == 1 else bl.sum(axis=0, dtype=np.int64)
                if need_upto[i]:
                    np.less_equal(blk, hi[i], out=mb)
                    up = _set_reduce(mb, ch.offsets, ch.equal)
                    upto_acc[i] += up[0] if len(up) == 1 else up.sum(axis=0, dtype=np.int64)
                    if store and i in set_below:
                        if ch.partial:  # other chunks (maybe in other jobs) count other rows of this set
                            with lock:
                                set_below[i][ch.slots[0]] += bl[0]
                                set_upto[i][ch.slots[0]] += up[0]
                        else:
                            kept = ch.slots >= 0
                            set_below[i][ch.slots[kept]] = bl[kept]
                            set_upto[i][ch.slots[kept]] = up[kept]
                elif any_span[i]:
                    np.less_equal(blk, hi[i], out=mb)
                if any_span[i]:
                    np.greater(mb, ma, out=mb)  # lo <= v <= hi
                    if any_point[i]:
                        mb &= span[i]  # single-value brackets are decided by counting
                    flat = _flat_true(mb)
                    cols = flat % d
                    key = None
                    if i in set_below:
                        key = ch.row_base[flat // d] + cols if ch.row_base is not None else np.full(len(flat), -1, dtype=np.int64)
                    cands[i].append((blk.reshape(-1)[flat], cols, key))
        return cands

    with ThreadPoolExecutor(n_threads()) as ex:
        parts = list(ex.map(job, layout.jobs))
    below = np.sum([a[0] for a in accs], axis=0)
    upto = np.sum([a[1] for a in accs], axis=0)
    col_sum = np.sum([a[2] for a in accs], axis=0)
    cand_vals, cand_cols, cand_keys = [], [], []
    for i in range(R):
        pieces = [c for p in parts for c in p[i]]
        if pieces:
            cand_vals.append(np.concatenate([c[0] for c in pieces]))
            cand_cols.append(np.concatenate([c[1] for c in pieces]))
            cand_keys.append(np.concatenate([c[2] for c in pieces]) if i in test_ranks else None)
        else:
            cand_vals.append(np.empty(0, feat.dtype))
            cand_cols.append(np.empty(0, np.int64))
            cand_keys.append(np.empty(0, np.int64) if i in test_ranks else None)
    return _PassResult(below, upto, col_sum, cand_vals, cand_cols, cand_keys, set_below, set_upto)


def _flat_true(mask: np.ndarray) -> np.ndarray:
    """`np.flatnonzero` of a sparse C-contiguous boolean mask, faster.

    NumPy's nonzero spends ~1 ns per element; look for non-zero 8-byte words first and expand
    only those.
    """
    flat = mask.reshape(-1)
    n8 = len(flat) // 8 * 8
    words = flat[:n8].view(np.uint64)
    w = np.flatnonzero(words != 0)
    f = np.flatnonzero(words[w].view(np.bool_))
    out = (w[f >> 3] << 3) | (f & 7)
    if n8 < len(flat):
        out = np.concatenate([out, n8 + np.flatnonzero(flat[n8:])])
    return out


def _compare(a: np.ndarray, b: np.ndarray, op: str) -> np.ndarray:
    if op == "gt":
        return a > b
    if op == "ge":
        return a >= b
    if op == "lt":
        return a < b
    return a <= b


def _test_counts(scan: _PassResult, layout: _Layout, i: int, op: str, value: np.ndarray, point: np.ndarray) -> np.ndarray:
    """(n_kept, D) per kept set: rows with `F op value`.

    From the per-set bracket counts plus the set's candidates (for single-value brackets the
    counts alone decide).
    """
    below, upto = scan.set_below[i], scan.set_upto[i]
    n_kept, d = below.shape
    out = np.empty((n_kept, d), dtype=below.dtype)
    vals, cols, keys = scan.cand_vals[i], scan.cand_cols[i], scan.cand_keys[i]
    fired_keys = None
    if len(vals):
        fired = _compare(vals, value[cols], op)
        if not layout.all_kept:
            fired &= keys >= 0
        fired_keys = keys[fired]  # slot·D + column; the slots are non-decreasing (jobs walk the sets in order)
    step = max(1, (1 << 20) // max(d, 1))
    size = layout.kept_size[:, None]
    for a in range(0, n_kept, step):
        b = min(n_kept, a + step)
        if op == "gt":  # above the bracket, then candidates above t
            base = size[a:b] - upto[a:b]
        elif op == "ge":  # (a single-value bracket: everything not below it)
            base = size[a:b] - np.where(point, below[a:b], upto[a:b])
        elif op == "lt":
            base = below[a:b].astype(np.int64)
        else:  # le
            base = np.where(point, upto[a:b], below[a:b]).astype(np.int64)
        if fired_keys is not None:
            ka, kb = np.searchsorted(fired_keys, [a * d, b * d])
            if kb > ka:
                base += np.bincount(fired_keys[ka:kb] - a * d, minlength=(b - a) * d).reshape(b - a, d)
        out[a:b] = base
    return out


def _sortable_bits(vals: np.ndarray) -> np.ndarray:
    """uint32 holding float32 values' order-preserving bit patterns (-0.0 taken as +0.0)."""
    bits = (vals + np.float32(0)).view(np.uint32)  # -0.0 + 0.0 = +0.0
    # negative: flip every bit (reverses their order, below the positives); positive: set the sign bit
    flip = (np.uint32(0) - (bits >> np.uint32(31))) | np.uint32(0x80000000)
    return bits ^ flip


def _resolve(feat: np.ndarray, r: int, lo: np.ndarray, hi: np.ndarray, scan: _PassResult, i: int, budget: int):
    """Rank-r value of every column, values below it, values equal to it, and the fallbacks.

    The last output marks the columns that needed the exact per-column selection.
    """
    n, d = feat.shape
    below, upto = scan.below[i], scan.upto[i]
    cand_vals, cand_cols = scan.cand_vals[i], scan.cand_cols[i]
    value = np.empty(d, dtype=feat.dtype)
    n_lt = np.zeros(d, dtype=np.int64)
    n_eq = np.zeros(d, dtype=np.int64)
    resolved = np.zeros(d, dtype=bool)
    point = lo == hi
    if point.any():  # the wanted rank falls inside the run of values equal to lo
        equal = upto - below
        ok = point & (below <= r) & (r < below + equal)
        value[ok], n_lt[ok], n_eq[ok] = lo[ok], below[ok], equal[ok]
        resolved |= ok
    span = ~point
    if span.any() and len(cand_vals) <= budget:
        counts = np.bincount(cand_cols, minlength=d)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rr = r - below
        ok = span & (rr >= 0) & (rr < counts)
        idx = np.flatnonzero(ok)
        if feat.dtype == np.float32:
            keys = (cand_cols.astype(np.uint64) << np.uint64(32)) | _sortable_bits(cand_vals)
            keys.sort()
            chosen = keys[starts[idx] + rr[idx]]
            value[idx] = _from_bits(chosen & np.uint64(0xFFFFFFFF))
            left = np.searchsorted(keys, chosen, side="left")
            right = np.searchsorted(keys, chosen, side="right")
            n_lt[idx] = below[idx] + left - starts[idx]
            n_eq[idx] = right - left
        else:  # float64: no room for the column in the key; group by column, select per column
            order = np.argsort(cand_cols, kind="stable")
            vals = cand_vals[order]
            for j in idx:
                seg = vals[starts[j] : starts[j] + counts[j]]
                v = np.partition(seg, rr[j])[rr[j]]
                value[j], n_lt[j], n_eq[j] = v, below[j] + (seg < v).sum(), (seg == v).sum()
        resolved[idx] = True
    missed = ~resolved
    for j in np.flatnonzero(missed):  # exact fallback for columns whose bracket missed
        col = np.ascontiguousarray(feat[:, j])
        v = np.partition(col, r)[r]
        value[j], n_lt[j], n_eq[j] = v, (col < v).sum(), (col == v).sum()
    return value, n_lt, n_eq, missed


def _from_bits(bits: np.ndarray) -> np.ndarray:
    """Inverse of `_sortable_bits` (low 32 bits) back to float32."""
    bits = bits.astype(np.uint32)
    pos = bits >= 0x80000000
    out = np.where(pos, bits - np.uint32(0x80000000), np.uint32(0xFFFFFFFF) - bits).astype(np.uint32)
    return out.view(np.float32)
