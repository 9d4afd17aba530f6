"""Parametric parts as triangle meshes (NumPy only; Mitsuba turns them into `mi.Mesh` in `scene.py`).

Every part is a parametric surface sampled on a (u, v) grid, so each part carries its own texture
coordinates: they are attached to the vertices and therefore turn with the object (a texture
"in object coordinates"). UVs are scaled by the part's size so that one texture unit covers about
the same area on every part (textures repeat).

A `Part` is `(V, F, UV)`: V float32 (n, 3), F uint32 (m, 3), UV float32 (n, 2). Normals are
computed per part when meshes are merged (`merge`), so creases between parts stay sharp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Part:
    """One part: vertices (n, 3), faces (m, 3), texture coordinates (n, 2)."""

    V: np.ndarray
    F: np.ndarray
    UV: np.ndarray

    def transformed(self, M: np.ndarray) -> Part:
        """Apply a 4x4 affine matrix (rows: x, y, z, 1)."""
        V = self.V @ M[:3, :3].T + M[:3, 3]
        F = self.F
        if np.linalg.det(M[:3, :3]) < 0:  # mirrored: keep faces outward
            F = F[:, ::-1]
        return Part(V.astype(np.float32), np.ascontiguousarray(F), self.UV)


def grid_surface(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], nu: int, nv: int, uv_scale=(1.0, 1.0)) -> Part:
    """Sample `fn(u, v) -> (..., 3)` on a (nu+1) x (nv+1) grid over [0, 1]^2 and triangulate it."""
    u, v = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing="ij")
    V = fn(u, v).reshape(-1, 3)
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    F = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    UV = np.stack([u.ravel() * uv_scale[0], v.ravel() * uv_scale[1]], -1)
    return Part(V.astype(np.float32), F.astype(np.uint32), UV.astype(np.float32))


def _ring(r, theta):
    return np.cos(theta) * r, np.sin(theta) * r


def lathe(profile: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], n_around: int = 32, n_along: int = 12) -> Part:
    """Surface of revolution about +y; `profile(v) -> (radius, y)` for v in [0, 1] from bottom to top."""

    def fn(u, v):
        r, y = profile(v)
        th = -2 * np.pi * u  # clockwise seen from +y: faces point outward for an upward profile
        x, z = _ring(r, th)
        return np.stack([x, y, z], -1)

    r_mean = float(np.mean(np.abs(profile(np.linspace(0, 1, 9))[0])))
    _, ys = profile(np.array([0.0, 1.0]))
    return grid_surface(fn, n_around, n_along, uv_scale=(2 * np.pi * max(r_mean, 0.05), abs(float(ys[1] - ys[0])) + 1e-3))


def disk(radius: float, y: float, up: bool = True, n_around: int = 32) -> Part:
    """A flat disk at height y facing +y (or -y)."""

    def fn(u, v):
        th = 2 * np.pi * u * (1 if up else -1)
        x, z = _ring(radius * v, th)
        return np.stack([x, np.full_like(x, y), z], -1)

    return grid_surface(fn, n_around, 2, uv_scale=(2 * np.pi * radius, radius))


def cylinder(radius: float, height: float, n_around: int = 32, caps: bool = True, r_top: float | None = None) -> Part:
    """A (possibly tapered) cylinder from y=0 to y=height, with caps."""
    rt = radius if r_top is None else r_top
    parts = [lathe(lambda v: (radius + (rt - radius) * v, height * v), n_around, 2)]
    if caps:
        parts += [disk(radius, 0.0, up=False, n_around=n_around), disk(rt, height, up=True, n_around=n_around)]
    return concat(parts)


def sphere(radius: float, n_around: int = 32, n_along: int = 16) -> Part:
    """A UV sphere centred at the origin."""
    return lathe(lambda v: (radius * np.sin(np.pi * v), -radius * np.cos(np.pi * v)), n_around, n_along)


def ellipsoid(rx: float, ry: float, rz: float, n_around: int = 32, n_along: int = 16) -> Part:
    """An axis-aligned ellipsoid centred at the origin."""
    return sphere(1.0, n_around, n_along).transformed(scale(rx, ry, rz))


def torus(R: float, r: float, n_around: int = 32, n_tube: int = 12) -> Part:
    """A torus in the xy-plane (axis +z) with centre-line radius R and tube radius r."""

    def fn(u, v):
        a, b = 2 * np.pi * u, 2 * np.pi * v
        x = (R + r * np.cos(b)) * np.cos(a)
        y = (R + r * np.cos(b)) * np.sin(a)
        z = r * np.sin(b)
        return np.stack([x, y, z], -1)

    return grid_surface(fn, n_around, n_tube, uv_scale=(2 * np.pi * R, 2 * np.pi * r))


def box(sx: float, sy: float, sz: float, center=(0.0, 0.0, 0.0)) -> Part:
    """An axis-aligned box with per-face texture coordinates (flat faces, sharp edges)."""
    faces = []
    h = np.array([sx, sy, sz]) / 2
    for axis in range(3):
        for sign in (-1.0, 1.0):
            a1, a2 = [(axis + 1) % 3, (axis + 2) % 3]
            if sign < 0:
                a1, a2 = a2, a1

            def fn(u, v, axis=axis, sign=sign, a1=a1, a2=a2):
                P = np.zeros(u.shape + (3,))
                P[..., axis] = sign * h[axis]
                P[..., a1] = (u * 2 - 1) * h[a1]
                P[..., a2] = (v * 2 - 1) * h[a2]
                return P

            faces.append(grid_surface(fn, 1, 1, uv_scale=(2 * h[a1], 2 * h[a2])))
    return concat(faces).transformed(translate(*center))


def concat(parts: list[Part]) -> Part:
    """Concatenate parts into one (faces re-indexed)."""
    Vs, Fs, UVs, off = [], [], [], 0
    for p in parts:
        Vs.append(p.V)
        Fs.append(p.F + off)
        UVs.append(p.UV)
        off += len(p.V)
    return Part(np.concatenate(Vs).astype(np.float32), np.concatenate(Fs).astype(np.uint32), np.concatenate(UVs).astype(np.float32))


def vertex_normals(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit length)."""
    fn = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    N = np.zeros_like(V, dtype=np.float64)
    for k in range(3):
        np.add.at(N, F[:, k], fn)
    n = np.linalg.norm(N, axis=1, keepdims=True)
    N = np.where(n > 1e-12, N / np.maximum(n, 1e-12), np.array([0.0, 1.0, 0.0]))
    return N.astype(np.float32)


# -- 4x4 affine helpers ------------------------------------------------------------------------
def translate(x: float, y: float, z: float) -> np.ndarray:
    M = np.eye(4)
    M[:3, 3] = (x, y, z)
    return M


def scale(x: float, y: float, z: float) -> np.ndarray:
    return np.diag([x, y, z, 1.0])


def rotate(axis: str, degrees: float) -> np.ndarray:
    """Rotation about the x, y or z axis (right-handed)."""
    t = np.radians(degrees)
    c, s = np.cos(t), np.sin(t)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    M = np.eye(4)
    M[i, i], M[i, j], M[j, i], M[j, j] = c, -s, s, c
    return M


def chain(*Ms: np.ndarray) -> np.ndarray:
    """Compose affine matrices; the last one is applied first."""
    out = np.eye(4)
    for M in Ms:
        out = out @ M
    return out
