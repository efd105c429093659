"""Hardware configuration: shipped files, overrides, and every invalid-YAML case's error text."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from essop_sim.config import HardwareConfig, config_digest, config_to_dict, load_config
from essop_sim.config.render import render_yaml
from essop_sim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_default_equals_dataclass_defaults():
    assert load_config(ROOT / "configs" / "essop_14nm.yaml") == HardwareConfig()
    assert load_config() == HardwareConfig()


def test_shipped_fp16_baseline_differs_only_in_datapath():
    fp16 = load_config(ROOT / "configs" / "fp16_baseline.yaml")
    assert fp16 == dataclasses.replace(HardwareConfig(), datapath="fp16")


def test_shipped_files_are_rendered_from_the_schema():
    import importlib.util

    spec = importlib.util.spec_from_file_location("render_configs",
                                                  ROOT / "scripts" / "render_configs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for datapath, name in module.FILES.items():
        assert (ROOT / "configs" / name).read_text() == module.render(datapath), name


def test_render_round_trips_a_non_default_config(tmp_path):
    config = load_config(overrides=["essop.bitstream_length=256", "essop.rng.taps_x=[16, 14]",
                                    "memory.clock_hz=2.5e9", "essop.rng.sharing=element"])
    path = tmp_path / "c.yaml"
    path.write_text(render_yaml(config))
    assert load_config(path) == config
    assert config_digest(load_config(path)) == config_digest(config)


def test_overrides_parse_yaml_scalars():
    config = load_config(overrides={"essop.array.rows": 8, "memory.shared_port": True})
    assert config.essop.array.rows == 8 and config.memory.shared_port is True
    config = load_config(overrides=["memory.shared_port=true", "datapath=fp16"])
    assert config.memory.shared_port is True and config.datapath == "fp16"
    assert config_to_dict(config)["memory"]["shared_port"] is True


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("essop: {bitstream_length: 64\n", "line", "well-formed YAML"),
        ("essop:\n  bitstrem_length: 64\n", "essop.bitstrem_length", "unknown key"),
        ("foo: 1\n", "foo", "unknown key"),
        ("essop:\n  rng:\n    sharng: vector\n", "essop.rng.sharng", "unknown key"),
        ("essop:\n  bitstream_length: 0\n", "essop.bitstream_length", "[1, 1048576] bits"),
        ("essop:\n  bitstream_length: 64.5\n", "essop.bitstream_length", "an integer"),
        ("essop:\n  bitstream_length: true\n", "essop.bitstream_length", "an integer"),
        ("essop:\n  bitstream_length: null\n", "essop.bitstream_length", "null is not"),
        ("datapath: tpu\n", "datapath", "one of 'essop', 'fp16'"),
        ("essop:\n  array: 32\n", "essop.array", "a mapping"),
        ("memory:\n  clock_hz: .nan\n", "memory.clock_hz", "a finite number"),
        ("memory:\n  clock_hz: -1\n", "memory.clock_hz", "[1, 1e+12] Hz"),
        ("memory:\n  shared_port: 1\n", "memory.shared_port", "true or false"),
        ("essop:\n  rng:\n    taps_x: [3, 5]\n", "essop.rng.taps_x", "include lfsr_bits=16"),
        ("essop:\n  rng:\n    taps_x: []\n", "essop.rng.taps_x", "non-empty list"),
        ("essop:\n  rng:\n    taps_x: [16, a]\n", "essop.rng.taps_x", "list of integers"),
        ("essop:\n  comparator_bits: 20\n", "essop.comparator_bits", "lfsr_bits=16"),
        ("- 1\n- 2\n", "<top level>", "a mapping"),
        ("essop:\n  comparator_bits: 5\n", "essop.comparator_bits", "repeat after 13107"),
        ("essop:\n  rng:\n    steps_per_number: 3\n", "essop.rng.steps_per_number",
         "coprime with 2^16-1 = 65535"),
    ],
)
def test_invalid_yaml_names_file_key_and_expectation(tmp_path, text, key, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert key in message, message
    assert expected in message, message


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml.*an existing YAML file"):
        load_config(tmp_path / "nope.yaml")


def test_empty_file_is_the_default(tmp_path):
    assert load_config(_write(tmp_path, "")) == HardwareConfig()


@pytest.mark.parametrize(("override", "key"), [
    ("essop.bitstream_length", "essop.bitstream_length"),
    ("essop.array.rows.x=3", "essop.array.rows"),
    ("essop.array.rows=-3", "essop.array.rows"),
    ("essop.array.rowz=3", "essop.array.rowz"),
])
def test_bad_override_is_named(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert f"key '{key}'" in str(info.value)


def test_every_field_documents_itself():
    from essop_sim.config import describe

    rows = describe(HardwareConfig)
    assert len(rows) > 30
    for key, _default, _unit, doc in rows:
        assert len(doc) > 15, key


def test_yaml_of_defaults_parses_to_plain_types():
    data = yaml.safe_load(render_yaml(HardwareConfig()))
    assert data["essop"]["rng"]["taps_x"] is None
    assert data["memory"]["clock_hz"] == 1.0e9
