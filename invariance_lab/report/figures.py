"""The report's figures (matplotlib, Agg): each function returns PNG bytes, or None when not applicable.

Colours are Okabe–Ito (colour-blind safe), repeated with different line styles / hatches past
eight encoders; heat maps use `cividis`. Labels coming from results files are passed through
`_plain` so matplotlib never interprets them as mathtext.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from .load import ReportData
from .tables import chance_level, default_k, score_grid

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]
LINESTYLES = ["-", "--", ":", "-."]
HATCHES = ["", "//", "..", "xx"]
DPI = 96


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
                         "figure.dpi": DPI, "savefig.dpi": DPI, "text.usetex": False,
                         "axes.spines.top": False, "axes.spines.right": False})  # fmt: skip
    return plt


def _plain(text: Any) -> str:
    """A label matplotlib shows literally (no mathtext from `$`)."""
    return str(text).replace("\\", "\\\\").replace("$", r"\$")


def style(i: int) -> dict[str, Any]:
    """Colour, line style and hatch of the i-th encoder row."""
    return {"color": OKABE_ITO[i % 8], "linestyle": LINESTYLES[(i // 8) % 4], "hatch": HATCHES[(i // 8) % 4]}


def _png(fig, tight: bool = True) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight" if tight else None, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _short(text: str, n: int = 38) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def score_label(data: ReportData, k: int) -> str:
    scale = "paper's scale" if data.mode == "paper" else ("strict scale" if data.mode == "strict" else "mixed scales")
    return f"invariance, top-{k} mean ({scale}, 100 = invariant)"


def _layer_note(data: ReportData) -> str:
    return f"; layer {_plain(data.layers[0])}" if len(data.layers) > 1 else ""


def primary_rows(data: ReportData) -> list[int]:
    """Indices of the rows measured at the first layer (profiles and curves show those; the heat map all)."""
    layer = data.layers[0]
    on_layer = set(data.table.loc[data.table["layer"].astype(str) == layer, "row"])
    return [i for i, r in enumerate(data.rows) if r in on_layer]


def bar_charts(data: ReportData, k: int | None = None) -> bytes | None:
    """One panel per probe: a horizontal bar per encoder row, error bars from the CI, chance dashed."""
    plt = _plt()
    k = default_k(data) if k is None else k
    score, lo, hi = score_grid(data, k)
    keep = primary_rows(data)
    rows, cols = [data.rows[i] for i in keep], data.cols
    score, lo, hi = score[keep], lo[keep], hi[keep]
    if np.all(np.isnan(score)):
        return None
    ncols = min(3, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    h = max(1.6, 0.22 * len(rows) + 0.9)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.9 * ncols, h * nrows), squeeze=False, layout="constrained")
    ylabels = [_plain(_short(r, 30)) for r in rows]
    styles = [style(i) for i in range(len(rows))]
    for j, col in enumerate(cols):
        ax = axes[j // ncols][j % ncols]
        vals = score[:, j]
        ok = np.isfinite(vals)
        y = np.arange(len(rows))
        ax.barh(y[ok], vals[ok], height=0.75, color=[st["color"] for st, o in zip(styles, ok, strict=False) if o],
                hatch=[st["hatch"] for st, o in zip(styles, ok, strict=False) if o], edgecolor="#444444", linewidth=0.3)  # fmt: skip
        err = np.vstack([vals - lo[:, j], hi[:, j] - vals])
        has_ci = ok & np.isfinite(err).all(axis=0)
        if has_ci.any():
            ax.errorbar(vals[has_ci], y[has_ci], xerr=err[:, has_ci], fmt="none", ecolor="#222222", capsize=2, lw=0.9)
        ch = chance_level(data, col)
        if ch is not None:
            ax.axvline(ch, color="#555555", ls="--", lw=0.9, label="chance (one neuron)")
        ax.set_yticks(y, ylabels if j % ncols == 0 else [""] * len(rows))
        ax.invert_yaxis()
        ax.set_xlim(0, max(100.0, float(np.nanmax(hi[:, j])) if np.isfinite(hi[:, j]).any() else 100.0) * 1.02)
        ax.set_title(_plain(_short(col)))
        ax.set_xlabel(f"top-{k} invariance (0–100)")
        ax.grid(axis="x", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
    for j in range(len(cols), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    fig.suptitle(f"Top-{k} invariance per probe (bars: score; whiskers: confidence interval where measured; dashed: chance){_layer_note(data)}",
                 fontsize=10)  # fmt: skip
    return _png(fig)


def profile_chart(data: ReportData, k: int | None = None) -> bytes | None:
    """Per-encoder profile over probes: small-multiple radars (≥ 3 probes) or one parallel-coordinates plot."""
    plt = _plt()
    k = default_k(data) if k is None else k
    rows, cols = data.rows, data.cols
    score, _, _ = score_grid(data, k)
    keep = primary_rows(data)
    rows, score = [rows[i] for i in keep], score[keep]
    if np.all(np.isnan(score)):
        return None
    vmax = max(100.0, float(np.nanmax(score)))
    if len(cols) < 3:
        fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
        x = np.arange(len(cols))
        for i, r in enumerate(rows):
            st = style(i)
            ax.plot(x, score[i], marker="o", color=st["color"], ls=st["linestyle"], label=_plain(_short(r, 30)))
        ax.set_xticks(x, [_plain(_short(c, 24)) for c in cols])
        ax.set_ylim(0, vmax)
        ax.set_ylabel(f"top-{k} invariance (0–100)")
        ax.set_xlabel("probe")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        ax.set_title("Invariance profile of each encoder over probes")
        return _png(fig)
    ncols = min(5, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    angles = np.linspace(0, 2 * np.pi, len(cols), endpoint=False)
    closed = np.append(angles, angles[0])
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(3.3 * ncols, 7.0), 2.9 * nrows), subplot_kw={"polar": True}, squeeze=False)
    for i, r in enumerate(rows):
        ax = axes[i // ncols][i % ncols]
        others = np.delete(score, i, axis=0)  # everyone else in grey, for reference
        if len(others):
            ax.plot(closed, np.hstack([others, others[:, :1]]).T, color="#cccccc", lw=0.6)
        v = score[i]
        known = np.isfinite(v)
        st = style(i)
        ax.plot(closed, np.append(v, v[0]), color=st["color"], lw=1.8, ls=st["linestyle"])  # gaps where not measured
        if known.all():
            ax.fill(closed, np.append(v, v[0]), color=st["color"], alpha=0.15)
        ax.plot(angles[known], v[known], "o", color=st["color"], ms=3)
        ax.plot(angles[~known], np.zeros((~known).sum()), "x", color="#999999", ms=4)
        ax.set_xticks(angles, [_plain(_short(c, 16)) for c in cols], fontsize=7)
        ax.set_ylim(0, vmax)
        ax.set_yticks([25, 50, 75, 100], ["25", "50", "75", "100"], fontsize=6, color="#777777")
        ax.set_title(_plain(_short(r, 30)), fontsize=9, pad=14)
    for j in range(len(rows), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    fig.suptitle(f"Invariance profile per encoder (top-{k}, radius 0–100)\ngrey: the other encoders; x: not measured{_layer_note(data)}",
                 fontsize=10)  # fmt: skip
    fig.subplots_adjust(left=0.1, right=0.9, bottom=0.05, top=1 - 1.4 / (2.9 * nrows), wspace=0.8, hspace=0.6)
    return _png(fig, tight=False)


def topk_curves(data: ReportData) -> bytes | None:
    """Invariance of the k-th best neuron against k, one panel per probe, one line per encoder row."""
    plt = _plt()
    rows, cols = [data.rows[i] for i in primary_rows(data)], data.cols
    curves = {(d["row"], d["col"]): d.get("curve") for d in data.details if d.get("curve")}
    if not curves:
        return None
    ncols = min(3, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.9 * ncols, 2.9 * nrows), squeeze=False, layout="constrained")
    handles: dict[str, Any] = {}
    for j, col in enumerate(cols):
        ax = axes[j // ncols][j % ncols]
        for i, r in enumerate(rows):
            c = curves.get((r, col))
            if not c:
                continue
            y = np.array([np.nan if v is None else float(v) for v in c])
            st = style(i)
            (line,) = ax.plot(np.arange(1, len(y) + 1), y, color=st["color"], ls=st["linestyle"], lw=1.3)
            handles.setdefault(r, line)
        for k in data.ks:
            ax.axvline(k, color="#999999", lw=0.7, ls=":")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_title(_plain(_short(col)))
        ax.set_xlabel("rank k of neuron (log scale)")
        ax.set_ylabel("invariance of k-th best (0–100)")
        ax.grid(color="#eeeeee", lw=0.6)
    for j in range(len(cols), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    if handles:
        fig.legend(list(handles.values()), [_plain(_short(r, 30)) for r in handles], loc="outside lower center",
                   ncol=min(4, len(handles)), frameon=False)  # fmt: skip
    fig.suptitle(f"Top-K curves: the k-th best neuron's invariance (dotted: the reported K){_layer_note(data)}", fontsize=10)
    return _png(fig)


def layer_heatmap(data: ReportData, k: int | None = None) -> bytes | None:
    """Heat map encoder·layer × probe when several layers were measured (None otherwise)."""
    if len(data.layers) < 2:
        return None
    plt = _plt()
    k = default_k(data) if k is None else k
    rows, cols = data.rows, data.cols
    score, _, _ = score_grid(data, k)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.0 * len(cols) + 2.5), max(2.0, 0.3 * len(rows) + 1.2)), layout="constrained")
    cmap = plt.get_cmap("cividis").with_extremes(bad="#ffffff")
    im = ax.imshow(np.ma.masked_invalid(score), cmap=cmap, vmin=0, vmax=max(100.0, float(np.nanmax(score))), aspect="auto")
    ax.set_xticks(np.arange(len(cols)), [_plain(_short(c, 20)) for c in cols], rotation=30, ha="right")
    ax.set_yticks(np.arange(len(rows)), [_plain(_short(r, 40)) for r in rows])
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(score[i, j]):
                ax.text(j, i, f"{score[i, j]:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if score[i, j] < 55 else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, label=f"top-{k} invariance (0–100)")
    ax.set_xlabel("probe")
    ax.set_ylabel("encoder · layer")
    ax.set_title(f"Top-{k} invariance per layer (blank: not measured)")
    return _png(fig)


def all_figures(data: ReportData) -> list[tuple[str, str, bytes]]:
    """(id, caption, PNG) of every applicable figure, in page order."""
    k = default_k(data)
    out = []
    for fid, cap, fn in (
        ("bars", f"Top-{k} invariance of each encoder on each probe, with confidence intervals where measured and the chance level of one neuron.", lambda: bar_charts(data, k)),
        ("profile", f"Each encoder's invariance profile over the probes (top-{k}).", lambda: profile_chart(data, k)),
        ("curves", "Top-K curves: invariance of the k-th most invariant neuron against k; the reported scores average the first K.", lambda: topk_curves(data)),
        ("layers", f"Top-{k} invariance per encoder layer and probe.", lambda: layer_heatmap(data, k)),
    ):  # fmt: skip
        png = fn()
        if png is not None:
            out.append((fid, cap, png))
    return out
