"""One self-contained HTML page: inline CSS and JS, figures and thumbnails as base64 data URIs.

Every string that comes from a results file goes through `esc` (`html.escape`, quotes included);
the page's Content-Security-Policy forbids any network request, so a report opened anywhere loads
nothing from outside.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from html import escape
from typing import Any

from .examples import ProbeExamples
from .load import ReportData
from .tables import (
    best_mask,
    caption,
    chance_level,
    firing_rate,
    fmt_ci,
    fmt_score,
    probe_sizes,
    score_grid,
)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1180px;
padding:1.2em 1.5em 3em;color:#1a1a1a;line-height:1.45;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.05em;margin:1.2em 0 .4em}
.sub{color:#555;margin:0 0 1em}
.warn{background:#fff4e0;border-left:4px solid #E69F00;padding:.5em .8em;margin:.8em 0}
.note{color:#555;font-style:italic}
.tablewrap{overflow-x:auto;margin:.5em 0 1em}
table{border-collapse:collapse;font-size:.88em}
th,td{padding:.28em .55em;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
table.summary td{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
table.summary thead th{cursor:pointer;user-select:none;background:#f4f6f8;position:sticky;top:0}
table.summary thead th:hover{background:#e6ebf0}
table.summary th[aria-sort=ascending]::after{content:" \\25B2";font-size:.7em}
table.summary th[aria-sort=descending]::after{content:" \\25BC";font-size:.7em}
table.summary tbody th{font-weight:normal;white-space:nowrap}
table.summary td.best{font-weight:bold;background:#e3f1fb}
.ci{color:#666;font-size:.85em}
.star{color:#0072B2}
tfoot td,tfoot th{color:#666;font-style:italic;border-top:2px solid #ccc}
caption{caption-side:top;text-align:left;color:#333;padding:.3em 0 .5em;font-size:.95em}
figure{margin:1em 0 1.8em}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:.9em;margin-top:.3em}
.sets figure{margin:.4em 0 1em}.sets img{image-rendering:auto}
table.meta td,table.meta th{font-size:.92em}
code,.mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}
dl.kv{margin:0;display:grid;grid-template-columns:max-content auto;gap:0 .8em}dl.kv dt{color:#555}dl.kv dd{margin:0}
footer{margin-top:3em;color:#777;font-size:.85em}
"""

SORT_JS = """
(function(){
function val(row,ci){var c=row.cells[ci];return c?c.getAttribute('data-value'):null}
function sortTable(t,ci,th){
  var numeric=ci>0,cur=th.getAttribute('aria-sort');
  var asc=numeric?(cur==='descending'):(cur!=='ascending');
  Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h){h.removeAttribute('aria-sort')});
  th.setAttribute('aria-sort',asc?'ascending':'descending');
  var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){
    if(!numeric){var x=a.cells[0].textContent,y=b.cells[0].textContent;return asc?x.localeCompare(y):y.localeCompare(x)}
    var x=val(a,ci),y=val(b,ci),xe=(x===null||x===''),ye=(y===null||y==='');
    if(xe&&ye)return 0;if(xe)return 1;if(ye)return -1;
    return asc?(parseFloat(x)-parseFloat(y)):(parseFloat(y)-parseFloat(x));
  });
  rows.forEach(function(r){body.appendChild(r)});
}
Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(t){
  Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,ci){
    th.tabIndex=0;th.title='click to sort';
    th.addEventListener('click',function(){sortTable(t,ci,th)});
    th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();sortTable(t,ci,th)}});
  });
});
})();
"""


