"""Synthetic results documents (schema invariance_lab.results/1) for the report tests: no encoders run."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from PIL import Image

from invariance_lab.evaluate import RESULT_COLUMNS


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_doc(encoders=("enc-a", "enc-b"), probes=("synth-viewpoint", "synth-occlusion"), *, mode="paper", ks=(10, 25),
             layers=("pooled",), missing=(), seed=0, probe_salt="", with_ci=None, curve_len=64, examples=None,
             source_root=None):  # fmt: skip
    """A results dict; `missing` holds (encoder, probe) pairs not run; `examples` maps probe → examples list."""
    rng = np.random.default_rng(seed)
    with_ci = (mode == "strict") if with_ci is None else with_ci
    rows, details = [], []
    pdig = {p: _digest(p + probe_salt) for p in probes}
    for e in encoders:
        for p in probes:
            if (e, p) in missing:
                continue
            for layer in layers:
                curve = np.sort(rng.uniform(5, 95, size=curve_len))[::-1]
                for k in ks:
                    s = float(curve[:k].mean())
                    lo, hi = (s - float(rng.uniform(0.5, 4)), s + float(rng.uniform(0.5, 4))) if with_ci else (None, None)
                    row = dict.fromkeys(RESULT_COLUMNS)
                    row.update(encoder=e, probe=p, layer=layer, metric="firing_rate_invariance", mode=mode, k=k, score=s,
                               ci_low=lo, ci_high=hi, n_images=240, n_sets=24, n_classes=6, n_sets_used=24,
                               n_classes_used=6, n_images_skipped=0, n_units_excluded=0, encoder_digest=_digest(e),
                               probe_digest=pdig[p])  # fmt: skip
                    rows.append(row)
                details.append({"encoder": e, "probe": p, "layer": layer, "summary": {"mode": mode},
                                "curve": [float(v) for v in curve], "skipped_images": []})  # fmt: skip
    probe_desc = {}
    for p in probes:
        desc = {"name": p, "factor": "viewpoint" if "view" in p else "occlusion", "root": str(source_root) if source_root else None,
                "params": {"seed": 0}, "n_images": 240, "n_sets": 24, "n_classes": 6, "digest": pdig[p]}  # fmt: skip
        if examples and p in examples:
            desc["examples"] = examples[p]
        probe_desc[p] = desc
    return {
        "schema": "invariance_lab.results/1", "created": "2026-11-23T12:00:00+00:00",
        "config": {"layers": list(layers), "mode": mode, "ks": list(ks), "device": "auto", "device_used": "cpu", "n_boot": 100 if with_ci else 0,
                   "seed": 0, "firing_rate": 0.05, "command": "invariance-lab compare enc-a enc-b"},
        "versions": {"python": "3.11", "invariance_lab": "0.1.0", "torch": "2.14.1"},
        "encoders": {e: {"spec": e, "arch": "resnet18", "family": "test", "digest": _digest(e),
                         "load_report": {"format": "plain", "digest": _digest(e), "dropped_keys": ["fc.weight", "fc.bias"]}} for e in encoders},
        "probes": probe_desc, "results": rows, "details": details,
    }  # fmt: skip


def make_image_sets(root: Path, n_sets=3, n_images=5, size=48):
    """PNG images under `root/set{i}/img{j}.png` and the matching `examples` list (paths relative to root)."""
    rng = np.random.default_rng(1)
    examples = []
    for s in range(n_sets):
        d = root / f"set{s}"
        d.mkdir(parents=True, exist_ok=True)
        items = []
        base = rng.integers(0, 255, size=(size, size, 3))
        for j in range(n_images):
            img = np.roll(base, 5 * j, axis=1).astype(np.uint8)
            Image.fromarray(img).save(d / f"img{j}.png")
            items.append({"index": s * n_images + j, "path": f"set{s}/img{j}.png", "factor": 30 * j, "box": None})
        examples.append({"set_id": f"obj{s}", "class_id": f"class{s % 2}", "n_items": n_images, "items": items})
    return examples


def finite(v) -> bool:
    return v is not None and math.isfinite(v)
