"""Frozen probe manifests: the parameters of every SynthWorld image, so anyone can regenerate them.

`write_manifests()` writes `data_manifests/synthworld/<probe>.json` for the default battery: the
Mitsuba version, the world version, the `View` defaults once, and per image the job (category,
instance seed, the view fields that differ from the defaults, resolution, spp, variant), its set,
class, factor, crop box and cache digest. Rendering is not needed to write them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from importlib.metadata import version
from pathlib import Path

from .preview import BATTERY
from .probes import build_rows
from .scene import WORLD_VERSION, View


def probe_manifest(name: str, scale: float = 1, seed: int = 0, resolution: int = 128, background: str = "mixed") -> dict:
    """The manifest dict of one synth probe.

    `background` is the probe option of that name; an environment map appears in the items as
    `view.background = "envmap"` with its `bg_seed`.
    """
    defaults = asdict(View())
    items = []
    for job, set_id, class_id, factor, box in build_rows(name, None, scale=scale, seed=seed, resolution=resolution, background=background):
        view = {f.name: getattr(job.view, f.name) for f in fields(View) if getattr(job.view, f.name) != defaults[f.name]}
        if job.view.occluder is not None:
            view["occluder"] = asdict(job.view.occluder)
        items.append({
            "category": job.category, "seed": job.seed, "view": view, "resolution": job.resolution, "spp": job.spp,
            "variant": job.variant, "set_id": set_id, "class_id": class_id, "factor": factor,
            "box": list(box) if box else None, "digest": job.digest(),
        })
    return {
        "probe": name, "scale": scale, "seed": seed, "resolution": resolution,
        "mitsuba": version("mitsuba"), "world_version": WORLD_VERSION,
        "note": "factor of synth-occlusion rows is the target cover level; the probe reports the measured one",
        "view_defaults": defaults, "n_images": len(items), "items": items,
    }


def write_manifests(out_dir: str | os.PathLike = "data_manifests/synthworld", scale: float = 1, seed: int = 0, resolution: int = 128) -> list[Path]:
    """Write one manifest per battery probe; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in BATTERY:
        p = out / f"{name}.json"
        p.write_text(json.dumps(probe_manifest(name, scale, seed, resolution), separators=(",", ":"), sort_keys=True) + "\n")
        paths.append(p)
    return paths
