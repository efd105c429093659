"""Comparisons between datapaths: the same records replayed through named baselines.

``compare(report, baselines)`` extends each row of a design's report with, per baseline B,
columns ``vs_B_<metric>``: the baseline's cycles, energy, compute area and error on the same
record, the time ratio, and energy, area and area-time in both readings of an efficiency claim
(saving = 1 - new/base, gain = base/new - 1; see :func:`essop_sim.cost.efficiency_improvement`
and docs/cost.md). ``baseline_config`` builds a baseline from the design's configuration (same
memory system, clock, seed and cost table), as configured, or with its parallelism scaled to the
smallest size that is not slower than the design on the trace (iso-throughput) or the largest
that is not bigger in compute area (iso-area).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from .config import HardwareConfig
from .errors import ConfigError, TraceError

#: How a baseline is sized: as configured, or its parallelism scaled until its time on the
#: trace (throughput) or its compute area matches the design's.
ISO_MODES = ("none", "throughput", "area")

#: Efficiency readings copied per baseline (prefix 'vs_<name>_').
READINGS = ("energy_saving", "energy_efficiency_gain", "area_saving", "area_efficiency_gain",
            "area_time_saving", "area_time_efficiency_gain")


def _total_time(config: HardwareConfig, trace: Any) -> float:
    """Seconds ``config`` takes for the whole trace selection: the report's time_s summed, with
    numerics only where the datapath's timing needs hints from them (stages, per-layer
    configurations and hints all count as in a real run)."""
    from .datapaths.registry import datapath_of
    from .simulate import simulate

    needs = bool(datapath_of(config).timing_hints)
    return math.fsum(r["time_s"] for r in simulate(config, trace, numerics=needs).rows)


def _compute_area(config: HardwareConfig) -> float:
    from .cost import MEMORY_COMPONENTS, estimate_area

    return estimate_area(config).total(exclude=MEMORY_COMPONENTS)


#: Parallelism factors searched: 2^-20 .. 2^20 of the configured baseline.
_LIMIT = 2.0 ** 20


def _edge(ok: Callable[[float], bool], ok_above: bool) -> float | None:
    """The factor where ``ok`` flips, on its ok side, to 0.1% (bisection in log space): the
    smallest ok factor if ok holds above the edge, else the largest. None if nothing is ok."""
    good, bad, f = None, None, 1.0
    outward = 2.0 if ok_above else 0.5
    while good is None and 1 / _LIMIT <= f <= _LIMIT:
        if ok(f):
            good = f
        else:
            bad, f = f, f * outward
    if good is None:
        return None
    f = good
    while bad is None and 1 / _LIMIT <= f <= _LIMIT:
        f /= outward
        if ok(f):
            good = f
        else:
            bad = f
    if bad is None:
        return good
    while max(good, bad) / min(good, bad) > 1.001:
        mid = math.sqrt(good * bad)
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good


def _scaled(base: HardwareConfig, measure: Callable[[HardwareConfig], float], target: float,
            name: str, ok_above: bool) -> tuple[HardwareConfig, float]:
    """The baseline scaled to the edge where ``measure`` <= ``target`` flips; returns
    (config, factor)."""
    from .datapaths.registry import get_datapath

    datapath = get_datapath(name)
    if datapath.scale_parallelism(base, 1.0) is None:
        raise ConfigError("--iso", "datapath", name, "a baseline that can scale its parallelism")
    factor = _edge(lambda f: measure(datapath.scale_parallelism(base, f)) <= target, ok_above)
    if factor is None:
        raise ConfigError("--iso", name, target, f"a size of the {name} baseline that matches "
                          "the design (none between 2^-20 and 2^20 of its configured size)")
    return datapath.scale_parallelism(base, factor), factor


def baseline_config(config: HardwareConfig, name: str, *, iso: str = "none",
                    trace: Any = None, design_time: float | None = None
                    ) -> tuple[HardwareConfig, float]:
    """``config`` with datapath ``name`` (same memory, clock, seed, cost table and the sections
    as configured); with ``iso='throughput'`` its parallelism scaled so that its total time on
    ``trace`` is at most the design's, with ``iso='area'`` so that its compute area is at most
    the design's (``design_time``, seconds, if already known). Returns (baseline config,
    parallelism factor applied)."""
    from .datapaths.registry import get_datapath

    get_datapath(name, "--compare")
    if iso not in ISO_MODES:
        raise ConfigError("--iso", "iso", iso, "one of " + ", ".join(ISO_MODES))
    base = dataclasses.replace(config, datapath=name)
    if iso == "throughput":   # the smallest baseline that is not slower
        target = design_time if design_time is not None else _total_time(config, trace)
        return _scaled(base, lambda c: _total_time(c, trace), target, name, ok_above=True)
    if iso == "area":         # the largest baseline that is not bigger
        return _scaled(base, _compute_area, _compute_area(config), name, ok_above=False)
    return base, 1.0


def compare(report: Any, baselines: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The design's rows extended with each baseline's figures on the same records.

    Adds, per baseline B and row: ``vs_B_cycles``, ``vs_B_energy_pj``,
    ``vs_B_area_compute_um2``, ``vs_B_rel_error``, ``vs_B_time_ratio`` (design time / baseline
    time) and ``vs_B_<reading>`` for each of :data:`READINGS`. Energies include SRAM traffic on
    both sides; areas are compute only (``area_compute_um2``), because a baseline need not model
    an operand buffer.
    """
    from .cost import efficiency_improvement

    keys = [(r["layer"], r["step"]) for r in report.rows]
    rows = [dict(r) for r in report.rows]
    for name, base in baselines.items():
        if keys != [(r["layer"], r["step"]) for r in base.rows]:
            raise TraceError(report.meta.get("trace"), f"the design's and the {name} baseline's "
                             "reports hold different records; compare runs of the same trace "
                             "and selection")
        for row, b in zip(rows, base.rows, strict=True):
            gains = efficiency_improvement(row["energy_pj"], b["energy_pj"],
                                           row["area_compute_um2"], b["area_compute_um2"],
                                           new_cycles=row["cycles"], base_cycles=b["cycles"])
            prefix = f"vs_{name}_"
            row.update({prefix + "cycles": b["cycles"], prefix + "energy_pj": b["energy_pj"],
                        prefix + "area_compute_um2": b["area_compute_um2"],
                        prefix + "rel_error": b["rel_error"],
                        prefix + "time_ratio": row["time_s"] / b["time_s"]})
            row.update({prefix + key: gains[key] for key in READINGS})
    return rows


