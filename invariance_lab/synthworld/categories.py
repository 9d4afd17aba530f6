"""Object categories built from parametric parts, and their instance generators.

Category = a part graph (which parts, how they attach); instance = one parameter vector sampled
from `numpy.random.Generator` seeded by `(category, seed)`: proportions, optional parts, colours
and textures vary. Every instance is normalised to fit the unit sphere, centred on its bounding
box, so that the camera distance means the same thing for every object.

`make_instance("mug", 3)` always returns the same mesh and materials (the generator is seeded from
a SHA-256 of the category and seed, not from Python's salted `hash`).
"""

from __future__ import annotations

import colorsys
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import meshes as M
from .meshes import Part

TEXTURES = ("plain", "stripes", "checks", "dots", "noise")


@dataclass
class Material:
    """A diffuse material: two linear-RGB colours mixed by a tileable texture pattern."""

    color: tuple[float, float, float]
    color2: tuple[float, float, float]
    texture: str
    frequency: int  # pattern repeats per texture unit
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {"color": [round(c, 5) for c in self.color], "color2": [round(c, 5) for c in self.color2], "texture": self.texture, "frequency": self.frequency, "seed": self.seed}


@dataclass
class Instance:
    """One object: a merged mesh per material slot (normalised to the unit sphere) and its parameters."""

    category: str
    seed: int
    parts: list[Part]  # one per material slot, same length as `materials`
    materials: list[Material]
    params: dict[str, Any] = field(default_factory=dict)
    appearance: list[Appearance | None] | None = None  # per part: the file's own colours (user meshes), else None

    @property
    def bottom(self) -> float:
        """Lowest y of the object (where the floor goes)."""
        return float(min(p.V[:, 1].min() for p in self.parts))


@dataclass
class Appearance:
    """A user mesh's own colours: an image texture over the part's UVs, or per-vertex colours.

    `kind` is "texture" (`data`: (H, W, 3) float32 linear RGB; the part's UVs follow Mitsuba's
    convention, v = 0 at the image's top row) or "vertex_color" (`data`: (n, 3) float32 linear RGB,
    one row per vertex of the part).
    """

    kind: str
    data: np.ndarray
    source: str


CATEGORIES: dict[str, Callable[[np.random.Generator], tuple[list[list[Part]], dict[str, Any]]]] = {}


def category(name: str):
    """Register a category generator `fn(rng) -> (parts per material slot, params)`."""

    def deco(fn):
        if name in CATEGORIES:
            raise ValueError(f"category {name!r} registered twice")
        CATEGORIES[name] = fn
        return fn

    return deco


def list_categories() -> list[str]:
    """Category names in registration order."""
    return list(CATEGORIES)


def rng_for(*keys: Any) -> np.random.Generator:
    """A generator seeded from a SHA-256 of the keys (stable across processes and machines)."""
    h = hashlib.sha256(":".join(map(str, keys)).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def _color(rng: np.random.Generator) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.35, 0.9), rng.uniform(0.45, 0.95))
    return tuple(float(c) ** 2.2 for c in (r, g, b))  # sRGB-ish -> linear


def _material(rng: np.random.Generator) -> Material:
    c1 = _color(rng)
    c2 = tuple(float(np.clip(c * rng.uniform(0.25, 0.6), 0, 1)) for c in c1) if rng.uniform() < 0.5 else _color(rng)
    return Material(c1, c2, str(rng.choice(TEXTURES)), int(rng.integers(2, 6)), int(rng.integers(0, 2**31)))


def make_instance(category_name: str, seed: int) -> Instance:
    """Build instance `seed` of a category, normalised to the unit sphere.

    Raises:
        KeyError: for an unknown category (see `list_categories()`).

    """
    if category_name.startswith("mesh:"):
        return _mesh_file_instance(category_name, seed)
    if category_name not in CATEGORIES:
        raise KeyError(f"unknown SynthWorld category {category_name!r}; known: {', '.join(CATEGORIES)}")
    rng = rng_for("instance", category_name, seed)
    slots, params = CATEGORIES[category_name](rng)
    materials = [_material(rng) for _ in slots]
    merged = [M.concat(s) for s in slots]
    V = np.concatenate([p.V for p in merged])
    lo, hi = V.min(0), V.max(0)
    c = (lo + hi) / 2
    r = float(np.linalg.norm(V - c, axis=1).max())
    T = M.chain(M.scale(1 / r, 1 / r, 1 / r), M.translate(*(-c)))
    merged = [p.transformed(T) for p in merged]
    return Instance(category_name, seed, merged, materials, {k: (round(v, 5) if isinstance(v, float) else v) for k, v in params.items()})


