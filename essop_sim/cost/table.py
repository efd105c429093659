"""Component cost tables (YAML): load, validate, scale to a technology node.

A cost table prices the blocks of both datapaths, Accelergy-style: for every component, the energy
of each *action* (pJ per action, per bit of width where ``per: bit``) and the *area* (um^2 per
instance, per bit of width where ``per: bit``). Every entry carries a ``source`` (where the
published figure comes from) and/or a ``derivation`` (how it was obtained from published figures).

File format (see ``cost/tables/14nm.yaml``)::

    name: 14nm
    technology: {node_nm: 14, vdd: 0.8, source: ...}
    scaling: stillmaker-baas-2017
    leakage: {power_density: 0 nW/um^2, derivation: ...}
    components:
      fp16_multiplier:
        per: unit                        # unit | bit | gate
        energy: {multiply: 1.1 pJ}       # action -> "value unit"  (pJ, fJ, aJ, nJ)
        area: 1640 um^2                  # "value unit"            (um^2, nm^2, mm^2)
        published_at: {node_nm: 45, vdd: 0.9}   # optional; absent = at the table's technology
        source: "Horowitz, ISSCC 2014 ..."

Entries published at another node are scaled to the table's node when the table is loaded, and
the whole table is scaled again when a configuration asks for another node
(``config.cost.node_nm``). Both use one rule, :func:`energy_factor` and :func:`area_factor`
(Stillmaker & Baas 2017), documented in ``docs/cost.md``.

Every problem (missing component or action, negative or non-finite value, unknown unit, unknown
key, node outside the scaling data) is a :class:`~essop_sim.errors.ConfigError` naming the file and
the dotted key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# ---------------------------------------------------------------------------------------------
# The node-scaling rule: Stillmaker & Baas, "Scaling equations for the accurate prediction of
# CMOS device performance from 180 nm to 7 nm", Integration 58 (2017) 74-81. Area: their table of
# area ratios between nodes (row "45 nm": area at node N relative to the same design at 45 nm).
# Energy: their per-node fitted polynomial E(V) = a V^2 + b V + c of energy per operation
# (high-performance (HP) device models at 45 nm and below). The coefficients are as tabulated in
# the paper and reproduced in UCLA NanoCAD's MIT-licensed nodeScale tool.

#: Area of a design at node N (nm) relative to the same design at 45 nm.
AREA_VS_45NM: dict[float, float] = {
    180: 19.0, 130: 6.4, 90: 2.8, 65: 1.5, 45: 1.0, 32: 0.46, 20: 0.21, 16: 0.19, 14: 0.17,
    10: 0.1, 7: 0.059,
}
#: Energy-per-operation polynomial coefficients (a, b, c) of E(V) = a V^2 + b V + c per node.
ENERGY_POLY: dict[float, tuple[float, float, float]] = {
    180: (0.0, 24.64, -17.98), 130: (7.171, -6.709, 2.904), 90: (4.762, -4.781, 2.092),
    65: (3.755, -4.398, 1.975), 45: (1.018, -0.3107, 0.1539), 32: (0.8367, -0.4341, 0.1701),
    20: (0.373, -0.1582, 0.04104), 16: (0.2958, -0.1241, 0.03024),
    14: (0.2363, -0.09675, 0.02239), 10: (0.2068, -0.09311, 0.02375),
    7: (0.1776, -0.09097, 0.02447),
}
#: Supply voltage assumed at a node when a table is scaled to it (V). An assumption of this
#: project (typical nominal core supplies), not a figure from Stillmaker & Baas.
NOMINAL_VDD: dict[float, float] = {
    180: 1.8, 130: 1.3, 90: 1.2, 65: 1.1, 45: 1.0, 32: 0.9, 20: 0.9, 16: 0.8, 14: 0.8,
    10: 0.75, 7: 0.7,
}
NODE_RANGE = (min(AREA_VS_45NM), max(AREA_VS_45NM))


def _bracket(node: float) -> tuple[float, float, float]:
    """Neighbouring tabulated nodes (lo <= node <= hi) and the log-node interpolation weight."""
    nodes = sorted(AREA_VS_45NM)
    if not NODE_RANGE[0] <= node <= NODE_RANGE[1]:
        raise ValueError(node)
    for lo, hi in zip(nodes, nodes[1:], strict=False):
        if lo <= node <= hi:
            w = 0.0 if hi == lo else math.log(node / lo) / math.log(hi / lo)
            return lo, hi, w
    return node, node, 0.0  # node equals the last entry


def _interp(table: dict[float, float], node: float) -> float:
    """Log-log interpolation of a positive per-node quantity."""
    lo, hi, w = _bracket(node)
    return math.exp((1 - w) * math.log(table[lo]) + w * math.log(table[hi]))


def _energy_poly(node: float, vdd: float) -> float:
    lo, hi, w = _bracket(node)

    def e(n: float) -> float:
        a, b, c = ENERGY_POLY[n]
        return a * vdd * vdd + b * vdd + c

    return math.exp((1 - w) * math.log(e(lo)) + w * math.log(e(hi)))


def nominal_vdd(node_nm: float) -> float:
    """Assumed supply voltage (V) at a node; linear in log(node) between tabulated nodes."""
    lo, hi, w = _bracket(node_nm)
    return (1 - w) * NOMINAL_VDD[lo] + w * NOMINAL_VDD[hi]


def area_factor(from_nm: float, to_nm: float) -> float:
    """Area multiplier from node ``from_nm`` to ``to_nm`` (Stillmaker & Baas area ratios)."""
    return _interp(AREA_VS_45NM, to_nm) / _interp(AREA_VS_45NM, from_nm)


def energy_factor(from_nm: float, from_vdd: float, to_nm: float, to_vdd: float) -> float:
    """Energy multiplier from (node, Vdd) to (node, Vdd): ratio of the fitted E(V) polynomials."""
    return _energy_poly(to_nm, to_vdd) / _energy_poly(from_nm, from_vdd)


# ---------------------------------------------------------------------------------------------
# Units

ENERGY_UNITS = {"pJ": 1.0, "fJ": 1e-3, "aJ": 1e-6, "nJ": 1e3}
AREA_UNITS = {"um^2": 1.0, "um2": 1.0, "nm^2": 1e-6, "mm^2": 1e6}
POWER_DENSITY_UNITS = {"nW/um^2": 1.0, "pW/um^2": 1e-3, "mW/mm^2": 1.0, "uW/um^2": 1e3}
_NUMBER = re.compile(r"^\s*([-+0-9.eE]+)\s+(\S+)\s*$")

#: Components a table must define: ``per`` and the actions each must price. ``per`` is what one
#: energy figure and one area figure refer to: a whole unit, one gate, or one bit of width.
REQUIRED: dict[str, tuple[str, tuple[str, ...]]] = {
    "lfsr": ("bit", ("step",)),
    "comparator": ("bit", ("compare",)),
    "and_gate": ("gate", ("evaluate",)),
    "popcount": ("bit", ("add",)),
    "counter": ("bit", ("increment",)),
    "accumulator": ("bit", ("add",)),
    "shifter": ("bit", ("shift",)),
    "register": ("bit", ("write",)),
    "fp16_multiplier": ("unit", ("multiply",)),
    "fp16_adder": ("unit", ("add",)),
    "fp32_adder": ("unit", ("add",)),
    "fp32_multiplier": ("unit", ("multiply",)),
    "fp16_divider": ("unit", ("divide", "sqrt")),
    "fp32_divider": ("unit", ("divide", "sqrt")),
    "sram": ("bit", ("read", "write")),
    "serial_unit_b1": ("unit", ("step",)),
    "serial_unit_b2": ("unit", ("step",)),
    "serial_unit_b4": ("unit", ("step",)),
    "serial_unit_b16": ("unit", ("step",)),
    "cbram_cell": ("unit", ("set_step", "switch", "read", "reset")),
    "cbram_driver": ("unit", ("pulse",)),
    "cbram_sense_amp": ("unit", ("read",)),
    "cbram_pulse_generator": ("bit", ("step",)),
    "int_multiplier": ("bit", ("multiply",)),
}
_TOP_KEYS = {"name", "technology", "scaling", "leakage", "components", "description"}
_TECH_KEYS = {"node_nm", "vdd", "source"}
_COMPONENT_KEYS = {"per", "energy", "area", "published_at", "source", "derivation", "size_bytes",
                   "note"}
_SCALING_RULES = ("stillmaker-baas-2017",)


@dataclass(frozen=True)
class Component:
    """One priced block, at the table's technology node.

    Attributes:
        name: component name, e.g. 'fp16_multiplier'.
        per: 'unit', 'gate' or 'bit': what one energy and one area figure refer to.
        energy_pj: action -> energy per action in pJ (per bit of width when per == 'bit').
        area_um2: area per instance in um^2 (per bit of width when per == 'bit').
        provenance: the ``source`` / ``derivation`` text plus the scaling applied.
        published_at: (node_nm, vdd) of the published figure before scaling.
    """

    name: str
    per: str
    energy_pj: dict[str, float]
    area_um2: float
    provenance: str
    published_at: tuple[float, float]


@dataclass(frozen=True)
class CostTable:
    """A validated cost table at one technology node (energies in pJ, areas in um^2).

    Attributes:
        name: table name.
        path: file it was read from.
        node_nm, vdd: technology the figures are valid at.
        components: name -> :class:`Component`.
        leakage_nw_per_um2: static power per unit area (nW/um^2); 0 means not modeled.
        scaled_from: (node_nm, vdd) of the file when the table was rescaled, else None.
    """

    name: str
    path: str
    node_nm: float
    vdd: float
    components: dict[str, Component]
    leakage_nw_per_um2: float
    scaled_from: tuple[float, float] | None = None
    leakage_provenance: str = ""

    def energy(self, component: str, action: str) -> float:
        """Energy of one action in pJ (per bit of width for per-bit components)."""
        return self.components[component].energy_pj[action]

    def area(self, component: str) -> float:
        """Area in um^2 per instance (per bit of width for per-bit components)."""
        return self.components[component].area_um2

    def scaled_to(self, node_nm: float, vdd: float | None = None,
                  source: str = "<scaling>", key: str = "cost.node_nm") -> CostTable:
        """This table at another node: energies x :func:`energy_factor`, areas x
        :func:`area_factor`; ``vdd`` defaults to :func:`nominal_vdd` of the target node."""
        node_nm = float(node_nm)
        if not NODE_RANGE[0] <= node_nm <= NODE_RANGE[1]:
            raise ConfigError(source, key, node_nm, f"a node in [{NODE_RANGE[0]:g}, "
                              f"{NODE_RANGE[1]:g}] nm (the range of the Stillmaker & Baas "
                              "scaling data)")
        vdd = nominal_vdd(node_nm) if vdd is None else float(vdd)
        ef = energy_factor(self.node_nm, self.vdd, node_nm, vdd)
        af = area_factor(self.node_nm, node_nm)
        comps = {
            name: replace(c, energy_pj={a: e * ef for a, e in c.energy_pj.items()},
                          area_um2=c.area_um2 * af,
                          provenance=c.provenance + f"; rescaled {self.node_nm:g} nm -> "
                          f"{node_nm:g} nm (energy x{ef:.4g}, area x{af:.4g})")
            for name, c in self.components.items()
        }
        return replace(self, node_nm=node_nm, vdd=vdd, components=comps,
                       leakage_nw_per_um2=self.leakage_nw_per_um2 * ef / af,
                       scaled_from=(self.node_nm, self.vdd))


def parse_quantity(text: Any, units: dict[str, float], source: str, key: str,
                   kind: str) -> float:
    """``'1.1 pJ'`` -> 1.1 (in the first unit of ``units``); errors name file and key."""
    example = f"'1.5 {next(iter(units))}'"
    if not isinstance(text, str):
        raise ConfigError(source, key, text, f"a {kind} with a unit as a string, e.g. {example}")
    match = _NUMBER.match(text)
    if not match:
        raise ConfigError(source, key, text, f"'<number> <unit>', e.g. {example}")
    number, unit = match.groups()
    if unit not in units:
        raise ConfigError(source, key, text, f"a known {kind} unit (unknown unit {unit!r}; "
                          f"known: {', '.join(units)})")
    try:
        value = float(number)
    except ValueError:
        raise ConfigError(source, key, text, f"'<number> <unit>', e.g. {example}") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(source, key, text, f"a finite, non-negative {kind}")
    return value * units[unit]


def _number(value: Any, source: str, key: str, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and low <= value <= high):
        raise ConfigError(source, key, value, f"{what} in [{low:g}, {high:g}]")
    return float(value)


def _check_keys(raw: Any, allowed: set[str], source: str, where: str) -> dict:
    if not isinstance(raw, dict):
        shown = f"<{type(raw).__name__}>"  # never echo an arbitrary file's text
        raise ConfigError(source, where or "<top level>", shown,
                          "a mapping of keys to values (not a cost table?)")
    for key, value in raw.items():
        if key not in allowed:
            dotted = f"{where}.{key}" if where else str(key)
            raise ConfigError(source, dotted, value, "a known key (unknown key; known here: "
                              + ", ".join(sorted(allowed)) + ")")
    return raw


def _text(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source, key, value, "a non-empty string")
    return value.strip()


def _component(name: str, raw: Any, source: str, node: float, vdd: float) -> Component:
    where = f"components.{name}"
    raw = _check_keys(raw, _COMPONENT_KEYS, source, where)
    per_expected, actions = REQUIRED.get(name, (None, ()))
    per = raw.get("per")
    if per not in ("unit", "gate", "bit"):
        raise ConfigError(source, f"{where}.per", per, "one of 'unit', 'gate', 'bit'")
    if per_expected is not None and per != per_expected:
        by = "the bit width" if per_expected == "bit" else "the instance count"
        raise ConfigError(source, f"{where}.per", per, f"{per_expected!r} (the estimate "
                          f"multiplies {name} figures by {by})")
    if "source" not in raw and "derivation" not in raw:
        raise ConfigError(source, where, sorted(raw), "a 'source' or 'derivation' string")
    notes = [f"{k}: {_text(raw[k], source, f'{where}.{k}')}" for k in ("source", "derivation")
             if k in raw]
    energy_raw = raw.get("energy")
    if not isinstance(energy_raw, dict) or not energy_raw:
        raise ConfigError(source, f"{where}.energy", energy_raw,
                          "a mapping of action -> energy, e.g. {add: '0.1 pJ'}")
    for action in actions:
        if action not in energy_raw:
            raise ConfigError(source, f"{where}.energy.{action}", None,
                              f"the energy of action '{action}' (missing)")
    for action in energy_raw:
        if actions and action not in actions:
            raise ConfigError(source, f"{where}.energy.{action}", energy_raw[action],
                              f"a known action of {name} (unknown action; known: "
                              + ", ".join(actions) + ")")
    energy = {a: parse_quantity(v, ENERGY_UNITS, source, f"{where}.energy.{a}", "energy")
              for a, v in energy_raw.items()}
    if "area" not in raw:
        raise ConfigError(source, f"{where}.area", None, "an area, e.g. '1.5 um^2' (missing)")
    area = parse_quantity(raw["area"], AREA_UNITS, source, f"{where}.area", "area")
    if "size_bytes" in raw:
        _number(raw["size_bytes"], source, f"{where}.size_bytes", 1, 2 ** 40, "a size in bytes")
    pub_node, pub_vdd = node, vdd
    if "published_at" in raw:
        pub = _check_keys(raw["published_at"], {"node_nm", "vdd"}, source, f"{where}.published_at")
        if "node_nm" not in pub or "vdd" not in pub:
            raise ConfigError(source, f"{where}.published_at", pub, "both node_nm and vdd")
        pub_node = _number(pub["node_nm"], source, f"{where}.published_at.node_nm", *NODE_RANGE,
                           "a node (nm)")
        pub_vdd = _number(pub["vdd"], source, f"{where}.published_at.vdd", 0.3, 2.0,
                          "a supply voltage (V)")
    if (pub_node, pub_vdd) != (node, vdd):
        ef = energy_factor(pub_node, pub_vdd, node, vdd)
        af = area_factor(pub_node, node)
        energy = {a: e * ef for a, e in energy.items()}
        area *= af
        notes.append(f"scaled {pub_node:g} nm/{pub_vdd:g} V -> {node:g} nm/{vdd:g} V "
                     f"(energy x{ef:.4g}, area x{af:.4g})")
    return Component(name=name, per=per, energy_pj=energy, area_um2=area,
                     provenance="; ".join(notes), published_at=(pub_node, pub_vdd))


def parse_cost_table(raw: Any, source: str) -> CostTable:
    """Validate a parsed YAML mapping and build the :class:`CostTable` (no scaling to a
    configured node; see :meth:`CostTable.scaled_to`)."""
    raw = _check_keys(raw, _TOP_KEYS, source, "")
    name = _text(raw.get("name"), source, "name")
    tech = _check_keys(raw.get("technology"), _TECH_KEYS, source, "technology")
    if "node_nm" not in tech or "vdd" not in tech:
        raise ConfigError(source, "technology", tech, "node_nm and vdd")
    node = _number(tech["node_nm"], source, "technology.node_nm", *NODE_RANGE, "a node (nm)")
    vdd = _number(tech["vdd"], source, "technology.vdd", 0.3, 2.0, "a supply voltage (V)")
    rule = raw.get("scaling", _SCALING_RULES[0])
    if rule not in _SCALING_RULES:
        raise ConfigError(source, "scaling", rule, "one of " + ", ".join(_SCALING_RULES))
    leak = _check_keys(raw.get("leakage", {"power_density": "0 nW/um^2", "derivation": "default"}),
                       {"power_density", "source", "derivation"}, source, "leakage")
    density = parse_quantity(leak.get("power_density"), POWER_DENSITY_UNITS, source,
                             "leakage.power_density", "power density")
    if "source" not in leak and "derivation" not in leak:
        raise ConfigError(source, "leakage", sorted(leak), "a 'source' or 'derivation' string")
    comps_raw = raw.get("components")
    if not isinstance(comps_raw, dict):
        raise ConfigError(source, "components", comps_raw, "a mapping of component -> entry")
    for required in REQUIRED:
        if required not in comps_raw:
            raise ConfigError(source, f"components.{required}", None,
                              f"an entry for component '{required}' (missing)")
    for extra in comps_raw:
        if extra not in REQUIRED:
            raise ConfigError(source, f"components.{extra}", comps_raw[extra],
                              "a known component (unknown; known: " + ", ".join(REQUIRED) + ")")
    components = {n: _component(n, comps_raw[n], source, node, vdd) for n in REQUIRED}
    leak_notes = "; ".join(str(leak[k]) for k in ("source", "derivation") if k in leak)
    return CostTable(name=name, path=source, node_nm=node, vdd=vdd, components=components,
                     leakage_nw_per_um2=density, leakage_provenance=leak_notes)


def builtin_tables() -> list[str]:
    """Names of the tables shipped in ``essop_sim/cost/tables``."""
    folder = resources.files("essop_sim.cost") / "tables"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def table_path(name_or_path: str | Path) -> Path:
    """Resolve a built-in table name ('14nm') or a path to a YAML file."""
    text = str(name_or_path)
    if text in builtin_tables():
        return Path(str(resources.files("essop_sim.cost") / "tables" / f"{text}.yaml"))
    path = Path(text)
    if path.is_file():
        return path
    raise ConfigError(text, "cost.table", text, "a built-in table name (" +
                      ", ".join(builtin_tables()) + ") or an existing YAML file")


def load_cost_table(name_or_path: str | Path = "14nm", node_nm: float | None = None
                    ) -> CostTable:
    """Read and validate a cost table; optionally scale it to ``node_nm`` (nominal Vdd).

    Returns a :class:`CostTable` with energies in pJ and areas in um^2. Parsed tables are cached
    per (file, modification time, node); treat the result as read-only.
    """
    path = table_path(name_or_path)
    node = None if node_nm is None else float(node_nm)
    return _load(str(path.resolve()), path.stat().st_mtime_ns, node)


@lru_cache(maxsize=32)
def _load(source: str, mtime_ns: int, node_nm: float | None) -> CostTable:
    from ..config.yamlsafe import load_yaml_file

    raw = load_yaml_file(Path(source), "cost table (YAML)")
    table = parse_cost_table(raw, source)
    if node_nm is not None and node_nm != table.node_nm:
        table = table.scaled_to(node_nm, source=source)
    return table


def table_for(config: Any) -> CostTable:
    """The cost table a configuration names (``config.cost.table``), at ``config.cost.node_nm``."""
    return load_cost_table(config.cost.table, config.cost.node_nm)


__all__ = [
    "AREA_VS_45NM", "Component", "CostTable", "ENERGY_POLY", "NOMINAL_VDD", "REQUIRED",
    "area_factor", "builtin_tables", "energy_factor", "load_cost_table", "nominal_vdd",
    "parse_cost_table", "parse_quantity", "table_for", "table_path",
]
