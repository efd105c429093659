"""Replay a gradient trace through one hardware configuration: numerics, timing and cost per layer.

This is where the three views of DESIGN.md meet, once per trace record:

- numerics (:mod:`essop_sim.numerics`): what the counters hold, bit-exact, and the error of the
  resulting update against the exact float64 ``sum_k delta_k x_k^T``;
- timing (:mod:`essop_sim.hw`): when each block works, in cycles, from the event model;
- cost (:mod:`essop_sim.cost`): energy from the activity the two above counted, area from the
  configured blocks.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .config import HardwareConfig, config_to_dict

ERROR_KEYS = ("rel_error", "bias", "cosine", "sign_error_fraction")


@dataclass
class Report:
    """Per-layer results of one simulated configuration on one trace.

    Attributes:
        rows: one dict per trace record (layer x step); keys are documented in docs/reports.md.
        config: the configuration simulated.
        meta: software version, full configuration, trace path and summary, wall time (s).
    """

    rows: list[dict[str, Any]]
    config: HardwareConfig
    meta: dict[str, Any] = field(default_factory=dict)


def record_seed(seed: int, layer: str, step: int) -> int:
    """Seed of one record's random numbers, derived from the run seed, layer name and step.

    Deriving per record (rather than continuing one sequence across records) makes every row
    independent of which other records are replayed, and of serial versus parallel order.
    """
    digest = hashlib.sha256(f"{seed}:{layer}:{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def resolve_trace(trace: Any, layers: Iterable[str] | None = None,
                  steps: Iterable[int] | None = None):
    """A loaded, verified Trace from a path, a Trace, or None (the shipped default trace),
    restricted to ``layers`` (names or fnmatch patterns) and ``steps``; a selection that matches
    nothing is a TraceError naming what the trace holds."""
    from .trace import default_trace_path, load_trace

    if trace is None:
        trace = default_trace_path()
    if isinstance(trace, (str, Path)):
        return load_trace(trace, layers=layers, steps=steps)
    return trace.select(layers, steps)


def simulate_record(config: HardwareConfig, record: Any, *, numerics: bool = True,
                    cost_table: Any = None, area: Any = None) -> dict[str, Any]:
    """Simulate one trace record (one layer's update at one step) and return its report row.

    ``cost_table`` and ``area`` (the AreaBreakdown of ``config``) may be passed in when many
    records share them; otherwise they are derived from ``config``.
    """
    from .cost import MEMORY_COMPONENTS, estimate_area, estimate_energy, table_for
    from .hw import time_update

    timing = time_update(config, record.m, record.n, record.K)
    essop = config.essop
    is_essop = config.datapath == "essop"
    row: dict[str, Any] = {
        "layer": record.layer,
        "step": record.step,
        "datapath": config.datapath,
        "n": record.n,
        "m": record.m,
        "K": record.K,
        "bitstream_length": essop.bitstream_length if is_essop else 0,
        "array_rows": essop.array.rows if is_essop else 0,
        "array_cols": essop.array.cols if is_essop else 0,
        "multipliers": 0 if is_essop else config.fp16.multipliers,
        "cycles": timing.cycles,
        "ideal_cycles": timing.ideal_cycles,
        "time_s": timing.time_s,
        "utilization": timing.utilization,
    }
    for block, busy in timing.busy.items():
        row[f"busy_{block}"] = busy / timing.cycles if timing.cycles else 0.0
    for cause, cycles in timing.stalls.items():
        row[f"stall_{cause}"] = cycles
    row.update(bits_read=timing.bits_read, bits_written=timing.bits_written,
               events=timing.events)

    activity = dict(timing.activity)
    if numerics:
        from .numerics import outer_product
        from .numerics.metrics import exact_update, update_error

        result = outer_product(record.x, record.delta, config,
                               seed=record_seed(config.seed, record.layer, record.step))
        # The event model counts the data-independent activity; the numerics add only what
        # depends on operand values (e.g. counter increments = AND ones), never a recount.
        for key, value in result.activity.items():
            activity.setdefault(key, value)
        row.update(update_error(result.dw, exact_update(record.x, record.delta)))
    else:
        row.update({key: float("nan") for key in ERROR_KEYS})

    table = cost_table if cost_table is not None else table_for(config)
    energy = estimate_energy(config, activity, table)
    area = area if area is not None else estimate_area(config, table)
    row["energy_pj"] = energy.total_pj
    row["area_um2"] = area.total_um2
    row["area_compute_um2"] = area.total(exclude=MEMORY_COMPONENTS)
    row["energy_per_element_pj"] = energy.total_pj / (record.m * record.n * record.K)
    return row


def simulate(config: HardwareConfig, trace: Any = None, *, layers: Iterable[str] | None = None,
             steps: Iterable[int] | None = None, numerics: bool = True,
             progress: Callable[[int, int, dict], None] | None = None) -> Report:
    """Run numerics, timing and cost for every record of a trace.

    Args:
        config: hardware configuration.
        trace: a trace directory path, a loaded Trace, or None for the shipped default trace.
        layers, steps: optional record selection (layer names or fnmatch patterns, steps);
            a selection that matches nothing is a TraceError.
        numerics: False skips the bit-level numerics (error columns become NaN and the
            data-dependent 'counter_increments' activity is not counted); timing is unaffected.
        progress: called as progress(done, total, row) after each record.

    Returns:
        Report with one row per selected record, in trace order.
    """
    from .cost import estimate_area, table_for

    started = time.perf_counter()
    trace = resolve_trace(trace, layers, steps)
    records = trace.records
    table = table_for(config)
    area = estimate_area(config, table)
    rows = []
    for index, record in enumerate(records):
        rows.append(simulate_record(config, record, numerics=numerics, cost_table=table,
                                    area=area))
        if progress is not None:
            progress(index + 1, len(records), rows[-1])
    manifest = trace.manifest
    meta = {
        "software": "essop-sim",
        "version": __version__,
        "config": config_to_dict(config),
        "trace": str(trace.path),
        "trace_model": manifest.get("model"),
        "trace_dataset": manifest.get("dataset"),
        "numerics": numerics,
        "wall_time_s": time.perf_counter() - started,
    }
    return Report(rows=rows, config=config, meta=meta)


def fp16_counterpart(config: HardwareConfig) -> HardwareConfig:
    """The FP16 baseline sharing ``config``'s memory system, clock, seed and cost table."""
    import dataclasses

    return dataclasses.replace(config, datapath="fp16")


def compare_with_fp16(essop: Report, fp16: Report) -> list[dict[str, Any]]:
    """ESSOP rows extended with the FP16 baseline's figures on the same records.

    Adds, per row: ``fp16_cycles``, ``fp16_energy_pj``, ``fp16_area_um2``, ``fp16_rel_error``
    and the paper's comparison in both readings (see
    :func:`essop_sim.cost.efficiency_improvement`): ``energy_saving`` (reading A: 1 - E_essop /
    E_fp16; the paper's 82.2%), ``energy_efficiency_gain`` (reading B: E_fp16 / E_essop - 1),
    the same two for area (the paper's 93.7%), and for the area-time product (area efficiency as
    throughput per um^2). Energies include SRAM traffic on both sides; areas are compute only
    (``area_compute_um2``), because the FP16 baseline models no operand-buffer area.
    """
    from .cost import efficiency_improvement
    from .errors import TraceError

    rows = []
    keys = [(r["layer"], r["step"]) for r in essop.rows]
    if keys != [(r["layer"], r["step"]) for r in fp16.rows]:
        raise TraceError(essop.meta.get("trace"), "the ESSOP and FP16 reports hold different "
                         "records; compare runs of the same trace and selection")
    for e, f in zip(essop.rows, fp16.rows, strict=True):
        gains = efficiency_improvement(e["energy_pj"], f["energy_pj"], e["area_compute_um2"],
                                       f["area_compute_um2"], essop_cycles=e["cycles"],
                                       fp16_cycles=f["cycles"])
        row = dict(e)
        row.update(fp16_cycles=f["cycles"], fp16_energy_pj=f["energy_pj"],
                   fp16_area_compute_um2=f["area_compute_um2"], fp16_rel_error=f["rel_error"])
        for key in ("energy_saving", "energy_efficiency_gain", "area_saving",
                    "area_efficiency_gain", "area_time_saving", "area_time_efficiency_gain"):
            row[key] = gains[key]
        rows.append(row)
    return rows
