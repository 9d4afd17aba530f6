"""Paper-compatible mode against the independent slow implementation and constructed cases."""

import numpy as np
import pytest

from invariance_lab.errors import MetricInputError
from invariance_lab.metrics import paper_invariance

from .paper_reference import reference_paper_scores


def _labels(rng, n_sets, n_classes, min_size=1, max_size=9):
    sizes = rng.integers(min_size, max_size + 1, size=n_sets)
    inst = np.repeat(np.arange(n_sets), sizes)
    cls_of_set = rng.integers(0, n_classes, size=n_sets)
    return inst, cls_of_set[inst]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("n_classes", [1, 2, 7, 40])
def test_matches_reference_random(seed, n_classes):
    rng = np.random.default_rng(seed)
    inst, cls = _labels(rng, 60, n_classes)
    perm = rng.permutation(len(inst))  # rows of a set need not be contiguous
    inst, cls = inst[perm], cls[perm]
    feat = rng.normal(size=(len(inst), 48))
    got = paper_invariance(feat, inst, cls)
    want = reference_paper_scores(feat, inst, cls)
    for k in (10, 25):
        assert abs(got.topk[k] - want[k]) <= 1e-6, (k, got.topk[k], want[k])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_relu_ties_uneven_sets(seed):
    rng = np.random.default_rng(100 + seed)
    inst, cls = _labels(rng, 80, 5, min_size=1, max_size=15)  # many sets below 3
    feat = np.maximum(rng.normal(size=(len(inst), 40)) - 0.8, 0)  # ~80 % exact zeros: tied thresholds
    feat[:, :3] = np.round(feat[:, :3], 1)  # coarse quantisation: ties above zero too
    got = paper_invariance(feat.astype(np.float32), inst, cls)
    want = reference_paper_scores(feat.astype(np.float32), inst, cls)
    for k in (10, 25):
        assert abs(got.topk[k] - want[k]) <= 1e-6


def test_matches_reference_string_labels_and_no_classes():
    rng = np.random.default_rng(7)
    inst = np.array([f"video_{i // 6:03d}" for i in range(300)])
    feat = rng.gamma(2.0, size=(300, 30))
    got = paper_invariance(feat, list(inst))
    want = reference_paper_scores(feat, inst)
    assert abs(got.topk[10] - want[10]) <= 1e-6 and abs(got.topk[25] - want[25]) <= 1e-6


def test_class_with_only_small_sets_counts_as_zero():
    # quirk kept: a class whose sets are all skipped still enters the mean with score 0
    rng = np.random.default_rng(3)
    inst = np.r_[np.repeat(np.arange(20), 5), [100, 100]]
    cls = np.r_[np.repeat(np.arange(20) % 2, 5), [9, 9]]
    feat = rng.normal(size=(len(inst), 30))
    got = paper_invariance(feat, inst, cls)
    want = reference_paper_scores(feat, inst, cls)
    assert abs(got.topk[10] - want[10]) <= 1e-6
    assert got.counts["n_sets_skipped"] == 1


def test_single_class_is_trivially_100():
    # documented quirk: p = 0 → every neuron fires everywhere → 100
    rng = np.random.default_rng(0)
    inst = np.repeat(np.arange(10), 6)
    feat = rng.normal(size=(60, 30))
    res = paper_invariance(feat, inst, np.zeros(60, dtype=int))
    assert res.topk[10] == pytest.approx(100.0)


def test_constant_within_set_reaches_maximum():
    # neurons constant within each set (independent values across sets and neurons): wherever a
    # neuron fires in a set it fires on the whole set, so L = 1 → 100 on the paper's scale
    n_sets, m = 1000, 8
    inst = np.repeat(np.arange(n_sets), m)
    cls = inst % 20  # 20 classes of 50 sets → p = 95, G = 5 %
    rng = np.random.default_rng(0)
    feat = rng.normal(size=(n_sets, 60))[inst]
    res = paper_invariance(feat, inst, cls)
    want = reference_paper_scores(feat, inst, cls)
    assert res.topk[10] == pytest.approx(100.0, abs=1e-9)
    assert res.topk[25] == pytest.approx(100.0, abs=1e-9)
    assert want[10] == pytest.approx(100.0, abs=1e-9)


