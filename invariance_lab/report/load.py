"""Read, validate and merge results files (`invariance_lab.results/1`) into one `ReportData`.

Several runs can share a report when they measured the same thing: the same metric mode (paper
or strict: the two scales differ) and, for each probe name, the same probe digest (the same item
list, i.e. the same manifest). Anything else is refused with a message naming the files, unless
`allow_mixed=True`; then rows are labelled by mode and probe columns by digest so that different
measurements never share a cell.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InvarianceLabError

SCHEMA_PREFIX = "invariance_lab.results/"
_REQUIRED_ROW_KEYS = ("encoder", "probe", "layer", "mode", "k", "score")


class ReportError(InvarianceLabError):
    """A results file that cannot be read or merged, or a report that cannot be written."""


@dataclass
class Run:
    """One results document and where it came from (a file path, or `<object N>`)."""

    source: str
    doc: dict[str, Any]


@dataclass
class ReportData:
    """Everything a report shows, merged over runs.

    Attributes:
        table: results rows plus `source`, `row` (encoder label, with layer/mode/digest where
            needed to keep rows apart) and `col` (probe label).
        details: per (encoder, probe, layer) summaries and top-K curves, with `row`, `col`.
        encoders: per encoder name: spec, digest, load report, and the files it came from.
        probes: per probe column label: the probe description (sizes, digest, params, examples).
        runs: the merged runs.
        modes: metric modes present; ks: top-K values present; layers: layers present.
        warnings: things a reader should know (duplicates replaced, mixed inputs).

    """

    table: pd.DataFrame
    details: list[dict[str, Any]]
    encoders: dict[str, Any]
    probes: dict[str, Any]
    runs: list[Run]
    modes: list[str]
    ks: list[int]
    layers: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> list[str]:
        return list(dict.fromkeys(self.table["row"]))

    @property
    def cols(self) -> list[str]:
        return list(dict.fromkeys(self.table["col"]))

    @property
    def mode(self) -> str:
        return self.modes[0] if len(self.modes) == 1 else "mixed"

    def config(self) -> dict[str, Any]:
        """The first run's configuration (firing rate, n_boot, ...)."""
        return dict(self.runs[0].doc.get("config") or {})


def _read_doc(item: Any, n: int) -> Run:
    """A `Run` from a path (file or folder holding results.json), a `Results` or a JSON dict."""
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if path.is_dir():
            cand = path / "results.json"
            if not cand.is_file():
                raise ReportError(f"{path} is a folder without results.json; pass the results JSON file itself "
                                  f"(written by `invariance-lab evaluate/compare --out DIR`)")  # fmt: skip
            path = cand
        if not path.is_file():
            raise ReportError(f"results file {path} does not exist")
        try:
            doc = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReportError(f"cannot read results file {path}: {exc}; pass a results.json written by invariance-lab") from exc
        return Run(str(path), doc)
    if hasattr(item, "to_json") and hasattr(item, "table"):  # a Results
        from ..evaluate import _jsonable

        return Run(f"<results object {n}>", _jsonable(item.to_json()))
    if isinstance(item, dict):
        return Run(f"<results dict {n}>", item)
    raise ReportError(f"cannot make a report from {type(item).__name__}; pass results.json paths, folders or Results objects")


def _validate(run: Run) -> None:
    doc = run.doc
    if not isinstance(doc, dict):
        raise ReportError(f"{run.source}: not a results document (a JSON object was expected)")
    schema = doc.get("schema")
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_PREFIX):
        raise ReportError(f"{run.source}: key 'schema' is {schema!r}, expected '{SCHEMA_PREFIX}1'; "
                          f"is this a results.json from `invariance-lab evaluate`?")  # fmt: skip
    rows = doc.get("results")
    if not isinstance(rows, list):
        raise ReportError(f"{run.source}: key 'results' is missing or not a list")
    for i, r in enumerate(rows):
        missing = [k for k in _REQUIRED_ROW_KEYS if not isinstance(r, dict) or k not in r]
        if missing:
            raise ReportError(f"{run.source}: results[{i}] lacks keys {missing}; the file is truncated or not a results file")
    for key in ("encoders", "probes", "config", "versions"):
        if key in doc and not isinstance(doc[key], dict):
            raise ReportError(f"{run.source}: key {key!r} must be an object")
    if "details" in doc and not isinstance(doc["details"], list):
        raise ReportError(f"{run.source}: key 'details' must be a list")


