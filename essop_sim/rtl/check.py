"""Cross-check of the RTL tile against the ESSOP numerics and timing event model.

:func:`check_tile` simulates one :class:`~.essop_tile.EssopTile` with ``amaranth.sim`` cycle by
cycle, feeding one vector pair per k-step as soon as the tile takes it (operands always ready),
and compares:

(a) bit for bit, the accumulators with ``outer_product(x, delta, config, seed).raw`` (the
    datapath numerics, :func:`essop_sim.numerics.outer_product` with datapath 'essop') over the
    tile's rows and columns; and, when the tile is the whole update, the counter overflows and
    accumulator saturations with the numerics' activity;
(b) cycle for cycle, when the results are final and the tile's busy cycles, with the event
    model (:func:`essop_sim.hw.time_update`) of a one-tile update of the tile's shape on a
    memory that never stalls (one batch of K k-steps, a read port that brings all K vector
    pairs in ceil(.) = 1 cycle, a write port that writes the tile back in 1 cycle, dedicated
    ports).

Cycle mapping. RTL cycle 0 is the first cycle in which k-step 0's vector pair is at the tile's
input port, i.e. the event model's arrival boundary A_0 = L_0 (closed-form term 'load'). The
tile's results are final at boundary F = e_last + P + 1 (P stages, then the accumulate stage),
which the event model does not report directly: F = cycles - W_last (the only tile's write-back
starts at F and takes the closed-form term 'writeback'). So the RTL's ``done`` cycle must equal
cycles - load - writeback, and its first streaming cycle must equal stall 'fill' - load (= Ls).
Busy cycles: shift_scaler = vector pairs taken; rng_bank = comparators = streaming cycles;
and_array = counters = AND cycles reaching the array; accumulators = accumulate cycles; stall
'rng' = streaming cycles that are not AND cycles.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..config import HardwareConfig
from ..hw.scheduler import tile_grid
from .essop_tile import EssopTile
from .operands import TileOperands, tile_operands
from .params import TileParams, tile_params
from .simulate import run_testbench

#: Busy-cycle keys compared with the event model.
BUSY_KEYS = ("shift_scaler", "rng_bank", "comparators", "and_array", "counters",
             "accumulators")


@dataclass
class RtlRun:
    """What one RTL simulation observed.

    Attributes:
        raw: int64 [rows, cols] accumulator contents when ``done`` pulsed (first tile).
        ready: the cycle in which ``done`` pulsed (results final from that boundary), counted
            from the first cycle the first vector pair was offered (cycles; first tile).
        raws, readies: the same for every tile run back to back (``repeat``).
        first_stream: first streaming cycle (cycles).
        busy: block -> busy cycles (keys :data:`BUSY_KEYS`); rng_stall: broadcast cycles.
        counter_overflows, accumulator_saturations: (k, j, i) counts over active k.
        seconds: wall time of the simulation (s).
    """

    raw: np.ndarray
    ready: int
    first_stream: int
    busy: dict[str, int]
    rng_stall: int
    counter_overflows: int
    accumulator_saturations: int
    seconds: float
    raws: list[np.ndarray] = field(default_factory=list)
    readies: list[int] = field(default_factory=list)


@dataclass
class TileCheck:
    """Result of :func:`check_tile`: both sides' figures and every disagreement.

    Attributes:
        rows, cols, K: tile shape and k-steps; tile: index in the update's row-major tiles.
        raw_rtl, raw_model: int64 [rows, cols] accumulators (RTL / numerics).
        ready_rtl, ready_model: cycle at which the results are final, from the first vector
            pair's arrival (cycles).
        first_stream_rtl, first_stream_model: first streaming cycle (cycles; Ls).
        busy_rtl, busy_model: block -> busy cycles, and 'rng_stall' (cycles).
        event_cycles: the event model's total for the one-tile update (cycles).
        counter_overflows, accumulator_saturations: (RTL, numerics) or None when the tile is
            not the whole update (the numerics count over the whole update).
        seconds: RTL simulation wall time (s).
        mismatches: one line per disagreement (empty: passed).
    """

    rows: int
    cols: int
    K: int
    tile: int
    raw_rtl: np.ndarray
    raw_model: np.ndarray
    ready_rtl: int
    ready_model: int
    first_stream_rtl: int
    first_stream_model: int
    busy_rtl: dict[str, int]
    busy_model: dict[str, int]
    event_cycles: int
    counter_overflows: tuple[int, int] | None
    accumulator_saturations: tuple[int, int] | None
    seconds: float
    mismatches: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No mismatch."""
        return not self.mismatches


def ideal_numbers(p: TileParams, K: int) -> dict[int, list[int]]:
    """For kind 'ideal': every bank's numbers the run consumes (top w bits of PCG64 raw outputs
    seeded with SeedSequence([seed, bank id]), docs/numerics-essop.md)."""
    from .lfsr import RngBanks

    count = p.bl if p.sequence == "restart" else K * p.bl
    out = {}
    for side, banks in (("x", p.banks_x), ("delta", p.banks_delta)):
        for b in range(banks):
            bid = RngBanks.bank_id(p, side, b)
            gen = np.random.PCG64(np.random.SeedSequence([p.seed, bid]))
            out[bid] = [int(v) >> (64 - p.w) for v in gen.random_raw(count)]
    return out


