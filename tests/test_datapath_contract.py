"""The contract every registered datapath keeps, checked for each one (and for the test-only
'tinymac' of tests/plugins, registered here exactly as a third-party package would be).

A new datapath is tested by being registered: config round-trip and rendering, unknown keys,
deterministic and chunk-independent numerics, event model equal to its per-cycle reference,
every emitted activity key priced, its report columns, serial sweep equal to parallel sweep.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml
from plugin_registration import plugins_registered

from essop_sim.config import config_from_mapping, load_config
from essop_sim.config.render import render_yaml
from essop_sim.cost import estimate_area, estimate_energy
from essop_sim.datapaths import REGISTRY, get_datapath, registered_datapaths
from essop_sim.errors import ConfigError
from essop_sim.hw import time_update
from essop_sim.hw.reference import reference_timing
from essop_sim.numerics import outer_product
from essop_sim.simulate import simulate
from essop_sim.sweep import run_sweep
from essop_sim.trace import make_synthetic_trace

#: Built-ins (and installed plug-ins) plus the test-only datapath registered below.
NAMES = (*registered_datapaths(), "tinymac")
#: Update shapes (m, n, K) of the event-model / reference grid.
SHAPES = ((1, 1, 1), (5, 7, 3), (40, 33, 5), (3, 70, 9))
#: Memory systems of the grid: the defaults, and a narrow, shared-port one that stalls.
MEMORY = ({}, {"memory.read_bandwidth": 16, "memory.write_bandwidth": 8,
               "memory.operand_buffer_vectors": 2, "memory.shared_port": True})
#: Columns every row holds, whatever the datapath (docs/reports.md).
CORE = ("layer", "step", "datapath", "label", "n", "m", "K", "cycles", "ideal_cycles", "time_s",
        "utilization", "bits_read", "bits_written", "events", "rel_error", "abs_error",
        "max_abs_error", "bias", "cosine", "sign_error_fraction", "nonzero", "energy_pj",
        "area_um2", "area_compute_um2", "energy_per_element_pj")


@pytest.fixture(scope="module", autouse=True)
def tinymac_registered():
    """The test-only plug-ins, registered for this module only (a registered plug-in adds a
    section to every configuration, which other modules' rendered-YAML checks must not see)."""
    with plugins_registered():
        yield


def _config(name: str, **overrides):
    return load_config(overrides={"datapath": name, **overrides})


def _operands(m: int, n: int, K: int, seed: int = 0):
    rng = np.random.default_rng([seed, m, n, K])
    x = np.abs(rng.normal(size=(K, n))) * (rng.random((K, n)) > 0.3)
    delta = rng.normal(scale=1e-2, size=(K, m))
    if K > 2:
        x[1] = 0.0   # an all-zero vector (e.g. a dead ReLU row)
    return x, delta


def _hints(config, m, n, K):
    x, delta = _operands(m, n, K)
    return outer_product(x, delta, config, seed=1).hints


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trips_through_rendered_yaml(name):
    config = _config(name)
    text = render_yaml(config)
    assert f"\n{name}:\n" in text and f"datapath: {name}\n" in text
    assert config_from_mapping(yaml.safe_load(text), "<rendered>") == config
    datapath = get_datapath(name)
    assert isinstance(config.section(name), datapath.config_class)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_keys_of_its_section_are_rejected(name):
    with pytest.raises(ConfigError, match=rf"key '{name}\.no_such_key'.*known here"):
        _config(name, **{f"{name}.no_such_key": 1})


@pytest.mark.parametrize("name", NAMES)
def test_numerics_are_deterministic_and_chunk_independent(name):
    config = _config(name)
    x, delta = _operands(6, 9, 23)
    first = outer_product(x, delta, config, seed=7)
    again = outer_product(x, delta, config, seed=7)
    assert first.datapath == name and first.dw.shape == (6, 9)
    np.testing.assert_array_equal(first.raw, again.raw)
    np.testing.assert_array_equal(first.dw, again.dw)
    for chunk in (1, 4, 23):
        other = outer_product(x, delta, config, seed=7, chunk=chunk)
        np.testing.assert_array_equal(other.raw, first.raw)
        np.testing.assert_array_equal(other.dw, first.dw)
        assert other.activity == first.activity and other.hints == first.hints


@pytest.mark.parametrize("memory", range(len(MEMORY)))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_event_model_equals_per_cycle_reference(name, shape, memory):
    config = _config(name, **MEMORY[memory])
    datapath = get_datapath(name)
    m, n, K = shape
    hints = _hints(config, m, n, K)
    timing = time_update(config, m, n, K, hints=hints)
    ref = reference_timing(config, m, n, K, hints=hints)
    assert (timing.cycles, timing.busy, timing.stalls) == (ref.cycles, ref.busy, ref.stalls)
    assert (timing.bits_read, timing.bits_written) == (ref.bits_read, ref.bits_written)
    assert set(timing.busy) == set(datapath.blocks)
    assert set(timing.stalls) == set(datapath.stall_causes)
    # the compute block's busy cycles and the stalls partition the run
    assert timing.busy[datapath.compute_block] + sum(timing.stalls.values()) == timing.cycles
    assert timing.ideal_cycles <= timing.cycles
    assert 0.0 < timing.utilization <= 1.0 or timing.cycles == sum(timing.stalls.values())
    unforwarded = time_update(config, m, n, K, hints=hints, fast_forward=False)
    assert (unforwarded.cycles, unforwarded.busy, unforwarded.stalls) == (
        timing.cycles, timing.busy, timing.stalls)


@pytest.mark.parametrize("name", NAMES)
def test_every_emitted_activity_key_is_priced_or_declared(name):
    config = _config(name)
    datapath = get_datapath(name)
    m, n, K = 5, 7, 3
    x, delta = _operands(m, n, K)
    result = outer_product(x, delta, config, seed=1)
    activity = dict(time_update(config, m, n, K, hints=result.hints).activity)
    for key, value in result.activity.items():
        activity.setdefault(key, value)
    priced = {rule.key for rule in datapath.pricing(config)}
    declared = (priced | {"cycles"} | set(datapath.informational_activity)
                | set(datapath.diagnostic_activity))
    assert set(activity) <= declared, set(activity) - declared
    assert set(datapath.required(config)) <= set(activity)
    energy = estimate_energy(config, activity)
    assert energy.total_pj > 0 and energy.assumed_zero == ()
    assert set(energy.unpriced) <= set(datapath.diagnostic_activity)
    area = estimate_area(config)
    assert area.total_um2 > 0 and set(area.by_component) == set(datapath.area_instances(config))


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("contract") / "trace"
    layers = [("fc1", "linear", 24, 10, 16), ("conv1", "conv2d", 18, 6, 40)]
    return make_synthetic_trace(path, layers, seed=5, steps=(0, 3))


@pytest.mark.parametrize("name", NAMES)
def test_report_rows_hold_core_and_own_columns_only(name, trace):
    config = _config(name)
    datapath = get_datapath(name)
    rows = simulate(config, trace).rows
    own = {f"{name}_{key}" for key in datapath.report_columns(config)}
    others = {f"{other}_" for other in REGISTRY.plugins() if other != name}
    for row in rows:
        assert set(CORE) <= set(row) and own <= set(row)
        assert row["datapath"] == name and row["label"] == datapath.describe(config)
        assert not [k for k in row if any(k.startswith(p) for p in others)]
        assert np.isfinite(row["rel_error"]) and row["energy_pj"] > 0


def test_one_sweep_over_every_datapath_serial_equals_parallel(trace, tmp_path):
    spec = {"name": "contract", "traces": [str(trace)], "seed": 0,
            "grid": {"datapath": list(NAMES)}}
    serial = run_sweep(spec, tmp_path / "serial", jobs=1, progress=False)
    parallel = run_sweep(spec, tmp_path / "parallel", jobs=2, progress=False)
    assert len(serial.computed) == len(NAMES) == len(parallel.computed)
    for name in ("sweep.csv", "sweep.json"):
        assert (tmp_path / "serial" / name).read_bytes() == (
            tmp_path / "parallel" / name).read_bytes()
    rows = json.loads((tmp_path / "serial" / "sweep.json").read_text())["rows"]
    assert [r["datapath"] for r in rows[::4]] == list(NAMES)


def test_a_configuration_made_before_a_registration_still_finds_the_section():
    config = dataclasses.replace(load_config(), datapath="tinymac")
    assert config.section("tinymac") == get_datapath("tinymac").config_class()
