"""Hostile inputs and faults (issue 17): every one is a one-line error naming the file or key
(exit 1, no traceback), nothing that existed before is lost or mixed, nothing hangs or blows up,
and no worker outlives its sweep."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import essop_sim.report.io as rio
from essop_sim.cli import main
from essop_sim.fsutil import output_lock
from essop_sim.trace import TraceWriter, load_trace, make_synthetic_trace

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [("fc1", "linear", 12, 6, 24), ("fc2", "linear", 6, 3, 16)]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *names: str, limit: int = 600) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("essop-sim: error: ") and "Traceback" not in err, err
    assert len(lines[0]) < limit, lines[0]
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    return make_synthetic_trace(tmp_path_factory.mktemp("t") / "tr", LAYERS, seed=1)


def write_spec(directory: Path, trace, name="spec.yaml", **grid) -> Path:
    spec = {"traces": [str(trace)], "grid": grid or {"essop.bitstream_length": [8, 16]}}
    path = directory / name
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def previous_run(tmp_path, trace, capsys):
    out = tmp_path / "out"
    assert cli(capsys, "run", "-q", "--trace", trace, "-o", out)[0] == 0
    return out, snapshot(out)


# ----------------------------------------------------------------------------- data mixed or lost


@pytest.mark.parametrize("failing", [0, 1, 2, 3])  # csv, json, parquet, the commit record
def test_a_full_disk_at_any_file_keeps_the_previous_set_whole(previous_run, trace, capsys,
                                                              monkeypatch, failing):
    out, before = previous_run
    calls = []
    real_synced, real_atomic = rio._write_synced, rio.atomic_write

    def enospc(counted, real):
        def write(path, *args, **kwargs):
            calls.append(path)
            if len(calls) - 1 == failing:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            return counted(path, *args, **kwargs)
        return write

    monkeypatch.setattr(rio, "_write_synced", enospc(real_synced, None))
    monkeypatch.setattr(rio, "atomic_write", enospc(real_atomic, None))
    if failing == 2 and not rio.have_parquet():
        pytest.skip("no pyarrow: no parquet file")
    code, _, err = cli(capsys, "run", "-q", "--trace", trace, "-o", out,
                       "--set", "essop.bitstream_length=8")
    assert code == 1
    one_line_error(err, "No space left on device")
    assert snapshot(out) == before  # every file of the previous set, byte for byte; no leftover


def test_a_writer_killed_among_the_renames_is_rolled_forward(previous_run, trace, monkeypatch):
    out, before = previous_run
    real = os.replace
    moves = []

    def killed(src, dst):
        if Path(dst).parent == out and len(moves) == 1:
            raise KeyboardInterrupt  # killed after the first file was moved into place
        moves.append(dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        rio.write_table([{"layer": "x", "cycles": 1}], out, "report", {"run": "new"})
    monkeypatch.undo()
    assert (out / ".report.commit").exists()
    rows = rio.read_rows(out / "report.json")  # a reader finishes the interrupted commit
    assert rows == [{"layer": "x", "cycles": 1}] == rio.read_rows(out / "report.csv")
    assert not (out / ".report.commit").exists()
    assert not [p for p in out.iterdir() if p.suffix == ".tmp"]


def _hold_lock(directory: Path) -> subprocess.Popen:
    code = ("import sys, time; from essop_sim.fsutil import output_lock\n"
            "with output_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory)], env=ENV,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_into_one_directory_is_refused(previous_run, trace, capsys,
                                                       monkeypatch, tmp_path):
    out, before = previous_run
    monkeypatch.setattr(rio, "LOCK_WAIT_S", 0.3)
    holder = _hold_lock(out)
    try:
        code, _, err = cli(capsys, "run", "-q", "--trace", trace, "-o", out)
        assert code == 1
        one_line_error(err, str(out), f"pid {holder.pid}", "is writing into this directory")
        code, _, err = cli(capsys, "sweep", write_spec(tmp_path, trace), "-o", out,
                           "--no-progress")
        assert code == 1
        one_line_error(err, "is writing into this directory")
    finally:
        holder.kill()
        holder.wait()
    with output_lock(out):  # the kernel released the killed holder's lock
        pass
    assert snapshot(out) == before  # (and its lock file went with the next holder)


def test_another_specs_points_are_refused_unless_fresh(tmp_path, trace, capsys):
    out = tmp_path / "out"
    spec_a = write_spec(tmp_path, trace, "a.yaml")
    assert cli(capsys, "sweep", spec_a, "-o", out, "--no-progress")[0] == 0
    before = snapshot(out)
    spec_b = write_spec(tmp_path, trace, "b.yaml", **{"essop.array.rows": [4, 8]})
    code, _, err = cli(capsys, "sweep", spec_b, "-o", out, "--no-progress")
    assert code == 1
    one_line_error(err, str(out), "another sweep spec", "--fresh")
    assert snapshot(out) == before
    assert cli(capsys, "sweep", spec_b, "-o", out, "--no-progress", "--fresh")[0] == 0
    ids = {r["point_id"] for r in rio.read_rows(out / "sweep.csv")}
    assert {p.stem for p in (out / "points").iterdir()} == ids and len(ids) == 2


def test_an_edited_point_file_is_recomputed(tmp_path, trace, capsys):
    out = tmp_path / "out"
    spec = write_spec(tmp_path, trace)
    assert cli(capsys, "sweep", spec, "-o", out, "--no-progress")[0] == 0
    table = (out / "sweep.csv").read_bytes()
    point = sorted((out / "points").iterdir())[0]
    record = json.loads(point.read_text())
    record["rows"][0]["cycles"] += 1  # valid JSON, plausible, wrong
    point.write_text(json.dumps(record))
    from essop_sim.sweep import run_sweep

    result = run_sweep(spec, out, progress=False)
    assert result.computed == [point.stem]
    assert (out / "sweep.csv").read_bytes() == table


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_point_file_that_is_not_a_regular_file_is_refused(tmp_path, trace, capsys, kind):
    out = tmp_path / "out"
    spec = write_spec(tmp_path, trace)
    assert cli(capsys, "sweep", spec, "-o", out, "--no-progress")[0] == 0
    point = sorted((out / "points").iterdir())[0]
    point.unlink()
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(point)
    else:
        point.mkdir()
    code, _, err = cli(capsys, "sweep", spec, "-o", out, "--no-progress")
    assert code == 1
    one_line_error(err, point.name, kind)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_trace_overwrite_killed_between_the_renames_is_put_back(tmp_path):
    path = tmp_path / "t"
    x, d = np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)
    with TraceWriter(path, model="old", dataset="d") as w:
        w.add("fc", "linear", 0, x, d)
    pid = _dead_pid()
    # what a writer killed between "old trace away" and "new trace in" leaves behind
    os.rename(path, tmp_path / f".t.old-{pid}-0a0b0c0d")
    (tmp_path / f".t.partial-{pid}-01020304").mkdir()
    (tmp_path / f".t.partial-{pid}-01020304" / "junk.npy").write_bytes(b"x")
    assert load_trace(path).manifest["model"] == "old"  # the next open puts it back
    with TraceWriter(path, model="new", dataset="d", overwrite=True) as w:
        w.add("fc", "linear", 0, 2 * x, d)
    assert load_trace(path).manifest["model"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # stale leftovers removed


# ----------------------------------------------------------------------------- workers and kills


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@linux_only
@pytest.mark.parametrize("backend", [("-j", "2"), ("-j", "2", "--dask", "local")],
                         ids=["process-pool", "dask-local"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_a_parallel_sweep_leaves_no_live_worker(tmp_path, trace, sig, backend):
    spec = write_spec(tmp_path, trace, **{"essop.bitstream_length": [8, 16, 32, 64, 128, 256],
                                          "seed": list(range(20))})
    proc = subprocess.Popen([sys.executable, "-m", "essop_sim.cli", "sweep", str(spec), "-o",
                             str(tmp_path / "out"), *backend, "--no-progress"], env=ENV,
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline, workers = time.monotonic() + 60, set()
    while time.monotonic() < deadline and len(workers) < 2:
        workers = {c for c in _children(proc.pid)
                   if b"multiprocessing" in Path(f"/proc/{c}/cmdline").read_bytes()}
        time.sleep(0.1)
    assert len(workers) >= 2, "the pool never started"
    time.sleep(1.0)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]


def _kills_then_resume(tmp_path, trace, capsys, kills_wanted: int, seeds: int) -> None:
    """SIGKILL a serial sweep ``kills_wanted`` times at random moments once it has started
    writing points, resume, and compare with an uninterrupted run, byte for byte."""
    bls = [8, 16, 32, 64]
    spec = write_spec(tmp_path, trace, **{"essop.bitstream_length": bls,
                                          "seed": list(range(seeds))})
    ref = tmp_path / "ref"
    started = time.monotonic()
    assert cli(capsys, "sweep", spec, "-o", ref, "--no-progress")[0] == 0
    # A kill lands within a few points' time of a new point appearing (a fixed delay would let
    # a fast machine finish the sweep first: no kill at all)
    point_time = (time.monotonic() - started) / (len(bls) * seeds)
    out, rng = tmp_path / "out", random.Random(17)
    argv = [sys.executable, "-m", "essop_sim.cli", "sweep", str(spec), "-o", str(out),
            "--no-progress"]
    kills, points = 0, out / "points"
    for _ in range(kills_wanted):  # SIGKILL at a random moment once points are being written
        before = len(list(points.glob("*.json"))) if points.exists() else 0
        proc = subprocess.Popen(argv, env=ENV, stderr=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while (proc.poll() is None and time.monotonic() < deadline
               and (not points.exists() or len(list(points.glob("*.json"))) <= before)):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, min(0.5, 3 * point_time)))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
    assert kills >= 1
    assert cli(capsys, "sweep", spec, "-o", out, "--no-progress")[0] == 0
    for name in ("sweep.csv", "sweep.json"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_random_kills_then_resume_give_the_identical_table(tmp_path, trace, capsys):
    _kills_then_resume(tmp_path, trace, capsys, kills_wanted=4, seeds=6)


@pytest.mark.benchmark  # about 1-2 min: run with `pytest -m benchmark tests/test_hostile.py`
def test_twenty_random_kills_then_resume_give_the_identical_table(tmp_path, trace, capsys):
    _kills_then_resume(tmp_path, trace, capsys, kills_wanted=20, seeds=16)


# ----------------------------------------------------------------------------- hangs and memory


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path, capsys):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    lines.append("essop:\n  bitstream_length: *a9")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    code, _, err = cli(capsys, "validate", bomb)
    assert code == 1 and time.monotonic() - started < 5
    one_line_error(err, str(bomb), "alias")


@pytest.mark.parametrize("text, what", [
    ("essop: " + "[" * 5000 + "]" * 5000 + "\n", "nesting"),
    ("a: &a [*a]\n", "recursive"),
    ("seed: " + "7" * 5000 + "\n", "integer too long"),
    ("essop:\n  bitstream_length: 8\nessop:\n  bitstream_length: 16\n", "each key once"),
])
def test_pathological_yaml_is_one_line(tmp_path, capsys, text, what):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    code, _, err = cli(capsys, "validate", path)
    assert code == 1
    one_line_error(err, str(path), what)


def _manifest_of(trace_dir: Path) -> dict:
    return json.loads((trace_dir / "manifest.json").read_text())


def _copy_trace(trace, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(trace, tmp_path / "copy"))


@pytest.mark.parametrize("edit, what", [
    (lambda m: json.dumps(m)[:-1] + ', "deep": ' + "[" * 100000 + "]" * 100000 + "}",
     "nested too deeply"),
    (lambda m: json.dumps(m).replace('"step": 0', '"step": ' + "9" * 5000, 1), "manifest"),
    (lambda m: json.dumps({**m, "records": [], "steps": []}), "no records"),
    (lambda m: json.dumps(m).replace(json.dumps(m["model"]), '"\\ud800"', 1), "surrogate"),
])
def test_a_hostile_manifest_is_one_line(tmp_path, trace, capsys, edit, what):
    copy = _copy_trace(trace, tmp_path)
    (copy / "manifest.json").write_text(edit(_manifest_of(copy)))
    for argv in (["trace", "info", copy], ["run", "-q", "--trace", copy, "-o", tmp_path / "o"]):
        code, _, err = cli(capsys, *argv)
        assert code == 1
        one_line_error(err, "manifest.json", what)
    assert not (tmp_path / "o").exists()


def test_a_garbage_npy_header_is_one_line(tmp_path, trace, capsys):
    copy = _copy_trace(trace, tmp_path)
    array = copy / _manifest_of(copy)["records"][0]["files"]["x"]["file"]
    data = bytearray(array.read_bytes())
    data[10:60] = b"{'descr': 5, 'shape': 'no', 'fortran_order': [}".ljust(50)
    array.write_bytes(bytes(data))
    code, _, err = cli(capsys, "run", "-q", "--trace", copy, "-o", tmp_path / "o")
    assert code == 1
    one_line_error(err, array.name)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_in_place_of_a_trace_array_is_refused_not_waited_on(tmp_path, trace):
    copy = _copy_trace(trace, tmp_path)
    array = copy / _manifest_of(copy)["records"][0]["files"]["delta"]["file"]
    array.unlink()
    os.mkfifo(array)
    proc = subprocess.run([sys.executable, "-m", "essop_sim.cli", "run", "-q", "--trace",
                           str(copy), "-o", str(tmp_path / "o")], env=ENV, timeout=60,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    one_line_error(proc.stderr, array.name, "fifo")


def test_a_tiny_trace_declaring_a_huge_layer_is_refused_with_the_estimate(tmp_path, capsys):
    path = tmp_path / "huge"
    n = m = 200_000
    with TraceWriter(path, model="m", dataset="d") as w:
        w.add("wide", "linear", 0, np.ones((1, n), np.float32), np.ones((1, m), np.float32))
    started = time.monotonic()
    code, _, err = cli(capsys, "run", "--no-numerics", "--trace", path, "-o", tmp_path / "o")
    assert code == 1 and time.monotonic() - started < 10
    one_line_error(err, str(path), "200,000 x 200,000", "of memory", "--force")


def test_the_memory_limit_is_overridden_by_force(tmp_path, trace, capsys, monkeypatch):
    monkeypatch.setenv("ESSOP_SIM_MAX_MEMORY", "100")
    argv = ["run", "-q", "--trace", trace, "-o", tmp_path / "o"]
    code, _, err = cli(capsys, *argv)
    assert code == 1
    one_line_error(err, "ESSOP_SIM_MAX_MEMORY", "--force")
    assert cli(capsys, *argv, "--force")[0] == 0
    assert (tmp_path / "o" / "report.csv").is_file()


def test_a_huge_sweep_is_refused_before_expanding_and_force_is_honoured(tmp_path, trace,
                                                                        capsys, monkeypatch):
    spec = write_spec(tmp_path, trace, **{"essop.bitstream_length": list(range(1, 1001)),
                                          "seed": list(range(1000))})
    started = time.monotonic()
    code, _, err = cli(capsys, "sweep", spec, "-o", tmp_path / "o", "--no-progress")
    assert code == 1 and time.monotonic() - started < 10
    one_line_error(err, str(spec), "1,000,000 points", "--force")
    import essop_sim.sweep as sweep_mod

    monkeypatch.setattr(sweep_mod, "MAX_POINTS", 1)
    small = write_spec(tmp_path, trace, "small.yaml")
    assert cli(capsys, "sweep", small, "-o", tmp_path / "s", "--no-progress")[0] == 1
    assert cli(capsys, "sweep", small, "-o", tmp_path / "s", "--no-progress", "--force")[0] == 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dask_refused_connection_is_one_line_within_the_timeout(tmp_path, trace, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    code, _, err = cli(capsys, "sweep", write_spec(tmp_path, trace), "-o", tmp_path / "o",
                       "--no-progress", "--dask", address, "--dask-timeout", "2")
    assert code == 1 and time.monotonic() - started < 30
    one_line_error(err, address, "no Dask scheduler answered")


def test_dask_scheduler_without_workers_is_reported(tmp_path, trace, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        code, _, err = cli(capsys, "sweep", write_spec(tmp_path, trace), "-o", tmp_path / "o",
                           "--no-progress", "--dask", cluster.scheduler_address,
                           "--dask-timeout", "1")
    assert code == 1
    one_line_error(err, "no worker is connected")


# ----------------------------------------------------------------------------- one-line errors


def test_output_paths_that_cannot_be_written(tmp_path, trace, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    for out in (a_file, a_file / "sub"):
        code, _, err = cli(capsys, "run", "-q", "--trace", trace, "-o", out)
        assert code == 1
        one_line_error(err, str(a_file))
    assert a_file.read_text() == "keep me"
    code, _, err = cli(capsys, "run", "-q", "--trace", trace, "-o", "")
    assert code == 1
    one_line_error(err, "--output")


def test_plot_without_a_table(tmp_path, capsys):
    for path in (tmp_path / "missing", tmp_path):
        code, _, err = cli(capsys, "plot", path)
        assert code == 1
        one_line_error(err, str(path))


def test_non_utf8_config_and_cost_table(tmp_path, capsys):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("essop:\n  bitstream_length: 8 # \xe9\n".encode("latin-1"))
    code, _, err = cli(capsys, "validate", bad)
    assert code == 1
    one_line_error(err, str(bad), "UTF-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"cost:\n  table: {bad}\n")
    code, _, err = cli(capsys, "validate", cfg)
    assert code == 1
    one_line_error(err, str(bad), "UTF-8")


@pytest.mark.parametrize("table", ["missing.yaml", "a_dir", "passwd"])
def test_validate_checks_the_cost_table(tmp_path, capsys, table):
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "passwd").write_text("root:x:0:0:SECRET-TEXT:/root:/bin/bash\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"cost:\n  table: {tmp_path / table}\n")
    code, _, err = cli(capsys, "validate", cfg)
    assert code == 1
    line = one_line_error(err, table)
    assert "SECRET" not in line


def test_every_config_error_is_reported(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("essop:\n  bitstream_length: -4\n  nonsense: 1\nmemory:\n  clock_hz: -1\n")
    code, _, err = cli(capsys, "validate", cfg)
    assert code == 1
    one_line_error(err, f"{cfg}: 3 errors", "essop.bitstream_length", "essop.nonsense",
                   "memory.clock_hz", limit=1000)


def test_escape_sequences_in_layer_names_are_printed_safely(tmp_path, capsys):
    path = tmp_path / "evil"
    with TraceWriter(path, model="\x1b]0;pwned\x07", dataset="d") as w:
        w.add("\x1b[2J\x1b[31mfc", "linear", 0, np.ones((2, 3), np.float32),
              np.ones((2, 4), np.float32))
    for argv in (["trace", "info", path], ["run", "--trace", path, "-o", tmp_path / "o"]):
        code, out, err = cli(capsys, *argv)
        assert code == 0 and "\x1b" not in out + err and "\\x1b[2J" in out


def _dump_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("dump_traces_cli",
                                                  ROOT / "scripts" / "dump_traces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fault", ["sigint", "enospc"])
def test_the_dump_script_on_ctrl_c_or_a_full_disk_writes_no_partial_trace(tmp_path, capsys,
                                                                          monkeypatch, fault):
    pytest.importorskip("torch")  # the optional torch extra (the script trains); CI installs it
    script = _dump_script()
    out = tmp_path / "trace"

    def run(args, argv):   # the real writer, interrupted after its first record
        with TraceWriter(out, model="m", dataset="d") as writer:
            writer.add("fc", "linear", 0, np.ones((2, 3), np.float32),
                       np.ones((2, 4), np.float32))
            if fault == "sigint":
                raise KeyboardInterrupt
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))

    monkeypatch.setattr(script, "run", run)
    code = script.cli(["--model", "mlp", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == (130 if fault == "sigint" else 1)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name != "trace"]
