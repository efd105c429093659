"""Energy (pJ) from counted activity, area (um^2) from the configured hardware.

Energy is a sum over the datapath's activity counts, each multiplied by one table entry (and, for
per-bit components, by the configured bit width). Nothing here models *how often* a block works:
that is counted by the event model (plus the data-dependent counts from the numerics). With
``bits_per_cycle > 1`` every AND output also feeds one full-adder bit of the cell's popcount, so
'and_ops' is priced a second time at ``popcount.add``. The
pricing rules (activity key -> component.action x width) are the tables ``ESSOP_PRICING`` and
``FP16_PRICING`` below, reproduced in ``docs/cost.md``.

Area is a sum over the blocks the configuration instantiates (array cells, comparators, RNG
banks, shift scalers, pipeline registers, operand buffer; or multipliers, their pipeline
registers and accumulators).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..hw.fp16_pipeline import FP16_STAGE_BITS
from ..hw.scheduler import fp16_accumulator_bits
from .table import CostTable, table_for

#: Register bits per pipeline stage of one FP16 multiplier (two 16-bit operands, or the
#: partial product / exponent in flight): the event model's assumption, used here for area.
FP16_STAGE_REGISTER_BITS = FP16_STAGE_BITS

Width = Callable[[Any], int]


def _one(config: Any) -> int:
    return 1


#: ESSOP: activity key -> (component, action, width(config)). Energy = count x e x width.
ESSOP_PRICING: dict[str, tuple[str, str, Width]] = {
    "lfsr_steps": ("lfsr", "step", lambda c: c.essop.rng.lfsr_bits),
    "comparisons": ("comparator", "compare", lambda c: c.essop.comparator_bits),
    "and_ops": ("and_gate", "evaluate", _one),
    "counter_increments": ("counter", "increment", lambda c: c.essop.counter_bits),
    "accumulator_adds": ("accumulator", "add", lambda c: c.essop.accumulator_bits),
    "shift_ops": ("shifter", "shift", lambda c: c.memory.operand_bits),
    "sram_read_bits": ("sram", "read", _one),
    "sram_write_bits": ("sram", "write", _one),
    "register_bit_cycles": ("register", "write", _one),
}
#: Keys the ESSOP datapath must report (the others default to 0: optional blocks).
ESSOP_REQUIRED = ("cycles", "lfsr_steps", "comparisons", "and_ops", "accumulator_adds",
                  "shift_ops", "sram_read_bits", "sram_write_bits")
#: Data-dependent counts that only the numerics can supply: priced as 0 when absent (a run
#: without numerics) and then listed in ``EnergyBreakdown.assumed_zero``.
ESSOP_DATA_DEPENDENT = ("counter_increments",)
#: Counted for information only: their energy is already in another key.
ESSOP_INFORMATIONAL = ("random_numbers",)

#: FP16 baseline: activity key -> (component, action, width(config)).
FP16_PRICING: dict[str, tuple[str, str, Width]] = {
    "fp16_multiplies": ("fp16_multiplier", "multiply", _one),
    "fp16_adds": ("fp16_adder", "add", _one),
    "fp32_adds": ("fp32_adder", "add", _one),
    "pipeline_register_bits": ("register", "write", _one),
    "sram_read_bits": ("sram", "read", _one),
    "sram_write_bits": ("sram", "write", _one),
}
FP16_REQUIRED = ("cycles", "fp16_multiplies", "pipeline_register_bits", "sram_read_bits",
                 "sram_write_bits")

#: by_component names of the memory system, for compute-only comparisons.
MEMORY_COMPONENTS = ("sram", "sram_read", "sram_write")


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of counted activity.

    Attributes:
        total_pj: total energy in pJ.
        by_component: component -> pJ (SRAM split into 'sram_read' and 'sram_write'; static
            energy under 'leakage').
        datapath: 'essop' or 'fp16'.
        elements: outer-product elements m*n*K the activity computed, when given.
        unpriced: activity keys present but not priced (other datapath's keys, numerics
            diagnostics such as 'overflows' or 'k').
        assumed_zero: data-dependent keys that were absent and priced as 0 (e.g.
            'counter_increments' when the numerics did not run): the total is then a lower bound.
    """

    total_pj: float
    by_component: dict[str, float]
    datapath: str
    elements: int | None = None
    unpriced: tuple[str, ...] = ()
    assumed_zero: tuple[str, ...] = ()

    @property
    def per_element_pj(self) -> float | None:
        """total_pj / (m*n*K) in pJ per outer-product element, if ``elements`` is known."""
        return self.total_pj / self.elements if self.elements else None

    def total(self, exclude: Iterable[str] = ()) -> float:
        """Total in pJ without the named components (e.g. ``MEMORY_COMPONENTS``)."""
        skip = set(exclude)
        return math.fsum(v for k, v in self.by_component.items() if k not in skip)