def compare_columns(names: list[str]) -> tuple[tuple[str, str, str], ...]:
    """Columns ``essop-sim run --compare`` prints: per baseline, its cycles and energy and the
    design's energy, area and area-time savings over it (reading A; the JSON/CSV hold both)."""
    cols: list[tuple[str, str, str]] = [
        ("layer", "layer", "s"), ("step", "step", "d"), ("K", "K", "d"),
        ("label", "design", "s"), ("cycles", "cycles", ",d"), ("rel_error", "rel_err", ".4f"),
        ("energy_pj", "energy_pJ", ".4g")]
    for name in names:
        p = f"vs_{name}_"
        cols += [(p + "cycles", f"{name}_cycles", ",d"), (p + "energy_pj", f"{name}_pJ", ".4g"),
                 (p + "energy_saving", f"E_sav_{name}", ".1%"),
                 (p + "area_saving", f"A_sav_{name}", ".1%"),
                 (p + "area_time_saving", f"AT_sav_{name}", ".1%")]
    return tuple(cols)


def compare_legend(rows: list[dict[str, Any]], names: list[str]) -> str:
    """Lines printed under the ``--compare`` table: what the savings columns mean, and the whole
    selection against each baseline in both readings (totals of energy and time; compute area).
    """
    from .cost import efficiency_improvement

    lines = ["_sav = saving = 1 - design/baseline (the other reading, gain = baseline/design - 1,"
             " is in report.csv/json); E energy, A compute area (no SRAM or operand buffer), "
             "AT area x time; < 0: the design costs more"]
    for name in names:
        p = f"vs_{name}_"
        e_new = sum(r["energy_pj"] for r in rows)
        e_base = sum(r[p + "energy_pj"] for r in rows)
        c_new = sum(r["cycles"] for r in rows)
        c_base = sum(r[p + "cycles"] for r in rows)
        # cycles, not seconds: design and baseline share memory and clock
        g = efficiency_improvement(e_new, e_base, rows[0]["area_compute_um2"],
                                   rows[0][p + "area_compute_um2"], new_cycles=c_new,
                                   base_cycles=c_base)
        parts = [f"{what} saving {g[key + '_saving']:.1%} / gain {g[key + '_efficiency_gain']:.1%}"
                 for what, key in (("energy", "energy"), ("area", "area"),
                                   ("area x time", "area_time"))]
        lines.append(f"all rows vs {name}: " + ", ".join(parts))
    return "\n".join(lines)


__all__ = ["ISO_MODES", "READINGS", "baseline_config", "compare", "compare_columns",
           "compare_legend"]
