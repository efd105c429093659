"""The FP16 baseline's pricing rules and area instances (reproduced in docs/cost.md)."""

from __future__ import annotations

from typing import Any

from ..registry import PriceRule
from .geometry import fp16_accumulator_bits
from .pipeline import FP16_STAGE_BITS

#: Register bits per pipeline stage of one FP16 multiplier (two 16-bit operands, or the
#: partial product / exponent in flight): the event model's assumption, used here for area.
FP16_STAGE_REGISTER_BITS = FP16_STAGE_BITS

#: Keys the FP16 event model must report (plus the adds of the configured accumulator).
REQUIRED = ("cycles", "fp16_multiplies", "pipeline_register_bits", "sram_read_bits",
            "sram_write_bits")
#: The numerics' diagnostics (counted, never priced).
DIAGNOSTIC = ("overflows", "product_overflows", "accumulator_overflows", "operand_flushes",
                 "k")


def adds_key(config: Any) -> str:
    """'fp16_adds' or 'fp32_adds': the accumulator's additions."""
    return f"{config.fp16.accumulator}_adds"


def pricing(config: Any) -> list[PriceRule]:
    """Energy = count x e(component, action), for each rule (all per operation)."""
    adder = f"{config.fp16.accumulator}_adder"
    return [
        PriceRule("fp16_multiplies", "fp16_multiplier", "multiply"),
        PriceRule(adds_key(config), adder, "add"),
        PriceRule("pipeline_register_bits", "register", "write"),
        PriceRule("sram_read_bits", "sram", "read"),
        PriceRule("sram_write_bits", "sram", "write"),
    ]


def area_instances(config: Any) -> dict[str, tuple[str, int]]:
    """FP16 blocks -> (table component, number of instances or bit-slices).

    Per multiplier: the multiplier, pipeline_depth stages of 32 register bits, and an
    accumulator (an fp16 or fp32 adder and a 16- or 32-bit register). No operand buffer is
    charged to the baseline (so compare compute areas, ``total(exclude=MEMORY_COMPONENTS)``).
    """
    f = config.fp16
    adder = f"{f.accumulator}_adder"
    return {
        "fp16_multiplier": ("fp16_multiplier", f.multipliers),
        "pipeline_register": ("register",
                              f.multipliers * f.pipeline_depth * FP16_STAGE_REGISTER_BITS),
        adder: (adder, f.multipliers),
        "accumulator_register": ("register", f.multipliers * fp16_accumulator_bits(config)),
    }
