"""`data fetch`: download public archives with resume and checksum verification, then unpack.

- Datasets whose manifest says `access: registration` are refused with the registration URL (the
  licence requires the user to register and accept the terms themselves). Datasets whose manifest
  says `accept_terms: true` (PASCAL3D+: ImageNet and VOC/Flickr image terms) are fetched only with
  `accept_terms=True` (`--accept-terms`); otherwise the refusal prints the manifest's `terms`.
- A download goes to `<root>/.downloads/<name>.part`. When that file exists the request asks for
  the rest: over HTTP(S) with a `Range: bytes=<size>-` header (a `206 Partial Content` answer is
  appended, a `200` answer, from a server without ranges, restarts from zero); over FTP with
  `REST <size>` before `RETR` in binary mode (RFC 959 §4.1.3 "restart"; RFC 3659 §5 for `SIZE`):
  a server that refuses `REST` gets a transfer from zero. `ftp://[user[:password]@]host[:port]/path`,
  anonymous login by default. Only a complete transfer (as many bytes as `Content-Length` /
  `Content-Range` or the FTP `SIZE` answer say) is renamed to `<root>/.downloads/<name>`.
- The complete file is checked against the manifest's md5 or sha256 when one is published; a
  mismatch deletes it and raises `DatasetError` with both digests (a corrupt archive never gets
  unpacked). A known `size_bytes` is checked too.
- Tar archives are unpacked with the `data` extraction filter (no absolute paths, no `..`, no
  device files); zip members are checked for the same. An archive unpacks into
  `<root>/<archive stem>/` (e.g. `aloi_red2_view/png2/...`), the layout the readers accept, except
  one whose `member_root` is its own stem (`PASCAL3D+_release1.1.zip` holds
  `PASCAL3D+_release1.1/`), which unpacks into `<root>`; a `.done` marker in
  `<root>/<archive stem>/` makes a second fetch a no-op.
"""

from __future__ import annotations

