"""The CBRAM datapath: bit-exact numerics against the slow reference (tests/reference_cbram.py,
written from docs/numerics-cbram.md), the device statistics the issue asks for, timing against
the per-cycle reference on random configurations with the closed form, cost and wear columns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference_cbram import reference_cbram

from essop_sim.config import load_config
from essop_sim.datapaths.cbram import device as dv
from essop_sim.datapaths.cbram.geometry import bit_period
from essop_sim.hw import closed_form_cycles, time_update
from essop_sim.hw.reference import reference_timing
from essop_sim.numerics import outer_product
from essop_sim.simulate import simulate
from essop_sim.trace import make_synthetic_trace


def cfg(**over):
    return load_config(overrides={"datapath": "cbram", **{f"cbram.{k}": v
                                                          for k, v in over.items()}})


SMALL = {"array.rows": 2, "array.cols": 3, "bitstream_length": 20, "devices_per_converter": 3,
         "magnitude_bits": 5, "device.pulse_max_steps": 15, "device.pulse_step_ns": 2.0}


@pytest.mark.parametrize("over", [
    {},
    {"device.calibration": "inverse", "device.d2d_sigma": 0.4, "device.c2c_sigma": 0.3,
     "device.c2c_levels": 4},
    {"device.d2d_sigma": 0.8, "scaling.granularity": "batch", "accumulator_fraction_bits": 0},
    {"counter_bits": 3, "accumulator_bits": 9, "overflow": "wrap", "bitstream_length": 70},
    {"counter_bits": 3, "accumulator_bits": 9, "device.c2c_sigma": 1.0},
])
def test_numerics_equal_the_reference_bit_for_bit(over):
    config = cfg(**{**SMALL, **over})
    rng = np.random.default_rng(3)
    K, n, m = 6, 7, 5
    x = rng.normal(size=(K, n)) * (rng.random((K, n)) > 0.2)
    delta = rng.normal(scale=1e-3, size=(K, m))
    x[2] = 0.0
    res = outer_product(x, delta, config, seed=11)
    acc, E, switches = reference_cbram(x.tolist(), delta.tolist(), config.cbram, config.seed, 11)
    np.testing.assert_array_equal(res.raw, np.array(acc))
    c = config.cbram
    assert res.lsb_weight == math.ldexp(1.0, E - c.accumulator_fraction_bits) / \
        c.bitstream_length
    assert res.activity["device_switches"] == sum(switches.values())
    xs = [v for (side, _, _), v in switches.items() if side == 0]
    assert res.hints["max_switches_x"] == max(xs, default=0)


def _one_row(config, u, cols, seed=5):
    """count_i / BL for x = [1, u, u, ...] (cols columns) against delta = [1]: the streams of
    u through independent devices, ANDed with an (almost) always-one delta stream."""
    x = np.full((1, cols), u)
    x[0, 0] = 1.0
    res = outer_product(x, np.ones((1, 1)), config, seed=seed)
    c = config.cbram
    return res.raw[0, 1:] / (c.bitstream_length << c.accumulator_fraction_bits)


def test_zero_variation_fine_pulses_match_the_ideal_source():
    # Calibrated, no variation, a 0.05 ns step and a 200 ns longest pulse (~22 tau): realised
    # probabilities equal q / 2^w within 3e-3 (quantisation of the width by half a step:
    # dP <= P'(0) step / 2 = step / (2 tau) ~ 2.8e-3), and the delta stream (q = 2^w) is
    # 1 - exp(-22) ~ 1 - 2e-10.
    BL, cols = 64, 1001
    config = cfg(**{"array.cols": 1024, "array.rows": 1, "devices_per_converter": 1,
                    "bitstream_length": BL, "device.calibration": "inverse",
                    "device.c2c_levels": 1,
                    "device.pulse_step_ns": 0.05, "device.pulse_max_steps": 4000})
    c = config.cbram
    S = dv.pulse_steps_table(c)
    P = dv.realised_probability(dv.side_tables(c, 0, dv.SIDE_X, 1))[0]
    q = np.arange(1 << c.magnitude_bits)
    assert np.max(np.abs(P[S[q]] - q / (1 << c.magnitude_bits))) < 3e-3
    for u in (0.125, 0.5, 0.8125):   # exact in w = 8 bits
        f = _one_row(config, u, cols)
        # mean of N = 1000 streams x BL bits of Bernoulli(u): sd = sqrt(u(1-u) / (N BL));
        # tolerance 5 sd (+ the 3e-3 width quantisation)
        sd = math.sqrt(u * (1 - u) / (f.size * BL))
        assert abs(f.mean() - u) < 5 * sd + 3e-3
        # variance of one stream's estimate: u(1-u)/BL; the sample variance of N values has
        # relative sd sqrt(2 / (N - 1)) ~ 0.032: tolerance 5 of those
        assert f.var(ddof=1) == pytest.approx(u * (1 - u) / BL, rel=5 * math.sqrt(2 / (f.size - 1)))


def test_quantised_pulse_realises_the_closed_form_exactly():
    # Coarse pulses (4 ns steps, at most 15): the realised probability of every width is
    # round((1 - exp(-S step / tau)) 2^32) / 2^32, and the measured frequency follows it, not u.
    config = cfg(**{"array.cols": 2048, "array.rows": 1, "devices_per_converter": 1,
                    "bitstream_length": 128, "device.pulse_step_ns": 4.0,
                    "device.pulse_max_steps": 15, "magnitude_bits": 4})
    c = config.cbram
    tau = 2.85e5 * math.exp(-4.85 / 0.156) * 1e9
    S = dv.pulse_steps_table(c)
    assert list(S) == [min(15, math.floor(q * tau / 4.0 / 16 + 0.5)) for q in range(17)]
    P = dv.realised_probability(dv.side_tables(c, 0, dv.SIDE_X, 1))[0]
    for s in range(16):
        exact = 1 - math.exp(-s * 4.0 / tau)
        assert P[s] == math.floor(exact * 2 ** 32 + 0.5) / 2 ** 32
    Pone = P[S[16]]
    for q in (3, 8, 13):
        u = q / 16
        f = _one_row(config, u, 2001)
        p = P[S[q]] * Pone
        assert abs(p - u) > 0.01          # the bias of the uncalibrated curve is visible
        sd = math.sqrt(p * (1 - p) / (f.size * c.bitstream_length))
        assert abs(f.mean() - p) <= 5 * sd


def test_device_to_device_mean_matches_the_integral_over_tau0():
    # d2d sigma 0.5, 2000 frozen devices (one per column, d = 1), no c2c, calibrated pulse
    # for u. E[count/BL] = E_z[1 - exp(-t / (tau e^{sigma z}))] * P_delta, the integral by the
    # trapezoid rule on z in [-9, 9] (error << 1e-6). The mean over N devices of BL-bit streams
    # has variance (Var_z[P] + E_z[P(1-P)] / BL) / N: tolerance 5 sd.
    sigma, BL, cols = 0.5, 64, 2001
    config = cfg(**{"array.cols": 2048, "array.rows": 1, "devices_per_converter": 1,
                    "bitstream_length": BL, "device.calibration": "inverse",
                    "device.d2d_sigma": sigma, "device.pulse_step_ns": 0.25,
                    "device.c2c_levels": 1,
                    "device.pulse_max_steps": 400})
    c = config.cbram
    tau = 2.85e5 * math.exp(-4.85 / 0.156) * 1e9
    u = 0.375
    q = round(u * 256)
    t = int(dv.pulse_steps_table(c)[q]) * 0.25
    # the delta side: one device (row 0) of its own frozen tau, at the longest pulse
    Pd = dv.realised_probability(dv.side_tables(c, config.seed, dv.SIDE_D, 1))[0, 400]
    z = np.linspace(-9, 9, 18001)
    pdf = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    pz = 1 - np.exp(-t / (tau * np.exp(sigma * z)))
    mean = np.trapezoid(pz * pdf, z)
    var = np.trapezoid((pz - mean) ** 2 * pdf, z) + np.trapezoid(pz * (1 - pz) * pdf, z) / BL
    f = _one_row(config, u, cols)
    assert abs(f.mean() - mean * Pd) < 5 * math.sqrt(var / (cols - 1))
    # and the device spread is real: a frozen per-device probability, not one curve
    assert f.std() > 2 * math.sqrt(mean * (1 - mean) / BL) * 0.5


def test_calibration_removes_most_of_the_bias():
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(size=(64, 20)))
    delta = rng.normal(size=(64, 12))
    none = outer_product(x, delta, cfg(), seed=1).hints
    cal = outer_product(x, delta, cfg(**{"device.calibration": "inverse"}), seed=1).hints
    fine = outer_product(x, delta, cfg(**{"device.calibration": "inverse",
                                          "device.pulse_step_ns": 0.125,
                                          "device.pulse_max_steps": 504}), seed=1).hints
    # deterministic expectations (no sampling): uncalibrated gain ~0.65 (the compressive
    # curve); calibrated at 1 ns steps the gain is ~1 but magnitudes below ~0.055 get no pulse
    # (width < half a step), a residual bias ~0.11; 1/8 ns steps shrink it ~8x
    assert none["bias_vs_ideal"] > 0.3 and none["gain_vs_ideal"] < 0.7
    assert cal["bias_vs_ideal"] < 0.15 and cal["gain_vs_ideal"] == pytest.approx(1.0, abs=0.02)
    assert fine["bias_vs_ideal"] < 0.02 and fine["gain_vs_ideal"] == pytest.approx(1.0, abs=0.01)


def test_event_model_equals_reference_and_closed_form_on_random_configurations():
    rng = np.random.default_rng(15)
    stall_free = 0
    for _ in range(25):
        over = {"datapath": "cbram",
                "cbram.array.rows": int(rng.integers(1, 5)),
                "cbram.array.cols": int(rng.integers(1, 5)),
                "cbram.bitstream_length": int(rng.integers(1, 12)),
                "cbram.devices_per_converter": int(rng.integers(1, 5)),
                "cbram.device.pulse_max_steps": int(rng.integers(1, 6)),
                "cbram.device.pulse_step_ns": float(rng.choice([0.5, 1.0, 1.5])),
                "cbram.device.read_ns": float(rng.integers(0, 4)),
                "cbram.device.reset_ns": float(rng.integers(0, 4)),
                "cbram.shift_scaler_latency": int(rng.integers(0, 4)),
                "cbram.pipeline_stages": int(rng.integers(0, 4)),
                "cbram.accumulator_bits": int(rng.choice([8, 16, 32])),
                "memory.read_bandwidth": int(rng.choice([8, 32, 256])),
                "memory.write_bandwidth": int(rng.choice([8, 32, 256])),
                "memory.operand_buffer_vectors": int(rng.integers(1, 5)),
                "memory.shared_port": bool(rng.integers(0, 2)),
                "memory.clock_hz": float(rng.choice([0.5e9, 1e9, 2e9]))}
        config = load_config(overrides=over)
        m, n, K = (int(v) for v in rng.integers(1, 9, size=3))
        tm = time_update(config, m, n, K, hints={})
        ref = reference_timing(config, m, n, K, hints={})
        assert (tm.cycles, tm.busy, tm.stalls) == (ref.cycles, ref.busy, ref.stalls), over
        assert tm.busy["and_array"] == (-(-m // config.cbram.array.rows)
                                        * -(-n // config.cbram.array.cols) * K
                                        * -(-config.cbram.bitstream_length
                                            // config.cbram.devices_per_converter))
        if tm.stalls["operand"] == 0 and tm.stalls["writeback"] == 0:
            assert tm.cycles == closed_form_cycles(config, m, n, K)
            stall_free += 1
    assert stall_free >= 5


def test_bit_period_quantises_pulse_read_and_reset_to_cycles():
    config = cfg()
    assert bit_period(config) == 63 + 10 + 20
    config = load_config(overrides={"datapath": "cbram", "memory.clock_hz": 0.3e9,
                                    "cbram.device.read_ns": 5.0})
    # 63 ns -> ceil(18.9) = 19, 5 ns -> ceil(1.5) = 2, 20 ns -> 6
    assert bit_period(config) == 19 + 2 + 6


def test_report_rows_carry_bias_wear_and_device_energy(tmp_path):
    trace = make_synthetic_trace(tmp_path / "t", [("fc1", "linear", 24, 10, 16)], seed=2,
                                 steps=(0,))
    config = load_config(overrides={"datapath": "cbram", "cbram.device.endurance_cycles": 1e6})
    row = simulate(config, trace).rows[0]
    assert row["cbram_max_set_pulses_per_device"] == 16 * 8 * 1    # K * BL/d * one tile
    sw = row["cbram_max_switches_per_device"]
    assert 0 < sw <= 16 * 8
    assert row["cbram_updates_to_failure"] == pytest.approx(1e6 / sw)
    assert row["cbram_bias_vs_ideal"] >= 0 and np.isfinite(row["cbram_gain_vs_ideal"])


# ------------------------------------------------------------------------------ training


def test_training_in_the_loop_runs_and_cbram_gradients_are_biased_as_modelled():
    """Training in the loop with datapath cbram: a few steps of train_classifier run, the hook's
    gradient is the datapath's dW bit for bit, and its gain against the exact gradient is the
    model's gain_vs_ideal: about 1 when calibrated (small bias), about 0.57 uncalibrated (the
    compressive switching curve; docs/cbram.md). BL 1024 makes the random part small."""
    torch = pytest.importorskip("torch")
    from essop_sim.training import EXACT, derive_seed, essop_gradients, train_classifier

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(24, 6))
    x = torch.randn(32, 24)
    d = torch.randn(32, 6) * 1e-2

    def grad(config):
        model.zero_grad()
        with essop_gradients(model, config, seed=3):
            (model(x) * d).sum().backward()   # grad_output = d, so dW = d^T x
        return model[0].weight.grad.double().numpy().copy()

    exact = grad(EXACT)
    np.testing.assert_allclose(exact, d.double().numpy().T @ x.double().numpy(), rtol=1e-6)
    gains = {}
    for cal in ("none", "inverse"):
        config = cfg(**{"bitstream_length": 1024, "device.calibration": cal})
        g = grad(config)
        res = outer_product(x.numpy(), d.numpy(), config, seed=derive_seed(3, "0", 0))
        np.testing.assert_array_equal(g, res.dw.astype(np.float32))
        gains[cal] = float(np.sum(g * exact) / np.sum(exact * exact))
        assert gains[cal] == pytest.approx(res.hints["gain_vs_ideal"], abs=0.02)
        if cal == "inverse":
            assert res.hints["bias_vs_ideal"] < 0.15 and 0.9 < gains[cal] < 1.1
        else:
            assert res.hints["bias_vs_ideal"] > 0.3 and gains[cal] < 0.75
    assert gains["none"] < gains["inverse"] - 0.2

    gen = torch.Generator().manual_seed(1)
    xs = torch.randn(96, 24, generator=gen)
    ys = (xs[:, :6].argmax(1)).long()
    config = cfg(**{"bitstream_length": 32, "device.calibration": "inverse",
                    "device.d2d_sigma": 0.3, "device.c2c_sigma": 0.3})
    res = train_classifier(lambda: torch.nn.Sequential(torch.nn.Linear(24, 16), torch.nn.ReLU(),
                                                       torch.nn.Linear(16, 6)),
                           (xs, ys), (xs, ys), config, epochs=2, batch_size=16,
                           max_steps_per_epoch=3, seed=0)
    assert len(res.test_accuracy) == 2 and len(res.step_seconds) == 6
    assert [s.updates for s in res.layers] == [6, 6] and res.label.startswith("cbram")
    assert all(math.isfinite(v) for v in res.train_loss)


# ------------------------------------------------------------------------------- figure


def _figure_table():
    """A tiny hand-made sweep table: CBRAM (2 calibrations x 2 sigmas x 2 BLs), LFSR ESSOP at
    the same BLs and FP16, two layers each, with known means."""
    rows = []

    def add(pid, datapath, **cols):
        for layer, scale in (("conv1", 0.9), ("fc", 1.1)):
            r = {"point_id": pid, "trace": "t", "datapath": datapath, "layer": layer,
                 "step": 0, "label": f"{datapath} {pid}", "cycles": 100, "energy_pj": 1.0}
            r.update({k: (v * scale if k == "rel_error" else v) for k, v in cols.items()})
            rows.append(r)

    for cal, bias, gain in (("none", 0.46, 0.57), ("inverse", 0.10, 0.99)):
        for sigma in (0.0, 0.6):
            for bl in (32, 64):
                add(f"c-{cal}-{sigma}-{bl}", "cbram", cbram_bitstream_length=bl,
                    cbram_calibration=cal, cbram_d2d_sigma=sigma, cbram_c2c_sigma=sigma,
                    rel_error=bias + 1.0 / math.sqrt(bl) + sigma / 4,
                    cbram_bias_vs_ideal=bias + sigma / 4, cbram_gain_vs_ideal=gain)
    for bl in (32, 64):
        add(f"e{bl}", "essop", essop_bitstream_length=bl, rel_error=1.5 / math.sqrt(bl))
    add("f", "fp16", rel_error=3e-4)
    return rows


def test_cbram_figure_draws_error_bias_and_gain_and_skips_other_tables(tmp_path):
    from essop_sim.report.io import write_table
    from essop_sim.report.plots import FIGURES, Unsupported, plot_results
    from essop_sim.report.plots_cbram import figure_cbram_error_bias

    assert FIGURES["cbram_error_bias"] is figure_cbram_error_bias
    rows = _figure_table()
    fig = figure_cbram_error_bias(rows, note=pytest.fail)
    ax_e, ax_b, ax_g = fig.axes
    lines = {ln.get_label(): ln for ln in ax_e.get_lines()}
    # error vs BL: 4 CBRAM lines (means over the two layers), ESSOP, FP16 in the legend only
    # (far below the CBRAM errors), 1/sqrt(BL) falling.
    line = lines["CBRAM calibrated, sigma 0"]
    assert list(line.get_xdata()) == [32, 64]
    assert list(line.get_ydata()) == pytest.approx([0.10 + 1 / math.sqrt(32),
                                                    0.10 + 1 / math.sqrt(64)])
    assert lines["CBRAM uncalibrated, sigma 0.6"].get_linestyle() == "--"
    assert list(lines["ESSOP (LFSR)"].get_ydata()) == pytest.approx([1.5 / math.sqrt(32),
                                                                    1.5 / math.sqrt(64)])
    assert any("0.0003 (below the axis)" in label for label in lines)
    # bias and gain vs sigma: BL-independent, so one line per calibration.
    bias = {ln.get_label().split(" ")[0]: ln for ln in ax_b.get_lines()}
    assert set(bias) == {"uncalibrated", "calibrated"}
    assert list(bias["calibrated"].get_xdata()) == [0.0, 0.6]
    assert list(bias["calibrated"].get_ydata()) == pytest.approx([0.10, 0.25])
    gain = [ln for ln in ax_g.get_lines() if ln.get_label().startswith("uncalibrated")]
    assert list(gain[0].get_ydata()) == pytest.approx([0.57, 0.57])

    # a BL-dependent bias gets one line per BL
    for r in rows:
        if r.get("cbram_bitstream_length") == 64:
            r["cbram_bias_vs_ideal"] += 0.05
    ax_b = figure_cbram_error_bias(rows, note=pytest.fail).axes[1]
    assert len(ax_b.get_lines()) == 4

    path = write_table(rows, tmp_path, "sweep", {})["json"]
    notes = []
    written = plot_results(path, tmp_path / "f", formats=("png",), note=notes.append,
                           only=["cbram_error_bias"])
    assert [p.name for p in written] == ["cbram_error_bias.png"] and notes == []
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with pytest.raises(Unsupported, match="cbram_bitstream_length"):
        figure_cbram_error_bias([r for r in rows if r["datapath"] != "cbram"], note=pytest.fail)
    other = write_table([r for r in rows if r["datapath"] != "cbram"], tmp_path / "o", "sweep",
                        {})["json"]
    notes = []
    assert plot_results(other, tmp_path / "g", formats=("png",), note=notes.append,
                        only=["cbram_error_bias"]) == []
    assert notes == ["skipped figure cbram_error_bias: needs CBRAM rows (a "
                     "'cbram_bitstream_length' column)"]
