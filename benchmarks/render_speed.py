"""Images/s of the SynthWorld render path vs a bare `mi.render` of the same pre-built scene.

Usage:
    python benchmarks/render_speed.py [--n 60] [--res 128] [--category chair] [--background envmap]

Prints three figures for a typical scene (one object, floor, key light, ambient fill, gradient
backdrop; `direct` integrator, 4 spp, `scalar_rgb`):
- bare: `mi.render` of one pre-built scene, repeated (Mitsuba's own speed, all cores);
- path: SynthWorld's in-process path per image (scene build + render + compositing + PNG encode),
  over different azimuths, and its ratio to bare (target >= 0.8);
- pool: `render_jobs` end to end into a fresh cache (worker processes, one per core, files written).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="images per measurement")
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--category", default="chair")
    ap.add_argument("--background", default="gradient", help="plain, gradient, clutter or envmap (an environment-map emitter in the scene)")
    args = ap.parse_args()

    from PIL import Image

    from invariance_lab.synthworld import _mitsuba as R
    from invariance_lab.synthworld.render import render_jobs, render_one
    from invariance_lab.synthworld.scene import RenderJob, View

    jobs = [RenderJob(args.category, 0, View(azimuth=360.0 * i / args.n, background=args.background), args.res) for i in range(args.n)]
    with R.variant("scalar_rgb") as mi:
        scene, _ = R.build_scene(mi, jobs[0])
        mi.render(scene, seed=0)
        t = time.perf_counter()
        for _ in range(args.n):
            mi.render(scene, seed=0)
        bare = args.n / (time.perf_counter() - t)

    render_one(jobs[0])  # warm the instance cache, as within a probe set
    t = time.perf_counter()
    for j in jobs:
        img, _ = render_one(j)
        Image.fromarray(img).save(io.BytesIO(), format="PNG")
    path = args.n / (time.perf_counter() - t)

    pool_jobs = [RenderJob(c, s, View(azimuth=a), args.res) for c in ("chair", "car") for s in (0, 1) for a in range(0, 360, 360 // max(1, args.n // 4))]
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        render_jobs(pool_jobs, d)
        pool = len(pool_jobs) / (time.perf_counter() - t)

    print(f"bare mi.render      : {bare:6.1f} images/s ({args.res}x{args.res}, {jobs[0].spp} spp, direct, scalar_rgb)")
    print(f"SynthWorld path     : {path:6.1f} images/s   ratio to bare: {path / bare:.2f} (target >= 0.8)")
    print(f"render_jobs (pool)  : {pool:6.1f} images/s   ({len(pool_jobs)} images incl. worker start-up and PNG/JSON writes)")


if __name__ == "__main__":
    main()
