"""SynthWorld video clips for the temporal trainers, written like GOT-10k's train split.

Each clip shows 1-3 objects (SynthWorld instances) standing on a floor, translating and turning;
the camera orbits and dollies slowly, the key light drifts in direction and colour, and textured
pillars (occluders) pass between the camera and the objects. Every frame gets exact boxes from
Mitsuba's `shape_index` buffer (as `occlusion.py` measures cover levels).

Layout (GOT-10k train; readable by pytracking-style GOT-10k loaders)::

    out_dir/list.txt                      clip names, one a line
    out_dir/<clip>/00000001.jpg ...       frames, 8-digit 1-based names, JPEG quality 95
    out_dir/<clip>/groundtruth.txt        one line per frame: x,y,w,h of the primary object
    out_dir/<clip>/absence.label          one line per frame: 1 where the primary is not visible
    out_dir/<clip>/cover.label            one line per frame: cover level 0..8 (occlusion.py)
    out_dir/<clip>/cut_by_image.label     one line per frame: 1 where the primary touches the border
    out_dir/<clip>/meta_info.ini          GOT-10k meta (object_class = primary's category)
    out_dir/<clip>/objects.json           every object's boxes, visible fraction, cover level,
                                          category; the clip plan and per-frame camera and light

Boxes are `x,y,w,h` in pixels, GOT-10k's convention (`x, y` the top-left pixel, `w, h` the
pixel extent, so a one-pixel object is `x,y,1,1`), with four decimals. The box is the tight box
of the object's *visible* pixels (other objects and occluders in front remove pixels).

Invisible primary (fully occluded or out of the frame): `groundtruth.txt` repeats the last
visible box (the next visible one for leading frames; `0,0,0,0` if the primary is never visible)
so that every line parses as four finite numbers, and `absence.label` is 1 on that frame (as
GOT-10k marks absent targets; loaders must read it, as pytracking does). `objects.json` writes
`null` boxes for invisible objects instead.

The visible fraction of an object is (its pixels in the frame's id buffer) / (its pixels when it
is rendered alone, same camera and samples): occlusion by other objects and occluders, not
truncation by the image border. Cover levels follow `occlusion.cover_level` (0 = fully covered
... 8 = fully visible, GOT-10k's direction).

Motion (per frame, so longer clips move further rather than slower): objects move on the floor in
separate depth lanes (they pass in front of each other but never intersect), bouncing off the
lane ends, and turn about the vertical axis at 1.5-6 degrees a frame; the camera orbits at
0.2-0.8 degrees a frame; the key light turns at 0.5-2 degrees a frame and its colour moves
linearly between two near-white colours over the clip; occluder pillars cross the whole image
once, entering from outside it (so the first frame shows the primary object unoccluded, unless
another object stands in front of it).

Cost: each clip builds its meshes once and moves their vertices per frame; per frame one RGB
render (`direct`, 4 spp, delta light, noise-free) and 1 + K one-sample id renders.

Resumable: a clip folder with every frame, `groundtruth.txt` and an `objects.json` whose
parameters match is skipped; anything else is redone. A clip is rendered into
`out_dir/.partial/<clip>.<pid>/` and renamed into place when complete, so a killed run leaves no
half clip under its final name. Deterministic: clip i under `seed` always has the same plan and
pixels (Mitsuba renders with a fixed sample seed).

Example:
    >>> from invariance_lab.synthworld import render_videos
    >>> render_videos("data/synth-videos", clips=100)   # doctest: +SKIP

"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import meshes as M
from .categories import list_categories, make_instance, rng_for
from .occlusion import cover_level
from .render import bbox
from .scene import WORLD_VERSION, direction

VIDEO_VERSION = 1  # bump when the plan or the files change, so old clips are redone
SPP = 4
FOV = 40.0
LANE_SPAN = (-1.4, 1.4)  # world z range shared by the objects' lanes
X_LIMIT = 1.3  # objects bounce between x = -X_LIMIT and +X_LIMIT
TARGET_Y = 0.4
AMBIENT = 0.3
LIGHT_INTENSITY = 2.6
OCCLUDER_LABEL = 1000  # same as `_mitsuba.OCCLUDER_LABEL` (kept here so planning needs no Mitsuba)


@dataclass(frozen=True)
class ObjectTrack:
    """One object: instance, size (bounding-sphere radius) and motion on the floor."""

    category: str
    seed: int
    radius: float
    x0: float
    vx: float  # world units per frame
    z0: float
    vz: float
    z_lo: float  # lane bounds for the centre
    z_hi: float
    yaw0: float  # degrees
    yaw_rate: float  # degrees per frame


@dataclass(frozen=True)
class OccluderTrack:
    """A vertical pillar facing the camera that crosses the image once.

    Its centre is at horizontal depth `depth * camera distance` in front of the camera and at
    lateral offset `u(t) * half view width` there, with `u(t) = direction * (t - t_mid) * 3 / n_cross`.
    """

    width: float  # in half view widths at its depth
    depth: float
    t_mid: float
    n_cross: float
    direction: int
    material_seed: int


@dataclass(frozen=True)
class ClipPlan:
    """Everything that decides a clip's pixels (pure data; `frame_state` turns it into transforms)."""

    name: str
    seed: int
    index: int
    frames: int
    resolution: int
    objects: tuple[ObjectTrack, ...]
    occluders: tuple[OccluderTrack, ...]
    cam_azimuth0: float
    cam_azimuth_rate: float
    cam_elevation0: float
    cam_elevation_rate: float
    distance0: float
    distance_rate: float
    light_azimuth0: float
    light_azimuth_rate: float
    light_elevation: float
    light_rgb0: tuple[float, float, float]
    light_rgb1: tuple[float, float, float]
    background: str
    bg_seed: int
    floor_seed: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def clip_name(seed: int, index: int) -> str:
    """`SynthWorld_s<seed>_<index + 1, 6 digits>` (GOT-10k names clips `GOT-10k_Train_000001`)."""
    return f"SynthWorld_s{seed}_{index + 1:06d}"


