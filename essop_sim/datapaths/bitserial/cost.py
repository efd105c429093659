"""The bit-serial datapath's pricing rules and area instances (see docs/bitserial.md, "Cost").

A serial inner-product unit with b bits per cycle (b in 1, 2, 4, 16) is one cost-table entry,
``serial_unit_b<b>``, priced per *unit step* (one cycle in which a unit consumes b serial bits:
its b x 16 select gates, its adder tree and its shift-accumulate) and sized per unit; the
derivation of each entry from published primitives is in the table. The A-bit accumulators,
the quantisers (a shift of each operand element), the alignment shifters (scaling 'vector'
only) and the operand buffer use the shared components.
"""

from __future__ import annotations

from typing import Any

from ..registry import PriceRule
from .config import OPERAND_BITS

REQUIRED = ("cycles", "unit_steps", "accumulator_adds", "quantise_ops", "sram_read_bits",
            "sram_write_bits")
DIAGNOSTIC = ("accumulator_overflows", "quantiser_clips", "k")


def unit_component(config: Any) -> str:
    """The cost-table component of one serial unit at the configured bits per cycle."""
    return f"serial_unit_b{config.bitserial.bits_per_cycle}"


def pricing(config: Any) -> list[PriceRule]:
    bs = config.bitserial
    rules = [
        PriceRule("unit_steps", unit_component(config), "step", bucket="serial_units"),
        PriceRule("accumulator_adds", "accumulator", "add", bs.accumulator_bits),
        PriceRule("quantise_ops", "shifter", "shift", OPERAND_BITS),
        PriceRule("sram_read_bits", "sram", "read"),
        PriceRule("sram_write_bits", "sram", "write"),
    ]
    if bs.scaling == "vector":
        rules.append(PriceRule("align_shifts", "shifter", "shift", bs.accumulator_bits))
    return rules


def area_instances(config: Any) -> dict[str, tuple[str, int]]:
    """R x C serial units and A-bit accumulators, (R + C) quantisers of 16 bits, R x C
    alignment shifters of A bits (scaling 'vector'), and the operand buffer's two halves."""
    bs, mem = config.bitserial, config.memory
    R, C = bs.array.rows, bs.array.cols
    blocks = {
        "serial_units": (unit_component(config), R * C),
        "accumulator": ("accumulator", R * C * bs.accumulator_bits),
        "quantiser": ("shifter", (R + C) * OPERAND_BITS),
        "sram": ("sram", mem.operand_buffer_vectors * (R + C) * mem.operand_bits * 2),
    }
    if bs.scaling == "vector":
        blocks["align"] = ("shifter", R * C * bs.accumulator_bits)
    return blocks
