"""The CBRAM datapath's pricing rules and area instances (docs/cbram.md, "Cost").

Devices, their drivers and sense amplifiers are per device ((R + C) * d of each); the pulse
generator (a down-counter of the pulse-width code, clocked once per pulse step) is per
converter; calibration 'inverse' adds the pulse-width table (2^w + 1 codes, as register bits).
The AND array, counters, accumulators, shifters and operand buffer are ESSOP's components.
"""

from __future__ import annotations

from typing import Any

from ..registry import PriceRule

REQUIRED = ("cycles", "set_pulses", "reads", "and_ops", "accumulator_adds", "shift_ops",
            "sram_read_bits", "sram_write_bits")
#: Counted by the numerics only (pulse widths, switches, AND ones depend on the data).
DATA_DEPENDENT = ("set_steps", "device_switches", "counter_increments")
DIAGNOSTIC = ("counter_overflows", "accumulator_saturations", "k")


def code_bits(config: Any) -> int:
    """Bits of the pulse-width code: ceil(log2(S_max + 1))."""
    return int(config.cbram.device.pulse_max_steps).bit_length()


def pricing(config: Any) -> list[PriceRule]:
    c, mem = config.cbram, config.memory
    rules = [
        # set_step energies are per ns of pulse: width = the step's length in ns
        PriceRule("set_steps", "cbram_cell", "set_step", c.device.pulse_step_ns),
        PriceRule("set_steps", "cbram_pulse_generator", "step", code_bits(config)),
        PriceRule("set_pulses", "cbram_driver", "pulse"),
        PriceRule("device_switches", "cbram_cell", "switch"),
        PriceRule("device_switches", "cbram_cell", "reset", bucket="cbram_reset"),
        PriceRule("reads", "cbram_cell", "read", bucket="cbram_read"),
        PriceRule("reads", "cbram_sense_amp", "read"),
        PriceRule("and_ops", "and_gate", "evaluate"),
        PriceRule("counter_increments", "counter", "increment", c.counter_bits),
        PriceRule("accumulator_adds", "accumulator", "add", c.accumulator_bits),
        PriceRule("shift_ops", "shifter", "shift", mem.operand_bits),
        PriceRule("sram_read_bits", "sram", "read"),
        PriceRule("sram_write_bits", "sram", "write"),
    ]
    if c.devices_per_converter > 1:
        rules.append(PriceRule("and_ops", "popcount", "add"))
    return rules


def area_instances(config: Any) -> dict[str, tuple[str, int]]:
    """Blocks -> (table component, instances or bit-slices); see the module docstring."""
    c, mem = config.cbram, config.memory
    R, C, d = c.array.rows, c.array.cols, c.devices_per_converter
    devices = (R + C) * d
    blocks = {
        "cbram_cell": ("cbram_cell", devices),
        "cbram_driver": ("cbram_driver", devices),
        "cbram_sense_amp": ("cbram_sense_amp", devices),
        "cbram_pulse_generator": ("cbram_pulse_generator", (R + C) * code_bits(config)),
        "and_gate": ("and_gate", R * C * d),
        "counter": ("counter", R * C * c.counter_bits),
        "accumulator": ("accumulator", R * C * c.accumulator_bits),
        "shifter": ("shifter", (R + C) * mem.operand_bits),
        "register": ("register", c.pipeline_stages * (R + C) * d),
        "sram": ("sram", mem.operand_buffer_vectors * (R + C) * mem.operand_bits * 2),
    }
    if c.device.calibration == "inverse":
        blocks["pulse_table"] = ("register", ((1 << c.magnitude_bits) + 1) * code_bits(config))
    if d > 1:
        blocks["popcount"] = ("popcount", R * C * d)
    return blocks
