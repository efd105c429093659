"""End to end: simulate() and `essop-sim run` on the shipped trace and on synthetic traces."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from essop_sim.cli import main
from essop_sim.config import load_config
from essop_sim.simulate import record_seed, simulate
from essop_sim.trace.synthetic import make_synthetic_trace
from essop_sim.workloads import LayerShape

LAYERS = [LayerShape("fc1", "linear", 24, 10, 16), LayerShape("conv", "conv2d", 18, 6, 40)]


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "synthetic"
    make_synthetic_trace(path, LAYERS, seed=3)
    return path


def test_rows_hold_every_documented_column(small_trace):
    config = load_config(overrides={"essop.array.rows": 8, "essop.array.cols": 8})
    report = simulate(config, small_trace)
    assert [r["layer"] for r in report.rows] == [s.name for s in LAYERS]
    for row, shape in zip(report.rows, LAYERS, strict=True):
        assert (row["n"], row["m"], row["K"]) == (shape.n, shape.m, shape.K)
        assert row["cycles"] >= row["ideal_cycles"] > 0
        assert math.isclose(row["time_s"], row["cycles"] / config.memory.clock_hz)
        assert 0 < row["utilization"] <= 1
        assert 0 <= row["rel_error"] < 1 and 0 < row["cosine"] <= 1
        assert row["energy_pj"] > 0 and row["area_um2"] > 0
        assert any(k.startswith("busy_") for k in row) and any(k.startswith("stall_")
                                                                 for k in row)
    assert report.meta["config"]["essop"]["array"]["rows"] == 8
    assert report.meta["version"]


def test_rows_are_independent_of_which_records_run(small_trace):
    config = load_config()
    both = simulate(config, small_trace).rows
    alone = simulate(config, small_trace, layers=["conv"]).rows
    assert alone == [both[1]]


def test_record_seeds_differ_by_layer_and_step():
    seeds = {record_seed(0, layer, step) for layer in ("a", "b") for step in (0, 1)}
    assert len(seeds) == 4 and record_seed(0, "a", 0) == record_seed(0, "a", 0)


def test_fp16_datapath_is_far_more_exact_than_short_streams(small_trace):
    fp16 = simulate(load_config(overrides={"datapath": "fp16"}), small_trace).rows
    essop = simulate(load_config(overrides={"essop.bitstream_length": 8}), small_trace).rows
    for f, e in zip(fp16, essop, strict=True):
        assert f["rel_error"] < 1e-2 < e["rel_error"]


def test_no_numerics_keeps_timing(small_trace):
    config = load_config()
    with_numerics = simulate(config, small_trace).rows
    timing_only = simulate(config, small_trace, numerics=False).rows
    for a, b in zip(with_numerics, timing_only, strict=True):
        assert a["cycles"] == b["cycles"] and math.isnan(b["rel_error"])


def test_run_command_writes_csv_and_json(small_trace, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--trace", str(small_trace), "-o", str(out), "-q",
                 "--set", "essop.bitstream_length=32"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "fc1" in printed and "total:" in printed
    data = json.loads((out / "report.json").read_text())
    assert data["meta"]["config"]["essop"]["bitstream_length"] == 32
    assert len(data["rows"]) == 2
    header = (out / "report.csv").read_text().splitlines()[0].split(",")
    assert {"layer", "cycles", "rel_error", "energy_pj"} <= set(header)


def test_run_on_the_shipped_default(tmp_path, capsys):
    out = tmp_path / "default"
    assert main(["run", "-o", str(out), "-q"]) == 0
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert rows and all(np.isfinite(r["rel_error"]) for r in rows)


def test_missing_trace_exits_1(tmp_path, capsys):
    assert main(["run", "--trace", str(tmp_path / "none"), "-o", str(tmp_path / "o")]) == 1
    assert "none" in capsys.readouterr().err


def test_compare_fp16_adds_both_readings(small_trace, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["run", "--trace", str(small_trace), "-o", str(out), "-q",
                 "--compare-fp16"]) == 0
    rows = json.loads((out / "report.json").read_text())["rows"]
    for row in rows:
        fraction = row["energy_pj"] / row["vs_fp16_energy_pj"]
        assert math.isclose(row["vs_fp16_energy_saving"], 1 - fraction)
        assert math.isclose(row["vs_fp16_energy_efficiency_gain"], 1 / fraction - 1)
        compute_only = row["area_compute_um2"] / row["vs_fp16_area_compute_um2"]
        assert math.isclose(row["vs_fp16_area_saving"], 1 - compute_only)
        assert row["area_compute_um2"] < row["area_um2"]  # the operand buffer is left out
    assert "E_sav_fp16" in capsys.readouterr().out


def test_compare_fp16_refuses_an_fp16_config(small_trace, tmp_path, capsys):
    code = main(["run", "--trace", str(small_trace), "-o", str(tmp_path / "x"), "-q",
                 "--compare-fp16", "--set", "datapath=fp16"])
    assert code == 1 and "--compare" in capsys.readouterr().err


def test_a_selection_that_matches_nothing_is_an_input_error(small_trace, tmp_path, capsys):
    code = main(["run", "--trace", str(small_trace), "-o", str(tmp_path / "x"), "-q",
                 "--layers", "nosuch"])
    err = capsys.readouterr().err
    assert code == 1 and "nosuch" in err and "fc1" in err
    assert not (tmp_path / "x").exists()


def test_layer_patterns_select_records(small_trace):
    rows = simulate(load_config(), small_trace, layers=["fc*"], numerics=False).rows
    assert [r["layer"] for r in rows] == ["fc1"]
