"""ESSOP's pricing rules (activity key -> component.action x width) and area instances.

Reproduced in docs/cost.md. With ``bits_per_cycle > 1`` every AND output also feeds one
full-adder bit of the cell's popcount, so 'and_ops' is priced a second time at ``popcount.add``.
"""

from __future__ import annotations

from typing import Any

from ..registry import PriceRule

#: Keys the ESSOP event model must report (the others default to 0: optional blocks).
REQUIRED = ("cycles", "lfsr_steps", "comparisons", "and_ops", "accumulator_adds", "shift_ops",
            "sram_read_bits", "sram_write_bits")
#: Data-dependent counts only the numerics can supply (priced 0, and flagged, without them).
DATA_DEPENDENT = ("counter_increments",)
#: Counted for information only: its energy is already in 'lfsr_steps'.
INFORMATIONAL = ("random_numbers",)
#: The numerics' diagnostics (counted, never priced).
DIAGNOSTIC = ("counter_overflows", "accumulator_saturations", "k")


def pricing(config: Any) -> list[PriceRule]:
    """Energy = count x e(component, action) x width, for each rule."""
    e, mem = config.essop, config.memory
    rules = [
        PriceRule("lfsr_steps", "lfsr", "step", e.rng.lfsr_bits),
        PriceRule("comparisons", "comparator", "compare", e.comparator_bits),
        PriceRule("and_ops", "and_gate", "evaluate"),
        PriceRule("counter_increments", "counter", "increment", e.counter_bits),
        PriceRule("accumulator_adds", "accumulator", "add", e.accumulator_bits),
        PriceRule("shift_ops", "shifter", "shift", mem.operand_bits),
        PriceRule("sram_read_bits", "sram", "read"),
        PriceRule("sram_write_bits", "sram", "write"),
        PriceRule("register_bit_cycles", "register", "write"),
    ]
    if e.bits_per_cycle > 1:
        rules.append(PriceRule("and_ops", "popcount", "add"))
    return rules


def area_instances(config: Any) -> dict[str, tuple[str, int]]:
    """ESSOP blocks -> (table component, number of instances or bit-slices).

    R x C array, b = bits_per_cycle: per cell b AND gates, a counter of counter_bits and an
    accumulator of accumulator_bits (plus a b-input popcount when b > 1); (R + C) * b
    comparators of comparator_bits; RNG banks (2 for 'vector' sharing, R + C for 'element'),
    each b registers of lfsr_bits; R + C shift scalers of operand_bits; pipeline_stages
    registers of (R + C) * b stream bits; an operand buffer of
    operand_buffer_vectors * (R + C) * operand_bits * 2 halves SRAM bits.
    """
    e = config.essop
    R, C, b = e.array.rows, e.array.cols, e.bits_per_cycle
    banks = 2 if e.rng.sharing == "vector" else R + C
    blocks = {
        "and_gate": ("and_gate", R * C * b),
        "counter": ("counter", R * C * e.counter_bits),
        "accumulator": ("accumulator", R * C * e.accumulator_bits),
        "comparator": ("comparator", (R + C) * b * e.comparator_bits),
        "lfsr": ("lfsr", banks * b * e.rng.lfsr_bits),
        "shifter": ("shifter", (R + C) * config.memory.operand_bits),
        "register": ("register", e.pipeline_stages * (R + C) * b),
        "sram": ("sram", config.memory.operand_buffer_vectors * (R + C)
                 * config.memory.operand_bits * 2),
    }
    if b > 1:
        blocks["popcount"] = ("popcount", R * C * b)
    return blocks
