"""Statistical properties of the ESSOP estimate, with fixed seeds and tolerances from the math.

With kind 'ideal' every random number is an exactly uniform w-bit integer, independent of all
others, so a cell's count for one outer product is Binomial(BL, p) with
p = (q_x / 2^w) * (q_d / 2^w) exactly (P(r < q) = q / 2^w). Sums over independent outer
products are binomial too. Tolerances are z standard deviations of the statistic under that
model with z = 5: a correct implementation fails a check with probability below 6e-7 per
check, so with fixed seeds the tests are deterministic and a failure means a real bias.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from essop_sim import HardwareConfig
from essop_sim.datapaths.essop.numerics import essop_outer_product
from essop_sim.numerics.lfsr import RngBanks

Z = 5.0


def make_config(**kw) -> HardwareConfig:
    rng_kw = {k[4:]: v for k, v in kw.items() if k.startswith("rng_")}
    es_kw = {k: v for k, v in kw.items() if not k.startswith("rng_")}
    e = HardwareConfig().essop
    e = dataclasses.replace(e, rng=dataclasses.replace(e.rng, **rng_kw), **es_kw)
    return dataclasses.replace(HardwareConfig(), essop=e)


def quantised(values, w):
    """q = floor(u * 2^w + 1/2) with u = |v| / 2^e, e the vector's exponent (exact rationals)."""
    mags = [abs(Fraction(v)) for v in values]
    top = max(mags)
    e = math.ceil(math.log2(top))
    while top > Fraction(2) ** e:
        e += 1
    while top <= Fraction(2) ** (e - 1):
        e -= 1
    return [min(math.floor(mag / Fraction(2) ** e * 2**w + Fraction(1, 2)), 2**w)
            for mag in mags]


# Operands: the first element of each vector is its largest, so the exponents are 0 (x) and
# -1 (delta) and the other elements' q follow from u = v / 2^e.
X_ROW = [1.0, 0.6, 0.3, 0.05, -0.7]
D_ROW = [0.5, 0.45, -0.1, 0.02]


def exact_p(w=8):
    qx = np.array(quantised(X_ROW, w), dtype=float)
    qd = np.array(quantised(D_ROW, w), dtype=float)
    return np.outer(qd, qx) / 4.0**w  # [m, n]: P(AND bit = 1) per cycle


def test_ideal_mean_count_is_binomial_mean():
    # T independent outer products ('continue' draws fresh numbers every k; 4 seeds x K = 500)
    # with F = 0 and equal exponents, so raw = sum over k of the counts: mean T*BL*p,
    # variance T*BL*p*(1-p) per cell (cells share numbers, but each cell's marginal is this).
    bl, K, seeds = 64, 500, (11, 12, 13, 14)
    config = make_config(bitstream_length=bl, accumulator_fraction_bits=0, accumulator_bits=40,
                         rng_kind="ideal")
    x = np.tile(X_ROW, (K, 1))
    d = np.tile(D_ROW, (K, 1))
    total = sum(np.abs(essop_outer_product(x, d, config, s).raw) for s in seeds)
    T = K * len(seeds)
    p = exact_p()
    mean = T * bl * p
    sigma = np.sqrt(T * bl * p * (1 - p))
    assert np.all(np.abs(total - mean) <= Z * sigma + 1e-9), (total - mean) / np.maximum(sigma,
                                                                                          1e-9)
    assert total[0, 0] == T * bl  # p = 1 (u = 1 on both sides): exact, variance 0


def test_lfsr_mean_count_close_to_binomial_mean():
    # The LFSR banks are deterministic; over a full period each w-bit value appears 2^(L-w)
    # times (0 one time fewer), so P(r < q) = (q 2^(L-w) - 1) / (2^L - 1) (tested exactly
    # below). Treating the x and delta banks (different primitive polynomials) as independent,
    # the summed counts behave like the binomial of the ideal case with those marginals. That
    # independence is empirical, not a theorem, hence the same 5-sigma bound as an assumption
    # checked on 8 * 500 * 64 = 256,000 cycles.
    bl, K, seeds, L, w = 64, 500, range(8), 16, 8
    config = make_config(bitstream_length=bl, accumulator_fraction_bits=0, accumulator_bits=40)
    x = np.tile(X_ROW, (K, 1))
    d = np.tile(D_ROW, (K, 1))
    total = sum(np.abs(essop_outer_product(x, d, config, s).raw) for s in seeds)
    T = K * len(seeds)
    qx = np.array(quantised(X_ROW, w), dtype=float)
    qd = np.array(quantised(D_ROW, w), dtype=float)
    px = np.clip((qx * 2 ** (L - w) - 1) / (2**L - 1), 0, 1)
    pd = np.clip((qd * 2 ** (L - w) - 1) / (2**L - 1), 0, 1)
    p = np.outer(pd, px)
    sigma = np.sqrt(T * bl * p * (1 - p))
    assert np.all(np.abs(total - T * bl * p) <= Z * sigma + 1.0)


def diagonal_counts(bl, N, seed):
    """N independent Binomial(BL, p) samples: the diagonal cells of an element-sharing update.

    Under sharing 'element' cell (j, i) uses banks x_i and delta_j only, so the diagonal cells
    (j, j) share no bank and are mutually independent."""
    config = make_config(bitstream_length=bl, accumulator_fraction_bits=0, rng_kind="ideal",
                         rng_sharing="element")
    r = essop_outer_product(np.full((1, N), 0.6), np.full((1, N), 0.45), config, seed)
    return np.diag(r.raw).astype(float)


