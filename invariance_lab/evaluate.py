"""Evaluate encoders on probes: extraction (cached) → firing-rate invariance → a results table.

The one function the CLI's `evaluate` and `compare` and a notebook all call. Results follow the
schema of DESIGN.md §3: one row per (encoder, probe, layer, metric, k).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvarianceLabError

METRIC = "firing_rate_invariance"
RESULT_COLUMNS = [
    "encoder", "probe", "layer", "metric", "mode", "k", "score", "ci_low", "ci_high",
    "n_images", "n_sets", "n_classes", "n_sets_used", "n_classes_used", "n_images_skipped",
    "n_units_excluded", "encoder_digest", "probe_digest",
]  # fmt: skip


@dataclass
class Results:
    """A results table plus what produced it.

    Attributes:
        table: one row per (encoder, probe, layer, metric, k) with the DESIGN.md §3 columns.
        details: per (encoder, probe, layer): the measure's summary and its top-K curve.
        encoders: per encoder name, its load report (format, file, digest, dropped keys).
        probes: per probe name, its description (sizes, digest, params).
        config: the settings of the run.

    """

    table: pd.DataFrame
    details: list[dict[str, Any]] = field(default_factory=list)
    encoders: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON document written as `results.json`."""
        return {
            "schema": "invariance_lab.results/1",
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "config": self.config,
            "versions": package_versions(),
            "encoders": self.encoders,
            "probes": self.probes,
            "results": json.loads(self.table.to_json(orient="records")),
            "details": self.details,
        }

    def write(self, out_dir: str | os.PathLike, stem: str = "results") -> tuple[Path, Path]:
        """Write `<stem>.csv` and `<stem>.json` into `out_dir` (created), atomically."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
        _atomic_text(csv_path, self.table.to_csv(index=False))
        _atomic_text(json_path, json.dumps(_jsonable(self.to_json()), indent=1, allow_nan=False))
        return csv_path, json_path


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _jsonable(x: Any) -> Any:
    """Replace NaN/inf by None and NumPy scalars by Python ones (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x


def package_versions() -> dict[str, str]:
    """Versions of Python, this package and the libraries results depend on."""
    from importlib import metadata

    from ._version import __version__

    out = {"python": sys.version.split()[0], "invariance_lab": __version__, "platform": platform.platform()}
    for name in ("torch", "torchvision", "timm", "numpy", "scipy", "pandas", "mitsuba"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def evaluate(  # noqa: D417 (grouped arguments are described together below)
    encoders: Any,
    probes: Any,
    layers: Sequence[str] = ("pooled",),
    *,
    mode: str = "paper",
    ks: Sequence[int] = (10, 25),
    device: str = "auto",
    batch_size: int = 64,
    workers: int | str = "auto",
    worker_kind: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    on_error: str = "stop",
    data_root: str | os.PathLike | None = None,
    n_boot: int | None = None,
    seed: int = 0,
    firing_rate: float = 0.05,
    min_set_size: int = 3,
    tie_tolerance: float = 2.0,
    progress: bool = True,
    return_results: bool = False,
) -> pd.DataFrame | Results:
    """Measure every encoder's invariance on every probe at every layer.

    Args:
        encoders: an `Encoder`, an encoder spec (`tv:resnet50`, `timm:NAME`, a checkpoint path),
            or a list of them.
        probes: a `Probe`, a probe spec (`synth-viewpoint`, `folder:PATH`, `aloi-viewpoint`), or a list.
        layers: taps; `"pooled"` is the globally pooled penultimate feature (the paper's).
        mode: `"paper"` (reproduces the released script) or `"strict"` (quirks fixed, with CIs).
        ks: numbers of top neurons averaged (the paper: 10 and 25).
        device, batch_size, workers, worker_kind, cache_dir, use_cache, on_error: see
            `invariance_lab.features.extract_features`.
        data_root: root of the real datasets for named probes.
        n_boot: bootstrap resamples (default: 1000 in strict mode, 0 in paper mode).
        seed: bootstrap seed.
        firing_rate, min_set_size, tie_tolerance: strict mode's target firing rate, minimum set
            size, and the factor by which a unit's global firing rate may miss the target before
            it is excluded as tied (see `metrics.strict_invariance`).
        progress: progress bars.
        return_results: return the full `Results` (table, curves, load reports) instead of the table.

    Returns:
        The results table (DataFrame), or `Results` with `return_results=True`.

    Raises:
        InvarianceLabError: on bad input. Rows computed before the error are attached to the
            exception as `partial_results` (a `Results`), and extracted features stay cached.

    Example:
        >>> df = evaluate("tv:resnet18", ["synth-viewpoint", "synth-illum-color"], mode="strict")  # doctest: +SKIP

    """
    from .encoders import Encoder, load_encoder
    from .features import extract_features
    from .features.extract import check_extraction_options
    from .metrics import score_features
    from .probes import Probe, get_probe

    enc_list = encoders if isinstance(encoders, (list, tuple)) else [encoders]
    probe_list = probes if isinstance(probes, (list, tuple)) else [probes]
    layers = [layers] if isinstance(layers, str) else list(layers)
    if n_boot is None:
        n_boot = 1000 if mode == "strict" else 0
    options: dict[str, Any] = {"n_boot": n_boot, "seed": seed}
    if mode == "strict":
        options.update(firing_rate=firing_rate, min_set_size=min_set_size, tie_tolerance=tie_tolerance)
    config = {
        "layers": layers, "mode": mode, "ks": list(ks), "device": device, "batch_size": batch_size,
        "workers": workers, "worker_kind": worker_kind, "on_error": on_error, "use_cache": use_cache, **options,
    }  # fmt: skip
    results = Results(pd.DataFrame(columns=RESULT_COLUMNS), config=config)
    rows: list[dict[str, Any]] = []
    try:
        check_extraction_options(device, batch_size, workers, worker_kind)  # before anything is built or rendered
        built_probes = [p if isinstance(p, Probe) else get_probe(p, root=data_root) for p in probe_list]
        for p in built_probes:
            results.probes[p.name] = {**p.describe(), "examples": example_sets(p)}
        results.config["device_used"] = _device_used(device)
        for e in enc_list:
            enc = e if isinstance(e, Encoder) else load_encoder(e)
            results.encoders[enc.name] = {"spec": enc.spec, "arch": enc.arch, "family": enc.family, "digest": enc.digest,
                                          "preprocessing": enc.preprocessing.to_dict(), "load_report": enc.load_report}  # fmt: skip
            for probe in built_probes:
                feats = extract_features(
                    enc, probe, layers, device=device, batch_size=batch_size, workers=workers, worker_kind=worker_kind, cache_dir=cache_dir,
                    use_cache=use_cache, on_error=on_error, progress=progress,
                )  # fmt: skip
                for layer, fs in feats.items():
                    res = score_features(fs.feat, fs.set_ids, fs.class_ids, mode=mode, ks=ks, **options)
                    for k in res.ks:
                        lo, hi = res.ci[k]
                        rows.append({
                            "encoder": enc.name, "probe": probe.name, "layer": layer, "metric": METRIC, "mode": mode,
                            "k": k, "score": res.topk[k], "ci_low": lo, "ci_high": hi,
                            "n_images": res.counts["n_images"], "n_sets": res.counts["n_sets"],
                            "n_classes": res.counts["n_classes"], "n_sets_used": res.counts["n_sets_used"],
                            "n_classes_used": res.counts["n_classes_used"], "n_images_skipped": fs.n_skipped,
                            "n_units_excluded": res.counts["n_units_excluded"],
                            "encoder_digest": enc.digest, "probe_digest": probe.digest(),
                        })  # fmt: skip
                    results.details.append({
                        "encoder": enc.name, "probe": probe.name, "layer": layer, "summary": res.summary(),
                        "curve": [float(v) for v in res.curve[: min(len(res.curve), 512)]],
                        "skipped_images": [{"index": i, "path": p, "error": m} for i, p, m in fs.skipped],
                    })  # fmt: skip
                    results.table = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    except InvarianceLabError as exc:
        results.table = pd.DataFrame(rows, columns=RESULT_COLUMNS)
        exc.partial_results = results
        raise
    return results if return_results else results.table


def example_sets(probe: Any, n_sets: int = 3, max_per_set: int = 24) -> list[dict[str, Any]]:
    """A few sets of `probe` (spread over its classes) for reports to show as thumbnails.

    Each set: `set_id`, `class_id`, `n_items` and up to `max_per_set` items (evenly spaced), each
    with its item `index`, `path` (relative to the probe's root where it lies under it), `factor`
    and `box`. Reports re-read the images from these paths, or rebuild the probe by name.
    """
    order: dict[str, list[int]] = {}
    for i, it in enumerate(probe.items):
        order.setdefault(it.set_id, []).append(i)
    first_of_class: dict[str, str] = {}
    for s, idx in order.items():
        first_of_class.setdefault(probe.items[idx[0]].class_id, s)
    pool = list(first_of_class.values()) if len(first_of_class) >= n_sets else list(order)
    picks = sorted({int(round(v)) for v in np.linspace(0, len(pool) - 1, min(n_sets, len(pool)))})
    root = Path(probe.root).resolve() if probe.root else None
    out = []
    for s in (pool[j] for j in picks):
        idx = order[s]
        keep = sorted({int(round(v)) for v in np.linspace(0, len(idx) - 1, min(max_per_set, len(idx)))})
        items = []
        for j in keep:
            it = probe.items[idx[j]]
            path = Path(it.path)
            if root is not None and path.is_absolute() and path.resolve().is_relative_to(root):
                path = path.resolve().relative_to(root)
            items.append({"index": idx[j], "path": str(path), "factor": it.factor,
                          "box": None if it.box is None else [float(v) for v in it.box]})  # fmt: skip
        out.append({"set_id": s, "class_id": probe.items[idx[0]].class_id, "n_items": len(idx), "items": items})
    return out


def _device_used(device: str) -> str:
    """The device `device` resolves to, with the GPU's name (for the report's run metadata)."""
    try:
        import torch

        from .features.extract import resolve_device

        dev = resolve_device(device)
        if dev.type == "cuda":
            return f"{dev} ({torch.cuda.get_device_name(dev)})"
        return str(dev)
    except Exception:  # metadata only: never fail a run over it
        return str(device)


def format_table(table: pd.DataFrame) -> str:
    """A readable text table: one line per (encoder, probe, layer), columns top-K with CIs."""
    if table.empty:
        return "(no results)"
    lines = []
    ks = sorted(table["k"].unique())
    head = f"{'encoder':28s} {'probe':22s} {'layer':10s} " + " ".join(f"{'top' + str(k):>22s}" for k in ks) + "   sets  images"
    lines.append(head)
    lines.append("-" * len(head))
    for (enc, probe, layer), g in table.groupby(["encoder", "probe", "layer"], sort=False):
        cells = []
        for k in ks:
            r = g[g["k"] == k]
            if r.empty:
                cells.append(f"{'':>22s}")
                continue
            r = r.iloc[0]
            ci = f" [{r.ci_low:5.1f},{r.ci_high:5.1f}]" if pd.notna(r.ci_low) else ""
            cells.append(f"{r.score:7.2f}{ci:>15s}")
        first = g.iloc[0]
        lines.append(f"{str(enc)[:28]:28s} {str(probe)[:22]:22s} {str(layer)[:10]:10s} " + " ".join(cells) + f" {first.n_sets_used:6d} {first.n_images:7d}")
    mode = table["mode"].iloc[0]
    lines.append(f"\nmode: {mode}; score = mean top-K firing-rate invariance on the paper's scale (100 = fully invariant)")
    return "\n".join(lines)
