"""What one SynthWorld image shows (`View`, `RenderJob`) and how it becomes a Mitsuba scene.

Only the world's logic lives here: camera on a view sphere, key light direction and colour,
ambient fill, floor, occluder panel, background. Mitsuba (`mi.load_dict`) does all rendering.
Mitsuba is imported inside functions, never at module import time.

Lighting (chosen so that renders are noise-free at 4 spp with the `direct` integrator):
- key light: one `directional` emitter (a delta light: no sampling noise, hard shadows). Its
  azimuth is measured *relative to the camera azimuth*, so a viewpoint sweep is a turntable
  (object turns, camera and lamp fixed), as in ALOI. Colour: RGB, or a `blackbody` spectrum
  (`scalar_spectral`), normalised to unit luminance so that only chromaticity changes.
- ambient fill: each surface carries an `area` emitter whose radiance is its own albedo texture
  times the ambient level (times the key's chromaticity), with `sampling_weight = 0` so it is never
  sampled as a light. It adds a flat, shadowless, noise-free fill term. A second delta light would
  instead add emitter-selection noise (measured rmse 0.03-0.07 at 8 spp).
- background: composited behind the alpha channel in NumPy (plain, gradient or textured clutter).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

WORLD_VERSION = 1  # bump when the world's logic changes pixels, so caches are invalidated
RGB_VARIANT, SPECTRAL_VARIANT = "scalar_rgb", "scalar_spectral"


@dataclass(frozen=True)
class Occluder:
    """A textured panel facing the camera, covering the image from a vertical edge to one side.

    The edge is placed (per image, from the target's unoccluded id mask) so that the target's
    visible fraction is as close as possible to `target_visible`.
    """

    target_visible: float
    side: int = 1  # +1: panel enters from the right, -1: from the left
    depth: float = 0.45  # fraction of the camera distance
    seed: int = 0


@dataclass(frozen=True)
class View:
    """Camera, light and surroundings of one image. Angles in degrees, temperatures in kelvin."""

    azimuth: float = 30.0
    elevation: float = 20.0
    distance: float = 3.4
    fov: float = 40.0
    light_azimuth: float = 40.0  # relative to the camera azimuth
    light_elevation: float = 45.0
    light_temperature: float | None = None  # blackbody key light (spectral variant) when set
    light_rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    light_intensity: float = 2.6
    ambient: float = 0.3
    floor: bool = True
    background: str = "gradient"  # plain | gradient | clutter
    bg_seed: int = 0
    occluder: Occluder | None = None


@dataclass(frozen=True)
class RenderJob:
    """One image: an object instance under a view, at a resolution and sample count."""

    category: str
    seed: int
    view: View = field(default_factory=View)
    resolution: int = 128
    spp: int = 4

    @property
    def variant(self) -> str:
        return SPECTRAL_VARIANT if self.view.light_temperature is not None else RGB_VARIANT

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["variant"] = self.variant
        d["world_version"] = WORLD_VERSION
        return d

    def digest(self) -> str:
        """SHA-256 of the parameters, the Mitsuba version and the world version (the cache key)."""
        from importlib.metadata import version

        payload = dict(self.to_json(), mitsuba=version("mitsuba"))
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def with_view(self, **changes: Any) -> RenderJob:
        return replace(self, view=replace(self.view, **changes))


def direction(azimuth: float, elevation: float) -> np.ndarray:
    """Unit vector for (azimuth about +y from +x towards +z, elevation above the xz-plane)."""
    a, e = np.radians(azimuth), np.radians(elevation)
    return np.array([np.cos(e) * np.cos(a), np.sin(e), np.cos(e) * np.sin(a)])


def camera_origin(view: View, center=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.asarray(center) + view.distance * direction(view.azimuth, view.elevation)


def look_at_matrix(origin: np.ndarray, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """Mitsuba's `look_at` as a NumPy 4x4 (columns: left, up, forward, origin; +x maps to image left)."""
    f = np.asarray(target, float) - origin
    f /= np.linalg.norm(f)
    left = np.cross(up, f)
    left /= np.linalg.norm(left)
    u = np.cross(f, left)
    M = np.eye(4)
    M[:3, 0], M[:3, 1], M[:3, 2], M[:3, 3] = left, u, f, origin
    return M


def occluder_quad(view: View, edge_u: float, side: int) -> np.ndarray:
    """World corners (4, 3) of a camera-facing panel whose vertical edge projects to image x = edge_u."""
    Mc = look_at_matrix(camera_origin(view))
    d = view.distance * (view.occluder.depth if view.occluder else 0.45)
    t = np.tan(np.radians(view.fov) / 2)
    far_u = 1.6 if side > 0 else -0.6
    xs = [(1 - 2 * edge_u) * t * d, (1 - 2 * far_u) * t * d]  # camera +x is image left
    ys = [-2.0 * t * d, 2.0 * t * d]
    pts = [(xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[0], ys[1])]
    P = np.array([[x, y, d, 1.0] for x, y in pts]) @ Mc.T
    return P[:, :3]


# -- textures and backgrounds (NumPy, deterministic) ------------------------------------------
def texture_image(material, size: int = 64) -> np.ndarray:
    """A tileable (size, size, 3) float32 linear-RGB pattern for a `categories.Material`."""
    u, v = np.meshgrid(np.arange(size) / size, np.arange(size) / size, indexing="xy")
    f = material.frequency
    kind = material.texture
    if kind == "stripes":
        w = (np.sin(2 * np.pi * f * (u + 0.3 * v)) > 0).astype(float)
    elif kind == "checks":
        w = ((np.floor(f * u) + np.floor(f * v)) % 2).astype(float)
    elif kind == "dots":
        w = (((u * f) % 1 - 0.5) ** 2 + ((v * f) % 1 - 0.5) ** 2 < 0.09).astype(float)
    elif kind == "noise":
        rng = np.random.default_rng(material.seed)
        spec = np.fft.fft2(rng.standard_normal((size, size)))
        k = np.fft.fftfreq(size) * size
        spec *= np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * (f * 1.5) ** 2))
        n = np.real(np.fft.ifft2(spec))
        w = (n - n.min()) / (np.ptp(n) + 1e-9)
    else:
        w = np.zeros_like(u)
    c1, c2 = np.asarray(material.color), np.asarray(material.color2)
    return (c1 * (1 - w[..., None]) + c2 * w[..., None]).astype(np.float32)