def esc(x: Any) -> str:
    """HTML-escape any value (quotes included)."""
    return escape("" if x is None else str(x), quote=True)


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def summary_table_html(data: ReportData, k: int) -> str:
    """The sortable encoder × probe table for top-`k` (exact scores in `data-value`)."""
    rows, cols = data.rows, data.cols
    score, lo, hi = score_grid(data, k)
    best = best_mask(score)
    out = [f'<div class="tablewrap"><table class="summary sortable" id="summary-top{k}" data-k="{k}">',
           f"<caption>{esc(caption(data, k))}</caption>", "<thead><tr><th scope=\"col\">encoder</th>"]  # fmt: skip
    for c in cols:
        out.append(f'<th scope="col" data-col="{esc(c)}">{esc(c)}</th>')
    out.append("</tr></thead><tbody>")
    for i, r in enumerate(rows):
        out.append(f'<tr><th scope="row" data-row="{esc(r)}">{esc(r)}</th>')
        for j in range(len(cols)):
            v = score[i, j]
            if not math.isfinite(v):
                out.append('<td data-value=""></td>')
                continue
            ci = fmt_ci(lo[i, j], hi[i, j])
            star = ' <span class="star" title="best in this column">★</span>' if best[i, j] else ""
            cls = ' class="best"' if best[i, j] else ""
            ci_html = f' <span class="ci">{esc(ci)}</span>' if ci else ""
            out.append(f'<td{cls} data-value="{float(v)!r}"><span class="v">{fmt_score(v)}</span>{ci_html}{star}</td>')
        out.append("</tr>")
    out.append("</tbody><tfoot><tr><th scope=\"row\">chance (one neuron)</th>")
    for c in cols:
        ch = chance_level(data, c)
        out.append(f"<td>{'' if ch is None else f'{ch:.1f}'}</td>")
    out.append("</tr></tfoot></table></div>")
    return "\n".join(out)


def how_to_read_html(data: ReportData) -> str:
    """What the measure is and what 100 and chance mean on this scale."""
    common = (
        "<p>Each number is <b>firing-rate invariance</b> (Goodfellow et al., NIPS 2009, as applied by Purushwalkam &amp; "
        "Gupta, NeurIPS 2020). A neuron <i>fires</i> on an image when its activation passes a threshold set so that it "
        "fires on a small fraction <i>G</i> of all probe images (its global firing rate). A probe groups images into "
        "<i>sets</i>: one object under the probe's transformation (viewpoint, occlusion, illumination, …). Among the sets "
        "where the neuron fires at least once, <i>L</i> is the average fraction of the set on which it fires. A neuron is "
        "invariant when, having fired on one view of an object, it keeps firing on the others: its score is <i>L</i>/<i>G</i>. "
        "The reported value averages the top-K neurons (per class, then over classes); the top-K curves show every rank.</p>"
    )
    if data.mode == "paper":
        scale = (
            "<p><b>Paper-compatible mode.</b> With C classes in the probe, p = min((1 − 1/C)·100, 95) and each neuron's "
            "threshold is its p-th percentile, so it fires on about (100 − p) % of the images; the reported value is the mean "
            "over classes of the top-K mean of <i>L</i>/<i>G</i>, times (100 − p). So <b>100</b> means the top neurons fire on "
            "every image of a set whenever they fire on one of them (<i>L</i> = 1). A neuron whose firing ignores set "
            "membership scores about 100·g / (1 − (1 − g)<sup>m</sup>) for g = (100 − p)/100 and sets of m images: the "
            "<b>chance</b> row under the table (a lower bound: this mode's <i>L</i> also counts the lower tail). The top-K of "
            "hundreds of neurons sits above chance even for random weights, so compare encoders on the same probe rather "
            "than against 100. The firing rate depends on C: a single-class probe gives p = 0 and a trivial 100, and values "
            "of probes with different class counts are on different scales. This mode reproduces the released script, "
            "quirks included, and has no confidence intervals.</p>"
        )
    elif data.mode == "strict":
        q = 100 * float(data.config().get("firing_rate", 0.05))
        scale = (
            f"<p><b>Strict mode.</b> Every neuron's high and low tails are separate units, each thresholded to fire on a "
            f"fixed {q:g} % of all images (the target firing rate, the same for every probe); the printed value is "
            f"<i>L</i>/<i>G</i> × {q:g}, so <b>100</b> means fully invariant units (<i>L</i> = 1). A unit whose firing ignores "
            f"set membership scores about 100·q / (1 − (1 − q)<sup>m</sup>) for sets of m images (the <b>chance</b> row). "
            f"Units whose firing rate misses the target by more than 2× (ties, e.g. ReLU zeros) are excluded and counted; "
            f"brackets are bootstrap confidence intervals over sets.</p>"
        )
    else:
        scale = "<p><b>Mixed modes.</b> Rows are labelled with their mode; paper and strict values are on different scales and must not be compared with each other.</p>"
    return f'<section id="how-to-read"><h2>How to read this</h2>{common}{scale}</section>'


