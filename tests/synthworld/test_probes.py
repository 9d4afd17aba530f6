"""Every synth probe builds, renders into the cache and has the documented set/class structure."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

import invariance_lab.synthworld.probes  # noqa: F401  (registers the synth-* names)
from invariance_lab.errors import ProbeError
from invariance_lab.probes import get_probe, list_probes
from invariance_lab.synthworld import sweeps
from invariance_lab.synthworld.render import read_meta

CATS = "mug,car"
EXPECTED = {  # name: (sets per category at scale 1, images per set, classes)
    "synth-viewpoint": (2, len(sweeps.VIEW_AZIMUTHS) * len(sweeps.VIEW_ELEVATIONS)),
    "synth-illum-dir": (2, len(sweeps.LIGHT_AZIMUTHS) * len(sweeps.LIGHT_ELEVATIONS)),
    "synth-illum-color": (1, len(sweeps.TEMPERATURES)),
    "synth-occlusion": (2, 9),
    "synth-instance": (len(sweeps.INSTANCE_AZIMUTH_BINS), sweeps.INSTANCES_PER_SET),
    "synth-crop": (2, sweeps.CROPS_PER_IMAGE),
}


def test_all_six_registered():
    assert set(EXPECTED) <= set(list_probes("synth-*"))


def test_importing_probes_does_not_import_mitsuba():
    code = "import sys, invariance_lab.synthworld.probes, invariance_lab.synthworld; print('mitsuba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_probe_structure(name, tmp_path):
    probe = get_probe(f"{name}:{CATS}", cache_dir=tmp_path, resolution=32, workers=1)
    n_sets_per_cat, per_set = EXPECTED[name]
    sets = Counter(it.set_id for it in probe.items)
    assert len(sets) == 2 * n_sets_per_cat
    assert set(sets.values()) == {per_set}
    assert {it.class_id for it in probe.items} == {"mug", "car"}
    for it in probe.items:
        assert it.set_id.split("/")[0] == it.class_id
    img = probe.load_image(0)
    assert img.mode == "RGB"
    assert all(probe.resolve(it).is_file() for it in probe.items)
    if name == "synth-occlusion":
        for s in sets:
            levels = [it.factor for it in probe.items if it.set_id == s]
            assert levels == list(range(9))  # measured cover levels hit every target
    if name == "synth-crop":
        for it in probe.items:
            x0, y0, x1, y1 = it.box
            assert 0 <= x0 < x1 <= 32 and 0 <= y0 < y1 <= 32
            assert 0.15 <= (x1 - x0) * (y1 - y0) / 32**2 <= 1.0
    if name == "synth-instance":
        for s in sets:  # a set holds different instances of one category at one view
            assert len({it.factor for it in probe.items if it.set_id == s}) == per_set


def test_probe_is_cached_deterministic_and_seeded(tmp_path):
    a = get_probe("synth-viewpoint:car", cache_dir=tmp_path, resolution=24, workers=2)
    mtimes = [a.resolve(it).stat().st_mtime_ns for it in a.items]
    b = get_probe("synth-viewpoint:car", cache_dir=tmp_path, resolution=24, workers=1)
    assert a.digest() == b.digest() and a.fingerprint() == b.fingerprint()
    assert mtimes == [b.resolve(it).stat().st_mtime_ns for it in b.items]  # not re-rendered
    # pool (workers=2) and in-process renders give identical pixels
    from invariance_lab.synthworld import _mitsuba as R

    job = read_meta(a.resolve(a.items[5]))["job"]
    assert job["variant"] == "scalar_rgb" and "mitsuba" in read_meta(a.resolve(a.items[5]))
    from invariance_lab.synthworld.render import render_one
    from invariance_lab.synthworld.sweeps import viewpoint

    img, _ = render_one(viewpoint(["car"], 1, 0, 24)[5][0])
    assert np.array_equal(np.asarray(a.load_image(5)), img)
    c = get_probe("synth-viewpoint:car", cache_dir=tmp_path, resolution=24, workers=1, seed=1)
    assert c.digest() != a.digest()
    assert not np.array_equal(np.asarray(c.load_image(0)), np.asarray(a.load_image(0)))
    assert R.LABELS["object"] == 1


def test_bad_options_are_refused():
    with pytest.raises(ProbeError, match="does not take options"):
        get_probe("synth-viewpoint", colour="red")
    with pytest.raises(ProbeError, match="unknown SynthWorld categories"):
        get_probe("synth-viewpoint:unicorn", render=False)
    with pytest.raises(ProbeError, match="device"):
        get_probe("synth-viewpoint", device="tpu", render=False)