def background_image(kind: str, seed: int, size: int) -> np.ndarray:
    """A (size, size, 3) linear-RGB backdrop composited behind the scene's alpha."""
    rng = np.random.default_rng([seed, 7])
    y = np.linspace(0, 1, size)[:, None, None]
    base = np.array(rng.uniform(0.05, 0.35, 3))
    if kind == "plain":
        return np.broadcast_to(base, (size, size, 3)).astype(np.float32).copy()
    top = np.array(rng.uniform(0.2, 0.6, 3))
    img = (top * (1 - y) + base * y) * np.ones((size, size, 3))
    if kind == "clutter":
        yy, xx = np.mgrid[0:size, 0:size] / size
        for _ in range(14):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.15)
            col = rng.uniform(0.02, 0.5, 3)
            if rng.uniform() < 0.5:
                m = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
            else:
                m = (np.abs(xx - cx) < r) & (np.abs(yy - cy) < r * rng.uniform(0.3, 2))
            img[m] = col
    elif kind != "gradient":
        raise ValueError(f"unknown background {kind!r}; use plain, gradient or clutter")
    return img.astype(np.float32)


def linear_to_srgb_u8(x: np.ndarray) -> np.ndarray:
    """Linear RGB -> sRGB-encoded uint8 (the standard piecewise curve), clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.round(y * 255).astype(np.uint8)
