"""The RTL ESSOP tile (essop_sim.rtl) against the numerics and the timing event model.

The CI subset: tiny tiles (<= 4 x 4, BL <= 32, K <= 5). The full set (array up to 8 x 8, BL up
to 64, K up to 8, 40+ configurations) is ``essop-sim rtl check --full``.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("amaranth", minversion="0.5")

from essop_sim.numerics.lfsr import RngBanks  # noqa: E402
from essop_sim.rtl import cases as rtl_cases  # noqa: E402
from essop_sim.rtl import check as rtl_check  # noqa: E402
from essop_sim.rtl.essop_tile import EssopTile  # noqa: E402
from essop_sim.rtl.lfsr import LfsrBank, seed_state  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUICK = rtl_cases.quick_cases()


def test_import_without_amaranth_is_one_clear_line():
    code = ("import sys; sys.modules['amaranth'] = None\n"
            "try:\n    import essop_sim.rtl\nexcept Exception as exc:\n"
            "    from essop_sim.errors import EssopSimError\n"
            "    print(type(exc).__name__, isinstance(exc, EssopSimError),"
            " isinstance(exc, ImportError)); print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, check=True).stdout
    head, message = out.splitlines()
    assert head == "RtlDependencyError True True"
    assert 'pip install -e ".[rtl]"' in message and "amaranth" in message


def test_nothing_outside_rtl_imports_amaranth():
    pattern = re.compile(r"^\s*(import|from)\s+amaranth", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "essop_sim").rglob("*.py")
                 if "rtl" not in p.relative_to(ROOT / "essop_sim").parts[:1]
                 and pattern.search(p.read_text())]
    assert offenders == []


@pytest.mark.parametrize("case", QUICK, ids=[c.name for c in QUICK])
def test_quick_case_matches_numerics_and_timing(case):
    res = rtl_check.check_tile(case.config, case.x, case.delta, tile=case.tile,
                               repeat=case.repeat)
    assert res.mismatches == []
    np.testing.assert_array_equal(res.raw_rtl, res.raw_model)
    assert res.ready_rtl == res.ready_model > 0
    assert res.busy_rtl == res.busy_model
    if case.repeat == 1:   # final at e_last + P + 1: the P stages, then the accumulate stage
        e_last = res.first_stream_rtl + res.busy_rtl["rng_bank"]
        assert res.ready_rtl == e_last + case.config.essop.pipeline_stages + 1
    assert res.busy_rtl["and_array"] == case.repeat * case.x.shape[0] * -(
        -case.config.essop.bitstream_length // case.config.essop.bits_per_cycle)
    assert np.any(res.raw_model != 0)          # every quick case accumulates something
    if case.overflow:
        assert res.counter_overflows[0] == res.counter_overflows[1] > 0
    if case.saturation:
        assert res.accumulator_saturations[0] == res.accumulator_saturations[1] > 0


def test_quick_set_covers_the_options():
    names = {c.name for c in QUICK}
    assert {"counter_overflow_wrap", "counter_overflow_saturate", "acc_saturation_wrap",
            "acc_saturation_saturate", "zero_rows", "partial_step", "fanout_g2"} <= names
    essops = [c.config.essop for c in QUICK]
    assert {e.rng.sharing for e in essops} == {"vector", "element"}
    assert {e.rng.sequence for e in essops} == {"continue", "restart"}
    assert {e.rng.kind for e in essops} == {"lfsr", "ideal"}
    assert {e.bits_per_cycle for e in essops} >= {1, 2}
    assert len({e.rng.lfsr_bits for e in essops}) >= 2


def test_full_set_size_and_coverage():
    full = rtl_cases.full_cases()
    assert len(full) >= 20
    essops = [c.config.essop for c in full]
    assert max(max(e.array.rows, e.array.cols) for e in essops) == 8
    assert max(e.bitstream_length for e in essops) == 64
    assert max(c.x.shape[0] for c in full) == 8
    assert {e.overflow for e in essops} == {"saturate", "wrap"}
    assert len({e.rng.lfsr_bits for e in essops if e.rng.kind == "lfsr"}) >= 4


@pytest.mark.parametrize("L, w, spn, lanes, bl", [(16, 8, None, 1, 8), (16, 8, None, 2, 7),
                                                   (5, 5, None, 3, 10), (12, 6, 11, 2, 9)])
def test_lfsr_bank_numbers_equal_the_numerics(L, w, spn, lanes, bl):
    """The leap-forward bank presents the numerics' numbers in order, b per cycle, and a
    partial advance on the last bit step keeps k-steps on numbers k*BL .. k*BL + BL - 1."""
    from amaranth.sim import Simulator

    from essop_sim.numerics.lfsr import DEFAULT_TAPS

    K = 3
    ref = RngBanks("lfsr", "x", 1, w, 11, L, None, spn).take(K * bl)[:, 0].tolist()
    nb = -(-bl // lanes)
    tail = bl - (nb - 1) * lanes
    bank = LfsrBank(L, DEFAULT_TAPS[L][0], w, spn or w, lanes, tail, seed_state(11, 0, L))
    got = []

    async def bench(ctx):
        ctx.set(bank.advance, 1)
        for _ in range(K):
            for step in range(nb):
                last = step == nb - 1
                ctx.set(bank.partial, int(last))
                got.extend(ctx.get(n) for n in bank.numbers[:tail if last else lanes])
                await ctx.tick()

    sim = Simulator(bank)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == ref


def _patched_check(monkeypatch, change):
    real = rtl_check.tile_params
    monkeypatch.setattr(rtl_check, "tile_params",
                        lambda *a, **k: dataclasses.replace(real(*a, **k), **change))
    case = next(c for c in QUICK if c.name == "partial_step")
    return rtl_check.check_tile(case.config, case.x, case.delta)


def test_check_reports_a_wrong_seed(monkeypatch):
    res = _patched_check(monkeypatch, {"seed": 12345})
    assert not res.passed
    assert any(line.startswith("acc[") for line in res.mismatches)
    assert res.ready_rtl == res.ready_model       # timing does not depend on the numbers


def test_check_reports_a_wrong_latency(monkeypatch):
    res = _patched_check(monkeypatch, {"pipeline_stages": 3})   # configured: 2
    assert res.ready_rtl == res.ready_model + 1
    assert res.mismatches == [f"results final at cycle: rtl {res.ready_rtl}, event model "
                              f"{res.ready_model}"]


def test_tile_elaborates_standalone_with_named_blocks():
    from amaranth.back import rtlil

    cfg = rtl_cases.essop_config(3, 2, bitstream_length=8, bits_per_cycle=2, rng_fanout=1)
    tile = EssopTile(cfg)                       # the configured array, 3 x 2
    assert (tile.p.rows, tile.p.cols, tile.p.broadcast) == (3, 2, 3)
    text = rtlil.convert(tile, ports=tile.ports())
    for block in ("shift_scaler", "lfsr", "comparators", "pipeline", "and_array", "counters",
                  "accumulators", "control"):
        assert re.search(rf"^module \\top\.{block}$", text, re.MULTILINE), block


def test_check_record_on_the_shipped_trace():
    from essop_sim.trace import default_trace_path, load_trace

    record = load_trace(default_trace_path()).records[1]
    cfg = rtl_cases.essop_config(4, 4, bitstream_length=16, bits_per_cycle=2)
    res = rtl_check.check_record(cfg, record, tile=1, max_k=3)
    assert res.mismatches == []
    assert (res.rows, res.cols, res.K) == (4, 4, 3)
    assert res.counter_overflows is None        # a tile of a larger update
