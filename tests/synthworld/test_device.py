"""`device` option of the synth probes: which Mitsuba variant renders, and a clear error without CUDA."""

from __future__ import annotations

import pytest

from invariance_lab.errors import ProbeError
from invariance_lab.probes import get_probe
from invariance_lab.synthworld import scene
from invariance_lab.synthworld.render import cache_paths
from invariance_lab.synthworld.scene import RenderJob, View, select_backend


def test_selection_with_and_without_cuda(monkeypatch):
    monkeypatch.setattr(scene, "cuda_available", lambda: False)
    assert select_backend("cpu") == select_backend(None) == select_backend("auto") == "scalar"
    with pytest.raises(ValueError, match="cannot render on CUDA here"):
        select_backend("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        select_backend("tpu")
    monkeypatch.setattr(scene, "cuda_available", lambda: True)
    assert select_backend("auto") == select_backend("cuda") == select_backend("cuda:0") == "cuda"
    assert select_backend("cpu") == "scalar"
    with pytest.raises(ValueError, match="default CUDA device"):
        select_backend("cuda:1")


def test_variants_and_cache_keys(tmp_path):
    rgb, spec = RenderJob("mug", 0), RenderJob("mug", 0, View(light_temperature=3000.0))
    assert (rgb.variant, spec.variant) == ("scalar_rgb", "scalar_spectral")
    g_rgb, g_spec = (j.__class__(**{**j.__dict__, "backend": "cuda"}) for j in (rgb, spec))
    assert (g_rgb.variant, g_spec.variant) == ("cuda_ad_rgb", "cuda_ad_spectral")
    assert "backend" not in rgb.to_json() and g_rgb.to_json()["variant"] == "cuda_ad_rgb"
    assert cache_paths(rgb, tmp_path)[0] != cache_paths(g_rgb, tmp_path)[0]  # renders cached per variant
    # CPU digests did not change when backends were added (the frozen manifests hold them)
    assert rgb.digest() == RenderJob("mug", 0).digest()


def test_probe_device_option(monkeypatch, tmp_path):
    monkeypatch.setattr(scene, "cuda_available", lambda: False)
    with pytest.raises(ProbeError, match="synth-viewpoint: device 'cuda'.*use device 'cpu' or 'auto'"):
        get_probe("synth-viewpoint", "mug", device="cuda", render=False, cache_dir=tmp_path)
    cpu = get_probe("synth-viewpoint", "mug", device="auto", render=False, cache_dir=tmp_path)
    assert "backend" not in cpu.params
    monkeypatch.setattr(scene, "cuda_available", lambda: True)
    gpu = get_probe("synth-viewpoint", "mug", device="cuda", render=False, cache_dir=tmp_path)
    assert gpu.params["backend"] == "cuda"
    assert gpu.digest() != cpu.digest() and gpu.items[0].path != cpu.items[0].path
