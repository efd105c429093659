"""Replay a gradient trace through one hardware configuration: numerics, timing and cost per layer.

This is where the three views (docs/architecture.md) meet, once per trace record:

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
from .errors import ConfigError

#: The error columns of every row (numerics.metrics.update_error); NaN without numerics.
ERROR_KEYS = ("rel_error", "abs_error", "max_abs_error", "bias", "cosine",
              "sign_error_fraction", "nonzero")


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


def _stage_operands(config: HardwareConfig, stages: list, record: Any, seed: int,
                    numerics: bool, states: dict | None = None
                    ) -> tuple[Any, Any, int, int, dict, dict]:
    """Run the configured stages in order: (x, delta, K', stage cycles, activity, columns).
    A stateful stage (``Stage.wants_state``) gets and leaves its state in ``states`` under
    (stage name, layer)."""
    x, delta, K = record.x, record.delta, record.K
    cycles, activity, columns = 0, {}, {}
    for stage in stages:
        own = stage.cycles(config, record.m, record.n, K)
        cycles += own
        columns[f"{stage.name}_cycles"] = own
        if numerics:
            if states is not None and stage.wants_state(config):
                key = (stage.name, record.layer)
                out = stage.apply(x, delta, config, seed, state=states.get(key))
                states[key] = out.state
            else:
                out = stage.apply(x, delta, config, seed)
            x, delta, K = out.x, out.delta, len(out.x)
            for key, value in out.activity.items():
                activity[key] = activity.get(key, 0) + value
            columns.update({f"{stage.name}_{k}": v for k, v in out.columns.items()})
        else:
            K = stage.output_k(config, record.m, record.n, K)
        columns[f"{stage.name}_k_out"] = K
    return x, delta, K, cycles, activity, columns


def simulate_record(config: HardwareConfig, record: Any, *, numerics: bool = True,
                    cost_table: Any = None, area: Any = None,
                    stage_state: dict | None = None) -> dict[str, Any]:
    """Simulate one trace record (one layer's update at one step) and return its report row.

    The configured stages (if any) transform the operands first; the configured datapath then
    computes the update (numerics), the event model times it (from the shape, plus the hints the
    numerics found where the datapath needs them) and the cost model prices the activity both
    counted. ``cost_table`` and ``area`` (the AreaBreakdown of ``config``) may be passed in when
    many records share them; otherwise they are derived from ``config``. ``stage_state``: the
    dict in which stateful stages carry state from a layer's record to its next (``simulate``
    passes one per run; None: every record starts cold). Columns: core columns
    for every datapath, then '<datapath>_<key>' and '<stage>_<key>' (docs/reports.md).
    """
    from .cost import MEMORY_COMPONENTS, estimate_area, estimate_energy, table_for
    from .datapaths.registry import datapath_of, stages_of
    from .hw import time_update

    datapath = datapath_of(config)
    design = config   # the row's label; the layer's own configuration runs (Datapath.for_layer)
    config = datapath.for_layer(config, record.layer)
    seed = record_seed(config.seed, record.layer, record.step)
    x, delta, K, stage_cycles, activity, stage_columns = _stage_operands(
        config, stages_of(config), record, seed, numerics, stage_state)
    result = None
    if numerics:
        from .numerics import outer_product
        from .numerics.metrics import exact_update, update_error

        result = outer_product(x, delta, config, seed=seed)
        errors = update_error(result.dw, exact_update(record.x, record.delta))
    elif datapath.timing_hints:
        raise ConfigError("--no-numerics", "datapath", config.datapath,
                          f"a datapath whose timing needs no numerics ({config.datapath!r} "
                          f"times an update from {', '.join(datapath.timing_hints)}, which its "
                          "numerics compute: run with numerics)")
    else:
        errors = dict.fromkeys(ERROR_KEYS, float("nan"))
    timing = time_update(config, record.m, record.n, K,
                         hints=result.hints if result is not None else None)
    cycles = stage_cycles + timing.cycles
    row: dict[str, Any] = {
        "layer": record.layer,
        "step": record.step,
        "datapath": config.datapath,
        "label": datapath.describe(design),
        "n": record.n,
        "m": record.m,
        "K": record.K,
        "cycles": cycles,
        "ideal_cycles": stage_cycles + timing.ideal_cycles,
        "time_s": cycles / config.memory.clock_hz,
        "utilization": (timing.utilization if not stage_cycles
                        else timing.utilization * timing.cycles / cycles),
    }
    for block, busy in timing.busy.items():
        row[f"busy_{block}"] = busy / cycles if cycles else 0.0
    for cause, stalled in timing.stalls.items():
        row[f"stall_{cause}"] = stalled
    row.update(bits_read=timing.bits_read, bits_written=timing.bits_written,
               events=timing.events)
    row.update(errors)

    # The event model counts the data-independent activity; the numerics add only what depends
    # on operand values (e.g. counter increments = AND ones), never a recount.
    for key, value in {**timing.activity, "cycles": cycles}.items():
        activity[key] = value
    for key, value in (result.activity.items() if result is not None else ()):
        activity.setdefault(key, value)
    table = cost_table if cost_table is not None else table_for(config)
    energy = estimate_energy(config, activity, table)
    area = area if area is not None else estimate_area(config, table)
    row["energy_pj"] = energy.total_pj
    row["area_um2"] = area.total_um2
    row["area_compute_um2"] = area.total(exclude=MEMORY_COMPONENTS)
    row["energy_per_element_pj"] = energy.total_pj / (record.m * record.n * record.K)
    row.update({f"{datapath.name}_{k}": v for k, v in datapath.report_columns(design).items()})
    if result is not None:
        row.update({f"{datapath.name}_{k}": v
                    for k, v in datapath.record_columns(config, result).items()})
    row.update(stage_columns)
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
    states: dict = {}    # stateful stages: (stage, layer) -> state, carried in trace order
    for index, record in enumerate(records):
        rows.append(simulate_record(config, record, numerics=numerics, cost_table=table,
                                    area=area, stage_state=states))
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
