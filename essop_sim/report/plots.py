"""Figures of a run or sweep table (matplotlib, no display needed).

:func:`plot_results` reads a table (``sweep.json``/``report.json``/CSV/Parquet, or a directory
holding one) and draws every figure the table supports, skipping the others with a note:

=====================  =========================================================================
``cycles_vs_bl``       cycles and time per training step vs bitstream length, one line per array
                       size, log-log; every other point as a dashed horizontal reference line
``utilization``        heatmaps over array size x bitstream length: array utilization and each
                       block's busy fraction (cycle-weighted over the layers)
``error_vs_bl``        update error (relative Frobenius error, cosine similarity) vs bitstream
                       length, with a 1/sqrt(BL) reference line through the smallest-BL point of
                       the first series; every other point as a dotted horizontal line
``energy_area``        energy and area of the design point vs every other datapath in the table
                       (or vs the baselines of a ``run --compare`` report), per layer and in total
``cycle_breakdown``    per-layer cycles of one configuration, stacked: compute (cycles minus all
                       stalls) and each stall cause
=====================  =========================================================================

Conventions: a *point* is one configuration on one trace (rows sharing ``point_id``; a single
run's report is one point). When a trace holds several steps, per-layer values are means over the
steps and totals are sums over layers of those means, i.e. *per training step*. When a table
holds several traces, figures use the first one (a note says so). A *BL point* has an
``essop_bitstream_length`` value: the bitstream-length figures draw BL points over BL, one line
per array size, and every other point (any other datapath) as a horizontal reference line. Points
are named by their ``label`` column (the datapath's one-line description; tables older than that
column fall back to the datapath name upper-cased). The *design* point of the per-configuration
figures is the BL point with the default bitstream length and array size
(:data:`DEFAULT_REFERENCE`) if present, else the first BL point, else the first point; pass
``point_id`` to choose another. No datapath is named here: a point's kind is told by its columns.

Figures are built on :class:`matplotlib.figure.Figure` objects, never pyplot, so no display,
global figure state or backend switch is involved: PNG is rendered by the Agg canvas, SVG/PDF by
theirs, whatever backend the caller uses. All share one style context (:data:`STYLE`) and are
written atomically, with reproducible metadata (no dates).
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from cycler import cycler
from matplotlib.figure import Figure

from ..errors import ConfigError
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

#: Colour of the design (the BL lines' first series, the design's bars) and of the other
#: datapaths (reference lines, bar groups), one per datapath in order of appearance.
DESIGN_COLOR = PALETTE[0]
REFERENCE_COLORS = (PALETTE[3], PALETTE[7], PALETTE[4], PALETTE[2], PALETTE[1], PALETTE[5])

#: Report columns of the bitstream-length figures' axes: a point with a BL value is a BL point.
BL_COLUMN = "essop_bitstream_length"
ARRAY_COLUMNS = ("essop_array_rows", "essop_array_cols")
#: The default design point: the shipped bitstream length and array size.
DEFAULT_REFERENCE = {BL_COLUMN: 64, ARRAY_COLUMNS[0]: 32, ARRAY_COLUMNS[1]: 32}
#: Swept (dotted) keys that are the BL figures' own axes, not "other" varying keys.
_BL_KEYS = ("essop.bitstream_length", "essop.array.rows", "essop.array.cols", "essop.array",
            "datapath")


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
    """Summary of one point: its label, BL axes, per-step totals and cycle-weighted fractions."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]):
        self.rows = list(rows)
        first = self.rows[0]
        self.point_id = first.get("point_id")
        self.datapath = first.get("datapath")
        #: The point's name in legends and titles (old tables: the datapath, upper-cased).
        self.label = str(first.get("label") or str(self.datapath).upper())
        self.bl = _num(first.get(BL_COLUMN))
        self.array = tuple(first.get(c) for c in ARRAY_COLUMNS)
        self.layers = list(dict.fromkeys(str(r.get("layer")) for r in self.rows))
        self.cycles = self.total("cycles")
        self.time_s = self.total("time_s")
        self.energy_pj = self.total("energy_pj")
        self.area_um2 = self.peak("area_um2")

    @property
    def is_bl(self) -> bool:
        """Whether this is a BL point (it has a positive ``essop_bitstream_length``)."""
        return self.bl is not None and self.bl > 0

    def total(self, key: str) -> float | None:
        """Sum over layers of the per-step mean of ``key`` (None if any layer lacks it)."""
        values = list(_per_layer(self.rows, key).values())
        if not values or any(math.isnan(v) for v in values):
            return None
        return sum(values)

    def peak(self, key: str) -> float | None:
        """Largest value of ``key`` over the rows (e.g. the area of the hardware), or None."""
        values = [v for v in (_num(r.get(key)) for r in self.rows) if v is not None]
        return max(values) if values else None

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

    def short_name(self) -> str:
        """The datapath name upper-cased (tick labels of narrow panels)."""
        return str(self.datapath).upper()


