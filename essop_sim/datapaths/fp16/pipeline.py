"""The pipelined FP16 multiplier array (timing and activity model).

The baseline computes the N = m * n * K products delta_j * x_i of an update as one flat stream in
k-major order (product p = k * m * n + j * n + i). An issue slot of ``issue_interval`` = II
cycles issues the next min(M, loaded and not yet issued) products of the stream (M =
``multipliers``): a full group of M when that many are loaded, otherwise a partial group of
whatever is loaded (docs/timing.md); without operand shortfalls there are G = ceil(N / M)
slots. A product issued in cycle c leaves the pipeline at boundary c + D (D =
``pipeline_depth``) and is added into its accumulator in its last pipeline cycle c + D - 1.

Busy blocks: 'multipliers' (issue-slot cycles, slots * II), 'pipeline' (cycles in which at least
one product is in flight: the union of [c_q, c_q + D)), 'accumulators' (cycles in which a group
is added: one per slot).
"""

from __future__ import annotations

from ...config import HardwareConfig
from .geometry import fp16_accumulator_bits, fp16_cells

#: Bits of one inter-stage pipeline register of a binary16 multiplier (two 16-bit operands or
#: one wide partial product with exponent and sign); used for 'pipeline_register_bits'.
FP16_STAGE_BITS = 32


class Fp16Multipliers:
    """Issue width, depth and activity of the FP16 multiplier array."""

    def __init__(self, config: HardwareConfig, m: int, n: int, K: int):
        fp = config.fp16
        self.multipliers = fp.multipliers
        self.depth = fp.pipeline_depth
        self.issue_interval = fp.issue_interval
        self.accumulator = fp.accumulator
        self.products = fp16_cells(config, m, n) * K
        self.accumulator_bits = fp16_accumulator_bits(config)

    def in_flight(self, start: int, groups: int, prev_end: int) -> tuple[int, int]:
        """'pipeline' busy cycles added by ``groups`` slots issued back to back from ``start``,
        given that earlier products are in flight until ``prev_end``; returns (added, new end)."""
        ii, d = self.issue_interval, self.depth
        end = start + (groups - 1) * ii + d
        if d >= ii:  # one contiguous interval
            return max(0, end - max(start, prev_end)), max(prev_end, end)
        return groups * d, end  # disjoint intervals (each product leaves before the next slot)

    def count(self, activity: dict[str, int]) -> None:
        """Add 'fp16_multiplies', 'fp16_adds' or 'fp32_adds' (one accumulate per product), and
        'pipeline_register_bits' (products * D * FP16_STAGE_BITS register bits written)."""
        activity["fp16_multiplies"] += self.products
        activity[f"{self.accumulator}_adds"] += self.products
        activity["pipeline_register_bits"] += self.products * self.depth * FP16_STAGE_BITS
