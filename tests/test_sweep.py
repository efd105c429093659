"""Sweeps: spec validation and expansion, end-to-end runs on the real simulator, resume after an
interruption, and identical tables from the serial, process-pool and Dask backends."""

from __future__ import annotations

import io
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import pytest
import yaml

import essop_sim.sweep as sweep_mod
from essop_sim.errors import ConfigError, TraceError
from essop_sim.report.io import read_rows
from essop_sim.report.plots import FIGURES, plot_results
from essop_sim.sweep import SweepError, expand_sweep, load_sweep, run_sweep
from essop_sim.trace import make_synthetic_trace

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [("fc1", "linear", 12, 6, 24), ("fc2", "linear", 6, 3, 16)]
GRID = {"essop.bitstream_length": [8, 16, 32], "essop.array.rows": [4, 8],
        "essop.array.cols": [4, 8]}
ZIP = [["essop.array.rows", "essop.array.cols"]]


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    root = tmp_path_factory.mktemp("traces")
    return [make_synthetic_trace(root / "a", LAYERS, seed=1),
            make_synthetic_trace(root / "b", LAYERS[:1], seed=2)]


def write_spec(directory: Path, name: str = "spec.yaml", **spec) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def small_spec(directory: Path, trace_dirs, **changes) -> Path:
    spec = {"base": {"essop": {"comparator_bits": 8}}, "traces": [str(trace_dirs[0])], "seed": 3,
            "grid": GRID, "zip": ZIP, "extra": [{"datapath": "fp16"}]}
    spec.update(changes)
    return write_spec(directory, **spec)


# ----------------------------------------------------------------------------- expansion


def test_expansion_order_grid_then_extra_with_trace_fastest(tmp_path, traces):
    spec = small_spec(tmp_path, traces, traces=[str(t) for t in traces])
    points = expand_sweep(spec)
    assert len(points) == (3 * 2 + 1) * 2
    assert [p.index for p in points] == list(range(14))
    first = points[0]
    assert dict(first.assignments) == {"essop.bitstream_length": 8, "essop.array.rows": 4,
                                       "essop.array.cols": 4}
    assert first.trace == str(traces[0]) and points[1].trace == str(traces[1])
    assert dict(points[2].assignments)["essop.array.rows"] == 8  # zipped axis advances last
    assert dict(points[4].assignments)["essop.bitstream_length"] == 16
    assert points[4].config.essop.array.cols == 4 and points[4].config.seed == 3
    fp16 = points[-1]
    assert dict(fp16.assignments) == {"datapath": "fp16"}
    # swept columns hold the effective configuration value, also where a point did not set them
    assert dict(fp16.swept) == {"essop.bitstream_length": 64, "essop.array.rows": 32,
                                "essop.array.cols": 32, "datapath": "fp16"}
    assert load_sweep(spec).swept_keys == ("essop.bitstream_length", "essop.array.rows",
                                           "essop.array.cols", "datapath")
    assert len({p.point_id for p in points}) == len(points)


def test_point_ids_depend_on_content_not_on_position(tmp_path, traces):
    a = expand_sweep(small_spec(tmp_path, traces))
    assert [p.point_id for p in a] == [p.point_id for p in expand_sweep(small_spec(tmp_path,
                                                                                  traces))]
    reordered = dict(GRID, **{"essop.bitstream_length": [32, 8, 16]})
    (tmp_path / "other").mkdir()
    b = expand_sweep(small_spec(tmp_path / "other", traces, grid=reordered))
    ids_a = {p.point_id: dict(p.assignments) for p in a}
    ids_b = {p.point_id: dict(p.assignments) for p in b}
    assert ids_a == ids_b
    c = expand_sweep(small_spec(tmp_path, traces, seed=4))
    assert not {p.point_id for p in a} & {p.point_id for p in c}


def test_base_file_is_relative_to_the_spec(tmp_path, traces):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "base.yaml").write_text("essop:\n  bitstream_length: 128\n")
    (tmp_path / "sweeps").mkdir()
    spec = write_spec(tmp_path / "sweeps", base="../cfg/base.yaml", traces=[str(traces[0])],
                      grid={"essop.array.rows": [4, 8]})
    points = expand_sweep(spec)
    assert [p.config.essop.bitstream_length for p in points] == [128, 128]
    assert [p.config.essop.array.rows for p in points] == [4, 8]


