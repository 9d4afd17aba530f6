"""Data manifests (what a dataset is and where it comes from) and probe manifests (frozen item lists).

Data manifests live in `data_manifests/<id>.yaml` at the repository root (one per dataset; no
data). Required fields, checked by `validate_data_manifest`:

    id, title, homepage, access (open | registration), license {text, verified}, citation (BibTeX),
    archives [{name, url, md5|null, sha256|null, size_bytes|null, member_root|null}],
    layout (free text or list of patterns), counts (mapping), probes (registered names),
    sources [{what, where, tag}]   # tag: code | run | 3rd | unverified

`registration_url` is required when access is `registration` (`data fetch` refuses and prints it).

A probe manifest freezes which images form each set, so that two labs measure the same sets:
canonical JSON (sorted keys, compact separators, UTF-8, trailing newline) with schema
`invariance_lab.probe/v1`, the probe's name, factor, params, digest and its items (path relative
to the dataset folder, POSIX separators; set, class, factor, box). `load_probe_manifest` rebuilds
the `Probe` from it without any random draw.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import ProbeError

PROBE_SCHEMA = "invariance_lab.probe/v1"
ACCESS = ("open", "registration")
TAGS = ("code", "run", "3rd", "unverified")
REQUIRED = ("id", "title", "homepage", "access", "license", "citation", "archives", "layout", "counts", "probes", "sources")


def manifests_dir() -> Path:
    """`data_manifests/` of the source tree (override with $INVARIANCE_LAB_MANIFESTS)."""
    env = os.environ.get("INVARIANCE_LAB_MANIFESTS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data_manifests"


def list_data_manifests() -> list[str]:
    d = manifests_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def load_data_manifest(name: str) -> dict[str, Any]:
    path = manifests_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ProbeError(f"no data manifest {name!r} (known: {', '.join(list_data_manifests()) or 'none'}) in {manifests_dir()}")
    data = yaml.safe_load(path.read_text())
    problems = validate_data_manifest(data)
    if problems:
        raise ProbeError(f"data manifest {path} is invalid: " + "; ".join(problems))
    return data


def dataset_of_probe(probe: str) -> str | None:
    """The data manifest id whose `probes` lists `probe`, or None."""
    for name in list_data_manifests():
        data = yaml.safe_load((manifests_dir() / f"{name}.yaml").read_text())
        if probe in (data.get("probes") or []):
            return name
    return None


def validate_data_manifest(d: Any) -> list[str]:
    """Everything wrong with a data manifest (empty list when valid)."""
    if not isinstance(d, dict):
        return ["not a mapping"]
    out = [f"missing field {k!r}" for k in REQUIRED if k not in d]
    if out:
        return out
    if d["access"] not in ACCESS:
        out.append(f"access must be one of {ACCESS}")
    if d["access"] == "registration" and not str(d.get("registration_url", "")).startswith("http"):
        out.append("access 'registration' needs a registration_url")
    lic = d["license"]
    if not (isinstance(lic, dict) and isinstance(lic.get("text"), str) and isinstance(lic.get("verified"), bool)):
        out.append("license must be {text: str, verified: bool}")
    if not (isinstance(d["citation"], str) and d["citation"].lstrip().startswith("@") and "title" in d["citation"]):
        out.append("citation must be a BibTeX entry")
    if not isinstance(d["archives"], list):
        out.append("archives must be a list")
    else:
        for i, a in enumerate(d["archives"]):
            if not isinstance(a, dict) or not a.get("name") or "url" not in a:
                out.append(f"archives[{i}] needs name and url")
                continue
            for k in ("md5", "sha256", "size_bytes"):
                if k not in a:
                    out.append(f"archives[{i}] ({a['name']}) needs {k} (null when unknown)")
            if a.get("md5") is not None and not (isinstance(a["md5"], str) and len(a["md5"]) == 32 and all(c in "0123456789abcdef" for c in a["md5"])):
                out.append(f"archives[{i}] ({a['name']}): md5 must be 32 hex digits")
            if a.get("sha256") is not None and not (isinstance(a["sha256"], str) and len(a["sha256"]) == 64):
                out.append(f"archives[{i}] ({a['name']}): sha256 must be 64 hex digits")
    if not isinstance(d["counts"], dict):
        out.append("counts must be a mapping")
    if not isinstance(d["probes"], list):
        out.append("probes must be a list")
    if not isinstance(d["sources"], list) or not d["sources"]:
        out.append("sources must be a non-empty list")
    else:
        for i, s in enumerate(d["sources"]):
            if not isinstance(s, dict) or not s.get("where") or s.get("tag") not in TAGS:
                out.append(f"sources[{i}] needs where and tag in {TAGS}")
    return out


# -- probe manifests ----------------------------------------------------------------------------
def probe_manifest(probe) -> dict[str, Any]:
    """The frozen, portable description of a probe's item list."""
    root = Path(probe.root) if probe.root else None
    items = []
    for it in probe.items:
        p = Path(it.path)
        if root is not None and p.is_absolute() and p.is_relative_to(root):
            p = p.relative_to(root)
        d = {"path": p.as_posix(), "set": it.set_id, "class": it.class_id, "factor": it.factor}
        if it.box is not None:
            d["box"] = [float(v) for v in it.box]
        items.append(d)
    return {
        "schema": PROBE_SCHEMA, "name": probe.name, "factor": probe.factor, "params": probe.params,
        "root_name": root.name if root else None, "digest": probe.digest(),
        "n_images": len(items), "n_sets": len({i["set"] for i in items}), "n_classes": len({i["class"] for i in items}),
        "items": items,
    }  # fmt: skip


def canonical_json(data: Any) -> bytes:
    return (json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str) + "\n").encode()


def write_probe_manifest(probe, path: str | os.PathLike) -> str:
    """Write the probe manifest atomically; returns its sha256."""
    from ..features.cache import atomic_write_bytes

    raw = canonical_json(probe_manifest(probe))
    atomic_write_bytes(Path(path), raw)
    return hashlib.sha256(raw).hexdigest()


def load_probe_manifest(path: str | os.PathLike, root: str | os.PathLike | None = None):
    """Rebuild the `Probe` a manifest froze; `root` is the dataset folder its paths are relative to."""
    from ..probes._base import Probe, ProbeItem

    data = json.loads(Path(path).read_text())
    if data.get("schema") != PROBE_SCHEMA:
        raise ProbeError(f"{path}: not a probe manifest (schema {data.get('schema')!r}, expected {PROBE_SCHEMA!r})")
    items = [ProbeItem(d["path"], d["set"], d["class"], d.get("factor"), tuple(d["box"]) if d.get("box") else None) for d in data["items"]]
    probe = Probe(name=data["name"], factor=data["factor"], items=items, root=Path(root).resolve() if root else None, params=data["params"])
    if probe.digest() != data["digest"]:
        raise ProbeError(f"{path}: item list does not match its recorded digest (edited by hand?)")
    return probe
