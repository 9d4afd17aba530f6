"""`build_report`: results in, one report out (HTML page, or Markdown / LaTeX with figure files)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from .examples import ProbeExamples, probe_examples
from .load import ReportData, ReportError, load_results

FORMATS = ("html", "md", "tex")
_SUFFIX = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".tex": "tex"}


def infer_format(out: str | os.PathLike, fmt: str | None) -> str:
    """The explicit format, else the one the file suffix names, else html."""
    if fmt:
        fmt = {"markdown": "md", "latex": "tex"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise ReportError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    return _SUFFIX.get(Path(out).suffix.lower(), "html")


def collect_examples(data: ReportData, data_root: str | None = None) -> list[ProbeExamples]:
    """Example sets of every probe column (notes where images are unavailable)."""
    return [probe_examples(col, entry["desc"], data_root=data_root) for col, entry in data.probes.items()]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _write(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def build_report(results: Any, out: str | os.PathLike, format: str | None = None, *, allow_mixed: bool = False,
                 title: str | None = None, data_root: str | None = None, examples: bool = True, figures: bool = True,
                 command: str | None = None) -> Path:  # fmt: skip
    """Build a report from results and write it to `out`.

    Args:
        results: results.json paths, folders holding one, `Results` objects or results dicts
            (one or a list); several are merged.
        out: the page to write (`.html`, `.md`, `.tex`); Markdown and LaTeX put figures in
            `<stem>_files/` beside it.
        format: "html", "md" or "tex" (default: from the suffix of `out`, else html).
        allow_mixed: merge results of different metric modes or probe digests (labelled apart).
        title: page title.
        data_root: where real-dataset probes' images are, for the example thumbnails.
        examples: include example sets of each probe.
        figures: include the figures (off: tables and metadata only).
        command: the command line to record on the page.

    Returns:
        The path written.

    Raises:
        ReportError: unreadable results, mixed inputs without `allow_mixed`, an unwritable `out`.

    Example:
        >>> build_report(["runs/a/results.json", "runs/b"], "reports/ab.html")  # doctest: +SKIP

    """
    from .figures import all_figures

    fmt = infer_format(out, format)
    data = load_results(results, allow_mixed=allow_mixed)
    title = title or "Invariance report"
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the folder of {out}: {exc}") from exc
    figs = all_figures(data) if figures else []
    exs = collect_examples(data, data_root) if examples else None
    command = command if command is not None else " ".join(sys.argv) if sys.argv and sys.argv[0] else None
    try:
        if fmt == "html":
            from .html import render_html

            _write(out, render_html(data, figs, exs, title=title, command=command))
            return out
        files_dir = out.with_name(out.stem + "_files")
        files_dir.mkdir(exist_ok=True)
        fig_files = []
        for fid, cap, png in figs:
            _write(files_dir / f"{fid}.png", png)
            fig_files.append((f"{files_dir.name}/{fid}.png", cap))
        if fmt == "md":
            from .markdown import render_markdown

            ex_files, notes = [], []
            for pe in exs or []:
                if pe.note:
                    notes.append(f"{pe.col}: {pe.note}")
                for n, s in enumerate(pe.sets):
                    name = f"examples-{_slug(pe.col)}-{n}.jpg"
                    _write(files_dir / name, s.jpeg)
                    ex_files.append((f"{files_dir.name}/{name}", f"{pe.col}: set {s.set_id} (class {s.class_id}), {s.n_shown} of {s.n_items} images"))
            _write(out, render_markdown(data, fig_files, ex_files, title=title, notes=notes))
        else:
            from .latex import render_latex

            _write(out, render_latex(data, fig_files, title=title))
    except OSError as exc:
        raise ReportError(f"cannot write the report {out}: {exc}") from exc
    return out