BAD_SPECS = [
    ({"grids": {}}, "key 'grids'.*a sweep spec key"),
    ({"grid": {"essop.bitstream_length": []}}, "key 'grid.essop.bitstream_length'.*non-empty"),
    ({"grid": {"essop.bitstream_length": 8}}, "grid.essop.bitstream_length.*a list of values"),
    ({"grid": dict(GRID, **{"essop.array.cols": [4, 8, 16]})},
     r"key 'zip\[0\]'.*equal length.*essop.array.rows: 2, essop.array.cols: 3"),
    ({"zip": [["essop.array.rows", "essop.rng.kind"]]}, r"zip\[0\].*not a grid key"),
    ({"zip": [["essop.array.rows"], ["essop.array.rows"]]}, "at most one zip group"),
    ({"grid": {"essop.array": [{"rows": 4}], "essop.array.rows": [8]}},
     "no key nested under another swept key"),
    ({"grid": {"essop.bitstream_lenght": [8]}, "zip": []},
     r"point 0 \[essop.bitstream_lenght=8\].*key 'essop.bitstream_lenght'"),
    ({"extra": [{"datapath": "fp32"}]}, r"point 6 \[datapath='fp32'\].*key 'datapath'"),
    ({"extra": [{"essop.bitstream_length": 8, "essop.array.rows": 4, "essop.array.cols": 4}]},
     "point 6 repeats point 0"),
    ({"seed": -1}, "key 'seed'"),
    ({"traces": []}, "key 'traces'.*non-empty list"),
    ({"layers": ["nope"]}, "key 'layers'.*layer names of trace"),
    ({"numerics": "yes"}, "key 'numerics'"),
    ({"base": 3}, "key 'base'"),
]


@pytest.mark.parametrize("change, message", BAD_SPECS)
def test_bad_specs_fail_before_any_work_naming_the_key(tmp_path, traces, change, message):
    spec = small_spec(tmp_path, traces, **change)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=message) as info:
        run_sweep(spec, out, progress=False)
    assert str(spec) in str(info.value)
    assert not out.exists()  # validated before anything ran or was written


def test_a_rejected_value_names_point_index_assignments_and_key(tmp_path, traces):
    spec = small_spec(tmp_path, traces, traces=[str(t) for t in traces],
                      grid=dict(GRID, **{"essop.bitstream_length": [8, 0, 16]}))
    with pytest.raises(ConfigError) as info:
        expand_sweep(spec)
    err = info.value
    # combination 2 (BL=0, 4x4) is the 3rd combination; with 2 traces its first point is 4
    assert err.key == "essop.bitstream_length" and err.value == 0
    assert err.point_index == 4
    assert err.assignments == {"essop.bitstream_length": 0, "essop.array.rows": 4,
                               "essop.array.cols": 4}
    text = str(err)
    assert "point 4 [essop.bitstream_length=0, essop.array.rows=4, essop.array.cols=4]" in text
    assert "key 'essop.bitstream_length'" in text and "expected a value in [1," in text


def test_a_cross_field_rule_is_checked_per_point(tmp_path, traces):
    spec = small_spec(tmp_path, traces, grid={"essop.comparator_bits": [8, 14],
                                              "essop.rng.lfsr_bits": [16, 10]}, zip=[])
    with pytest.raises(ConfigError, match=r"point 3 \[essop.comparator_bits=14, "
                       r"essop.rng.lfsr_bits=10\].*key 'essop.comparator_bits'"):
        expand_sweep(spec)