def _near_white(rng: np.random.Generator) -> tuple[float, float, float]:
    rgb = 1.0 + rng.uniform(-0.15, 0.15, 3)
    rgb /= 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return tuple(round(float(c), 6) for c in rgb)


def _signed(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi) * (1 if rng.uniform() < 0.5 else -1))


def plan_clip(seed: int, index: int, frames: int = 32, resolution: int = 128, objects_per_clip: tuple[int, int] = (1, 3)) -> ClipPlan:
    """The plan of clip `index` under `seed` (deterministic; independent of the other clips).

    Object 0 is the primary object (the one in `groundtruth.txt`): it starts near the centre of
    the scene and moves more slowly than the others.
    """
    lo, hi = int(objects_per_clip[0]), int(objects_per_clip[1])
    if not 1 <= lo <= hi:
        raise ValueError(f"objects_per_clip must be (lo, hi) with 1 <= lo <= hi, got {objects_per_clip}")
    if frames < 1 or resolution < 8:
        raise ValueError(f"frames must be >= 1 and resolution >= 8 (got frames={frames}, resolution={resolution})")
    rng = rng_for("video", seed, index)
    cats = list_categories()
    k = int(rng.integers(lo, hi + 1))
    lane_w = (LANE_SPAN[1] - LANE_SPAN[0]) / k
    lanes = rng.permutation(k)
    objs = []
    for i in range(k):
        cat = str(cats[int(rng.integers(len(cats)))])
        r = float(rng.uniform(0.4, max(0.4, min(0.7, lane_w / 2 - 0.02))))
        z_lo = LANE_SPAN[0] + lanes[i] * lane_w + r
        z_hi = LANE_SPAN[0] + (lanes[i] + 1) * lane_w - r
        primary = i == 0
        objs.append(
            ObjectTrack(
                category=cat,
                seed=int(rng.integers(2**31)),
                radius=round(r, 6),
                x0=round(float(rng.uniform(-0.3, 0.3) if primary else rng.uniform(-X_LIMIT, X_LIMIT)), 6),
                vx=round(_signed(rng, 0.008, 0.025 if primary else 0.05), 6),
                z0=round(float(rng.uniform(z_lo, z_hi)), 6),
                vz=round(_signed(rng, 0.0, 0.01), 6),
                z_lo=round(float(z_lo), 6),
                z_hi=round(float(z_hi), 6),
                yaw0=round(float(rng.uniform(0, 360)), 6),
                yaw_rate=round(_signed(rng, 1.5, 6.0), 6),
            )
        )
    occs = []
    for _ in range(int(rng.integers(0, 3))):
        occs.append(
            OccluderTrack(
                width=round(float(rng.uniform(0.15, 0.5)), 6),
                depth=round(float(rng.uniform(0.3, 0.55)), 6),
                t_mid=round(float(rng.uniform(0.35, 0.75) * frames), 6),
                n_cross=round(float(max(1.0, rng.uniform(0.3, 0.6) * frames)), 6),
                direction=1 if rng.uniform() < 0.5 else -1,
                material_seed=int(rng.integers(2**31)),
            )
        )
    return ClipPlan(
        name=clip_name(seed, index),
        seed=int(seed),
        index=int(index),
        frames=int(frames),
        resolution=int(resolution),
        objects=tuple(objs),
        occluders=tuple(occs),
        cam_azimuth0=round(float(rng.uniform(60, 120)), 6),
        cam_azimuth_rate=round(_signed(rng, 0.2, 0.8), 6),
        cam_elevation0=round(float(rng.uniform(12, 30)), 6),
        cam_elevation_rate=round(_signed(rng, 0.0, 0.2), 6),
        distance0=round(float(rng.uniform(4.2, 5.0)), 6),
        distance_rate=round(_signed(rng, 0.0, 0.01), 6),
        light_azimuth0=round(float(rng.uniform(0, 360)), 6),
        light_azimuth_rate=round(_signed(rng, 0.5, 2.0), 6),
        light_elevation=round(float(rng.uniform(30, 65)), 6),
        light_rgb0=_near_white(rng),
        light_rgb1=_near_white(rng),
        background=str(rng.choice(["plain", "gradient", "clutter"])),
        bg_seed=int(rng.integers(2**31)),
        floor_seed=int(rng.integers(2**31)),
    )


