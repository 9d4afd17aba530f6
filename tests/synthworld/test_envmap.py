"""Environment-map backgrounds (`background="envmap"`): a procedural HDR map behind the scene.

Ground truth by construction: the map is a visible surround, never sampled as a light, so the
object's silhouette and its interior pixels are identical under any environment map (and under a
2-D backdrop), while the pixels that see the surround change with the map's seed. It turns with
the camera azimuth, so for a turntable sweep the surround is fixed in the image.
"""

from __future__ import annotations

import numpy as np
import pytest

from invariance_lab.errors import ProbeError
from invariance_lab.probes import get_probe
from invariance_lab.synthworld import _mitsuba as R
from invariance_lab.synthworld.manifest import probe_manifest
from invariance_lab.synthworld.scene import RenderJob, View, envmap_image

RES = 64


def _interior(mask: np.ndarray, r: int = 1) -> np.ndarray:
    """Pixels whose whole (2r+1)^2 neighbourhood is in the mask (away from anti-aliased edges)."""
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out &= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def test_envmap_image_is_deterministic_hdr_and_seeded():
    a, b, c = envmap_image(3), envmap_image(3), envmap_image(4)
    assert a.shape == (128, 256, 3) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.max() > 4.0 and a.min() >= 0.0  # a sun brighter than white: high dynamic range
    assert a[:32].mean() > a[-32:].mean()  # sky above, darker ground below


def test_background_changes_with_the_envmap_while_the_object_does_not():
    job = RenderJob("car", 0, View(background="envmap", bg_seed=3, elevation=10.0), RES)
    a, b = R.render_rgb(job), R.render_rgb(job.with_view(bg_seed=4))
    assert np.array_equal(R.render_rgb(job), a)  # deterministic
    ids_a, ids_b = R.render_ids(job), R.render_ids(job.with_view(bg_seed=4))
    assert np.array_equal(ids_a == R.LABELS["object"], ids_b == R.LABELS["object"])  # same silhouette
    obj = _interior(ids_a == R.LABELS["object"])
    surround = _interior(ids_a == R.LABELS["background"])
    assert obj.sum() > 100 and surround.sum() > 100
    assert np.array_equal(a[obj], b[obj])  # the map lights nothing
    assert np.abs(a[surround].astype(int) - b[surround]).mean() > 5  # but is seen
    plain = R.render_rgb(job.with_view(background="plain"))  # the big floor, a 2-D backdrop
    assert np.array_equal(a[obj], plain[obj])


def test_envmap_turns_with_the_camera():
    job = RenderJob("mug", 0, View(background="envmap", bg_seed=5, elevation=10.0), RES)
    turned = job.with_view(azimuth=job.view.azimuth + 110)
    a, b = R.render_rgb(job), R.render_rgb(turned)
    both = _interior(R.render_ids(job) == R.LABELS["background"]) & _interior(R.render_ids(turned) == R.LABELS["background"])
    assert both.sum() > 100
    assert np.abs(a[both].astype(int) - b[both]).max() <= 1
    # a map fixed in the world would move: the control shows the test can fail
    env = np.roll(envmap_image(5), 256 * 110 // 360, axis=1)
    assert np.abs(env - envmap_image(5)).mean() > 0.05


def test_envmap_probe_option_and_manifest(tmp_path):
    probe = get_probe("synth-illum-color", "vase", resolution=32, cache_dir=tmp_path, background="envmap")
    assert probe.params["background"] == "envmap"
    man = probe_manifest("synth-illum-color", background="envmap")
    assert {it["view"]["background"] for it in man["items"]} == {"envmap"}
    assert man["items"][0]["digest"] != probe_manifest("synth-illum-color")["items"][0]["digest"]
    with pytest.raises(ProbeError, match="background"):
        get_probe("synth-viewpoint", background="skybox", render=False)
