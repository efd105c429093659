"""Figures of the bit-serial datapath (docs/bitserial.md), registered into
:data:`essop_sim.report.plots.FIGURES`:

=============================  ==================================================================
``bitserial_precision``        the serial precision p each layer used (per step), for the
                               bit-serial point with the most varied precision (an 'auto' or
                               'profile' run)
``bitserial_cycles_energy``    cycles and energy per training step against p, one line per bits
                               per cycle b; every other datapath's point as a dashed line
``bitserial_vs``               bit-serial vs every other datapath (ESSOP, FP16) in the table, or
                               vs the baselines of a ``run --compare`` report: cycles, energy and
                               update error per layer and in total
=============================  ==================================================================

A point is bit-serial when its rows hold the per-record column ``bitserial_precision``; tables
without it (any other datapath) make these figures raise :class:`Unsupported`, so they are
skipped with a note.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from .plots import (
    DESIGN_COLOR,
    PALETTE,
    REFERENCE_COLORS,
    Unsupported,
    _bar_groups,
    _compare_baselines,
    _first_trace,
    _per_layer,
    _Point,
    _summaries,
)

PRECISION = "bitserial_precision"
BITS = "bitserial_bits_per_cycle"


def _is_bitserial(point: _Point) -> bool:
    return any(r.get(PRECISION) is not None for r in point.rows)


def _split(rows, note, name) -> tuple[list[_Point], list[_Point]]:
    points = _summaries(_first_trace(rows, note, name))
    serial = [p for p in points if _is_bitserial(p)]
    if not serial:
        raise Unsupported(f"needs bit-serial rows (a '{PRECISION}' column)")
    return serial, [p for p in points if not _is_bitserial(p)]


def _precisions(point: _Point) -> set:
    return {r.get(PRECISION) for r in point.rows}


def figure_bitserial_precision(rows: Sequence[Mapping[str, Any]], *,
                               note: Callable[[str], None] = print) -> Figure:
    """Serial precision p per layer, one marker series per training step."""
    serial, _ = _split(rows, note, "bitserial_precision")
    point = max(serial, key=lambda p: len(_precisions(p)))
    steps = list(dict.fromkeys(r.get("step") for r in point.rows))
    layers = point.layers
    fig = Figure(figsize=(max(6.0, 0.6 * len(layers) + 3.5), 4.2), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(1, len(steps))
    for k, step in enumerate(steps):
        by_layer = {str(r.get("layer")): r.get(PRECISION) for r in point.rows
                    if r.get("step") == step}
        xs = [i + (k - (len(steps) - 1) / 2) * width for i in range(len(layers))]
        ax.bar(xs, [by_layer.get(layer, math.nan) for layer in layers], width,
               color=PALETTE[k % len(PALETTE)], label=f"step {step}")
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers)
    ax.set_ylim(0, 16.5)
    ax.set_yticks([1, 2, 4, 6, 8, 10, 12, 14, 16])
    ax.set_xlabel("layer")
    ax.set_ylabel("serial precision p (bits)")
    ax.set_title(f"Precision per layer: {point.label}")
    ax.legend(loc="best")
    return fig


def figure_bitserial_cycles_energy(rows: Sequence[Mapping[str, Any]], *,
                                   note: Callable[[str], None] = print) -> Figure:
    """Cycles and energy per training step vs serial precision p, one line per b."""
    serial, others = _split(rows, note, "bitserial_cycles_energy")
    fixed = [p for p in serial if len(_precisions(p)) == 1]
    if len({next(iter(_precisions(p))) for p in fixed}) < 2:
        raise Unsupported("needs bit-serial points at two or more fixed precisions")
    lines: dict[Any, list[tuple[int, _Point]]] = {}
    for p in fixed:
        lines.setdefault(p.rows[0].get(BITS), []).append((next(iter(_precisions(p))), p))
    fig = Figure(figsize=(11.0, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, attr, unit in ((axes[0], "cycles", "cycles per step"),
                           (axes[1], "energy_pj", "energy per step (pJ)")):
        for k, (b, pts) in enumerate(sorted(lines.items(), key=lambda kv: kv[0])):
            pts.sort(key=lambda t: t[0])
            ax.plot([t[0] for t in pts], [getattr(t[1], attr) for t in pts], marker="o",
                    color=PALETTE[k % len(PALETTE)], label=f"b = {b} bits/cycle")
        for k, other in enumerate(others):
            value = getattr(other, attr)
            if value is not None:
                ax.axhline(value, linestyle="--", color=REFERENCE_COLORS[k % 6],
                           label=other.label)
        ax.set_yscale("log")
        ax.set_xlabel("serial precision p (bits)")
        ax.set_ylabel(unit)
        ax.legend(loc="best", fontsize="small")
    axes[0].set_title("Cycles vs precision")
    axes[1].set_title("Energy vs precision")
    return fig


def figure_bitserial_vs(rows: Sequence[Mapping[str, Any]], *,
                        note: Callable[[str], None] = print) -> Figure:
    """Bit-serial vs the other datapaths: cycles, energy and error per layer and in total."""
    serial, others = _split(rows, note, "bitserial_vs")
    design = max(serial, key=lambda p: len(_precisions(p)))
    firsts: dict[Any, _Point] = {}
    for p in others:
        firsts.setdefault(p.datapath, p)
    metrics = (("cycles", "cycles per step"), ("energy_pj", "energy per step (pJ)"),
               ("rel_error", "relative error of dW"))
    if firsts:
        sides = [(design.label, design, {m: m for m, _ in metrics})]
        sides += [(p.label, p, {m: m for m, _ in metrics}) for p in firsts.values()]
    else:
        baselines = _compare_baselines(design)
        if not baselines:
            raise Unsupported("needs another datapath in the table or a run --compare report")
        sides = [(design.label, design, {m: m for m, _ in metrics})]
        sides += [(b.upper(), design, {m: f"vs_{b}_{m}" for m, _ in metrics})
                  for b in baselines]
    layers = design.layers
    colors = [DESIGN_COLOR] + [REFERENCE_COLORS[i % 6] for i in range(len(sides) - 1)]
    fig = Figure(figsize=(13.0, 4.8), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, (metric, unit) in zip(axes, metrics, strict=True):
        values = [_per_layer(point.rows, keys[metric]) for _, point, keys in sides]
        labels = []
        for label, point, keys in sides:
            total = (point.total(keys[metric]) if metric != "rel_error"
                     else point.mean(keys[metric]))
            labels.append(f"{label}: {'mean' if metric == 'rel_error' else 'total'} "
                          f"{total:.3g}" if total is not None else label)
        _bar_groups(ax, layers, values, labels, colors)
        ax.set_ylabel(unit)
        ax.set_xlabel("layer")
        ax.legend(loc="best", fontsize="x-small")
    fig.suptitle(" vs ".join(label for label, _, _ in sides))
    return fig


#: name -> figure builder, added to essop_sim.report.plots.FIGURES.
BITSERIAL_FIGURES: dict[str, Callable[..., Figure]] = {
    "bitserial_precision": figure_bitserial_precision,
    "bitserial_cycles_energy": figure_bitserial_cycles_energy,
    "bitserial_vs": figure_bitserial_vs,
}
