"""Public timing API: cycles, stalls, busy blocks and activity of one weight update.

Each registered datapath times an update with its own event model (``datapaths/<name>/timing.py``);
this module dispatches through the registry and defines the result every datapath returns. For
ESSOP and FP16 timing depends only on the update's shape (m, n, K) and the configuration; a
datapath whose timing depends on what its numerics found (a layer's precision, a sparsity
pattern) declares ``timing_hints`` and receives them as ``hints``. The definitions (tiles,
batches, stall causes, closed forms) are in docs/timing.md.

    >>> from essop_sim.config import HardwareConfig
    >>> r = time_update(HardwareConfig(), 16, 144, 1024)
    >>> r.cycles >= r.ideal_cycles
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import HardwareConfig


@dataclass
class TimingResult:
    """When the hardware works on one update dW [m, n] = sum over K outer products.

    Attributes:
        datapath: the registered datapath's name.
        m, n, K: the update's shape.
        cycles: total clock cycles, from the first load request to the last write-back's end.
        time_s: cycles / clock_hz (seconds).
        ideal_cycles: the closed form without bandwidth, RNG-broadcast or write-back stalls
            (:func:`closed_form_cycles`).
        tiles: array tiles (ESSOP: ceil(m / R) * ceil(n / C); FP16: 1).
        utilization: useful work / available work in [0, 1] (``Datapath.useful_work``). ESSOP:
            m*n*K*BL AND evaluations over R*C*bits_per_cycle*cycles lanes; FP16: m*n*K products
            over multipliers*cycles/issue_interval issue slots.
        busy: block -> busy cycles (the datapath's ``blocks``; ESSOP: read_port, write_port,
            shadow, shift_scaler, rng_bank, comparators, and_array, counters, accumulators;
            FP16: read_port, write_port, shadow, multipliers, pipeline, accumulators).
        stalls: cause -> cycles in which the array does no useful work (the datapath's
            ``stall_causes``; ESSOP and FP16: 'fill' (before the first compute cycle),
            'operand' (waiting for a batch load and the shift scaler), 'rng' (RNG broadcast
            cycles), 'writeback' (waiting for the shadow register), 'drain' (after the last
            compute cycle)). busy[compute_block] + sum(stalls) == cycles.
        bits_read, bits_written: memory traffic (bits).
        events: hardware transactions the event model processed (batch loads, batch computes,
            write-back bursts, fast-forwarded runs).
        runs: how many of those events were fast-forwarded runs of identical batches.
        activity: shape-determined activity counts for the cost model (see docs/timing.md).
    """

    datapath: str
    m: int
    n: int
    K: int
    cycles: int
    time_s: float
    ideal_cycles: int
    tiles: int
    utilization: float
    busy: dict[str, int] = field(default_factory=dict)
    stalls: dict[str, int] = field(default_factory=dict)
    bits_read: int = 0
    bits_written: int = 0
    events: int = 0
    runs: int = 0
    activity: dict[str, int] = field(default_factory=dict)


def timing_result(config: HardwareConfig, m: int, n: int, K: int, model: Any, *,
                  hints: Mapping[str, Any], tiles: int) -> TimingResult:
    """Run an event model (an :class:`essop_sim.hw.sim.DatapathRun`) and package its counts.

    Shared by every datapath's ``time_update``: total cycles, busy and stalls from the model,
    memory traffic added to the activity, utilization from ``Datapath.useful_work`` and the
    stall-free closed form.
    """
    from ..datapaths.registry import datapath_of

    datapath = datapath_of(config)
    cycles, stats = model.run()
    activity = dict(stats.activity)
    activity["cycles"] = cycles
    activity["sram_read_bits"] = stats.bits_read
    activity["sram_write_bits"] = stats.bits_written
    useful, lanes = datapath.useful_work(config, m, n, K, hints)
    return TimingResult(
        datapath=config.datapath, m=m, n=n, K=K, cycles=cycles,
        time_s=cycles / config.memory.clock_hz,
        ideal_cycles=datapath.closed_form_cycles(config, m, n, K, hints=hints), tiles=tiles,
        utilization=useful / (lanes * cycles),
        busy=dict(stats.busy), stalls=dict(stats.stalls), bits_read=stats.bits_read,
        bits_written=stats.bits_written, events=stats.events, runs=stats.runs,
        activity=activity,
    )


def closed_form_terms(config: HardwareConfig, m: int, n: int, K: int, *,
                      hints: Mapping[str, Any] | None = None) -> dict[str, int]:
    """The terms of ``config.datapath``'s stall-free cycle count (cycles); see docs/timing.md
    and each datapath's ``closed_form_terms``."""
    from ..datapaths.registry import datapath_of

    return datapath_of(config).closed_form_terms(config, m, n, K, hints=hints or {})


def closed_form_cycles(config: HardwareConfig, m: int, n: int, K: int, *,
                       hints: Mapping[str, Any] | None = None) -> int:
    """Total cycles of an update on a stall-free configuration: exact whenever no 'operand',
    'rng' or 'writeback' stall occurs; a lower bound otherwise."""
    from ..datapaths.registry import datapath_of

    return datapath_of(config).closed_form_cycles(config, m, n, K, hints=hints or {})


def time_update(config: HardwareConfig, m: int, n: int, K: int, *,
                hints: Mapping[str, Any] | None = None,
                fast_forward: bool = True) -> TimingResult:
    """Time one weight update dW [m, n] = sum_k delta_k x_k^T on ``config.datapath``.

    Args:
        config: hardware configuration.
        m: rows of the update (delta length).
        n: columns of the update (x length).
        K: outer products summed.
        hints: what the datapath's numerics found that its timing needs (the datapath's
            ``timing_hints``); ESSOP and FP16 need none.
        fast_forward: advance provably periodic runs of identical batches as one transaction
            (exact; off = batch by batch, for checking).

    Returns:
        TimingResult (cycles, stalls by cause, busy cycles per block, activity, ...).

    Raises:
        ConfigError: unknown datapath, or hints the datapath needs are missing.
    """
    from ..datapaths.registry import datapath_of
    from ..errors import ConfigError

    datapath = datapath_of(config)
    hints = dict(hints or {})
    missing = [h for h in datapath.timing_hints if h not in hints]
    if missing:
        raise ConfigError("timing", "hints", sorted(hints),
                          f"the hints {', '.join(missing)} that datapath {datapath.name!r} "
                          "computes in its numerics (its timing depends on them: run with "
                          "numerics on)")
    return datapath.time_update(config, m, n, K, hints=hints, fast_forward=fast_forward)
