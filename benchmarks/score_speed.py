"""Paper-mode scoring speed and memory against the released script's way of computing it.

The baseline does what `measure_invariances.py` (senthilps8/demystifyssl) does: float64
features (as its `alldata.pth` holds them), two full `np.sort`s of the N×D matrix, `np.where`
per set. Ours: float32, sample-select thresholds and per-set counts in one pass over the
features. Both run in this process on the same features and are measured the same way (see
`measure`): warm-up calls, then the median of a few timed calls without memory tracing; peak memory is
tracemalloc's peak of NumPy allocations during one further call plus the input array each one
reads (float64 for the baseline, float32 for ours).

    python benchmarks/score_speed.py                   # N = 72,000 (ALOI-viewpoint sized), then 200,000 (needs ~14 GB)
    python benchmarks/score_speed.py --n 72000         # the smaller size alone
    python benchmarks/score_speed.py --ours-only       # our time alone

Targets: ≥ 20× faster, ≤ 1/4 of the peak memory, identical top-10/top-25.
"""

import argparse
import statistics
import time
import tracemalloc

import numpy as np

from invariance_lab.metrics import paper_invariance


def released_script_scores(feat, item_ids, classes, ks=(10, 25)):
    """The released script's computation, step by step (float64, full sorts, per-set np.where)."""
    unique_classes = np.unique(classes)
    firing_percent = min((1.0 - 1.0 / len(unique_classes)) * 100, 95)
    sorted_feat = np.sort(feat, axis=0)
    index = int((feat.shape[0] * firing_percent) // 100)
    thresholds = sorted_feat[index : index + 1, :]
    global_firing = np.mean(feat >= thresholds, axis=0, keepdims=True)
    del sorted_feat
    sorted_neg = -1 * np.sort(-1 * feat, axis=0)
    neg_thresholds = sorted_neg[index : index + 1, :]
    del sorted_neg
    local_firing = [np.zeros_like(global_firing) for _ in unique_classes]
    local_count = [np.zeros_like(global_firing) for _ in unique_classes]
    for itemid in np.unique(item_ids):
        ind = np.where(item_ids == itemid)[0]
        ci = np.where(unique_classes == classes[ind[0]])[0][0]
        if len(ind) < 3:
            continue
        itemfeat = feat[ind]
        up = np.sum(itemfeat > thresholds, axis=0, keepdims=True)
        dn = np.sum(itemfeat < neg_thresholds, axis=0, keepdims=True)
        f = np.maximum(up, dn)
        pos = f > 0
        local_firing[ci][pos] += f[pos] / float(len(ind))
        local_count[ci][pos] += 1
    out = {k: [] for k in ks}
    for ci in range(len(unique_classes)):
        score = -np.sort(-(local_firing[ci] / (local_count[ci] + 1e-20))[0] / global_firing[0])
        for k in ks:
            out[k].append(np.mean(score[:k]))
    return {k: float(np.mean(v) * (100 - firing_percent)) for k, v in out.items()}


def measure(fn, args, repeats, warmup):
    """Time and peak memory of `fn(*args)`, the same way for both sides.

    `warmup` untimed calls first (first-call costs: thread-pool start, lazy imports, the
    allocator's first mappings), then `repeats` timed calls, untraced; their median is the
    figure (min and max are printed too, as the machine may be shared). Memory comes from one
    more call under tracemalloc, never timed (tracing slows NumPy's allocations).

    CPU seconds (all threads of the process) are recorded too: on a machine shared with other
    jobs, wall time depends on what else runs, CPU time much less.

    Returns:
        (result, [wall seconds of each timed call], [CPU seconds of each], peak bytes of the traced call).

    """
    res = None
    for _ in range(warmup):
        res = fn(*args)
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = fn(*args)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    tracemalloc.start()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return res, times, cpu, peak


def _spread(times, cpu):
    return f"median {statistics.median(times):7.3f} s (min {min(times):.3f}, max {max(times):.3f}, {len(times)} runs; CPU median {statistics.median(cpu):.3f} s)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[72_000, 200_000], help="feature rows (default: both of the issue's sizes)")
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--set-size", type=int, default=None, help="images per set (default 72, ALOI viewpoint's, up to N = 72,000; 100 above)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per side (the median is reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls per side before timing")
    ap.add_argument("--ours-only", action="store_true", help="time invariance_lab alone (no baseline, no ratio)")
    args = ap.parse_args()
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be >= 1 and --warmup >= 0")
    for n in args.n:
        rng = np.random.default_rng(0)
        set_size = args.set_size or (72 if n <= 72_000 else 100)
        n_sets = n // set_size
        inst = np.repeat(np.arange(n_sets), set_size)[:n]
        # pooled ReLU features: non-negative, many exact zeros, per-set structure
        feat32 = np.maximum(rng.standard_normal((n, args.d), dtype=np.float32) + 0.5 * rng.standard_normal((n_sets, args.d), dtype=np.float32)[inst] - 0.3, 0)
        print(f"N={n:,} D={args.d} sets={n_sets} (class = set), {args.warmup} warm-up + {args.repeats} timed calls per side", flush=True)
        ours, t_ours, c_ours, m_ours = measure(lambda f, i: paper_invariance(f, i, i).topk, (feat32, inst), args.repeats, args.warmup)
        tot_ours = m_ours + feat32.nbytes
        print(f"  invariance_lab     : {_spread(t_ours, c_ours)}  peak {tot_ours / 2**30:6.2f} GiB (input {feat32.nbytes / 2**30:.2f} + work {m_ours / 2**30:.2f})", flush=True)
        if args.ours_only:
            print(f"  top10 {ours[10]:.6f}; top25 {ours[25]:.6f}")
            del feat32
            continue
        feat64 = feat32.astype(np.float64)
        ref, t_ref, c_ref, m_ref = measure(released_script_scores, (feat64, inst, inst), args.repeats, args.warmup)
        tot_ref = m_ref + feat64.nbytes
        same = all(abs(ours[k] - ref[k]) <= 1e-6 for k in ref)
        print(f"  released-script way: {_spread(t_ref, c_ref)}  peak {tot_ref / 2**30:6.2f} GiB (input {feat64.nbytes / 2**30:.2f} + work {m_ref / 2**30:.2f})")
        ratio = statistics.median(t_ref) / statistics.median(t_ours)
        cpu_ratio = statistics.median(c_ref) / statistics.median(c_ours)
        print(f"  speed-up {ratio:.1f}x of wall medians (target >= 20; min/min {min(t_ref) / min(t_ours):.1f}x; CPU-time ratio {cpu_ratio:.1f}x)")
        print(f"  memory ratio {tot_ours / tot_ref:.3f} (target <= 0.25)")
        print(f"  top10 {ours[10]:.6f} vs {ref[10]:.6f}; top25 {ours[25]:.6f} vs {ref[25]:.6f}; identical to 1e-6: {same}")
        del feat32, feat64


if __name__ == "__main__":
    main()
