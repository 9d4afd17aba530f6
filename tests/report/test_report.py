"""Reports: values parse back equal to the results, escaping, merging rules, blanks, size, examples, CLI."""

from __future__ import annotations

import json
import re

import pytest

from invariance_lab.cli import main
from invariance_lab.report import ReportError, build_report, load_results

from .parse import html_tables, md_tables, md_unescape, tex_tables, tex_unescape
from .synth import make_doc, make_image_sets


def _expected(doc, k):
    return {(r["encoder"], r["probe"]): r for r in doc["results"] if r["k"] == k}


@pytest.fixture(scope="module")
def strict_doc():
    return make_doc(("enc-a", "enc_b", "enc-c"), ("synth-viewpoint", "synth-occlusion", "synth-crop"), mode="strict",
                    missing={("enc-c", "synth-crop")}, seed=3)  # fmt: skip


@pytest.fixture(scope="module")
def three_formats(strict_doc, tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    return {fmt: build_report(strict_doc, d / f"r.{fmt}", examples=False, figures=fmt == "md").read_text() for fmt in ("html", "md", "tex")}


def test_html_table_values_equal_results(strict_doc, three_formats):
    tables = html_tables(three_formats["html"])
    for k in (10, 25):
        t = tables[f"summary-top{k}"]
        assert t["cols"] == ["synth-viewpoint", "synth-occlusion", "synth-crop"]
        exp = _expected(strict_doc, k)
        best = {p: max(r["score"] for (e, pp), r in exp.items() if pp == p) for p in t["cols"]}
        n = 0
        for enc, cells in t["rows"].items():
            for probe, (value, text, is_best) in zip(t["cols"], cells, strict=True):
                r = exp.get((enc, probe))
                if r is None:
                    assert value == "" and text == ""
                    continue
                n += 1
                assert float(value) == r["score"]  # exact, round-trips through repr
                assert text.startswith(f"{r['score']:.2f} [{r['ci_low']:.1f}, {r['ci_high']:.1f}]")
                assert is_best == (r["score"] == best[probe]) and ("★" in text) == is_best
        assert n == len(exp) == 8


def test_markdown_and_latex_values_equal_results(strict_doc, three_formats):
    md, tex = md_tables(three_formats["md"]), tex_tables(three_formats["tex"])
    for k in (10, 25):
        exp = _expected(strict_doc, k)
        for tables, strip in ((md, lambda c: re.sub(r"\*\*|★", "", md_unescape(c))), (tex, lambda c: re.sub(r"\\textbf\{([^}]*)\}", r"\1", tex_unescape(c)))):
            t = tables[k]
            assert t["cols"] == ["synth-viewpoint", "synth-occlusion", "synth-crop"]
            assert set(t["rows"]) == {"enc-a", "enc_b", "enc-c"}
            for enc, cells in t["rows"].items():
                for probe, cell in zip(t["cols"], cells, strict=True):
                    r = exp.get((enc, probe))
                    if r is None:
                        assert cell == ""
                        continue
                    nums = [float(x) for x in re.findall(r"-?\d+\.\d+", strip(cell))]
                    assert nums == [round(r["score"], 2), round(r["ci_low"], 1), round(r["ci_high"], 1)]
    assert "\\toprule" in three_formats["tex"] and "\\begin{tabular}{lrrr}" in three_formats["tex"]


def test_missing_values_are_blank_not_zero(tmp_path):
    doc = make_doc(("a", "b"), ("p1", "p2"), missing={("b", "p2")})
    html = build_report(doc, tmp_path / "r.html", examples=False, figures=False).read_text()
    for t in html_tables(html).values():
        assert t["rows"]["b"][1] == ("", "", False)
        assert t["rows"]["b"][0][1] != ""
    md = md_tables(build_report(doc, tmp_path / "r.md", examples=False, figures=False).read_text())
    tex = tex_tables(build_report(doc, tmp_path / "r.tex", examples=False, figures=False).read_text())
    for t in (md[10], tex[10]):
        assert t["rows"]["b"][1] == "" and t["rows"]["b"][0] != ""
    assert "nan" not in html.lower().replace("nanosecond", "")


EVIL = "<script>alert(1)</script>"


def test_strings_from_results_are_escaped(tmp_path):
    evil_probe = '"><img src=x onerror=alert(2)>'
    doc = make_doc((EVIL, "ok"), ("synth-viewpoint", evil_probe), source_root="/data/<b>bold</b>")
    doc["encoders"][EVIL]["load_report"]["dropped_keys"] = ["<i>k</i>"]
    doc["config"]["command"] = "run --x '<iframe>'"
    html = build_report(doc, tmp_path / "r.html", examples=False, title="<h1>t</h1>").read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # only the page's own sorting script
    assert "<img src=x" not in html and "onerror=alert(2)" not in html.replace("onerror=alert(2)&gt;", "")
    for bad in ("<b>bold</b>", "<i>k</i>", "<iframe>", "<h1>t</h1>"):
        assert bad not in html
    tables = html_tables(html)
    assert EVIL in tables["summary-top10"]["rows"]  # shown as text
    assert evil_probe in tables["summary-top10"]["cols"]
    md = build_report(doc, tmp_path / "r.md", examples=False, figures=False).read_text()
    assert "<script>" not in md and "<img" not in md
    tex = build_report(doc, tmp_path / "r.tex", examples=False, figures=False).read_text()
    assert "\\textless{}script\\textgreater{}" in tex


def test_merge_two_files(tmp_path):
    a = make_doc(("enc-a",), ("p1", "p2"), seed=1)
    b = make_doc(("enc-b",), ("p1", "p2"), seed=2)
    pa, pb = tmp_path / "a" / "results.json", tmp_path / "b.json"
    pa.parent.mkdir()
    pa.write_text(json.dumps(a))
    pb.write_text(json.dumps(b))
    data = load_results([pa.parent, pb])  # a folder and a file
    assert data.rows == ["enc-a", "enc-b"] and data.cols == ["p1", "p2"] and not data.warnings
    html = build_report([pa, pb], tmp_path / "ab.html", examples=False, figures=False).read_text()
    t = html_tables(html)["summary-top25"]
    for doc, enc in ((a, "enc-a"), (b, "enc-b")):
        for (_e, p), r in _expected(doc, 25).items():
            assert float(t["rows"][enc][t["cols"].index(p)][0]) == r["score"]
    assert str(pa) in html and str(pb) in html  # both runs in the metadata


def test_mixed_modes_and_digests_refused_unless_allowed(tmp_path, capsys):
    a = make_doc(("enc-a",), ("p1",), mode="paper")
    s = make_doc(("enc-s",), ("p1",), mode="strict")
    d = make_doc(("enc-d",), ("p1",), probe_salt="other manifest")
    paths = {}
    for name, doc in (("paper", a), ("strict", s), ("digest", d)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    with pytest.raises(ReportError, match="different metric modes") as ei:
        load_results([paths["paper"], paths["strict"]])
    assert str(paths["paper"]) in str(ei.value) and str(paths["strict"]) in str(ei.value) and "--allow-mixed" in str(ei.value)
    with pytest.raises(ReportError, match="different digests") as ei:
        load_results([paths["paper"], paths["digest"]])
    assert str(paths["paper"]) in str(ei.value) and str(paths["digest"]) in str(ei.value) and "'p1'" in str(ei.value)

    out = tmp_path / "mixed.html"
    assert main(["report", str(paths["paper"]), str(paths["strict"]), "-o", str(out), "--no-examples"]) == 2
    assert "different metric modes" in capsys.readouterr().err and not out.exists()
    assert main(["report", str(paths["paper"]), str(paths["strict"]), str(paths["digest"]), "-o", str(out), "--allow-mixed", "--no-examples", "--no-figures"]) == 0
    t = html_tables(out.read_text())["summary-top10"]
    assert len(t["cols"]) == 2 and all(c.startswith("p1 @") for c in t["cols"])  # one column per digest
    assert set(t["rows"]) == {"enc-a [paper]", "enc-s [strict]", "enc-d [paper]"}
    assert "mixed metric modes" in out.read_text()


def test_bad_inputs_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something/else", "results": []}')
    with pytest.raises(ReportError, match=re.escape(str(bad))):
        load_results(bad)
    with pytest.raises(ReportError, match="results.json"):
        load_results(tmp_path)  # a folder without results.json
    doc = make_doc()
    del doc["results"][0]["score"]
    with pytest.raises(ReportError, match=r"results\[0\] lacks keys \['score'\]"):
        load_results(doc)


def test_20_encoders_by_10_probes_size_and_styles(tmp_path):
    from invariance_lab.report.figures import style

    encs = [f"encoder-{i:02d}-with-a-longish-name" for i in range(20)]
    probes = [f"probe-{j}" for j in range(10)]
    doc = make_doc(encs, probes, mode="strict", layers=("pooled", "layer3"), curve_len=512,
                   missing={(encs[3], probes[4])})  # fmt: skip
    path = build_report(doc, tmp_path / "big.html", examples=False)
    size = path.stat().st_size
    assert size < 10e6, f"report is {size / 1e6:.1f} MB"
    html = path.read_text()
    tables = html_tables(html)
    assert len(tables["summary-top10"]["rows"]) == 40 and len(tables["summary-top10"]["cols"]) == 10
    assert all(f'id="fig-{f}"' in html for f in ("bars", "profile", "curves", "layers"))
    # every encoder row keeps a distinguishable style in the figures
    assert len({(s["color"], s["linestyle"]) for s in map(style, range(40))}) == 32 and len({tuple(style(i).items()) for i in range(20)}) == 20


def test_example_thumbnails_and_unavailable_images(tmp_path):
    root = tmp_path / "imgs"
    ex = make_image_sets(root)
    doc = make_doc(("a",), ("synth-viewpoint", "nowhere"), examples={"synth-viewpoint": ex, "nowhere": ex}, source_root=root)
    doc["probes"]["nowhere"]["root"] = str(tmp_path / "gone")
    html = build_report(doc, tmp_path / "r.html", figures=False).read_text()
    jpegs = re.findall(r'src="data:image/jpeg;base64,', html)
    assert len(jpegs) == 3  # three sets of the first probe, one contact sheet each
    assert "example images unavailable on this machine" in html and "all 5 images" in html
    md_path = build_report(doc, tmp_path / "r.md", figures=False)
    assert len(list((tmp_path / "r_files").glob("examples-*.jpg"))) == 3 and "unavailable" in md_path.read_text()