def _summaries(rows: Sequence[Mapping[str, Any]]) -> list[_Point]:
    return [_Point(g) for g in _points(rows)]


def _bl_points(points: Sequence[_Point]) -> list[_Point]:
    """The BL points, in table order."""
    return [p for p in points if p.is_bl]


def _by_datapath(points: Sequence[_Point]) -> dict[Any, list[_Point]]:
    """Points grouped by datapath, in order of first appearance."""
    groups: dict[Any, list[_Point]] = {}
    for p in points:
        groups.setdefault(p.datapath, []).append(p)
    return groups


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


def _series_label(p: _Point, others: Sequence[str]) -> str:
    extra = ", ".join(f"{c.split('.')[-1]}={p.rows[0].get(c)}" for c in others)
    return p.array_label() + (f" ({extra})" if extra else "")


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


def _design(points: Sequence[_Point], point_id: str | None) -> _Point | None:
    """The point a per-configuration figure shows: ``point_id``'s, else the BL point at
    :data:`DEFAULT_REFERENCE`, else the first BL point, else the first point (None if none)."""
    if point_id is not None:
        for p in points:
            if p.point_id == point_id:
                return p
        raise Unsupported(f"no point with point_id {point_id!r}")
    candidates = _bl_points(points)
    for p in candidates:
        r = p.rows[0]
        if all(r.get(k) == v for k, v in DEFAULT_REFERENCE.items()):
            return p
    if candidates:
        return candidates[0]
    return points[0] if points else None


def _lines(points: Sequence[_Point], note: Callable[[str], None], name: str):
    """BL points grouped into series (array size + other swept keys), each sorted by BL."""
    bl_points = _bl_points(points)
    if len({p.bl for p in bl_points}) < 2:
        raise Unsupported(f"needs points at two or more bitstream lengths ({BL_COLUMN})")
    others = _swept_others(bl_points, _BL_KEYS)
    series: dict[str, list[_Point]] = {}
    for p in sorted(bl_points, key=lambda p: (_area_of(p.array), p.array)):
        series.setdefault(_series_label(p, others), []).append(p)
    for label, pts in series.items():
        pts.sort(key=lambda p: p.bl)
        if len({p.bl for p in pts}) != len(pts):
            note(f"{name}: series {label} has repeated bitstream lengths (an unswept key varies?)")
    return series


def _area_of(array: tuple) -> float:
    """rows x cols of an array-size tuple (0 when a size is missing), for sorting series."""
    rows, cols = (_num(v) or 0.0 for v in array)
    return rows * cols


def _reference_lines(ax, points: Sequence[_Point], value: Callable[[_Point], float | None], *,
                     ls: str, fade: Sequence[float | None]) -> None:
    """Draw ``value(p)`` of each non-BL point as a horizontal line labelled with its label.

    One colour per datapath (:data:`REFERENCE_COLORS`, in order of appearance); the k-th point
    of a datapath gets alpha ``fade[k]``, and ``len(fade)`` caps the lines per datapath. Points
    whose value is None draw nothing.
    """
    groups = _by_datapath([p for p in points if not p.is_bl])
    for i, group in enumerate(groups.values()):
        for p, alpha in zip(group, fade, strict=False):
            v = value(p)
            if v is not None:
                ax.axhline(v, color=REFERENCE_COLORS[i % len(REFERENCE_COLORS)], ls=ls, lw=1.2,
                           alpha=alpha, label=p.label)


