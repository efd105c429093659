"""Energy (pJ) from counted activity, area (um^2) from the configured hardware.

Energy is a sum over the activity counts a run emitted, each multiplied by one table entry (and,
for per-bit components, by a configured bit width). Nothing here models *how often* a block
works: that is counted by the event model (plus the data-dependent counts from the numerics).
Nothing here names a datapath either: the pricing rules (activity key -> component.action x
width) and the area instances come from the configured datapath and stages through the registry
(``Datapath.pricing`` / ``area_instances``; each datapath's ``cost.py``), reproduced in
docs/cost.md.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .table import CostTable, table_for

#: by_component names of the memory system, for compute-only comparisons.
MEMORY_COMPONENTS = ("sram", "sram_read", "sram_write")


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of counted activity.

    Attributes:
        total_pj: total energy in pJ.
        by_component: component -> pJ (SRAM split into 'sram_read' and 'sram_write'; static
            energy under 'leakage').
        datapath: the datapath's name.
        elements: outer-product elements m*n*K the activity computed, when given.
        unpriced: activity keys present but not priced (the numerics' diagnostics such as
            'overflows' or 'k', or keys no rule of this datapath knows).
        assumed_zero: data-dependent keys that were absent and priced as 0 (e.g. ESSOP's
            'counter_increments' when the numerics did not run): the total is then a lower
            bound.
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
        datapath: the datapath's name.
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


def _plugins(config: Any) -> list:
    """The configured datapath followed by its stages: everything that prices activity."""
    from ..datapaths.registry import datapath_of, stages_of

    return [datapath_of(config), *stages_of(config)]


def estimate_energy(config: Any, activity: Mapping[str, Any], table: CostTable | None = None,
                    *, elements: int | None = None) -> EnergyBreakdown:
    """Energy in pJ of the activity one run counted.

    Args:
        config: HardwareConfig; ``config.datapath`` (and ``config.stages``) give the pricing
            rules, and the widths of per-bit components come from it.
        activity: counts from the event model (and numerics), keys as in the activity contract
            (``docs/cost.md``). Keys the datapath requires must be present; other priced keys
            (optional blocks such as 'register_bit_cycles') default to 0; data-dependent keys
            (ESSOP's 'counter_increments') default to 0 and are then listed in
            ``assumed_zero``.
        table: cost table; default ``table_for(config)`` (``config.cost.table`` at
            ``config.cost.node_nm``).
        elements: m*n*K, to report ``per_element_pj``.

    Raises:
        ValueError: a required key is missing or a count is negative / not a number.
    """
    table = table if table is not None else table_for(config)
    plugins = _plugins(config)
    datapath = plugins[0]
    required = datapath.required(config)
    missing = [k for k in required if k not in activity]
    if missing:
        raise ValueError(f"{config.datapath} activity lacks required counts: "
                         f"{', '.join(missing)} (have: {', '.join(sorted(activity))})")
    by: dict[str, float] = {}
    priced: set[str] = {"cycles"}
    for plugin in plugins:
        for rule in plugin.pricing(config):
            count = _count(activity, rule.key)
            energy = count * table.energy(rule.component, rule.action) * rule.width
            by[rule.name] = by.get(rule.name, 0.0) + energy
            priced.add(rule.key)
        priced.update(getattr(plugin, "informational_activity", ()))
    cycles = _count(activity, "cycles")
    if table.leakage_nw_per_um2 > 0:
        area = estimate_area(config, table).total_um2
        seconds = cycles / config.memory.clock_hz
        by["leakage"] = table.leakage_nw_per_um2 * 1e-9 * area * seconds * 1e12
    else:
        by["leakage"] = 0.0
    unpriced = tuple(sorted(k for k in activity if k not in priced))
    assumed = tuple(k for k in datapath.data_dependent_activity if k not in activity)
    return EnergyBreakdown(total_pj=math.fsum(by.values()), by_component=by,
                           datapath=config.datapath, elements=elements, unpriced=unpriced,
                           assumed_zero=assumed)


def area_instances(config: Any) -> dict[str, tuple[str, int]]:
    """Block -> (table component, instances or bit-slices) of the configured datapath and its
    stages (a stage's blocks are prefixed '<stage>.' where names would collide)."""
    plugins = _plugins(config)
    blocks = dict(plugins[0].area_instances(config))
    for stage in plugins[1:]:
        for name, value in stage.area_instances(config).items():
            blocks[f"{stage.name}.{name}" if name in blocks else name] = value
    return blocks


def estimate_area(config: Any, table: CostTable | None = None) -> AreaBreakdown:
    """Area in um^2 of the configured datapath (``config.datapath``) and stages: the sum over
    its blocks of instances x table area (each datapath's ``cost.area_instances`` says which
    blocks it instantiates; docs/cost.md lists them)."""
    table = table if table is not None else table_for(config)
    blocks = area_instances(config)
    by = {name: n * table.area(component) for name, (component, n) in blocks.items()}
    counts = {name: n for name, (_, n) in blocks.items()}
    return AreaBreakdown(total_um2=math.fsum(by.values()), by_component=by,
                         datapath=config.datapath, counts=counts)


def _value(x: Any, attr: str) -> float:
    return float(getattr(x, attr)) if hasattr(x, attr) else float(x)


def _readings(prefix: str, new: float, base: float) -> dict[str, float]:
    fraction = new / base
    return {
        f"{prefix}_fraction": fraction,
        f"{prefix}_saving": 1.0 - fraction,
        f"{prefix}_efficiency_ratio": base / new,
        f"{prefix}_efficiency_gain": base / new - 1.0,
    }


def efficiency_improvement(new_energy: Any, base_energy: Any, new_area: Any, base_area: Any,
                           *, new_cycles: float | None = None,
                           base_cycles: float | None = None) -> dict[str, float]:
    """A design ("new", e.g. ESSOP) against a baseline (e.g. FP16), in both readings of "X%
    better".

    Energies (pJ) and areas (um^2) are floats or Energy/AreaBreakdown objects; energies must be
    for the same work (or per element). Returns, for prefix in ('energy', 'area'):

    * ``<prefix>_fraction`` = new / base ("the design uses this fraction");
    * ``<prefix>_saving`` = 1 - fraction. **Reading A** of ESSOP's claim: "82.2% better in
      energy" = saving 0.822 (ESSOP uses 17.8% of the energy), 93.7% in area (6.3% of the area);
    * ``<prefix>_efficiency_ratio`` = base / new (efficiency = work per pJ or per um^2);
    * ``<prefix>_efficiency_gain`` = ratio - 1. **Reading B**: "82.2% better" = gain 0.822,
      i.e. ratio 1.822.

    With ``new_cycles`` and ``base_cycles`` (cycles each needs for the same work) the same four
    numbers are also given for the area-time product under prefix 'area_time' (area efficiency
    as throughput per um^2).
    """
    e_new, e_base = _value(new_energy, "total_pj"), _value(base_energy, "total_pj")
    a_new, a_base = _value(new_area, "total_um2"), _value(base_area, "total_um2")
    out = {**_readings("energy", e_new, e_base), **_readings("area", a_new, a_base)}
    if new_cycles is not None and base_cycles is not None:
        out.update(_readings("area_time", a_new * new_cycles, a_base * base_cycles))
    return out


#: The paper's claim in both readings (fractions of the FP16 baseline, or efficiency gains).
PAPER_CLAIM = {"energy_saving": 0.822, "area_saving": 0.937,
               "energy_efficiency_gain": 0.822, "area_efficiency_gain": 0.937}


__all__ = [
    "MEMORY_COMPONENTS", "PAPER_CLAIM", "AreaBreakdown", "EnergyBreakdown", "area_instances",
    "efficiency_improvement", "estimate_area", "estimate_energy",
]
