"""Turn a `RenderJob` into Mitsuba objects and pixels. Imports Mitsuba lazily.

Per-process caches keep each instance's `mi.Mesh` objects (with BSDF and ambient emitter
attached), so a set of views of one object builds its meshes once; scenes themselves are cheap
to `load_dict` (measured > 1,000/s) and are rebuilt per image.

`variant(name)` sets the Mitsuba variant for a block and restores the previous one after it, so a
caller's own Mitsuba use is left as it was.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from . import categories as C
from .scene import (
    RGB_VARIANT,
    RenderJob,
    View,
    background_image,
    camera_origin,
    direction,
    envmap_image,
    linear_to_srgb_u8,
    occluder_quad,
    texture_image,
)

ENVMAP_PLINTH = 1.0  # half-size of the floor square in front of an environment map
LABELS = {"background": 0, "object": 1, "floor": 2, "occluder": 3}
_MESH_CACHE: OrderedDict = OrderedDict()
_MESH_CACHE_SIZE = 16


@contextlib.contextmanager
def variant(name: str):
    """Run a block under Mitsuba variant `name`, restoring the previous variant afterwards."""
    import mitsuba as mi

    prev = mi.variant()
    if prev != name:
        mi.set_variant(name)
    try:
        yield mi
    finally:
        if prev is not None and prev != name:
            mi.set_variant(prev)


def _mesh(mi, name: str, V: np.ndarray, F: np.ndarray, UV: np.ndarray, tex: np.ndarray, ambient_rgb: np.ndarray, uv_scale: float = 1.0,
          vertex_rgb: np.ndarray | None = None):  # fmt: skip
    """A textured diffuse mesh with the ambient-fill emitter; `vertex_rgb` (n, 3) colours it per vertex instead of `tex`.

    Per-vertex colours are Mitsuba mesh attributes (`vertex_color`, `vertex_glow`) read by
    `mesh_attribute` textures, interpolated over each triangle.
    """
    from .meshes import vertex_normals

    props = mi.Properties()
    ambient = bool(np.any(ambient_rgb > 0))
    if vertex_rgb is None:
        refl = {"type": "bitmap", "bitmap": mi.Bitmap(tex), "to_uv": mi.ScalarTransform3f().scale(uv_scale)}
        glow = {"type": "bitmap", "bitmap": mi.Bitmap((tex * ambient_rgb).astype(np.float32)), "to_uv": mi.ScalarTransform3f().scale(uv_scale)}
    else:
        refl, glow = {"type": "mesh_attribute", "name": "vertex_color"}, {"type": "mesh_attribute", "name": "vertex_glow"}
    props["bsdf"] = mi.load_dict({"type": "twosided", "bsdf": {"type": "diffuse", "reflectance": refl}})
    if ambient:
        props["emitter"] = mi.load_dict({"type": "area", "sampling_weight": 0.0, "radiance": glow})
    mesh = mi.Mesh(name, len(V), len(F), props, has_vertex_normals=True, has_vertex_texcoords=True)
    if vertex_rgb is not None:
        cols = np.ascontiguousarray(vertex_rgb, np.float32)
        mesh.add_attribute("vertex_color", 3, cols.ravel())
        mesh.add_attribute("vertex_glow", 3, (cols * ambient_rgb).astype(np.float32).ravel())
    p = mi.traverse(mesh)
    _set(mi, p, "vertex_positions", np.ascontiguousarray(V, np.float32).ravel())
    _set(mi, p, "faces", np.ascontiguousarray(F, np.uint32).ravel())
    _set(mi, p, "vertex_normals", vertex_normals(V, F).ravel())
    _set(mi, p, "vertex_texcoords", np.ascontiguousarray(UV, np.float32).ravel())
    p.update()
    return mesh


def _set(mi, params, key: str, value: np.ndarray) -> None:
    """Assign a NumPy buffer to a mesh parameter (JIT variants: converted to the device array type first)."""
    params[key] = value if mi.variant().startswith("scalar") else type(params[key])(value)


def _object_meshes(mi, job: RenderJob, ambient_rgb: np.ndarray):
    key = (job.category, job.seed, mi.variant(), tuple(np.round(ambient_rgb, 6)))
    if key in _MESH_CACHE:
        _MESH_CACHE.move_to_end(key)
        return _MESH_CACHE[key]
    inst = C.make_instance(job.category, job.seed)
    looks = inst.appearance or [None] * len(inst.parts)
    meshes = []
    for i, (p, m, look) in enumerate(zip(inst.parts, inst.materials, looks, strict=True)):
        if look is None:  # a procedural material
            meshes.append(_mesh(mi, f"object_{i}", p.V, p.F, p.UV, texture_image(m), ambient_rgb))
        elif look.kind == "texture":  # the file's own image over its own UVs
            meshes.append(_mesh(mi, f"object_{i}", p.V, p.F, p.UV, look.data, ambient_rgb))
        else:
            meshes.append(_mesh(mi, f"object_{i}", p.V, p.F, p.UV, None, ambient_rgb, vertex_rgb=look.data))
    _MESH_CACHE[key] = (inst, meshes)
    if len(_MESH_CACHE) > _MESH_CACHE_SIZE:
        _MESH_CACHE.popitem(last=False)
    return inst, meshes


def _floor(mi, bottom: float, seed: int, amb: np.ndarray, s: float = 6.0):
    """A checked floor square of half-size `s` under the object (6: fills the view; smaller: a plinth)."""
    key = ("floor", round(bottom, 6), seed, mi.variant(), tuple(np.round(amb, 6)), s)
    if key not in _MESH_CACHE:
        ftex = texture_image(C.Material((0.35, 0.33, 0.3), (0.22, 0.21, 0.2), "checks", 1, seed))
        V = np.array([[-s, 0, -s], [s, 0, -s], [s, 0, s], [-s, 0, s]], np.float32) + np.array([0, bottom - 1e-3, 0], np.float32)
        F = np.array([[0, 2, 1], [0, 3, 2]], np.uint32)  # faces +y
        UV = (V[:, [0, 2]] - V[0, [0, 2]]) / 2
        _MESH_CACHE[key] = _mesh(mi, "floor", V, F, UV, ftex, amb)
        if len(_MESH_CACHE) > _MESH_CACHE_SIZE:
            _MESH_CACHE.popitem(last=False)
    return _MESH_CACHE[key]


@lru_cache(maxsize=8)
def _envmap(seed: int):
    return envmap_image(seed)  # (mi.Bitmap refuses read-only arrays; never written to)


def _envmap_emitter(mi, view: View, gain: float) -> dict:
    """The visible (never sampled) environment map of a view, turned with the camera azimuth.

    `scale = 1 / gain` undoes the key light's unit-luminance gain that `render_linear` applies to
    the whole image, so the surround does not change with the light's colour temperature.
    """
    # camera_origin puts azimuth a at (cos a, ., sin a): a right-handed turn of -a about +y
    to_world = mi.ScalarTransform4f().rotate([0, 1, 0], -float(view.azimuth))
    return {"type": "envmap", "bitmap": mi.Bitmap(_envmap(view.bg_seed)), "sampling_weight": 0.0, "scale": 1.0 / gain, "to_world": to_world}


@lru_cache(maxsize=16)
def _background(kind: str, seed: int, size: int) -> np.ndarray:
    bg = background_image(kind, seed, size)
    bg.setflags(write=False)
    return bg


@lru_cache(maxsize=64)
def blackbody_rgb(temperature: float) -> tuple[float, float, float]:
    """Linear-sRGB irradiance of Mitsuba's `blackbody` emitter on a white plate (absolute scale).

    Rendered with Mitsuba itself (`scalar_spectral`), so the colour is Mitsuba's own spectral to
    RGB conversion.
    """
    with variant("scalar_spectral") as mi:
        T = mi.ScalarTransform4f
        sc = mi.load_dict({
            "type": "scene",
            "integrator": {"type": "direct"},
            "sensor": {"type": "orthographic", "to_world": T().look_at(origin=[0, 0, 1], target=[0, 0, 0], up=[0, 1, 0]),
                       "film": {"type": "hdrfilm", "width": 2, "height": 2, "rfilter": {"type": "box"}},
                       "sampler": {"type": "independent", "sample_count": 16}},
            "plate": {"type": "rectangle", "bsdf": {"type": "diffuse", "reflectance": {"type": "spectrum", "value": 1.0}}},
            "key": {"type": "directional", "direction": [0, 0, -1], "irradiance": {"type": "blackbody", "temperature": float(temperature)}},
        })
        rgb = np.asarray(mi.render(sc, seed=0), dtype=np.float64).reshape(-1, 3).mean(0)
    return tuple(float(c) for c in rgb)


def luminance(rgb) -> float:
    r, g, b = rgb
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _light(mi, view: View):
    """(key irradiance dict, image gain, ambient RGB before the gain)."""
    if view.light_temperature is not None:
        rgb = np.asarray(blackbody_rgb(view.light_temperature))
        gain = view.light_intensity / luminance(rgb)  # unit luminance: only chromaticity varies
        irr = {"type": "blackbody", "temperature": float(view.light_temperature)}
        tint = rgb / luminance(rgb)
        return irr, gain, view.ambient * tint / gain
    rgb = np.asarray(view.light_rgb, float)
    return {"type": "rgb", "value": (rgb * view.light_intensity).tolist()}, 1.0, view.ambient * rgb


def build_scene(mi, job: RenderJob, *, ids: bool = False, edge_u: float | None = None):
    """The Mitsuba scene for a job; `ids=True` gives the 1-spp `shape_index` AOV scene instead."""
    view = job.view
    T = mi.ScalarTransform4f
    irr, gain, amb = _light(mi, view)
    inst, meshes = _object_meshes(mi, job, amb)
    origin = camera_origin(view)
    d = {
        "type": "scene",
        "integrator": {"type": "aov", "aovs": "id:shape_index"} if ids else {"type": "direct", "emitter_samples": 1, "bsdf_samples": 0},
        "sensor": {
            "type": "perspective",
            "fov": view.fov,
            "to_world": T().look_at(origin=origin.tolist(), target=[0, 0, 0], up=[0, 1, 0]),
            "film": {"type": "hdrfilm", "width": job.resolution, "height": job.resolution, "rfilter": {"type": "box"}, "pixel_format": "rgba"},
            "sampler": {"type": "independent", "sample_count": 1} if ids else {"type": "multijitter", "sample_count": job.spp},
        },
        "key": {"type": "directional", "direction": (-direction(view.azimuth + view.light_azimuth, view.light_elevation)).tolist(), "irradiance": irr},
    }
    for i, m in enumerate(meshes):
        d[f"object_{i}"] = m
    if view.background == "envmap" and not ids:
        d["envmap"] = _envmap_emitter(mi, view, gain)
    if view.floor:  # in front of an environment map the floor is a plinth, so the surround shows
        d["floor"] = _floor(mi, inst.bottom, view.bg_seed, amb, ENVMAP_PLINTH if view.background == "envmap" else 6.0)
    if view.occluder is not None and edge_u is not None:
        occ = view.occluder
        Q = occluder_quad(view, edge_u, occ.side).astype(np.float32)
        F = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)
        n = np.cross(Q[1] - Q[0], Q[2] - Q[0])
        if np.dot(n, origin - Q.mean(0)) < 0:
            F = F[:, ::-1].copy()
        UV = np.array([[0, 0], [3, 0], [3, 3], [0, 3]], np.float32)
        rng = C.rng_for("occluder", occ.seed)
        mat = C._material(rng)
        d["occluder"] = _mesh(mi, "occluder", Q, F, UV, texture_image(mat), amb)
    return mi.load_dict(d), gain


def render_ids(job: RenderJob, edge_u: float | None = None) -> np.ndarray:
    """Label image (H, W) uint8: 0 background, 1 object, 2 floor, 3 occluder (`LABELS`)."""
    with variant(RGB_VARIANT) as mi:
        scene, _ = build_scene(mi, job, ids=True, edge_u=edge_u)
        raw = np.asarray(mi.render(scene, seed=0))[..., -1]
        lut = np.zeros(len(scene.shapes()) + 1, np.uint8)
        for i, s in enumerate(scene.shapes()):
            lut[i + 1] = LABELS[s.id().split("_")[0]]
    return lut[np.clip(np.rint(raw).astype(int), 0, len(lut) - 1)]


def render_object_mask(job: RenderJob) -> np.ndarray:
    """The object's unoccluded silhouette (H, W) bool, from a one-sample `depth` render of the object alone.

    Same camera and sample positions as `render_ids`, so for a job without occluder it equals
    `render_ids(job) == LABELS["object"]` (the floor lies below the object), about 10x faster
    (the `aov` integrator is the slow part of `render_ids`).
    """
    view = job.view
    with variant(RGB_VARIANT) as mi:
        T = mi.ScalarTransform4f
        _, _, amb = _light(mi, view) if view.light_temperature is None else (None, None, np.full(3, view.ambient))
        _, meshes = _object_meshes(mi, job, amb)
        d = {
            "type": "scene",
            "integrator": {"type": "depth"},
            "sensor": {
                "type": "perspective",
                "fov": view.fov,
                "to_world": T().look_at(origin=camera_origin(view).tolist(), target=[0, 0, 0], up=[0, 1, 0]),
                "film": {"type": "hdrfilm", "width": job.resolution, "height": job.resolution, "rfilter": {"type": "box"}, "pixel_format": "rgba"},
                "sampler": {"type": "independent", "sample_count": 1},
            },
            "key": {"type": "directional", "direction": [0.0, -1.0, 0.0]},
        }
        for i, m in enumerate(meshes):
            d[f"object_{i}"] = m
        out = np.asarray(mi.render(mi.load_dict(d), seed=0))
    return out[..., 3] > 0


def render_linear(job: RenderJob, edge_u: float | None = None) -> np.ndarray:
    """Linear RGBA (H, W, 4) float32 straight from `mi.render` (premultiplied alpha), light gain applied."""
    with variant(job.variant) as mi:
        scene, gain = build_scene(mi, job, edge_u=edge_u)
        img = np.asarray(mi.render(scene, seed=0), dtype=np.float32)
    img[..., :3] *= gain
    return img


def render_rgb(job: RenderJob, edge_u: float | None = None) -> np.ndarray:
    """The sRGB uint8 image (H, W, 3) of a job (background composited behind the alpha)."""
    img = render_linear(job, edge_u)
    bg = _background(job.view.background, job.view.bg_seed, job.resolution)
    return linear_to_srgb_u8(img[..., :3] + (1.0 - img[..., 3:4]) * bg)


def occluder_edge(job: RenderJob, free_ids: np.ndarray) -> float:
    """Image x (0..1) of the panel edge whose coverage best hits `job.view.occluder.target_visible`.

    The panel faces the camera, so it covers whole pixel columns from its edge to one side; the
    visible fraction for an edge at column e is a cumulative sum of the target's column counts.
    """
    occ = job.view.occluder
    cols = (free_ids == LABELS["object"]).sum(0).astype(float)
    W = len(cols)
    if cols.sum() == 0:
        return 1.0 if occ.side > 0 else 0.0
    if occ.side < 0:
        cols = cols[::-1]
    vis = np.concatenate([[0.0], np.cumsum(cols)]) / cols.sum()  # vis[e]: visible if columns >= e covered
    e = int(np.argmin(np.abs(vis - occ.target_visible) + 1e-6 * np.arange(W + 1) * (occ.target_visible >= 1)))
    if occ.target_visible >= 1.0:  # leave a gap of two columns so the panel does not touch the object
        e = min(W, int(np.nonzero(cols)[0].max()) + 3)
    elif occ.target_visible <= 0.0:
        e = max(0, int(np.nonzero(cols)[0].min()) - 2)
    return e / W if occ.side > 0 else 1.0 - e / W


# -- videos: one clip's meshes built once, moved per frame ----------------------------------------
OCCLUDER_LABEL = 1000  # label of occluder j in a video id image is OCCLUDER_LABEL + j


def _moved(V0: np.ndarray, N0: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and normals of a part under a similarity transform M (4x4, uniform scale)."""
    V = V0 @ M[:3, :3].T + M[:3, 3]
    N = N0 @ M[:3, :3].T
    N /= np.maximum(np.linalg.norm(N, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(V, np.float32), np.ascontiguousarray(N, np.float32)


class VideoMeshes:
    """The Mitsuba meshes of one video clip, built once (`scalar_rgb`) and moved for every frame.

    `objects` lists `(category, instance seed)` instances; occluders are boxes
    `(sx, sy, sz, material seed)`. Each frame, `render(state)` sets the vertex positions and normals
    of every mesh from the frame's 4x4 transforms (a uniform scale, a turn and a translation) and
    renders the RGB image (`direct`, `spp` samples) and the `shape_index` id buffers.
    """

    def __init__(self, objects: list[tuple[str, int]], occluders: list[tuple[float, float, float, int]], floor_seed: int, ambient: float):
        from .meshes import box, vertex_normals

        amb = np.full(3, float(ambient))
        with variant(RGB_VARIANT) as mi:
            self.objects = []  # per object: list of (mesh, V0, N0)
            for k, (cat, seed) in enumerate(objects):
                inst = C.make_instance(cat, seed)
                parts = []
                for p, (part, mat) in enumerate(zip(inst.parts, inst.materials, strict=True)):
                    m = _mesh(mi, f"object_{k}_{p}", part.V, part.F, part.UV, texture_image(mat), amb)
                    parts.append((f"object_{k}_{p}", m, part.V.astype(np.float64), vertex_normals(part.V, part.F).astype(np.float64)))
                self.objects.append((inst, parts))
            self.occluders = []
            for j, (sx, sy, sz, mseed) in enumerate(occluders):
                b = box(sx, sy, sz, (0.0, sy / 2, 0.0))
                mat = C._material(C.rng_for("video-occluder", mseed))
                m = _mesh(mi, f"occluder_{j}", b.V, b.F, b.UV, texture_image(mat), amb)
                self.occluders.append((f"occluder_{j}", m, b.V.astype(np.float64), vertex_normals(b.V, b.F).astype(np.float64)))
            self.floor = _floor(mi, 0.0, floor_seed, amb)

    @staticmethod
    def _place(mi, mesh, V0, N0, M) -> None:
        V, N = _moved(V0, N0, M)
        p = mi.traverse(mesh)
        p["vertex_positions"] = V.ravel()
        p["vertex_normals"] = N.ravel()
        p.update()

    def _setup(self, mi, state: dict, resolution: int, spp: int):
        """Move every mesh to frame `state`; return (sensor factory, shapes dict, key light dict)."""
        T = mi.ScalarTransform4f
        for (_inst, parts), M in zip(self.objects, state["objects"], strict=True):
            for _, m, V0, N0 in parts:
                self._place(mi, m, V0, N0, M)
        for (_, m, V0, N0), M in zip(self.occluders, state["occluders"], strict=True):
            self._place(mi, m, V0, N0, M)

        def sensor(ids: bool):
            return {
                "type": "perspective",
                "fov": float(state["fov"]),
                "to_world": T().look_at(origin=list(map(float, state["origin"])), target=list(map(float, state["target"])), up=[0, 1, 0]),
                "film": {"type": "hdrfilm", "width": resolution, "height": resolution, "rfilter": {"type": "box"}, "pixel_format": "rgba"},
                "sampler": {"type": "independent", "sample_count": 1} if ids else {"type": "multijitter", "sample_count": spp},
            }

        shapes = {}
        for _inst, parts in self.objects:
            for name, m, _, _ in parts:
                shapes[name] = m
        for name, m, _, _ in self.occluders:
            shapes[name] = m
        shapes["floor"] = self.floor
        key = {"type": "directional", "direction": list(map(float, state["light_direction"])), "irradiance": {"type": "rgb", "value": list(map(float, state["light_rgb"]))}}
        return sensor, shapes, key

    def render(self, state: dict, resolution: int, spp: int, background: str, bg_seed: int):
        """(sRGB uint8 (H, W, 3), label image (H, W) int32, per-object unoccluded masks (K, H, W) bool).

        Labels: 0 background or floor, k + 1 object k, `OCCLUDER_LABEL + j` occluder j.

        The labels are the id buffer of the frame, computed from one-sample `depth` renders (one
        per object alone, one per occluder; same camera, sampler seed and hence the same rays):
        each pixel takes the label of the nearest hit. This is exactly the first-hit shape that
        `aov`'s `shape_index` reports (`shape_index_labels` renders that for comparison; the floor
        lies below every object and cannot hide one), at about a twentieth of its cost (the `aov`
        integrator takes ~40 ms per 128 px pass on this CPU, `depth` ~2 ms). The per-object depth
        renders are also the unoccluded masks (visible fraction = visible / unoccluded pixels).
        """
        with variant(RGB_VARIANT) as mi:
            sensor, shapes, key = self._setup(mi, state, resolution, spp)
            scene = mi.load_dict({"type": "scene", "integrator": {"type": "direct", "emitter_samples": 1, "bsdf_samples": 0}, "sensor": sensor(False), "key": key, **shapes})
            img = np.asarray(mi.render(scene, seed=0), dtype=np.float32)
            del scene

            def depth_pass(shape_dict: dict) -> np.ndarray:
                sc = mi.load_dict({"type": "scene", "integrator": {"type": "depth"}, "sensor": sensor(True), "key": key, **shape_dict})
                out = np.asarray(mi.render(sc, seed=0), dtype=np.float32)
                return np.where(out[..., 3] > 0, out[..., 0], np.inf)

            depths, labels_of = [], []
            for k, (_inst, parts) in enumerate(self.objects):
                depths.append(depth_pass({name: m for name, m, _, _ in parts}))
                labels_of.append(k + 1)
            for j, (name, m, _, _) in enumerate(self.occluders):
                depths.append(depth_pass({name: m}))
                labels_of.append(OCCLUDER_LABEL + j)
        K = len(self.objects)
        if depths:
            D = np.stack(depths)
            nearest = np.argmin(D, 0)
            labels = np.where(np.isfinite(D.min(0)), np.asarray(labels_of, np.int32)[nearest], 0).astype(np.int32)
            alone = np.isfinite(D[:K])
        else:
            labels = np.zeros((resolution, resolution), np.int32)
            alone = np.zeros((0, resolution, resolution), bool)
        bg = _background(background, bg_seed, resolution)
        rgb = linear_to_srgb_u8(img[..., :3] + (1.0 - img[..., 3:4]) * bg)
        return rgb, labels, alone

    def shape_index_labels(self, state: dict, resolution: int) -> np.ndarray:
        """The frame's labels from one `aov` `shape_index` render of the whole scene (slow; for checks)."""
        with variant(RGB_VARIANT) as mi:
            sensor, shapes, key = self._setup(mi, state, resolution, 1)
            sc = mi.load_dict({"type": "scene", "integrator": {"type": "aov", "aovs": "id:shape_index"}, "sensor": sensor(True), "key": key, **shapes})
            raw = np.rint(np.asarray(mi.render(sc, seed=0))[..., -1]).astype(np.int64)
            names = [sh.id() for sh in sc.shapes()]
        lut = np.zeros(len(names) + 1, np.int32)
        for i, name in enumerate(names):
            kind, _, rest = name.partition("_")
            if kind == "object":
                lut[i + 1] = int(rest.split("_")[0]) + 1
            elif kind == "occluder":
                lut[i + 1] = OCCLUDER_LABEL + int(rest)
        return lut[np.clip(raw, 0, len(lut) - 1)]
