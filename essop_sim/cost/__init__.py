"""Energy (pJ) and area (um^2) of the datapaths, from component cost tables.

``load_cost_table('14nm')`` reads a shipped (or user) YAML table of per-action energies and
per-instance areas, validated and scaled to a technology node. ``estimate_energy(config,
activity, table)`` prices the activity counts of one run by the rules its datapath declares;
``estimate_area(config, table)`` sums the blocks the configuration instantiates;
``efficiency_improvement(...)`` compares a design with a baseline in both readings of an
efficiency claim. See ``docs/cost.md``.
"""

from .estimate import (
    MEMORY_COMPONENTS,
    PAPER_CLAIM,
    AreaBreakdown,
    EnergyBreakdown,
    area_instances,
    efficiency_improvement,
    estimate_area,
    estimate_energy,
)
from .table import (
    Component,
    CostTable,
    area_factor,
    builtin_tables,
    energy_factor,
    load_cost_table,
    nominal_vdd,
    table_for,
)

__all__ = [
    "MEMORY_COMPONENTS", "PAPER_CLAIM", "AreaBreakdown", "Component", "CostTable",
    "EnergyBreakdown", "area_factor", "area_instances", "builtin_tables", "efficiency_improvement",
    "energy_factor", "estimate_area", "estimate_energy", "load_cost_table", "nominal_vdd",
    "table_for",
]
