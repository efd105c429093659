"""Frozen configuration dataclasses: the hardware being simulated.

Every field documents its meaning, its unit and the formula it enters, in the style of aihwkit's
device dataclasses. The allowed values live in the field metadata (``doc``, ``unit``, ``low``,
``high``, ``choices``); :mod:`essop_sim.config.schema` checks a raw YAML mapping against that
metadata, and :mod:`essop_sim.config.loader` builds these objects only from a mapping that passed
the check. Nothing here reads files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def param(
    default: Any,
    doc: str,
    *,
    unit: str | None = None,
    low: float | None = None,
    high: float | None = None,
    choices: tuple | None = None,
    nullable: bool = False,
    item: type | None = None,
) -> Any:
    """A dataclass field carrying its own schema (doc, unit, range, choices)."""
    meta = {
        "doc": doc,
        "unit": unit,
        "low": low,
        "high": high,
        "choices": choices,
        "nullable": nullable,
        "item": item,
    }
    return field(default=default, metadata=meta)


def section(factory: type, doc: str) -> Any:
    """A nested configuration section."""
    return field(default_factory=factory, metadata={"doc": doc, "section": True})


@dataclass(frozen=True)
class ScalingConfig:
    """Power-of-two shift scaler that maps unbounded operands into [0, 1]: a shared block, the
    ``scaling`` section of every datapath built on it (``essop.scaling``, ``cbram.scaling``)."""

    granularity: str = param("vector", "Scale exponent per operand vector (one per outer "
                             "product k and operand) or one per 'batch' (all K of an update).",
                             choices=("vector", "batch"))
    learning_rate: float = param(1.0, "Learning rate eta; the update is -eta * dW.", low=0.0,
                                 high=1e6)
    learning_rate_mode: str = param("shift", "'shift': eta rounded to the nearest power of two "
                                    "2^round(log2 eta) and applied as a shift; 'multiply': a real "
                                    "multiply by eta.", choices=("shift", "multiply"))


@dataclass(frozen=True)
class MemoryConfig:
    """Operand buffers, memory ports and the clock."""

    operand_bits: int = param(16, "Width of one stored operand (x_i or delta_j) as read from "
                              "memory.", unit="bits", low=1, high=64)
    operand_buffer_vectors: int = param(64, "Operand-buffer half capacity, in outer products "
                                        "(k steps) of one tile; double buffered.",
                                        unit="vectors", low=1, high=1 << 24)
    read_bandwidth: int = param(1024, "Operand read bandwidth from memory into the buffers.",
                                unit="bits/cycle", low=1, high=1 << 30)
    write_bandwidth: int = param(1024, "Write-back bandwidth of the update to memory.",
                                 unit="bits/cycle", low=1, high=1 << 30)
    shared_port: bool = param(False, "Reads and write-backs share one port (write-back waits "
                              "for a free port) instead of separate read and write ports.")
    clock_hz: float = param(1.0e9, "Clock frequency; time_s = cycles / clock_hz.", unit="Hz",
                            low=1.0, high=1e12)


@dataclass(frozen=True)
class CostConfig:
    """Which component cost table prices the counted activity."""

    table: str = param("14nm", "Built-in table name or path to a cost-table YAML file.")
    node_nm: float | None = param(None, "Scale the table to this technology node (nm); null = "
                                  "the table's own node.", unit="nm", low=1.0, high=1000.0,
                                  nullable=True)


#: Top-level keys that are not plug-in sections (plug-in names may not take them).
CORE_KEYS = ("datapath", "seed", "stages", "memory", "cost")


def registered_datapaths() -> tuple[str, ...]:
    """The allowed values of ``datapath`` (resolved when checked, so plug-ins count)."""
    from ..datapaths.registry import registered_datapaths as names

    return names()


def registered_stages() -> tuple[str, ...]:
    """The allowed entries of ``stages``."""
    from ..datapaths.registry import registered_stages as names

    return names()


def plugin_sections() -> dict[str, tuple[str, type]]:
    """Section name -> (doc, dataclass) of every registered datapath and stage."""
    from ..datapaths.registry import REGISTRY

    return {name: (p.doc, p.config_class) for name, p in REGISTRY.plugins().items()}


@dataclass(frozen=True, init=False)
class HardwareConfig:
    """One complete hardware configuration, as read from YAML.

    Besides the core fields below, it holds one section per registered datapath and stage
    (``config.essop``, ``config.fp16``, ...; the registry decides which exist), so a comparison
    can switch ``datapath`` and find the baseline's section configured. Sections are passed by
    name: ``HardwareConfig(essop=EssopConfig(...))`` or ``dataclasses.replace(config, essop=e)``;
    a section not given holds its defaults.
    """

    datapath: str = param("essop", "Which registered datapath computes the outer product "
                          "(see `essop-sim config` for the registered ones).",
                          choices=registered_datapaths)
    seed: int = param(0, "Seed of every random number of a run (LFSR seeds, ideal RNG).",
                      low=0, high=(1 << 63) - 1)
    stages: tuple = param((), "Registered stages that transform a record's operands, in "
                          "order, before the datapath computes their outer products (empty: "
                          "none).", item=str, choices=registered_stages)
    sections: dict = field(default=None, repr=False, metadata={"plugin_sections": True})
    memory: MemoryConfig = section(MemoryConfig, "Memory system and clock.")
    cost: CostConfig = section(CostConfig, "Energy and area table.")

    def __init__(self, datapath: str = "essop", seed: int = 0, stages: tuple = (),
                 sections: dict | None = None, memory: MemoryConfig | None = None,
                 cost: CostConfig | None = None, **named: Any):
        given = dict(sections or {})
        known = plugin_sections()
        for name, value in named.items():
            if name not in known:
                raise TypeError(f"HardwareConfig has no section {name!r} (registered: "
                                f"{', '.join(known)})")
            given[name] = value
        merged = {name: given.pop(name, None) or cls() for name, (_doc, cls) in known.items()}
        merged.update(given)   # sections of plug-ins no longer registered are kept as given
        for name, value in (("datapath", datapath), ("seed", seed), ("stages", tuple(stages)),
                            ("sections", merged), ("memory", memory or MemoryConfig()),
                            ("cost", cost or CostConfig())):
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections")
        if sections is not None and name in sections:
            return sections[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute or section {name!r}")

    def __hash__(self) -> int:
        return hash((self.datapath, self.seed, self.stages, self.memory, self.cost,
                     tuple(sorted(self.sections.items()))))

    def section(self, name: str) -> Any:
        """The configuration section of plug-in ``name`` (its defaults if never set)."""
        if name in self.sections:
            return self.sections[name]
        known = plugin_sections()
        if name not in known:
            raise AttributeError(f"no configuration section {name!r}")
        return known[name][1]()