def load_runs(items: Any) -> list[Run]:
    """Read and validate results from paths, folders, `Results` objects or dicts (one or a list)."""
    if isinstance(items, (str, os.PathLike, dict)) or hasattr(items, "to_json"):
        items = [items]
    runs = [_read_doc(it, n) for n, it in enumerate(items)]
    if not runs:
        raise ReportError("no results given; pass at least one results.json")
    for run in runs:
        _validate(run)
    return runs


def _probe_digest(run: Run, row: dict[str, Any]) -> str | None:
    d = row.get("probe_digest")
    if d:
        return str(d)
    desc = (run.doc.get("probes") or {}).get(row["probe"]) or {}
    return desc.get("digest")


def _fmt_sources(sources: Iterable[str]) -> str:
    return ", ".join(sorted(set(sources)))


def merge_runs(runs: list[Run], allow_mixed: bool = False) -> ReportData:
    """Merge runs into one `ReportData`.

    Raises:
        ReportError: when runs differ in metric mode or in the digest of a probe of the same name
            (naming the files), unless `allow_mixed`.

    """
    records: list[dict[str, Any]] = []
    for run in runs:
        for r in run.doc["results"]:
            rec = dict(r)
            rec["source"] = run.source
            rec["probe_digest"] = _probe_digest(run, r)
            rec["k"] = int(rec["k"])
            for c in ("score", "ci_low", "ci_high"):
                rec[c] = _num(rec.get(c))
            records.append(rec)
    if not records:
        raise ReportError(f"{_fmt_sources(r.source for r in runs)}: no results rows to report")
    table = pd.DataFrame.from_records(records)
    warnings: list[str] = []

    modes = list(dict.fromkeys(table["mode"]))
    mixed_mode = len(modes) > 1
    if mixed_mode:
        by_mode = "; ".join(f"{m}: {_fmt_sources(table.loc[table['mode'] == m, 'source'])}" for m in modes)
        if not allow_mixed:
            raise ReportError(f"results use different metric modes ({by_mode}); paper and strict scores are on "
                              f"different scales and cannot share a table. Report them separately, or pass "
                              f"--allow-mixed to show them side by side, labelled by mode")  # fmt: skip
        warnings.append(f"mixed metric modes ({by_mode}): rows are labelled by mode; do not compare across modes")

    mixed_probes: set[str] = set()
    for probe, g in table.groupby("probe", sort=False):
        digests = [d for d in dict.fromkeys(g["probe_digest"]) if d]
        if len(digests) > 1:
            mixed_probes.add(str(probe))
            by_digest = "; ".join(f"{d[:12]}: {_fmt_sources(g.loc[g['probe_digest'] == d, 'source'])}" for d in digests)
            if not allow_mixed:
                raise ReportError(f"probe {probe!r} has different digests (different image sets/manifests) in "
                                  f"the inputs ({by_digest}); its scores are not comparable. Re-run on the same "
                                  f"probe manifest, or pass --allow-mixed to show them as separate columns")  # fmt: skip
            warnings.append(f"probe {probe!r} was measured on different item lists ({by_digest}): one column per digest")

    multi_digest_enc = {
        e for e, g in table.groupby("encoder", sort=False) if len({d for d in g.get("encoder_digest", pd.Series()) if d}) > 1
    }
    layers = list(dict.fromkeys(table["layer"].astype(str)))

    def row_label(enc: str, layer: str, mode: str, edig: Any) -> str:
        label = str(enc)
        if enc in multi_digest_enc and edig:
            label += f" @{str(edig)[:8]}"
        if len(layers) > 1:
            label += f" · {layer}"
        if mixed_mode:
            label += f" [{mode}]"
        return label

    def col_label(probe: str, pdig: Any) -> str:
        return f"{probe} @{str(pdig)[:8]}" if probe in mixed_probes and pdig else str(probe)

    edig = table["encoder_digest"] if "encoder_digest" in table else pd.Series([None] * len(table))
    table["row"] = [row_label(e, str(la), m, d) for e, la, m, d in zip(table["encoder"], table["layer"], table["mode"], edig, strict=True)]
    table["col"] = [col_label(p, d) for p, d in zip(table["probe"], table["probe_digest"], strict=True)]

    key = ["row", "col", "k"]
    dup = table.duplicated(key, keep="last")
    if dup.any():
        for _, r in table[table.duplicated(key, keep=False) & ~dup].iterrows():
            warnings.append(f"{r['row']} on {r['col']} (top-{r['k']}) appears in several inputs; the last one ({r['source']}) is shown")
        table = table[~dup].reset_index(drop=True)

    # details, encoders, probes keyed like the table
    details: list[dict[str, Any]] = []
    encoders: dict[str, Any] = {}
    probes: dict[str, Any] = {}
    for run in runs:
        doc = run.doc
        mode_of_run = (doc.get("config") or {}).get("mode") or (doc["results"][0]["mode"] if doc["results"] else "")
        enc_digest = {r["encoder"]: r.get("encoder_digest") for r in doc["results"]}
        probe_digest = {r["probe"]: _probe_digest(run, r) for r in doc["results"]}
        for d in doc.get("details") or []:
            if not isinstance(d, dict) or not {"encoder", "probe", "layer"} <= set(d):
                continue
            mode = (d.get("summary") or {}).get("mode") or mode_of_run
            dd = dict(d, source=run.source)
            dd["row"] = row_label(d["encoder"], str(d["layer"]), mode, enc_digest.get(d["encoder"]))
            dd["col"] = col_label(d["probe"], probe_digest.get(d["probe"]))
            details = [x for x in details if (x["row"], x["col"]) != (dd["row"], dd["col"])]
            details.append(dd)
        for name, info in (doc.get("encoders") or {}).items():
            entry = encoders.setdefault(str(name), {"info": info if isinstance(info, dict) else {"value": info}, "sources": []})
            entry["sources"].append(run.source)
        for name, desc in (doc.get("probes") or {}).items():
            desc = desc if isinstance(desc, dict) else {}
            label = col_label(str(name), desc.get("digest") or probe_digest.get(name))
            entry = probes.setdefault(label, {"desc": desc, "sources": []})
            entry["sources"].append(run.source)
    for p in dict.fromkeys(table["probe"]):  # probes with rows but no description
        for label in dict.fromkeys(table.loc[table["probe"] == p, "col"]):
            probes.setdefault(label, {"desc": {"name": p}, "sources": []})
    ks = sorted({int(k) for k in table["k"]})
    return ReportData(table=table, details=details, encoders=encoders, probes=probes, runs=runs,
                      modes=modes, ks=ks, layers=layers, warnings=warnings)  # fmt: skip


def load_results(items: Any, allow_mixed: bool = False) -> ReportData:
    """Read, validate and merge results (paths, folders, `Results` objects or dicts).

    Raises:
        ReportError: unreadable or invalid files (named), or mixed modes / probe digests.

    Example:
        >>> data = load_results(["runs/a/results.json", "runs/b"])  # doctest: +SKIP

    """
    return merge_runs(load_runs(items), allow_mixed=allow_mixed)


def _num(v: Any) -> float:
    try:
        return float(v) if v is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")
