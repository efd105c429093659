"""Public timing API: cycles, stalls, busy blocks and activity of one weight update.

Timing depends only on the update's shape (m, n, K) and the configuration, never on operand
values. The definitions (tiles, batches, stall causes, closed forms) are in docs/timing.md.

    >>> from essop_sim.config import HardwareConfig
    >>> r = time_update(HardwareConfig(), 16, 144, 1024)
    >>> r.cycles >= r.ideal_cycles
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import HardwareConfig
from .essop_datapath import EssopDatapath
from .fp16_datapath import Fp16Datapath
from .scheduler import ceil_div, essop_geometry, fp16_accumulator_bits, fp16_geometry


@dataclass
class TimingResult:
    """When the hardware works on one update dW [m, n] = sum over K outer products.

    Attributes:
        datapath: 'essop' or 'fp16'.
        m, n, K: the update's shape.
        cycles: total clock cycles, from the first load request to the last write-back's end.
        time_s: cycles / clock_hz (seconds).
        ideal_cycles: the closed form without bandwidth, RNG-broadcast or write-back stalls
            (:func:`closed_form_cycles`).
        tiles: array tiles (ESSOP: ceil(m / R) * ceil(n / C); FP16: 1).
        utilization: useful work / available work in [0, 1]. ESSOP: m*n*K*BL AND evaluations
            over R*C*bits_per_cycle*cycles lanes; FP16: m*n*K products over
            multipliers*cycles/issue_interval issue slots.
        busy: block -> busy cycles (ESSOP: read_port, write_port, shadow, shift_scaler,
            rng_bank, comparators, and_array, counters, accumulators; FP16: read_port,
            write_port, shadow, multipliers, pipeline, accumulators).
        stalls: cause -> cycles in which the array does no useful work: 'fill' (before the
            first compute cycle), 'operand' (waiting for a batch load and the shift scaler),
            'rng' (RNG broadcast cycles), 'writeback' (waiting for the shadow register), 'drain'
            (after the last compute cycle). busy-compute cycles + sum(stalls) == cycles, where
            busy-compute is and_array (ESSOP) or multipliers (FP16).
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


def closed_form_terms(config: HardwareConfig, m: int, n: int, K: int) -> dict[str, int]:
    """The terms of the stall-free cycle count (cycles).

    ESSOP: 'load' (first batch load, ceil(min(V, K) * (r0 + c0) * operand_bits / read_bw)),
    'scaler' (shift_scaler_latency), 'compute' (tiles * K * ceil(BL / bits_per_cycle)),
    'pipeline' (pipeline_stages), 'writeback' (last tile, ceil(r * c * accumulator_bits /
    write_bw)); the total is their sum.

    FP16: 'load' (first batch), 'compute' (G * II with G = ceil(m*n*K / multipliers)),
    'pipeline' (D - II: the last product leaves D cycles after its issue cycle, which starts
    II cycles before the compute term ends), 'writeback' (ceil(m * n * acc_bits / write_bw));
    the total is load + compute + max(0, pipeline + writeback). For II = 1 this is
    load + ceil(products / multipliers) + D - 1 + writeback.
    """
    mem = config.memory
    if config.datapath == "essop":
        essop = config.essop
        tiles, split = essop_geometry(config, m, n, K)
        first, last = tiles[0], tiles[-1]
        return {
            "load": ceil_div(split.size(0) * (first.rows + first.cols) * mem.operand_bits,
                             mem.read_bandwidth),
            "scaler": essop.shift_scaler_latency,
            "compute": len(tiles) * K * ceil_div(essop.bitstream_length, essop.bits_per_cycle),
            "pipeline": essop.pipeline_stages,
            "writeback": ceil_div(last.rows * last.cols * essop.accumulator_bits,
                                  mem.write_bandwidth),
        }
    split = fp16_geometry(config, m, n, K)
    fp = config.fp16
    return {
        "load": ceil_div(split.size(0) * (m + n) * mem.operand_bits, mem.read_bandwidth),
        "compute": ceil_div(m * n * K, fp.multipliers) * fp.issue_interval,
        "pipeline": fp.pipeline_depth - fp.issue_interval,
        "writeback": ceil_div(m * n * fp16_accumulator_bits(config), mem.write_bandwidth),
    }


def closed_form_cycles(config: HardwareConfig, m: int, n: int, K: int) -> int:
    """Total cycles of an update on a stall-free configuration (see :func:`closed_form_terms`).

    ESSOP: load + shift_scaler_latency + tiles*K*ceil(BL/b) + pipeline_stages + writeback.
    FP16: load + ceil(products/multipliers)*II + max(0, D - II + writeback).
    Exact whenever no 'operand', 'rng' or 'writeback' stall occurs; a lower bound otherwise.
    """
    t = closed_form_terms(config, m, n, K)
    if config.datapath == "essop":
        return sum(t.values())
    return t["load"] + t["compute"] + max(0, t["pipeline"] + t["writeback"])


def time_update(config: HardwareConfig, m: int, n: int, K: int, *,
                fast_forward: bool = True) -> TimingResult:
    """Time one weight update dW [m, n] = sum_k delta_k x_k^T on ``config.datapath``.

    Args:
        config: hardware configuration.
        m: rows of the update (delta length).
        n: columns of the update (x length).
        K: outer products summed.
        fast_forward: advance provably periodic runs of identical batches as one transaction
            (exact; off = batch by batch, for checking).

    Returns:
        TimingResult (cycles, stalls by cause, busy cycles per block, activity, ...).
    """
    if config.datapath == "essop":
        model = EssopDatapath(config, m, n, K, fast_forward=fast_forward)
        tiles = len(model.tiles)
        essop = config.essop
        lanes = essop.array.rows * essop.array.cols * essop.bits_per_cycle
        useful = m * n * K * essop.bitstream_length
    elif config.datapath == "fp16":
        model = Fp16Datapath(config, m, n, K, fast_forward=fast_forward)
        tiles = 1
        lanes = config.fp16.multipliers
        useful = m * n * K * config.fp16.issue_interval
    else:
        raise ValueError(f"unknown datapath {config.datapath!r}; expected 'essop' or 'fp16'")
    cycles, stats = model.run()
    activity = dict(stats.activity)
    activity["cycles"] = cycles
    activity["sram_read_bits"] = stats.bits_read
    activity["sram_write_bits"] = stats.bits_written
    return TimingResult(
        datapath=config.datapath, m=m, n=n, K=K, cycles=cycles,
        time_s=cycles / config.memory.clock_hz,
        ideal_cycles=closed_form_cycles(config, m, n, K), tiles=tiles,
        utilization=useful / (lanes * cycles),
        busy=dict(stats.busy), stalls=dict(stats.stalls), bits_read=stats.bits_read,
        bits_written=stats.bits_written, events=stats.events, runs=stats.runs,
        activity=activity,
    )