def mesh_file_category(path) -> str:
    """The category string of a user's mesh file: `mesh:<abs path>#<sha256 prefix>`.

    The digest covers the file's bytes and, for an OBJ, those of the material libraries it names
    (`mtllib`) and of the images they name (`map_*`), so an edited texture re-renders too.
    """
    from pathlib import Path

    p = Path(path).resolve()
    h = hashlib.sha256(p.read_bytes())
    for dep in _obj_dependencies(p):
        if dep.is_file():
            h.update(dep.name.encode() + b"\0" + dep.read_bytes())
    return f"mesh:{p}#{h.hexdigest()[:16]}"


def _obj_dependencies(path) -> list:
    """Files an OBJ refers to, whether they exist or not.

    Its `mtllib` files and the `map_*` images they name (in MTL the last token of a `map_*` line is
    the file name).
    """
    from pathlib import Path

    path = Path(path)
    if path.suffix.lower() != ".obj":
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("mtllib"):
            for name in line.split()[1:]:
                mtl = path.parent / name
                out.append(mtl)
                if mtl.is_file():
                    for ml in mtl.read_text(errors="replace").splitlines():
                        parts = ml.split()
                        if parts and parts[0].lower().startswith("map_") and len(parts) > 1:
                            out.append(mtl.parent / parts[-1])
    return out


