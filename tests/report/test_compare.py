"""`invariance-lab compare` end to end on a tiny folder probe: results plus report.html with thumbnails."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from invariance_lab.cli import main

from .parse import html_tables


def _folder_probe(root, n_classes=2, n_sets=3, n_images=4, size=32):
    rng = np.random.default_rng(0)
    for c in range(n_classes):
        for s in range(n_sets):
            base = rng.integers(0, 255, size=(size, size, 3))
            d = root / f"class{c}" / f"obj{s}"
            d.mkdir(parents=True)
            for i in range(n_images):
                Image.fromarray(np.roll(base, 3 * i, axis=1).astype(np.uint8)).save(d / f"view{i}.png")
    return root


def test_compare_writes_results_and_report(tmp_path, capsys):
    probe = _folder_probe(tmp_path / "sets")
    out = tmp_path / "cmp"
    rc = main(["compare", "tv:resnet18", "tv:mobilenet_v3_small", "--probes", f"folder:{probe}", "--out", str(out),
               "--k", "5", "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--device", "cpu"])  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    ex = doc["probes"]["folder"]["examples"]
    assert len(ex) == 3 and all(len(s["items"]) == 4 and not s["items"][0]["path"].startswith("/") for s in ex)
    assert doc["config"]["device_used"] == "cpu"
    html = (out / "report.html").read_text()
    t = html_tables(html)["summary-top5"]
    got = {enc: float(cells[0][0]) for enc, cells in t["rows"].items()}
    assert got == {r["encoder"]: r["score"] for r in doc["results"]}
    assert html.count("data:image/jpeg;base64,") == 3  # one sheet per example set
    assert "wrote" in capsys.readouterr().out
