"""Data manifests (what a dataset is and where it comes from) and probe manifests (frozen item lists).

Data manifests live in `data_manifests/<id>.yaml` at the repository root (one per dataset; no
data). Required fields, checked by `validate_data_manifest`:

    id, title, homepage, access (open | registration), license {text, verified}, citation (BibTeX),
    archives [{name, url, md5|null, sha256|null, size_bytes|null, member_root|null}],
    layout (free text or list of patterns), counts (mapping), probes (registered names),
    sources [{what, where, tag}]   # tag: code | run | 3rd | unverified

`registration_url` is required when access is `registration` (`data fetch` refuses and prints it).
`accept_terms: true` (with the text in `terms`) makes `data fetch` refuse unless `--accept-terms`.
`derive_probe_manifests` lists, per probe, the exact command that writes its frozen probe
manifest (they need the data, so they are not shipped): `invariance-lab data prepare PROBE
--root DIR --manifest-out FILE`.

A probe manifest freezes which images form each set, so that two labs measure the same sets:
canonical JSON (sorted keys, compact separators, UTF-8, trailing newline) with schema
`invariance_lab.probe/v1`, the probe's name, factor, params, digest and its items (path relative
to the dataset folder, POSIX separators; set, class, factor, box). Optional fields (absent from
older manifests): `root_rel`, the dataset folder relative to the data root it was built under
(`ALOI_viewpoint`, `GOT-10k/train`), and per item `bytes` and `sha256` of the image file, so a
reader can say which files are missing or differ. `load_probe_manifest` rebuilds the `Probe`
from it without any random draw (the `manifest:PATH` probe, `probes/manifest.py`, also finds the
dataset folder and checks the files).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import ProbeError

PROBE_SCHEMA = "invariance_lab.probe/v1"
ACCESS = ("open", "registration")
TAGS = ("code", "run", "3rd", "unverified")
REQUIRED = ("id", "title", "homepage", "access", "license", "citation", "archives", "layout", "counts", "probes", "sources",
            "derive_probe_manifests")


def manifests_dir() -> Path:
    """The folder of data manifests: `$INVARIANCE_LAB_MANIFESTS`, else the package's `_manifests`.

    The YAML files live once, in `data_manifests/` at the top of the repository.
    `invariance_lab/datasets/_manifests` is a relative symbolic link to that folder, so a source
    checkout and an editable install read it in place, and a regular install (wheel, `pip install
    .`) ships the files as package data of `invariance_lab.datasets` (setup.cfg
    `[options.package_data]`: the build follows the link and copies the files), found here with
    `importlib.resources`. A checkout where the link did not survive (git on Windows without
    symlinks) falls back to `data_manifests/` next to the package.
    """
    env = os.environ.get("INVARIANCE_LAB_MANIFESTS")
    if env:
        return Path(env)
    shipped = Path(str(importlib.resources.files("invariance_lab.datasets") / "_manifests"))
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "data_manifests"


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
    if "accept_terms" in d and not isinstance(d["accept_terms"], bool):
        out.append("accept_terms must be true or false")
    if d.get("accept_terms") and not (isinstance(d.get("terms"), str) and d["terms"].strip()):
        out.append("accept_terms: true needs the terms text in 'terms' (data fetch prints it)")
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
    elif not isinstance(d["derive_probe_manifests"], dict):
        out.append("derive_probe_manifests must map each probe to the command that writes its probe manifest")
    else:
        for probe in d["probes"]:
            cmd = d["derive_probe_manifests"].get(probe)
            if not (isinstance(cmd, str) and cmd.startswith(f"invariance-lab data prepare {probe} ") and " --manifest-out " in cmd):
                out.append(f"derive_probe_manifests[{probe!r}] must be 'invariance-lab data prepare {probe} --root DIR … --manifest-out FILE'")
        for extra in set(d["derive_probe_manifests"]) - set(d["probes"]):
            out.append(f"derive_probe_manifests names {extra!r}, which is not in probes")
    if not isinstance(d["sources"], list) or not d["sources"]:
        out.append("sources must be a non-empty list")
    else:
        for i, s in enumerate(d["sources"]):
            if not isinstance(s, dict) or not s.get("where") or s.get("tag") not in TAGS:
                out.append(f"sources[{i}] needs where and tag in {TAGS}")
    return out


# -- probe manifests ----------------------------------------------------------------------------
def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def probe_manifest(probe, data_root: str | os.PathLike | None = None, files: bool = False) -> dict[str, Any]:
    """The frozen, portable description of a probe's item list.

    Args:
        probe: the probe.
        data_root: the data root the probe was built under; recorded as `root_rel` (the probe's
            dataset folder relative to it) when the folder lies inside it.
        files: also record each image file's size (`bytes`) and `sha256` (reads every file once).

    """
    root = Path(probe.root) if probe.root else None
    items = []
    for it in probe.items:
        p = Path(it.path)
        if root is not None and p.is_absolute() and p.is_relative_to(root):
            p = p.relative_to(root)
        d = {"path": p.as_posix(), "set": it.set_id, "class": it.class_id, "factor": it.factor}
        if it.box is not None:
            d["box"] = [float(v) for v in it.box]
        if files:
            f = probe.resolve(it)
            try:
                d["bytes"], d["sha256"] = f.stat().st_size, file_sha256(f)
            except OSError as exc:
                raise ProbeError(f"cannot read {f} to record it in the probe manifest: {exc}") from exc
        items.append(d)
    out = {
        "schema": PROBE_SCHEMA, "name": probe.name, "factor": probe.factor, "params": probe.params,
        "root_name": root.name if root else None, "digest": probe.digest(),
        "n_images": len(items), "n_sets": len({i["set"] for i in items}), "n_classes": len({i["class"] for i in items}),
        "items": items,
    }  # fmt: skip
    if data_root is not None and root is not None:
        base = Path(data_root).expanduser().resolve()
        if root.resolve().is_relative_to(base):
            out["root_rel"] = root.resolve().relative_to(base).as_posix()
    return out


def canonical_json(data: Any) -> bytes:
    return (json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str) + "\n").encode()


def write_probe_manifest(probe, path: str | os.PathLike, data_root: str | os.PathLike | None = None,
                         files: bool = False) -> str:
    """Write the probe manifest atomically (see `probe_manifest` for the options); returns its sha256."""
    from ..features.cache import atomic_write_bytes

    raw = canonical_json(probe_manifest(probe, data_root=data_root, files=files))
    atomic_write_bytes(Path(path), raw)
    return hashlib.sha256(raw).hexdigest()


def read_probe_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed manifest, or a `ProbeError` naming the file and what is wrong with it."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProbeError(f"no probe manifest {path} (write one with `invariance-lab data prepare NAME --manifest-out {path}`)") from None
    except (OSError, ValueError) as exc:
        raise ProbeError(f"{path}: not a readable probe manifest ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != PROBE_SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ProbeError(f"{path}: not a probe manifest (schema {got!r}, expected {PROBE_SCHEMA!r})")
    missing = [k for k in ("name", "factor", "params", "digest", "items") if k not in data]
    bad = [i for i, d in enumerate(data.get("items") or []) if not (isinstance(d, dict) and {"path", "set", "class"} <= set(d))]
    if missing or bad or not isinstance(data.get("items"), list):
        what = f"missing field(s) {missing}" if missing else f"item(s) {bad[:5]} lack path/set/class"
        raise ProbeError(f"{path}: invalid probe manifest: {what}")
    return data


def load_probe_manifest(path: str | os.PathLike, root: str | os.PathLike | None = None):
    """Rebuild the `Probe` a manifest froze; `root` is the dataset folder its paths are relative to."""
    from ..probes._base import Probe, ProbeItem

    data = read_probe_manifest(path)
    items = [ProbeItem(d["path"], d["set"], d["class"], d.get("factor"), tuple(d["box"]) if d.get("box") else None) for d in data["items"]]
    probe = Probe(name=data["name"], factor=data["factor"], items=items, root=Path(root).resolve() if root else None, params=data["params"])
    if probe.digest() != data["digest"]:
        raise ProbeError(f"{path}: item list does not match its recorded digest {data['digest'][:12]}… "
                         f"(got {probe.digest()[:12]}…; edited by hand?); write it again with `data prepare --manifest-out`")
    return probe
