"""`folder:PATH` — measure any transformation you collected yourself.

Layout::

    PATH/<class>/<set>/<image>.{jpg,jpeg,png,bmp,webp,tif,tiff,ppm}

Each `<set>` folder holds images of one object under the transformation you want to measure
(e.g. the same mug photographed from 12 directions); `<class>` groups sets of the same category.
Set ids are `<class>/<set>`, so two classes may reuse set names. The factor of an image is its file
stem. Files are ordered by natural sort (`img2` before `img10`). Hidden files and other extensions
are ignored; a set with no images is skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ProbeError
from ._base import Probe, ProbeItem, register_probe

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm"})


def natural_key(name: str) -> list:
    """Sort key that orders digit runs numerically (`r5` < `r10`)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _subdirs(path: Path) -> list[Path]:
    return sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: natural_key(p.name))


@register_probe("folder")
def folder_probe(arg: str | None, root=None, **options) -> Probe:
    """Build the `folder:PATH` probe (PATH/<class>/<set>/<image>)."""
    if options:
        raise ProbeError(f"probe 'folder' takes no options, got {sorted(options)}")
    if not arg:
        raise ProbeError("probe 'folder' needs a path: --probe folder:PATH with PATH/<class>/<set>/<image>")
    base = Path(arg).expanduser()
    if not base.is_dir():
        raise ProbeError(f"folder probe: {base} is not a directory (expected PATH/<class>/<set>/<image>)")
    items: list[ProbeItem] = []
    for cdir in _subdirs(base):
        for sdir in _subdirs(cdir):
            files = sorted(
                (f for f in sdir.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith(".")),
                key=lambda f: natural_key(f.name),
            )
            for f in files:
                items.append(ProbeItem(path=str(f.relative_to(base)), set_id=f"{cdir.name}/{sdir.name}", class_id=cdir.name, factor=f.stem))
    if not items:
        loose = [p.name for p in base.iterdir()][:5]
        raise ProbeError(
            f"folder probe: no images found in {base} at depth <class>/<set>/<image> "
            f"(top-level entries: {loose or 'none'}); see `invariance-lab evaluate --help`"
        )
    return Probe(name="folder", factor="user-defined", items=items, root=base.resolve(), params={"path": base.name})
