"""A plainly written, slow implementation of the paper-compatible measure (DESIGN.md §4).

Written from the definition, independently of `invariance_lab.metrics`: full sorts, float64,
a Python loop over sets. It is the ground truth for the fast implementation and the baseline of
`benchmarks/score_speed.py` (which measures the released script's way of doing it).
"""

import numpy as np


def reference_paper_scores(feat, instance, classes=None, ks=(10, 25), per_class=False):
    """{K: score}; with `per_class`, also {K: [score of each class, classes sorted]} on the same scale."""
    feat = np.asarray(feat, dtype=np.float64)
    instance = np.asarray(instance)
    classes = instance if classes is None else np.asarray(classes)
    N, D = feat.shape
    class_list = sorted(set(classes.tolist()))
    C = len(class_list)
    # 1. percentile and threshold index
    p = min((1 - 1 / C) * 100, 95)
    k = int(np.floor(N * p / 100))
    # 2. thresholds: element k of each column sorted ascending / descending
    asc = np.sort(feat, axis=0)
    desc = asc[::-1]
    t_up = asc[k]
    t_dn = desc[k]
    # 3. global firing rate, upper sign, >=
    G = (feat >= t_up).mean(axis=0)
    # 4. local firing per set
    sums = {c: np.zeros(D) for c in class_list}
    cnts = {c: np.zeros(D) for c in class_list}
    for s in sorted(set(instance.tolist())):
        rows = [i for i in range(N) if instance[i] == s]
        cls = classes[rows[0]]
        if len(rows) < 3:
            continue
        F = feat[rows]
        u = (F > t_up).sum(axis=0)
        d = (F < t_dn).sum(axis=0)
        f = np.maximum(u, d)
        for j in range(D):
            if f[j] > 0:
                sums[cls][j] += f[j] / len(rows)
                cnts[cls][j] += 1
    # 5. per class: L / G, top-K mean
    per_class_topk = {kk: [] for kk in ks}
    for c in class_list:
        L = np.array([sums[c][j] / cnts[c][j] if cnts[c][j] > 0 else 0.0 for j in range(D)])
        score = sorted((L / G).tolist(), reverse=True)
        for kk in ks:
            per_class_topk[kk].append(sum(score[:kk]) / kk)
    # 6. mean over classes, paper scale
    scores = {kk: float(np.mean(per_class_topk[kk]) * (100 - p)) for kk in ks}
    if per_class:
        return scores, {kk: [v * (100 - p) for v in per_class_topk[kk]] for kk in ks}
    return scores