def _kv(d: dict[str, Any], limit: int = 20) -> str:
    items = []
    for k, v in d.items():
        if isinstance(v, (list, tuple)) and len(v) > limit:
            shown = json.dumps(list(v[:limit]), default=str)[:-1] + f", … ({len(v)} in all)]"
        elif isinstance(v, (dict, list, tuple)):
            shown = json.dumps(v, default=str)
        else:
            shown = str(v)
        if len(shown) > 600:
            shown = shown[:600] + " …"
        items.append(f"<dt>{esc(k)}</dt><dd class=\"mono\">{esc(shown)}</dd>")
    return f'<dl class="kv">{"".join(items)}</dl>' if items else ""


def metadata_html(data: ReportData) -> str:
    """Runs (date, command, device, versions), encoder load reports, probe manifests."""
    out = ['<section id="metadata"><h2>Run metadata</h2><h3>Runs</h3><div class="tablewrap"><table class="meta">',
           "<thead><tr><th>results file</th><th>created</th><th>command</th><th>mode</th><th>device</th><th>versions</th></tr></thead><tbody>"]  # fmt: skip
    for run in data.runs:
        cfg = run.doc.get("config") or {}
        dev = cfg.get("device_used") or cfg.get("device") or ""
        settings = {k: v for k, v in cfg.items() if k not in ("command", "device_used", "mode")}
        out.append(f"<tr><td class=\"mono\">{esc(run.source)}</td><td>{esc(run.doc.get('created'))}</td>"
                   f"<td class=\"mono\">{esc(cfg.get('command', ''))}</td><td>{esc(cfg.get('mode', ''))}</td><td>{esc(dev)}</td>"
                   f"<td>{_kv(run.doc.get('versions') or {})}<details><summary>settings</summary>{_kv(settings)}</details></td></tr>")  # fmt: skip
    out.append("</tbody></table></div><h3>Encoders</h3><div class=\"tablewrap\"><table class=\"meta\">"
               "<thead><tr><th>encoder</th><th>spec / architecture</th><th>digest</th><th>load report</th></tr></thead><tbody>")  # fmt: skip
    for name, entry in data.encoders.items():
        info = entry["info"]
        rep = info.get("load_report") or {}
        spec = " / ".join(str(x) for x in (info.get("spec"), info.get("arch"), info.get("family")) if x)
        out.append(f"<tr><td>{esc(name)}</td><td>{esc(spec)}</td><td class=\"mono\">{esc(info.get('digest'))}</td>"
                   f"<td>{_kv(rep if isinstance(rep, dict) else {'report': rep})}</td></tr>")  # fmt: skip
    out.append("</tbody></table></div><h3>Probes</h3><div class=\"tablewrap\"><table class=\"meta\">"
               "<thead><tr><th>probe</th><th>factor</th><th>images</th><th>sets</th><th>classes</th><th>digest (manifest)</th>"
               "<th>params</th><th>root</th></tr></thead><tbody>")  # fmt: skip
    for col, entry in data.probes.items():
        desc = entry["desc"]
        sz = probe_sizes(data, col)
        out.append(f"<tr><td>{esc(col)}</td><td>{esc(desc.get('factor'))}</td><td>{esc(sz['n_images'])}</td>"
                   f"<td>{esc(sz['n_sets'])}</td><td>{esc(sz['n_classes'])}</td><td class=\"mono\">{esc(desc.get('digest'))}</td>"
                   f"<td>{_kv(desc.get('params') or {})}</td><td class=\"mono\">{esc(desc.get('root'))}</td></tr>")  # fmt: skip
    out.append("</tbody></table></div></section>")
    return "\n".join(out)


