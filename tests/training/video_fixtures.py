"""Tiny video datasets in the exact on-disk layouts (GOT-10k / SynthWorld and TrackingNet), built by the tests.

Each video shows bright squares moving on a dark textured background; the first square's box is
written as the ground truth, so readers, proposals and trackers can be checked against it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def square_frames(n: int, size: int = 64, seed: int = 0, speed: float = 1.5, side: int = 16):
    """n frames (uint8 RGB) with one bright square moving right by `speed` px a frame, and its boxes (n, 4)."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(10, 50, (size, size, 3)).astype(np.uint8)
    color = rng.integers(150, 256, 3)
    y0 = int(rng.integers(4, size - side - 4))
    x0 = float(rng.uniform(2, 8))
    frames, boxes = [], []
    for t in range(n):
        f = bg.copy()
        x = int(round(x0 + speed * t))
        x1 = min(size, x + side)
        if x < size:
            f[y0 : y0 + side, max(0, x) : x1] = color
        frames.append(f)
        boxes.append([x, y0, max(0, x1 - max(0, x)), side])
    return frames, np.array(boxes, dtype=float)


def write_got10k(root, lengths=(12, 5, 20), size: int = 64, absent_frame: int | None = None):
    """`root/list.txt` and `root/<video>/00000001.jpg ... groundtruth.txt absence.label` (GOT-10k train)."""
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for v, n in enumerate(lengths):
        name = f"GOT-10k_Train_{v + 1:06d}"
        d = root / name
        d.mkdir()
        frames, boxes = square_frames(n, size, seed=v)
        for t, f in enumerate(frames):
            Image.fromarray(f).save(d / f"{t + 1:08d}.jpg", quality=95)
        (d / "groundtruth.txt").write_text(
            "".join(",".join(f"{x:.4f}" for x in b) + "\n" for b in boxes)
        )
        flags = [int(absent_frame is not None and t == absent_frame) for t in range(n)]
        (d / "absence.label").write_text("".join(f"{a}\n" for a in flags))
        names.append(name)
    (root / "list.txt").write_text("".join(f"{n}\n" for n in names))
    return root


def write_trackingnet(root, chunks=((7, 9), (4,)), size: int = 48):
    """`root/TRAIN_k/frames/<video>/0.jpg ...` and `root/TRAIN_k/anno/<video>.txt` (TrackingNet)."""
    seed = 0
    for k, lengths in enumerate(chunks):
        for j, n in enumerate(lengths):
            name = f"vid{k}_{j}"
            d = root / f"TRAIN_{k}" / "frames" / name
            d.mkdir(parents=True)
            frames, boxes = square_frames(n, size, seed=seed)
            seed += 1
            for t, f in enumerate(frames):
                Image.fromarray(f).save(d / f"{t}.jpg", quality=95)
            anno = root / f"TRAIN_{k}" / "anno"
            anno.mkdir(exist_ok=True)
            (anno / f"{name}.txt").write_text(
                "".join(",".join(f"{x:.2f}" for x in b) + "\n" for b in boxes)
            )
    return root
