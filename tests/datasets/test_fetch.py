from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from invariance_lab.cli import main as cli_main
from invariance_lab.datasets import DatasetError, manifests
from invariance_lab.datasets.fetch import FetchRefused, fetch_dataset
from invariance_lab.probes import get_probe
from tests.datasets.fixtures import make_aloi


class Server:
    """A local HTTP server with byte ranges; `cut_after` drops the connection mid-body."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.cut_after, self.ranges, self.requests = files, None, True, []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                body = state.files.get(self.path)
                rng = self.headers.get("Range")
                state.requests.append((self.path, rng))
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if (rng and state.ranges) else 0
                if start >= len(body) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                part = body[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                if state.cut_after is not None:
                    self.wfile.write(part[: state.cut_after])
                    self.wfile.flush()
                    state.cut_after = None
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def aloi_tar(tmp: Path) -> bytes:
    """aloi_red4_col.tar as the site ships it: png4/<obj>/<obj>_i<T>.png."""
    make_aloi(tmp, objects=(1, 2), collections=("col",), layout="archive", reduction="red4")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(tmp / "aloi_red4_col" / "png4", arcname="png4")
    return buf.getvalue()


@pytest.fixture
def served(tmp_path):
    data = aloi_tar(tmp_path / "src")
    srv = Server({"/tars/aloi_red4_col.tar": data})
    yield srv, data
    srv.close()


def manifest_for(srv, data, md5=None):
    m = manifests.load_data_manifest("aloi")
    m["archives"] = [{"name": "aloi_red4_col.tar", "url": f"{srv.url}/tars/aloi_red4_col.tar", "member_root": "png4/",
                      "md5": md5 if md5 is not None else hashlib.md5(data).hexdigest(), "sha256": None, "size_bytes": len(data),
                      "default": True}]  # fmt: skip
    return m


def test_fetch_verify_unpack(served, tmp_path):
    srv, data = served
    root = tmp_path / "root"
    out = fetch_dataset(manifest_for(srv, data), root)
    assert out[0]["status"] == "unpacked" and out[0]["verified"] and out[0]["bytes"] == len(data)
    assert len(get_probe("aloi-illum-color", root=root)) == 24
    n = len(srv.requests)
    assert fetch_dataset(manifest_for(srv, data), root)[0]["status"] == "already unpacked" and len(srv.requests) == n


def test_interrupted_transfer_resumes_with_range(served, tmp_path):
    srv, data = served
    root = tmp_path / "root"
    srv.cut_after = 10_000
    with pytest.raises(DatasetError, match="interrupted.*run the same command again to resume"):
        fetch_dataset(manifest_for(srv, data), root)
    part = root / ".downloads" / "aloi_red4_col.tar.part"
    assert part.stat().st_size == 10_000
    out = fetch_dataset(manifest_for(srv, data), root)
    assert out[0]["resumed"] and srv.requests[-1][1] == "bytes=10000-"
    assert (root / ".downloads" / "aloi_red4_col.tar").read_bytes() == data
    assert len(get_probe("aloi-illum-color", root=root)) == 24


def test_server_without_ranges_restarts(served, tmp_path):
    srv, data = served
    root = tmp_path / "root"
    (root / ".downloads").mkdir(parents=True)
    (root / ".downloads" / "aloi_red4_col.tar.part").write_bytes(b"garbage")
    srv.ranges = False
    out = fetch_dataset(manifest_for(srv, data), root)
    assert not out[0]["resumed"] and (root / ".downloads" / "aloi_red4_col.tar").read_bytes() == data


def test_checksum_mismatch_deletes_and_never_unpacks(served, tmp_path):
    srv, data = served
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match=r"md5 [0-9a-f]{32} does not match the published 0{32}"):
        fetch_dataset(manifest_for(srv, data, md5="0" * 32), root)
    assert not (root / ".downloads" / "aloi_red4_col.tar").exists() and not (root / ".downloads" / "aloi_red4_col.tar.part").exists()
    assert not (root / "aloi_red4_col").exists()


def test_corrupt_archive(tmp_path):
    bad = b"this is not a tar archive" * 100
    srv = Server({"/tars/aloi_red4_col.tar": bad})
    try:
        with pytest.raises(DatasetError, match="not a readable tar/zip archive"):
            fetch_dataset(manifest_for(srv, bad), tmp_path / "root")
    finally:
        srv.close()


def test_unsafe_tar_member(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    srv = Server({"/tars/aloi_red4_col.tar": buf.getvalue()})
    try:
        with pytest.raises(DatasetError):
            fetch_dataset(manifest_for(srv, buf.getvalue()), tmp_path / "root")
        assert not (tmp_path / "evil.txt").exists()
    finally:
        srv.close()


def test_registration_refused(tmp_path, capsys):
    with pytest.raises(FetchRefused, match=r"registration.*http://got-10k.aitestunion.com"):
        fetch_dataset(manifests.load_data_manifest("got10k"), tmp_path)
    assert cli_main(["data", "fetch", "got10k", "--root", str(tmp_path)]) == 2
    assert "got-10k.aitestunion.com" in capsys.readouterr().err
