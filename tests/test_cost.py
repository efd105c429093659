"""Cost tables, energy from activity, area from configuration, node scaling, the worked example."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml

from essop_sim.config import load_config
from essop_sim.cost import (
    MEMORY_COMPONENTS,
    area_factor,
    builtin_tables,
    efficiency_improvement,
    energy_factor,
    estimate_area,
    estimate_energy,
    load_cost_table,
    nominal_vdd,
    paper,
    table_for,
)
from essop_sim.cost.table import REQUIRED, parse_cost_table, table_path
from essop_sim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

# A hand table: round numbers, no published_at (so no scaling), at 14 nm.
HAND = {
    "name": "hand",
    "technology": {"node_nm": 14, "vdd": 0.8},
    "leakage": {"power_density": "0 nW/um^2", "derivation": "none"},
    "components": {
        "lfsr": {"per": "bit", "energy": {"step": "1 fJ"}, "area": "1 um^2"},
        "comparator": {"per": "bit", "energy": {"compare": "2 fJ"}, "area": "2 um^2"},
        "and_gate": {"per": "gate", "energy": {"evaluate": "3 fJ"}, "area": "3 um^2"},
        "popcount": {"per": "bit", "energy": {"add": "4 fJ"}, "area": "4 um^2"},
        "counter": {"per": "bit", "energy": {"increment": "5 fJ"}, "area": "5 um^2"},
        "accumulator": {"per": "bit", "energy": {"add": "6 fJ"}, "area": "6 um^2"},
        "shifter": {"per": "bit", "energy": {"shift": "7 fJ"}, "area": "7 um^2"},
        "register": {"per": "bit", "energy": {"write": "8 fJ"}, "area": "8 um^2"},
        "fp16_multiplier": {"per": "unit", "energy": {"multiply": "1 pJ"}, "area": "100 um^2"},
        "fp16_adder": {"per": "unit", "energy": {"add": "0.5 pJ"}, "area": "50 um^2"},
        "fp32_adder": {"per": "unit", "energy": {"add": "0.75 pJ"}, "area": "75 um^2"},
        "fp32_multiplier": {"per": "unit", "energy": {"multiply": "2 pJ"}, "area": "150 um^2"},
        "fp16_divider": {"per": "unit", "energy": {"divide": "3 pJ", "sqrt": "3.5 pJ"},
                         "area": "30 um^2"},
        "fp32_divider": {"per": "unit", "energy": {"divide": "9 pJ", "sqrt": "9.5 pJ"},
                         "area": "90 um^2"},
        "sram": {"per": "bit", "energy": {"read": "10 fJ", "write": "20 fJ"},
                 "area": "0.5 um^2"},
        **{f"serial_unit_b{b}": {"per": "unit", "energy": {"step": f"{b} pJ"},
                                 "area": f"{10 * b} um^2"} for b in (1, 2, 4, 16)},
        "cbram_cell": {"per": "unit", "energy": {"set_step": "1 fJ", "switch": "2 fJ",
                                                 "read": "3 fJ", "reset": "4 fJ"},
                       "area": "1 um^2"},
        "cbram_driver": {"per": "unit", "energy": {"pulse": "5 fJ"}, "area": "2 um^2"},
        "cbram_sense_amp": {"per": "unit", "energy": {"read": "6 fJ"}, "area": "3 um^2"},
        "cbram_pulse_generator": {"per": "bit", "energy": {"step": "7 fJ"}, "area": "4 um^2"},
        "int_multiplier": {"per": "bit", "energy": {"multiply": "3 fJ"}, "area": "3 um^2"},
    },
}
for _entry in HAND["components"].values():
    _entry["derivation"] = "hand test value"

SMALL = {"essop.array.rows": 2, "essop.array.cols": 3, "essop.bitstream_length": 4,
         "essop.comparator_bits": 8, "essop.counter_bits": 4, "essop.accumulator_bits": 12,
         "essop.rng.lfsr_bits": 10, "memory.operand_bits": 16, "essop.pipeline_stages": 2,
         "memory.operand_buffer_vectors": 3}

ESSOP_ACTIVITY = {"cycles": 9, "lfsr_steps": 64, "random_numbers": 8, "comparisons": 20,
                  "and_ops": 24, "counter_increments": 5, "accumulator_adds": 6, "shift_ops": 5,
                  "sram_read_bits": 80, "sram_write_bits": 96, "register_bit_cycles": 40,
                  "overflows": 0, "k": 1}
FP16_ACTIVITY = {"cycles": 10, "fp16_multiplies": 6, "fp32_adds": 6,
                 "pipeline_register_bits": 768, "sram_read_bits": 80, "sram_write_bits": 96}


@pytest.fixture(scope="module")
def hand():
    return parse_cost_table(copy.deepcopy(HAND), "hand.yaml")


@pytest.fixture(scope="module")
def shipped():
    return load_cost_table("14nm")


def write(tmp_path: Path, raw: dict, name: str = "table.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


# ---------------------------------------------------------------------------------------------
# Energy and area on hand cases


def test_essop_energy_is_counts_times_entries_times_widths(hand):
    config = load_config(overrides=SMALL)
    e = estimate_energy(config, ESSOP_ACTIVITY, hand, elements=6)
    expected = {  # pJ: count x fJ x width / 1000
        "lfsr": 64 * 1 * 10 / 1000, "comparator": 20 * 2 * 8 / 1000, "and_gate": 24 * 3 / 1000,
        "counter": 5 * 5 * 4 / 1000, "accumulator": 6 * 6 * 12 / 1000,
        "shifter": 5 * 7 * 16 / 1000, "sram_read": 80 * 10 / 1000, "sram_write": 96 * 20 / 1000,
        "register": 40 * 8 / 1000, "leakage": 0.0,
    }
    assert e.by_component == pytest.approx(expected, rel=1e-12)
    assert e.total_pj == pytest.approx(sum(expected.values()), rel=1e-12)
    assert e.per_element_pj == pytest.approx(e.total_pj / 6)
    assert e.total(MEMORY_COMPONENTS) == pytest.approx(e.total_pj - 0.8 - 1.92)
    assert e.unpriced == ("k", "overflows")


def test_parallel_streams_price_the_popcount(hand):
    config = load_config(overrides={**SMALL, "essop.bits_per_cycle": 4})
    e = estimate_energy(config, ESSOP_ACTIVITY, hand)
    assert e.by_component["popcount"] == pytest.approx(24 * 4 / 1000)


def test_fp16_energy_is_counts_times_entries(hand):
    config = load_config(overrides={"datapath": "fp16"})
    e = estimate_energy(config, FP16_ACTIVITY, hand)
    assert e.by_component == pytest.approx({
        "fp16_multiplier": 6.0, "fp32_adder": 6 * 0.75, "register": 768 * 8 / 1000,
        "sram_read": 0.8, "sram_write": 1.92, "leakage": 0.0}, rel=1e-12)
    fp16acc = load_config(overrides={"datapath": "fp16", "fp16.accumulator": "fp16"})
    activity = {**FP16_ACTIVITY, "fp16_adds": 6}
    del activity["fp32_adds"]
    assert estimate_energy(fp16acc, activity, hand).by_component["fp16_adder"] == 3.0


def test_missing_or_bad_counts_are_errors(hand):
    config = load_config(overrides=SMALL)
    partial = {k: v for k, v in ESSOP_ACTIVITY.items() if k != "and_ops"}
    with pytest.raises(ValueError, match="and_ops"):
        estimate_energy(config, partial, hand)
    with pytest.raises(ValueError, match="comparisons"):
        estimate_energy(config, {**ESSOP_ACTIVITY, "comparisons": -1}, hand)
    no_registers = {k: v for k, v in ESSOP_ACTIVITY.items() if k != "register_bit_cycles"}
    assert estimate_energy(config, no_registers, hand).by_component["register"] == 0.0
    assert estimate_energy(config, ESSOP_ACTIVITY, hand).assumed_zero == ()
    # without numerics the data-dependent count is absent: priced 0 and said so
    timing_only = {k: v for k, v in ESSOP_ACTIVITY.items() if k != "counter_increments"}
    e = estimate_energy(config, timing_only, hand)
    assert e.by_component["counter"] == 0.0 and e.assumed_zero == ("counter_increments",)
    fp16 = load_config(overrides={"datapath": "fp16"})
    no_adds = {k: v for k, v in FP16_ACTIVITY.items() if k != "fp32_adds"}
    with pytest.raises(ValueError, match="fp32_adds"):
        estimate_energy(fp16, no_adds, hand)


def test_leakage_is_density_times_area_times_time(tmp_path):
    raw = copy.deepcopy(HAND)
    raw["leakage"] = {"power_density": "2 mW/mm^2", "source": "hand"}  # = 2 nW/um^2
    table = parse_cost_table(raw, "leaky.yaml")
    config = load_config(overrides={**SMALL, "memory.clock_hz": 1e9})
    e = estimate_energy(config, ESSOP_ACTIVITY, table)
    area = estimate_area(config, table).total_um2
    assert e.by_component["leakage"] == pytest.approx(2e-9 * area * 9e-9 * 1e12)


def test_essop_area_by_hand(hand):
    config = load_config(overrides=SMALL)
    a = estimate_area(config, hand)
    cells = 2 * 3
    assert a.by_component == pytest.approx({
        "and_gate": cells * 3, "counter": cells * 4 * 5, "accumulator": cells * 12 * 6,
        "comparator": 5 * 8 * 2, "lfsr": 2 * 10 * 1, "shifter": 5 * 16 * 7,
        "register": 2 * 5 * 8, "sram": 3 * 5 * 16 * 2 * 0.5}, rel=1e-12)
    element = estimate_area(load_config(overrides={**SMALL, "essop.rng.sharing": "element"}),
                            hand)
    assert element.by_component["lfsr"] == 5 * 10 * 1  # rows + cols banks


def test_fp16_area_by_hand(hand):
    config = load_config(overrides={"datapath": "fp16", "fp16.multipliers": 3,
                                    "fp16.pipeline_depth": 5})
    a = estimate_area(config, hand)
    assert a.by_component == pytest.approx({
        "fp16_multiplier": 300.0, "pipeline_register": 3 * 5 * 32 * 8, "fp32_adder": 225.0,
        "accumulator_register": 3 * 32 * 8})
    assert a.total_um2 == pytest.approx(sum(a.by_component.values()))


# ---------------------------------------------------------------------------------------------
# One table entry moves exactly its dependent figures


def figures(table, essop_config, fp16_config):
    return {
        "essop_energy": estimate_energy(essop_config, ESSOP_ACTIVITY, table).by_component,
        "fp16_energy": estimate_energy(fp16_config, FP16_ACTIVITY, table).by_component,
        "essop_area": estimate_area(essop_config, table).by_component,
        "fp16_area": estimate_area(fp16_config, table).by_component,
    }


# table entry -> the figures it must move (and nothing else may move)
ENERGY_DEPENDENTS = {
    ("lfsr", "step"): {("essop_energy", "lfsr")},
    ("comparator", "compare"): {("essop_energy", "comparator")},
    ("and_gate", "evaluate"): {("essop_energy", "and_gate")},
    ("popcount", "add"): {("essop_energy", "popcount")},
    ("counter", "increment"): {("essop_energy", "counter")},
    ("accumulator", "add"): {("essop_energy", "accumulator")},
    ("shifter", "shift"): {("essop_energy", "shifter")},
    ("register", "write"): {("essop_energy", "register"), ("fp16_energy", "register")},
    ("fp16_multiplier", "multiply"): {("fp16_energy", "fp16_multiplier")},
    ("fp16_adder", "add"): set(),  # the configured baseline accumulates in fp32
    ("fp32_adder", "add"): {("fp16_energy", "fp32_adder")},
    ("sram", "read"): {("essop_energy", "sram_read"), ("fp16_energy", "sram_read")},
    ("sram", "write"): {("essop_energy", "sram_write"), ("fp16_energy", "sram_write")},
    # the SBE stage's units price only that stage (tests/test_sbe.py)
    ("fp32_multiplier", "multiply"): set(), ("fp16_divider", "divide"): set(),
    ("fp16_divider", "sqrt"): set(), ("fp32_divider", "divide"): set(),
    ("fp32_divider", "sqrt"): set(),
    # the bit-serial units price only the bitserial datapath (tests/test_bitserial.py)
    **{(f"serial_unit_b{b}", "step"): set() for b in (1, 2, 4, 16)},
    # the CBRAM entries price only the cbram datapath (tests/test_cbram.py)
    **{("cbram_cell", a): set() for a in ("set_step", "switch", "read", "reset")},
    ("cbram_driver", "pulse"): set(), ("cbram_sense_amp", "read"): set(),
    ("cbram_pulse_generator", "step"): set(),
    # the integer multiplier prices only the edge datapath (tests/test_edge.py)
    ("int_multiplier", "multiply"): set(),
}
AREA_DEPENDENTS = {
    "lfsr": {"lfsr"}, "comparator": {"comparator"}, "and_gate": {"and_gate"},
    "popcount": {"popcount"}, "counter": {"counter"}, "accumulator": {"accumulator"},
    "shifter": {"shifter"}, "register": {"register", "pipeline_register",
                                         "accumulator_register"},
    "fp16_multiplier": {"fp16_multiplier"}, "fp16_adder": set(), "fp32_adder": {"fp32_adder"},
    "sram": {"sram"}, "fp32_multiplier": set(), "fp16_divider": set(), "fp32_divider": set(),
    **{f"serial_unit_b{b}": set() for b in (1, 2, 4, 16)},
    **{c: set() for c in ("cbram_cell", "cbram_driver", "cbram_sense_amp",
                          "cbram_pulse_generator")},
    "int_multiplier": set(),
}


def test_each_table_entry_moves_exactly_its_dependent_figures():
    essop_config = load_config(overrides={**SMALL, "essop.bits_per_cycle": 2})
    fp16_config = load_config(overrides={"datapath": "fp16"})
    base = figures(parse_cost_table(copy.deepcopy(HAND), "hand.yaml"), essop_config, fp16_config)
    assert {c for c, _ in ENERGY_DEPENDENTS} == set(REQUIRED) == set(AREA_DEPENDENTS)
    changes = [("energy", c, a) for c, a in ENERGY_DEPENDENTS] + [("area", c, None)
                                                                  for c in AREA_DEPENDENTS]
    for kind, component, action in changes:
        raw = copy.deepcopy(HAND)
        entry = raw["components"][component]
        if kind == "energy":
            value, unit = entry["energy"][action].split()
            entry["energy"][action] = f"{3 * float(value)} {unit}"
            expected = ENERGY_DEPENDENTS[(component, action)]
        else:
            value, unit = entry["area"].split()
            entry["area"] = f"{3 * float(value)} {unit}"
            expected = {(f, name) for f in ("essop_area", "fp16_area")
                        for name in AREA_DEPENDENTS[component] if name in base[f]}
        new = figures(parse_cost_table(raw, "changed.yaml"), essop_config, fp16_config)
        moved = {(f, name) for f in base for name in base[f]
                 if not math.isclose(new[f][name], base[f][name], rel_tol=1e-12)}
        assert moved == expected, (kind, component, action)
        for f, name in moved:
            assert new[f][name] == pytest.approx(3 * base[f][name]), (f, name)


# ---------------------------------------------------------------------------------------------
# Bad tables


def bad(tmp_path: Path, edit, match: str) -> None:
    raw = copy.deepcopy(HAND)
    edit(raw)
    path = write(tmp_path, raw, "bad.yaml")
    with pytest.raises(ConfigError, match=match) as info:
        load_cost_table(path)
    assert str(path) in str(info.value)


def test_bad_tables_name_file_and_key(tmp_path):
    bad(tmp_path, lambda r: r["components"].pop("counter"),
        r"components\.counter'.*missing")
    bad(tmp_path, lambda r: r["components"]["sram"]["energy"].pop("write"),
        r"components\.sram\.energy\.write'.*missing")
    bad(tmp_path, lambda r: r["components"]["and_gate"].update(area="-1 um^2"),
        r"components\.and_gate\.area'.*non-negative")
    bad(tmp_path, lambda r: r["components"]["fp16_adder"]["energy"].update(add="0.4 pW"),
        r"components\.fp16_adder\.energy\.add'.*unknown unit 'pW'")
    bad(tmp_path, lambda r: r["components"]["lfsr"]["energy"].update(step=0.5),
        r"components\.lfsr\.energy\.step'.*with a unit")
    bad(tmp_path, lambda r: r["components"]["counter"].update(colour="red"),
        r"components\.counter\.colour'.*unknown key")
    bad(tmp_path, lambda r: r.update(vendor="x"), r"key 'vendor'.*unknown key")
    bad(tmp_path, lambda r: r["components"].update(dsp={"per": "unit"}),
        r"components\.dsp'.*known component")
    bad(tmp_path, lambda r: r["components"]["counter"]["energy"].update(reset="1 fJ"),
        r"components\.counter\.energy\.reset'.*unknown action")
    bad(tmp_path, lambda r: r["components"]["counter"].update(per="unit"),
        r"components\.counter\.per'")
    bad(tmp_path, lambda r: r["components"]["shifter"].pop("derivation"),
        r"components\.shifter'.*'source' or 'derivation'")
    bad(tmp_path, lambda r: r["technology"].update(node_nm=3),
        r"technology\.node_nm'.*node")
    bad(tmp_path, lambda r: r.update(scaling="linear"), r"key 'scaling'")


def test_unknown_table_and_broken_yaml(tmp_path):
    with pytest.raises(ConfigError, match="built-in table name"):
        load_cost_table("3nm-dreams")
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml.*line"):
        load_cost_table(path)


def test_shipped_table_is_package_data_with_provenance(shipped):
    assert "14nm" in builtin_tables()
    assert table_path("14nm").is_file()
    assert "essop_sim/cost/tables" in table_path("14nm").as_posix()
    assert shipped.node_nm == 14 and set(shipped.components) == set(REQUIRED)
    for c in shipped.components.values():
        assert "source" in c.provenance or "derivation" in c.provenance
        assert c.area_um2 > 0 and all(e > 0 for e in c.energy_pj.values())
    assert shipped.leakage_provenance


# ---------------------------------------------------------------------------------------------
# Node scaling


def test_scaling_rule_by_hand():
    # Stillmaker & Baas: area ratio 45 -> 14 nm is 0.17; energy polynomials at the given Vdd
    assert area_factor(45, 14) == pytest.approx(0.17)
    e14 = 0.2363 * 0.8 ** 2 - 0.09675 * 0.8 + 0.02239
    e45 = 1.018 * 0.9 ** 2 - 0.3107 * 0.9 + 0.1539
    assert energy_factor(45, 0.9, 14, 0.8) == pytest.approx(e14 / e45)
    # transitive, and between tabulated nodes monotone (log-log interpolation)
    assert area_factor(45, 7) == pytest.approx(area_factor(45, 14) * area_factor(14, 7))
    assert area_factor(45, 32) < area_factor(45, 40) < 1.0
    assert nominal_vdd(14) == 0.8 and 0.9 < nominal_vdd(40) < 1.0


def test_published_entries_are_scaled_to_the_table_node(shipped):
    ef = energy_factor(45, 0.9, 14, 0.8)
    assert shipped.energy("fp16_multiplier", "multiply") == pytest.approx(1.1 * ef)
    assert shipped.area("fp16_multiplier") == pytest.approx(1640 * 0.17)
    assert shipped.energy("register", "write") == pytest.approx(
        0.009 * energy_factor(40, 0.9, 14, 0.8))


def test_configured_node_rescales_every_entry(shipped):
    config = load_config(overrides={"cost.node_nm": 7})
    scaled = table_for(config)
    ef = energy_factor(14, 0.8, 7, nominal_vdd(7))
    af = area_factor(14, 7)
    assert scaled.node_nm == 7 and scaled.scaled_from == (14, 0.8)
    for name, c in shipped.components.items():
        assert scaled.area(name) == pytest.approx(c.area_um2 * af)
        for action, e in c.energy_pj.items():
            assert scaled.energy(name, action) == pytest.approx(e * ef)
    assert load_cost_table("14nm", node_nm=14).components == shipped.components
    with pytest.raises(ConfigError, match="cost.node_nm.*Stillmaker"):
        table_for(load_config(overrides={"cost.node_nm": 3}))


# ---------------------------------------------------------------------------------------------
# Comparison readings and the worked example


def test_efficiency_improvement_gives_both_readings():
    r = efficiency_improvement(17.8, 100.0, 6.3, 100.0, new_cycles=2.0, base_cycles=1.0)
    assert r["energy_fraction"] == pytest.approx(0.178)
    assert r["energy_saving"] == pytest.approx(0.822)  # reading A
    assert r["energy_efficiency_ratio"] == pytest.approx(100 / 17.8)
    assert r["energy_efficiency_gain"] == pytest.approx(100 / 17.8 - 1)  # reading B
    assert r["area_saving"] == pytest.approx(0.937)
    assert r["area_time_fraction"] == pytest.approx(0.126)
    assert "area_time_saving" not in efficiency_improvement(1.0, 2.0, 1.0, 2.0)


def test_component_breakdown_in_docs_matches_the_code():
    text = " ".join((ROOT / "docs" / "cost.md").read_text().split())
    line = paper.breakdown_line(paper.points()[-1])
    assert line in text, "docs/cost.md is stale: rerun python -m essop_sim.cost.paper"


def test_docs_cite_no_missing_design_documents():
    for path in [*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]:
        text = path.read_text()
        for name in ("DESIGN.md", "ESSOP.md"):
            assert name not in text or (ROOT / name).exists(), (path.name, name)


def test_worked_example_in_docs_matches_the_code():
    text = (ROOT / "docs" / "cost.md").read_text()
    table = paper.format_points(paper.points())
    assert table in text, "docs/cost.md is stale: rerun python -m essop_sim.cost.paper"
