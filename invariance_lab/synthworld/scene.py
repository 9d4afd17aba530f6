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
- background: composited behind the alpha channel in NumPy (plain, gradient or textured clutter),
  or `envmap`: a procedural HDR environment map (`envmap_image`, a lat-long NumPy image: sky
  gradient, ground, a bright sun, coloured blocks on the horizon) handed to Mitsuba's `envmap`
  emitter as an `mi.Bitmap`. It is a visible surround, not a light (`sampling_weight = 0`): a
  sampled environment light would add noise at 4 spp; key light and ambient fill are unchanged, so
  the object's pixels (away from its anti-aliased outline) are identical under every background.
  The floor becomes a plinth (half-size 1) so that the surround shows. The map turns with the
  camera azimuth, so a viewpoint sweep stays a turntable (the backdrop is fixed in the image, like
  the 2-D backgrounds), while elevation changes show more sky or ground.

Device: `RenderJob.backend` is "scalar" (CPU, `scalar_rgb` / `scalar_spectral`) or "cuda"
(`cuda_ad_rgb` / `cuda_ad_spectral`, chosen by `select_backend("cuda" | "auto")`). The variant is
part of every render's digest, so CPU and GPU renders are cached separately.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

WORLD_VERSION = 1  # bump when the world's logic changes pixels, so caches are invalidated
RGB_VARIANT, SPECTRAL_VARIANT = "scalar_rgb", "scalar_spectral"
BACKENDS = {"scalar": (RGB_VARIANT, SPECTRAL_VARIANT), "cuda": ("cuda_ad_rgb", "cuda_ad_spectral")}
BACKGROUNDS = ("plain", "gradient", "clutter", "envmap")


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
    background: str = "gradient"  # plain | gradient | clutter | envmap
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
    backend: str = "scalar"  # scalar (CPU) | cuda; see `select_backend`

    @property
    def variant(self) -> str:
        rgb, spectral = BACKENDS[self.backend]
        return spectral if self.view.light_temperature is not None else rgb

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if self.backend == "scalar":  # CPU jobs keep the digests they had before backends existed
            del d["backend"]
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


def envmap_image(seed: int, height: int = 128) -> np.ndarray:
    """A procedural HDR environment map: (height, 2*height, 3) float32 linear RGB, lat-long.

    Mitsuba's `envmap` layout: row 0 looks up (+y), the last row down; columns sweep the azimuth.
    Sky: a gradient from a zenith to a horizon colour with soft clouds; ground: paving tiles of
    two colours on a plane 1.5 units below the eye (tiles shrink towards the horizon as in a
    photograph, fading to their mean colour far away); a sun of radiance ~8 (HDR, clipped in the
    image); 10 coloured blocks standing on the horizon (buildings, trees). Deterministic in `seed`.
    """
    rng = np.random.default_rng([seed, 11])
    H, W = height, 2 * height
    theta = (np.arange(H)[:, None] + 0.5) / H * np.pi  # polar angle from +y
    phi = (np.arange(W)[None, :] + 0.5) / W * 2 * np.pi
    zenith, horizon = rng.uniform(0.05, 0.5, 3), rng.uniform(0.3, 0.9, 3)
    ground, ground2 = rng.uniform(0.03, 0.25, 3), rng.uniform(0.03, 0.25, 3)
    t = np.clip(theta / (np.pi / 2), 0, 1)[..., None]  # 0 at zenith, 1 at the horizon
    sky = zenith * (1 - t**1.5) + horizon * t**1.5
    for _ in range(6):  # clouds: soft bright blobs in the upper half
        c_th, c_ph, r = rng.uniform(0.3, 1.3), rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.3)
        dphi = np.abs((phi - c_ph + np.pi) % (2 * np.pi) - np.pi) * np.sin(theta)
        w = np.exp(-(((theta - c_th) / (0.5 * r)) ** 2 + (dphi / r) ** 2))[..., None]
        sky = sky * (1 - 0.7 * w) + 0.9 * w
    dist = 1.5 * np.tan(np.clip(np.pi - theta, 1e-3, np.pi / 2 - 1e-3))  # ground distance below the horizon
    gx, gz = dist * np.cos(phi), dist * np.sin(phi)
    tile = ((np.floor(gx / 1.2) + np.floor(gz / 1.2)) % 2)[..., None]
    far = np.clip(dist / 25.0, 0, 1)[..., None]  # distant tiles alias: blend to the mean
    paving = (ground * (1 - tile) + ground2 * tile) * (1 - far) + 0.5 * (ground + ground2) * far
    below = (theta > np.pi / 2)[..., None]
    img = np.where(below, paving, sky) * np.ones((H, W, 3))
    for _ in range(10):
        c, w, h = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.5), rng.uniform(0.05, 0.45)
        dphi = np.abs((phi - c + np.pi) % (2 * np.pi) - np.pi)
        m = (dphi < w / 2) & (theta > np.pi / 2 - h) & (theta <= np.pi / 2)
        img[np.broadcast_to(m, (H, W))] = rng.uniform(0.02, 0.6, 3)
    s_th, s_ph = rng.uniform(0.2, 0.9), rng.uniform(0, 2 * np.pi)
    d = np.arccos(np.clip(np.cos(theta) * np.cos(s_th) + np.sin(theta) * np.sin(s_th) * np.cos(phi - s_ph), -1, 1))
    img += (8.0 * (d < 0.08) + 0.6 * np.exp(-d / 0.25))[..., None] * np.array([1.0, 0.95, 0.85])
    return img.astype(np.float32)


