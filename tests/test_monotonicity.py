"""More hardware is never slower: the monotonicity the timing spec guarantees (issue 16).

Before issue 16 the spec made a bigger operand buffer slower (a batch waited for its whole load:
default ESSOP configuration, (64, 64, 512), V = 1 131,109 cycles, V = 256 131,364) and more
FP16 multipliers slower (fixed groups of exactly M: (16, 16, 64), V = 1, read 64 bits/cycle,
M = 32 531 cycles, M = 33 593). docs/timing.md ("Monotonicity") states what holds now and why:

- operand buffer: V' a multiple of V never takes more cycles than V, on dedicated ports (tiled
  arrays) and on any port (FP16, whose only write-back follows its last load; proved for issue
  interval 1, checked here for II = 1..3). Not for every
  V' > V (a half is freed only as a whole, so with V = 3, V' = 4 k-step 8 needs four k-steps
  consumed instead of three), and not on a shared port (a longer load, never preempted, can
  hold a write-back back; pinned below);
- FP16 multipliers: M' > M never takes more cycles when the issue interval is 1. With II > 1 a
  greedy partial group holds the multipliers for II cycles and can delay a full group whose
  products arrive a cycle later (pinned below).

Checked on seeded random configurations and shapes (event model; the event model equals the
per-cycle reference on such configurations, tests/test_timing_reference.py).
"""

from __future__ import annotations

import random

import pytest
from test_timing_reference import _random_case

from essop_sim.config import config_from_mapping, load_config
from essop_sim.errors import ConfigError
from essop_sim.hw import time_update

BUFFERS = (1, 2, 3, 4, 6, 8, 12, 24)
MULTIPLIERS = (1, 2, 3, 4, 5, 6, 8, 16, 32, 33, 64)
N_CONFIGS = 150


def _cycles(overrides: dict, shape, **more):
    try:
        config = config_from_mapping(None, overrides={**overrides, **more})
    except ConfigError:
        return None
    hints = {"precision": 8} if config.datapath == "bitserial" else None   # its timing hint
    return time_update(config, *shape, hints=hints)


def _configs(datapath: str, seed: int):
    """Random configurations (overrides) and shapes with K tripled (several batches)."""
    rng = random.Random(seed)
    while True:
        over, (m, n, K) = _random_case(rng, datapath)
        yield over, (m, n, 3 * K)


@pytest.mark.parametrize("datapath", ["essop", "bitserial", "cbram", "fp16"])
def test_a_bigger_operand_buffer_is_never_slower(datapath):
    """cycles(V') <= cycles(V) whenever V divides V' (dedicated ports for the tiled arrays;
    FP16 on any port); the fill (first k-step's vectors + front end) does not depend on V."""
    checked = 0
    for over, shape in _configs("fp16" if datapath == "fp16" else "essop", 1616):
        if datapath != "fp16":
            over = {**over, "memory.shared_port": False}
        if datapath in ("bitserial", "cbram"):
            over = {k: v for k, v in over.items() if not k.startswith("essop.")}
            over.update({"datapath": datapath, f"{datapath}.array.rows": 4,
                         f"{datapath}.array.cols": 3})
        results = {V: _cycles(over, shape, **{"memory.operand_buffer_vectors": V})
                   for V in BUFFERS}
        if any(r is None for r in results.values()):
            continue
        for V, r in results.items():
            assert r.stalls["fill"] == results[1].stalls["fill"], (over, shape, V)
            for W, s in results.items():
                if W % V == 0:
                    assert s.cycles <= r.cycles, (over, shape, V, W)
        checked += 1
        if checked == (N_CONFIGS if datapath in ("essop", "fp16") else N_CONFIGS // 3):
            break


def test_more_fp16_multipliers_never_take_more_cycles():
    """cycles(M') <= cycles(M) for M' > M at issue interval 1, on any memory system."""
    checked = 0
    for over, shape in _configs("fp16", 1617):
        over = {**over, "fp16.issue_interval": 1}
        results = [_cycles(over, shape, **{"fp16.multipliers": M}) for M in MULTIPLIERS]
        if any(r is None for r in results):
            continue
        cycles = [r.cycles for r in results]
        assert cycles == sorted(cycles, reverse=True), (over, shape, cycles)
        checked += 1
        if checked == N_CONFIGS:
            break


def test_the_issue_examples_are_monotone_now():
    default = {V: time_update(load_config(overrides={"memory.operand_buffer_vectors": V}),
                              64, 64, 512).cycles for V in (1, 16, 256)}
    # 131,364 at V = 256 before issue 16 (131,109 at every V before the accumulate stage)
    assert default == {1: 131_110, 16: 131_110, 256: 131_110}
    fp16 = {M: time_update(load_config(overrides={
        "datapath": "fp16", "fp16.multipliers": M, "memory.operand_buffer_vectors": 1,
        "memory.read_bandwidth": 64}), 16, 16, 64).cycles for M in (32, 33)}
    assert fp16 == {32: 531, 33: 531}                             # 593 at M = 33 before


def test_where_monotonicity_is_not_guaranteed():
    """The two limits of the guarantee, pinned (docs/timing.md, "Monotonicity")."""
    # shared port: the 2-vector load holds the port while the write-back waits (12 cycles of
    # write-back stall), so V = 2 is 2 cycles slower than V = 1 (P = 3: with the accumulate
    # stage the drain is P + 1 = 4 cycles, as P = 4 gave before it)
    essop = {"datapath": "essop", "essop.array.rows": 1, "essop.array.cols": 3,
             "essop.bitstream_length": 7, "essop.bits_per_cycle": 2,
             "essop.shift_scaler_latency": 5, "essop.pipeline_stages": 3,
             "essop.accumulator_bits": 16, "essop.rng.fanout": 1, "memory.operand_bits": 8,
             "memory.read_bandwidth": 64, "memory.write_bandwidth": 2,
             "memory.shared_port": True}
    one, two = (_cycles(essop, (5, 4, 3), **{"memory.operand_buffer_vectors": V})
                for V in (1, 2))
    assert (one.cycles, two.cycles) == (388, 390) and two.stalls["writeback"] == 12
    # FP16 with issue interval 3: 6 multipliers issue a partial group that 5 do not
    fp16 = {"datapath": "fp16", "fp16.pipeline_depth": 1, "fp16.issue_interval": 3,
            "memory.operand_bits": 16, "memory.operand_buffer_vectors": 2,
            "memory.read_bandwidth": 64, "memory.write_bandwidth": 64}
    five, six = (_cycles(fp16, (2, 1, 18), **{"fp16.multipliers": M}).cycles for M in (5, 6))
    assert (five, six) == (31, 35)
