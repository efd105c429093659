"""The edge processor's configuration section (``edge:`` in YAML): the connection pattern
(kind, density, seed), the z edge lanes and their banked memories, the fixed-point formats of
operands, accumulator and weights, the learning-rate shift and the per-sample overhead. Every
field carries its schema (doc, unit, range, choices)."""

from __future__ import annotations

from dataclasses import dataclass

from ...config.model import param
from ...errors import ConfigError

#: Pattern kinds (docs/edge.md, "Connection patterns").
KINDS = ("dense", "random", "clash_free")


@dataclass(frozen=True)
class EdgeConfig:
    """Edge processor: z edges of a junction per clock, pre-defined sparse pattern."""

    lanes: int = param(16, "z: edges processed per clock (z multipliers and z adders in the "
                       "update; the operand and accumulator memories have z banks).",
                       unit="edges/cycle", low=1, high=4096)
    pattern: str = param("clash_free", "Connection pattern of every junction: 'dense' (all m x n "
                         "edges), 'random' (seeded random inputs per output, stored index "
                         "lists) or 'clash_free' (seeded interleaver: the z inputs read per "
                         "clock lie in z distinct banks, no stored index lists).",
                         choices=KINDS)
    density: float = param(0.25, "Edges / (m x n): each output connects to "
                           "d_in = floor(density x n) inputs (at least 1, lowered to a divisor "
                           "of n); ignored by 'dense'.", low=1.0 / 65536, high=1.0)
    pattern_seed: int = param(0, "Seed of the pattern; a junction's pattern is a function of "
                              "(pattern, density, seed, m, n) only.", low=0, high=2**31 - 1)
    operand_bits: int = param(16, "Width B of the fixed-point x and delta (two's complement).",
                              unit="bits", low=2, high=24)
    x_int_bits: int = param(3, "Integer bits I_x of x (excluding the sign): range +-2^I_x, "
                            "fraction bits B - 1 - I_x.", unit="bits", low=-16, high=22)
    delta_int_bits: int = param(-4, "Integer bits I_d of delta (negative: |delta| < 2^I_d "
                                "with more fraction bits).", unit="bits", low=-16, high=22)
    accumulator_bits: int = param(40, "Signed width A of the per-edge accumulator (saturates "
                                  "after every add).", unit="bits", low=2, high=62)
    weight_bits: int = param(16, "Width of the fixed-point weights the update is added to.",
                             unit="bits", low=2, high=32)
    weight_int_bits: int = param(2, "Integer bits of the weights (excluding the sign).",
                                 unit="bits", low=-16, high=30)
    lr_shift: int = param(7, "Learning rate 2^-lr_shift, applied as an arithmetic right "
                          "shift of the accumulated update.", unit="bits", low=0, high=40)
    front_latency: int = param(1, "Cycles from an operand batch's load to its fixed-point "
                               "form reaching the banks.", unit="cycles", low=0, high=1024)
    pipeline_stages: int = param(2, "Register stages from the multipliers to the accumulator "
                                 "banks (part of the drain, with 1 cycle for the accumulate "
                                 "stage).", unit="cycles", low=0, high=1024)
    sample_overhead: int = param(2, "Overhead cycles per sample (outer product) after its "
                                 "ceil(W / z) edge cycles (pipeline turn-around).",
                                 unit="cycles", low=0, high=1024)
    bank_words: int = param(4096, "Words per accumulator/weight bank (area only; a junction "
                            "needs ceil(W / z) words per bank).", unit="words", low=1,
                            high=2**24)


def fraction_bits(bits: int, int_bits: int) -> int:
    """F = B - 1 - I: the LSB of a signed B-bit format with I integer bits is 2^-F."""
    return bits - 1 - int_bits


def check(c: EdgeConfig, source: str) -> None:
    """Cross-field rules: every format keeps at least its sign bit."""
    for key, bits, ib in (("x_int_bits", c.operand_bits, c.x_int_bits),
                          ("delta_int_bits", c.operand_bits, c.delta_int_bits),
                          ("weight_int_bits", c.weight_bits, c.weight_int_bits)):
        if ib > bits - 1:
            raise ConfigError(source, f"edge.{key}", ib,
                              f"at most {bits - 1} (the width minus the sign bit)")
    if 2 * c.operand_bits > c.accumulator_bits:
        raise ConfigError(source, "edge.accumulator_bits", c.accumulator_bits,
                          f"at least 2 x operand_bits = {2 * c.operand_bits} (a full product)")