@dataclass(frozen=True)
class AreaBreakdown:
    """Silicon area of the configured datapath.

    Attributes:
        total_um2: total area in um^2.
        by_component: block -> um^2.
        datapath: 'essop' or 'fp16'.
        counts: block -> number of instances (bit-slices for per-bit components).
    """

    total_um2: float
    by_component: dict[str, float]
    datapath: str
    counts: dict[str, int] = field(default_factory=dict)

    def total(self, exclude: Iterable[str] = ()) -> float:
        """Total in um^2 without the named blocks (e.g. ``MEMORY_COMPONENTS``)."""
        skip = set(exclude)
        return math.fsum(v for k, v in self.by_component.items() if k not in skip)


def _count(activity: Mapping[str, Any], key: str) -> int:
    value = activity.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value >= 0):
        raise ValueError(f"activity[{key!r}] = {value!r}: expected a non-negative count")
    return value


def _pricing(config: Any) -> tuple[dict[str, tuple[str, str, Width]], tuple[str, ...]]:
    if config.datapath == "essop":
        return ESSOP_PRICING, ESSOP_REQUIRED
    add = "fp16_adds" if config.fp16.accumulator == "fp16" else "fp32_adds"
    return FP16_PRICING, (*FP16_REQUIRED, add)


def estimate_energy(config: Any, activity: Mapping[str, Any], table: CostTable | None = None,
                    *, elements: int | None = None) -> EnergyBreakdown:
    """Energy in pJ of the activity one datapath counted.

    Args:
        config: HardwareConfig; ``config.datapath`` selects the pricing rules and the widths
            of per-bit components come from it.
        activity: counts from the event model (and numerics), keys as in the activity contract
            (``docs/cost.md``). Keys the datapath must report are required; optional blocks
            ('register_bit_cycles') default to 0; the data-dependent 'counter_increments'
            defaults to 0 and is then listed in ``assumed_zero``.
        table: cost table; default ``table_for(config)`` (``config.cost.table`` at
            ``config.cost.node_nm``).
        elements: m*n*K, to report ``per_element_pj``.

    Raises:
        ValueError: a required key is missing or a count is negative / not a number.
    """
    table = table if table is not None else table_for(config)
    pricing, required = _pricing(config)
    missing = [k for k in required if k not in activity]
    if missing:
        raise ValueError(f"{config.datapath} activity lacks required counts: "
                         f"{', '.join(missing)} (have: {', '.join(sorted(activity))})")
    by: dict[str, float] = {}
    for key, (component, action, width) in pricing.items():
        if config.datapath == "fp16" and key in ("fp16_adds", "fp32_adds") and key not in required:
            continue
        count = _count(activity, key)
        name = f"sram_{action}" if component == "sram" else component
        by[name] = by.get(name, 0.0) + count * table.energy(component, action) * width(config)
    if config.datapath == "essop" and config.essop.bits_per_cycle > 1:
        # b stream bits per cycle: each cell adds the popcount of its b AND outputs
        by["popcount"] = _count(activity, "and_ops") * table.energy("popcount", "add")
    cycles = _count(activity, "cycles")
    if table.leakage_nw_per_um2 > 0:
        area = estimate_area(config, table).total_um2
        seconds = cycles / config.memory.clock_hz
        by["leakage"] = table.leakage_nw_per_um2 * 1e-9 * area * seconds * 1e12
    else:
        by["leakage"] = 0.0
    known = set(pricing) | {"cycles"} | set(ESSOP_INFORMATIONAL)
    unpriced = tuple(sorted(k for k in activity if k not in known))
    assumed = tuple(k for k in ESSOP_DATA_DEPENDENT
                    if config.datapath == "essop" and k not in activity)
    return EnergyBreakdown(total_pj=math.fsum(by.values()), by_component=by,
                           datapath=config.datapath, elements=elements, unpriced=unpriced,
                           assumed_zero=assumed)


def essop_instances(config: Any) -> dict[str, tuple[str, int]]:
    """ESSOP blocks -> (table component, number of instances or bit-slices)."""
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


def fp16_instances(config: Any) -> dict[str, tuple[str, int]]:
    """FP16 blocks -> (table component, number of instances or bit-slices)."""
    f = config.fp16
    acc_bits = fp16_accumulator_bits(config)
    adder = "fp16_adder" if f.accumulator == "fp16" else "fp32_adder"
    return {
        "fp16_multiplier": ("fp16_multiplier", f.multipliers),
        "pipeline_register": ("register",
                              f.multipliers * f.pipeline_depth * FP16_STAGE_REGISTER_BITS),
        adder: (adder, f.multipliers),
        "accumulator_register": ("register", f.multipliers * acc_bits),
    }