def background_image(kind: str, seed: int, size: int) -> np.ndarray:
    """A (size, size, 3) linear-RGB backdrop composited behind the scene's alpha.

    For `envmap` the backdrop is rendered by Mitsuba (the environment emitter), so this is black.
    """
    if kind == "envmap":
        return np.zeros((size, size, 3), np.float32)
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
        raise ValueError(f"unknown background {kind!r}; use one of {', '.join(BACKGROUNDS)}")
    return img.astype(np.float32)


def linear_to_srgb_u8(x: np.ndarray) -> np.ndarray:
    """Linear RGB -> sRGB-encoded uint8 (the standard piecewise curve), clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.round(y * 255).astype(np.uint8)


def cuda_available() -> bool:
    """Whether Dr.Jit finds a CUDA device (and this Mitsuba build has the cuda variants)."""
    try:
        import drjit as dr
        import mitsuba as mi

        return "cuda_ad_rgb" in mi.variants() and bool(dr.has_backend(dr.JitBackend.CUDA))
    except Exception:  # no driver, no libcuda: Dr.Jit raises different types
        return False


def select_backend(device: str | None) -> str:
    """Render backend for a `--device` value: "cpu" -> scalar, "cuda"/"cuda:N" -> cuda, "auto" -> cuda when available.

    Raises:
        ValueError: CUDA asked for but not available (the message says why and what to pass), or
            an unknown device.

    """
    dev = (device or "cpu").lower()
    if dev == "cpu":
        return "scalar"
    if dev == "auto":
        return "cuda" if cuda_available() else "scalar"
    if dev == "cuda" or dev.startswith("cuda:"):
        if not cuda_available():
            raise ValueError(
                f"device {device!r}: SynthWorld cannot render on CUDA here (Mitsuba's cuda_ad_rgb variant needs an NVIDIA "
                "GPU and driver that Dr.Jit can load, and a mitsuba build with cuda variants); use device 'cpu' or 'auto'"
            )
        if dev != "cuda" and dev != "cuda:0":
            raise ValueError(f"device {device!r}: SynthWorld renders on the default CUDA device only; pass 'cuda' (set CUDA_VISIBLE_DEVICES to choose it)")
        return "cuda"
    raise ValueError(f"unknown device {device!r}; use cpu, cuda or auto")
