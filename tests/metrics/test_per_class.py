"""Per-class aggregates: each class's top-K mean, in both modes, kept in the result and its summary."""

import numpy as np

from invariance_lab.metrics import paper_invariance, strict_invariance

from .paper_reference import reference_paper_scores


def _two_classes(rng, n_sets=24, size=8, d=40):
    """Class "inv": every neuron constant within each set; class "noise": neurons independent of the set."""
    inst = np.repeat(np.arange(n_sets), size)
    cls = np.where(inst < n_sets // 2, "inv", "noise")
    feat = rng.normal(size=(len(inst), d))
    inv = inst < n_sets // 2
    feat[inv] = rng.normal(size=(n_sets, d))[inst[inv]]
    return feat, inst, cls


def test_paper_per_class_matches_reference():
    rng = np.random.default_rng(3)
    feat, inst, cls = _two_classes(rng)
    res = paper_invariance(feat, inst, cls)
    want, want_cls = reference_paper_scores(feat, inst, cls, per_class=True)
    assert list(res.class_labels) == ["inv", "noise"]
    for k in (10, 25):
        assert np.allclose(res.topk_per_class[k], want_cls[k], rtol=0, atol=1e-6)
        assert abs(np.mean(res.topk_per_class[k]) - res.topk[k]) <= 1e-9
    # set-constant neurons reach the maximum (L = 1: 100 on the paper's scale); independent ones do not
    assert abs(res.topk_per_class[10][0] - 100) < 1e-9 and res.topk_per_class[10][1] < 90
    summary = res.summary()["per_class"]
    assert summary["inv"]["top10"] == res.topk_per_class[10][0] and set(summary) == {"inv", "noise"}


def test_strict_per_class_reaches_the_maximum_where_constructed_and_marks_empty_classes():
    rng = np.random.default_rng(4)
    feat, inst, cls = _two_classes(rng)
    cls = cls.copy()
    extra = np.array([999, 999])  # a class whose only set is too small: skipped, no score
    feat = np.vstack([feat, rng.normal(size=(2, feat.shape[1]))])
    inst, cls = np.r_[inst, extra], np.r_[cls, ["tiny", "tiny"]]
    res = strict_invariance(feat, inst, cls, n_boot=0)
    per = dict(zip(res.class_labels, res.topk_per_class[10], strict=True))
    # a set-constant unit fires on all of a set or none of it: L = 1, score = 1/G on the 100·q scale
    # ≈ 100 (G is exactly q up to rounding of q·N)
    assert per["inv"] > 90 and per["noise"] < 0.5 * per["inv"]
    assert np.isnan(per["tiny"]) and res.summary()["per_class"]["tiny"]["top10"] is None
    assert abs(np.nanmean(res.topk_per_class[10]) - res.topk[10]) <= 1e-9