def test_a_missing_trace_is_reported_before_any_work(tmp_path, traces):
    spec = small_spec(tmp_path, traces, traces=[str(traces[0]), "no/such/trace"])
    with pytest.raises(TraceError, match="no/such/trace"):
        run_sweep(spec, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def reference(tmp_path_factory, traces):
    """One serial run of the small sweep: the table every other backend must reproduce."""
    root = tmp_path_factory.mktemp("reference")
    spec = small_spec(root, traces)
    stream = io.StringIO()
    result = run_sweep(spec, root / "out", jobs=1, progress=True, stream=stream)
    return spec, root / "out", result, stream.getvalue()


def _tables(out: Path) -> tuple[bytes, bytes]:
    return (out / "sweep.csv").read_bytes(), (out / "sweep.json").read_bytes()


def test_serial_sweep_end_to_end_table_and_figures(reference, tmp_path):
    spec, out, result, progress = reference
    points = expand_sweep(spec)
    assert len(result.computed) == len(points) == 7 and result.reused == []
    assert str(result) == str(out / "sweep.csv")
    rows = read_rows(out / "sweep.csv")
    table = json.loads((out / "sweep.json").read_text())
    # the CSV reads back to the JSON's values (a cell a row lacks, e.g. an FP16-only block, is
    # empty in the CSV and absent from the JSON row)
    assert rows == [{c: r.get(c) for c in table["columns"]} for r in table["rows"]]
    assert len(rows) == 7 * len(LAYERS)
    assert list(rows[0])[:7] == ["point_index", "point_id", "trace", "essop.bitstream_length",
                                 "essop.array.rows", "essop.array.cols", "datapath"]
    assert [(r["point_index"], r["layer"]) for r in rows] == [
        (i, name) for i in range(7) for name, *_ in LAYERS]
    for r, p in zip(rows[::2], points, strict=True):
        assert r["point_id"] == p.point_id
        assert r["label"] and r.get("essop_bitstream_length") == (
            p.config.essop.bitstream_length if p.config.datapath == "essop" else None)
        assert r["cycles"] > 0 and r["energy_pj"] > 0
    essop = [r for r in rows if r["datapath"] == "essop" and r["layer"] == "fc1"]
    assert essop[0]["cycles"] < essop[2]["cycles"] < essop[4]["cycles"]  # BL 8 < 16 < 32, 4x4
    meta = table["meta"]
    assert meta["swept_keys"][-1] == "datapath" and len(meta["points"]) == 7
    assert meta["points"][6]["config"]["datapath"] == "fp16"
    assert sorted(p.name for p in (out / "points").iterdir()) == sorted(
        f"{p.point_id}.json" for p in points)
    assert "7/7 points" in progress

    notes = []  # every figure as PNG (test_plots.py checks SVG output of every figure)
    core = [name for name in FIGURES  # no bit-serial or CBRAM rows here
            if not name.startswith(("bitserial_", "cbram_"))]
    written = plot_results(out, tmp_path / "figures", formats=("png",), note=notes.append,
                           only=core)
    written += plot_results(out, tmp_path / "figures", formats=("svg",), note=notes.append,
                            only=("cycle_breakdown",))
    assert notes == []
    assert sorted(p.stem for p in written) == sorted([*core, "cycle_breakdown"])
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert matplotlib.image.imread(path).ndim == 3
        else:
            assert ET.parse(path).getroot().tag.endswith("svg")


def test_interrupted_sweep_resumes_without_recomputing(reference, tmp_path, monkeypatch):
    spec, ref_out, _, _ = reference
    out = tmp_path / "out"
    real = sweep_mod.run_point
    calls = []

    def interrupted(task):
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C while the 4th point runs
        calls.append(task["point_id"])
        return real(task)

    monkeypatch.setattr(sweep_mod, "run_point", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, progress=False)
    done = sorted((out / "points").iterdir())
    assert sorted(p.stem for p in done) == sorted(calls) and len(done) == 3
    assert not (out / "sweep.csv").exists()
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in done}

    calls.clear()
    monkeypatch.setattr(sweep_mod, "run_point", lambda task: calls.append(task["point_id"])
                        or real(task))
    result = run_sweep(spec, out, progress=False)
    assert sorted(result.reused) == sorted(p.stem for p in done)
    assert len(calls) == 4 and not set(calls) & set(before)
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in done} == before
    assert _tables(out) == _tables(ref_out)

    # a corrupt point file, or one an edited simulator produced, is recomputed; nothing else
    victim = out / "points" / f"{calls[0]}.json"
    victim.write_text('{"format": "essop-sim sweep point v1", "rows": [')
    stale = out / "points" / f"{calls[1]}.json"
    record = json.loads(stale.read_text())
    config = next(p.config for p in expand_sweep(spec) if p.point_id == stale.stem)
    assert record["code"] == sweep_mod.code_fingerprint(config)
    stale.write_text(json.dumps(dict(record, code="0123456789abcdef")))
    calls.clear()
    result = run_sweep(spec, out, progress=False)
    assert calls == [victim.stem, stale.stem] == result.computed
    assert _tables(out) == _tables(ref_out)
    assert not [p for p in (out / "points").iterdir() if p.suffix == ".tmp"]