def _check_textures(path) -> None:
    """Trimesh drops a texture it cannot read with only a log line; name it instead."""
    from PIL import Image

    for dep in _obj_dependencies(path):
        if dep.suffix.lower() == ".mtl":
            if not dep.is_file():
                raise ValueError(f"mesh {path} names the material library {dep.name}, which does not exist next to it")
            continue
        if not dep.is_file():
            raise ValueError(f"mesh {path}: its material names the texture {dep}, which does not exist")
        try:
            with Image.open(dep) as im:
                im.verify()
        except Exception as exc:
            raise ValueError(f"mesh {path}: cannot decode its texture {dep}: {type(exc).__name__}: {exc}") from exc


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear RGB (IEC 61966-2-1 piecewise curve)."""
    x = np.asarray(x, np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def load_mesh_file(path) -> Part:
    """Read an OBJ/PLY (etc.) with trimesh as one `Part`; UVs from the file, else spherical.

    Raises:
        ValueError: naming the file when it cannot be read or holds no triangles.

    """
    return load_mesh_appearance(path)[0]


def load_mesh_appearance(path) -> tuple[Part, Appearance | None]:
    """Read a mesh file with its own colours where it has them.

    - an image texture (OBJ + MTL `map_Kd`, glTF base colour) over the file's UVs: the image is
      decoded as sRGB and converted to linear RGB; trimesh gives OBJ UVs with v up, Mitsuba's
      bitmap has v = 0 at the top row (its own OBJ loader flips v the same way), so v -> 1 - v;
    - per-vertex colours (PLY `red green blue`, OBJ vertex colours): sRGB bytes -> linear RGB;
    - otherwise None (the caller samples a procedural material), with spherical UVs if the file
      has none.

    Raises:
        ValueError: naming the file when it cannot be read, holds no triangles, or names a texture
            image that cannot be decoded.

    """
    import trimesh

    try:
        m = trimesh.load(str(path), force="mesh", process=True)
    except Exception as exc:  # trimesh raises many types for bad files
        raise ValueError(f"cannot read mesh {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(m, trimesh.Trimesh) or len(m.faces) == 0 or not np.isfinite(m.vertices).all():
        raise ValueError(f"mesh {path} has no usable triangles")
    _check_textures(path)
    V = np.asarray(m.vertices, np.float32)
    F = np.asarray(m.faces, np.uint32)
    visual = m.visual
    uv = getattr(visual, "uv", None)
    has_uv = uv is not None and len(uv) == len(V)
    look: Appearance | None = None
    if getattr(visual, "kind", None) == "texture" and has_uv:
        mat = getattr(visual, "material", None)
        image = getattr(mat, "image", None) or getattr(mat, "baseColorTexture", None)
        if image is not None:
            try:
                rgb = np.asarray(image.convert("RGB"), np.float32) / 255.0
            except Exception as exc:
                raise ValueError(f"mesh {path}: cannot decode its texture image: {type(exc).__name__}: {exc}") from exc
            look = Appearance("texture", srgb_to_linear(rgb), "image texture (map_Kd)")
            uv = np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1)
    elif getattr(visual, "kind", None) == "vertex":
        cols = np.asarray(visual.vertex_colors)[:, :3]
        if len(cols) == len(V):
            look = Appearance("vertex_color", srgb_to_linear(cols / 255.0), "vertex colours")
    if not has_uv:
        d = V - V.mean(0)
        uv = np.stack([np.arctan2(d[:, 2], d[:, 0]) / (2 * np.pi) + 0.5, np.arctan2(d[:, 1], np.linalg.norm(d[:, [0, 2]], axis=1)) / np.pi + 0.5], 1) * 4
    return Part(V, F, np.asarray(uv, np.float32)), look


def _mesh_file_instance(category_name: str, seed: int) -> Instance:
    path = category_name[len("mesh:") :].rsplit("#", 1)[0]
    part, look = load_mesh_appearance(path)
    rng = rng_for("instance", category_name, seed)
    V = part.V
    lo, hi = V.min(0), V.max(0)
    c = (lo + hi) / 2
    r = float(np.linalg.norm(V - c, axis=1).max()) or 1.0
    part = part.transformed(M.chain(M.scale(1 / r, 1 / r, 1 / r), M.translate(*(-c))))
    params = {"file": path, "appearance": look.source if look else "sampled material"}
    return Instance(category_name, seed, [part], [_material(rng)], params, [look])


# -- the categories ---------------------------------------------------------------------------
@category("mug")
def _mug(rng):
    r, h = rng.uniform(0.35, 0.6), rng.uniform(0.7, 1.3)
    taper = rng.uniform(0.8, 1.15)
    t = 0.05
    body = [
        M.cylinder(r, h, caps=False, r_top=r * taper),
        M.lathe(lambda v: ((r - t) * taper + ((r - t) - (r - t) * taper) * v, h - (h - t) * v), 32, 2),  # inner wall (faces inward)
        M.lathe(lambda v: (r * taper - t * v, np.full_like(v, h)), 32, 1),  # rim ring
        M.disk(r, 0.0, up=False),
        M.disk(r - t, t, up=True),
    ]
    handle = rng.uniform() < 0.9
    hs = rng.uniform(0.18, 0.35) * h
    parts2 = [M.torus(hs, rng.uniform(0.035, 0.06)).transformed(M.translate(r * (1 + taper) / 2, h / 2, 0))] if handle else []
    return [body, parts2 or [M.sphere(0.001)]], {"radius": r, "height": h, "taper": taper, "handle": handle}


@category("bottle")
def _bottle(rng):
    r, h = rng.uniform(0.25, 0.45), rng.uniform(1.2, 2.0)
    neck_r, shoulder = rng.uniform(0.08, 0.15), rng.uniform(0.55, 0.75)

    def profile(v):
        y = v * h
        s = np.clip((y - shoulder * h) / (0.2 * h), 0, 1)
        rad = r + (neck_r - r) * (3 * s**2 - 2 * s**3)
        return rad, y

    cap_h = rng.uniform(0.08, 0.18)
    return [[M.lathe(profile, 32, 24), M.disk(r, 0.0, up=False)], [M.cylinder(neck_r * 1.15, cap_h).transformed(M.translate(0, h, 0))]], {"radius": r, "height": h, "shoulder": shoulder}


@category("chair")
def _chair(rng):
    w, d, sh = rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.1)
    bh, lt = rng.uniform(0.7, 1.3), rng.uniform(0.05, 0.1)
    legs = [M.box(lt, sh, lt, (sx * (w / 2 - lt), sh / 2, sz * (d / 2 - lt))) for sx in (-1, 1) for sz in (-1, 1)]
    seat = [M.box(w, 0.08, d, (0, sh, 0))]
    back = [M.box(w, bh, 0.07, (0, sh + bh / 2, -d / 2 + 0.035))]
    arms = rng.uniform() < 0.35
    if arms:
        seat += [M.box(0.08, 0.06, d, (sx * w / 2, sh + 0.3, 0)) for sx in (-1, 1)]
    return [seat + back, legs], {"width": w, "seat_height": sh, "back_height": bh, "arms": arms}


@category("table")
def _table(rng):
    w, d, h = rng.uniform(1.2, 2.0), rng.uniform(0.7, 1.2), rng.uniform(0.7, 1.1)
    round_top = rng.uniform() < 0.4
    lt = rng.uniform(0.06, 0.12)
    if round_top:
        top = [M.cylinder(w / 2, 0.07).transformed(M.translate(0, h, 0))]
        legs = [M.cylinder(lt, h).transformed(M.translate(0, 0, 0)), M.cylinder(w / 4, 0.05)]
    else:
        top = [M.box(w, 0.07, d, (0, h + 0.035, 0))]
        legs = [M.box(lt, h, lt, (sx * (w / 2 - lt), h / 2, sz * (d / 2 - lt))) for sx in (-1, 1) for sz in (-1, 1)]
    return [top, legs], {"width": w, "depth": d, "height": h, "round": round_top}


@category("lamp")
def _lamp(rng):
    base_r, pole_h = rng.uniform(0.3, 0.5), rng.uniform(1.0, 1.8)
    shade_h, shade_b = rng.uniform(0.35, 0.6), rng.uniform(0.3, 0.55)
    shade_t = shade_b * rng.uniform(0.4, 0.8)
    bent = rng.uniform() < 0.4
    base = [M.cylinder(base_r, 0.08), M.cylinder(0.035, pole_h)]
    shade_T = M.translate(0, pole_h - shade_h * 0.3, 0)
    if bent:
        shade_T = M.chain(M.translate(0, pole_h, 0), M.rotate("z", -25), M.translate(0, -shade_h * 0.3, 0))
    shade = [M.cylinder(shade_b, shade_h, r_top=shade_t).transformed(shade_T)]
    return [base, shade], {"pole_height": pole_h, "shade_bottom": shade_b, "bent": bent}


@category("car")
def _car(rng):
    L, W, H = rng.uniform(1.6, 2.4), rng.uniform(0.8, 1.0), rng.uniform(0.35, 0.5)
    cab_l, cab_h = L * rng.uniform(0.35, 0.55), rng.uniform(0.3, 0.45)
    cab_x = rng.uniform(-0.2, 0.1) * L
    wr = rng.uniform(0.17, 0.24)
    body = [M.box(L, H, W, (0, wr + H / 2, 0)), M.box(cab_l, cab_h, W * 0.85, (cab_x, wr + H + cab_h / 2, 0))]
    wheels = [M.cylinder(wr, 0.15).transformed(M.chain(M.translate(sx * L * 0.32, wr, sz * W / 2), M.rotate("x", 90), M.translate(0, -0.075, 0))) for sx in (-1, 1) for sz in (-1, 1)]
    return [body, wheels], {"length": L, "cabin_length": cab_l, "cabin_x": cab_x, "wheel_radius": wr}


@category("plane")
def _plane(rng):
    L, r = rng.uniform(2.0, 2.8), rng.uniform(0.14, 0.22)
    span, chord = rng.uniform(1.8, 2.8), rng.uniform(0.35, 0.6)
    wing_x = rng.uniform(-0.1, 0.15) * L
    fus = [M.ellipsoid(L / 2, r, r)]
    wings = [
        M.box(chord, 0.04, span, (wing_x, 0, 0)),
        M.box(chord * 0.5, 0.035, span * 0.35, (-L * 0.42, 0.05, 0)),
        M.box(chord * 0.5, r * rng.uniform(2.0, 3.5), 0.035, (-L * 0.42, r * 1.3, 0)),
    ]
    return [fus, wings], {"length": L, "span": span, "chord": chord, "wing_x": wing_x}


@category("vase")
def _vase(rng):
    h = rng.uniform(1.0, 1.8)
    a, b, c = rng.uniform(0.2, 0.35), rng.uniform(0.35, 0.55), rng.uniform(0.12, 0.3)
    k = rng.uniform(0.3, 0.6)

    def profile(v):
        belly = (b - a) * np.sin(np.pi * np.clip(v / (2 * k), 0, 1)) * (v < 2 * k)
        rad = a + belly + (c - a) * np.clip((v - 2 * k) / (1 - 2 * k), 0, 1) ** 2 * (v >= 2 * k)
        return rad, v * h

    return [[M.lathe(profile, 32, 24), M.disk(a, 0.0, up=False)]], {"height": h, "belly": b, "neck": c}


@category("snowman")
def _snowman(rng):
    rs = np.sort(rng.uniform(0.25, 0.6, 3))[::-1]
    ys, y = [], 0.0
    for r in rs:
        ys.append(y + r)
        y += 2 * r * 0.85
    balls = [M.sphere(r).transformed(M.translate(0, yy, 0)) for r, yy in zip(rs, ys, strict=True)]
    hat = rng.uniform() < 0.6
    extras = [M.cylinder(rs[2] * 0.2, rs[2] * 0.9, r_top=0.0, caps=True).transformed(M.chain(M.translate(0, ys[2], rs[2] * 0.9), M.rotate("x", 90)))]
    if hat:
        extras += [M.cylinder(rs[2] * 0.7, rs[2] * 0.8).transformed(M.translate(0, ys[2] + rs[2] * 0.8, 0))]
    return [balls, extras], {"radii": [round(float(r), 4) for r in rs], "hat": hat}


@category("rocket")
def _rocket(rng):
    r, h = rng.uniform(0.2, 0.35), rng.uniform(1.3, 2.2)
    nose = rng.uniform(0.3, 0.7)
    nfins = int(rng.integers(3, 5))
    body = [M.cylinder(r, h), M.cylinder(r, nose, r_top=0.0).transformed(M.translate(0, h, 0))]
    fin_h = rng.uniform(0.3, 0.6)
    fins = [M.box(0.04, fin_h, r * 1.6, (0, fin_h / 2, r * 1.3)).transformed(M.rotate("y", 360 * k / nfins)) for k in range(nfins)]
    return [body, fins], {"radius": r, "height": h, "fins": nfins}


@category("mushroom")
def _mushroom(rng):
    sr, sh = rng.uniform(0.12, 0.25), rng.uniform(0.6, 1.1)
    cr, ch = rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.6)
    tilt = rng.uniform(-20, 20)
    stem = [M.cylinder(sr, sh, r_top=sr * 0.8)]
    cap = [M.lathe(lambda v: (cr * np.cos(np.pi / 2 * v), ch * np.sin(np.pi / 2 * v)), 32, 10), M.disk(cr, 0.0, up=False)]
    cap = [p.transformed(M.chain(M.translate(0, sh, 0), M.rotate("z", tilt))) for p in cap]
    return [cap, stem], {"stem_height": sh, "cap_radius": cr, "tilt": tilt}


@category("house")
def _house(rng):
    w, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.8, 1.3), rng.uniform(0.6, 1.0)
    rh = rng.uniform(0.3, 0.6)
    walls = [M.box(w, h, d, (0, h / 2, 0))]
    # gable roof: a triangular prism as a lathe-free grid (two slopes + two gables)
    hw, hd = w / 2 * 1.08, d / 2 * 1.1
    slope = [
        M.grid_surface(lambda u, v, s=s: np.stack([(u * 2 - 1) * hw, h + rh * (1 - v), s * hd * v], -1), 1, 1, (w, d)) for s in (1, -1)
    ]
    slope[1] = M.Part(slope[1].V, slope[1].F[:, ::-1].copy(), slope[1].UV)
    gable = [M.grid_surface(lambda u, v, s=s: np.stack([np.full_like(u, s * hw), h + rh * v, s * (u * 2 - 1) * hd * (1 - v)], -1), 1, 1, (d, rh)) for s in (1, -1)]
    chimney = [M.box(0.15, rh, 0.15, (w * 0.25, h + rh * 0.8, d * 0.2))] if rng.uniform() < 0.5 else []
    return [walls, slope + gable + chimney], {"width": w, "height": h, "roof": rh, "chimney": bool(chimney)}
