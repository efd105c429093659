"""The ESSOP datapath's configuration section (``essop:`` in YAML): array, bitstream, widths,
RNG banks and shift scaler. Every field carries its schema (doc, unit, range, choices)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...config.model import ScalingConfig, param, section
from ...errors import ConfigError
from ...numerics.pattern import MaskConfig


@dataclass(frozen=True)
class ArrayConfig:
    """The grid of stochastic multipliers (one AND gate + one counter + one accumulator each)."""

    rows: int = param(32, "Array rows R: delta elements processed at once (m is tiled by R).",
                      unit="cells", low=1, high=65536)
    cols: int = param(32, "Array columns C: x elements processed at once (n is tiled by C).",
                      unit="cells", low=1, high=65536)


@dataclass(frozen=True)
class RngConfig:
    """Random-number sources that feed the comparators (RNG banks)."""

    kind: str = param("lfsr", "Random source: 'lfsr' (bit-exact linear feedback shift register "
                      "banks) or 'ideal' (uniform integers from numpy's PCG64, for theory checks).",
                      choices=("lfsr", "ideal"))
    sharing: str = param("vector", "Who shares a random sequence. 'vector' (ESSOP): every x_i "
                         "compares with the same r_t and every delta_j with one independent s_t, "
                         "2 sequences per outer product. 'element' (conventional): every operand "
                         "element has its own sequence, n + m sequences.",
                         choices=("vector", "element"))
    lfsr_bits: int = param(16, "LFSR register width L; period 2^L - 1 with maximal-length taps.",
                           unit="bits", low=2, high=32)
    taps_x: tuple | None = param(None, "Feedback tap positions (1-based, L included) of the x "
                                 "bank; null = the maximal-length default for lfsr_bits.",
                                 nullable=True, item=int)
    taps_delta: tuple | None = param(None, "Feedback taps of the delta bank; null = a second, "
                                     "different maximal-length polynomial for lfsr_bits.",
                                     nullable=True, item=int)
    steps_per_number: int | None = param(None, "LFSR shifts per random number (leap-forward); "
                                         "null = comparator_bits, so consecutive numbers share "
                                         "no register bits.", unit="shifts", low=1, high=64,
                                         nullable=True)
    sequence: str = param("continue", "Across the K outer products of an update: 'continue' "
                          "(the banks keep running, outer product k uses numbers k*BL .. "
                          "k*BL+BL-1) or 'restart' (every outer product reuses the first BL).",
                          choices=("continue", "restart"))
    fanout: int = param(0, "Comparators one bank output can drive per cycle; a bank shared by "
                        "more comparators broadcasts in ceil(sharers / fanout) cycles per bit "
                        "step. 0 = unlimited.", unit="comparators", low=0, high=1 << 20)


@dataclass(frozen=True)
class EssopConfig:
    """The ESSOP stochastic outer-product datapath."""

    array: ArrayConfig = section(ArrayConfig, "Stochastic multiplier array.")
    mask: MaskConfig = section(MaskConfig, "Pre-defined sparsity mask: only connected cells "
                               "compute and count (docs/edge.md).")
    bitstream_length: int = param(64, "Bitstream length BL: bits per operand stream; the "
                                  "estimate is count / BL.", unit="bits", low=1, high=1 << 20)
    bits_per_cycle: int = param(1, "Stream bits produced and ANDed per cycle per cell "
                                "(parallel bitstream generation); a stream takes "
                                "ceil(BL / bits_per_cycle) cycles.", unit="bits/cycle", low=1,
                                high=4096)
    comparator_bits: int = param(8, "Comparator width w: magnitudes are quantised to "
                                 "q = round(u * 2^w) in [0, 2^w]; bit t = 1 iff r_t < q.",
                                 unit="bits", low=1, high=24)
    counter_bits: int = param(16, "Coincidence counter width: counts one outer product's "
                              "AND ones (0..BL).", unit="bits", low=1, high=62)
    accumulator_bits: int = param(32, "Signed accumulator width that sums the shifted counts of "
                                  "the K outer products of an update.", unit="bits", low=2,
                                  high=63)
    accumulator_fraction_bits: int = param(8, "Fraction bits F of the accumulator: a count of "
                                           "outer product k enters as (c << F) >> (E - e_k).",
                                           unit="bits", low=0, high=40)
    overflow: str = param("saturate", "Counter and accumulator overflow: 'saturate' (clamp, as "
                          "hardware usually does) or 'wrap' (two's complement modulo).",
                          choices=("saturate", "wrap"))
    shift_scaler_latency: int = param(2, "Cycles from an operand vector leaving the buffer to "
                                      "its scaled magnitudes reaching the comparators.",
                                      unit="cycles", low=0, high=1024)
    pipeline_stages: int = param(2, "Register stages between comparators and counters "
                                 "(comparator -> AND -> counter); a tile is final P + 1 "
                                 "cycles after its last AND cycle (+1: the accumulate stage).",
                                 unit="cycles", low=0, high=1024)
    rng: RngConfig = section(RngConfig, "RNG banks.")
    scaling: ScalingConfig = section(ScalingConfig, "Shift scaler and learning rate.")


def check(essop: EssopConfig, source: str) -> None:
    """Cross-field rules of the ``essop`` section: tap sets, comparator width against the LFSR
    register, and LFSR shifts per number coprime with the period."""
    rng = essop.rng
    for name in ("taps_x", "taps_delta"):
        taps = getattr(rng, name)
        if taps is None:
            continue
        if max(taps) != rng.lfsr_bits or min(taps) < 1 or len(set(taps)) != len(taps):
            raise ConfigError(source, f"essop.rng.{name}", list(taps),
                              f"distinct tap positions in [1, {rng.lfsr_bits}] that include "
                              f"lfsr_bits={rng.lfsr_bits}")
    if rng.kind == "lfsr" and essop.comparator_bits > rng.lfsr_bits:
        raise ConfigError(source, "essop.comparator_bits", essop.comparator_bits,
                          f"at most essop.rng.lfsr_bits={rng.lfsr_bits} (the comparator reads "
                          "its random number from the LFSR register)")
    if rng.kind == "lfsr":
        period = (1 << rng.lfsr_bits) - 1
        steps = rng.steps_per_number or essop.comparator_bits
        if math.gcd(steps, period) != 1:
            good = next(s for s in range(steps, steps + 64) if math.gcd(s, period) == 1)
            key = ("essop.rng.steps_per_number" if rng.steps_per_number
                   else "essop.comparator_bits")
            raise ConfigError(source, key, steps,
                              f"LFSR shifts per random number (steps_per_number, which null "
                              f"sets to comparator_bits) coprime with 2^{rng.lfsr_bits}-1 "
                              f"= {period}; with {steps} the numbers repeat after "
                              f"{period // math.gcd(steps, period)} and are not uniform (set "
                              f"essop.rng.steps_per_number, e.g. to {good})")
