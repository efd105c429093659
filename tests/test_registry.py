"""The datapath registry: unknown names, entry-point plug-ins through the command line, stages,
comparisons between datapaths, and shared code that never names a datapath."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from plugin_registration import PLUGINS, plugins_registered

from essop_sim.cli import main
from essop_sim.config import HardwareConfig, load_config
from essop_sim.cost import estimate_area, estimate_energy
from essop_sim.datapaths import Datapath, register, registered_datapaths
from essop_sim.errors import ConfigError
from essop_sim.hw import time_update
from essop_sim.numerics import outer_product
from essop_sim.simulate import simulate
from essop_sim.trace import default_trace_path, load_trace, make_synthetic_trace

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [("fc1", "linear", 20, 6, 12), ("conv1", "conv2d", 27, 8, 30)]


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    return make_synthetic_trace(tmp_path_factory.mktemp("reg") / "t", LAYERS, seed=2)


@pytest.fixture
def plugins():
    """The test-only plug-ins registered in this process for one test."""
    with plugins_registered():
        yield


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """essop-sim in a fresh process that finds the plug-ins through their entry points only."""
    env = dict(os.environ, PYTHONPATH=str(PLUGINS))
    return subprocess.run([sys.executable, "-m", "essop_sim.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_an_unknown_datapath_is_an_error_at_every_entry_point(trace):
    bad = dataclasses.replace(HardwareConfig(), datapath="nosuch")
    expected = r"key 'datapath': got 'nosuch', expected a registered datapath: one of 'essop'"
    with pytest.raises(ConfigError, match="expected one of 'essop', 'fp16'"):
        load_config(overrides={"datapath": "nosuch"})
    calls = [lambda: outer_product(np.ones(3), np.ones(2), bad),
             lambda: time_update(bad, 2, 3, 1), lambda: estimate_area(bad),
             lambda: estimate_energy(bad, {"cycles": 1}), lambda: simulate(bad, trace)]
    for call in calls:
        with pytest.raises(ConfigError, match=expected):
            call()


def test_an_unknown_datapath_is_refused_by_training():
    pytest.importorskip("torch")  # the optional torch extra; CI installs it
    from torch import nn

    from essop_sim.training import EssopGradients

    with pytest.raises(ConfigError, match="registered datapath"):
        EssopGradients(nn.Linear(3, 2), dataclasses.replace(HardwareConfig(), datapath="x"))


def test_registration_rules(plugins):
    import tinymac

    assert "tinymac" in registered_datapaths()
    assert register(type(tinymac.DATAPATH)) is tinymac.DATAPATH   # same class: idempotent
    with pytest.raises(TypeError):
        register(object())

    class Clash(type(tinymac.DATAPATH)):
        name = "memory"

    with pytest.raises(ValueError, match="memory"):
        register(Clash())

    class Other(type(tinymac.DATAPATH)):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register(Other())
    assert issubclass(type(tinymac.DATAPATH), Datapath)


def test_entry_point_plugin_runs_through_the_command_line(tmp_path):
    listing = _cli("config", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "tinymac.macs = 4 [lanes]" in listing.stdout
    assert "subsample.stride = 2" in listing.stdout
    run = _cli("run", "-q", "--set", "datapath=tinymac", "-o", str(tmp_path / "r"),
               "--compare", "essop", cwd=ROOT)
    assert run.returncode == 0, run.stderr
    rows = json.loads((tmp_path / "r" / "report.json").read_text())["rows"]
    assert rows and {r["datapath"] for r in rows} == {"tinymac"}
    assert all(r["tinymac_macs"] == 4 and r["label"] == "TinyMAC 4 MACs" for r in rows)
    assert all(math.isfinite(r["vs_essop_energy_saving"]) for r in rows)
    timing_only = _cli("run", "-q", "--no-numerics", "--set", "datapath=tinymac", "-o",
                       str(tmp_path / "n"), cwd=ROOT)
    assert timing_only.returncode == 1
    assert timing_only.stderr.count("\n") == 1 and "kept_k" in timing_only.stderr
    assert "Traceback" not in timing_only.stderr
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: plug\ntraces: [{default_trace_path()}]\n"
                    "grid:\n  datapath: [essop, tinymac]\n  stages: [[], [subsample]]\n")
    sweep = _cli("sweep", str(spec), "-o", str(tmp_path / "s"), "-j", "2", "--no-progress",
                 "--fresh", cwd=ROOT)
    assert sweep.returncode == 0, sweep.stderr
    table = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert {(r["datapath"], r.get("subsample_k_out") is not None)
            for r in table["rows"]} == {(d, s) for d in ("essop", "tinymac")
                                        for s in (False, True)}


def test_stage_composes_with_every_datapath(plugins, trace):
    records = load_trace(trace).records
    for name in ("essop", "fp16", "tinymac"):
        plain = load_config(overrides={"datapath": name})
        same = load_config(overrides={"datapath": name, "stages": ["subsample"],
                                      "subsample.stride": 1})
        a, b = simulate(plain, trace).rows, simulate(same, trace).rows
        for ra, rb in zip(a, b, strict=True):   # stride 1 hands on the operands unchanged
            assert {k: v for k, v in rb.items() if not k.startswith("subsample_")} == ra
            assert rb["subsample_k_out"] == ra["K"] and rb["subsample_cycles"] == 0
        halved = load_config(overrides={"datapath": name, "stages": ["subsample"],
                                        "subsample.stride": 2, "subsample.cycles_per_k": 3})
        rows = simulate(halved, trace).rows
        needs_hints = bool(plugin_of(halved).timing_hints)   # tinymac: no run without numerics
        timing_only = rows if needs_hints else simulate(halved, trace, numerics=False).rows
        for row, cold, rec in zip(rows, timing_only, records, strict=True):
            k_out = -(-rec.K // 2)
            inner = time_update(halved, rec.m, rec.n, k_out,
                                hints=outer_product(rec.x[::2] * 2, rec.delta[::2], halved,
                                                    seed=0).hints)
            assert row["subsample_k_out"] == k_out and row["K"] == rec.K
            assert row["cycles"] == 3 * rec.K + inner.cycles
            assert row["subsample_stride"] == 2
            assert row["label"] == plugin_of(halved).describe(halved)
            assert cold["cycles"] == row["cycles"] and cold["K"] == rec.K


def plugin_of(config):
    from essop_sim.datapaths import datapath_of

    return datapath_of(config)


def test_compare_with_several_baselines_and_iso_throughput(plugins, trace, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["run", "--trace", str(trace), "-o", str(out), "-q", "--compare",
                 "fp16,tinymac"]) == 0
    report = json.loads((out / "report.json").read_text())
    for row in report["rows"]:
        for base in ("fp16", "tinymac"):
            fraction = row["energy_pj"] / row[f"vs_{base}_energy_pj"]
            assert math.isclose(row[f"vs_{base}_energy_saving"], 1 - fraction)
            assert math.isclose(row[f"vs_{base}_energy_efficiency_gain"], 1 / fraction - 1)
            assert math.isclose(row[f"vs_{base}_time_ratio"],
                                row["cycles"] / row[f"vs_{base}_cycles"])
    assert set(report["meta"]["baselines"]) == {"fp16", "tinymac"}
    assert "E_sav_tinymac" in capsys.readouterr().out

    iso = tmp_path / "iso"
    assert main(["run", "--trace", str(trace), "-o", str(iso), "-q", "--compare", "fp16",
                 "--iso", "throughput"]) == 0
    report = json.loads((iso / "report.json").read_text())
    design = sum(r["time_s"] for r in report["rows"])
    base = sum(r["time_s"] * r["vs_fp16_cycles"] / r["cycles"] for r in report["rows"])
    multipliers = report["meta"]["baselines"]["fp16"]["config"]["fp16"]["multipliers"]
    assert base <= design * (1 + 1e-12)
    smaller = load_config(overrides={"datapath": "fp16", "fp16.multipliers": multipliers - 1})
    slower = sum(time_update(smaller, r.m, r.n, r.K).time_s for r in load_trace(trace).records)
    assert multipliers == 1 or slower > design   # the smallest array that keeps up

    area = tmp_path / "area"
    assert main(["run", "--trace", str(trace), "-o", str(area), "-q", "--compare", "fp16",
                 "--iso", "area", "--no-numerics"]) == 0
    report = json.loads((area / "report.json").read_text())
    multipliers = report["meta"]["baselines"]["fp16"]["config"]["fp16"]["multipliers"]
    design_area = report["rows"][0]["area_compute_um2"]
    assert report["rows"][0]["vs_fp16_area_compute_um2"] <= design_area
    bigger = load_config(overrides={"datapath": "fp16", "fp16.multipliers": multipliers + 1})
    assert estimate_area(bigger).total(exclude=("sram",)) > design_area   # the largest that fits


def test_compare_refuses_unknown_and_self(trace, tmp_path, capsys):
    assert main(["run", "--trace", str(trace), "-o", str(tmp_path / "a"), "-q",
                 "--compare", "nosuch"]) == 1
    assert "nosuch" in capsys.readouterr().err
    assert main(["run", "--trace", str(trace), "-o", str(tmp_path / "b"), "-q",
                 "--compare", "essop"]) == 1


def test_shared_code_never_compares_a_datapath_name_with_a_string():
    # essop_sim/rtl/ is hardware of particular datapaths, like their folders; there "fp16" is
    # also a number format (the MAC's accumulator), not a datapath name
    package = ROOT / "essop_sim"
    names = "|".join(registered_datapaths())
    pattern = re.compile(rf"""(==|!=|\bin\b)\s*\(?\s*['"]({names})['"]""")
    offenders = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
                 for path in package.rglob("*.py")
                 if "datapaths" not in path.parts and "rtl" not in path.parts
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []


def test_a_point_fingerprints_the_core_and_its_own_datapath_only(monkeypatch, plugins):
    from essop_sim import sweep
    from essop_sim.datapaths import get_datapath

    configs = {name: load_config(overrides={"datapath": name})
               for name in ("essop", "fp16", "tinymac")}
    before = {name: sweep.code_fingerprint(c) for name, c in configs.items()}
    assert len(set(before.values())) == 3
    edited = get_datapath("fp16").source_dir
    real = sweep._folder_fingerprint
    monkeypatch.setattr(sweep, "_folder_fingerprint",
                        lambda folder: "edited" if folder == edited else real(folder))
    after = {name: sweep.code_fingerprint(c) for name, c in configs.items()}
    assert after["essop"] == before["essop"] and after["tinymac"] == before["tinymac"]
    assert after["fp16"] != before["fp16"]
    # tinymac lives outside the package: its own folder is what it adds
    assert get_datapath("tinymac").source_dir == PLUGINS / "tinymac"


def test_iso_throughput_with_a_baseline_whose_timing_needs_hints(plugins, trace, tmp_path):
    out = tmp_path / "iso_hints"
    assert main(["run", "--trace", str(trace), "-o", str(out), "-q", "--compare", "tinymac",
                 "--iso", "throughput"]) == 0
    report = json.loads((out / "report.json").read_text())
    design = sum(r["time_s"] for r in report["rows"])
    base = sum(r["time_s"] / r["vs_tinymac_time_ratio"] for r in report["rows"])
    macs = report["meta"]["baselines"]["tinymac"]["config"]["tinymac"]["macs"]
    assert base <= design * (1 + 1e-12)
    fewer = load_config(overrides={"datapath": "tinymac", "tinymac.macs": macs - 1})
    assert macs == 1 or sum(r["time_s"] for r in simulate(fewer, trace).rows) > design
