"""Outer products whose steps all vanish: counted bit-sliced (numerics.vanishing), results and
activity bit-identical to accumulating them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from reference_essop import reference_essop

from essop_sim import HardwareConfig
from essop_sim.datapaths.essop import numerics as essop_numerics
from essop_sim.datapaths.essop.numerics import essop_outer_product
from essop_sim.numerics import shift_scaler, vanishing
from essop_sim.numerics.threads import serial_variant


def brute_ones(X, D, selected):
    """sum over selected k, words, i, j of popcount(X[k, w, i] & D[k, w, j]), in numpy."""
    total = 0
    for k in np.flatnonzero(selected):
        both = X[k][:, :, None] & D[k][:, None, :]
        total += int(np.unpackbits(both.view(np.uint8)).sum())
    return total


@pytest.mark.parametrize(("n", "m", "W"), [(1, 1, 1), (37, 5, 2), (5, 37, 1), (64, 64, 3),
                                           (300, 260, 1), (20, 255, 1), (20, 256, 2), (200, 150, 1),
                                           (150, 200, 2)])
def test_vanishing_ones_equal_popcounts(n, m, W):
    """The bit-sliced count (narrow side in registers below 256 words, in memory from 256)
    against numpy's AND and bit count, on random words of every density, selected subsets,
    one and three tasks, serial and parallel."""
    rg = np.random.default_rng(n * 1000 + m)
    K = 23
    X = rg.integers(0, 1 << 63, (K, W, n), dtype=np.uint64) << np.uint64(1)
    D = rg.integers(0, 1 << 63, (K, W, m), dtype=np.uint64)
    X[3] = 0
    D[4] = np.uint64(0xFFFFFFFFFFFFFFFF)  # every count at its largest
    X[6] = np.uint64(0xFFFFFFFFFFFFFFFF)
    X[5] &= rg.integers(0, 1 << 63, (W, n), dtype=np.uint64)  # sparser
    selected = rg.random(K) < 0.7
    selected[3:6] = True
    want = brute_ones(X, D, selected)
    for kernel in (vanishing.vanishing_ones, serial_variant(vanishing.vanishing_ones)):
        for tasks in (1, 3):
            assert kernel(X, D, selected, tasks) == want


def test_vanishing_mask_is_exactly_zero_steps():
    """vanishing() marks an active k exactly when (c >> rsh) == 0 for every count c <= cmax."""
    rsh = np.arange(64)
    active = np.ones(64, np.bool_)
    active[::5] = False
    for cmax in (1, 2, 7, 8, 63, 64, 65, 255, 1 << 20):
        got = vanishing.vanishing(active, rsh, cmax)
        want = active & np.array([all((c >> int(r)) == 0 for c in (cmax, cmax - 1, 1))
                                  for r in rsh])
        np.testing.assert_array_equal(got, want)


def spread_operands(rg, K, n, m, decades=8.0):
    """ReLU-like x and delta whose per-row scale spreads over ``decades`` (a trained network's
    per-sample errors), so many k are right-shifted past their counts."""
    x = np.maximum(rg.standard_normal((K, n)), 0).astype(np.float32)
    scale = 10.0 ** rg.uniform(-decades, 0, (K, 1))
    d = (rg.standard_normal((K, m)) * scale).astype(np.float32)
    return x, d


def config(bl, **rng_kw):
    e = HardwareConfig().essop
    e = dataclasses.replace(e, bitstream_length=bl, rng=dataclasses.replace(e.rng, **rng_kw))
    return dataclasses.replace(HardwareConfig(), essop=e)


def vanishing_count(x, d, cfg):
    e = cfg.essop
    _ex, _ed, active, _E, _lsh, rsh = shift_scaler.scale_plan(
        x, d, "vector", e.accumulator_fraction_bits, 1 << 20)
    cmax = min(e.bitstream_length, (1 << e.counter_bits) - 1)
    return int(vanishing.vanishing(active, rsh, cmax).sum())


@pytest.mark.parametrize(("bl", "rng_kw", "method"), [
    (1, {}, "auto"), (8, {}, "auto"), (16, {"sequence": "restart"}, "auto"),
    (8, {"sharing": "element"}, "auto"), (64, {}, "auto"), (64, {}, "table"),
    (100, {"kind": "ideal"}, "direct"), (256, {"sharing": "element"}, "auto"),
    (32, {}, "auto")])
def test_essop_with_and_without_vanishing_counts(monkeypatch, bl, rng_kw, method):
    """essop_outer_product counting the vanishing k bit-sliced against accumulating them
    (vanishing() patched to mark none): raw, dw, update and activity equal, on operands where
    many k vanish (asserted), with several chunks (packed and plain paths, one and two
    threads)."""
    monkeypatch.setattr(essop_numerics, "VANISHING_MIN_WORDS", 0)  # small operands
    rg = np.random.default_rng(bl * 7 + len(rng_kw))
    x, d = spread_operands(rg, 700, 33, 12)
    cfg = config(bl, **rng_kw)
    assert vanishing_count(x, d, cfg) > 100
    got = essop_outer_product(x, d, cfg, 11, chunk=250, stream_method=method)
    original = vanishing.vanishing
    monkeypatch.setattr(vanishing, "vanishing", lambda a, r, c: np.zeros_like(original(a, r, c)))
    want = essop_outer_product(x, d, cfg, 11, chunk=250, stream_method=method)
    np.testing.assert_array_equal(got.raw, want.raw)
    np.testing.assert_array_equal(got.dw, want.dw)
    np.testing.assert_array_equal(got.update, want.update)
    assert got.activity == want.activity


@pytest.mark.parametrize("bl", [8, 64])
def test_vanishing_counts_equal_reference(monkeypatch, bl):
    """The per-cycle reference model (tests/reference_essop.py) on operands where k vanish:
    raw accumulators and counter increments equal."""
    monkeypatch.setattr(essop_numerics, "VANISHING_MIN_WORDS", 0)
    rg = np.random.default_rng(bl)
    x, d = spread_operands(rg, 40, 6, 4)
    cfg = config(bl)
    assert vanishing_count(x, d, cfg) >= 5
    ref = reference_essop(x, d, cfg, 3)
    got = essop_outer_product(x, d, cfg, 3)
    np.testing.assert_array_equal(got.raw, ref["raw"])
    for key, value in ref["activity"].items():
        assert got.activity[key] == value, key
