"""One ESSOP tile's parameters, derived from a :class:`~essop_sim.config.HardwareConfig`.

Every width is in bits, every latency in clock cycles. The RTL blocks read only this dataclass,
so a tile elaborates standalone for a given configuration and array size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import HardwareConfig
from ..datapaths.essop.config import check as check_essop
from ..errors import ConfigError
from ..numerics.lfsr import DEFAULT_TAPS  # the tap table (data, verified by the numerics tests)

#: Width of the signed scale exponents e_x, e_d and of the common exponent E fed to a tile
#: (bits). Exponents of finite float64 operands lie in [-1074, 1024] and E in [-2148, 2048].
EXPONENT_BITS = 13


@dataclass(frozen=True)
class TileParams:
    """Parameters of one ESSOP tile of ``rows`` x ``cols`` active cells.

    Attributes:
        rows, cols: active cells (rows: delta elements, cols: x elements).
        row0, col0: first update row / column the tile covers (selects the element banks'
            seeds under 'element' sharing).
        bl: bitstream length BL (bits); lanes: bits per cycle b; bit_steps: ceil(BL / b);
            tail: lanes used by the last bit step, BL - (bit_steps - 1) * b.
        w: comparator width (bits); magnitudes are w + 1 bits.
        kind, sharing, sequence: ``essop.rng`` choices.
        lfsr_bits, taps_x, taps_delta, steps: LFSR width L (bits), 1-based taps, shifts per
            random number.
        seed: run seed (LFSR seed states derive from it).
        fanout: comparators one bank output drives per cycle (0 = unlimited);
        broadcast: cycles per bit step g (>= 1).
        counter_bits, accumulator_bits, fraction_bits: cb, A, F (bits).
        saturate: overflow mode 'saturate' (True) or 'wrap' (False) for counters and
            accumulators.
        scaler_latency: Ls (cycles); pipeline_stages: P (cycles).
        shift_bits: width of the accumulator alignment shift s (saturated at F + cb).
    """

    rows: int
    cols: int
    row0: int
    col0: int
    bl: int
    lanes: int
    bit_steps: int
    tail: int
    w: int
    kind: str
    sharing: str
    sequence: str
    lfsr_bits: int
    taps_x: tuple[int, ...]
    taps_delta: tuple[int, ...]
    steps: int
    seed: int
    fanout: int
    broadcast: int
    counter_bits: int
    accumulator_bits: int
    fraction_bits: int
    saturate: bool
    scaler_latency: int
    pipeline_stages: int
    shift_bits: int

    @property
    def max_shift(self) -> int:
        """Largest alignment shift the accumulators need: any s >= F + cb gives 0."""
        return self.fraction_bits + self.counter_bits

    @property
    def banks_x(self) -> int:
        """x-side banks: 1 ('vector' sharing) or cols ('element')."""
        return self.cols if self.sharing == "element" else 1

    @property
    def banks_delta(self) -> int:
        """delta-side banks: 1 ('vector' sharing) or rows ('element')."""
        return self.rows if self.sharing == "element" else 1


def tile_params(config: HardwareConfig, rows: int | None = None, cols: int | None = None, *,
                row0: int = 0, col0: int = 0, seed: int | None = None) -> TileParams:
    """The parameters of one tile of ``config.essop`` with ``rows`` x ``cols`` active cells
    (default: the whole array R x C). Raises ConfigError for configurations the RTL tile does
    not describe (a sparsity mask) or that the datapath rejects."""
    e = config.essop
    check_essop(e, "config")
    if e.mask.pattern not in ("none", "dense"):
        raise ConfigError("config", "essop.mask.pattern", e.mask.pattern,
                          "'none' or 'dense' (the RTL tile has no sparsity mask)")
    rows = e.array.rows if rows is None else int(rows)
    cols = e.array.cols if cols is None else int(cols)
    if not (1 <= rows <= e.array.rows and 1 <= cols <= e.array.cols):
        raise ConfigError("config", "essop.array", (rows, cols),
                          f"a tile of 1..{e.array.rows} rows and 1..{e.array.cols} columns")
    rng = e.rng
    b = int(e.bits_per_cycle)
    nb = -(-e.bitstream_length // b)
    if rng.sharing == "vector" and rng.fanout > 0:
        g = max(-(-cols // rng.fanout), -(-rows // rng.fanout))
    else:
        g = 1
    L = int(rng.lfsr_bits)
    taps_x = tuple(rng.taps_x) if rng.taps_x is not None else DEFAULT_TAPS[L][0]
    taps_d = tuple(rng.taps_delta) if rng.taps_delta is not None else DEFAULT_TAPS[L][1]
    max_shift = e.accumulator_fraction_bits + e.counter_bits
    return TileParams(
        rows=rows, cols=cols, row0=int(row0), col0=int(col0), bl=int(e.bitstream_length),
        lanes=b, bit_steps=nb, tail=e.bitstream_length - (nb - 1) * b, w=int(e.comparator_bits),
        kind=rng.kind, sharing=rng.sharing, sequence=rng.sequence, lfsr_bits=L, taps_x=taps_x,
        taps_delta=taps_d, steps=int(rng.steps_per_number or e.comparator_bits),
        seed=int(config.seed if seed is None else seed), fanout=int(rng.fanout), broadcast=g,
        counter_bits=int(e.counter_bits), accumulator_bits=int(e.accumulator_bits),
        fraction_bits=int(e.accumulator_fraction_bits), saturate=e.overflow == "saturate",
        scaler_latency=int(e.shift_scaler_latency), pipeline_stages=int(e.pipeline_stages),
        shift_bits=max(1, math.ceil(math.log2(max_shift + 1))))
