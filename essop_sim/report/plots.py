"""Figures of a run or sweep table (matplotlib, no display needed).

:func:`plot_results` reads a table (``sweep.json``/``report.json``/CSV/Parquet, or a directory
holding one) and draws every figure the table supports, skipping the others with a note:

=====================  =========================================================================
``cycles_vs_bl``       cycles and time per training step vs bitstream length, one line per array
                       size (ESSOP), log-log
``utilization``        heatmaps over array size x bitstream length: array utilization and each
                       block's busy fraction (cycle-weighted over the layers)
``error_vs_bl``        update error (relative Frobenius error, cosine similarity) vs bitstream
                       length, with a 1/sqrt(BL) reference line through the smallest-BL point of
                       the first series
``energy_area``        energy and area of ESSOP vs FP16, per layer and in total
``cycle_breakdown``    per-layer cycles of one configuration, stacked: compute (cycles minus all
                       stalls) and each stall cause
=====================  =========================================================================

Conventions: a *point* is one configuration on one trace (rows sharing ``point_id``; a single
run's report is one point). When a trace holds several steps, per-layer values are means over the
steps and totals are sums over layers of those means, i.e. *per training step*. When a table
holds several traces, figures use the first one (a note says so). The reference configuration of
the per-configuration figures is the ESSOP point with the default bitstream length and array size
(64, 32x32) if present, else the first ESSOP point; pass ``point_id`` to choose another.

Figures are built on :class:`matplotlib.figure.Figure` objects, never pyplot, so no display,
global figure state or backend switch is involved: PNG is rendered by the Agg canvas, SVG/PDF by
theirs, whatever backend the caller uses. All share one style context (:data:`STYLE`) and are
written atomically, with reproducible metadata (no dates).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from cycler import cycler
from matplotlib.figure import Figure

from .io import atomic_write, read_rows

__all__ = [
    "FIGURES", "STYLE", "Unsupported", "figure_cycle_breakdown", "figure_cycles_vs_bl",
    "figure_energy_area", "figure_error_vs_bl", "figure_utilization", "find_table",
    "plot_cycle_breakdown", "plot_cycles_vs_bl", "plot_energy_area", "plot_error_vs_bl",
    "plot_results", "plot_utilization", "save_figure",
]

#: Okabe-Ito colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

#: The one style of every figure (matplotlib rcParams).
STYLE: dict[str, Any] = {
    "figure.figsize": (7.0, 4.5),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linestyle": ":",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=PALETTE),
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "image.cmap": "viridis",
    "svg.hashsalt": "essop-sim",  # deterministic SVG ids
    "svg.fonttype": "path",
}

ESSOP_COLOR, FP16_COLOR = PALETTE[0], PALETTE[3]
DEFAULT_REFERENCE = {"bitstream_length": 64, "array_rows": 32, "array_cols": 32}


class Unsupported(Exception):
    """The table cannot support this figure (the message says why)."""


# ----------------------------------------------------------------------------- table helpers


def find_table(path: str | os.PathLike) -> Path:
    """The table file for a path: the file itself, or in a directory the first of
    ``sweep.json``, ``report.json``, ``sweep.csv``, ``report.csv``, ``sweep.parquet``."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for name in ("sweep.json", "report.json", "sweep.csv", "report.csv", "sweep.parquet"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path}: no sweep.json, report.json, sweep.csv or report.csv")
    raise FileNotFoundError(f"{path}: no such table file or directory")


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _points(rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Rows grouped by point (``point_id``; a table without it is one point), in order."""
    groups: dict[Any, list] = {}
    for r in rows:
        groups.setdefault(r.get("point_id"), []).append(r)
    return list(groups.values())


def _first_trace(rows: Sequence[Mapping[str, Any]], note: Callable[[str], None],
                 name: str) -> list[Mapping[str, Any]]:
    traces = list(dict.fromkeys(r.get("trace") for r in rows))
    if len(traces) > 1:
        note(f"{name}: table holds {len(traces)} traces; plotting trace {traces[0]!r} only")
        return [r for r in rows if r.get("trace") == traces[0]]
    return list(rows)


def _per_layer(rows: Sequence[Mapping[str, Any]], key: str) -> dict[str, float]:
    """Layer -> mean of ``key`` over the layer's steps (None values skipped), in layer order."""
    acc: dict[str, list[float]] = {}
    for r in rows:
        v = _num(r.get(key))
        lst = acc.setdefault(str(r.get("layer")), [])
        if v is not None:
            lst.append(v)
    return {layer: (sum(v) / len(v) if v else math.nan) for layer, v in acc.items()}


class _Point:
    """Summary of one point: per-step totals and cycle-weighted fractions."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]):
        self.rows = list(rows)
        first = self.rows[0]
        self.point_id = first.get("point_id")
        self.datapath = first.get("datapath")
        self.bl = _num(first.get("bitstream_length"))
        self.array = (first.get("array_rows"), first.get("array_cols"))
        self.layers = list(dict.fromkeys(str(r.get("layer")) for r in self.rows))
        self.cycles = self.total("cycles")
        self.time_s = self.total("time_s")
        self.energy_pj = self.total("energy_pj")
        areas = [a for a in (_num(r.get("area_um2")) for r in self.rows) if a is not None]
        self.area_um2 = max(areas) if areas else None

    def total(self, key: str) -> float | None:
        """Sum over layers of the per-step mean of ``key`` (None if any layer lacks it)."""
        values = list(_per_layer(self.rows, key).values())
        if not values or any(math.isnan(v) for v in values):
            return None
        return sum(values)

    def weighted(self, key: str) -> float | None:
        """Cycle-weighted mean of a per-row fraction over all rows."""
        num = den = 0.0
        for r in self.rows:
            v, c = _num(r.get(key)), _num(r.get("cycles"))
            if v is None or c is None:
                continue
            num += v * c
            den += c
        return num / den if den > 0 else None

    def mean(self, key: str) -> float | None:
        """Plain mean of ``key`` over the rows (layers x steps), None values skipped."""
        values = [v for v in (_num(r.get(key)) for r in self.rows) if v is not None]
        return sum(values) / len(values) if values else None

    def array_label(self) -> str:
        return f"{self.array[0]}x{self.array[1]}"

    def describe(self) -> str:
        if self.datapath == "essop":
            return f"ESSOP, BL={self.bl:g}, {self.array_label()} array"
        mult = self.rows[0].get("multipliers")
        return f"FP16, {mult} multipliers" if mult else str(self.datapath).upper()


def _summaries(rows: Sequence[Mapping[str, Any]]) -> list[_Point]:
    return [_Point(g) for g in _points(rows)]


def _swept_others(points: Sequence[_Point], exclude: Sequence[str]) -> list[str]:
    """Swept (dotted) config columns, other than ``exclude``, that vary across ``points``."""
    if not points:
        return []
    columns = [c for c in points[0].rows[0] if ("." in c or c == "seed") and c not in exclude]
    varying = []
    for c in columns:
        values = {repr(p.rows[0].get(c)) for p in points}
        if len(values) > 1:
            varying.append(c)
    return varying


_BL_KEYS = ("essop.bitstream_length", "essop.array.rows", "essop.array.cols", "essop.array",
            "datapath")


def _series_label(p: _Point, others: Sequence[str]) -> str:
    extra = ", ".join(f"{c.split('.')[-1]}={p.rows[0].get(c)}" for c in others)
    return p.array_label() + (f" ({extra})" if extra else "")


def _essop_with_bl(points: Sequence[_Point]) -> list[_Point]:
    return [p for p in points if p.datapath == "essop" and p.bl]


def _fix_others(points: list[_Point], note: Callable[[str], None], name: str) -> list[_Point]:
    """Keep the points that share the first point's values of every other varying swept key."""
    others = _swept_others(points, _BL_KEYS)
    if not others:
        return points
    ref = points[0].rows[0]
    kept = [p for p in points if all(repr(p.rows[0].get(c)) == repr(ref.get(c)) for c in others)]
    fixed = ", ".join(f"{c}={ref.get(c)!r}" for c in others)
    note(f"{name}: several values of {', '.join(others)}; plotting {fixed}")
    return kept


def _reference(points: Sequence[_Point], point_id: str | None, datapath: str = "essop"
               ) -> _Point | None:
    if point_id is not None:
        for p in points:
            if p.point_id == point_id:
                return p
        raise Unsupported(f"no point with point_id {point_id!r}")
    candidates = [p for p in points if p.datapath == datapath]
    if not candidates:
        return None
    for p in candidates:
        r = p.rows[0]
        if all(r.get(k) == v for k, v in DEFAULT_REFERENCE.items()):
            return p
    return candidates[0]


def _lines(points: Sequence[_Point], note: Callable[[str], None], name: str):
    """ESSOP points grouped into series (array size + other swept keys), each sorted by BL."""
    essop = _essop_with_bl(points)
    if len({p.bl for p in essop}) < 2:
        raise Unsupported("needs ESSOP points at two or more bitstream lengths")
    others = _swept_others(essop, _BL_KEYS)
    series: dict[str, list[_Point]] = {}
    for p in sorted(essop, key=lambda p: (p.array[0] * p.array[1], p.array)):
        series.setdefault(_series_label(p, others), []).append(p)
    for label, pts in series.items():
        pts.sort(key=lambda p: p.bl)
        if len({p.bl for p in pts}) != len(pts):
            note(f"{name}: series {label} has repeated bitstream lengths (an unswept key varies?)")
    return series


def _log2_ticks(ax, values: Sequence[float]) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(set(values))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()


# ----------------------------------------------------------------------------- figures


def figure_cycles_vs_bl(rows: Sequence[Mapping[str, Any]], *,
                        note: Callable[[str], None] = print) -> Figure:
    """Cycles and time per training step vs bitstream length, one line per array size."""
    rows = _first_trace(rows, note, "cycles_vs_bl")
    series = _lines(_summaries(rows), note, "cycles_vs_bl")
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    ax_c, ax_t = fig.subplots(1, 2)
    bls = []
    for i, (label, pts) in enumerate(series.items()):
        pts = [p for p in pts if p.cycles and p.time_s]
        if not pts:
            continue
        x = [p.bl for p in pts]
        bls += x
        style = {"marker": MARKERS[i % len(MARKERS)], "color": PALETTE[i % len(PALETTE)],
                 "label": label}
        ax_c.plot(x, [p.cycles for p in pts], **style)
        ax_t.plot(x, [p.time_s for p in pts], **style)
    if not bls:
        raise Unsupported("no ESSOP point has cycles and time_s")
    fp16 = [p for p in _summaries(rows) if p.datapath == "fp16" and p.cycles and p.time_s]
    for ax, attr in ((ax_c, "cycles"), (ax_t, "time_s")):
        for j, p in enumerate(fp16[:3]):
            ax.axhline(getattr(p, attr), color=FP16_COLOR, ls="--", lw=1.2, alpha=0.9 - 0.2 * j,
                       label=p.describe())
        _log2_ticks(ax, bls)
        ax.set_yscale("log")
        ax.set_xlabel("bitstream length BL (bits)")
    ax_c.set_ylabel("cycles per training step (all layers)")
    ax_t.set_ylabel("time per training step (s)")
    ax_c.set_title("Cycles vs bitstream length")
    ax_t.set_title("Time vs bitstream length")
    ax_t.legend(title="array (rows x cols)", loc="best")
    return fig


def figure_utilization(rows: Sequence[Mapping[str, Any]], *,
                       note: Callable[[str], None] = print) -> Figure:
    """Heatmaps over array size x bitstream length: utilization and per-block busy fractions."""
    rows = _first_trace(rows, note, "utilization")
    points = _essop_with_bl(_summaries(rows))
    if len(points) < 2:
        raise Unsupported("needs two or more ESSOP points (array size x bitstream length)")
    points = _fix_others(points, note, "utilization")
    keys = ["utilization"] + list(dict.fromkeys(k for p in points for k in p.rows[0]
                                                if k.startswith("busy_")))
    keys = [k for k in keys if any(p.weighted(k) is not None for p in points)]
    if not keys:
        raise Unsupported("no utilization or busy_<block> columns")
    arrays = sorted({p.array for p in points}, key=lambda a: (a[0] * a[1], a))
    bls = sorted({p.bl for p in points})
    cell = {(p.array, p.bl): p for p in points}
    ncols = min(3 if len(keys) <= 6 else 4, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = Figure(figsize=(3.6 * ncols + 0.8, 3.0 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    image = None
    annotate = len(arrays) * len(bls) <= 64
    for ax, key in zip(axes.flat, keys, strict=False):
        grid = [[math.nan] * len(bls) for _ in arrays]
        for i, a in enumerate(arrays):
            for j, bl in enumerate(bls):
                p = cell.get((a, bl))
                v = p.weighted(key) if p is not None else None
                grid[i][j] = math.nan if v is None else v
        image = ax.imshow(grid, origin="lower", aspect="auto", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(bls)))
        ax.set_xticklabels([f"{b:g}" for b in bls])
        ax.set_yticks(range(len(arrays)))
        ax.set_yticklabels([f"{a[0]}x{a[1]}" for a in arrays])
        ax.set_xlabel("bitstream length BL (bits)")
        ax.set_ylabel("array (rows x cols)")
        ax.grid(False)
        title = "array utilization" if key == "utilization" else key[5:].replace("_", " ")
        ax.set_title(title + (" (busy)" if key != "utilization" else ""))
        if annotate:
            for i in range(len(arrays)):
                for j in range(len(bls)):
                    v = grid[i][j]
                    if not math.isnan(v):
                        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                                color="white" if v < 0.6 else "black")
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes, shrink=0.8, label="fraction of cycles (cycle-weighted "
                 "over layers)")
    fig.suptitle("ESSOP utilization and block busy fractions")
    return fig


def figure_error_vs_bl(rows: Sequence[Mapping[str, Any]], *,
                       note: Callable[[str], None] = print) -> Figure:
    """Relative error and cosine similarity of the update vs bitstream length.

    Values are means over the trace records (layers x steps). The dashed reference line is
    c / sqrt(BL) fitted through the smallest-BL point of the first series (said in its label).
    """
    rows = _first_trace(rows, note, "error_vs_bl")
    series = _lines(_summaries(rows), note, "error_vs_bl")
    series = {k: [p for p in v if p.mean("rel_error") is not None] for k, v in series.items()}
    series = {k: v for k, v in series.items() if v}
    if not series or len({p.bl for v in series.values() for p in v}) < 2:
        raise Unsupported("needs rel_error at two or more bitstream lengths (numerics off?)")

    def signature(pts):
        return [(p.bl, p.mean("rel_error"), p.mean("cosine")) for p in pts]

    curves = list(series.values())
    if len(curves) > 1 and all(signature(c) == signature(curves[0]) for c in curves):
        # The array size only tiles the work: identical numerics, so one line says it all.
        series = {f"all {len(curves)} array sizes (identical)": curves[0]}
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    ax_e, ax_c = fig.subplots(1, 2)
    bls = []
    for i, (label, pts) in enumerate(series.items()):
        x = [p.bl for p in pts]
        bls += x
        style = {"marker": MARKERS[i % len(MARKERS)], "color": PALETTE[i % len(PALETTE)],
                 "label": label, "alpha": 0.85}
        ax_e.plot(x, [p.mean("rel_error") for p in pts], **style)
        cos = [(p.bl, p.mean("cosine")) for p in pts if p.mean("cosine") is not None]
        if cos:
            ax_c.plot([c[0] for c in cos], [c[1] for c in cos], **style)
    first_label, first = next(iter(series.items()))
    anchor = first[0]
    c = anchor.mean("rel_error") * math.sqrt(anchor.bl)
    xs = sorted(set(bls))
    ax_e.plot(xs, [c / math.sqrt(b) for b in xs], ls="--", color="0.4", lw=1.2,
              label=f"1/sqrt(BL) through BL={anchor.bl:g} of {first_label}")
    fp16 = [p for p in _summaries(rows) if p.datapath == "fp16" and p.mean("rel_error")]
    for p in fp16[:1]:
        ax_e.axhline(p.mean("rel_error"), color=FP16_COLOR, ls=":", lw=1.2, label=p.describe())
        if p.mean("cosine") is not None:
            ax_c.axhline(p.mean("cosine"), color=FP16_COLOR, ls=":", lw=1.2, label=p.describe())
    for ax in (ax_e, ax_c):
        _log2_ticks(ax, xs)
        ax.set_xlabel("bitstream length BL (bits)")
    ax_e.set_yscale("log")
    ax_e.set_ylabel("relative error ||dW - dW_exact||_F / ||dW_exact||_F\n(mean over layers)")
    ax_c.set_ylabel("cosine similarity to exact dW (mean over layers)")
    ax_e.set_title("Update error vs bitstream length")
    ax_c.set_title("Update direction vs bitstream length")
    ax_e.legend(title="array (rows x cols)", loc="best")
    return fig


def _bar_pairs(ax, layers: Sequence[str], a: Mapping[str, float], b: Mapping[str, float],
               labels: tuple[str, str]) -> None:
    width = 0.4
    xs = range(len(layers))
    ax.bar([x - width / 2 for x in xs], [a.get(layer, math.nan) for layer in layers], width,
           color=ESSOP_COLOR, label=labels[0])
    ax.bar([x + width / 2 for x in xs], [b.get(layer, math.nan) for layer in layers], width,
           color=FP16_COLOR, label=labels[1])
    ax.set_xticks(list(xs))
    ax.set_xticklabels(layers, rotation=45 if len(layers) > 4 else 0,
                       ha="right" if len(layers) > 4 else "center")
    _log_floor(ax, [*a.values(), *b.values()])


def _log_floor(ax, values: Sequence[float]) -> None:
    """Log y axis whose bottom is a whole decade below the smallest bar, so every bar shows."""
    ax.set_yscale("log")
    positive = [v for v in values if v is not None and not math.isnan(v) and v > 0]
    if positive:
        ax.set_ylim(bottom=10.0 ** math.floor(math.log10(min(positive)) - 1e-9))


def _ratio_text(a: float, b: float) -> str:
    """'ESSOP = 17.8% of FP16 (5.6x less)' for ESSOP value a and FP16 value b."""
    if not b or not a:
        return ""
    factor = f"{b / a:.1f}x less" if a <= b else f"{a / b:.1f}x more"
    return f"ESSOP = {100 * a / b:.1f}% of FP16 ({factor})"


def figure_energy_area(rows: Sequence[Mapping[str, Any]], *, point_id: str | None = None,
                       note: Callable[[str], None] = print) -> Figure:
    """Energy and area of one ESSOP configuration vs the FP16 baseline, per layer and total."""
    rows = _first_trace(rows, note, "energy_area")
    points = _summaries(rows)
    essop = _reference(points, point_id, "essop")
    fp16 = _reference(points, None, "fp16")
    if essop is None or fp16 is None:
        raise Unsupported("needs an ESSOP and an FP16 point (no "
                          + ("ESSOP" if essop is None else "FP16") + " rows)")
    if essop.energy_pj is None or fp16.energy_pj is None:
        raise Unsupported("needs energy_pj for both datapaths")
    layers = [layer for layer in essop.layers if layer in set(fp16.layers)]
    labels = (essop.describe(), fp16.describe())
    fig = Figure(figsize=(10.0, 7.0), layout="constrained")
    (ax_el, ax_et), (ax_al, ax_at) = fig.subplots(2, 2, width_ratios=[3, 1])
    _bar_pairs(ax_el, layers, _per_layer(essop.rows, "energy_pj"),
               _per_layer(fp16.rows, "energy_pj"), labels)
    ax_el.set_ylabel("energy per step (pJ)")
    ax_el.set_title("Energy per layer")
    ax_el.legend(loc="best")
    _bar_pairs(ax_al, layers, _per_layer(essop.rows, "area_um2"),
               _per_layer(fp16.rows, "area_um2"), labels)
    ax_al.set_ylabel(r"area ($\mu$m$^2$)")
    ax_al.set_xlabel("layer")
    ax_al.set_title("Area of the configured hardware, per layer")
    for ax, a, b, unit, title in (
            (ax_et, essop.energy_pj, fp16.energy_pj, "energy per step, all layers (pJ)",
             "Total energy"),
            (ax_at, essop.area_um2, fp16.area_um2, r"area, max over layers ($\mu$m$^2$)",
             "Area")):
        ax.bar([0, 1], [a or math.nan, b or math.nan], color=[ESSOP_COLOR, FP16_COLOR])
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["ESSOP", "FP16"])
        ax.set_ylim(bottom=0.0)  # linear: bar heights compare as the ratio says
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        ax.set_ylabel(unit)
        ratio = _ratio_text(a, b).replace(" (", "\n(") if a and b else ""
        ax.set_title(f"{title}\n{ratio}" if ratio else title, fontsize=9)
    fig.suptitle(f"ESSOP vs FP16: {labels[0]} vs {labels[1]}")
    return fig


