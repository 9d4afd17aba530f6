"""The `synth-*` probes: SynthWorld factor sweeps, rendered on demand into the render cache.

Registered names: `synth-viewpoint`, `synth-illum-dir`, `synth-illum-color`, `synth-occlusion`,
`synth-instance`, `synth-crop`. Each factory has the probe signature `(arg, root=None, **options)`;
`arg` optionally restricts the categories (`synth-viewpoint:mug,car`). `root` is ignored (the
world needs no data). Options:

- `scale` (1): multiplies the number of object instances (sets);
- `seed` (0): which instances (different seeds give different objects);
- `resolution` (128): image side in pixels;
- `cache_dir`: render cache (default `config.default_cache_dir() / "synthworld"`);
- `workers`, `progress`: rendering processes and progress bar;
- `background` ("mixed"): "mixed" cycles plain / gradient / clutter over the instances (the
  default battery); "plain", "gradient", "clutter" or "envmap" (a procedural HDR environment
  map, `scene.envmap_image`) puts every image in front of that kind, seeded as before;
- `device` ("cpu"): "cpu" renders with Mitsuba's scalar variants, "cuda" with `cuda_ad_rgb` /
  `cuda_ad_spectral` (an error when CUDA is not available), "auto" uses CUDA when available.
  The variant is part of each render's cache key.

Items are PNG paths relative to `<cache_dir>/renders` (so the probe digest is portable);
`set_id` is `<category>/<instance seed>` (`<category>/az<bin>` for `synth-instance`), `class_id`
the category. This module imports no Mitsuba: importing it only registers the names.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ProbeError
from ..probes._base import Probe, ProbeItem, register_probe
from . import sweeps
from .scene import BACKGROUNDS, WORLD_VERSION, select_backend

_OPTIONS = {"scale", "seed", "resolution", "cache_dir", "workers", "progress", "device", "render", "background"}


def _categories(arg: str | None) -> list[str]:
    cats = sweeps.default_categories()
    if not arg:
        return cats
    want = [a.strip() for a in arg.split(",") if a.strip()]
    bad = [a for a in want if a not in cats]
    if bad:
        raise ProbeError(f"unknown SynthWorld categories {bad}; known: {', '.join(cats)}")
    return want


def build_rows(name: str, arg: str | None = None, *, scale: float = 1, seed: int = 0, resolution: int = 128, background: str = "mixed") -> list[sweeps.Row]:
    """The (job, set, class, factor, box) rows of a synth probe, without rendering."""
    _, fn = sweeps.SWEEPS[name]
    if scale <= 0 or resolution < 8:
        raise ProbeError(f"{name}: scale must be > 0 and resolution >= 8 (got scale={scale}, resolution={resolution})")
    return with_background(fn(_categories(arg), scale, int(seed), int(resolution)), background, name)


def with_background(rows: list, background: str | None, name: str) -> list:
    """Rows with every view's background set to `background` ("mixed" or None: unchanged)."""
    if background in (None, "mixed"):
        return rows
    if background not in BACKGROUNDS:
        raise ProbeError(f"{name}: unknown background {background!r}; use mixed, {', '.join(BACKGROUNDS)}")
    return [(job.with_view(background=background), *rest) for job, *rest in rows]


def _backend(name: str, options: dict[str, Any]) -> str:
    try:
        return select_backend(options.get("device"))
    except ValueError as exc:
        raise ProbeError(f"{name}: {exc}") from None


def _check_options(name: str, options: dict[str, Any], extra: set[str] = frozenset()) -> None:
    unknown = set(options) - _OPTIONS - set(extra)
    if unknown:
        raise ProbeError(f"probe {name!r} does not take options {sorted(unknown)}; it takes {sorted(_OPTIONS | set(extra))}")


def probe_from_rows(name: str, factor_name: str, rows: list, options: dict[str, Any], params: dict[str, Any]) -> Probe:
    """Render the rows' jobs (unless `render=False`) and wrap them as a `Probe` over the cache."""
    from .render import cache_paths, default_cache_dir, read_meta, render_jobs

    cache = Path(options["cache_dir"]) if options.get("cache_dir") else default_cache_dir()
    backend = _backend(name, options)
    if backend != "scalar":
        rows = [(replace(r[0], backend=backend), *r[1:]) for r in rows]
    jobs = [r[0] for r in rows]
    if options.get("render", True):
        paths = render_jobs(jobs, cache, workers=options.get("workers"), progress=bool(options.get("progress", False)), desc=name)
    else:
        paths = [cache_paths(j, cache)[0] for j in jobs]
    base = cache / "renders"
    items = []
    for (job, set_id, class_id, factor, box), p in zip(rows, paths, strict=True):
        if job.view.occluder is not None and p.exists():
            factor = int(read_meta(p)["cover_level"])  # measured, not targeted
        items.append(ProbeItem(path=str(p.relative_to(base)), set_id=set_id, class_id=class_id, factor=factor, box=box))
    params = dict(params, world_version=WORLD_VERSION)
    if backend != "scalar":
        params["backend"] = backend
    if options.get("background", "mixed") != "mixed":
        params["background"] = options["background"]
    return Probe(name=name, factor=factor_name, items=items, root=base, params=params)


def build_probe(name: str, arg: str | None = None, root=None, **options: Any) -> Probe:
    """Build (and render, unless `render=False`) the synth probe `name`.

    Raises:
        ProbeError: for unknown options, categories or devices.

    """
    _check_options(name, options)
    scale, seed, res = options.get("scale", 1), int(options.get("seed", 0)), int(options.get("resolution", 128))
    rows = build_rows(name, arg, scale=scale, seed=seed, resolution=res, background=options.get("background", "mixed"))
    params = {"scale": scale, "seed": seed, "resolution": res, "categories": arg or "all"}
    return probe_from_rows(name, sweeps.SWEEPS[name][0], rows, options, params)


def _register(name: str) -> None:
    def factory(arg: str | None = None, root=None, **options: Any) -> Probe:
        return build_probe(name, arg, root, **options)

    factory.__name__ = name.replace("-", "_")
    factory.__doc__ = f"Build the `{name}` probe ({sweeps.SWEEPS[name][0]}); see `invariance_lab.synthworld.probes`."
    register_probe(name)(factory)


for _name in sweeps.SWEEPS:
    _register(_name)

from . import meshes_probe  # noqa: E402,F401  (registers mesh-viewpoint, mesh-illum-dir, mesh-illum-color, mesh-occlusion)
