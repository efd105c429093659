"""Timing API (essop_sim.hw): hand-derived examples, closed forms, invariants, activity, speed.

The event model's agreement with the per-cycle reference is in test_timing_reference.py.
"""

from __future__ import annotations

import math
import time

import pytest

from essop_sim import workloads
from essop_sim.config import HardwareConfig, config_from_mapping
from essop_sim.hw import closed_form_cycles, time_update

ESSOP_ACTIVITY = {"cycles", "lfsr_steps", "random_numbers", "comparisons", "and_ops",
                  "accumulator_adds", "shift_ops", "sram_read_bits", "sram_write_bits",
                  "register_bit_cycles"}


def cfg(**overrides) -> HardwareConfig:
    return config_from_mapping(None, overrides=overrides)


def small_essop(**extra) -> HardwareConfig:
    return cfg(**{"essop.array.rows": 4, "essop.array.cols": 4, "essop.bitstream_length": 4,
                  "essop.shift_scaler_latency": 1, "essop.pipeline_stages": 1,
                  "essop.accumulator_bits": 16, "memory.operand_bits": 8,
                  "memory.operand_buffer_vectors": 1, "memory.read_bandwidth": 16,
                  "memory.write_bandwidth": 64, **extra})


def test_hand_derived_essop_examples():
    # One 4x4 tile, K = 2 batches of 1 k-step, BL 4 (4 cycles per k-step).
    # Load = 1 * (4 + 4) * 8 bits / 16 = 4 cycles: load0 [0, 4), load1 [4, 8).
    # Compute0 starts at 4 + Ls(1) = 5: [5, 9); compute1 [9, 13) (load1 + 1 = 9).
    # Final at 13 + P(1) + 1 (accumulate stage) = 15; write-back 4*4*16 / 64 = 4 cycles: [15, 19).
    r = time_update(small_essop(), 4, 4, 2)
    assert r.cycles == r.ideal_cycles == 19
    assert r.stalls == {"fill": 5, "operand": 0, "rng": 0, "writeback": 0, "drain": 6}
    assert r.busy["read_port"] == 8 and r.busy["write_port"] == r.busy["shadow"] == 4
    # Read 8 bits/cycle: loads take 8: load0 [0, 8), load1 [8, 16). Compute0 [9, 13),
    # compute1 waits for 16 + 1 = 17: [17, 21) (4 operand-stall cycles); final 23, end 27.
    r = time_update(small_essop(**{"memory.read_bandwidth": 8}), 4, 4, 2)
    assert (r.cycles, r.ideal_cycles) == (27, 23)
    assert r.stalls == {"fill": 9, "operand": 4, "rng": 0, "writeback": 0, "drain": 6}


@pytest.mark.parametrize("datapath", ["essop", "cbram", "edge", "bitserial"])
@pytest.mark.parametrize("stages", [0, 3])
def test_tiles_are_final_p_plus_one_cycles_after_their_last_compute_cycle(datapath, stages):
    """The accumulate stage (issue 18): on a stall-free update with a one-cycle write-back, the
    drain after the last compute cycle is P + 1 (accumulate) + 1 (write-back), the same in the
    per-cycle reference, and the closed form has a one-cycle 'accumulate' term."""
    from essop_sim.datapaths.registry import datapath_of
    from essop_sim.hw.reference import reference_timing

    c = cfg(datapath=datapath, **{f"{datapath}.pipeline_stages": stages,
                                  "memory.read_bandwidth": 1 << 20,
                                  "memory.write_bandwidth": 1 << 20})
    hints = {"precision": 4} if datapath == "bitserial" else None
    r = time_update(c, 3, 5, 2, hints=hints)
    ref = reference_timing(c, 3, 5, 2, hints=hints)
    assert r.stalls["drain"] == ref.stalls["drain"] == stages + 1 + 1
    assert r.stalls["operand"] == r.stalls["writeback"] == 0
    terms = datapath_of(c).closed_form_terms(c, 3, 5, 2, hints=hints or {})
    assert terms["accumulate"] == 1 and r.cycles == ref.cycles == sum(terms.values())