def figure_cycle_breakdown(rows: Sequence[Mapping[str, Any]], *, point_id: str | None = None,
                           note: Callable[[str], None] = print) -> Figure:
    """Per-layer cycles of one configuration, stacked by compute and stall cause."""
    rows = _first_trace(rows, note, "cycle_breakdown")
    points = _summaries(rows)
    point = _reference(points, point_id, "essop") or (points[0] if points else None)
    if point is None or point.cycles is None:
        raise Unsupported("needs rows with cycles")
    causes = list(dict.fromkeys(k for r in point.rows for k in r if k.startswith("stall_")))
    cycles = _per_layer(point.rows, "cycles")
    stalls = {c: _per_layer(point.rows, c) for c in causes}
    layers = point.layers
    compute = {}
    for layer in layers:
        s = sum(v[layer] for v in stalls.values() if not math.isnan(v[layer]))
        compute[layer] = cycles[layer] - s
    fig = Figure(figsize=(max(6.0, 0.5 * len(layers) + 3.5), 4.5), layout="constrained")
    ax = fig.subplots()
    xs = list(range(len(layers)))
    bottom = [0.0] * len(layers)
    for i, (name, values) in enumerate([("compute", compute)]
                                       + [(c[6:], stalls[c]) for c in causes]):
        heights = [0.0 if math.isnan(values[layer]) else values[layer] for layer in layers]
        if name != "compute" and not any(heights):
            continue
        ax.bar(xs, heights, 0.7, bottom=bottom, color=PALETTE[i % len(PALETTE)],
               label=name if name == "compute" else f"stall: {name}")
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xticks(xs)
    ax.set_xticklabels(layers, rotation=45 if len(layers) > 4 else 0,
                       ha="right" if len(layers) > 4 else "center")
    ax.set_xlabel("layer")
    ax.set_ylabel("cycles per step")
    ax.set_title(f"Cycle breakdown per layer: {point.describe()}\n"
                 "(compute = cycles minus all stall cycles)")
    ax.legend(loc="best")
    return fig


