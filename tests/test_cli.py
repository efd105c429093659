"""The command line: help with examples, exit codes 0 / 1 / 2, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from essop_sim.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["run"], ["sweep"], ["plot"], ["validate"],
                                     ["trace", "info"], ["config"]])
def test_every_command_help_shows_an_example(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "essop-sim " + command[0] in out


def test_validate_ok_exits_0(capsys):
    assert main(["validate", str(ROOT / "configs" / "essop_14nm.yaml")]) == 0
    assert "ok" in capsys.readouterr().out


def test_input_error_exits_1_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("essop:\n  bitstream_length: -4\n")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "essop.bitstream_length" in err and str(bad) in err


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nope: 1\n")
    from essop_sim.errors import ConfigError

    with pytest.raises(ConfigError):
        main(["--debug", "validate", str(bad)])


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--no-such-flag"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_config_lists_every_key(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "essop.bitstream_length = 64 [bits]" in out
    assert "memory.read_bandwidth" in out


def test_every_flag_reaches_its_command():
    """No flag is accepted and ignored: each parsed option names a real parameter."""
    parser = build_parser()
    args = parser.parse_args(["run", "-c", "c.yaml", "-t", "t", "-o", "o", "--set", "a=1",
                              "--layers", "l", "--steps", "3", "--no-numerics", "-q"])
    assert (args.config, args.trace, args.output, args.set) == ("c.yaml", "t", "o", ["a=1"])
    assert args.layers == ["l"] and args.steps == [3] and args.no_numerics and args.quiet


def test_sweep_and_plot_flags_are_parsed_into_their_parameters():
    parser = build_parser()
    args = parser.parse_args(["sweep", "s.yaml", "-o", "o", "-j", "2", "--dask", "local",
                              "--fresh", "--no-progress"])
    assert (args.jobs, args.dask, args.fresh, args.no_progress) == (2, "local", True, True)
    args = parser.parse_args(["plot", "r", "--only", "error_vs_bl", "--point", "abc",
                              "--format", "pdf"])
    assert (args.only, args.point, args.format) == (["error_vs_bl"], "abc", ["pdf"])


def test_first_numba_compilation_is_announced_once(capsys, monkeypatch):
    # numba fires 'numba:compile' only on a cache miss: a fresh (uncached) kernel stands in
    # for a cold cache on a fresh install.
    import numba
    from numba.core import event

    from essop_sim import first_use

    monkeypatch.setattr(first_use, "_installed", False)   # as in a fresh process
    monkeypatch.setattr(first_use, "_said", False)
    listener = first_use.announce_compilation()
    try:
        assert first_use.announce_compilation() is None   # idempotent: one listener
        numba.njit(lambda v: v + 1)(1)
        numba.njit(lambda v: v * 3)(2)
    finally:
        event.unregister("numba:compile", listener)
    err = capsys.readouterr().err
    assert err.count("compiling numba kernels for first use") == 1 and "cached in" in err


def test_run_compare_explains_savings_and_says_it_replaces_a_report(tmp_path, capsys):
    from essop_sim.trace import make_synthetic_trace

    trace = make_synthetic_trace(tmp_path / "t", [("fc", "linear", 4, 3, 4)], seed=0)
    args = ["run", "-q", "--trace", str(trace), "-o", str(tmp_path / "out"), "--compare", "fp16"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "replacing" not in first.err
    assert "saving = 1 - design/baseline" in first.out and "gain = baseline/design - 1" in first.out
    assert "compute area" in first.out
    assert "all rows vs fp16: energy saving" in first.out and "area x time saving" in first.out
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("replaced the existing report") == 1 and str(tmp_path / "out") in err


def test_config_from_stdin_and_from_a_pipe(tmp_path, monkeypatch, capsys):
    import io
    import os
    import threading

    monkeypatch.setattr("sys.stdin", io.StringIO("essop:\n  bitstream_length: 32\n"))
    assert main(["validate", "-"]) == 0
    assert capsys.readouterr().out.startswith("-: ok")
    monkeypatch.setattr("sys.stdin", io.StringIO("essop:\n  bitstream_length: -4\n"))
    assert main(["validate", "-"]) == 1
    err = capsys.readouterr().err
    assert "<stdin>" in err and "essop.bitstream_length" in err
    fifo = tmp_path / "cfg.fifo"   # what bash's <(...) gives: a pipe, not a regular file
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "w") as f:
            f.write("essop:\n  bitstream_length: 16\n")

    thread = threading.Thread(target=writer)
    thread.start()
    from essop_sim.config import load_config

    assert load_config(fifo).essop.bitstream_length == 16
    thread.join()
    assert main(["validate", str(tmp_path)]) == 1   # a directory is still refused
    assert str(tmp_path) in capsys.readouterr().err


def test_config_prints_yaml_values_and_version_is_available(capsys):
    import yaml

    import essop_sim

    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "memory.shared_port = false" in out and "essop.rng.taps_x = null" in out
    assert "essop.rng.sharing = vector" in out
    for line in out.splitlines():
        if " = " in line and not line.startswith((" ", "#")):
            value = line.split(" = ", 1)[1].split(" [")[0]
            assert "None" not in value and "False" not in value and "True" not in value
            yaml.safe_load(value)  # every default is a YAML value
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"essop-sim {essop_sim.__version__}"


def test_the_parser_and_run_do_not_import_plotting(tmp_path):
    # matplotlib costs ~0.3 s of start-up: only `plot` may import it
    code = ("import sys; from essop_sim.cli import build_parser, main; build_parser(); "
            f"main(['run', '-q', '--no-numerics', '-o', {str(tmp_path / 'r')!r}]); "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_plot_only_an_unknown_figure_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "report.csv").write_text("layer,step,cycles\nfc,0,10\n")
    assert main(["plot", str(tmp_path), "--only", "nosuch"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuch" in err and "cycles_vs_bl" in err