def _bounce(x: float, lo: float, hi: float) -> float:
    """Fold x into [lo, hi] by reflection at the ends (a triangle wave)."""
    if hi <= lo:
        return (lo + hi) / 2
    span = hi - lo
    y = (x - lo) % (2 * span)
    return lo + (y if y <= span else 2 * span - y)


def _occluder_size(o: OccluderTrack, plan: ClipPlan) -> tuple[float, float, float]:
    """World size (width, height, thickness) of an occluder pillar (fixed for the clip)."""
    half_w = o.depth * plan.distance0 * math.tan(math.radians(FOV) / 2)
    return (o.width * half_w, 8.0, 0.08)


def frame_state(plan: ClipPlan, t: int) -> dict[str, Any]:
    """Camera, light and the 4x4 transform of every object and occluder at frame `t` (0-based)."""
    el = float(np.clip(plan.cam_elevation0 + plan.cam_elevation_rate * t, 8.0, 40.0))
    dist = float(np.clip(plan.distance0 + plan.distance_rate * t, 3.8, 5.6))
    az = plan.cam_azimuth0 + plan.cam_azimuth_rate * t
    target = np.array([0.0, TARGET_Y, 0.0])
    origin = target + dist * direction(az, el)
    objects = []
    for o in plan.objects:
        inst_bottom = _bottom(o.category, o.seed)
        x = _bounce(o.x0 + o.vx * t, -X_LIMIT, X_LIMIT)
        z = _bounce(o.z0 + o.vz * t, o.z_lo, o.z_hi)
        objects.append(M.chain(M.translate(x, -inst_bottom * o.radius, z), M.rotate("y", o.yaw0 + o.yaw_rate * t), M.scale(o.radius, o.radius, o.radius)))
    fwd = target - origin
    fwd = np.array([fwd[0], 0.0, fwd[2]])
    fwd /= np.linalg.norm(fwd)
    up = np.array([0.0, 1.0, 0.0])
    right = np.cross(fwd, up)
    occluders = []
    for o in plan.occluders:
        d = o.depth * dist
        half_w = d * math.tan(math.radians(FOV) / 2)
        u = o.direction * (t - o.t_mid) * 3.0 / o.n_cross
        c = np.array([origin[0], 0.0, origin[2]]) + fwd * d + right * (u * half_w)
        R = np.eye(4)
        R[:3, 0], R[:3, 1], R[:3, 2] = right, up, fwd
        occluders.append(M.translate(*c) @ R)
    s = t / max(1, plan.frames - 1)
    rgb = (1 - s) * np.asarray(plan.light_rgb0) + s * np.asarray(plan.light_rgb1)
    light_from = direction(plan.light_azimuth0 + plan.light_azimuth_rate * t, plan.light_elevation)
    return {
        "origin": origin,
        "target": target,
        "fov": FOV,
        "objects": objects,
        "occluders": occluders,
        "light_direction": -light_from,
        "light_rgb": rgb * LIGHT_INTENSITY,
    }


_BOTTOMS: dict[tuple[str, int], float] = {}


def _bottom(category: str, seed: int) -> float:
    key = (category, seed)
    if key not in _BOTTOMS:
        _BOTTOMS[key] = make_instance(category, seed).bottom
    return _BOTTOMS[key]


