"""Markdown table of the issue-7 evidence: top-10 strict scores per seed, and their mean over seeds.

Usage: .venv/bin/python reports/temporal/table.py reports/temporal/results.csv reports/temporal/seed1/results.csv
"""

import sys

import pandas as pd

ORDER = [
    "synth-viewpoint",
    "synth-illum-dir",
    "synth-illum-color",
    "synth-instance",
    "synth-occlusion",
    "synth-crop",
]
NAMES = {
    "mocov2_same_frame": "MoCo v2, single frames",
    "temporal": "Frame Temporal Invariance",
    "region_tracker": "Region Tracker",
}

frames = []
for seed, path in enumerate(sys.argv[1:]):
    t = pd.read_csv(path)
    t = t[(t["k"] == 10) & (t["metric"] == "firing_rate_invariance")].copy()
    t["method"] = t["encoder"].str.replace(r"(_s\d+)?\.pt$", "", regex=True)
    t["seed"] = seed
    frames.append(t)
t = pd.concat(frames)
t = t[t["method"].isin(NAMES)]
print("| method | seed | " + " | ".join(ORDER) + " |")
print("| --- | ---: | " + " | ".join("---:" for _ in ORDER) + " |")
for m in NAMES:
    for s in sorted(t["seed"].unique()):
        row = t[(t["method"] == m) & (t["seed"] == s)].set_index("probe")
        cells = [
            f"{row.loc[p, 'score']:.1f} [{row.loc[p, 'ci_low']:.1f}, {row.loc[p, 'ci_high']:.1f}]"
            for p in ORDER
        ]
        print(f"| {NAMES[m]} | {s} | " + " | ".join(cells) + " |")
mean = t.groupby(["method", "probe"])["score"].mean().unstack()[ORDER]
print("\nMean over seeds (top-10), and difference from MoCo v2 on single frames:\n")
print("| method | " + " | ".join(ORDER) + " |")
print("| --- | " + " | ".join("---:" for _ in ORDER) + " |")
base = mean.loc["mocov2_same_frame"]
for m in NAMES:
    cells = [
        f"{mean.loc[m, p]:.1f}"
        + ("" if m == "mocov2_same_frame" else f" ({mean.loc[m, p] - base[p]:+.1f})")
        for p in ORDER
    ]
    print(f"| {NAMES[m]} | " + " | ".join(cells) + " |")