def _mask(bits: np.ndarray) -> int:
    return sum(1 << i for i, b in enumerate(bits) if b)


def simulate_tile(tile: EssopTile, ops: TileOperands, max_cycles: int | None = None,
                  repeat: int = 1) -> RtlRun:
    """Run ``tile`` on ``ops`` with operands always ready, ``repeat`` times back to back (the
    same tile's k-steps offered again right after its last one); returns what it observed.
    Busy counts and flags cover all repeats."""

    p = tile.p
    K = ops.K
    limit = max_cycles if max_cycles is not None else (
        p.scaler_latency + p.pipeline_stages + 1 + repeat * K * p.bit_steps * p.broadcast + 16)
    total = repeat * K
    seen = {"busy": dict.fromkeys(BUSY_KEYS, 0), "rng_stall": 0, "ovf": 0, "sat": 0,
            "raws": [], "readies": []}

    def offer(ctx, step: int) -> None:
        k = step % K
        ctx.set(tile.valid, 1)
        ctx.set(tile.last, int(k == K - 1))
        for sig, v in zip(tile.q_x, ops.q_x[k], strict=True):
            ctx.set(sig, int(v))
        for sig, v in zip(tile.q_delta, ops.q_delta[k], strict=True):
            ctx.set(sig, int(v))
        ctx.set(tile.x_signs, _mask(ops.x_signs[k]))
        ctx.set(tile.delta_signs, _mask(ops.delta_signs[k]))
        ctx.set(tile.e_x, int(ops.e_x[k]))
        ctx.set(tile.e_delta, int(ops.e_delta[k]))

    async def bench(ctx):
        busy = seen["busy"]
        ctx.set(tile.exponent, ops.exponent)
        k = 0
        offer(ctx, 0)
        for cycle in range(limit + 1):
            if ctx.get(tile.done):
                seen["readies"].append(cycle)
                seen["raws"].append(np.array([[ctx.get(a) for a in row] for row in tile.acc],
                                             dtype=np.int64))
                if len(seen["readies"]) == repeat:
                    return
            took = k < total and ctx.get(tile.ready)
            busy["shift_scaler"] += int(took)
            if ctx.get(tile.stream):
                seen.setdefault("first", cycle)
                busy["rng_bank"] += 1
                busy["comparators"] += 1
                seen["rng_stall"] += 1 - ctx.get(tile.fire)
            if ctx.get(tile.and_valid):
                busy["and_array"] += 1
                busy["counters"] += 1
            if ctx.get(tile.accumulate):
                busy["accumulators"] += 1
                seen["ovf"] += sum(ctx.get(f) for row in tile.overflow for f in row)
                seen["sat"] += sum(ctx.get(f) for row in tile.saturated for f in row)
            await ctx.tick()
            if took:
                k += 1
                if k < total:
                    offer(ctx, k)
                else:
                    ctx.set(tile.valid, 0)

    seconds = run_testbench(tile, bench)
    if len(seen["readies"]) < repeat:
        raise RuntimeError(f"the RTL tile did not finish within {limit} cycles")
    return RtlRun(raw=seen["raws"][0], ready=seen["readies"][0],
                  first_stream=seen.get("first", -1), busy=seen["busy"],
                  rng_stall=seen["rng_stall"], counter_overflows=seen["ovf"],
                  accumulator_saturations=seen["sat"], seconds=seconds, raws=seen["raws"],
                  readies=seen["readies"])


def never_stalling(config: HardwareConfig, rows: int, cols: int, K: int) -> HardwareConfig:
    """``config`` with a rows x cols array and a memory that never stalls an update of such
    tiles over K: one buffer batch per tile, every vector pair in after one read cycle, a
    one-cycle write-back, dedicated ports."""
    mem = config.memory
    e = config.essop
    mem = dataclasses.replace(
        mem, operand_buffer_vectors=max(1, K), shared_port=False,
        read_bandwidth=min(1 << 30, K * (rows + cols) * mem.operand_bits),
        write_bandwidth=min(1 << 30, rows * cols * e.accumulator_bits))
    e = dataclasses.replace(e, array=dataclasses.replace(e.array, rows=rows, cols=cols))
    return dataclasses.replace(config, datapath="essop", memory=mem, essop=e)


def timing_expectation(config: HardwareConfig, rows: int, cols: int, K: int,
                       tiles: int = 1) -> tuple[list[int], int, dict[str, int], int]:
    """(ready per tile, first_stream, busy, event cycles) that the event model gives ``tiles``
    tiles of rows x cols, each over K k-steps, with operands always ready (cycles; see the
    module docstring for the mapping). Tile u's results are final where the update of u + 1
    such tiles ends minus its first load and last write-back. ``busy`` (all tiles) holds
    :data:`BUSY_KEYS` and 'rng_stall'."""
    from ..datapaths.essop.timing import closed_form_terms
    from ..hw import time_update

    cfg = never_stalling(config, rows, cols, K)
    readies = []
    for count in range(1, tiles + 1):
        result = time_update(cfg, count * rows, cols, K)
        terms = closed_form_terms(cfg, count * rows, cols, K)
        readies.append(result.cycles - terms["load"] - terms["writeback"])
    first = result.stalls["fill"] - terms["load"]
    busy = {key: int(result.busy[key]) for key in BUSY_KEYS}
    busy["rng_stall"] = int(result.stalls["rng"])
    return readies, first, busy, int(result.cycles)


