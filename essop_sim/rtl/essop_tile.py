"""One ESSOP tile in Amaranth HDL: RNG banks, comparators, pipeline, AND array, counters and
accumulators behind a shift-scaler front end, sequenced by a control block (the block diagram
of docs/numerics-essop.md and docs/timing.md, ESSOP section).

Software pre-processing vs tile hardware. The simulator's operands are real numbers (float64)
with no specified hardware format (``memory.operand_bits`` is only a bandwidth figure), and the
common exponent E is a maximum over all K outer products of the update (the numerics' first
pass), so the following is done in software before the streams (:mod:`.operands`): each
vector's scale exponent e (smallest e with max|v| <= 2^e), E, and the scaled, rounded
magnitudes q = round-half-up(|v| 2^(w - e)) in [0, 2^w] with sign bits. The tile hardware
does the rest, per k-step: the alignment shift s = E - e_x - e_d (front end, Ls cycles), random
numbers (LFSR banks with the configured taps, width, shifts per number, sharing and sequence),
b comparisons per element per AND cycle, the RNG broadcast under a fan-out, P pipeline
stages, the AND array, the cb-bit counters (saturate / wrap) with their count registers, and,
in a cycle of its own (the accumulate stage), the accumulate acc +/- ((c << F) >> s) into A-bit
accumulators (saturate / wrap): a tile is final at e_last + P + 1.

Interface (cycle-level): a valid/ready port takes one vector pair per k-step (fields of
:class:`~.shift_scaler.ShiftScaler`: ``q_x``, ``x_signs``, ``q_delta``, ``delta_signs``,
``e_x``, ``e_delta``, ``last``), ``exponent`` holds E for the tile; ``acc[j][i]`` (signed A
bits) are final from the cycle in which ``done`` pulses. Monitors for the cross-check:
``stream``, ``fire`` (control), ``and_valid`` (an AND cycle reaching the AND array and
counters), ``accumulate`` (an accumulate cycle), ``overflow`` / ``saturated`` flags per cell.

Blocks (submodule names, so that synthesis can count cells per block): ``shift_scaler``,
``lfsr``, ``comparators``, ``pipeline``, ``and_array``, ``counters``, ``accumulators``,
``control``.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Signal

from ..config import HardwareConfig
from .blocks import Accumulators, AndArray, Comparators, Counters, Pipeline
from .control import Control
from .lfsr import RngBanks
from .params import TileParams, tile_params
from .shift_scaler import ShiftScaler


class EssopTile(Elaboratable):
    """One ESSOP tile of ``rows`` x ``cols`` active cells (default: the configured array).

    Args:
        config: hardware configuration (``config.essop`` and ``config.seed`` are used).
        rows, cols: active rows (delta elements) and columns (x elements).
        row0, col0: the update row / column of the tile's first cell ('element' sharing seeds
            bank 2 * (col0 + i) / 2 * (row0 + j) + 1).
        seed: run seed (default ``config.seed``).
        ideal: for ``essop.rng.kind = 'ideal'``, {bank id: numbers} replayed from a ROM.
        params: ready-made :class:`~.params.TileParams` (overrides the above).
    """

    def __init__(self, config: HardwareConfig | None = None, rows: int | None = None,
                 cols: int | None = None, *, row0: int = 0, col0: int = 0,
                 seed: int | None = None, ideal: dict[int, list[int]] | None = None,
                 params: TileParams | None = None):
        p = params if params is not None else tile_params(config, rows, cols, row0=row0,
                                                          col0=col0, seed=seed)
        self.p = p
        self.shift_scaler = ShiftScaler(p)
        self.lfsr = RngBanks(p, ideal)
        self.comparators = Comparators(p)
        self.pipeline = Pipeline(p)
        self.and_array = AndArray(p)
        self.counters = Counters(p)
        self.accumulators = Accumulators(p)
        self.control = Control(p)
        ss = self.shift_scaler
        # the tile's ports (signals of its blocks)
        self.valid, self.ready, self.last = ss.valid, ss.ready, ss.last
        self.q_x, self.q_delta = ss.q_x, ss.q_delta
        self.x_signs, self.delta_signs = ss.x_signs, ss.delta_signs
        self.e_x, self.e_delta, self.exponent = ss.e_x, ss.e_delta, ss.exponent
        self.acc, self.done = self.accumulators.acc, self.accumulators.done
        self.stream, self.fire = self.control.stream, self.control.fire
        self.and_valid = Signal()
        self.accumulate = Signal()
        self.overflow, self.saturated = self.counters.overflow, self.accumulators.saturated

    def ports(self) -> list[Signal]:
        """Top-level I/O signals (inputs first), e.g. for ``amaranth.back.rtlil.convert``."""
        ins = [self.valid, *self.q_x, self.x_signs, *self.q_delta, self.delta_signs, self.e_x,
               self.e_delta, self.last, self.exponent]
        outs = [self.ready, self.done, *[a for row in self.acc for a in row]]
        return ins + outs

    def elaborate(self, platform):
        m = Module()
        for name in ("shift_scaler", "lfsr", "comparators", "pipeline", "and_array",
                     "counters", "accumulators", "control"):
            m.submodules[name] = getattr(self, name)
        ss, rng, cmp, pipe = self.shift_scaler, self.lfsr, self.comparators, self.pipeline
        ands, cnt, acc, ctl = self.and_array, self.counters, self.accumulators, self.control
        front = ss.out
        m.d.comb += [ctl.valid.eq(ss.out_valid), ctl.final.eq(front.last),
                     ss.pop.eq(ctl.pop),
                     rng.advance.eq(ctl.fire), rng.partial.eq(ctl.partial),
                     rng.reload.eq(ctl.reload),
                     cmp.stream.eq(ctl.stream), cmp.sub.eq(ctl.sub), cmp.lane_en.eq(ctl.lane_en)]
        m.d.comb += [q.eq(front.q_x[i]) for i, q in enumerate(cmp.q_x)]
        m.d.comb += [q.eq(front.q_delta[j]) for j, q in enumerate(cmp.q_delta)]
        for dst, src in ((cmp.x_numbers, rng.x_numbers), (cmp.delta_numbers, rng.delta_numbers)):
            for dbank, sbank in zip(dst, src, strict=True):
                m.d.comb += [d.eq(s) for d, s in zip(dbank, sbank, strict=True)]
        # comparator bits and the k-step's side band into the P pipeline stages
        head = pipe.i
        m.d.comb += [head.valid.eq(ctl.fire), head.last.eq(ctl.last_bit),
                     head.first.eq(ctl.first), head.final.eq(front.last),
                     head.x_signs.eq(front.x_signs), head.delta_signs.eq(front.delta_signs),
                     head.shift.eq(front.shift)]
        m.d.comb += [head.x_bits[i].eq(b) for i, b in enumerate(cmp.x_bits)]
        m.d.comb += [head.delta_bits[j].eq(b) for j, b in enumerate(cmp.delta_bits)]
        tail = pipe.o
        m.d.comb += [a.eq(tail.x_bits[i]) for i, a in enumerate(ands.x_bits)]
        m.d.comb += [a.eq(tail.delta_bits[j]) for j, a in enumerate(ands.delta_bits)]
        for j in range(self.p.rows):
            for i in range(self.p.cols):
                m.d.comb += [cnt.ands[j][i].eq(ands.ands[j][i]),
                             acc.count[j][i].eq(cnt.count[j][i])]
        m.d.comb += [cnt.valid.eq(tail.valid), cnt.last.eq(tail.last),
                     acc.hand_off.eq(tail.valid & tail.last), acc.first.eq(tail.first),
                     acc.final.eq(tail.final), acc.x_signs.eq(tail.x_signs),
                     acc.delta_signs.eq(tail.delta_signs), acc.shift.eq(tail.shift),
                     self.and_valid.eq(tail.valid), self.accumulate.eq(acc.accumulate)]
        return m