class ClipRenderer:
    """Renders the frames of one clip, building its meshes once."""

    def __init__(self, plan: ClipPlan):
        from . import _mitsuba as R

        self.plan = plan
        occ = [(*_occluder_size(o, plan), o.material_seed) for o in plan.occluders]
        self.meshes = R.VideoMeshes([(o.category, o.seed) for o in plan.objects], occ, plan.floor_seed, AMBIENT)

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Render frame `t` (0-based): (sRGB uint8 image, labels, unoccluded masks).

        Labels (H, W) int32: 0 none, k + 1 object k, 1000 + j occluder j; masks (K, H, W) bool.
        """
        p = self.plan
        return self.meshes.render(frame_state(p, t), p.resolution, SPP, p.background, p.bg_seed)


def frame_labels(plan: ClipPlan, t: int) -> np.ndarray:
    """The label image of frame `t` (0-based) alone, e.g. to check a clip's boxes independently."""
    return ClipRenderer(plan).render(t)[1]


# -- writing clips ------------------------------------------------------------------------------
def frame_name(t: int) -> str:
    """File name of frame `t` (0-based): `00000001.jpg` for t = 0."""
    return f"{t + 1:08d}.jpg"


def _fmt_box(b) -> str:
    return ",".join(f"{v:.4f}" for v in b)


def _params(frames: int, resolution: int, seed: int, objects_per_clip) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "frames": int(frames),
        "resolution": int(resolution),
        "seed": int(seed),
        "objects_per_clip": [int(objects_per_clip[0]), int(objects_per_clip[1])],
        "spp": SPP,
        "video_version": VIDEO_VERSION,
        "world_version": WORLD_VERSION,
        "mitsuba": version("mitsuba"),
    }


def clip_complete(folder: Path, frames: int, params: dict[str, Any] | None = None) -> bool:
    """Whether `folder` is a complete clip.

    Complete: every frame, `groundtruth.txt` with one line per frame and, if `params` is given,
    an `objects.json` written with the same parameters.
    """
    folder = Path(folder)
    gt = folder / "groundtruth.txt"
    if not gt.is_file() or len(gt.read_text().splitlines()) != frames:
        return False
    if not all((folder / frame_name(t)).is_file() for t in range(frames)):
        return False
    if params is not None:
        try:
            meta = json.loads((folder / "objects.json").read_text())
        except (OSError, ValueError):
            return False
        if meta.get("params") != params:
            return False
    return True


