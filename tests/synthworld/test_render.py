"""SynthWorld ground truth: determinism, geometry of views, light direction and colour."""

from __future__ import annotations

import numpy as np
import pytest

from invariance_lab.synthworld import _mitsuba as R
from invariance_lab.synthworld import categories as C
from invariance_lab.synthworld import meshes as M
from invariance_lab.synthworld.scene import RenderJob, View, camera_origin, look_at_matrix

RES = 64


def _mask(job: RenderJob) -> np.ndarray:
    return R.render_ids(job) == R.LABELS["object"]


def test_same_seed_identical_pixels_different_seed_different_instance():
    job = RenderJob("chair", 3, View(), RES)
    a, b = R.render_rgb(job), R.render_rgb(job)
    assert a.dtype == np.uint8 and a.shape == (RES, RES, 3)
    assert np.array_equal(a, b)
    i3, i4 = C.make_instance("chair", 3), C.make_instance("chair", 4)
    assert i3.params != i4.params
    assert not np.array_equal(a, R.render_rgb(RenderJob("chair", 4, View(), RES)))


def test_every_category_builds_and_fits_unit_sphere():
    cats = C.list_categories()
    assert len(cats) >= 10
    for c in cats:
        inst = C.make_instance(c, 0)
        V = np.concatenate([p.V for p in inst.parts])
        assert np.isfinite(V).all()
        assert np.linalg.norm(V, axis=1).max() == pytest.approx(1.0, abs=0.01) or np.linalg.norm(V, axis=1).max() <= 1.0


def test_silhouette_changes_with_azimuth_for_asymmetric_object():
    areas = [int(_mask(RenderJob("car", 0, View(azimuth=a, elevation=15, floor=False), RES)).sum()) for a in (0, 45, 90)]
    assert min(areas) > 50
    assert max(areas) > 1.15 * min(areas)  # end-on (az 0) vs side-on (az 90) view of an elongated car
    assert areas[0] < areas[2]


def test_box_silhouette_matches_analytic_projection(monkeypatch):
    size = (1.0, 0.6, 0.4)
    monkeypatch.setitem(C.CATEGORIES, "_testbox", lambda rng: ([[M.box(*size)]], {}))
    view = View(azimuth=35, elevation=25, floor=False)
    res = 96
    measured = _mask(RenderJob("_testbox", 0, view, res)).sum()
    # the instance is the box scaled to the unit sphere: half-diagonal = 1
    h = np.array(size) / 2 / np.linalg.norm(np.array(size) / 2)
    corners = np.array([[sx, sy, sz, 1.0] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * np.append(h, 1)
    cam = np.linalg.inv(look_at_matrix(camera_origin(view))) @ corners.T  # camera space
    t = np.tan(np.radians(view.fov) / 2)
    uv = np.stack([0.5 - cam[0] / (2 * t * cam[2]), 0.5 - cam[1] / (2 * t * cam[2])], 1) * res
    from scipy.spatial import ConvexHull

    analytic = ConvexHull(uv).volume  # area of the projected hull, in pixels
    assert measured == pytest.approx(analytic, rel=0.04)


def test_light_direction_changes_shading_not_silhouette():
    base = RenderJob("mug", 1, View(floor=False), RES)
    moved = base.with_view(light_azimuth=-120.0, light_elevation=20.0)
    a, b = R.render_linear(base), R.render_linear(moved)
    ma, mb = a[..., 3] > 0.5, b[..., 3] > 0.5
    assert ma.sum() > 100 and np.array_equal(ma, mb)
    assert np.array_equal(_mask(base), _mask(moved))
    assert np.abs(a[ma, :3] - b[mb, :3]).mean() > 0.02


def test_colour_temperature_moves_chromaticity_like_a_blackbody():
    imgs = {K: R.render_linear(RenderJob("vase", 2, View(floor=False, light_temperature=K), RES, 8)) for K in (3000.0, 5000.0, 8000.0)}
    masks = [im[..., 3] > 0.5 for im in imgs.values()]
    assert all(np.array_equal(masks[0], m) for m in masks)
    m = masks[0]
    rb = [im[m, 0].mean() / im[m, 2].mean() for im in imgs.values()]
    assert rb[0] > rb[1] > rb[2]  # warmer (lower K) is redder
    # the spatial pattern of shading is the same up to a per-channel gain
    # (only approximately: a spectral product is not a per-channel gain for every reflectance
    # spectrum, which is what a spectral render is for; measured r ~ 0.91 / 0.997 / 0.993)
    lo, hi = imgs[3000.0][m, :3], imgs[8000.0][m, :3]
    r = [np.corrcoef(lo[:, ch], hi[:, ch])[0, 1] for ch in range(3)]
    assert min(r) > 0.85 and np.mean(r) > 0.95
    other = R.render_linear(RenderJob("vase", 2, View(floor=False, light_azimuth=-100.0, light_temperature=3000.0), RES, 8))
    assert np.corrcoef(lo[:, 1], other[m, 1])[0, 1] < min(r)  # a light *move* changes the pattern more
    # Mitsuba's blackbody itself: R/B of a white plate falls with temperature
    plate = [R.blackbody_rgb(K) for K in (3000.0, 5000.0, 8000.0)]
    assert plate[0][0] / plate[0][2] > plate[1][0] / plate[1][2] > plate[2][0] / plate[2][2]


def test_variant_is_restored():
    import mitsuba as mi

    mi.set_variant("scalar_rgb")
    R.render_linear(RenderJob("mug", 0, View(light_temperature=4000.0), 16, 1))
    assert mi.variant() == "scalar_rgb"
