"""Entry points for the CLI: render the default battery, and contact sheets to look at.

Example:
    >>> from invariance_lab.synthworld import render_battery, render_preview
    >>> probes = render_battery()                                   # doctest: +SKIP
    >>> render_preview("synth-occlusion", "/tmp/occlusion.png")     # doctest: +SKIP

"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

BATTERY = ("synth-viewpoint", "synth-illum-dir", "synth-illum-color", "synth-occlusion", "synth-instance", "synth-crop")


def render_battery(scale: float = 1, cache_dir: str | os.PathLike | None = None, progress: bool = True, **options: Any) -> list:
    """Render (or read from the cache) the six default synth probes; returns the `Probe`s in `BATTERY` order."""
    from .probes import build_probe

    return [build_probe(name, None, cache_dir=cache_dir, scale=scale, progress=progress, **options) for name in BATTERY]


def contact_sheet(probe, max_sets: int = 8, max_per_set: int = 12, tile: int = 96) -> np.ndarray:
    """A (rows*tile, cols*tile, 3) uint8 grid: one row per set, images in item order (crops applied)."""
    order: dict[str, list[int]] = {}
    for i, it in enumerate(probe.items):
        order.setdefault(it.set_id, []).append(i)
    sets = list(order)
    # spread the shown sets over the classes
    step = max(1, len(sets) // max_sets)
    chosen = sets[::step][:max_sets]
    cols = min(max_per_set, max(len(order[s]) for s in chosen))
    sheet = np.full((len(chosen) * tile, cols * tile, 3), 255, np.uint8)
    for r, s in enumerate(chosen):
        idx = order[s]
        picks = np.linspace(0, len(idx) - 1, min(cols, len(idx))).round().astype(int)
        for c, k in enumerate(picks):
            img = probe.load_image(idx[k]).resize((tile, tile))
            sheet[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = np.asarray(img)
    return sheet


def render_preview(probe_name: str, out_png: str | os.PathLike, *, max_sets: int = 8, max_per_set: int = 12, tile: int = 96, **options: Any) -> Path:
    """Render a synth probe (cached) and write a contact sheet PNG (one row per set) to `out_png`."""
    from PIL import Image

    from .probes import build_probe

    name, _, arg = probe_name.partition(":")
    probe = build_probe(name, arg or None, **options)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(contact_sheet(probe, max_sets, max_per_set, tile)).save(out)
    return out
