"""A regular (non-editable) install ships the data manifests and finds them without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_regular_install_finds_the_manifests(tmp_path):
    link = REPO / "invariance_lab" / "datasets" / "_manifests"
    assert link.is_symlink() and link.resolve() == (REPO / "data_manifests").resolve()  # one copy, in data_manifests/
    src = tmp_path / "src"  # what packaging reads, copied so the build leaves the working tree alone
    shutil.copytree(REPO / "invariance_lab", src / "invariance_lab", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))  # fmt: skip
    shutil.copytree(REPO / "data_manifests", src / "data_manifests")
    for f in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / f, src / f)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-compile", "--target", str(target), str(src)], check=True, capture_output=True)  # fmt: skip
    shipped = target / "invariance_lab" / "datasets" / "_manifests"
    assert shipped.is_dir() and not shipped.is_symlink()
    assert sorted(p.name for p in shipped.glob("*.yaml")) == sorted(p.name for p in (REPO / "data_manifests").glob("*.yaml"))
    shutil.rmtree(src)  # nothing left to fall back on
    env = {k: v for k, v in os.environ.items() if k not in ("INVARIANCE_LAB_MANIFESTS", "PYTHONPATH")}
    code = (
        "import invariance_lab.datasets.manifests as m, json; "
        "print(json.dumps([m.__file__, str(m.manifests_dir()), m.list_data_manifests(), m.load_data_manifest('aloi')['title']]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**env, "PYTHONPATH": str(target)},
                         check=True, capture_output=True, text=True)  # fmt: skip
    import json

    module, folder, names, title = json.loads(out.stdout.strip().splitlines()[-1])
    assert module.startswith(str(target)) and folder == str(shipped)
    assert names == ["aloi", "got10k", "imagenet", "pascal3d"]
    assert title == yaml.safe_load((REPO / "data_manifests" / "aloi.yaml").read_text())["title"]
