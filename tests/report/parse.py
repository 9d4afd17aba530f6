"""Parse the report's summary tables back (HTML, Markdown, LaTeX) to compare with the results file."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser


class SummaryTables(HTMLParser):
    """tables[id] = {"cols": [...], "rows": {label: [(data_value, text, best), ...]}} for table.summary."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self._t, self._cell, self._sect, self._row = {}, None, None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "summary" in (a.get("class") or ""):
            self._t = {"cols": [], "rows": {}}
            self.tables[a.get("id")] = self._t
        elif self._t is None:
            return
        elif tag in ("thead", "tbody", "tfoot"):
            self._sect = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td"):
            self._cell = {"tag": tag, "value": a.get("data-value"), "text": "", "best": "best" in (a.get("class") or "")}

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data

    def handle_endtag(self, tag):
        if self._t is None:
            return
        if tag in ("th", "td") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._sect == "thead":
                self._t["cols"] = [c["text"] for c in self._row[1:]]
            elif self._sect == "tbody":
                self._t["rows"][self._row[0]["text"]] = [(c["value"], c["text"].strip(), c["best"]) for c in self._row[1:]]
            self._row = None
        elif tag == "table":
            self._t = None


def html_tables(text: str) -> dict:
    p = SummaryTables()
    p.feed(text)
    return p.tables


_MD_UNESC = re.compile(r"\\([\\`*_\[\]|#])")


def md_unescape(s: str) -> str:
    return unescape(_MD_UNESC.sub(r"\1", s))


def _split_md_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip() for c in cells]


def md_tables(text: str) -> dict:
    """{k: {"cols": [...], "rows": {label: [cell text, ...]}}} from the Markdown page."""
    out, lines = {}, text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\*\*Table \(top-(\d+)\)\.\*\*", line)
        if not m:
            continue
        head = _split_md_row(lines[i + 2])
        t = {"cols": [md_unescape(c) for c in head[1:]], "rows": {}}
        for row in lines[i + 4 :]:
            if not row.startswith("|"):
                break
            cells = _split_md_row(row)
            if cells[0].startswith("*chance"):
                continue
            t["rows"][md_unescape(cells[0])] = cells[1:]
        out[int(m.group(1))] = t
    return out


_TEX_UNESC = {r"\textbackslash{}": "\\", r"\&": "&", r"\%": "%", r"\$": "$", r"\#": "#", r"\_": "_", r"\{": "{", r"\}": "}",
              r"\textasciitilde{}": "~", r"\textasciicircum{}": "^", r"\textless{}": "<", r"\textgreater{}": ">", r"$\cdot$": "·"}  # fmt: skip


def tex_unescape(s: str) -> str:
    for k, v in _TEX_UNESC.items():
        s = s.replace(k, v)
    return s


def tex_tables(text: str) -> dict:
    out = {}
    for m in re.finditer(r"\\label\{tab:invariance-top(\d+)\}.*?\\midrule\n(.*?)\\midrule", text, re.S):
        block = text[m.start() :]
        head = block.split("\\toprule\n", 1)[1].split(" \\\\", 1)[0]
        cols = [tex_unescape(c.strip()) for c in re.split(r"(?<!\\)&", head)[1:]]
        rows = {}
        for line in m.group(2).strip().splitlines():
            cells = [c.strip() for c in re.split(r"(?<!\\)&", line.rstrip().removesuffix("\\\\").rstrip())]
            rows[tex_unescape(cells[0])] = cells[1:]
        out[int(m.group(1))] = {"cols": cols, "rows": rows}
    return out
