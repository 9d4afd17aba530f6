"""`mesh-viewpoint:DIR`, `mesh-illum-dir:DIR`, `mesh-illum-color:DIR`, `mesh-occlusion:DIR`.

The SynthWorld sweeps on a folder of the user's own meshes, `DIR/<class>/<object>.{obj,ply,stl,off,glb}`
(e.g. a ShapeNet / ModelNet / Google Scanned Objects subset they own). Each mesh is normalised to
the unit sphere and keeps its own colours where the file has them (OBJ + MTL `map_Kd` image
textures over the file's UVs, PLY/OBJ per-vertex colours; `categories.load_mesh_appearance`);
a mesh without any gets a sampled procedural colour/texture. A texture the material names but
that is missing or cannot be decoded is an error naming it (trimesh alone would drop it silently).
Set = `<class>/<object>`, class = `<class>`. A mesh that cannot be read or has no triangles stops
the build with its name (`on_error="raise"`, default) or is skipped with a warning
(`on_error="skip"`). The cache key includes a SHA-256 of each file (and of the MTL files and
textures an OBJ names), so an edited mesh or texture re-renders.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ..errors import ProbeError
from ..probes._base import Probe, register_probe
from . import sweeps
from .probes import _check_options, probe_from_rows, with_background

MESH_EXTENSIONS = frozenset({".obj", ".ply", ".stl", ".off", ".glb"})
_SWEEPS = {"mesh-viewpoint": "synth-viewpoint", "mesh-illum-dir": "synth-illum-dir", "mesh-illum-color": "synth-illum-color", "mesh-occlusion": "synth-occlusion"}


def find_meshes(base: Path, on_error: str = "raise") -> list[tuple[str, str, str]]:
    """(category string, class, object) for every readable mesh under `base/<class>/`."""
    from .categories import load_mesh_file, mesh_file_category

    out = []
    for cdir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(p for p in cdir.iterdir() if p.suffix.lower() in MESH_EXTENSIONS):
            try:
                load_mesh_file(f)
            except ValueError as exc:
                if on_error == "skip":
                    warnings.warn(f"skipping {exc}", stacklevel=2)
                    continue
                raise ProbeError(f"{exc}; fix or remove it, or pass on_error='skip' (--on-error skip)") from exc
            out.append((mesh_file_category(f), cdir.name, f.stem))
    return out


def build_mesh_probe(name: str, arg: str | None, root=None, **options: Any) -> Probe:
    """Build a `mesh-*` probe over the folder `arg`."""
    on_error = options.pop("on_error", "raise")
    _check_options(name, options)
    if not arg or not Path(arg).expanduser().is_dir():
        raise ProbeError(f"probe {name!r} needs a folder: --probe {name}:DIR with DIR/<class>/<object>.obj|.ply (got {arg!r})")
    base = Path(arg).expanduser()
    found = find_meshes(base, on_error)
    if not found:
        raise ProbeError(f"{name}: no meshes ({', '.join(sorted(MESH_EXTENSIONS))}) found at {base}/<class>/<object>")
    label = {cat: (cls, obj) for cat, cls, obj in found}
    factor_name, fn = sweeps.SWEEPS[_SWEEPS[name]]
    res, seed = int(options.get("resolution", 128)), int(options.get("seed", 0))
    rows = []
    built = with_background(fn([c for c, _, _ in found], 0.5, seed, res), options.get("background", "mixed"), name)
    for job, _set, _cls, factor, box in built:  # scale 0.5: one set per mesh
        cls, obj = label[job.category]
        rows.append((job, f"{cls}/{obj}", cls, factor, box))
    return probe_from_rows(name, factor_name, rows, options, {"folder": base.name, "seed": seed, "resolution": res})


def _register(name: str) -> None:
    def factory(arg: str | None = None, root=None, **options: Any) -> Probe:
        return build_mesh_probe(name, arg, root, **options)

    factory.__name__ = name.replace("-", "_")
    register_probe(name)(factory)


for _name in _SWEEPS:
    _register(_name)