def _log2_ticks(ax, values: Sequence[float]) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(set(values))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()


# ----------------------------------------------------------------------------- figures


def figure_cycles_vs_bl(rows: Sequence[Mapping[str, Any]], *,
                        note: Callable[[str], None] = print) -> Figure:
    """Cycles and energy per training step vs bitstream length, one line per array size, and
    every other point (up to three per datapath) as a dashed horizontal line.

    The second panel is energy, not time: time is cycles / clock, the same curves rescaled
    whenever the points share a clock, while energy is what a longer bitstream costs beside its
    cycles (the trade-off BL buys). Without energy_pj columns the figure has one panel.
    """
    rows = _first_trace(rows, note, "cycles_vs_bl")
    points = _summaries(rows)
    series = _lines(points, note, "cycles_vs_bl")
    with_energy = any(p.energy_pj for pts in series.values() for p in pts)
    fig = Figure(figsize=(10.0 if with_energy else 5.6, 4.2), layout="constrained")
    axes = fig.subplots(1, 2 if with_energy else 1, squeeze=False)[0]
    ax_c = axes[0]
    panels = [(ax_c, "cycles")] + ([(axes[1], "energy_pj")] if with_energy else [])
    bls = []
    for i, (label, pts) in enumerate(series.items()):
        pts = [p for p in pts if p.cycles]
        if not pts:
            continue
        x = [p.bl for p in pts]
        bls += x
        style = {"marker": MARKERS[i % len(MARKERS)], "color": PALETTE[i % len(PALETTE)],
                 "label": label}
        ax_c.plot(x, [p.cycles for p in pts], **style)
        if with_energy:
            xe = [p.bl for p in pts if p.energy_pj]
            axes[1].plot(xe, [p.energy_pj for p in pts if p.energy_pj], **style)
    if not bls:
        raise Unsupported("no BL point has cycles")
    for ax, attr in panels:
        references = [p for p in points if getattr(p, attr)]
        _reference_lines(ax, references, lambda p, attr=attr: getattr(p, attr), ls="--",
                         fade=(0.9, 0.7, 0.5))
        _log2_ticks(ax, bls)
        ax.set_yscale("log")
        ax.set_xlabel("bitstream length BL (bits)")
    ax_c.set_ylabel("cycles per training step (all layers)")
    ax_c.set_title("Cycles vs bitstream length")
    if with_energy:
        axes[1].set_ylabel("energy per training step, all layers (pJ)")
        axes[1].set_title("Energy vs bitstream length")
    axes[-1].legend(title="array (rows x cols)", loc="best")
    return fig


def figure_utilization(rows: Sequence[Mapping[str, Any]], *,
                       note: Callable[[str], None] = print) -> Figure:
    """Heatmaps over array size x bitstream length: utilization and per-block busy fractions."""
    rows = _first_trace(rows, note, "utilization")
    points = _bl_points(_summaries(rows))
    if len(points) < 2:
        raise Unsupported("needs two or more BL points (array size x bitstream length)")
    points = _fix_others(points, note, "utilization")
    keys = ["utilization"] + list(dict.fromkeys(k for p in points for k in p.rows[0]
                                                if k.startswith("busy_")))
    keys = [k for k in keys if any(p.weighted(k) is not None for p in points)]
    if not keys:
        raise Unsupported("no utilization or busy_<block> columns")
    # A busy fraction that is the same in every cell (e.g. 1.00 everywhere) tells nothing a
    # heatmap can show: it is named in the title instead of drawn.
    constant = {}
    for k in keys[1:] if keys[0] == "utilization" else keys:
        values = {round(v, 2) for v in (p.weighted(k) for p in points) if v is not None}
        if len(values) == 1:
            constant[k] = values.pop()
    if len(constant) < len(keys):
        keys = [k for k in keys if k not in constant]
    else:
        constant = {}
    arrays = sorted({p.array for p in points}, key=lambda a: (_area_of(a), a))
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
        fig.delaxes(ax)   # no empty grid slots
    used = list(axes.flat)[:len(keys)]
    fig.colorbar(image, ax=used, shrink=0.8, label="fraction of cycles (cycle-weighted "
                 "over layers)")
    names = " / ".join(dict.fromkeys(p.short_name() for p in points))
    title = f"{names} utilization and block busy fractions"
    if constant:
        same = ", ".join(f"{k[5:].replace('_', ' ')} {v:.2f}" for k, v in constant.items())
        title += "\n" + "\n".join(textwrap.wrap(f"busy in every cell (not drawn): {same}", 90))
    fig.suptitle(title)
    return fig


