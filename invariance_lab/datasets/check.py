"""`data check`: does a dataset on disk match its layout, and can its probes run.

For each probe of the dataset the probe is built with `on_error=skip` (so every layout problem is
collected rather than the first), then every image the probe uses is decoded (`decode=True`),
and archives lying in the root are checked against their published checksums. Every missing,
truncated or undecodable file is listed by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ProbeError
from ._common import DatasetNotFound, Problem, verify_image


@dataclass
class ProbeCheck:
    name: str
    found: bool
    n_images: int = 0
    n_sets: int = 0
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.found and not self.problems and self.error is None


@dataclass
class CheckReport:
    dataset: str
    root: Path
    probes: list[ProbeCheck]
    archives: list[tuple[str, str]]  # (archive, status)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.probes) and not any(s.startswith("BAD") for _, s in self.archives)

    @property
    def any_found(self) -> bool:
        return any(p.found for p in self.probes)


def file_digest(path: Path, algo: str = "md5", chunk: int = 1 << 20) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_archives(manifest: dict, root: Path) -> list[tuple[str, str]]:
    out = []
    for a in manifest.get("archives", []):
        for where in (root / a["name"], root / ".downloads" / a["name"]):
            if where.is_file():
                if a.get("md5"):
                    got = file_digest(where, "md5")
                    out.append((str(where), "ok (md5)" if got == a["md5"] else f"BAD md5 {got}, expected {a['md5']}"))
                elif a.get("sha256"):
                    got = file_digest(where, "sha256")
                    out.append((str(where), "ok (sha256)" if got == a["sha256"] else f"BAD sha256 {got}, expected {a['sha256']}"))
                else:
                    out.append((str(where), "present (no published checksum)"))
    return out


def check_probe(name: str, root: Path, decode: bool = True, progress=None, **options) -> ProbeCheck:
    """Build probe `name` under `root` collecting problems, then decode the images it uses."""
    from ..probes import get_probe

    try:
        probe = get_probe(name, root=root, on_error="skip", **options)
    except DatasetNotFound as exc:
        return ProbeCheck(name, found=False, error=str(exc))
    except ProbeError as exc:  # found, but nothing usable (every item left out) or bad options
        return ProbeCheck(name, found=True, problems=list(getattr(exc, "problems", [])), error=str(exc))
    chk = ProbeCheck(name, True, len(probe), len({it.set_id for it in probe.items}), list(getattr(probe, "problems", [])))
    if decode:
        seen = set()
        for it in probe.items:
            path = probe.resolve(it)
            if path in seen:
                continue
            seen.add(path)
            what = verify_image(path)
            if what:
                chk.problems.append(Problem(str(path), what))
            if progress:
                progress(1)
    return chk


def check_dataset(dataset: str, root: Path, decode: bool = True, probe_options: dict | None = None, progress=None) -> CheckReport:
    """Check every probe of data manifest `dataset` (or one probe, when `dataset` is a probe name)."""
    from .manifests import dataset_of_probe, list_data_manifests, load_data_manifest

    if dataset in list_data_manifests():
        manifest = load_data_manifest(dataset)
        probes = list(manifest["probes"])
    else:
        ds = dataset_of_probe(dataset)
        if ds is None:
            raise ProbeError(f"unknown dataset or probe {dataset!r}; datasets: {', '.join(list_data_manifests())}")
        manifest, probes = load_data_manifest(ds), [dataset]
    root = Path(root)
    checks = [check_probe(p, root, decode, progress, **(probe_options or {})) for p in probes]
    return CheckReport(manifest["id"], root, checks, check_archives(manifest, root))