def test_the_accumulate_stage_tightens_the_bit_serial_stall_free_condition():
    """docs/bitserial.md: a write-back never stalls the tile after next if P + 1 + W_u <= K S.
    Four one-cell tiles of one k-step at p = 4, b = 1 (S = 4), W_u = 1: P = 2 meets it exactly,
    P = 3 misses it by one cycle (stall-free before the accumulate stage)."""
    def run(stages):
        c = cfg(datapath="bitserial", **{
            "bitserial.array.rows": 1, "bitserial.array.cols": 1,
            "bitserial.bits_per_cycle": 1, "bitserial.quantiser_latency": 0,
            "bitserial.pipeline_stages": stages, "memory.operand_buffer_vectors": 4,
            "memory.read_bandwidth": 1 << 20, "memory.write_bandwidth": 1 << 20})
        return time_update(c, 4, 1, 1, hints={"precision": 4})

    meets, misses = run(2), run(3)
    assert meets.stalls["writeback"] == 0 and meets.cycles == meets.ideal_cycles == 21
    assert misses.stalls["writeback"] == 1 and (misses.cycles, misses.ideal_cycles) == (23, 22)


def test_hand_derived_fp16_example():
    # m*n = 6, K = 2: 12 products, 4 multipliers -> 3 groups. Batches of 1 k-step (6 products),
    # each load (2 + 3) * 8 bits / 64 = 1 cycle: loaded at 1 and 2. Group 0 (products 0-3)
    # issues at 1, group 1 (4-7, needs batch 1) at 2, group 2 at 3. Results final at 3 + D(3)
    # = 6; write-back 6 * 16 bits / 64 = 2 cycles: [6, 8).
    c = cfg(datapath="fp16", **{"fp16.multipliers": 4, "fp16.pipeline_depth": 3,
                                "fp16.accumulator": "fp16", "memory.operand_bits": 8,
                                "memory.operand_buffer_vectors": 1,
                                "memory.read_bandwidth": 64, "memory.write_bandwidth": 64})
    r = time_update(c, 2, 3, 2)
    assert r.cycles == r.ideal_cycles == 8
    assert r.busy["multipliers"] == 3 and r.busy["pipeline"] == 5
    assert r.stalls["fill"] == 1 and r.stalls["drain"] == 4


@pytest.mark.parametrize("M,D,shape", [(64, 4, (16, 144, 300)), (7, 9, (5, 3, 11)),
                                        (1, 1, (2, 2, 3))])
def test_fp16_closed_form_is_issue_formula(M, D, shape):
    """II = 1, memory stall-free: cycles = load + ceil(products / M) + D - 1 + write-back."""
    m, n, K = shape
    c = cfg(datapath="fp16", **{"fp16.multipliers": M, "fp16.pipeline_depth": D,
                                "memory.read_bandwidth": 1 << 20,
                                "memory.write_bandwidth": 1 << 20})
    r = time_update(c, m, n, K)
    # with 2^20 bits/cycle every load and the write-back take one cycle
    assert r.cycles == 1 + math.ceil(m * n * K / M) + D - 1 + 1 == closed_form_cycles(c, m, n, K)


@pytest.mark.parametrize("datapath", ["essop", "fp16"])
def test_default_config_is_stall_free_on_resnet_layers(datapath):
    config = cfg(datapath=datapath)
    for layer in workloads.resnet32_cifar10(batch=2):
        r = time_update(config, layer.m, layer.n, layer.K)
        assert r.cycles == r.ideal_cycles, layer.name


