"""The bit-serial datapath (issue 12): numerics against the slow reference, timing against the
per-cycle reference and the closed form, the equal-throughput speed-up, the per-layer precision
hooks, the cost entries, figures and training in the loop. The registry contract suite
(tests/test_datapath_contract.py) covers it too."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from reference_bitserial import reference

from essop_sim.config import load_config
from essop_sim.cost import estimate_area, estimate_energy, load_cost_table
from essop_sim.datapaths import get_datapath
from essop_sim.datapaths.bitserial.numerics import bitserial_outer_product
from essop_sim.errors import ConfigError
from essop_sim.hw import time_update
from essop_sim.hw.reference import reference_timing
from essop_sim.numerics import outer_product
from essop_sim.numerics.metrics import exact_update
from essop_sim.simulate import simulate
from essop_sim.trace import make_synthetic_trace

DP = get_datapath("bitserial")


def config(**overrides):
    return load_config(overrides={"datapath": "bitserial", **overrides})


def operands(rng, K, n, m, *, relu=True):
    x = rng.normal(size=(K, n)) * np.exp2(rng.integers(-3, 4, size=(K, 1)))
    if relu:
        x = np.abs(x) * (rng.random((K, n)) > 0.3)
    delta = rng.normal(scale=1e-2, size=(K, m)) * np.exp2(rng.integers(-3, 4, size=(K, 1)))
    if K > 2:
        delta[1] = 0.0
    return x, delta


# ------------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("case", range(24))
def test_numerics_equal_the_slow_reference_bit_for_bit(case):
    rng = np.random.default_rng([12, case])
    K, n, m = (int(v) for v in rng.integers(1, 7, size=3))
    p = int(rng.integers(1, 17))
    b = int(rng.choice([1, 2, 4, 16]))
    serial = str(rng.choice(["x", "delta"]))
    scaling = str(rng.choice(["tensor", "vector"]))
    overflow = str(rng.choice(["wrap", "saturate"]))
    acc_bits = int(rng.choice([8, 12, 20, 48]))   # narrow widths make overflows happen
    frac = int(rng.integers(0, 6))
    x, delta = operands(rng, K, n, m, relu=bool(case % 2))
    cfg = config(**{"bitserial.precision_mode": "fixed", "bitserial.precision": p,
                    "bitserial.bits_per_cycle": b, "bitserial.serial_operand": serial,
                    "bitserial.scaling": scaling, "bitserial.overflow": overflow,
                    "bitserial.accumulator_bits": acc_bits,
                    "bitserial.accumulator_fraction_bits": frac})
    got = outer_product(x, delta, cfg, seed=0, chunk=int(rng.integers(1, 5)))
    raw, lsb_exp, overflows = reference(x.tolist(), delta.tolist(), p=p, b=b, serial=serial,
                                        scaling=scaling, acc_bits=acc_bits, frac_bits=frac,
                                        overflow=overflow)
    np.testing.assert_array_equal(got.raw, np.array(raw, dtype=np.int64))
    assert got.lsb_weight == math.ldexp(1.0, lsb_exp)
    np.testing.assert_array_equal(got.dw, np.ldexp(np.array(raw, dtype=np.float64), lsb_exp))
    assert got.activity["accumulator_overflows"] == overflows
    assert got.hints["precision"] == p


def test_full_precision_is_the_exact_integer_product_of_the_quantised_operands():
    rng = np.random.default_rng(3)
    x, delta = operands(rng, 50, 7, 5, relu=False)
    cfg = config(**{"bitserial.precision_mode": "fixed", "bitserial.precision": 16,
                    "bitserial.scaling": "tensor"})
    got = outer_product(x, delta, cfg)

    def codes(a):   # signed 16-bit codes with one tensor exponent, by Python integers
        mx = float(np.max(np.abs(a)))
        e = math.frexp(mx)[1] - (1 if math.frexp(mx)[0] == 0.5 else 0)
        return [[max(-32768, min(32767, round(float(v) * 2.0 ** (15 - e)))) for v in row]
                for row in a]

    qx, qd = codes(x), codes(delta)
    exact = [[sum(qd[k][j] * qx[k][i] for k in range(50)) for i in range(7)] for j in range(5)]
    np.testing.assert_array_equal(got.raw, np.array(exact, dtype=np.int64))
    assert got.activity["accumulator_overflows"] == 0


def test_auto_precision_is_the_smallest_within_tolerance():
    rng = np.random.default_rng(5)
    x, delta = operands(rng, 40, 9, 6)
    exact = exact_update(x, delta)
    for tol in (0.3, 0.05, 0.01, 0.002):
        cfg = config(**{"bitserial.precision_mode": "auto", "bitserial.tolerance": tol})
        got = outer_product(x, delta, cfg)
        p = got.hints["precision"]

        def err(q, cfg=cfg):
            dw = bitserial_outer_product(x, delta, cfg, precision=q).dw
            return np.linalg.norm(dw - exact) / np.linalg.norm(exact)

        assert err(p) <= tol or p == 16
        assert all(err(q) > tol for q in range(1, p))
        np.testing.assert_array_equal(got.raw,
                                      bitserial_outer_product(x, delta, cfg, precision=p).raw)
    # error falls with precision: roughly halves per bit once past the first few bits
    cfg = config(**{"bitserial.precision_mode": "fixed"})
    errs = [np.linalg.norm(bitserial_outer_product(x, delta, cfg, precision=q).dw
                           - exact_update(x, delta)) for q in (4, 8, 12)]
    assert errs[0] > errs[1] > errs[2]


def test_config_rules():
    with pytest.raises(ConfigError, match="bits_per_cycle"):
        config(**{"bitserial.bits_per_cycle": 8})
    with pytest.raises(ConfigError, match="precision_profile"):
        config(**{"bitserial.precision_mode": "profile"})
    with pytest.raises(ConfigError, match="pattern=p"):
        config(**{"bitserial.precision_profile": ["conv*=17"]})


# ------------------------------------------------------------------------------- timing

GRID = [  # (m, n, K, R, C, p, b, memory overrides)
    (1, 1, 1, 4, 4, 1, 1, {}),
    (5, 7, 3, 4, 4, 3, 2, {}),
    (9, 10, 7, 4, 3, 5, 4, {"memory.operand_buffer_vectors": 2}),
    (3, 70, 9, 2, 32, 7, 16, {}),
    (7, 5, 1, 3, 2, 16, 1, {"memory.read_bandwidth": 16, "memory.write_bandwidth": 8,
                             "memory.shared_port": True}),
    (6, 11, 13, 4, 4, 9, 4, {"memory.read_bandwidth": 16, "memory.write_bandwidth": 8,
                              "memory.operand_buffer_vectors": 2, "memory.shared_port": True}),
    (40, 33, 5, 8, 8, 1, 2, {"memory.read_bandwidth": 32, "memory.write_bandwidth": 32,
                              "memory.operand_buffer_vectors": 3}),
]


@pytest.mark.parametrize("case", GRID)
def test_event_model_equals_the_per_cycle_reference(case):
    m, n, K, R, C, p, b, mem = case
    cfg = config(**{"bitserial.array.rows": R, "bitserial.array.cols": C,
                    "bitserial.bits_per_cycle": b, **mem})
    hints = {"precision": p}
    t = time_update(cfg, m, n, K, hints=hints)
    ref = reference_timing(cfg, m, n, K, hints=hints)
    assert (t.cycles, t.busy, t.stalls, t.bits_read, t.bits_written) == (
        ref.cycles, ref.busy, ref.stalls, ref.bits_read, ref.bits_written)
    slow = time_update(cfg, m, n, K, hints=hints, fast_forward=False)
    assert (slow.cycles, slow.busy, slow.stalls) == (t.cycles, t.busy, t.stalls)
    assert t.busy["serial_units"] == t.tiles * K * -(-p // b)
    if t.stalls["operand"] == 0 and t.stalls["writeback"] == 0:
        assert t.cycles == t.ideal_cycles


def test_stall_free_cycles_equal_the_closed_form_on_random_configurations():
    rng = np.random.default_rng(2017)
    checked = 0
    for _ in range(40):
        m, n = (int(v) for v in rng.integers(1, 80, size=2))
        K = int(rng.integers(1, 300))
        p, b = int(rng.integers(1, 17)), int(rng.choice([1, 2, 4, 16]))
        wide = bool(rng.random() < 0.6)   # every load and write-back takes one cycle
        bw = int(1 << 20) if wide else int(rng.choice([64, 256, 1024]))
        ls, stages, V = int(rng.integers(0, 4)), int(rng.integers(0, 5)), int(rng.integers(1, 100))
        cfg = config(**{"bitserial.array.rows": int(rng.integers(1, 40)),
                        "bitserial.array.cols": int(rng.integers(1, 40)),
                        "bitserial.bits_per_cycle": b,
                        "bitserial.quantiser_latency": ls, "bitserial.pipeline_stages": stages,
                        "memory.read_bandwidth": bw, "memory.write_bandwidth": bw,
                        "memory.operand_buffer_vectors": V})
        t = time_update(cfg, m, n, K, hints={"precision": p})
        terms = DP.closed_form_terms(cfg, m, n, K, hints={"precision": p})
        steps = -(-p // b)
        assert terms["compute"] == t.tiles * K * steps
        stall_free = t.stalls["operand"] == 0 and t.stalls["writeback"] == 0
        # docs/bitserial.md's sufficient condition, with one-cycle loads and write-backs:
        # every batch streams at least 1 + Ls cycles, every tile at least P + 1 + 1 (the
        # accumulate stage and the write-back)
        smallest = min(V, K % V or V) if K > V or t.tiles > 1 else K
        if wide and smallest * steps >= 1 + ls and K * steps >= stages + 2:
            assert stall_free
        if stall_free:
            checked += 1
            assert t.cycles == sum(terms.values()) == t.ideal_cycles
        else:
            assert t.cycles > t.ideal_cycles
    assert checked >= 20


@pytest.mark.parametrize("seed", range(6))
def test_equal_peak_throughput_speedup_is_ceil16b_over_ceilpb(seed):
    """The bit-serial array with 16/b times the units of the bit-parallel one (as in Tartan)
    is faster by ceil(16/b) / ceil(p/b) in compute cycles; the totals differ from that ratio
    only by the fixed terms (load, quantiser, pipeline, write-back)."""
    rng = np.random.default_rng([16, seed])
    b = int(rng.choice([1, 2, 4]))
    p = int(rng.integers(1, 17))
    R, C = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    m, n, K = int(rng.integers(1, 30)), C * (16 // b) * int(rng.integers(1, 4)), 64
    wide = {"memory.read_bandwidth": 1 << 20, "memory.write_bandwidth": 1 << 20}
    serial = config(**{"bitserial.array.rows": R, "bitserial.array.cols": C * 16 // b,
                       "bitserial.bits_per_cycle": b, **wide})
    parallel = config(**{"bitserial.array.rows": R, "bitserial.array.cols": C,
                         "bitserial.bits_per_cycle": 16, **wide})
    ts = DP.closed_form_terms(serial, m, n, K, hints={"precision": p})
    tp = DP.closed_form_terms(parallel, m, n, K, hints={"precision": p})
    assert Fraction(tp["compute"], ts["compute"]) == Fraction(-(-16 // b), -(-p // b))
    cs = time_update(serial, m, n, K, hints={"precision": p}).cycles
    cp = time_update(parallel, m, n, K, hints={"precision": p}).cycles
    fixed_s, fixed_p = cs - ts["compute"], cp - tp["compute"]
    assert (fixed_s, fixed_p) == (sum(ts.values()) - ts["compute"],
                                  sum(tp.values()) - tp["compute"])


# ------------------------------------------------------------------------------- hooks, cost


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("bitserial") / "trace"
    layers = [("conv1", "conv2d", 24, 10, 16), ("fc", "linear", 18, 6, 40)]
    return make_synthetic_trace(path, layers, seed=5, steps=(0,))


def test_profile_sets_each_layers_precision_and_rows_report_it(trace):
    cfg = config(**{"bitserial.precision_mode": "profile",
                    "bitserial.precision_profile": ["conv*=5", "fc=11"],
                    "bitserial.bits_per_cycle": 2})
    rows = simulate(cfg, trace).rows
    assert {r["layer"]: r["bitserial_precision"] for r in rows} == {"conv1": 5, "fc": 11}
    for r in rows:
        assert r["label"] == DP.describe(cfg)
        tiles = math.ceil(r["m"] / 32) * math.ceil(r["n"] / 32)
        p = r["bitserial_precision"]
        assert r["busy_serial_units"] * r["cycles"] == tiles * r["K"] * math.ceil(p / 2)
    auto = simulate(config(), trace).rows
    assert all(1 <= r["bitserial_precision"] <= 16 and r["rel_error"] <= 0.01 for r in auto)


def test_run_prints_the_precision_column(trace, tmp_path, capsys):
    from essop_sim.cli import main

    assert main(["run", "--set", "datapath=bitserial", "--trace", str(trace), "-o",
                 str(tmp_path / "out"), "--compare", "fp16", "-q"]) == 0
    head = capsys.readouterr().out.splitlines()[0].split()
    assert head[head.index("design") + 1] == "p"


def test_energy_prices_unit_steps_with_the_configured_unit_and_area_per_throughput():
    table = load_cost_table("14nm")
    for b in (1, 2, 4, 16):
        cfg = config(**{"bitserial.bits_per_cycle": b, "bitserial.precision_mode": "fixed"})
        t = time_update(cfg, 8, 8, 4, hints={"precision": 7})
        e = estimate_energy(cfg, t.activity, table)
        unit = table.components[f"serial_unit_b{b}"]
        assert e.by_component["serial_units"] == pytest.approx(
            t.activity["unit_steps"] * unit.energy_pj["step"])
        assert t.activity["unit_steps"] == 64 * 4 * math.ceil(7 / b)
    # area per peak throughput (units x unit area / b): 2 bits per cycle needs less than 1
    area = {b: table.components[f"serial_unit_b{b}"].area_um2 / b for b in (1, 2, 4, 16)}
    assert area[16] < area[4] < area[2] < area[1]
    cfg1 = config(**{"bitserial.array.cols": 32})
    cfg2 = config(**{"bitserial.array.cols": 16, "bitserial.bits_per_cycle": 2})
    a1, a2 = estimate_area(cfg1, table), estimate_area(cfg2, table)
    assert a2.by_component["serial_units"] < a1.by_component["serial_units"]


# ------------------------------------------------------------------------------- figures


def test_figures_draw_on_bitserial_rows_and_skip_other_tables(trace):
    from essop_sim.report.plots import FIGURES, Unsupported

    names = [n for n in FIGURES if n.startswith("bitserial_")]
    assert len(names) == 3
    rows = []
    for i, (p, b) in enumerate([(4, 1), (8, 1), (4, 2), (8, 2)]):
        cfg = config(**{"bitserial.precision_mode": "fixed", "bitserial.precision": p,
                        "bitserial.bits_per_cycle": b})
        for r in simulate(cfg, trace).rows:
            rows.append({**r, "point_id": f"b{i}", "bitserial.precision": p,
                         "bitserial.bits_per_cycle": b})
    for essop_like in ("essop", "fp16"):
        for r in simulate(load_config(overrides={"datapath": essop_like}), trace).rows:
            rows.append({**r, "point_id": essop_like})
    notes = []
    for name in names:
        fig = FIGURES[name](rows, note=notes.append)
        assert fig.axes
    other = simulate(load_config(), trace).rows
    for name in names:
        with pytest.raises(Unsupported):
            FIGURES[name](other, note=notes.append)


# ------------------------------------------------------------------------------- training


def test_training_in_the_loop_with_fixed_and_auto_precision():
    torch = pytest.importorskip("torch")
    from essop_sim.training import EssopGradients

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    xb, yb = torch.randn(16, 6), torch.randint(0, 3, (16,))
    exact = []
    loss = torch.nn.functional.cross_entropy(model(xb), yb)
    loss.backward()
    exact = [p.grad.detach().clone() for p in model.parameters() if p.dim() == 2]
    for overrides in ({"bitserial.precision_mode": "fixed", "bitserial.precision": 12},
                      {"bitserial.precision_mode": "auto", "bitserial.tolerance": 0.02},
                      {"bitserial.precision_mode": "profile",
                       "bitserial.precision_profile": ["*=10"]}):
        model.zero_grad()
        with EssopGradients(model, config(**overrides)):
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
        got = [p.grad for p in model.parameters() if p.dim() == 2]
        for g, e in zip(got, exact, strict=True):
            rel = float(torch.linalg.norm(g - e) / torch.linalg.norm(e))
            assert rel < 0.03, (overrides, rel)