def _write_clip(plan: ClipPlan, folder: Path, params: dict[str, Any]) -> None:
    """Render every frame of `plan` and write the clip's files into `folder` (created)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rend = ClipRenderer(plan)
    K = len(plan.objects)
    per = [{"boxes": [], "visible_fraction": [], "cover": [], "pixels": [], "unoccluded_pixels": [], "cut_by_image": []} for _ in range(K)]
    cameras, lights = [], []
    for t in range(plan.frames):
        rgb, labels, alone = rend.render(t)
        Image.fromarray(rgb).save(folder / frame_name(t), format="JPEG", quality=95)
        st = frame_state(plan, t)
        cameras.append({"origin": [round(float(v), 6) for v in st["origin"]], "target": [round(float(v), 6) for v in st["target"]], "fov": FOV})
        lights.append({"direction": [round(float(v), 6) for v in st["light_direction"]], "rgb": [round(float(v), 6) for v in st["light_rgb"]]})
        for k in range(K):
            m = labels == k + 1
            n, n0 = int(m.sum()), int(alone[k].sum())
            vis = n / n0 if n0 else 0.0
            a = alone[k]
            cut = bool(a[0].any() or a[-1].any() or a[:, 0].any() or a[:, -1].any())
            per[k]["boxes"].append(bbox(m))
            per[k]["visible_fraction"].append(round(vis, 6))
            per[k]["cover"].append(cover_level(vis) if n0 else 0)
            per[k]["pixels"].append(n)
            per[k]["unoccluded_pixels"].append(n0)
            per[k]["cut_by_image"].append(int(cut))
    prim = per[0]["boxes"]
    lines, last = [], None
    first = next((b for b in prim if b is not None), None)
    for b in prim:
        if b is not None:
            last = b
        lines.append(_fmt_box(b if b is not None else (last if last is not None else (first if first is not None else (0, 0, 0, 0)))))
    (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (folder / "absence.label").write_text("".join(f"{int(b is None)}\n" for b in prim))
    (folder / "cover.label").write_text("".join(f"{c}\n" for c in per[0]["cover"]))
    (folder / "cut_by_image.label").write_text("".join(f"{c}\n" for c in per[0]["cut_by_image"]))
    (folder / "meta_info.ini").write_text(
        "[METAINFO]\nurl: synthworld\nbegin: 00:00:00\nend: 00:00:00\nanno_fps: 10Hz\n"
        f"object_class: {plan.objects[0].category}\nmotion_class: translating and turning\n"
        "major_class: synthworld\nroot_class: object\nmotion_adverb: slowly\n"
    )
    objects = [
        {"id": k + 1, "category": o.category, "instance_seed": o.seed, "primary": k == 0, **per[k]} for k, o in enumerate(plan.objects)
    ]
    meta = {
        "clip": plan.name,
        "params": params,
        "box_format": "x,y,w,h in pixels (GOT-10k); null where the object has no visible pixel",
        "labels": "id buffer: 0 background/floor, k+1 object k (objects[k]['id']), 1000+j occluder j",
        "objects": objects,
        "cameras": cameras,
        "lights": lights,
        "plan": plan.to_json(),
    }
    (folder / "objects.json").write_text(json.dumps(meta, indent=1))


def _render_clip(args: tuple[ClipPlan, str, dict[str, Any], int]) -> str:
    plan, out_dir, params, threads = args
    if threads:
        import drjit as dr

        dr.set_thread_count(threads)
    out = Path(out_dir)
    final = out / plan.name
    tmp_root = out / ".partial"
    for stale in tmp_root.glob(f"{plan.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = tmp_root / f"{plan.name}.{os.getpid()}"
    _write_clip(plan, tmp, params)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return plan.name


def render_videos(
    out_dir: str | os.PathLike,
    clips: int | Iterable[int],
    *,
    frames: int = 32,
    resolution: int = 128,
    seed: int = 0,
    objects_per_clip: tuple[int, int] = (1, 3),
    workers: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """Render SynthWorld clips into `out_dir` in GOT-10k train layout; returns the clip folders.

    Args:
        out_dir: output folder (created).
        clips: number of clips (indices 0..clips-1), or the clip indices to render (to shard a
            big run over machines).
        frames: frames per clip.
        resolution: frame side in pixels.
        seed: world seed; clip i under a seed always has the same content.
        objects_per_clip: (min, max) number of objects in a clip; object 0 is the primary.
        workers: processes (default: one per CPU core, at most one per clip; 1 renders here).
        progress: show a tqdm bar over clips.

    Clips already complete with the same parameters are skipped; partial ones are redone.
    `list.txt` lists this call's clips plus complete clips it already listed.

    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    indices = list(range(int(clips))) if isinstance(clips, (int, np.integer)) else [int(i) for i in clips]
    params = _params(frames, resolution, seed, objects_per_clip)
    plans = [plan_clip(seed, i, frames, resolution, objects_per_clip) for i in indices]
    todo = [p for p in plans if not clip_complete(out / p.name, frames, params)]
    if todo:
        n_cpu = os.cpu_count() or 1
        workers = max(1, min(workers or n_cpu, len(todo)))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="synth videos", unit="clip")
        if workers == 1:
            for p in todo:
                _render_clip((p, str(out), params, 0))
                if bar is not None:
                    bar.update(1)
        else:
            import multiprocessing as mp

            threads = max(1, n_cpu // workers)
            method = "spawn" if "mitsuba" in sys.modules or sys.platform != "linux" else "fork"
            with mp.get_context(method).Pool(workers) as pool:
                for _ in pool.imap_unordered(_render_clip, [(p, str(out), params, threads) for p in todo]):
                    if bar is not None:
                        bar.update(1)
        if bar is not None:
            bar.close()
        partial = out / ".partial"
        if partial.is_dir() and not any(partial.iterdir()):
            partial.rmdir()
    names = [p.name for p in plans]
    lst = out / "list.txt"
    if lst.is_file():
        names += [n for n in lst.read_text().split() if (out / n / "groundtruth.txt").is_file()]
    names = sorted(set(names))
    tmp = out / f".list.txt.{os.getpid()}.tmp"
    tmp.write_text("".join(f"{n}\n" for n in names))
    os.replace(tmp, lst)
    return [out / p.name for p in plans]


__all__ = ["ClipPlan", "ObjectTrack", "OccluderTrack", "clip_complete", "clip_name", "frame_labels", "frame_name", "frame_state", "plan_clip", "render_videos"]
