"""Strict mode: each fixed quirk, constructed ground truth, and bootstrap intervals."""

import numpy as np
import pytest

from invariance_lab.errors import MetricInputError
from invariance_lab.metrics import paper_invariance, strict_invariance


def test_single_class_probe_is_not_trivially_100():
    rng = np.random.default_rng(0)
    inst = np.repeat(np.arange(200), 8)
    feat = rng.normal(size=(1600, 40))  # nothing invariant
    one_class = np.zeros(1600, dtype=int)
    assert paper_invariance(feat, inst, one_class).topk[10] == pytest.approx(100.0)
    res = strict_invariance(feat, inst, one_class, n_boot=0)
    chance = 5 / (1 - 0.95**8)  # ≈ 14.9 for independent units in sets of 8
    assert res.topk[25] < 2 * chance
    # and it does not depend on how many classes the same sets are split into
    res20 = strict_invariance(feat, inst, inst % 20, n_boot=0)
    assert res20.global_firing.mean() == pytest.approx(res.global_firing.mean())


def test_independent_units_follow_algebra_both_signs():
    # strict units are (neuron, sign) with F ≥ t⁺ / F ≤ t⁻: set-independent units give
    # L/G = 1/(1 - (1 - G)^m), i.e. 100 q/(1-(1-q)^m) on the printed scale.
    rng = np.random.default_rng(4)
    n_sets, m = 3000, 12
    inst = np.repeat(np.arange(n_sets), m)
    feat = rng.normal(size=(n_sets * m, 30))
    res = strict_invariance(feat, inst, inst % 10, n_boot=0)
    q = 0.05
    expected = 1 / (1 - (1 - q) ** m)
    assert np.nanmean(res.unit_scores) == pytest.approx(expected, rel=0.02)
    assert np.allclose(res.global_firing, q, atol=1e-4)
    assert res.counts["n_units_excluded"] == 0


def test_set_constant_units_score_100():
    rng = np.random.default_rng(5)
    n_sets, m = 1000, 6
    inst = np.repeat(np.arange(n_sets), m)
    feat = rng.normal(size=(n_sets, 30))[inst]
    res = strict_invariance(feat, inst, inst % 20, n_boot=0)
    assert res.topk[10] == pytest.approx(100.0, abs=1e-6)
    assert res.topk[25] == pytest.approx(100.0, abs=1e-6)


def test_tied_relu_units_are_excluded_and_counted():
    rng = np.random.default_rng(1)
    inst = np.repeat(np.arange(300), 6)
    feat = rng.normal(size=(1800, 20))
    feat[:, :8] = np.maximum(feat[:, :8] - 1.0, 0)  # ~84 % zeros: the lower tail is all ties
    feat[:, 8] = 3.0  # constant neuron: both signs tied
    res = strict_invariance(feat, inst, inst % 10, ks=(5,), n_boot=0)
    # lower units of the 8 ReLU neurons and both units of the constant one
    assert res.counts["n_units_excluded"] == 8 + 2
    assert res.counts["n_constant_neurons"] == 1
    excluded = np.isnan(res.unit_scores).all(axis=0)
    assert excluded[20 + np.arange(8)].all() and excluded[[8, 28]].all()
    assert not excluded[:8].any()  # the upper tails of the ReLU neurons are fine


def test_all_units_tied_is_an_error():
    inst = np.repeat(np.arange(50), 4)
    feat = np.zeros((200, 10))
    feat[::3] = 1.0  # two values only: every threshold tie covers far more than 5 %
    with pytest.raises(MetricInputError, match="tied"):
        strict_invariance(feat, inst)


def test_min_set_size_is_applied_and_reported():
    rng = np.random.default_rng(2)
    inst = np.r_[np.repeat(np.arange(100), 6), np.repeat(np.arange(100, 130), 3)]
    feat = rng.normal(size=(len(inst), 30))
    res = strict_invariance(feat, inst, ks=(5,), n_boot=0, min_set_size=4)
    assert res.counts["n_sets_skipped"] == 30 and res.counts["n_sets_used"] == 100
    assert res.counts["n_classes_used"] == 100  # each skipped set was its own class: dropped, counted
    with pytest.raises(MetricInputError, match="min_set_size"):
        strict_invariance(feat, inst, n_boot=0, min_set_size=7)


def _mixed_features(rng, n_sets, m, n_classes, D=40, signal=1.0):
    inst = np.repeat(np.arange(n_sets), m)
    feat = signal * rng.normal(size=(n_sets, D))[inst] + rng.normal(size=(n_sets * m, D))
    return feat, inst, inst % n_classes


def test_bootstrap_ci_contains_estimate_and_shrinks():
    widths = []
    for n_sets in (100, 1600):
        rng = np.random.default_rng(10)
        feat, inst, cls = _mixed_features(rng, n_sets, 8, 5)
        res = strict_invariance(feat, inst, cls, n_boot=200, seed=3)
        for k in (10, 25):
            lo, hi = res.ci[k]
            assert lo <= res.topk[k] <= hi, (n_sets, k, lo, res.topk[k], hi)
        widths.append(res.ci[10][1] - res.ci[10][0])
    assert widths[1] < widths[0] / 2  # ~1/sqrt(16) in theory


def test_bootstrap_is_seeded_and_one_set_per_class_works():
    rng = np.random.default_rng(3)
    feat, inst, _ = _mixed_features(rng, 300, 10, 1)
    a = strict_invariance(feat, inst, n_boot=100, seed=1)  # ALOI-like: class = set
    b = strict_invariance(feat, inst, n_boot=100, seed=1)
    c = strict_invariance(feat, inst, n_boot=100, seed=2)
    assert a.ci == b.ci and a.ci != c.ci
    lo, hi = a.ci[10]
    assert lo <= a.topk[10] <= hi


def test_invariant_features_score_higher_than_noise():
    rng = np.random.default_rng(8)
    inv, inst, cls = _mixed_features(rng, 400, 8, 8, signal=3.0)
    noise = rng.normal(size=inv.shape)
    a = strict_invariance(inv, inst, cls, n_boot=100)
    b = strict_invariance(noise, inst, cls, n_boot=100)
    assert a.ci[25][0] > b.ci[25][1]


def test_bad_parameters():
    feat = np.random.default_rng(0).normal(size=(40, 30))
    inst = np.repeat(np.arange(10), 4)
    with pytest.raises(MetricInputError, match="firing_rate"):
        strict_invariance(feat, inst, firing_rate=0.7)
    with pytest.raises(MetricInputError, match="min_set_size"):
        strict_invariance(feat, inst, min_set_size=1)


def test_k_beyond_firing_units_is_nan_not_fatal():
    rng = np.random.default_rng(6)
    inst = np.repeat(np.arange(40), 6)
    feat = rng.normal(size=(240, 16))  # 32 units; in a set of 6 only ~8 fire
    res = strict_invariance(feat, inst, ks=(3, 25), n_boot=0)
    assert np.isfinite(res.topk[3]) and np.isnan(res.topk[25])
    assert res.counts["n_classes_short_top25"] == 40
    with pytest.raises(MetricInputError, match="smaller K"):
        strict_invariance(feat, inst, ks=(30,), n_boot=0)