#: name -> figure builder, in plotting order.
FIGURES: dict[str, Callable[..., Figure]] = {
    "cycles_vs_bl": figure_cycles_vs_bl,
    "utilization": figure_utilization,
    "error_vs_bl": figure_error_vs_bl,
    "energy_area": figure_energy_area,
    "cycle_breakdown": figure_cycle_breakdown,
}


# ----------------------------------------------------------------------------- writing


def save_figure(fig: Figure, out_dir: str | os.PathLike, stem: str,
                formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``OUT/<stem>.<fmt>`` for every format, atomically, with reproducible metadata."""
    paths = []
    with matplotlib.rc_context(STYLE):
        for fmt in formats:
            fmt = fmt.lower().lstrip(".")
            metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None},
                        "png": {"Software": None}}.get(fmt)
            path = Path(out_dir) / f"{stem}.{fmt}"
            atomic_write(path, lambda fh, fmt=fmt, metadata=metadata: fig.savefig(
                fh, format=fmt, metadata=metadata), binary=True)
            paths.append(path)
    return paths


def _stderr_note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def _plot_one(name: str, rows, out_dir, formats, note, **kwargs) -> list[Path]:
    with matplotlib.rc_context(STYLE):
        try:
            fig = FIGURES[name](rows, note=note, **kwargs)
        except Unsupported as why:
            note(f"skipped figure {name}: {why}")
            return []
    return save_figure(fig, out_dir, name, formats)


def plot_cycles_vs_bl(rows, out_dir, formats=("png", "svg"), *, note=_stderr_note):
    """Draw and save ``cycles_vs_bl`` (see :func:`figure_cycles_vs_bl`); [] if unsupported."""
    return _plot_one("cycles_vs_bl", rows, out_dir, formats, note)


def plot_utilization(rows, out_dir, formats=("png", "svg"), *, note=_stderr_note):
    """Draw and save ``utilization`` (see :func:`figure_utilization`); [] if unsupported."""
    return _plot_one("utilization", rows, out_dir, formats, note)


def plot_error_vs_bl(rows, out_dir, formats=("png", "svg"), *, note=_stderr_note):
    """Draw and save ``error_vs_bl`` (see :func:`figure_error_vs_bl`); [] if unsupported."""
    return _plot_one("error_vs_bl", rows, out_dir, formats, note)


def plot_energy_area(rows, out_dir, formats=("png", "svg"), *, point_id=None,
                     note=_stderr_note):
    """Draw and save ``energy_area`` (see :func:`figure_energy_area`); [] if unsupported."""
    return _plot_one("energy_area", rows, out_dir, formats, note, point_id=point_id)


def plot_cycle_breakdown(rows, out_dir, formats=("png", "svg"), *, point_id=None,
                         note=_stderr_note):
    """Draw and save ``cycle_breakdown`` (see :func:`figure_cycle_breakdown`); [] if unsupported."""
    return _plot_one("cycle_breakdown", rows, out_dir, formats, note, point_id=point_id)


def plot_results(table_path_or_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                 formats: Sequence[str] = ("png", "svg"), *, point_id: str | None = None,
                 only: Sequence[str] | None = None,
                 note: Callable[[str], None] = _stderr_note) -> list[Path]:
    """Draw every figure the table supports into ``out_dir`` (default ``<dir>/figures``).

    Figures the table cannot support are skipped with a note (``note``, default: a line on
    stderr). ``only`` restricts to some :data:`FIGURES` names; ``point_id`` picks the
    configuration of the per-configuration figures. Returns the paths written, figure by
    figure, format by format.
    """
    unknown = sorted(set(only or ()) - set(FIGURES))
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from {list(FIGURES)}")
    table = find_table(table_path_or_dir)
    rows = read_rows(table)
    if out_dir is None:
        out_dir = table.parent / "figures"
    if not rows:
        note(f"{table}: no rows; no figures drawn")
        return []
    written: list[Path] = []
    for name in FIGURES:
        if only is not None and name not in only:
            continue
        kwargs = {"point_id": point_id} if name in ("energy_area", "cycle_breakdown") else {}
        written += _plot_one(name, rows, out_dir, formats, note, **kwargs)
    return written
