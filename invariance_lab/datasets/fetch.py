"""`data fetch`: download public archives with resume and checksum verification, then unpack.

- Datasets whose manifest says `access: registration` are refused with the registration URL (the
  licence requires the user to register and accept the terms themselves).
- A download goes to `<root>/.downloads/<name>.part`. When that file exists the request asks for
  the rest with an HTTP `Range: bytes=<size>-` header; a `206 Partial Content` answer is appended,
  a `200` answer (server without ranges) restarts from zero. Only a complete transfer is renamed
  to `<root>/.downloads/<name>`.
- The complete file is checked against the manifest's md5 or sha256 when one is published; a
  mismatch deletes it and raises `DatasetError` with both digests (a corrupt archive never gets
  unpacked). A known `size_bytes` is checked too.
- Tar archives are unpacked with the `data` extraction filter (no absolute paths, no `..`, no
  device files); zip members are checked for the same. An archive unpacks into
  `<root>/<archive stem>/` (e.g. `aloi_red2_view/png2/...`), the layout the readers accept; a
  `.done` marker makes a second fetch a no-op.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..errors import ProbeError
from ._common import DatasetError

CHUNK = 1 << 16


class FetchRefused(ProbeError):
    """The dataset's licence requires registration: no automatic download."""


def _stem(name: str) -> str:
    for ext in (".tar.gz", ".tgz", ".tar", ".zip"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def download(url: str, dest: Path, *, md5: str | None = None, sha256: str | None = None, size: int | None = None,
             timeout: float = 60.0, progress=None) -> dict:
    """Download `url` to `dest` (resuming `dest.part`), verify, and return what happened."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    resumed = False
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range past the end: the part file is complete already
            resp = None
        else:
            raise DatasetError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DatasetError(f"download of {url} failed: {exc}; run the same command again to resume") from exc
    if resp is not None:
        with resp:
            if have and resp.status == 206:
                mode, resumed = "ab", True
            else:
                mode, have = "wb", 0
            try:
                with open(part, mode) as fh:
                    while block := resp.read(CHUNK):
                        fh.write(block)
                        if progress:
                            progress(len(block))
            except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:  # connection dropped mid-transfer
                raise DatasetError(f"download of {url} interrupted after {part.stat().st_size} bytes ({exc}); "
                                   "run the same command again to resume") from exc
            expected = resp.headers.get("Content-Range", "").rpartition("/")[2] or None
            total = int(expected) if expected and expected.isdigit() else (have + int(resp.headers["Content-Length"]) if resp.headers.get("Content-Length") else None)
            if total is not None and part.stat().st_size < total:
                raise DatasetError(f"download of {url} interrupted: {part.stat().st_size} of {total} bytes; "
                                   "run the same command again to resume")
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        part.unlink()
        raise DatasetError(f"{dest.name}: {got_size} bytes downloaded, the manifest says {size}; deleted, fetch again")
    for algo, want in (("md5", md5), ("sha256", sha256)):
        if want:
            h = hashlib.new(algo)
            with open(part, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
            if h.hexdigest() != want:
                part.unlink()
                raise DatasetError(f"{dest.name}: {algo} {h.hexdigest()} does not match the published {want} "
                                   f"(corrupt or changed archive from {url}); the file was deleted")
    os.replace(part, dest)
    return {"file": str(dest), "bytes": got_size, "resumed": resumed, "verified": bool(md5 or sha256)}


def unpack(archive: Path, into: Path) -> Path:
    """Unpack a tar or zip archive safely into `into`; returns `into`."""
    into.mkdir(parents=True, exist_ok=True)
    tmp = into.with_name(into.name + ".unpacking")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for m in zf.namelist():
                    if m.startswith("/") or ".." in Path(m).parts:
                        raise DatasetError(f"{archive}: unsafe member path {m!r}; not unpacked")
                zf.extractall(tmp)
        else:
            try:
                with tarfile.open(archive) as tf:
                    tf.extractall(tmp, filter="data")
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise DatasetError(f"{archive}: not a readable tar/zip archive ({type(exc).__name__}: {exc})") from exc
        for p in tmp.iterdir():
            target = into / p.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(p, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return into


def fetch_dataset(manifest: dict, root: Path, archives: list[str] | None = None, keep_archive: bool = True,
                  progress=None) -> list[dict]:
    """Download (resumably), verify and unpack the chosen archives of a data manifest into `root`.

    Args:
        manifest: a data manifest (see `manifests.py`).
        root: data root.
        archives: archive names to fetch (default: those marked `default: true`).
        keep_archive: keep the downloaded archive in `<root>/.downloads/` after unpacking.
        progress: optional callable receiving the number of bytes of each block downloaded.

    Raises:
        FetchRefused: the dataset needs registration (the message gives the URL).
        DatasetError: a failed, interrupted or corrupt download, or a bad archive.

    """
    if manifest.get("access") == "registration":
        raise FetchRefused(
            f"{manifest['id']} requires registration and acceptance of its terms: {manifest.get('registration_url')}\n"
            f"{manifest.get('terms', '')}\nDownload it there, unpack it under {root}, then run "
            f"`invariance-lab data check {manifest['id']} --root {root}`."
        )
    chosen = [a for a in manifest["archives"] if (a["name"] in archives if archives else a.get("default"))]
    if archives:
        unknown = set(archives) - {a["name"] for a in chosen}
        if unknown:
            raise ProbeError(f"{manifest['id']}: no archive(s) {sorted(unknown)}; known: {[a['name'] for a in manifest['archives']]}")
    out = []
    for a in chosen:
        url = a.get("url")
        if not url or not str(url).startswith(("http://", "https://")):
            raise ProbeError(f"{a['name']}: no http(s) URL in the manifest ({url}); download it yourself into {root}")
        target = root / _stem(a["name"])
        done = target / ".done"
        if done.is_file() and done.read_text().strip() == (a.get("md5") or a.get("sha256") or a["name"]):
            out.append({"archive": a["name"], "status": "already unpacked", "into": str(target)})
            continue
        dest = root / ".downloads" / a["name"]
        info = {"file": str(dest), "resumed": False, "verified": False}
        if not dest.is_file():
            info = download(url, dest, md5=a.get("md5"), sha256=a.get("sha256"), size=a.get("size_bytes"), progress=progress)
        unpack(dest, target)
        done.write_text((a.get("md5") or a.get("sha256") or a["name"]) + "\n")
        if not keep_archive:
            dest.unlink()
        out.append({"archive": a["name"], "status": "unpacked", "into": str(target), **info})
    return out