def figure_error_vs_bl(rows: Sequence[Mapping[str, Any]], *,
                       note: Callable[[str], None] = print) -> Figure:
    """Relative error and cosine similarity of the update vs bitstream length.

    Values are means over the trace records (layers x steps). The dashed reference line is
    c / sqrt(BL) fitted through the smallest-BL point of the first series (said in its label).
    The first point of every other datapath is a dotted horizontal line.
    """
    rows = _first_trace(rows, note, "error_vs_bl")
    points = _summaries(rows)
    series = _lines(points, note, "error_vs_bl")
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
    references = [p for p in points if p.mean("rel_error")]  # > 0: drawable on a log axis
    _reference_lines(ax_e, references, lambda p: p.mean("rel_error"), ls=":", fade=(None,))
    _reference_lines(ax_c, references, lambda p: p.mean("cosine"), ls=":", fade=(None,))
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


@dataclass
class _Side:
    """One bar group of ``energy_area``: a point (or a compare report's baseline) by label."""

    label: str
    short: str  # tick label of the narrow totals panels
    energy: dict[str, float]  # layer -> energy per step (pJ)
    energy_total: float | None  # per step, all layers
    area: dict[str, float]  # layer -> area (um^2)
    area_total: float | None  # max over layers


def _side(point: _Point, label: str, short: str, energy_key: str, area_key: str) -> _Side:
    """The bar group of ``point``'s ``energy_key`` and ``area_key`` columns."""
    return _Side(label, short, _per_layer(point.rows, energy_key), point.total(energy_key),
                 _per_layer(point.rows, area_key), point.peak(area_key))


def _compare_baselines(point: _Point) -> list[str]:
    """Baselines B of a ``run --compare`` report: the B of its ``vs_B_energy_pj`` columns."""
    prefix, suffix = "vs_", "_energy_pj"
    keys = dict.fromkeys(k for r in point.rows for k in r)
    return [k[len(prefix):-len(suffix)] for k in keys
            if k.startswith(prefix) and k.endswith(suffix) and len(k) > len(prefix + suffix)]


#: Area column of ``energy_area`` -> (axis label, per-layer panel title, totals panel title).
_AREA_TEXT = {
    "area_um2": ("area", "Area of the configured hardware, per layer", "Area"),
    "area_compute_um2": ("compute area", "Compute area, per layer", "Compute area"),
}


def _energy_area_sides(points: Sequence[_Point], design: _Point) -> tuple[list[_Side], str]:
    """The design and what it is compared with, and the area column used: the first point of
    every other datapath in the table (total area), else a compare report's baselines (compute
    area, the only one a compare report holds for its baselines)."""
    others = [group[0] for datapath, group in _by_datapath(points).items()
              if datapath != design.datapath]
    if others:
        return [_side(p, p.label, p.short_name(), "energy_pj", "area_um2")
                for p in (design, *others)], "area_um2"
    baselines = _compare_baselines(design)
    if not baselines:
        raise Unsupported(f"needs a second datapath (all points are {design.short_name()}) or a "
                          "compare report (run --compare)")
    sides = [_side(design, design.label, design.short_name(), "energy_pj", "area_compute_um2")]
    sides += [_side(design, b.upper(), b.upper(), f"vs_{b}_energy_pj", f"vs_{b}_area_compute_um2")
              for b in baselines]
    return sides, "area_compute_um2"