def test_process_pool_gives_the_identical_table(reference, tmp_path):
    spec, ref_out, _, _ = reference
    result = run_sweep(spec, tmp_path / "out", jobs=2, progress=False)
    assert len(result.computed) == 7
    assert _tables(tmp_path / "out") == _tables(ref_out)


def test_dask_local_cluster_gives_the_identical_table(reference, tmp_path):
    spec, ref_out, _, _ = reference  # dask[distributed] is a dev dependency: no skip
    result = run_sweep(spec, tmp_path / "out", jobs=2, dask="local", progress=False)
    assert len(result.computed) == 7
    assert _tables(tmp_path / "out") == _tables(ref_out)


def test_dask_scheduler_address_gives_the_identical_table(reference, tmp_path):
    import distributed

    spec, ref_out, _, _ = reference
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = run_sweep(spec, tmp_path / "out", dask=cluster.scheduler_address,
                           progress=False)
        assert len(result.computed) == 7
    assert _tables(tmp_path / "out") == _tables(ref_out)


def test_dask_missing_gives_a_clear_error(reference, tmp_path, monkeypatch):
    spec = reference[0]
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(SweepError, match=r"needs dask.distributed.*pip install "
                       r"'essop-sim\[dask\]'"):
        run_sweep(spec, tmp_path / "out", dask="local", progress=False)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_point_is_named_in_the_error(reference, tmp_path, jobs):
    spec = reference[0]
    with pytest.raises(SweepError, match=r"sweep point \d \(essop.bitstream_length=.*; trace=.*"
                       r"\) failed: TypeError") as info:
        run_sweep(spec, tmp_path / "out", jobs=jobs, progress=False, simulate="json:loads")
    if jobs > 1:
        assert "Traceback" in info.value.worker_traceback


def test_jobs_must_be_positive(reference, tmp_path):
    with pytest.raises(ConfigError, match="key 'jobs'"):
        run_sweep(reference[0], tmp_path / "out", jobs=0)


def test_progress_bar_text_and_silence():
    stream = io.StringIO()
    bar = sweep_mod.ProgressBar(4, 1, stream=stream, interval=0.0)
    bar.advance()
    bar.advance(2)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("sweep [######------------------] 1/4 points | 1 reused")
    assert "4/4 points" in lines[-1] and "points/" in lines[-1] and "left" in lines[-1]
    quiet = io.StringIO()
    bar = sweep_mod.ProgressBar(4, stream=quiet, enabled=False)
    bar.advance(4)
    bar.close()
    assert quiet.getvalue() == ""


def test_the_shipped_sweep_specs_expand():
    bl_array = load_sweep(ROOT / "configs" / "sweeps" / "bl_array.yaml")
    assert len(bl_array.points) == 6 * 5 + 1
    essop = [p.config for p in bl_array.points if p.config.datapath == "essop"]
    assert sorted({c.essop.bitstream_length for c in essop}) == [8, 16, 32, 64, 128, 256]
    assert sorted({(c.essop.array.rows, c.essop.array.cols) for c in essop}) == [
        (s, s) for s in (8, 16, 32, 64, 128)]
    assert bl_array.points[-1].config.datapath == "fp16"
    assert {Path(p.trace_path).name for p in bl_array.points} == {"digits_cnn"}
    smoke = expand_sweep(ROOT / "configs" / "sweeps" / "smoke.yaml")
    assert len(smoke) == 5 and smoke[0].layers == ("conv1", "fc") and smoke[0].steps == (0,)