def examples_html(examples: list[ProbeExamples]) -> str:
    out = ['<section id="examples"><h2>What the probes vary: example sets</h2>',
           "<p>A few sets from each probe, all (or evenly spaced) images of each set in probe order; a set is one object under "
           "the probe's transformation, and the measure asks whether a neuron that fires on one of them fires on the rest.</p>"]  # fmt: skip
    for pe in examples:
        out.append(f'<div class="sets"><h3>{esc(pe.col)}{(" — " + esc(pe.factor)) if pe.factor else ""}</h3>')
        if pe.note:
            out.append(f'<p class="note">{esc(pe.note)}</p>')
        for s in pe.sets:
            fac = [f for f in s.factors if f is not None]
            fac_txt = f"; {esc(pe.factor or 'factor')}: {esc(', '.join(_fmt_factor(f) for f in fac[:24]))}" if fac else ""
            shown = f"{s.n_shown} of {s.n_items} images" if s.n_shown < s.n_items else f"all {s.n_items} images"
            out.append(f'<figure><img src="{_data_uri("image/jpeg", s.jpeg)}" alt="{esc("set " + s.set_id)}" loading="eager">'
                       f"<figcaption>set <code>{esc(s.set_id)}</code>, class <code>{esc(s.class_id)}</code> ({shown}){fac_txt}</figcaption></figure>")  # fmt: skip
        out.append("</div>")
    out.append("</section>")
    return "\n".join(out)


def _fmt_factor(f: Any) -> str:
    if isinstance(f, float):
        return f"{f:g}"
    return str(f)


def render_html(data: ReportData, figures: list[tuple[str, str, bytes]], examples: list[ProbeExamples] | None,
                *, title: str = "Invariance report", command: str | None = None) -> str:  # fmt: skip
    """The whole page as a string."""
    from .._version import __version__

    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    n_enc = len(dict.fromkeys(data.table["encoder"]))
    sub = (f"{n_enc} encoder(s) × {len(data.cols)} probe(s); mode: {data.mode}; K = {', '.join(str(k) for k in data.ks)}; "
           f"layers: {', '.join(data.layers)}; from {len(data.runs)} results file(s)")  # fmt: skip
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>", f'<p class="sub">{esc(sub)}</p>']  # fmt: skip
    for w in data.warnings:
        parts.append(f'<div class="warn">{esc(w)}</div>')
    parts.append('<section id="summary"><h2>Summary</h2>')
    for k in data.ks:
        parts.append(summary_table_html(data, k))
    parts.append("</section>")
    parts.append(how_to_read_html(data))
    if figures:
        parts.append('<section id="figures"><h2>Figures</h2>')
        for fid, cap, png in figures:
            parts.append(f'<figure id="fig-{esc(fid)}"><img src="{_data_uri("image/png", png)}" alt="{esc(cap)}">'
                         f"<figcaption>{esc(cap)}</figcaption></figure>")  # fmt: skip
        parts.append("</section>")
    if examples is not None:
        parts.append(examples_html(examples))
    parts.append(metadata_html(data))
    fr = ", ".join(f"{esc(c)}: {100 * g:.1f} %" for c in data.cols if (g := firing_rate(data, c)) is not None)
    parts.append(f"<footer>Generated {esc(now)} by invariance_lab {esc(__version__)}"
                 f"{'; command: <code>' + esc(command) + '</code>' if command else ''}"
                 f"{'; global firing rate per probe: ' + fr if fr else ''}.</footer>")  # fmt: skip
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts)
