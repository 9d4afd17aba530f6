"""`manifest:PATH`: run a probe from a frozen probe manifest (`data prepare NAME --manifest-out PATH`).

A manifest fixes the item list (relative paths, boxes, sets, classes, factor values; see
`datasets/manifests.py`), so two labs measure exactly the same sets without re-running the
selection (no random draw, no listing of folders). The rebuilt probe has the original's name,
params and digest; a manifest whose items no longer give its recorded digest is refused.

Where the image files are: the item paths are relative to the dataset folder the probe was built
on (`<data root>/ALOI_viewpoint`, `<data root>/GOT-10k/train`, ...). It is found, in order:

1. `dataset_root=DIR` (`--probe-option dataset_root=DIR`): that folder itself;
2. under the data root (`--data-root`, else `$INVARIANCE_LAB_DATA`, else the config file):
   `<data root>/<root_rel>` (recorded by `data prepare`), then `<data root>` itself, then
   `<data root>/<root_name>`; the first that holds the first item's file wins.

Then the files are checked (option `verify`): `size` (default) stats every file and compares it
with the size the manifest recorded; `sha256` also hashes every file; `exists` only checks that
they are there; `none` skips the check. Missing or changed files are an error that names them
(the first 20 and how many in all). Older manifests without sizes are checked for existence.
"""

from __future__ import annotations

from pathlib import Path

from ..config import resolve_data_root
from ..datasets._common import DatasetError, DatasetNotFound, Problem
from ..datasets.manifests import file_sha256, load_probe_manifest, read_probe_manifest
from ..errors import ProbeError
from ._base import Probe, register_probe

VERIFY = ("size", "sha256", "exists", "none")
_SHOWN = 20


def _candidates(data: dict, dataset_root, root) -> list[Path]:
    if dataset_root is not None:
        return [Path(dataset_root).expanduser()]
    base = Path(resolve_data_root(root, required_by="a manifest: probe (its item paths are relative)"))
    out = []
    if data.get("root_rel"):
        out.append(base / data["root_rel"])
    out.append(base)
    if data.get("root_name"):
        out.append(base / data["root_name"])
    return list(dict.fromkeys(out))


def _check_files(probe: Probe, data: dict, verify: str, source: Path) -> None:
    problems: list[Problem] = []
    for it, d in zip(probe.items, data["items"], strict=True):
        f = probe.resolve(it)
        try:
            size = f.stat().st_size
        except OSError:
            problems.append(Problem(str(f), "missing"))
            continue
        if verify in ("size", "sha256") and d.get("bytes") is not None and size != d["bytes"]:
            problems.append(Problem(str(f), f"changed: {size} bytes, the manifest recorded {d['bytes']}"))
        elif verify == "sha256" and d.get("sha256") and file_sha256(f) != d["sha256"]:
            problems.append(Problem(str(f), f"changed: sha256 differs from the manifest's {d['sha256'][:12]}…"))
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:_SHOWN])
        more = f"\n  … and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise DatasetError(
            f"probe manifest {source}: {len(problems)} of {len(probe)} image files under {probe.root} are missing or changed:\n"
            f"  {shown}{more}\nRestore them (or point --data-root / --probe-option dataset_root=DIR at the right copy); "
            "a changed dataset needs a new manifest (`data prepare NAME --manifest-out`)",
            problems,
        )


@register_probe("manifest")
def manifest_probe(arg=None, root=None, dataset_root=None, verify: str = "size", **options) -> Probe:
    """A frozen probe manifest (`manifest:PATH`, written by `data prepare NAME --manifest-out PATH`)."""
    if not arg:
        raise ProbeError("the manifest probe needs a path: manifest:PATH (a file written by `data prepare NAME --manifest-out PATH`)")
    if options:
        raise ProbeError(f"manifest:{arg}: a frozen manifest takes no selection options (got {sorted(options)}); "
                         f"only dataset_root=DIR and verify={'|'.join(VERIFY)}")  # fmt: skip
    if verify not in VERIFY:
        raise ProbeError(f"manifest:{arg}: verify must be one of {', '.join(VERIFY)}, got {verify!r}")
    source = Path(arg).expanduser()
    data = read_probe_manifest(source)
    first = data["items"][0]["path"] if data["items"] else None
    tried = _candidates(data, dataset_root, root)
    folder = next((c for c in tried if first is not None and (c / first).is_file()), None)
    if folder is None:
        raise DatasetNotFound(
            f"probe manifest {source} ({data['name']}, {len(data['items'])} images): its first image {first!r} is not under "
            + " or ".join(str(c) for c in tried)
            + "; pass the data root it was made under (--data-root DIR) or the dataset folder itself (--probe-option dataset_root=DIR)"
        )
    probe = load_probe_manifest(source, root=folder)  # refuses a manifest whose items do not give its digest
    if verify != "none":
        _check_files(probe, data, verify, source)
    probe.source_manifest = str(source.resolve())
    return probe