CONFIGS = [
    ({}, (40, 70, 33)),
    ({"essop.rng.fanout": 8, "memory.read_bandwidth": 64}, (40, 70, 33)),
    ({"memory.shared_port": True, "memory.write_bandwidth": 16, "memory.read_bandwidth": 128,
      "memory.operand_buffer_vectors": 4}, (70, 40, 50)),
    ({"essop.bits_per_cycle": 5, "essop.bitstream_length": 33, "memory.read_bandwidth": 200},
     (33, 65, 17)),
    ({"datapath": "fp16", "fp16.issue_interval": 3, "fp16.pipeline_depth": 2,
      "memory.read_bandwidth": 64}, (16, 27, 40)),
    ({"datapath": "fp16", "fp16.multipliers": 100, "memory.shared_port": True,
      "memory.write_bandwidth": 8, "memory.read_bandwidth": 100}, (9, 10, 70)),
]


@pytest.mark.parametrize("overrides,shape", CONFIGS)
def test_invariants(overrides, shape):
    config = cfg(**overrides)
    m, n, K = shape
    r = time_update(config, m, n, K)
    compute = r.busy["and_array"] if config.datapath == "essop" else r.busy["multipliers"]
    assert r.cycles == compute + sum(r.stalls.values())
    assert r.cycles >= r.ideal_cycles == closed_form_cycles(config, m, n, K)
    assert 0 < r.utilization <= 1
    assert r.time_s == pytest.approx(r.cycles / config.memory.clock_hz)
    assert r.activity["cycles"] == r.cycles
    assert r.activity["sram_read_bits"] == r.bits_read
    assert r.activity["sram_write_bits"] == r.bits_written
    if config.datapath == "essop":
        e = config.essop
        assert r.utilization == pytest.approx(
            m * n * K * e.bitstream_length
            / (e.array.rows * e.array.cols * e.bits_per_cycle * r.cycles))
        assert r.busy["accumulators"] == r.busy["shift_scaler"] == r.tiles * K
    else:
        f = config.fp16
        assert r.utilization == pytest.approx(m * n * K * f.issue_interval
                                              / (f.multipliers * r.cycles))
        # one accumulate cycle per issue slot; partial groups (too few products arrived) add
        # slots beyond ceil(N / M)
        assert r.busy["multipliers"] == r.busy["accumulators"] * f.issue_interval
        assert r.busy["multipliers"] >= math.ceil(m * n * K / f.multipliers) * f.issue_interval


@pytest.mark.parametrize("overrides,shape", [
    ({"memory.operand_buffer_vectors": 8, "memory.read_bandwidth": 96}, (40, 70, 1000)),
    ({"memory.operand_buffer_vectors": 8, "memory.read_bandwidth": 512,
      "essop.shift_scaler_latency": 300, "essop.bitstream_length": 32}, (20, 40, 900)),
    ({"memory.shared_port": True, "memory.operand_buffer_vectors": 16,
      "memory.read_bandwidth": 64, "memory.write_bandwidth": 4}, (64, 64, 700)),
    ({"datapath": "fp16", "fp16.multipliers": 48, "memory.operand_buffer_vectors": 3,
      "memory.read_bandwidth": 100}, (7, 11, 3000)),
])
def test_fast_forward_is_exact_on_longer_runs(overrides, shape):
    config = cfg(**overrides)
    fast = time_update(config, *shape)
    slow = time_update(config, *shape, fast_forward=False)
    assert fast.runs > 0 and fast.events < slow.events
    assert (fast.cycles, fast.busy, fast.stalls) == (slow.cycles, slow.busy, slow.stalls)
    assert (fast.bits_read, fast.bits_written, fast.activity) == (
        slow.bits_read, slow.bits_written, slow.activity)


