"""Markdown output: the summary tables, with figures and example sheets as files beside the page."""

from __future__ import annotations

from html import escape

from .load import ReportData
from .tables import caption, cell_grid, chance_level

_MD_SPECIAL = "\\`*_[]|#"


def md_escape(text: object) -> str:
    """Text that Markdown renders literally: `<>&` as entities (no raw HTML), punctuation backslash-escaped."""
    s = escape(str(text), quote=False)
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s)


def summary_table_md(data: ReportData, k: int) -> str:
    """A pipe table for top-`k`; the best in each column in bold with ★; blanks where not measured."""
    rows, cols = data.rows, data.cols
    lines = [f"**Table (top-{k}).** {md_escape(caption(data, k))}", "",
             "| encoder | " + " | ".join(md_escape(c) for c in cols) + " |",
             "| --- | " + " | ".join("---:" for _ in cols) + " |"]  # fmt: skip
    grid = cell_grid(data, k, best=lambda s: f"**{s}** ★", ci=lambda c: f" {md_escape(c)}")
    for r, cells in zip(rows, grid, strict=True):
        lines.append(f"| {md_escape(r)} | " + " | ".join(cells) + " |")
    chance = [chance_level(data, c) for c in cols]
    lines.append("| *chance (one neuron)* | " + " | ".join("" if c is None else f"*{c:.1f}*" for c in chance) + " |")
    return "\n".join(lines)


def render_markdown(data: ReportData, figure_files: list[tuple[str, str]], example_files: list[tuple[str, str]],
                    *, title: str = "Invariance report", notes: list[str] | None = None) -> str:  # fmt: skip
    """The Markdown page; `figure_files`/`example_files` are (relative path, caption) pairs."""
    parts = [f"# {md_escape(title)}", ""]
    parts.append(f"Mode: {md_escape(data.mode)}; K = {', '.join(map(str, data.ks))}; layers: {md_escape(', '.join(data.layers))}; "
                 f"{len(data.runs)} results file(s): {md_escape(', '.join(r.source for r in data.runs))}.")  # fmt: skip
    parts.append("")
    for w in data.warnings + list(notes or []):
        parts += [f"> **Note:** {md_escape(w)}", ""]
    for k in data.ks:
        parts += [summary_table_md(data, k), ""]
    for path, cap in figure_files:
        parts += [f"![{md_escape(cap)}]({path})", "", f"*{md_escape(cap)}*", ""]
    if example_files:
        parts += ["## Example sets", ""]
        for path, cap in example_files:
            parts += [f"![{md_escape(cap)}]({path})", "", f"*{md_escape(cap)}*", ""]
    return "\n".join(parts)
