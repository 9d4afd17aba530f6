"""`data fetch` over ftp:// (PASCAL3D+'s URL) against a local pyftpdlib server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import threading
import warnings
import zipfile
from pathlib import Path

import pytest

from invariance_lab.cli import main as cli_main
from invariance_lab.datasets import DatasetError, manifests
from invariance_lab.datasets.fetch import FetchRefused, fetch_dataset
from invariance_lab.probes import get_probe
from tests.datasets.fixtures import make_pascal3d

pytest.importorskip("pyftpdlib", reason="the ftp:// tests need the test extra (pip install -e '.[test]')")
with warnings.catch_warnings():  # pyftpdlib imports asyncore/asynchat (deprecated in 3.11)
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.filesystems import AbstractedFS
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

NAME = "PASCAL3D+_release1.1.zip"


class _Cut:
    """A file whose reads end (EOF) after `limit` bytes: the server sends a short file and says 226."""

    def __init__(self, fh, limit: int):
        self._fh, self._left = fh, limit

    def read(self, n=-1):
        n = self._left if n is None or n < 0 else min(n, self._left)
        block = self._fh.read(n)
        self._left -= len(block)
        return block

    def __getattr__(self, name):
        return getattr(self._fh, name)


class FtpServer:
    """Anonymous read-only FTP on 127.0.0.1; `cut_after` shortens the next RETR; `rest_ok` False refuses REST."""

    def __init__(self, folder: Path):
        self.cut_after, self.rest_ok, self.commands = None, True, []
        state = self

        class FS(AbstractedFS):
            def open(self, filename, mode):
                fh = super().open(filename, mode)
                if state.cut_after is not None and "r" in mode:
                    fh, state.cut_after = _Cut(fh, state.cut_after), None
                return fh

        class Handler(FTPHandler):
            abstracted_fs = FS
            use_sendfile = False  # sendfile() would bypass _Cut.read

            def pre_process_command(self, line, cmd, arg):
                state.commands.append(line)
                if cmd == "REST" and not state.rest_ok:
                    self.respond("502 Command not implemented.")
                    return None
                return super().pre_process_command(line, cmd, arg)

        auth = DummyAuthorizer()
        auth.add_anonymous(str(folder))
        Handler.authorizer = auth
        self.server = FTPServer(("127.0.0.1", 0), Handler)
        self.url = f"ftp://127.0.0.1:{self.server.address[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            self.server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self.server.close_all()

    def close(self):
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def served(tmp_path):
    """PASCAL3D+_release1.1.zip (the fixture release, `PASCAL3D+_release1.1/` inside) on a local FTP server."""
    make_pascal3d(tmp_path / "src")
    pub = tmp_path / "pub"
    pub.mkdir()
    with zipfile.ZipFile(pub / NAME, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted((tmp_path / "src").rglob("*")):
            zf.write(f, f.relative_to(tmp_path / "src").as_posix())
    data = (pub / NAME).read_bytes()
    srv = FtpServer(pub)
    yield srv, data
    srv.close()


def manifest_for(srv, data, md5=None):
    m = manifests.load_data_manifest("pascal3d")  # the real manifest: ftp URL, member_root, accept_terms
    assert m["archives"][0]["url"].startswith("ftp://") and m["accept_terms"] is True
    m["archives"] = [dict(m["archives"][0], url=f"{srv.url}/{NAME}", md5=md5 or hashlib.md5(data).hexdigest())]
    return m


def test_ftp_fetch_verify_unpack(served, tmp_path):
    srv, data = served
    root = tmp_path / "root"
    out = fetch_dataset(manifest_for(srv, data), root, accept_terms=True)
    assert out[0]["status"] == "unpacked" and out[0]["verified"] and out[0]["bytes"] == len(data) and not out[0]["resumed"]
    assert (root / ".downloads" / NAME).read_bytes() == data
    assert (root / "PASCAL3D+_release1.1" / "Annotations").is_dir()  # the zip's own top folder, not nested twice
    assert sorted(p.name for p in root.iterdir()) == [".downloads", "PASCAL3D+_release1.1"]  # no leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pub", "root", "src"]  # nothing written beside the root
    assert len(get_probe("pascal3d-instance", root=root)) == len(get_probe("pascal3d-instance", root=tmp_path / "src"))
    assert "TYPE I" in srv.commands and any(c.startswith("RETR ") for c in srv.commands)
    n = len(srv.commands)
    assert fetch_dataset(manifest_for(srv, data), root, accept_terms=True)[0]["status"] == "already unpacked"
    assert len(srv.commands) == n


def test_ftp_interrupted_transfer_resumes_with_rest(served, tmp_path):
    srv, data = served
    root = tmp_path / "root"
    srv.cut_after = 10_000
    with pytest.raises(DatasetError, match=rf"interrupted: 10000 of {len(data)} bytes; run the same command again to resume"):
        fetch_dataset(manifest_for(srv, data), root, accept_terms=True)
    part = root / ".downloads" / f"{NAME}.part"
    assert part.read_bytes() == data[:10_000]
    out = fetch_dataset(manifest_for(srv, data), root, accept_terms=True)
    assert out[0]["resumed"] and "REST 10000" in srv.commands
    assert (root / ".downloads" / NAME).read_bytes() == data and not part.exists()


def test_ftp_server_refusing_rest_restarts_from_zero(served, tmp_path):
    srv, data = served
    root = tmp_path / "root"
    (root / ".downloads").mkdir(parents=True)
    (root / ".downloads" / f"{NAME}.part").write_bytes(b"x" * 5000)  # not a prefix of the file
    srv.rest_ok = False
    out = fetch_dataset(manifest_for(srv, data), root, accept_terms=True)
    assert not out[0]["resumed"] and "REST 5000" in srv.commands
    assert (root / ".downloads" / NAME).read_bytes() == data


def test_ftp_checksum_mismatch_deletes(served, tmp_path):
    srv, data = served
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match=r"md5 [0-9a-f]{32} does not match the published 0{32}"):
        fetch_dataset(manifest_for(srv, data, md5="0" * 32), root, accept_terms=True)
    assert not list((root / ".downloads").iterdir()) and not (root / "PASCAL3D+_release1.1").exists()


def test_ftp_missing_file(served, tmp_path):
    srv, data = served
    m = manifest_for(srv, data)
    m["archives"][0]["url"] = f"{srv.url}/nope.zip"
    with pytest.raises(DatasetError, match="nope.zip failed: the server has no such file"):
        fetch_dataset(m, tmp_path / "root", accept_terms=True)


def test_terms_must_be_accepted(served, tmp_path, capsys):
    srv, data = served
    m = manifest_for(srv, data)
    with pytest.raises(FetchRefused, match=r"(?s)accepting these terms:.*ImageNet terms of access.*--accept-terms"):
        fetch_dataset(m, tmp_path / "root")
    assert srv.commands == [] and not (tmp_path / "root").exists()  # nothing was downloaded
    assert cli_main(["data", "fetch", "pascal3d", "--root", str(tmp_path / "r2")]) == 2
    assert "--accept-terms" in capsys.readouterr().err
    bad = dict(m, terms="")
    assert any("accept_terms" in e for e in manifests.validate_data_manifest(bad))
