"""Figure of the CBRAM bitstream source (docs/cbram.md), registered into
:data:`essop_sim.report.plots.FIGURES`:

=============================  ==================================================================
``cbram_error_bias``           three panels over the CBRAM points of a table: update error vs
                               bitstream length (one line per calibration x device variation;
                               LFSR ESSOP points as a black line, every other datapath as a
                               dotted horizontal line), bias of dW against the ideal source vs
                               variation, and gain against the ideal source vs variation (one line
                               per calibration x bitstream length)
=============================  ==================================================================

A point is a CBRAM point when its rows hold the per-record column ``cbram_bitstream_length``;
tables without it (any other datapath) make the figure raise :class:`Unsupported`, so it is
skipped with a note. Values are means over the trace records (layers x steps), as in the tables
of docs/cbram.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .plots import (
    MARKERS,
    PALETTE,
    REFERENCE_COLORS,
    Unsupported,
    _first_trace,
    _log2_ticks,
    _num,
    _Point,
    _summaries,
)

CBRAM_BL = "cbram_bitstream_length"
CALIBRATION = "cbram_calibration"
D2D, C2C = "cbram_d2d_sigma", "cbram_c2c_sigma"
BIAS, GAIN = "cbram_bias_vs_ideal", "cbram_gain_vs_ideal"
#: Line style per calibration (the error panel) and its legend name.
_CAL_STYLE = {"inverse": ("-", "calibrated"), "none": ("--", "uncalibrated")}


def _bl(point: _Point) -> float | None:
    return _num(point.rows[0].get(CBRAM_BL))


def _sigma(point: _Point) -> tuple[float, float]:
    r = point.rows[0]
    return (_num(r.get(D2D)) or 0.0, _num(r.get(C2C)) or 0.0)


def _sigma_label(sigma: tuple[float, float]) -> str:
    d2d, c2c = sigma
    return f"sigma {d2d:g}" if d2d == c2c else f"d2d {d2d:g}, c2c {c2c:g}"


def _cal(point: _Point) -> str:
    return str(point.rows[0].get(CALIBRATION))


def _minor_label(value: float, _pos: Any = None) -> str:
    """Label the 2, 3 and 5 minor ticks of a log axis (the others crowd)."""
    if value <= 0:
        return ""
    lead = round(value / 10 ** math.floor(math.log10(value)))
    return f"{value:.2g}" if lead in (2, 3, 5) else ""


def figure_cbram_error_bias(rows: Sequence[Mapping[str, Any]], *,
                            note: Callable[[str], None] = print) -> Figure:
    """Update error vs BL; bias and gain against the ideal source vs device variation."""
    points = _summaries(_first_trace(rows, note, "cbram_error_bias"))
    cbram = [p for p in points if _bl(p) is not None]
    if not cbram:
        raise Unsupported(f"needs CBRAM rows (a '{CBRAM_BL}' column)")
    cbram = [p for p in cbram if p.mean("rel_error") is not None]
    if not cbram:
        raise Unsupported("needs rel_error of the CBRAM points (numerics off?)")
    others = [p for p in points if _bl(p) is None]
    cals = sorted({_cal(p) for p in cbram}, key=lambda c: (c != "none", c))
    sigmas = sorted({_sigma(p) for p in cbram})
    bls = sorted({_bl(p) for p in cbram})

    fig = Figure(figsize=(14.0, 4.6), layout="constrained")
    ax_e, ax_b, ax_g = fig.subplots(1, 3)

    # Panel 1: error vs BL, colour = variation, line style = calibration.
    for cal in cals:
        style, name = _CAL_STYLE.get(cal, (":", cal))
        for i, sigma in enumerate(sigmas):
            pts = sorted((p for p in cbram if _cal(p) == cal and _sigma(p) == sigma), key=_bl)
            if pts:
                ax_e.plot([_bl(p) for p in pts], [p.mean("rel_error") for p in pts],
                          ls=style, marker=MARKERS[i % len(MARKERS)],
                          color=PALETTE[i % len(PALETTE)],
                          label=f"CBRAM {name}, {_sigma_label(sigma)}")
    lfsr = sorted((p for p in others if p.is_bl and p.mean("rel_error") is not None),
                  key=lambda p: p.bl)
    if lfsr:
        ax_e.plot([p.bl for p in lfsr], [p.mean("rel_error") for p in lfsr], color="black",
                  marker="s", lw=1.2, label="ESSOP (LFSR)")
    drawn = [p.mean("rel_error") for p in [*cbram, *lfsr]]
    floor = min(drawn) / 10
    k = 0
    for p in others:
        value = p.mean("rel_error")
        if p.is_bl or not value:
            continue
        name = p.label if len(p.label) < 40 else str(p.datapath).upper()
        if value < floor:   # far below: a value in the legend, not a squashed axis
            ax_e.plot([], [], ls=":", color=REFERENCE_COLORS[k % 6],
                      label=f"{name}: {value:.2g} (below the axis)")
        else:
            ax_e.axhline(value, ls=":", color=REFERENCE_COLORS[k % 6], label=name)
        k += 1
    _log2_ticks(ax_e, sorted(set(bls) | {p.bl for p in lfsr}))
    ax_e.set_yscale("log")
    ax_e.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
    ax_e.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
    ax_e.set_xlabel("bitstream length BL (bits)")
    ax_e.set_ylabel("relative error ||dW - dW_exact||_F / ||dW_exact||_F\n"
                    "(mean over records)")
    ax_e.set_title("Update error vs bitstream length")
    ax_e.set_ylim(bottom=min(drawn) / 2.2)   # room for the legend below the lines
    ax_e.legend(loc="lower left", fontsize=7)

    # Panels 2 and 3: bias and gain vs variation, one line per calibration (x BL when the
    # bitstream length changes them; they are expectations, so usually it does not).
    for ax, key in ((ax_b, BIAS), (ax_g, GAIN)):
        drawn_any = False
        for c, cal in enumerate(cals):
            style, name = _CAL_STYLE.get(cal, (":", cal))
            curves = []
            for bl in bls:
                pts = sorted((p for p in cbram if _cal(p) == cal and _bl(p) == bl
                              and p.mean(key) is not None), key=_sigma)
                if pts:
                    curves.append((bl, [(_sigma(p)[0], p.mean(key)) for p in pts]))
            if not curves:
                continue
            drawn_any = True
            same = all(len(v) == len(curves[0][1]) and all(
                a[0] == b[0] and abs(a[1] - b[1]) <= 1e-3 * max(abs(b[1]), 1e-12)
                for a, b in zip(v, curves[0][1], strict=False)) for _, v in curves)
            if same and len(curves) > 1:
                blist = ", ".join(f"{bl:g}" for bl, _ in curves)
                curves = [(None, curves[0][1])]
            for j, (bl, xy) in enumerate(curves):
                label = (f"{name}, BL {bl:g}" if bl is not None
                         else f"{name} (BL {blist}: equal within 0.1%)")
                ax.plot([t[0] for t in xy], [t[1] for t in xy], ls=style,
                        marker=MARKERS[j % len(MARKERS)],
                        color=PALETTE[(2 * c + j) % len(PALETTE)], label=label)
        if not drawn_any:
            ax.text(0.5, 0.5, f"no {key} column", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_xlabel("device variation sigma (d2d = c2c)" if all(a == b for a, b in sigmas)
                      else "device-to-device variation sigma (c2c as swept)")
        ax.set_xticks(sorted({s[0] for s in sigmas}))
        ax.legend(loc="best", fontsize=7)
    ax_b.set_ylim(bottom=0)
    ax_b.set_ylabel("bias of dW vs the ideal source\n(mean over records)")
    ax_b.set_title("Bias vs device variation")
    ax_g.axhline(1.0, color="0.4", lw=1.0, ls=":")
    ax_g.set_ylabel("gain of dW vs the ideal source (1 = unbiased scale)")
    ax_g.set_title("Gain vs device variation")
    fig.suptitle("CBRAM bitstream source: calibration x device variation x bitstream length")
    return fig


CBRAM_FIGURES: dict[str, Callable[..., Figure]] = {
    "cbram_error_bias": figure_cbram_error_bias,
}

__all__ = ["CBRAM_FIGURES", "figure_cbram_error_bias"]
