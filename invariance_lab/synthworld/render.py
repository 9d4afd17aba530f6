"""Render jobs into an on-disk cache of uint8 PNGs, keyed by a digest of each job's parameters.

`render_jobs(jobs)` returns one PNG path per job, rendering only those missing from the cache.
Missing jobs are grouped per object instance (so each worker builds an instance's meshes once)
and spread over worker processes (one per core; each worker gives Mitsuba the remaining
threads). Files are written atomically (temporary name, then `os.replace`), so a killed run
leaves no half-written image and simply resumes.

Next to each PNG a JSON sidecar records the job, the Mitsuba version and variant, and, for
occlusion jobs or with `measure=True`, the object's measured visible fraction, cover level and
bounding box from the `shape_index` buffer.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .occlusion import cover_level
from .scene import RenderJob

DEFAULT_SPP = 4


def default_cache_dir() -> Path:
    """`invariance_lab.config.default_cache_dir() / "synthworld"`."""
    from ..config import default_cache_dir as base

    return base() / "synthworld"


def cache_paths(job: RenderJob, cache_dir: Path) -> tuple[Path, Path]:
    """(PNG path, JSON sidecar path) of a job in the cache."""
    h = job.digest()
    d = Path(cache_dir) / "renders" / h[:2]
    return d / f"{h}.png", d / f"{h}.json"


def _write_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def bbox(mask: np.ndarray) -> list[float] | None:
    """(x, y, w, h) of a boolean mask in pixels (GOT-10k's box convention), or None if empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def render_one(job: RenderJob, measure: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """Render a job in this process: (sRGB uint8 image (H, W, 3), metadata dict)."""
    from importlib.metadata import version

    from . import _mitsuba as R

    meta: dict[str, Any] = {"job": job.to_json(), "mitsuba": version("mitsuba"), "variant": job.variant}
    edge = None
    if job.view.occluder is not None or measure:
        free = R.render_ids(job.with_view(occluder=None))
        n_free = int((free == R.LABELS["object"]).sum())
        if job.view.occluder is not None:
            edge = R.occluder_edge(job, free)
            ids = R.render_ids(job, edge)
        else:
            ids = free
        obj = ids == R.LABELS["object"]
        vis = float(obj.sum() / n_free) if n_free else 0.0
        meta.update(visible_fraction=vis, cover_level=cover_level(vis), object_pixels=n_free, box=bbox(obj), occluder_edge=edge)
    return R.render_rgb(job, edge), meta


def _render_group(args: tuple[list[RenderJob], list[str], bool, int]) -> int:
    jobs, paths, measure, threads = args
    from PIL import Image

    if threads:
        import drjit as dr

        dr.set_thread_count(threads)
    for job, p in zip(jobs, paths, strict=True):
        png, side = Path(p), Path(p).with_suffix(".json")
        img, meta = render_one(job, measure)
        _write_atomic(side, lambda t, meta=meta: t.write_text(json.dumps(meta, sort_keys=True)))
        _write_atomic(png, lambda t, img=img: Image.fromarray(img).save(t, format="PNG"))
    return len(jobs)


def render_jobs(
    jobs: Sequence[RenderJob],
    cache_dir: str | os.PathLike | None = None,
    *,
    workers: int | None = None,
    measure: bool = False,
    progress: bool = False,
    desc: str = "rendering",
) -> list[Path]:
    """Render whatever is not cached yet; return the PNG path of every job, in order.

    Args:
        jobs: what to render.
        cache_dir: render cache (default `default_cache_dir()`).
        workers: processes (default: one per CPU core; 1 renders in this process).
        desc: label of the progress bar.
        measure: also measure the object's visible fraction and box (an extra id pass per image).
        progress: show a tqdm bar.

    Example:
        >>> paths = render_jobs([RenderJob("mug", 0)])  # doctest: +SKIP

    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    paths = [cache_paths(j, cache)[0] for j in jobs]
    todo: dict[tuple, tuple[list, list]] = {}
    seen = set()
    for j, p in zip(jobs, paths, strict=True):
        if p in seen or (p.exists() and p.with_suffix(".json").exists()):
            continue
        seen.add(p)
        g = todo.setdefault((j.category, j.seed, j.variant), ([], []))
        g[0].append(j)
        g[1].append(str(p))
    if not todo:
        return paths
    n_cpu = os.cpu_count() or 1
    workers = min(workers or n_cpu, len(todo))
    if any(j.backend != "scalar" for j in jobs):
        workers = 1  # one process drives the GPU (CUDA contexts do not survive fork)
    groups = list(todo.values())
    total = sum(len(g[0]) for g in groups)
    bar = _bar(total, desc) if progress else None
    if workers <= 1:
        for js, ps in groups:
            _render_group((js, ps, measure, 0))
            if bar is not None:
                bar.update(len(js))
    else:
        import multiprocessing as mp

        threads = max(1, n_cpu // workers)
        # split big groups so both workers stay busy near the end
        chunks = [(js[i : i + 16], ps[i : i + 16], measure, threads) for js, ps in groups for i in range(0, len(js), 16)]
        # fork is cheap and needs no `__main__` guard, but is unsafe once Mitsuba's thread pool
        # exists in this process; then spawn (scripts must use `if __name__ == "__main__":`).
        method = "spawn" if "mitsuba" in sys.modules or sys.platform != "linux" else "fork"
        with mp.get_context(method).Pool(workers) as pool:
            for n in pool.imap_unordered(_render_group, chunks):
                if bar is not None:
                    bar.update(n)
    if bar is not None:
        bar.close()
    return paths


def read_meta(png: str | os.PathLike) -> dict[str, Any]:
    """The JSON sidecar of a cached render."""
    return json.loads(Path(png).with_suffix(".json").read_text())


def _bar(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img")


def iter_unique(jobs: Iterable[RenderJob]) -> list[RenderJob]:
    """Jobs with duplicates removed, order kept."""
    out, seen = [], set()
    for j in jobs:
        if j not in seen:
            seen.add(j)
            out.append(j)
    return out