def _bar_groups(ax, layers: Sequence[str], values: Sequence[Mapping[str, float]],
                labels: Sequence[str], colors: Sequence[str]) -> None:
    """Grouped bars per layer, one bar per entry of ``values``, on a log axis."""
    width = 0.8 / len(values)
    xs = range(len(layers))
    for k, (v, label, color) in enumerate(zip(values, labels, colors, strict=True)):
        offset = (k - (len(values) - 1) / 2) * width
        ax.bar([x + offset for x in xs], [v.get(layer, math.nan) for layer in layers], width,
               color=color, label=label)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(layers, rotation=45 if len(layers) > 4 else 0,
                       ha="right" if len(layers) > 4 else "center")
    _log_floor(ax, [x for v in values for x in v.values()])


def _log_floor(ax, values: Sequence[float]) -> None:
    """Log y axis whose bottom is a whole decade below the smallest bar, so every bar shows."""
    ax.set_yscale("log")
    positive = [v for v in values if v is not None and not math.isnan(v) and v > 0]
    if positive:
        ax.set_ylim(bottom=10.0 ** math.floor(math.log10(min(positive)) - 1e-9))


def _ratio_text(a: float | None, b: float | None, name_a: str, name_b: str) -> str:
    """'A = 17.8% of B (5.6x less)' for value a of A and value b of B ('' if either is 0/None)."""
    if not b or not a:
        return ""
    factor = f"{b / a:.1f}x less" if a <= b else f"{a / b:.1f}x more"
    return f"{name_a} = {100 * a / b:.1f}% of {name_b} ({factor})"


def _totals(ax, sides: Sequence[_Side], colors: Sequence[str], attr: str, unit: str,
            title: str) -> None:
    """One bar per side of ``attr`` (linear axis), titled with the design's ratio to each."""
    values = [getattr(s, attr) for s in sides]
    ax.bar(range(len(sides)), [v or math.nan for v in values], color=list(colors))
    ax.set_xticks(range(len(sides)))
    ax.set_xticklabels([s.short for s in sides])
    ax.set_ylim(bottom=0.0)  # linear: bar heights compare as the ratio says
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    ax.set_ylabel(unit)
    lines = [title]
    for side, v in zip(sides[1:], values[1:], strict=True):
        ratio = _ratio_text(values[0], v, sides[0].label, side.label)
        if ratio:
            lines += _wrap_ratio(ratio, 40)
    ax.set_title("\n".join(lines), fontsize=9)


