"""The composed CBRAM datapath: shift scaler, pulse-width table, devices (switch, read, RESET),
AND array, counters, accumulators.

:func:`cbram_outer_product` computes, bit for bit, what the hardware accumulates for
dW = sum_k delta_k x_k^T; the semantics are docs/numerics-cbram.md. The shift scaler, AND array,
counters and accumulators are ESSOP's shared blocks (:mod:`essop_sim.numerics.shift_scaler`,
:mod:`essop_sim.numerics.and_counter`); only the stream source differs: stream bit t of an
operand element is the read-out of CBRAM device t mod d of the element's converter after a SET
pulse of the width its magnitude selects. Every pulse's randomness is a counter-based hash of
(record seed, side, element, tile, k, t), so results do not depend on chunks or threads.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ...config import HardwareConfig
from ...hw.scheduler import ceil_div
from ...numerics import and_counter, shift_scaler
from ...numerics.result import OuterProductResult
from . import device as dv

#: Outer products per chunk when none is given.
DEFAULT_CHUNK = 512
#: Outer products per block of the expected-update pass (fixed: the bias does not depend on
#: the chunk size).
EXPECT_BLOCK = 256


@nb.njit(cache=True, inline="always")
def _mix64(z):  # pragma: no cover - numba
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@nb.njit(parallel=True, cache=True)
def device_streams(vals, exps, k0, e0, tile, side, h0, S, T, bl, d, w, gmask, out, signs,
                   switches, set_steps):  # pragma: no cover - numba
    """Streams of one side of one tile for a chunk of outer products.

    vals [kc, ne] operand values of the tile's elements (global indices e0 .. e0+ne-1, local
    converter index = position), exps [kc] scale exponents, k0 the chunk's first k; h0 =
    mix64(seed + GOLDEN); S [2^w + 1] pulse steps; T [ne_conv * d, G, S_max + 1] thresholds.
    out uint64 [kc, W, ne] packed streams (zeroed here), signs int8 [kc, ne] (0 / -1);
    switches [ne * d] and set_steps [ne] are incremented (ones and pulse steps per device /
    converter). Parallel over elements: each owns its devices.
    """
    kc, ne = vals.shape
    W = out.shape[1]
    full = 1 << w
    golden = np.uint64(0x9E3779B97F4A7C15)
    for p in nb.prange(ne):
        e = np.uint64(e0 + p)
        h1 = _mix64(h0 ^ ((np.uint64(side) << np.uint64(62)) | (np.uint64(tile) << np.uint64(32))
                          | e))
        steps_sum = 0
        for kk in range(kc):
            v = vals[kk, p]
            signs[kk, p] = -1 if v < 0 else 0
            y = math.ldexp(abs(np.float64(v)), w - exps[kk])
            fy = np.floor(y)
            q = np.int64(fy) + (1 if y - fy >= 0.5 else 0)
            if q > full:
                q = full
            s = S[q]
            for wd in range(W):
                out[kk, wd, p] = np.uint64(0)
            if s == 0:
                continue
            steps_sum += s * bl
            kbase = np.uint64(k0 + kk) << np.uint64(20)
            for t in range(bl):
                lane = t % d
                h = _mix64(h1 + (kbase | np.uint64(t)) * golden)
                g = np.int64(h & np.uint64(gmask))
                r = np.int64(h >> np.uint64(32))
                dev = p * d + lane
                if r < T[dev, g, s]:
                    out[kk, t >> 6, p] |= np.uint64(1) << np.uint64(t & 63)
                    switches[dev] += 1
        set_steps[p] += steps_sum


def quantise(a: np.ndarray, e: np.ndarray, w: int) -> np.ndarray:
    """q = round-half-up(|a| * 2^(w - e)) clipped to [0, 2^w], exactly (numpy, int64)."""
    y = np.ldexp(np.abs(a.astype(np.float64)), (w - e)[:, None].astype(np.int64))
    fy = np.floor(y)
    q = fy.astype(np.int64) + (y - fy >= 0.5)
    return np.minimum(q, 1 << w)


def cbram_outer_product(x: np.ndarray, delta: np.ndarray, config: HardwareConfig, seed: int,
                        *, chunk: int | None = None) -> OuterProductResult:
    """CBRAM's bit-exact estimate of sum_k delta_k x_k^T (docs/numerics-cbram.md).

    ``seed`` is the record's seed (pulse randomness); the devices' frozen variation comes from
    the run seed ``config.seed``. ``chunk`` (outer products per chunk) does not change results.
    """
    from ...numerics import as_operands

    x, delta = as_operands(x, delta)
    c = config.cbram
    K, n = x.shape
    m = delta.shape[1]
    bl, d, w = int(c.bitstream_length), int(c.devices_per_converter), int(c.magnitude_bits)
    F, A = int(c.accumulator_fraction_bits), int(c.accumulator_bits)
    R, C = c.array.rows, c.array.cols
    words = (bl + 63) // 64
    chunk = max(1, int(chunk or DEFAULT_CHUNK))

    # Shift scaler (ESSOP's block): exponents, active outer products, accumulator shifts.
    ex, ed, active, E, lsh, rsh = shift_scaler.scale_plan(x, delta, c.scaling.granularity, F,
                                                          max(chunk, 1 << 14))

    S = dv.pulse_steps_table(c)
    Tx = dv.side_tables(c, int(config.seed), dv.SIDE_X, min(C, n))
    Td = dv.side_tables(c, int(config.seed), dv.SIDE_D, min(R, m))
    gmask = c.device.c2c_levels - 1
    h0 = np.uint64(dv.mix64((int(seed) + dv.GOLDEN) & dv.MASK64))

    counter_max = (1 << int(c.counter_bits)) - 1
    saturate = c.overflow == "saturate"
    acc = np.zeros((m, n), dtype=np.int64)
    inc = np.zeros(m, dtype=np.int64)
    covf = np.zeros(m, dtype=np.int64)
    asat = np.zeros(m, dtype=np.int64)
    sw_x = np.zeros(min(C, n) * d, dtype=np.int64)
    sw_d = np.zeros(min(R, m) * d, dtype=np.int64)
    st_x = np.zeros(min(C, n), dtype=np.int64)
    st_d = np.zeros(min(R, m), dtype=np.int64)
    tile_rows, tile_cols = ceil_div(m, R), ceil_div(n, C)
    for k0 in range(0, K, chunk):
        k1 = min(K, k0 + chunk)
        kc = k1 - k0
        xs = shift_scaler.kernel_array(x[k0:k1])
        ds = shift_scaler.kernel_array(delta[k0:k1])
        act = active[k0:k1]
        for tr in range(tile_rows):
            r0, r1 = tr * R, min(m, tr * R + R)
            for tc in range(tile_cols):
                c0, c1 = tc * C, min(n, tc * C + C)
                nx, nd = c1 - c0, r1 - r0
                X = np.empty((kc, words, nx), dtype=np.uint64)
                Xs = np.empty((kc, nx), dtype=np.int8)
                D = np.empty((kc, words, nd), dtype=np.uint64)
                Ds = np.empty((kc, nd), dtype=np.int8)
                device_streams(np.ascontiguousarray(xs[:, c0:c1]), ex[k0:k1], k0, c0, tr,
                               dv.SIDE_X, h0, S, Tx, bl, d, w, gmask, X, Xs, sw_x, st_x)
                device_streams(np.ascontiguousarray(ds[:, r0:r1]), ed[k0:k1], k0, r0, tc,
                               dv.SIDE_D, h0, S, Td, bl, d, w, gmask, D, Ds, sw_d, st_d)
                if not act.any():
                    continue
                sub = np.ascontiguousarray(acc[r0:r1, c0:c1])
                kblock, groups = and_counter.kernel_layout(nx, nd, words)
                tinc = np.zeros(nd, dtype=np.int64)
                tcov = np.zeros(nd, dtype=np.int64)
                tsat = np.zeros(nd, dtype=np.int64)
                and_counter.accumulate_checked(X, Xs, D, Ds, lsh[k0:k1], rsh[k0:k1], act, sub,
                                               counter_max, saturate, A, tinc, tcov, tsat,
                                               kblock, groups)
                acc[r0:r1, c0:c1] = sub
                inc[r0:r1] += tinc
                covf[r0:r1] += tcov
                asat[r0:r1] += tsat

    eta = _learning_rate(c.scaling.learning_rate, c.scaling.learning_rate_mode)
    with np.errstate(over="ignore", under="ignore"):
        lsb = float(np.ldexp(1.0, E - F)) / bl
        dw = np.ldexp(acc.astype(np.float64), E - F) / bl
        update = -eta * dw
    bias, gain = expected_bias(x, delta, ex, ed, active, E, config, S, Tx, Td)
    switches = int(sw_x.sum() + sw_d.sum())
    return OuterProductResult(
        datapath="cbram", dw=dw, update=update, raw=acc, lsb_weight=lsb, x_shifts=ex,
        delta_shifts=ed, learning_rate=eta,
        activity={
            "counter_increments": int(inc.sum()),
            "counter_overflows": int(covf.sum()),
            "accumulator_saturations": int(asat.sum()),
            "device_switches": switches,
            "set_steps": int(st_x.sum() + st_d.sum()),
            "k": int(K),
        },
        hints={"bias_vs_ideal": bias, "gain_vs_ideal": gain,
               "max_switches_x": int(sw_x.max()), "max_switches_delta": int(sw_d.max())},
    )


def _learning_rate(eta: float, mode: str) -> float:
    """eta_eff as ESSOP's (docs/numerics-essop.md section 8): 'multiply' -> eta; 'shift' ->
    2^round(log2 eta) decided exactly on the mantissa (M^2 >= 2^105), 0 for eta = 0."""
    eta = float(eta)
    if mode == "multiply" or eta == 0.0:
        return eta
    f, e = math.frexp(eta)
    mant = int(f * (1 << 53))
    return math.ldexp(1.0, e if mant * mant >= 1 << 105 else e - 1)


def expected_bias(x, delta, ex, ed, active, E, config, S, Tx, Td) -> tuple[float, float]:
    """(relative Frobenius bias, gain) of the expected CBRAM update against the ideal source.

    Ideal source: the same pipeline (exponents, magnitude quantisation q) with exact
    Bernoulli(q / 2^w) bits, so E[dW_ideal] = sum_k s_k 2^(e_x + e_d) (q_x / 2^w)(q_d / 2^w)^T.
    CBRAM: bit t of an element is Bernoulli(P[dev(t), S[q]]) (the realised probability), so
    E[count] = sum_l n_l P_x,l P_d,l with n_l = ceil((BL - l) / d) bits on lane l. Both before
    the accumulator's floor. bias = ||E_c - E_i||_F / ||E_i||_F, gain = <E_c, E_i> / <E_i, E_i>
    (0 and 1 when E_i = 0). Computed in fixed blocks of EXPECT_BLOCK outer products with
    np.einsum (no BLAS), so independent of chunks and threads.
    """
    c = config.cbram
    K, n = x.shape
    m = delta.shape[1]
    bl, d, w = c.bitstream_length, c.devices_per_converter, c.magnitude_bits
    R, C = c.array.rows, c.array.cols
    Px = dv.realised_probability(Tx)      # [C' * d, S_max + 1]
    Pd = dv.realised_probability(Td)
    nl = np.array([ceil_div(bl - lane, d) for lane in range(d)], dtype=np.float64)
    devx = (np.arange(n) % C)[:, None] * d + np.arange(d)[None, :]     # [n, d]
    devd = (np.arange(m) % R)[:, None] * d + np.arange(d)[None, :]
    Ec = np.zeros((m, n))
    Ei = np.zeros((m, n))
    full = float(1 << w)
    for k0 in range(0, K, EXPECT_BLOCK):
        k1 = min(K, k0 + EXPECT_BLOCK)
        act = active[k0:k1]
        if not act.any():
            continue
        xb = np.asarray(x[k0:k1], dtype=np.float64)[act]
        db = np.asarray(delta[k0:k1], dtype=np.float64)[act]
        exb, edb = ex[k0:k1][act], ed[k0:k1][act]
        qx, qd = quantise(xb, exb, w), quantise(db, edb, w)
        fx = np.where(xb < 0, -1.0, 1.0) * np.ldexp(1.0, exb - E // 2)[:, None]
        fd = np.where(db < 0, -1.0, 1.0) * np.ldexp(1.0, edb - (E - E // 2))[:, None]
        Ei += np.einsum("kj,ki->ji", fd * qd / full, fx * qx / full, optimize=False)
        px = Px[devx[None, :, :], S[qx][:, :, None]]          # [k, n, d]
        pd = Pd[devd[None, :, :], S[qd][:, :, None]] * nl     # [k, m, d]
        Ec += np.einsum("kjl,kil->ji", fd[:, :, None] * pd, fx[:, :, None] * px,
                        optimize=False) / bl
    norm = float(np.sum(Ei * Ei))
    if norm == 0.0:
        return 0.0, 1.0
    diff = Ec - Ei
    return float(np.sqrt(np.sum(diff * diff) / norm)), float(np.sum(Ec * Ei) / norm)