def test_independent_relu_neurons_follow_algebra():
    # ReLU features with > 5 % zeros: t⁻ = 0 and F < 0 never happens, so only the upper sign
    # fires and L/G = 1/(1 - (1 - G)^m) for set-independent neurons.
    rng = np.random.default_rng(1)
    n_sets, m, D = 4000, 10, 40
    inst = np.repeat(np.arange(n_sets), m)
    cls = inst % 20  # 20 classes → p = 95, G = 5 %
    feat = np.maximum(rng.normal(size=(n_sets * m, D)), 0)
    res = paper_invariance(feat, inst, cls, ks=(1, 10))
    G = 0.05
    expected = 1 / (1 - (1 - G) ** m) * (100 * G)
    mean_all = float(np.mean(res.unit_scores)) * res.scale
    assert mean_all == pytest.approx(expected, rel=0.02)
    assert np.allclose(res.global_firing, G, atol=1e-3)


def test_mixture_lands_where_algebra_says():
    # half the neurons are set-constant (score 100), half independent (score ≈ 5.1):
    # top-10 of 20 picks the invariant ones, the curve drops at k = 10.
    rng = np.random.default_rng(2)
    n_sets, m = 2000, 10  # 100 sets per class, so every invariant neuron fires somewhere in each class
    inst = np.repeat(np.arange(n_sets), m)
    inv = rng.normal(size=(n_sets, 10))[inst]
    noise = np.maximum(rng.normal(size=(n_sets * m, 10)), 0)
    feat = np.concatenate([inv, noise], axis=1)
    res = paper_invariance(feat, inst, inst % 20, ks=(10, 20))
    assert res.topk[10] == pytest.approx(100.0, abs=1e-6)
    indep = 1 / (1 - 0.95**m) * 5
    assert res.topk[20] == pytest.approx((100 + indep) / 2, rel=0.03)
    assert res.curve[9] > 90 and res.curve[10] < 15


def test_float64_and_float32_inputs_agree_with_reference():
    rng = np.random.default_rng(11)
    inst, cls = _labels(rng, 50, 4, min_size=3)
    feat32 = rng.normal(size=(len(inst), 32)).astype(np.float32)
    a = paper_invariance(feat32, inst, cls).topk
    b = paper_invariance(feat32.astype(np.float64), inst, cls).topk
    assert a == b


def test_errors():
    rng = np.random.default_rng(0)
    inst = np.repeat(np.arange(10), 4)
    feat = rng.normal(size=(40, 30))
    bad = feat.copy()
    bad[3, 7] = np.nan
    bad[5, 12] = np.inf
    with pytest.raises(MetricInputError, match=r"\[7, 12\]"):
        paper_invariance(bad, inst)
    with pytest.raises(MetricInputError, match="constant"):
        paper_invariance(np.ones((40, 30)), inst)
    with pytest.raises(MetricInputError, match="3 or more"):
        paper_invariance(feat, np.repeat(np.arange(20), 2))
    with pytest.raises(MetricInputError, match="exceeds"):
        paper_invariance(feat[:, :5], inst)
    with pytest.raises(MetricInputError, match="length 40"):
        paper_invariance(feat, inst[:-1])


def test_bootstrap_in_paper_mode_brackets_estimate():
    rng = np.random.default_rng(5)
    inst, cls = _labels(rng, 120, 6, min_size=4)
    feat = rng.normal(size=(len(inst), 40)) + rng.normal(size=(120, 40))[inst]
    res = paper_invariance(feat, inst, cls, n_boot=200)
    for k in (10, 25):
        lo, hi = res.ci[k]
        assert lo <= res.topk[k] <= hi and hi > lo


@pytest.mark.parametrize("kind", ["normal", "relu", "quantised"])
def test_sample_select_equals_full_sort(kind):
    from invariance_lab.metrics._select import column_order_stats

    rng = np.random.default_rng(9)
    f = rng.standard_normal((20000, 24)).astype(np.float32)
    if kind == "relu":
        f = np.maximum(f - 0.5, 0)
    elif kind == "quantised":
        f = np.round(f, 1)
    n = len(f)
    ranks = [int(n * 0.95), n - 1 - int(n * 0.95), 0, n - 1, 1000]
    got = column_order_stats(f, ranks, force_sample=True, sample_rows=1500)
    assert np.array_equal(got, np.sort(f, axis=0)[ranks])
