"""SynthWorld: a procedural 3-D world rendered with Mitsuba 3, the embedded default probe source.

Modules: `meshes` (parametric parts), `categories` (object categories and instance generators),
`scene` (views, lights, occluders, backgrounds), `_mitsuba` (scene building and rendering, the
only module that touches Mitsuba, lazily), `occlusion` (cover levels), `render` (the PNG cache and
worker pool), `sweeps` (which images form each probe set), `probes` (the registered `synth-*`
probes), `preview` (battery and contact sheets), `manifest` (frozen probe manifests), `videos`
(GOT-10k-style clips for the temporal trainers).

Importing this package does not import Mitsuba or register probes (`invariance_lab.probes` does).
"""

from .preview import BATTERY, render_battery, render_preview
from .videos import render_videos

__all__ = ["BATTERY", "render_battery", "render_preview", "render_videos"]
