"""Reports: results files in, one self-contained HTML page (or Markdown / LaTeX) out.

    >>> from invariance_lab.report import build_report
    >>> build_report(["runs/a/results.json", "runs/b"], "reports/ab.html")  # doctest: +SKIP

Modules: `load` (read, validate, merge; `ReportError`), `tables` (the summary numbers, chance
level), `figures` (matplotlib), `examples` (probe thumbnails), `html`, `markdown`, `latex`, `build`.
"""

from .build import FORMATS, build_report
from .load import ReportData, ReportError, load_results

__all__ = ["FORMATS", "ReportData", "ReportError", "build_report", "load_results"]
