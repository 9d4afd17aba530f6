"""Exact selection fused with per-set counts (`_select.select_and_count`) against brute force.

The brute force sorts every column in full and counts each set's rows with a Python loop over
the set labels (not through the `Groups` layout the fast path walks), so a wrong bracket, a lost
candidate, a mis-assigned set or a wrong fallback shows up as a mismatch.
"""

import numpy as np
import pytest

from invariance_lab.metrics import _select, paper_invariance, strict_invariance
from invariance_lab.metrics._groups import make_groups
from invariance_lab.metrics._select import _flat_true, select_and_count

from .paper_reference import reference_paper_scores

OPS = {"gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal}
TESTS = [(0, "gt"), (1, "lt"), (0, "ge"), (1, "le"), (2, "gt"), (2, "le")]


def _brute(feat, set_ids, min_size, ranks, tests):
    values = np.sort(feat, axis=0)[ranks]
    n_lt = (feat[None] < values[:, None]).sum(axis=1)
    n_eq = (feat[None] == values[:, None]).sum(axis=1)
    groups = make_groups(set_ids, None, len(feat))
    kept = [s for s in range(groups.n_sets) if groups.set_size[s] >= min_size]
    counts = []
    for i, op in tests:
        c = np.zeros((len(kept), feat.shape[1]), dtype=np.int64)
        for a, s in enumerate(kept):
            rows = np.flatnonzero(set_ids == groups.set_labels[s])
            c[a] = OPS[op](feat[rows], values[i]).sum(axis=0)
        counts.append(c)
    return values, n_lt, n_eq, counts, groups, groups.set_size >= min_size


def _check(feat, set_ids, ranks, tests=TESTS, min_size=3, **kw):
    want_v, want_lt, want_eq, want_c, groups, keep = _brute(feat, set_ids, min_size, ranks, tests)
    got_v, cc, got_c = select_and_count(feat, ranks, groups, keep, tests, **kw)
    ok = ~cc.nonfinite
    assert np.array_equal(got_v[:, ok], want_v[:, ok])
    assert np.array_equal(cc.n_lt[:, ok], want_lt[:, ok]) and np.array_equal(cc.n_eq[:, ok], want_eq[:, ok])
    for g, w in zip(got_c, want_c, strict=True):
        assert g.shape == w.shape and np.array_equal(g[:, ok].astype(np.int64), w[:, ok])
    return cc


def _sets(rng, n_sets, lo, hi):
    sizes = rng.integers(lo, hi + 1, size=n_sets)
    return np.repeat(np.arange(n_sets), sizes)


@pytest.mark.parametrize("kind", ["normal", "relu", "quantised"])
@pytest.mark.parametrize("layout", ["contiguous", "shuffled"])
def test_sample_path_matches_brute_force(kind, layout):
    rng = np.random.default_rng(len(kind) * 7 + len(layout))
    inst = _sets(rng, 300, 1, 30)  # uneven sets, some below the minimum size
    if layout == "shuffled":  # rows of a set scattered: the pass gathers them
        inst = inst[rng.permutation(len(inst))]
    n = len(inst)
    f = rng.standard_normal((n, 37)).astype(np.float32) + rng.standard_normal((300, 37)).astype(np.float32)[inst]
    if kind == "relu":
        f = np.maximum(f - 0.5, 0)  # tied lower tail: single-value brackets
    elif kind == "quantised":
        f = np.round(f, 1)  # ties everywhere, brackets with runs of equal values
    ranks = [int(n * 0.95), n - 1 - int(n * 0.95), n // 2]
    _check(f, inst, ranks, force_sample=True, sample_rows=1200)


def test_direct_path_and_float64_match_brute_force():
    rng = np.random.default_rng(3)
    inst = _sets(rng, 80, 2, 9)
    n = len(inst)
    f = np.maximum(rng.standard_normal((n, 23)) - 0.3, 0)  # float64, ReLU ties
    ranks = [int(n * 0.9), n - 1 - int(n * 0.9), 0]
    _check(f, inst, ranks)  # N < _DIRECT_BELOW: plain partial selection
    _check(f, inst, ranks, force_sample=True, sample_rows=150)  # float64 candidates: per-column selection


def test_sets_larger_than_a_chunk_and_uint16_counts():
    # sets over 255 rows are split into chunks whose counts are summed, a very large one into
    # several thread-pool jobs (the last with a single chunk); counts need uint16
    rng = np.random.default_rng(4)
    inst = np.repeat(np.arange(7), [700, 255, 256, 3, 1, 8260, 40])
    f = rng.standard_normal((len(inst), 9)).astype(np.float32)
    n = len(inst)
    _check(f, inst, [int(n * 0.95), 10, n // 3], force_sample=True, sample_rows=400)
    _, _, counts = select_and_count(f, [10], make_groups(inst, None, n), None, [(0, "ge")])
    assert counts[0].dtype == np.uint16


def test_bracket_miss_falls_back_to_exact_selection(monkeypatch):
    # make the systematic sample unrepresentative in two columns: one gets a single-value
    # bracket far below the wanted rank, the other a span above every other value
    rng = np.random.default_rng(5)
    inst = _sets(rng, 200, 3, 12)
    n, m = len(inst), 300
    f = rng.standard_normal((n, 8)).astype(np.float32)
    sample_idx = np.linspace(0, n - 1, m).round().astype(np.int64)
    f[sample_idx, 2] = -100.0
    f[sample_idx, 5] = 100.0 + np.arange(m, dtype=np.float32)
    missed = []
    real = _select._resolve

    def spy(*a, **k):
        out = real(*a, **k)
        missed.append(out[3].copy())
        return out

    monkeypatch.setattr(_select, "_resolve", spy)
    _check(f, inst, [int(n * 0.95), n - 1 - int(n * 0.95), n // 2], force_sample=True, sample_rows=m)
    hit = np.any(missed, axis=0)
    assert hit[2] and hit[5]  # the fallback really ran for those columns
    assert not hit[[0, 1, 3, 4, 6, 7]].all()


def test_constant_and_nonfinite_columns():
    rng = np.random.default_rng(6)
    inst = _sets(rng, 150, 3, 10)
    n = len(inst)
    f = rng.standard_normal((n, 10)).astype(np.float32)
    f[:, 1] = 2.5  # constant
    f[:, 4] = 0.0  # constant zero
    f[7, 6] = np.nan
    f[9, 8] = np.inf
    f[11, 9] = -np.inf
    for kw in ({}, {"force_sample": True, "sample_rows": 500}):
        cc = _check(f, inst, [int(n * 0.95), n - 1 - int(n * 0.95), n // 2], **kw)
        assert np.flatnonzero(cc.constant).tolist() == [1, 4]
        assert np.flatnonzero(cc.nonfinite).tolist() == [6, 8, 9]


def test_overflowing_float32_sum_is_not_flagged_nonfinite():
    # huge finite values overflow a float32 column sum; the exact re-check must clear them
    inst = np.repeat(np.arange(20), 5)
    f = np.full((100, 3), 3e38, dtype=np.float32)
    f[:, 1] = np.arange(100)
    f[::2, 2] = -3e38
    _, cc, _ = select_and_count(f, [50], make_groups(inst, None, 100), None, [])
    assert not cc.nonfinite.any()


@pytest.mark.parametrize("n", [1, 2, 5])
def test_tiny_inputs(n):
    rng = np.random.default_rng(n)
    f = rng.standard_normal((n, 4)).astype(np.float32)
    inst = np.zeros(n, dtype=int)
    ranks = [n - 1, 0, n // 2]
    _check(f, inst, ranks, min_size=1)
    _check(f, inst, ranks, min_size=1, force_sample=True)


def test_flat_true_equals_flatnonzero():
    rng = np.random.default_rng(7)
    for shape in [(72, 2048), (3, 7), (1, 1), (5, 13), (0, 4), (255, 33)]:
        for p in (0.0, 0.02, 0.5, 1.0):
            mask = rng.random(shape) < p
            assert np.array_equal(_flat_true(mask), np.flatnonzero(mask))


@pytest.mark.parametrize("seed", [0, 1])
def test_paper_mode_on_sample_path_matches_reference(monkeypatch, seed):
    # the end-to-end paper score with the sample-select path forced on small data
    monkeypatch.setattr(_select, "_DIRECT_BELOW", 0)
    monkeypatch.setattr(_select, "_SAMPLE_ROWS", 400)
    rng = np.random.default_rng(20 + seed)
    sizes = rng.integers(1, 14, size=150)
    inst = np.repeat(np.arange(150), sizes)
    cls = rng.integers(0, 6, size=150)[inst]
    perm = rng.permutation(len(inst))
    inst, cls = inst[perm], cls[perm]
    feat = np.maximum(rng.normal(size=(len(inst), 40)) + rng.normal(size=(150, 40))[inst] - 0.8, 0).astype(np.float32)
    got = paper_invariance(feat, inst, cls, n_boot=50)
    want = reference_paper_scores(feat, inst, cls)
    for k in (10, 25):
        assert abs(got.topk[k] - want[k]) <= 1e-6
    # and the same per-set firing counts as the direct path (bootstrap intervals agree exactly)
    monkeypatch.setattr(_select, "_DIRECT_BELOW", 10**9)
    direct = paper_invariance(feat, inst, cls, n_boot=50)
    assert got.ci == direct.ci and np.array_equal(got.unit_scores, direct.unit_scores)


def test_strict_mode_same_on_both_paths(monkeypatch):
    rng = np.random.default_rng(8)
    inst = np.repeat(np.arange(400), 7)
    feat = (rng.normal(size=(2800, 30)) + rng.normal(size=(400, 30))[inst]).astype(np.float32)
    feat[:, :5] = np.maximum(feat[:, :5], 0)
    direct = strict_invariance(feat, inst, inst % 10, n_boot=0)
    monkeypatch.setattr(_select, "_DIRECT_BELOW", 0)
    monkeypatch.setattr(_select, "_SAMPLE_ROWS", 500)
    sampled = strict_invariance(feat, inst, inst % 10, n_boot=0)
    assert np.array_equal(direct.unit_scores, sampled.unit_scores, equal_nan=True)
    assert direct.topk == sampled.topk and direct.counts == sampled.counts