def test_ideal_estimate_variance_falls_as_one_over_bl():
    N = 1500
    qx, qd = quantised([0.6], 8)[0], quantised([0.45], 8)[0]
    p = qx * qd / 4.0**8  # 154 * 230 / 2^16
    logs, log_var, sd_log = [], [], []
    for bl in (16, 64, 256):
        c = diagonal_counts(bl, N, seed=bl)
        est = c / bl
        # Mean of N independent estimates: sd sqrt(p(1-p)/(BL N)).
        assert abs(est.mean() - p) <= Z * math.sqrt(p * (1 - p) / (bl * N))
        # Sample variance against sigma^2 = p(1-p)/BL. For normal data (N-1) s^2 / sigma^2 is
        # chi-square(N-1), so s^2/sigma^2 has sd sqrt(2/(N-1)); the binomial's excess kurtosis
        # kappa = (1 - 6p(1-p)) / (BL p(1-p)) adds kappa/N to its variance. Bound: z sds.
        sigma2 = p * (1 - p) / bl
        kappa = (1 - 6 * p * (1 - p)) / (bl * p * (1 - p))
        rel_sd = math.sqrt(2 / (N - 1) + kappa / N)
        ratio = est.var(ddof=1) / sigma2
        assert abs(ratio - 1) <= Z * rel_sd, (bl, ratio)
        logs.append(math.log(bl))
        log_var.append(math.log(est.var(ddof=1)))
        sd_log.append(rel_sd)  # sd of log s^2 ~ sd of s^2 / sigma^2 (delta method)
    # Least-squares slope of log s^2 against log BL; expected -1. Its sd, for independent
    # y_i with sds sd_i: sqrt(sum((x_i - xbar)^2 sd_i^2)) / sum((x_i - xbar)^2).
    xs = np.array(logs)
    xc = xs - xs.mean()
    slope = float(np.sum(xc * np.array(log_var)) / np.sum(xc**2))
    slope_sd = math.sqrt(float(np.sum(xc**2 * np.array(sd_log) ** 2))) / float(np.sum(xc**2))
    assert abs(slope + 1) <= Z * slope_sd, (slope, slope_sd)


def test_lfsr_numbers_are_uniform_over_the_period():
    # With gcd(steps_per_number, 2^L - 1) = 1 the leap visits every nonzero state once per
    # 2^L - 1 numbers, so each low-w-bit value appears exactly 2^(L-w) times and 0 appears
    # 2^(L-w) - 1 times: unbiased up to that one missing all-zero state. Exact check.
    for L, w, side in ((16, 8, "x"), (16, 8, "delta"), (12, 4, "x"), (10, 10, "delta")):
        period = 2**L - 1
        bank = RngBanks("lfsr", side, 1, w, seed=3, lfsr_bits=L)
        nums = bank.take(period)[:, 0]
        counts = np.bincount(nums, minlength=2**w)
        want = np.full(2**w, 2 ** (L - w))
        want[0] -= 1
        np.testing.assert_array_equal(counts, want)
        # The sequence then repeats: the numbers have period exactly 2^L - 1.
        np.testing.assert_array_equal(bank.take(period)[:, 0], nums)


def test_lfsr_leap_sharing_a_factor_with_the_period_shortens_it():
    # The documented hazard: steps_per_number = w = 5 and 2^12 - 1 = 4095 = 3^2 * 5 * 7 * 13
    # share the factor 5, so the leap visits one coset of 4095 / 5 = 819 states and repeats
    # after 819 numbers, and the low bits are no longer uniform over the period.
    bank = RngBanks("lfsr", "x", 1, 5, seed=3, lfsr_bits=12)
    nums = bank.take(2 * 819)[:, 0]
    np.testing.assert_array_equal(nums[:819], nums[819:])  # period 819 instead of 4095
    counts = np.bincount(nums[:819], minlength=32)
    assert counts.max() - counts.min() > 2


def test_lfsr_x_and_delta_banks_pair_like_independent_draws():
    # Over one common period (2^16 - 1 cycles) the pairs (r_t, s_t) of the two default banks
    # hit [r < qx][s < qd] with a frequency close to the product of the marginals. This is a
    # property of the shipped polynomial pair (cross-correlation of distinct m-sequences), not
    # guaranteed by theory: tolerance = 5 binomial sds of a frequency over N = 65535 cycles.
    L, w = 16, 8
    N = 2**L - 1
    r = RngBanks("lfsr", "x", 1, w, seed=21, lfsr_bits=L).take(N)[:, 0].astype(int)
    s = RngBanks("lfsr", "delta", 1, w, seed=21, lfsr_bits=L).take(N)[:, 0].astype(int)
    for qx in (13, 77, 128, 154, 240):
        for qd in (26, 51, 115, 230):
            px = np.mean(r < qx)
            pd = np.mean(s < qd)
            joint = np.mean((r < qx) & (s < qd))
            p = px * pd
            assert abs(joint - p) <= Z * math.sqrt(p * (1 - p) / N), (qx, qd, joint, p)
