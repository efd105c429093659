"""The edge processor's pricing rules and area instances (docs/edge.md, "Cost").

Per edge and sample: one B x B integer multiply (``int_multiplier``, priced per partial-product
bit, B^2 bits), one A-bit add (``accumulator``), a read of the operand (B bits) and a
read-modify-write of the accumulator (A bits) in the banked memory (``sram``). The interleaver
('dense', 'clash_free') is one address adder per bank per edge cycle; a 'random' pattern reads a
stored index of ceil(log2 n) bits per edge instead.
"""

from __future__ import annotations

from typing import Any

from ..registry import PriceRule

REQUIRED = ("cycles", "edge_multiplies", "edge_adds", "bank_read_bits", "bank_write_bits",
            "quantise_ops", "address_ops", "index_read_bits", "sram_read_bits",
            "sram_write_bits")
DIAGNOSTIC = ("accumulator_saturations", "quantiser_clips", "weight_saturations", "k")


def _address_bits(config: Any) -> int:
    return max(1, (config.edge.bank_words - 1).bit_length())


def pricing(config: Any) -> list[PriceRule]:
    c = config.edge
    return [
        PriceRule("edge_multiplies", "int_multiplier", "multiply", c.operand_bits ** 2,
                  bucket="multipliers"),
        PriceRule("edge_adds", "accumulator", "add", c.accumulator_bits, bucket="adders"),
        PriceRule("bank_read_bits", "sram", "read", bucket="bank_read"),
        PriceRule("bank_write_bits", "sram", "write", bucket="bank_write"),
        PriceRule("quantise_ops", "shifter", "shift", c.operand_bits, bucket="quantiser"),
        PriceRule("address_ops", "accumulator", "add", _address_bits(config),
                  bucket="interleaver"),
        PriceRule("index_read_bits", "sram", "read", bucket="index_read"),
        PriceRule("sram_read_bits", "sram", "read"),
        PriceRule("sram_write_bits", "sram", "write"),
    ]


def area_instances(config: Any) -> dict[str, tuple[str, int]]:
    """z multipliers (B^2 bits each) and A-bit adders, z address adders (the interleaver),
    2 z quantisers of B bits; memory ('sram', left out of the compute area like every
    datapath's): z banks of bank_words A-bit accumulators plus the operand buffer."""
    c, mem = config.edge, config.memory
    z = c.lanes
    banks = z * c.bank_words * c.accumulator_bits
    return {
        "multipliers": ("int_multiplier", z * c.operand_bits ** 2),
        "adders": ("accumulator", z * c.accumulator_bits),
        "interleaver": ("accumulator", z * _address_bits(config)),
        "quantiser": ("shifter", 2 * z * c.operand_bits),
        "sram": ("sram", banks + mem.operand_buffer_vectors * 2 * z * mem.operand_bits * 2),
    }