def _wrap_ratio(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters (labels can be long), never breaking the
    '(5.6x less)' factor at the end."""
    sentence, _, factor = text.rpartition(" (")
    lines = textwrap.wrap(sentence, width)
    factor = f"({factor}"
    if len(lines[-1]) + 1 + len(factor) <= width:
        lines[-1] += " " + factor
    else:
        lines.append(factor)
    return lines


def figure_energy_area(rows: Sequence[Mapping[str, Any]], *, point_id: str | None = None,
                       note: Callable[[str], None] = print) -> Figure:
    """Energy and area of the design point vs every other datapath, per layer and in total.

    The design is :func:`_design`'s point; it is compared with the first point of each other
    datapath in the table or, in a ``run --compare`` report (one design whose rows carry
    ``vs_B_energy_pj`` columns), with each baseline B (areas are then compute areas).
    """
    rows = _first_trace(rows, note, "energy_area")
    points = _summaries(rows)
    design = _design(points, point_id)
    if design is None:
        raise Unsupported("no rows")
    sides, area_key = _energy_area_sides(points, design)
    missing = [s.label for s in sides if s.energy_total is None]
    if missing:
        raise Unsupported(f"needs energy_pj of every point compared (none for {missing})")
    layers = [layer for layer in design.layers if all(layer in s.energy for s in sides)]
    labels = [s.label for s in sides]
    colors = [DESIGN_COLOR] + [REFERENCE_COLORS[i % len(REFERENCE_COLORS)]
                               for i in range(len(sides) - 1)]
    area_name, area_layers, area_total = _AREA_TEXT[area_key]
    fig = Figure(figsize=(11.0 + 0.5 * max(0, len(sides) - 2), 7.0), layout="constrained")
    (ax_el, ax_et), (ax_al, ax_at) = fig.subplots(2, 2, width_ratios=[2.2, 1])
    _bar_groups(ax_el, layers, [s.energy for s in sides], labels, colors)
    ax_el.set_ylabel("energy per step (pJ)")
    ax_el.set_title("Energy per layer")
    ax_el.legend(loc="best")
    _bar_groups(ax_al, layers, [s.area for s in sides], labels, colors)
    ax_al.set_ylabel(area_name + r" ($\mu$m$^2$)")
    ax_al.set_xlabel("layer")
    ax_al.set_title(area_layers)
    _totals(ax_et, sides, colors, "energy_total", "energy per step, all layers (pJ)",
            "Total energy")
    _totals(ax_at, sides, colors, "area_total", area_name + r", max over layers ($\mu$m$^2$)",
            area_total)
    fig.suptitle(" vs ".join(labels))
    return fig


def figure_cycle_breakdown(rows: Sequence[Mapping[str, Any]], *, point_id: str | None = None,
                           note: Callable[[str], None] = print) -> Figure:
    """Per-layer cycles of one configuration, stacked by compute and stall cause."""
    rows = _first_trace(rows, note, "cycle_breakdown")
    point = _design(_summaries(rows), point_id)
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
    total = sum(v for v in cycles.values() if not math.isnan(v)) or 1.0
    for i, (name, values) in enumerate([("compute", compute)]
                                       + [(c[6:], stalls[c]) for c in causes]):
        heights = [0.0 if math.isnan(values[layer]) else values[layer] for layer in layers]
        if name != "compute" and not any(heights):
            continue
        # Every label carries its share of all cycles, so a stall too thin to see (20 cycles
        # in 130k) is still read from the legend rather than looked for in the bars.
        share = sum(heights) / total
        shown = f"{share:.1%}" if share >= 0.001 else "<0.1%, too thin to see"
        ax.bar(xs, heights, 0.7, bottom=bottom, color=PALETTE[i % len(PALETTE)],
               label=f"{name if name == 'compute' else 'stall: ' + name} ({shown})")
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xticks(xs)
    ax.set_xticklabels(layers, rotation=45 if len(layers) > 4 else 0,
                       ha="right" if len(layers) > 4 else "center")
    ax.set_xlabel("layer")
    ax.set_ylabel("cycles per step")
    ax.set_title(f"Cycle breakdown per layer: {point.label}\n"
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
from .plots_bitserial import BITSERIAL_FIGURES  # noqa: E402 - builds on the helpers above

FIGURES.update(BITSERIAL_FIGURES)
from .plots_cbram import CBRAM_FIGURES  # noqa: E402 - builds on the helpers above

FIGURES.update(CBRAM_FIGURES)


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


def _check_point_id(rows: Sequence[Mapping[str, Any]], point_id: str, table: Path) -> None:
    """A ConfigError (one line, exit 1 on the command line) unless ``point_id`` names a point
    of the table; it lists a few valid ids."""

    ids = list(dict.fromkeys(str(r["point_id"]) for r in rows if r.get("point_id") is not None))
    if str(point_id) in ids:
        return
    if not ids:
        raise ConfigError("--point", "point_id", point_id, f"no --point: {table} has no "
                          "point_id column (a run report holds one configuration)")
    shown = ", ".join(ids[:4]) + (f", ... ({len(ids)} in all)" if len(ids) > 4 else "")
    raise ConfigError("--point", "point_id", point_id, f"a point_id of {table}: {shown}")


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
    if unknown:   # the CLI does not import this module to list the names (matplotlib is slow)
        raise ConfigError("--only", "figure", ", ".join(unknown),
                          "one of " + ", ".join(FIGURES))
    table = find_table(table_path_or_dir)
    rows = read_rows(table)
    if out_dir is None:
        out_dir = table.parent / "figures"
    if not rows:
        note(f"{table}: no rows; no figures drawn")
        return []
    if point_id is not None:
        _check_point_id(rows, point_id, table)
    written: list[Path] = []
    for name in FIGURES:
        if only is not None and name not in only:
            continue
        kwargs = {"point_id": point_id} if name in ("energy_area", "cycle_breakdown") else {}
        written += _plot_one(name, rows, out_dir, formats, note, **kwargs)
    return written
