"""User meshes with their own colours: OBJ + MTL `map_Kd` image textures, PLY per-vertex colours.

Ground truth by construction: a square whose texture is red in the image's top half and green in
its bottom half must render red above and green below (this also pins the v-axis convention: OBJ
v points up, Mitsuba's bitmap v points down); a square with blue vertices on its left edge and
yellow ones on its right must render blue on the left, yellow on the right, and a blend between.
Without the files' colours the probe would paint a sampled procedural material instead.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from invariance_lab.probes import get_probe
from invariance_lab.synthworld import _mitsuba as R
from invariance_lab.synthworld.categories import (
    load_mesh_appearance,
    make_instance,
    mesh_file_category,
)
from invariance_lab.synthworld.scene import RenderJob, View

# camera on +z looking at -z: image left is world -x (scene.look_at_matrix), image top is +y
FRONT = View(azimuth=90.0, elevation=0.0, floor=False, background="plain", light_azimuth=0.0, light_elevation=10.0)
QUAD_V = "v -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\n"


def _write_obj(d, image: np.ndarray, name="quad"):
    Image.fromarray(image).save(d / f"{name}.png")
    (d / f"{name}.mtl").write_text(f"newmtl m\nKd 1 1 1\nmap_Kd {name}.png\n")
    (d / f"{name}.obj").write_text(f"mtllib {name}.mtl\n{QUAD_V}vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nusemtl m\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n")
    return d / f"{name}.obj"


def _write_ply(d, left, right):
    rows = [(-1, -1, left), (1, -1, right), (1, 1, right), (-1, 1, left)]
    body = "".join(f"{x} {y} 0 {c[0]} {c[1]} {c[2]}\n" for x, y, c in rows)
    head = ("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
            "property uchar red\nproperty uchar green\nproperty uchar blue\nelement face 2\nproperty list uchar int vertex_indices\nend_header\n")  # fmt: skip
    (d / "vc.ply").write_text(head + body + "3 0 1 2\n3 0 2 3\n")
    return d / "vc.ply"


def _render(path, res=64):
    job = RenderJob(mesh_file_category(path), 0, FRONT, res)
    return R.render_rgb(job).astype(int), R.render_ids(job) == R.LABELS["object"]


def _red_green(img=None):
    img = np.zeros((32, 32, 3), np.uint8)
    img[:16] = (255, 0, 0)
    img[16:] = (0, 255, 0)
    return img


def test_obj_image_texture_lands_where_its_uvs_put_it(tmp_path):
    obj = _write_obj(tmp_path, _red_green())
    part, look = load_mesh_appearance(obj)
    assert look is not None and look.kind == "texture" and look.data.shape == (32, 32, 3)
    img, mask = _render(obj)
    ys, xs = np.nonzero(mask)
    top, bottom = img[ys.min() + 3 : ys.min() + 10, xs.min() + 3 : xs.max() - 3], img[ys.max() - 10 : ys.max() - 3, xs.min() + 3 : xs.max() - 3]
    assert (top[..., 0] > 3 * top[..., 1] + 30).all()  # red above
    assert (bottom[..., 1] > 3 * bottom[..., 0] + 30).all()  # green below
    assert make_instance(mesh_file_category(obj), 0).params["appearance"] == "image texture (map_Kd)"


def test_editing_the_texture_changes_the_cache_key(tmp_path):
    obj = _write_obj(tmp_path, _red_green())
    before = mesh_file_category(obj)
    _write_obj(tmp_path, _red_green()[::-1].copy())
    assert mesh_file_category(obj) != before


def test_ply_vertex_colours_are_interpolated(tmp_path):
    ply = _write_ply(tmp_path, (0, 0, 255), (255, 255, 0))
    _, look = load_mesh_appearance(ply)
    assert look.kind == "vertex_color" and look.data.shape == (4, 3)
    img, mask = _render(ply)
    ys, xs = np.nonzero(mask)
    row = img[(ys.min() + ys.max()) // 2]
    left, right, mid = row[xs.min() + 2], row[xs.max() - 2], row[(xs.min() + xs.max()) // 2]
    assert left[2] > left[0] + 80 and left[2] > left[1] + 80  # blue
    assert right[0] > right[2] + 80 and right[1] > right[2] + 80  # yellow
    assert abs(mid[0] - mid[2]) < 60  # a blend between them


def test_mesh_probe_uses_the_files_colours(tmp_path):
    (tmp_path / "tiles").mkdir()
    _write_obj(tmp_path / "tiles", _red_green())
    p = get_probe(f"mesh-viewpoint:{tmp_path}", cache_dir=tmp_path / "cache", resolution=32, workers=1)
    front = np.asarray(p.load_image(0)).astype(int)  # azimuth 0, elevation 10: the quad seen edge-on-ish from +x
    assert len(p.items) == 24 and front.std() > 3
    imgs = np.stack([np.asarray(p.load_image(i)).astype(int) for i in range(len(p.items))])
    reddish = (imgs[..., 0] > 2 * imgs[..., 1] + 40).sum()
    greenish = (imgs[..., 1] > 2 * imgs[..., 0] + 40).sum()
    assert reddish > 50 and greenish > 50  # the texture's colours, not a sampled material


def test_unreadable_texture_is_named(tmp_path):
    obj = _write_obj(tmp_path, _red_green())
    (tmp_path / "quad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot decode its texture .*quad.png"):
        load_mesh_appearance(obj)


def test_missing_texture_is_named(tmp_path):
    obj = _write_obj(tmp_path, _red_green())
    (tmp_path / "quad.png").unlink()
    with pytest.raises(ValueError, match="quad.png.*does not exist"):
        load_mesh_appearance(obj)
