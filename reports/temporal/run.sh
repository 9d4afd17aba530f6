#!/usr/bin/env bash
# Evidence for issue 7: MoCo v2 on single frames vs Frame Temporal Invariance vs Region Tracker,
# same SynthWorld videos, same budget (ResNet-18, 64 px, batch 32, 3 epochs of 2048 pairs = 192 steps),
# then the six synth-* probes in strict mode (bootstrap CIs over sets).
# Run from the repository root; DATA and RUNS may be overridden. CPU: OMP_NUM_THREADS=1 under nice.
set -euo pipefail
DATA=${DATA:-/tmp/i7_data/videos}
RUNS=${RUNS:-/tmp/i7_evid}
IL=".venv/bin/invariance-lab"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# 1. 64 SynthWorld clips x 32 frames at 96 px (GOT-10k layout), and their proposals + KCF tracks
$IL data synth-videos --out "$DATA" --clips 64 --frames 32 --resolution 96 --seed 7
$IL data tracks "$DATA"          # defaults: selective search, 8 proposals every 2 frames, KCF, horizon 8

COMMON=(--data "$DATA" --arch tv:resnet18 --image-size 64 --batch-size 32 --epochs 3 --lr 0.24
        --queue-size 1024 --moco-m 0.99 --seed 0 --knn-data synth --knn-every 3 --no-progress)
# 2. the three trainers (lr 0.24 per 256 = 0.03 at batch 32, cosine schedule)
nice -n 10 $IL train temporal "${COMMON[@]}" --pairs same-frame --out "$RUNS/mocov2_same_frame"
nice -n 10 $IL train temporal "${COMMON[@]}" --pairs temporal   --out "$RUNS/temporal"
nice -n 10 $IL train region-tracker "${COMMON[@]}"              --out "$RUNS/region_tracker"

# 3. measure (strict mode, 1000 bootstrap resamples over sets); names from the file names
mkdir -p "$RUNS/ckpt"
for r in mocov2_same_frame temporal region_tracker; do cp "$RUNS/$r/checkpoint.pt" "$RUNS/ckpt/$r.pt"; done
nice -n 10 $IL compare tv:resnet18 "$RUNS/ckpt/mocov2_same_frame.pt" "$RUNS/ckpt/temporal.pt" "$RUNS/ckpt/region_tracker.pt" \
  --probes synth-viewpoint,synth-illum-dir,synth-illum-color,synth-instance,synth-occlusion,synth-crop \
  --mode strict --out reports/temporal --report-format md --no-progress

# 4. a second seed of the three trainers (same commands with --seed 1, files named *_s1.pt), measured the same way
RUNS1=${RUNS1:-/tmp/i7_evid_s1}
COMMON1=("${COMMON[@]}")
for i in "${!COMMON1[@]}"; do if [[ "${COMMON1[$i]}" == "--seed" ]]; then COMMON1[$((i + 1))]=1; fi; done
nice -n 10 $IL train temporal "${COMMON1[@]}" --pairs same-frame --out "$RUNS1/mocov2_same_frame"
nice -n 10 $IL train temporal "${COMMON1[@]}" --pairs temporal   --out "$RUNS1/temporal"
nice -n 10 $IL train region-tracker "${COMMON1[@]}"              --out "$RUNS1/region_tracker"
mkdir -p "$RUNS1/ckpt"
for r in mocov2_same_frame temporal region_tracker; do cp "$RUNS1/$r/checkpoint.pt" "$RUNS1/ckpt/${r}_s1.pt"; done
nice -n 10 $IL compare "$RUNS1/ckpt/mocov2_same_frame_s1.pt" "$RUNS1/ckpt/temporal_s1.pt" "$RUNS1/ckpt/region_tracker_s1.pt" \
  --probes synth-viewpoint,synth-illum-dir,synth-illum-color,synth-instance,synth-occlusion,synth-crop \
  --mode strict --out reports/temporal/seed1 --no-report --no-progress
.venv/bin/python reports/temporal/table.py reports/temporal/results.csv reports/temporal/seed1/results.csv