def test_essop_activity_vector_sharing_with_edge_tiles():
    config = cfg(**{"essop.array.rows": 4, "essop.array.cols": 4, "essop.bitstream_length": 8,
                    "essop.bits_per_cycle": 3, "essop.pipeline_stages": 2,
                    "essop.comparator_bits": 7, "essop.accumulator_bits": 20,
                    "memory.operand_bits": 12})
    m, n, K = 5, 7, 3                 # tiles: rows 4,1 x cols 4,3 -> 4 tiles
    r = time_update(config, m, n, K)
    assert set(r.activity) == ESSOP_ACTIVITY
    a = r.activity
    assert r.tiles == 4
    assert a["random_numbers"] == 4 * 2 * K * 8          # 2 banks per tile per stream bit
    assert a["lfsr_steps"] == a["random_numbers"] * 7    # steps_per_number null -> w = 7
    # comparators: sum over tiles of (rows + cols) = m * col_tiles + n * row_tiles
    assert a["comparisons"] == K * 8 * (5 * 2 + 7 * 2)
    assert a["and_ops"] == m * n * K * 8
    assert a["accumulator_adds"] == m * n * K
    assert a["shift_ops"] == K * (5 * 2 + 7 * 2)
    assert a["sram_read_bits"] == K * (5 * 2 + 7 * 2) * 12
    assert a["sram_write_bits"] == m * n * 20
    assert a["register_bit_cycles"] == 2 * 3 * K * 3 * (5 * 2 + 7 * 2)   # P*b*S per k*(r+c)


def test_essop_activity_element_sharing():
    config = cfg(**{"essop.array.rows": 4, "essop.array.cols": 4, "essop.bitstream_length": 8,
                    "essop.rng.sharing": "element", "essop.rng.steps_per_number": 7})
    r = time_update(config, 5, 7, 3)
    assert r.activity["random_numbers"] == 3 * 8 * (5 * 2 + 7 * 2)   # one bank per element
    assert r.activity["lfsr_steps"] == 7 * r.activity["random_numbers"]


@pytest.mark.parametrize("acc,bits", [("fp16", 16), ("fp32", 32)])
def test_fp16_activity(acc, bits):
    config = cfg(datapath="fp16", **{"fp16.accumulator": acc, "fp16.pipeline_depth": 5})
    r = time_update(config, 6, 9, 10)
    assert set(r.activity) == {"cycles", "fp16_multiplies", f"{acc}_adds",
                               "pipeline_register_bits", "sram_read_bits", "sram_write_bits"}
    assert r.activity["fp16_multiplies"] == r.activity[f"{acc}_adds"] == 540
    assert r.activity["pipeline_register_bits"] == 540 * 5 * 32
    assert r.activity["sram_read_bits"] == 10 * 15 * 16
    assert r.activity["sram_write_bits"] == 54 * bits


def test_rng_broadcast_counts_active_sharers():
    # 8x8 array, fan-out 2: a full tile would need g = max(ceil(8/2), ceil(8/2)) = 4 cycles
    # per bit step; a 2 x 3 update activates 2 rows and 3 columns: g = max(1, 2) = 2.
    config = cfg(**{"essop.array.rows": 8, "essop.array.cols": 8, "essop.rng.fanout": 2,
                    "essop.bitstream_length": 16})
    r = time_update(config, 2, 3, 5)
    assert r.stalls["rng"] == (2 - 1) * 16 * 5
    assert r.busy["rng_bank"] == 2 * 16 * 5 and r.busy["and_array"] == 16 * 5


def test_values_are_checked():
    with pytest.raises(ValueError):
        time_update(HardwareConfig(), 0, 3, 4)
    with pytest.raises(ValueError):
        time_update(HardwareConfig(), 3, 3, 2.5)


@pytest.mark.parametrize("datapath", ["essop", "fp16"])
def test_resnet32_step_times_fast(datapath):
    """A whole ResNet-32 step at batch 128 (34 layers, K up to 131072): well under a second
    on an idle core; the bound is loose for a shared machine."""
    config = cfg(datapath=datapath)
    start = time.perf_counter()
    events = 0
    for layer in workloads.resnet32_cifar10():
        r = time_update(config, layer.m, layer.n, layer.K)
        events += r.events
        assert r.cycles == r.ideal_cycles
    assert time.perf_counter() - start < 5.0
    assert events < 5000
