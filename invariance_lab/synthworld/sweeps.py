"""The factor sweeps behind the `synth-*` probes: which images form each set (pure data, no rendering).

Each builder returns rows `(RenderJob, set_id, class_id, factor, box)`. Sizes at `scale=1` keep
the whole six-probe battery under about 1,400 renders (< 3 minutes on a 2-core CPU); `scale`
multiplies the number of object instances (sets), never the sweep itself, so scores at different
scales measure the same transformation.

Instance seeds: instance k of a category in a probe built with `seed=s` is `s * 1000 + k`
(`synth-instance` uses `s * 1000 + 500 + k`, so its instances differ from the other probes').
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .categories import list_categories, rng_for
from .occlusion import N_LEVELS, target_fraction
from .scene import Occluder, RenderJob, View

Row = tuple[RenderJob, str, str, float | int | str, tuple[float, float, float, float] | None]

VIEW_AZIMUTHS = tuple(range(0, 360, 30))  # 12 azimuths
VIEW_ELEVATIONS = (10.0, 35.0)
LIGHT_AZIMUTHS = tuple(range(-150, 180, 60))  # 6 directions around the object, relative to the camera
LIGHT_ELEVATIONS = (20.0, 60.0)
TEMPERATURES = (2500.0, 3000.0, 3600.0, 4300.0, 5200.0, 6500.0, 8000.0, 10000.0)  # kelvin, as ALOI's lamp sweep
SPECTRAL_SPP = 8  # spectral renders need more samples: wavelength sampling adds colour noise
INSTANCE_AZIMUTH_BINS = (30.0, 120.0)
INSTANCES_PER_SET = 6
CROPS_PER_IMAGE = 8


def _n(scale: float, base: int) -> int:
    return max(1, int(math.ceil(base * scale)))


def _base_view(seed: int, k: int) -> View:
    bg = ("gradient", "plain", "clutter")[k % 3]
    return View(background=bg, bg_seed=seed * 1000 + k)


def _grid_sweep(cats, scale, seed, res, outer: tuple[str, Sequence], inner: tuple[str, Sequence]) -> list[Row]:
    """One set per instance: every (outer, inner) pair of two View fields; the factor is the inner value."""
    rows = []
    for c in cats:
        for k in range(_n(scale, 2)):
            s, v0 = seed * 1000 + k, _base_view(seed, k)
            for o in outer[1]:
                for i in inner[1]:
                    view = View(**{**v0.__dict__, inner[0]: float(i), outer[0]: o})
                    rows.append((RenderJob(c, s, view, res), f"{c}/{s}", c, float(i), None))
    return rows


def viewpoint(cats: Sequence[str], scale: float, seed: int, res: int) -> list[Row]:
    return _grid_sweep(cats, scale, seed, res, ("elevation", VIEW_ELEVATIONS), ("azimuth", VIEW_AZIMUTHS))


def illum_dir(cats, scale, seed, res) -> list[Row]:
    return _grid_sweep(cats, scale, seed, res, ("light_elevation", LIGHT_ELEVATIONS), ("light_azimuth", LIGHT_AZIMUTHS))


def illum_color(cats, scale, seed, res) -> list[Row]:
    rows = []
    for c in cats:
        for k in range(_n(scale, 1)):
            s, v0 = seed * 1000 + k, _base_view(seed, k)
            for t in TEMPERATURES:
                rows.append((RenderJob(c, s, View(**{**v0.__dict__, "light_temperature": t}), res, SPECTRAL_SPP), f"{c}/{s}", c, t, None))
    return rows


def occlusion(cats, scale, seed, res) -> list[Row]:
    """One image per cover level.

    The factor written here is the *target* level (the probe replaces it with the level measured
    from the id buffer).
    """
    rows = []
    for c in cats:
        for k in range(_n(scale, 2)):
            s, v0 = seed * 1000 + k, _base_view(seed, k)
            r = rng_for("occluder", c, s)
            side, occ_seed = (1 if r.uniform() < 0.5 else -1), int(r.integers(2**31))
            for lvl in range(N_LEVELS):
                occ = Occluder(target_fraction(lvl), side=side, seed=occ_seed)
                rows.append((RenderJob(c, s, View(**{**v0.__dict__, "occluder": occ}), res), f"{c}/{s}", c, lvl, None))
    return rows


def instance(cats, scale, seed, res) -> list[Row]:
    rows = []
    n = _n(scale, INSTANCES_PER_SET)
    for c in cats:
        for az in INSTANCE_AZIMUTH_BINS:
            for k in range(n):
                s = seed * 1000 + 500 + k
                rows.append((RenderJob(c, s, View(azimuth=az, background="gradient", bg_seed=seed), res), f"{c}/az{int(az)}", c, s, None))
    return rows


def random_resized_crop(rng: np.random.Generator, w: int, h: int, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3)) -> tuple[float, float, float, float]:
    """A box (x0, y0, x1, y1) drawn like torchvision's `RandomResizedCrop.get_params`.

    MoCo v2's `scale=(0.2, 1.)`: 10 tries of area and log-uniform aspect ratio, else the central crop.
    """
    area = w * h
    for _ in range(10):
        a = area * rng.uniform(*scale)
        r = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(a * r))), int(round(math.sqrt(a / r)))
        if 0 < cw <= w and 0 < ch <= h:
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return (float(x0), float(y0), float(x0 + cw), float(y0 + ch))
    r0 = w / h
    cw, ch = (w, int(round(w / ratio[0]))) if r0 < ratio[0] else ((int(round(h * ratio[1])), h) if r0 > ratio[1] else (w, h))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return (float(x0), float(y0), float(x0 + cw), float(y0 + ch))


def crop(cats, scale, seed, res) -> list[Row]:
    rows = []
    for c in cats:
        for k in range(_n(scale, 2)):
            s, v0 = seed * 1000 + k, _base_view(seed, k)
            job = RenderJob(c, s, v0, res)
            rng = rng_for("crop", c, s, seed)
            for j in range(CROPS_PER_IMAGE):
                rows.append((job, f"{c}/{s}", c, j, random_resized_crop(rng, res, res)))
    return rows


SWEEPS = {
    "synth-viewpoint": ("viewpoint", viewpoint),
    "synth-illum-dir": ("illumination direction", illum_dir),
    "synth-illum-color": ("illumination colour", illum_color),
    "synth-occlusion": ("occlusion", occlusion),
    "synth-instance": ("instance", instance),
    "synth-crop": ("crop", crop),
}


def default_categories() -> list[str]:
    return list_categories()
