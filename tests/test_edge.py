"""The edge processor (docs/edge.md, docs/numerics-edge.md): pattern properties, bit-exact
masked numerics against tests/reference_edge.py, edges processed, clash-free cycles, clash
stalls of a random pattern, event model = per-cycle reference, closed form, cost, report."""

from __future__ import annotations

import numpy as np
import pytest
from reference_edge import reference_edge_update

from essop_sim.config import load_config
from essop_sim.cost import estimate_energy
from essop_sim.datapaths import get_datapath
from essop_sim.datapaths.edge.pattern import cycle_costs, fan_in, mask_of, pattern_cols
from essop_sim.datapaths.edge.reference import sample_labels
from essop_sim.errors import ConfigError
from essop_sim.hw import time_update
from essop_sim.hw.reference import reference_timing
from essop_sim.numerics import outer_product
from essop_sim.simulate import simulate
from essop_sim.trace import make_synthetic_trace

KINDS = ("dense", "random", "clash_free")
DENSITIES = (1.0, 0.5, 0.25, 0.125, 0.0625)


def _config(**overrides):
    return load_config(overrides={"datapath": "edge", **overrides})


def _operands(m, n, K, seed=0, xscale=1.0, dscale=1e-2):
    rng = np.random.default_rng([seed, m, n, K])
    x = np.abs(rng.normal(scale=xscale, size=(K, n))) * (rng.random((K, n)) > 0.3)
    delta = rng.normal(scale=dscale, size=(K, m))
    return x, delta


# ------------------------------------------------------------------------------ patterns

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("density", DENSITIES)
def test_pattern_has_distinct_inputs_per_output_and_the_fan_in(kind, density):
    for m, n, z in ((12, 64, 8), (10, 48, 16), (7, 32, 4)):
        c = _config(**{"edge.pattern": kind, "edge.density": density, "edge.lanes": z}).edge
        cols = pattern_cols(c, m, n)
        d = n if kind == "dense" else int(density * n)
        assert cols.shape == (m, d) == (m, fan_in(kind, density, n))
        assert all(len(set(row)) == d for row in cols.tolist())
        assert mask_of(cols, n).sum() == m * d
        assert cols.min() >= 0 and cols.max() < n


def test_pattern_is_a_function_of_config_and_shape_and_the_seed_matters():
    c = _config(**{"edge.pattern": "random"}).edge
    a, b = pattern_cols(c, 9, 32), pattern_cols(c, 9, 32)
    assert a is b or (a == b).all()
    other = _config(**{"edge.pattern": "random", "edge.pattern_seed": 3}).edge
    assert not (pattern_cols(other, 9, 32) == a).all()


