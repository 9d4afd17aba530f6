"""`mesh-*` probes on a folder of the user's own meshes (written by the test)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import trimesh

import invariance_lab.synthworld.probes  # noqa: F401
from invariance_lab.errors import ProbeError
from invariance_lab.probes import get_probe


@pytest.fixture()
def mesh_dir(tmp_path):
    (tmp_path / "boxes").mkdir()
    (tmp_path / "odd").mkdir()
    trimesh.creation.box((1.0, 0.5, 0.3)).export(tmp_path / "boxes" / "box.obj")
    odd = trimesh.util.concatenate([trimesh.creation.box((1, 0.2, 0.2)), trimesh.creation.icosphere(1, 0.3).apply_translation([0.6, 0.3, 0])])
    odd.export(tmp_path / "odd" / "lollipop.ply")
    return tmp_path


def test_mesh_viewpoint_sets(mesh_dir):
    p = get_probe(f"mesh-viewpoint:{mesh_dir}", cache_dir=mesh_dir / "cache", resolution=32, workers=1)
    sets = Counter(it.set_id for it in p.items)
    assert set(sets) == {"boxes/box", "odd/lollipop"}
    assert {it.class_id for it in p.items} == {"boxes", "odd"}
    imgs = [np.asarray(p.load_image(i)) for i in range(3)]
    assert imgs[0].std() > 5 and not np.array_equal(imgs[0], imgs[1])


def test_mesh_occlusion_levels(mesh_dir):
    p = get_probe(f"mesh-occlusion:{mesh_dir}", cache_dir=mesh_dir / "cache", resolution=48, workers=1)
    for s in {it.set_id for it in p.items}:
        assert [it.factor for it in p.items if it.set_id == s] == list(range(9))


def test_corrupt_mesh_is_named(mesh_dir):
    bad = mesh_dir / "odd" / "broken.obj"
    bad.write_text("this is not a mesh\nf 1 2 3\n")
    with pytest.raises(ProbeError, match="broken.obj"):
        get_probe(f"mesh-illum-dir:{mesh_dir}", cache_dir=mesh_dir / "cache", resolution=24, render=False)
    with pytest.warns(UserWarning, match="broken.obj"):
        p = get_probe(f"mesh-illum-dir:{mesh_dir}", cache_dir=mesh_dir / "cache", resolution=24, render=False, on_error="skip")
    assert {it.set_id for it in p.items} == {"boxes/box", "odd/lollipop"}