import ftplib
import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
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
    """Download `url` (http, https or ftp) to `dest` (resuming `dest.part`), verify, and return what happened."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if url.startswith("ftp://"):
        resumed = _ftp_transfer(url, part, have, timeout, progress)
    else:
        resumed = _http_transfer(url, part, have, timeout, progress)
    return _verify_and_finish(url, part, dest, resumed, md5=md5, sha256=sha256, size=size)


def _http_transfer(url: str, part: Path, have: int, timeout: float, progress) -> bool:
    """Fetch the rest of `url` into `part` (HTTP Range); True when it appended to a partial file."""
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
    return resumed


def _ftp_transfer(url: str, part: Path, have: int, timeout: float, progress) -> bool:
    """Fetch the rest of an `ftp://` URL into `part` (REST + RETR, binary); True when it appended."""
    u = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(u.path)
    if not u.hostname or not path or path.endswith("/"):
        raise DatasetError(f"{url}: not an ftp://host/path/file URL")
    ftp = ftplib.FTP(timeout=timeout)
    try:
        try:
            ftp.connect(u.hostname, u.port or 21)
            ftp.login(urllib.parse.unquote(u.username or "anonymous"), urllib.parse.unquote(u.password or "anonymous@"))
            ftp.voidcmd("TYPE I")  # binary: REST offsets and SIZE count bytes
        except (ftplib.Error, OSError, EOFError) as exc:
            raise DatasetError(f"download of {url} failed: cannot log in ({exc}); check the URL, or run again later") from exc
        try:
            total = ftp.size(path)  # RFC 3659 SIZE; None or an error where the server lacks it
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                raise DatasetError(f"download of {url} failed: the server has no such file ({exc})") from exc
            total = None
        except ftplib.Error:
            total = None
        if have and total is not None and have == total:
            return True  # a previous run got every byte; only the check and the rename were missing
        if have and total is not None and have > total:
            have = 0  # longer than the file: not a prefix of it
        mode, resumed = ("ab", True) if have else ("wb", False)
        fh = open(part, mode)
        try:
            def write(block: bytes) -> None:
                fh.write(block)
                if progress:
                    progress(len(block))

            try:
                ftp.retrbinary(f"RETR {path}", write, blocksize=CHUNK, rest=have or None)
            except ftplib.error_perm as exc:
                code = str(exc)[:3]
                if have and code in ("500", "501", "502", "504", "554"):  # REST refused: start again from zero
                    fh.close()
                    fh = open(part, "wb")
                    resumed = False
                    ftp.retrbinary(f"RETR {path}", write, blocksize=CHUNK)
                elif code == "550":
                    raise DatasetError(f"download of {url} failed: {exc}") from exc
                else:
                    raise
        except (ftplib.Error, OSError, EOFError) as exc:  # connection dropped or transfer aborted mid-way
            fh.close()
            raise DatasetError(f"download of {url} interrupted after {part.stat().st_size} bytes ({exc}); "
                               "run the same command again to resume") from exc
        finally:
            fh.close()
        if total is not None and part.stat().st_size < total:
            raise DatasetError(f"download of {url} interrupted: {part.stat().st_size} of {total} bytes; "
                               "run the same command again to resume")
        return resumed
    finally:
        try:
            ftp.quit()
        except (ftplib.Error, OSError, EOFError):
            ftp.close()


def _verify_and_finish(url: str, part: Path, dest: Path, resumed: bool, *, md5, sha256, size) -> dict:
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
    tmp = into / ".unpacking"  # inside `into` (which may be the data root itself): same file system, nothing written beside it
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
                  progress=None, accept_terms: bool = False) -> list[dict]:
    """Download (resumably), verify and unpack the chosen archives of a data manifest into `root`.

    Args:
        manifest: a data manifest (see `manifests.py`).
        root: data root.
        archives: archive names to fetch (default: those marked `default: true`).
        keep_archive: keep the downloaded archive in `<root>/.downloads/` after unpacking.
        progress: optional callable receiving the number of bytes of each block downloaded.
        accept_terms: the user accepts the terms the manifest states (needed where it says
            `accept_terms: true`).

    Raises:
        FetchRefused: the dataset needs registration (the message gives the URL), or acceptance
            of terms that `accept_terms` did not give (the message quotes them).
        DatasetError: a failed, interrupted or corrupt download, or a bad archive.

    """
    if manifest.get("access") == "registration":
        raise FetchRefused(
            f"{manifest['id']} requires registration and acceptance of its terms: {manifest.get('registration_url')}\n"
            f"{manifest.get('terms', '')}\nDownload it there, unpack it under {root}, then run "
            f"`invariance-lab data check {manifest['id']} --root {root}`."
        )
    if manifest.get("accept_terms") and not accept_terms:
        raise FetchRefused(
            f"{manifest['id']}: downloading it means accepting these terms:\n  {manifest.get('terms', '(no terms text in the manifest)')}\n"
            f"Read them; if you accept them, run the command again with --accept-terms (accept_terms=True in Python)."
        )
    chosen = [a for a in manifest["archives"] if (a["name"] in archives if archives else a.get("default"))]
    if archives:
        unknown = set(archives) - {a["name"] for a in chosen}
        if unknown:
            raise ProbeError(f"{manifest['id']}: no archive(s) {sorted(unknown)}; known: {[a['name'] for a in manifest['archives']]}")
    out = []
    for a in chosen:
        url = a.get("url")
        if not url or not str(url).startswith(("http://", "https://", "ftp://")):
            raise ProbeError(f"{a['name']}: no http(s) or ftp URL in the manifest ({url}); download it yourself into {root}")
        target = root / _stem(a["name"])
        into = root if (a.get("member_root") or "").strip("/") == _stem(a["name"]) else target  # holds its own top folder
        done = target / ".done"
        if done.is_file() and done.read_text().strip() == (a.get("md5") or a.get("sha256") or a["name"]):
            out.append({"archive": a["name"], "status": "already unpacked", "into": str(target)})
            continue
        dest = root / ".downloads" / a["name"]
        info = {"file": str(dest), "resumed": False, "verified": False}
        if not dest.is_file():
            info = download(url, dest, md5=a.get("md5"), sha256=a.get("sha256"), size=a.get("size_bytes"), progress=progress)
        unpack(dest, into)
        done.write_text((a.get("md5") or a.get("sha256") or a["name"]) + "\n")
        if not keep_archive:
            dest.unlink()
        out.append({"archive": a["name"], "status": "unpacked", "into": str(target), **info})
    return out