@pytest.mark.parametrize("z", (1, 2, 4, 8, 16, 32))
@pytest.mark.parametrize("density", DENSITIES)
def test_every_cycle_of_a_clash_free_pattern_touches_z_distinct_banks(z, density):
    for m, n in ((16, 64), (10, 96), (3, 256)):
        c = _config(**{"edge.lanes": z, "edge.density": density}).edge
        cols = pattern_cols(c, m, n)
        banks = cols.ravel() % z
        for g0 in range(0, banks.size, z):
            group = banks[g0:g0 + z]
            assert len(set(group.tolist())) == len(group)
        assert (cycle_costs(cols, z) == 1).all()
        # each sweep of n edges uses every input once: fan-out = W / n
        if cols.size % n == 0:
            assert (np.bincount(cols.ravel(), minlength=n) == cols.size // n).all()


def test_a_random_pattern_clashes_and_the_per_cycle_bank_model_agrees():
    c = _config(**{"edge.pattern": "random", "edge.density": 0.25}).edge
    cols = pattern_cols(c, 16, 128)
    costs = cycle_costs(cols, c.lanes)
    labels = sample_labels(cols.tolist(), c.lanes, 0)
    assert labels.count("lane") == costs.size and labels.count("clash") == costs.sum() - costs.size
    assert costs.sum() > costs.size


# ------------------------------------------------------------------------------ numerics

NUMERIC_CASES = [
    {},
    {"edge.pattern": "random", "edge.density": 0.5},
    {"edge.pattern": "dense"},
    {"edge.operand_bits": 6, "edge.x_int_bits": 0, "edge.delta_int_bits": -6,
     "edge.accumulator_bits": 12, "edge.weight_bits": 8, "edge.weight_int_bits": -6,
     "edge.lr_shift": 0, "edge.pattern": "dense"},       # clips, saturations, weight clamp
    {"edge.operand_bits": 8, "edge.x_int_bits": 2, "edge.delta_int_bits": -3,
     "edge.weight_bits": 32, "edge.weight_int_bits": -10, "edge.lr_shift": 0},  # left shift
    {"edge.density": 0.0625, "edge.lanes": 4, "edge.pattern_seed": 11},
]


@pytest.mark.parametrize("case", range(len(NUMERIC_CASES)))
def test_masked_numerics_equal_the_reference_bit_for_bit(case):
    config = _config(**NUMERIC_CASES[case])
    c = config.edge
    seen = dict.fromkeys(("clips", "saturations", "weight_saturations"), 0)
    for m, n, K, xs in ((6, 32, 5, 1.0), (9, 16, 12, 4.0), (1, 1, 1, 1.0)):
        x, delta = _operands(m, n, K, case, xscale=xs)
        result = outer_product(x, delta, config, seed=0)
        cols = pattern_cols(c, m, n)
        ref = reference_edge_update(x.tolist(), delta.tolist(), cols.tolist(), c)
        np.testing.assert_array_equal(result.raw, np.array(ref["raw"], np.int64))
        upd = -np.ldexp(np.array(ref["update"], np.float64), -ref["fw"])
        np.testing.assert_array_equal(result.update, upd)
        np.testing.assert_array_equal(
            result.dw, np.ldexp(np.array(ref["raw"], np.float64), -(ref["fx"] + ref["fd"])))
        assert result.activity["quantiser_clips"] == ref["clips"]
        assert result.activity["accumulator_saturations"] == ref["saturations"]
        assert result.activity["weight_saturations"] == ref["weight_saturations"]
        assert (result.raw[~mask_of(cols, n)] == 0).all()
        for key in seen:
            seen[key] += ref[key]
    if case == 3:   # the narrow case exercises every clamp
        assert all(seen.values()), seen


def test_wide_formats_approach_the_exact_masked_update():
    config = _config(**{"edge.operand_bits": 24, "edge.x_int_bits": 3,
                        "edge.delta_int_bits": -4, "edge.accumulator_bits": 62})
    x, delta = _operands(8, 64, 20)
    result = outer_product(x, delta, config, seed=0)
    assert result.hints["masked_rel_error"] < 1e-5


# ------------------------------------------------------------------------------ timing

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("density", DENSITIES)
def test_edges_processed_equal_density_m_n_K_exactly(kind, density):
    m, n, K = 12, 64, 7
    config = _config(**{"edge.pattern": kind, "edge.density": density})
    t = time_update(config, m, n, K)
    d = 1.0 if kind == "dense" else density
    assert t.activity["edge_multiplies"] == t.activity["edge_adds"] == d * m * n * K
    x, delta = _operands(m, n, K)
    assert outer_product(x, delta, config).hints["edges"] * K == d * m * n * K


MEMORY = ({}, {"memory.read_bandwidth": 16, "memory.write_bandwidth": 8,
               "memory.operand_buffer_vectors": 2, "memory.shared_port": True})


@pytest.mark.parametrize("memory", range(len(MEMORY)))
@pytest.mark.parametrize("kind", KINDS)
def test_event_model_equals_the_per_cycle_reference(kind, memory):
    for (m, n, K), z, dens in (((5, 7, 3), 4, 0.5), ((16, 64, 6), 8, 0.25),
                               ((10, 48, 9), 16, 0.125), ((3, 20, 4), 3, 1.0)):
        config = _config(**{"edge.pattern": kind, "edge.lanes": z, "edge.density": dens,
                            **MEMORY[memory]})
        t = time_update(config, m, n, K)
        ref = reference_timing(config, m, n, K)
        assert (t.cycles, t.busy, t.stalls) == (ref.cycles, ref.busy, ref.stalls)
        assert (t.bits_read, t.bits_written) == (ref.bits_read, ref.bits_written)
        slow = time_update(config, m, n, K, fast_forward=False)
        assert (slow.cycles, slow.busy, slow.stalls) == (t.cycles, t.busy, t.stalls)
        if kind == "clash_free" and n % z == 0:
            assert t.stalls["clash"] == 0


def test_stall_free_closed_form_is_exact_on_seeded_random_configurations():
    rng = np.random.default_rng(14)
    exact = 0
    datapath = get_datapath("edge")
    for _ in range(40):
        m, n, K = (int(v) for v in rng.integers(1, 40, 3))
        config = _config(**{
            "edge.pattern": str(rng.choice(KINDS)), "edge.lanes": int(rng.integers(1, 33)),
            "edge.density": float(rng.choice(DENSITIES)),
            "edge.sample_overhead": int(rng.integers(0, 4)),
            "edge.front_latency": int(rng.integers(0, 4)),
            "edge.pipeline_stages": int(rng.integers(0, 4)),
            "memory.read_bandwidth": int(rng.choice((64, 512, 4096))),
            "memory.write_bandwidth": int(rng.choice((64, 512, 4096))),
            "memory.operand_buffer_vectors": int(rng.integers(1, 9))})
        t = time_update(config, m, n, K)
        closed = datapath.closed_form_cycles(config, m, n, K, hints={})
        assert closed == t.ideal_cycles <= t.cycles
        if t.stalls["operand"] == 0 and t.stalls["writeback"] == 0:
            assert t.cycles == closed
            exact += 1
    assert exact >= 10


# ------------------------------------------------------------------------------ cost, report

def test_random_patterns_pay_index_reads_and_clash_free_pays_address_adders():
    for kind, key in (("random", "index_read_bits"), ("clash_free", "address_ops")):
        config = _config(**{"edge.pattern": kind})
        act = time_update(config, 8, 64, 4).activity
        other = "address_ops" if key == "index_read_bits" else "index_read_bits"
        assert act[key] > 0 and act[other] == 0
        assert estimate_energy(config, act).by_component[
            "index_read" if kind == "random" else "interleaver"] > 0


def test_energy_falls_with_density():
    energies = []
    for density in DENSITIES:
        config = _config(**{"edge.density": density})
        energies.append(estimate_energy(config, time_update(config, 16, 64, 8).activity)
                        .total_pj)
    assert energies == sorted(energies, reverse=True)


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("edge") / "trace"
    return make_synthetic_trace(path, [("fc1", "linear", 64, 10, 16)], seed=3, steps=(0,))


def test_report_shows_clash_stalls_of_a_random_pattern_and_none_for_clash_free(trace):
    rows = {kind: simulate(_config(**{"edge.pattern": kind}), trace).rows[0]
            for kind in ("random", "clash_free")}
    assert rows["random"]["stall_clash"] > 0 and rows["clash_free"]["stall_clash"] == 0
    assert rows["random"]["edge_edges"] == rows["clash_free"]["edge_edges"] == 10 * 16
    assert rows["clash_free"]["edge_density_eff"] == 0.25
    assert rows["clash_free"]["edge_masked_rel_error"] < rows["clash_free"]["rel_error"]
    nonum = simulate(_config(), trace, numerics=False).rows[0]   # no timing hints needed
    assert nonum["cycles"] == rows["clash_free"]["cycles"]


def test_config_check_rejects_formats_without_a_sign_bit():
    with pytest.raises(ConfigError, match="edge.x_int_bits"):
        _config(**{"edge.operand_bits": 8, "edge.x_int_bits": 8})
    with pytest.raises(ConfigError, match="edge.accumulator_bits"):
        _config(**{"edge.operand_bits": 24, "edge.accumulator_bits": 40})


# ------------------------------------------------------------------------------ masked ESSOP, FP16

def _masked(name, kind="clash_free", density=0.25, **extra):
    return load_config(overrides={"datapath": name, f"{name}.mask.pattern": kind,
                                  f"{name}.mask.density": density, **extra})


@pytest.mark.parametrize("name", ("essop", "fp16"))
@pytest.mark.parametrize("kind", ("dense", "random", "clash_free"))
def test_a_masked_datapath_computes_the_connected_cells_bit_for_bit(name, kind):
    m, n, K = 12, 48, 9
    x, delta = _operands(m, n, K, 5)
    x[:, ::3] *= -1.0
    plain = outer_product(x, delta, load_config(overrides={"datapath": name}), seed=4)
    config = _masked(name, kind)
    masked = outer_product(x, delta, config, seed=4)
    cols = pattern_cols(_config(**{"edge.pattern": kind, "edge.density": 0.25}).edge, m, n)
    mask = mask_of(cols, n)   # the same pattern as the edge processor's (banks = lanes = 16)
    np.testing.assert_array_equal(masked.raw, np.where(mask, plain.raw, 0))
    np.testing.assert_array_equal(masked.dw, np.where(mask, plain.dw, 0.0))
    if name == "fp16":
        assert masked.activity["fp16_multiplies"] == mask.sum() * K
    elif kind == "dense":
        assert masked.activity["counter_increments"] == plain.activity["counter_increments"]
    else:
        assert 0 < masked.activity["counter_increments"] < plain.activity["counter_increments"]
    timing = time_update(config, m, n, K)
    cells = int(mask.sum())
    if name == "essop":   # the cell array streams every tile; unconnected cells are gated
        assert timing.activity["and_ops"] == cells * K * config.essop.bitstream_length
        assert timing.activity["accumulator_adds"] == cells * K
    else:                 # the multipliers issue only the connected products
        assert timing.activity["fp16_multiplies"] == cells * K


def test_masked_and_ones_count_exactly_the_connected_cells():
    from essop_sim.numerics.and_counter import masked_ones

    rng = np.random.default_rng(2)
    K, W, n, m = 5, 2, 11, 7
    X = rng.integers(0, 2**63, size=(K, W, n), dtype=np.uint64)
    D = rng.integers(0, 2**63, size=(K, W, m), dtype=np.uint64)
    active = np.array([True, False, True, True, True])
    cols = np.array([sorted(rng.choice(n, 3, replace=False)) for _ in range(m)])
    expected = sum(int(X[k, w, i] & D[k, w, j]).bit_count() for k in range(K) if active[k]
                   for j in range(m) for i in cols[j] for w in range(W))
    assert masked_ones(X, D, active, cols) == expected


@pytest.mark.parametrize("memory", range(len(MEMORY)))
def test_masked_fp16_event_model_equals_its_reference_and_closed_form(memory):
    datapath = get_datapath("fp16")
    for (m, n, K), kind, d in (((5, 7, 3), "random", 0.5), ((16, 64, 6), "clash_free", 0.125),
                               ((3, 20, 4), "dense", 1.0)):
        config = _masked("fp16", kind, d, **MEMORY[memory])
        t = time_update(config, m, n, K)
        ref = reference_timing(config, m, n, K)
        assert (t.cycles, t.busy, t.stalls) == (ref.cycles, ref.busy, ref.stalls)
        assert (t.bits_read, t.bits_written) == (ref.bits_read, ref.bits_written)
        assert t.ideal_cycles == datapath.closed_form_cycles(config, m, n, K, hints={})
        if memory == 0 and kind != "dense":
            plain = time_update(load_config(overrides={"datapath": "fp16"}), m, n, K)
            assert t.cycles < plain.cycles


def test_no_mask_leaves_essop_and_fp16_descriptions_unchanged():
    for name, text in (("essop", "ESSOP BL=64 32x32"), ("fp16", "FP16, 64 multipliers")):
        assert get_datapath(name).describe(load_config(overrides={"datapath": name})) == text
        assert get_datapath(name).describe(_masked(name)) == text + " mask=clash_free d=0.25"


# ------------------------------------------------------------------------------ training

def test_training_keeps_the_weights_outside_the_pattern_zero():
    torch = pytest.importorskip("torch")
    from essop_sim.training import EssopGradients

    def model_and_steps(config):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(),
                                    torch.nn.Linear(16, 4))
        before = [layer.weight.detach().clone() for layer in (model[0], model[2])]
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        gen = torch.Generator().manual_seed(1)
        with EssopGradients(model, config):
            after_attach = [layer.weight.detach().clone() for layer in (model[0], model[2])]
            for _ in range(3):
                opt.zero_grad()
                model(torch.randn(8, 32, generator=gen)).square().mean().backward()
                opt.step()
        return model, before, after_attach

    config = _config(**{"edge.density": 0.25})
    model, before, _ = model_and_steps(config)
    for layer, (m, n) in ((model[0], (16, 32)), (model[2], (4, 16))):
        mask = get_datapath("edge").weight_mask(config, m, n)
        w = layer.weight.detach().numpy()
        assert (w[~mask] == 0).all() and (w[mask] != 0).all()
    # a datapath without a mask leaves the weights as initialised
    _, before, after_attach = model_and_steps(load_config(overrides={"datapath": "fp16"}))
    assert all(torch.equal(a, b) for a, b in zip(before, after_attach, strict=True))
