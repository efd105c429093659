"""The SBE stage (essop_sim/datapaths/sbe, docs/sbe.md, docs/numerics-sbe.md): bit-exact
numerics against a slow independent reference, the exactness and optimality properties the
issue asks for, timing (event model = per-cycle reference = closed form), cost and the stage's
integration in simulate and training."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from reference_sbe import reference_sbe

from essop_sim.config import load_config
from essop_sim.cost import estimate_area, estimate_energy, table_for
from essop_sim.datapaths.registry import datapath_of
from essop_sim.datapaths.sbe import STAGE
from essop_sim.datapaths.sbe.numerics import sbe_operands
from essop_sim.datapaths.sbe.reference import reference_sbe as reference_cycles
from essop_sim.datapaths.sbe.timing import (
    SbeEventModel,
    closed_form_cycles,
    closed_form_terms,
    op_counts,
)
from essop_sim.errors import ConfigError
from essop_sim.simulate import simulate
from essop_sim.trace import load_trace
from essop_sim.trace.synthetic import make_synthetic_trace


def cfg(**sbe):
    return load_config(overrides={"stages": ["sbe"], **{f"sbe.{k}": v for k, v in sbe.items()}})


def lowrank(rng, K, m, n, rank=2, noise=0.05):
    """Operands whose update is dominated by `rank` directions."""
    u, v = rng.normal(size=(rank, m)), rng.normal(size=(rank, n))
    c = rng.normal(size=(K, rank)) * [3.0 ** -i for i in range(rank)]
    return c @ v + noise * rng.normal(size=(K, n)), c @ u + noise * rng.normal(size=(K, m))


@pytest.mark.parametrize("arith", ["binary64", "binary32", "binary16", "fixed"])
def test_kernel_is_bit_equal_to_the_independent_reference(arith):
    rng = np.random.default_rng(3)
    x, d = lowrank(rng, 7, 3, 5)
    d *= 1e-3                                 # gradient-like magnitudes (exponent scaling)
    c = cfg(arithmetic=arith, rank=2, passes=2).sbe
    out = sbe_operands(x, d, c)
    xo, do, state = reference_sbe(x, d, 2, 2, arith, c.fixed_bits, c.fixed_frac)
    assert np.array_equal(out.x, xo) and np.array_equal(out.delta, do)
    # a warm start continues from the hats of the previous step, also bit-equal
    x2, d2 = lowrank(rng, 7, 3, 5)
    warm = sbe_operands(x2, d2, c, out.state)
    xo2, do2, _ = reference_sbe(x2, d2, 2, 2, arith, c.fixed_bits, c.fixed_frac, state)
    assert np.array_equal(warm.x, xo2) and np.array_equal(warm.delta, do2)


@pytest.mark.parametrize("arith", ["binary64", "binary32", "binary16", "fixed"])
@pytest.mark.parametrize("weight", [0.5, 1.0, 3.0])
def test_warm_averages_are_bit_equal_to_the_independent_reference(arith, weight):
    """warm_weight > 0: X, D and s carried over three steps whose scaling exponents differ
    (the carried averages are rescaled by 2^(e_prev - e)), bit-equal to the reference."""
    rng = np.random.default_rng(7)
    c = cfg(arithmetic=arith, rank=2, passes=2, warm_start=True, warm_weight=weight).sbe
    state = ref_state = None
    for step, (fx, fd) in enumerate(((1.0, 1e-3), (8.0, 2.5e-4), (0.3, 4e-3))):
        x, d = lowrank(rng, 7, 3, 5)
        x, d = x * fx, d * fd
        out = sbe_operands(x, d, c, state)
        xo, do, ref_state = reference_sbe(x, d, 2, 2, arith, c.fixed_bits, c.fixed_frac,
                                          ref_state, weight)
        assert np.array_equal(out.x, xo) and np.array_equal(out.delta, do), step
        assert np.array_equal(out.state[3], np.array(ref_state[3], np.float64))
        assert out.state[6] == ref_state[6]
        state = out.state
    assert state[6] != 0 and np.any(state[5])


def test_warm_weight_needs_warm_start_and_zero_is_the_hats_only_warm_start():
    with pytest.raises(ConfigError, match="warm_weight"):
        cfg(warm_weight=1.0)
    rng = np.random.default_rng(8)
    x, d = lowrank(rng, 9, 4, 6)
    c0 = cfg(rank=2, warm_start=True).sbe
    first = sbe_operands(x, d, c0)
    x2, d2 = lowrank(rng, 9, 4, 6)
    hats = sbe_operands(x2, d2, c0, first.state[:3])       # the old three-field state
    zero = sbe_operands(x2, d2, cfg(rank=2, warm_start=True, warm_weight=0.0).sbe, first.state)
    seeded = sbe_operands(x2, d2, cfg(rank=2, warm_start=True, warm_weight=1.0).sbe,
                          first.state)
    assert np.array_equal(hats.x, zero.x) and np.array_equal(hats.delta, zero.delta)
    assert not np.array_equal(seeded.x, zero.x)


def test_one_outer_product_is_exact_after_one_pass():
    rng = np.random.default_rng(0)
    x, d = rng.normal(size=(1, 9)), rng.normal(size=(1, 4))
    G = d.T @ x
    for arith, tol in (("binary64", 1e-14), ("binary32", 2e-6), ("binary16", 4e-3),
                       ("exact", 1e-14)):
        out = sbe_operands(x, d, cfg(arithmetic=arith, rank=1).sbe)
        assert np.linalg.norm(out.delta.T @ out.x - G) <= tol * np.linalg.norm(G), arith


def test_exact_mode_with_full_rank_is_the_batch_update():
    rng = np.random.default_rng(1)
    x, d = rng.normal(size=(6, 7)), rng.normal(size=(6, 4))
    G = d.T @ x
    out = sbe_operands(x, d, cfg(arithmetic="exact", rank=4).sbe)
    assert len(out.x) == 4
    np.testing.assert_allclose(out.delta.T @ out.x, G, rtol=0, atol=1e-13 * np.abs(G).max())


@pytest.mark.parametrize("arith", ["exact", "binary64", "binary16", "fixed"])
def test_never_beats_eckart_young_and_captured_energy_is_at_most_optimal(arith):
    rng = np.random.default_rng(2)
    for rank in (1, 2, 3):
        x, d = lowrank(rng, 20, 5, 8, rank=3, noise=0.3)
        r = STAGE.apply(x, d, cfg(arithmetic=arith, rank=rank), seed=0)
        col = r.columns
        assert col["stage_rel_error"] >= col["eckart_young"] * (1 - 1e-12)
        assert col["energy_captured"] <= col["energy_optimal"] * (1 + 1e-12)
        if arith == "exact":
            assert col["stage_rel_error"] == pytest.approx(col["eckart_young"], rel=1e-9)


def test_error_falls_with_passes_and_with_warm_start():
    """Fixed data (seed 5); the recursion is deterministic, so these are exact statements about
    these operands, not statistical ones."""
    rng = np.random.default_rng(5)
    x, d = lowrank(rng, 64, 6, 10, rank=2, noise=0.3)
    errs = [STAGE.apply(x, d, cfg(arithmetic="binary64", passes=p), 0).columns["stage_rel_error"]
            for p in (1, 2, 4)]
    assert errs[0] > errs[1] > errs[2]
    # consecutive steps of one layer: the next batch of the same distribution
    c = cfg(arithmetic="binary16", warm_start=True)
    first = STAGE.apply(x, d, c, 0)
    x2, d2 = x + 0.3 * rng.normal(size=x.shape), d + 0.3 * rng.normal(size=d.shape)
    cold = STAGE.apply(x2, d2, c, 0).columns["stage_rel_error"]
    warm = STAGE.apply(x2, d2, c, 0, state=first.state)
    assert warm.columns["warm"] and warm.columns["stage_rel_error"] < cold


def drifting_batches(seed, steps, K, m, n, angle, noise):
    """Consecutive batches of one layer: a rank-1 signal whose directions u, v drift by about
    `angle` radians per step, per-sample noise of std `noise` on both sides."""
    rng = np.random.default_rng(seed)

    def unit(v):
        return v / np.linalg.norm(v)

    u, v = unit(rng.normal(size=m)), unit(rng.normal(size=n))
    for _ in range(steps):
        c = rng.normal(size=(K, 1))
        yield (c * v + noise * rng.normal(size=(K, n)),
               1e-3 * (c * u + noise * rng.normal(size=(K, m))))
        u = unit(u + angle * unit(rng.normal(size=m)))
        v = unit(v + angle * unit(rng.normal(size=n)))


def test_warm_averages_reduce_error_on_drifting_consecutive_batches():
    """Where the math says a seeded warm start must help: the dominant direction drifts slowly
    (0.05 rad per step) while per-sample noise is large (std 1.5 against a unit signal), so one
    cold pass builds its hats from a few noisy first samples, whereas the previous step's
    averages already point near the batch's top singular pair. Binary16, r = 1, 1 pass, warm
    weight 1 (w0 = K); 10 seeds x 5 warm steps, paired with cold. Measured: mean error 0.957
    cold, 0.814 warm (gain 0.143, standard error 0.021; 88% of the pairs gain); the claim is
    one-sided with a margin of 3 standard errors of the paired differences. With 2 passes the
    gain shrinks to 0.02 (docs/sbe.md)."""
    cold_c = cfg(passes=1)
    warm_c = cfg(passes=1, warm_start=True, warm_weight=1.0)
    gains = []
    for seed in range(10):
        state = None
        for step, (x, d) in enumerate(drifting_batches(seed, 6, 64, 6, 10, 0.05, 1.5)):
            warm = STAGE.apply(x, d, warm_c, 0, state=state)
            state = warm.state
            if step:
                cold = STAGE.apply(x, d, cold_c, 0)
                gains.append(cold.columns["stage_rel_error"] - warm.columns["stage_rel_error"])
    gains = np.array(gains)
    assert gains.mean() > 3 * gains.std(ddof=1) / np.sqrt(len(gains))
    assert gains.mean() > 0.08


def test_operation_counts_match_the_kernel():
    rng = np.random.default_rng(4)
    x, d = rng.normal(size=(9, 7)), rng.normal(size=(9, 5))
    for rank, passes in ((1, 1), (1, 3), (3, 2)):
        c = cfg(arithmetic="binary32", rank=rank, passes=passes).sbe
        out = sbe_operands(x, d, c)
        warm = sbe_operands(x, d, c, out.state)
        for got, want in ((out.ops, op_counts(c, 5, 7, 9)),
                          (warm.ops, op_counts(c, 5, 7, 9, warm=True))):
            if rank == 1:
                assert got == want
            else:   # a component initialised on a zero residue skips work: the schedule bounds
                assert all(got[k] <= want[k] for k in want)


@pytest.mark.parametrize("shape", [(3, 5, 1), (4, 9, 6), (8, 2, 5), (16, 16, 3)])
@pytest.mark.parametrize("knobs", [dict(rank=1, passes=1, lanes=4),
                                   dict(rank=3, passes=2, lanes=3, div_latency=5,
                                        sqrt_latency=2),
                                   dict(rank=2, passes=3, lanes=64, div_latency=1,
                                        sqrt_latency=9)])
def test_event_model_equals_reference_and_closed_form(shape, knobs):
    m, n, K = shape
    c = cfg(**knobs).sbe
    for warm in (False, True):
        cycles, busy = SbeEventModel(c, m, n, K, warm).run()
        ref_cycles, ref_busy = reference_cycles(c, m, n, K, warm)
        terms = closed_form_terms(c, m, n, K, warm)
        assert cycles == ref_cycles == closed_form_cycles(c, m, n, K, warm) == sum(busy.values())
        assert {k: v for k, v in busy.items() if v} == ref_busy
        assert {k: v for k, v in terms.items() if v} == ref_busy


def test_cost_prices_every_activity_key_of_every_arithmetic():
    for arith in ("binary16", "binary32", "binary64", "fixed", "exact"):
        config = cfg(arithmetic=arith, rank=2)
        act = STAGE.activity(config, 10, 64, 32)
        assert set(act) == {r.key for r in STAGE.pricing(config)}
        base = dict.fromkeys(datapath_of(config).required(config), 0)
        e = estimate_energy(config, {**base, **act, "cycles": 1}, table_for(config))
        for bucket in ("sbe_mul", "sbe_add", "sbe_div", "sbe_sqrt", "sbe_sram_read",
                       "sbe_state"):
            assert e.by_component[bucket] > 0, (arith, bucket)
        area = estimate_area(config, table_for(config)).by_component
        assert area["sbe_divider"] > 0 and area["sbe_state"] > 0
    t = table_for(cfg())
    base = dict.fromkeys(datapath_of(cfg()).required(cfg()), 0)
    e16 = estimate_energy(cfg(), {**base, **STAGE.activity(cfg(), 10, 64, 32), "cycles": 1}, t)
    assert e16.by_component["sbe_div"] == pytest.approx(
        STAGE.activity(cfg(), 10, 64, 32)["sbe_div"] * t.energy("fp16_divider", "divide"))


@pytest.fixture(scope="module")
def consecutive(tmp_path_factory):
    path = tmp_path_factory.mktemp("sbe") / "trace"
    make_synthetic_trace(path, [{"name": "a", "kind": "linear", "n": 12, "m": 4, "K": 24},
                                {"name": "b", "kind": "linear", "n": 6, "m": 3, "K": 8}],
                         seed=0, steps=(0, 1, 2))
    return load_trace(path)


def test_simulate_runs_sbe_in_front_of_each_datapath(consecutive):
    for datapath in ("essop", "fp16"):
        config = dataclasses.replace(cfg(rank=2), datapath=datapath)
        rows = simulate(config, consecutive).rows
        for row in rows:
            assert row["sbe_k_out"] == row["sbe_array_writes"] == 2
            assert row["sbe_cycles"] == closed_form_cycles(config.sbe, row["m"], row["n"],
                                                           row["K"])
            assert row["cycles"] > row["sbe_cycles"]
            assert row["sbe_stored_bits"] == 2 * (2 * (row["m"] + row["n"]) + 1) * 16
            assert not row["sbe_warm"]
            assert math.isfinite(row["rel_error"]) and -1 <= row["cosine"] <= 1
        timed = simulate(config, consecutive, numerics=False).rows
        assert [r["cycles"] for r in timed] == [r["cycles"] for r in rows]


def test_warm_start_carries_state_per_layer_in_trace_order(consecutive):
    config = cfg(rank=1, warm_start=True)
    rows = simulate(config, consecutive).rows
    seen = set()
    for row in rows:
        assert row["sbe_warm"] == (row["layer"] in seen)
        seen.add(row["layer"])
    # a record replayed alone starts cold: same as the first record of its layer
    alone = simulate(config, consecutive.select(["a"], [rows[-1]["step"]])).rows[0]
    assert not alone["sbe_warm"]


def test_training_applies_the_stage():
    torch = pytest.importorskip("torch")
    from essop_sim.training import EssopGradients

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    config = dataclasses.replace(cfg(rank=2, warm_start=True, arithmetic="binary64"),
                                 datapath="fp16")
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    with EssopGradients(model, config, seed=1) as ctx:
        for _ in range(2):
            model.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
    assert [s.array_writes for s in ctx.stats] == [4, 4]
    assert [s.outer_products for s in ctx.stats] == [32, 32]
    assert len(ctx._stage_state) == 2


def test_digits_training_with_sbe_counts_r_array_writes_per_update():
    torch = pytest.importorskip("torch")
    from essop_sim import datasets as ds
    from essop_sim.models import build_model
    from essop_sim.training import train_classifier

    data = ds.load_for_model("cnn", seed=0)
    train = (torch.from_numpy(data.x_train[:64]), torch.from_numpy(data.y_train[:64]))
    test = (torch.from_numpy(data.x_test[:32]), torch.from_numpy(data.y_test[:32]))
    config = dataclasses.replace(cfg(rank=2, passes=2, warm_start=True), datapath="fp16")
    res = train_classifier(lambda: build_model("cnn"), train, test, config, epochs=2,
                           batch_size=32, seed=0)
    assert len(res.test_accuracy) == 2 and all(0 <= a <= 1 for a in res.test_accuracy)
    for s in res.layers:     # 2 updates per epoch; K = 32 samples x output positions
        assert s.updates == 4 and s.array_writes == 4 * 2
        assert s.outer_products % (4 * 32) == 0 and s.outer_products > s.array_writes


def test_error_falls_with_passes_on_real_gradients():
    # The shipped trace (digits CNN, steps 0, 60, 439): binary16, r = 1. Measured per record
    # (docs/sbe.md): 1 -> 2 passes drops about 0.13-1.04, 2 -> 4 passes 0.04-0.97; means 1.15,
    # 0.84, 0.67. Warm start has no such test: on consecutive real steps it changes the error by
    # less than the step-to-step spread, either way (docs/sbe.md).
    from essop_sim.trace import default_trace_path

    records = load_trace(default_trace_path()).records
    errs = {p: np.array([STAGE.apply(np.asarray(r.x), np.asarray(r.delta), cfg(passes=p), 0)
                         .columns["stage_rel_error"] for r in records]) for p in (1, 2, 4)}
    assert np.all(errs[2] < errs[1]) and np.all(errs[4] < errs[2])
    assert errs[1].mean() - errs[2].mean() > 0.15 and errs[2].mean() - errs[4].mean() > 0.08