def check_tile(config: HardwareConfig, x, delta, *, tile: int = 0, seed: int | None = None,
               repeat: int = 1, max_cycles: int | None = None) -> TileCheck:
    """Simulate tile ``tile`` (row-major index over the update's tiles; a tile-sized problem has
    only tile 0) of the update sum_k delta_k x_k^T (x [K, n], delta [K, m]) in RTL and compare
    it with the numerics and the event model (module docstring). ``seed``: default
    ``config.seed``. ``repeat`` > 1 runs the tile that many times back to back (as consecutive
    tiles of an update would stream) and checks every run's accumulators and ready cycle (the
    event model of ``repeat`` such tiles). Returns a :class:`TileCheck`; raises ConfigError /
    OperandError for configurations or operands the datapath rejects."""
    from ..numerics import as_operands, outer_product

    x, delta = as_operands(x, delta)
    K, n = x.shape
    m = delta.shape[1]
    seed = config.seed if seed is None else int(seed)
    arr = config.essop.array
    tiles = tile_grid(m, n, arr.rows, arr.cols)
    if not 0 <= tile < len(tiles):
        raise ValueError(f"tile {tile} does not exist: the update has {len(tiles)} tiles")
    t = tiles[tile]
    p = tile_params(config, t.rows, t.cols, row0=t.row0, col0=t.col0, seed=seed)
    ops = tile_operands(p, x, delta, config.essop.scaling.granularity)
    ideal = ideal_numbers(p, K) if p.kind == "ideal" else None
    run = simulate_tile(EssopTile(params=p, ideal=ideal), ops, max_cycles, repeat)

    cfg = dataclasses.replace(config, datapath="essop")
    model = outer_product(x, delta, cfg, seed)
    raw_model = np.asarray(model.raw)[t.row0:t.row0 + t.rows, t.col0:t.col0 + t.cols]
    readies, first, busy, cycles = timing_expectation(config, t.rows, t.cols, K, repeat)
    ready = readies[0]
    busy_rtl = dict(run.busy, rng_stall=run.rng_stall)

    bad: list[str] = []
    diff = np.argwhere(run.raw != raw_model)
    for j, i in diff[:8]:
        bad.append(f"acc[{j}, {i}]: rtl {run.raw[j, i]}, numerics {raw_model[j, i]}")
    if len(diff) > 8:
        bad.append(f"... {len(diff) - 8} more accumulator mismatches")
    for r, (raw, at, want) in enumerate(zip(run.raws[1:], run.readies[1:], readies[1:],
                                            strict=True), start=2):
        if not np.array_equal(raw, raw_model):
            bad.append(f"run {r} of {repeat}: accumulators differ from the numerics")
        if at != want:
            bad.append(f"run {r} of {repeat}: results final at cycle: rtl {at}, event model "
                       f"{want}")
    whole = len(tiles) == 1 and repeat == 1
    ovf = sat = None
    if whole:
        ovf = (run.counter_overflows, int(model.activity["counter_overflows"]))
        sat = (run.accumulator_saturations, int(model.activity["accumulator_saturations"]))
        for name, (a, b) in (("counter_overflows", ovf), ("accumulator_saturations", sat)):
            if a != b:
                bad.append(f"{name}: rtl {a}, numerics {b}")
    if run.ready != ready:
        bad.append(f"results final at cycle: rtl {run.ready}, event model {ready}")
    if run.first_stream != first:
        bad.append(f"first streaming cycle: rtl {run.first_stream}, event model {first}")
    for key in busy:
        if busy_rtl[key] != busy[key]:
            bad.append(f"busy {key}: rtl {busy_rtl[key]}, event model {busy[key]}")
    return TileCheck(rows=t.rows, cols=t.cols, K=K, tile=tile, raw_rtl=run.raw,
                     raw_model=raw_model, ready_rtl=run.ready, ready_model=ready,
                     first_stream_rtl=run.first_stream, first_stream_model=first,
                     busy_rtl=busy_rtl, busy_model=busy, event_cycles=cycles,
                     counter_overflows=ovf, accumulator_saturations=sat,
                     seconds=run.seconds, mismatches=bad)


def check_record(config: HardwareConfig, record, *, tile: int = 0, max_k: int | None = 8,
                 seed: int | None = None) -> TileCheck:
    """:func:`check_tile` on a trace record's operands (its first ``max_k`` outer products;
    None = all K, slow in the Python simulator)."""
    rows = slice(None) if max_k is None else slice(0, int(max_k))
    return check_tile(config, np.asarray(record.x[rows]), np.asarray(record.delta[rows]),
                      tile=tile, seed=seed)