def estimate_area(config: Any, table: CostTable | None = None) -> AreaBreakdown:
    """Area in um^2 of the configured datapath (``config.datapath``).

    ESSOP (R x C array, b = bits_per_cycle): per cell b AND gates, a counter of counter_bits and
    an accumulator of accumulator_bits (plus a b-input popcount when b > 1); (R + C) * b
    comparators of comparator_bits; RNG banks (2 for 'vector' sharing, R + C for 'element'),
    each b registers of lfsr_bits; R + C shift scalers of operand_bits; pipeline_stages
    registers of (R + C) * b stream bits; an operand buffer of
    operand_buffer_vectors * (R + C) * operand_bits * 2 halves SRAM bits.

    FP16: per multiplier, the multiplier, pipeline_depth stages of 32 register bits, and an
    accumulator (an fp16 or fp32 adder and a 16- or 32-bit register). No operand buffer is
    charged to the baseline (so compare compute areas with ``total(exclude=MEMORY_COMPONENTS)``).
    """
    table = table if table is not None else table_for(config)
    blocks = essop_instances(config) if config.datapath == "essop" else fp16_instances(config)
    by = {name: n * table.area(component) for name, (component, n) in blocks.items()}
    counts = {name: n for name, (_, n) in blocks.items()}
    return AreaBreakdown(total_um2=math.fsum(by.values()), by_component=by,
                         datapath=config.datapath, counts=counts)


def _value(x: Any, attr: str) -> float:
    return float(getattr(x, attr)) if hasattr(x, attr) else float(x)


def _readings(prefix: str, essop: float, fp16: float) -> dict[str, float]:
    fraction = essop / fp16
    return {
        f"{prefix}_fraction": fraction,
        f"{prefix}_saving": 1.0 - fraction,
        f"{prefix}_efficiency_ratio": fp16 / essop,
        f"{prefix}_efficiency_gain": fp16 / essop - 1.0,
    }


def efficiency_improvement(essop_energy: Any, fp16_energy: Any, essop_area: Any, fp16_area: Any,
                           *, essop_cycles: float | None = None,
                           fp16_cycles: float | None = None) -> dict[str, float]:
    """ESSOP against the FP16 baseline, in both readings of "X% better".

    Energies (pJ) and areas (um^2) are floats or Energy/AreaBreakdown objects; energies must be
    for the same work (or per element). Returns, for prefix in ('energy', 'area'):

    * ``<prefix>_fraction`` = ESSOP / FP16 ("ESSOP uses this fraction");
    * ``<prefix>_saving`` = 1 - fraction. **Reading A** of the paper's claim: "82.2% better in
      energy" = saving 0.822 (ESSOP uses 17.8% of the energy), 93.7% in area (6.3% of the area);
    * ``<prefix>_efficiency_ratio`` = FP16 / ESSOP (efficiency = work per pJ or per um^2);
    * ``<prefix>_efficiency_gain`` = ratio - 1. **Reading B**: "82.2% better" = gain 0.822,
      i.e. ratio 1.822.

    With ``essop_cycles`` and ``fp16_cycles`` (cycles each needs for the same work) the same four
    numbers are also given for the area-time product under prefix 'area_time' (area efficiency
    as throughput per um^2).
    """
    e_essop, e_fp16 = _value(essop_energy, "total_pj"), _value(fp16_energy, "total_pj")
    a_essop, a_fp16 = _value(essop_area, "total_um2"), _value(fp16_area, "total_um2")
    out = {**_readings("energy", e_essop, e_fp16), **_readings("area", a_essop, a_fp16)}
    if essop_cycles is not None and fp16_cycles is not None:
        out.update(_readings("area_time", a_essop * essop_cycles, a_fp16 * fp16_cycles))
    return out


#: The paper's claim in both readings (fractions of the FP16 baseline, or efficiency gains).
PAPER_CLAIM = {"energy_saving": 0.822, "area_saving": 0.937,
               "energy_efficiency_gain": 0.822, "area_efficiency_gain": 0.937}


__all__ = [
    "ESSOP_DATA_DEPENDENT", "ESSOP_PRICING", "ESSOP_REQUIRED", "FP16_PRICING", "FP16_REQUIRED",
    "FP16_STAGE_REGISTER_BITS",
    "MEMORY_COMPONENTS", "PAPER_CLAIM", "AreaBreakdown", "EnergyBreakdown",
    "efficiency_improvement", "essop_instances", "estimate_area", "estimate_energy",
    "fp16_instances",
]
