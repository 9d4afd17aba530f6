"""End to end in a real browser: headless Chromium loads a report, every image decodes, no console
errors, the sort script works, and the screenshot is not blank. Skipped only when Chromium is absent."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from invariance_lab.report import build_report

from .synth import make_doc, make_image_sets

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install -y chromium); CI installs it")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars", "--mute-audio",
         "--enable-logging=stderr", "--v=0"]  # fmt: skip

# Injected first into <head> of a copy of the page: records errors (script errors, failed
# resources, CSP violations, console.error), then on load every image's naturalWidth and the
# summary table's order after clicking a score column, into <pre id="__check"> for --dump-dom.
PROBE_JS = """<script>
window.__errs=[];
window.addEventListener('error',function(e){window.__errs.push('error: '+(e.message||(e.target&&e.target.tagName)||e.type))},true);
document.addEventListener('securitypolicyviolation',function(e){window.__errs.push('csp: '+e.violatedDirective+' '+e.blockedURI)});
var __ce=console.error;console.error=function(){window.__errs.push('console: '+Array.prototype.join.call(arguments,' '));__ce.apply(console,arguments)};
window.addEventListener('load',function(){
  var r=[],imgs=document.images;for(var i=0;i<imgs.length;i++){r.push(imgs[i].complete?imgs[i].naturalWidth:-1)}
  var order=null,t=document.getElementById('summary-top10');
  if(t){t.tHead.rows[0].cells[1].click();order=Array.prototype.map.call(t.tBodies[0].rows,function(x){return x.cells[1].getAttribute('data-value')})}
  var d=document.createElement('pre');d.id='__check';
  d.textContent=JSON.stringify({imgs:r,errs:window.__errs,order:order});document.body.appendChild(d);
});
</script>"""


def _run(args, tmp: Path) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=90)


def check_page(page: Path, tmp: Path) -> dict:
    """Load a copy of `page` with the probe script; returns {imgs, errs, order, stderr_errors}."""
    html = page.read_text()
    checked = tmp / f"check-{page.name}"
    checked.write_text(html.replace('<meta charset="utf-8">', '<meta charset="utf-8">' + PROBE_JS, 1))
    proc = _run(["--virtual-time-budget=10000", "--dump-dom", checked.as_uri()], tmp)
    m = re.search(r'<pre id="__check">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"page did not finish loading; chromium rc={proc.returncode}, stderr tail:\n{proc.stderr[-2000:]}"
    from html import unescape

    out = json.loads(unescape(m.group(1)))
    out["stderr_errors"] = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and re.search(r"Uncaught|Refused|Error", ln)]
    return out


def screenshot(page: Path, png: Path, tmp: Path, size=(1280, 2400)) -> np.ndarray:
    proc = _run([f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=5000", page.as_uri()], tmp)
    assert png.is_file(), f"no screenshot; chromium rc={proc.returncode}, stderr tail:\n{proc.stderr[-2000:]}"
    return np.asarray(Image.open(png).convert("L"), dtype=np.float32)


def test_report_renders_in_chromium(tmp_path):
    ex = make_image_sets(tmp_path / "imgs", n_sets=3, n_images=6)
    doc = make_doc(("resnet18-moco", "resnet18-supervised", "vit-s16-dino", "<script>alert(1)</script>"),
                   ("synth-viewpoint", "synth-occlusion", "synth-illum-color", "synth-crop"), mode="strict",
                   layers=("pooled", "layer3"), missing={("vit-s16-dino", "synth-crop")},
                   examples={"synth-viewpoint": ex}, source_root=tmp_path / "imgs", seed=7)  # fmt: skip
    page = build_report(doc, tmp_path / "report.html", title="Browser test report")
    res = check_page(page, tmp_path)
    assert res["errs"] == [] and res["stderr_errors"] == [], res
    n_img = page.read_text().count("<img ")
    assert n_img >= 4 + 3 and len(res["imgs"]) == n_img  # 4 figures + 3 example sheets
    assert all(w > 0 for w in res["imgs"]), f"images that did not decode: {res['imgs']}"
    order = res["order"]  # first score column after one click: descending, blanks last
    vals = [float(v) for v in order if v]
    assert len(vals) >= 6 and vals == sorted(vals, reverse=True) and not any(order[len(vals) :])
    shot = screenshot(page, tmp_path / "report.png", tmp_path)
    assert shot.std() > 20 and (shot < 200).mean() > 0.02, "screenshot looks blank"
    keep = os.environ.get("INVARIANCE_LAB_SCREENSHOT_DIR")
    if keep:
        shutil.copy(tmp_path / "report.png", Path(keep) / "report-screenshot.png")


def test_checker_catches_broken_images_and_script_errors(tmp_path):
    # the checks above must be able to fail: a page with an undecodable image and a throwing script
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>x</p>'
                   '<img src="data:image/png;base64,AAAAAAAA"><script>undefinedFunction()</script></body></html>')  # fmt: skip
    res = check_page(bad, tmp_path)
    assert res["imgs"] == [0]
    assert any("undefinedFunction" in e for e in res["errs"]), res
    blank = tmp_path / "blank.html"
    blank.write_text('<!DOCTYPE html><html><body style="background:#fff"></body></html>')
    assert screenshot(blank, tmp_path / "blank.png", tmp_path, size=(400, 300)).std() < 1
