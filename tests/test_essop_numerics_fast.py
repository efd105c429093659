"""The fast ESSOP kernels agree with the plain ones: SIMD-mask streams, bit-pattern maxima."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

from essop_sim import HardwareConfig, OperandError
from essop_sim.datapaths.essop.numerics import essop_outer_product
from essop_sim.numerics import comparator, shift_scaler


def make_config(w: int, bl: int, kind: str = "lfsr", sequence: str = "continue",
                lfsr_bits: int = 16) -> HardwareConfig:
    e = HardwareConfig().essop
    rng = dataclasses.replace(e.rng, kind=kind, sequence=sequence, lfsr_bits=lfsr_bits)
    e = dataclasses.replace(e, rng=rng, comparator_bits=w, bitstream_length=bl)
    return dataclasses.replace(HardwareConfig(), essop=e)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_lt_words_equals_bitwise_compare(dtype):
    @numba.njit
    def run(R, start, q, out):
        comparator.lt_words(R, start, q, out)

    bits = np.dtype(dtype).itemsize * 8
    rg = np.random.default_rng(bits)
    top = min(1 << bits, 1 << 20)
    R = rg.integers(0, top, (200, 1)).astype(dtype)
    q = np.concatenate([[0, 1, top - 1], rg.integers(0, top, 40)]).astype(np.int32)
    if bits < 32:
        q = np.concatenate([q, [1 << bits]]).astype(np.int32)  # always-one stream
    out = np.zeros(q.size, np.uint64)
    run(R, 37, q, out)
    r = R[37:101, 0].astype(np.int64)
    weights = np.uint64(1) << np.arange(64, dtype=np.uint64)
    want = [int(np.bitwise_or.reduce(np.where(r < qi, weights, np.uint64(0)))) for qi in q]
    assert [int(v) for v in out] == want


@pytest.mark.parametrize(("w", "bl", "kind", "sequence"), [
    (8, 64, "lfsr", "continue"), (8, 130, "lfsr", "restart"), (3, 65, "ideal", "continue"),
    (1, 5, "lfsr", "continue"), (12, 128, "lfsr", "continue"), (8, 64, "ideal", "restart")])
def test_mask_streams_equal_table_and_direct(w, bl, kind, sequence):
    rg = np.random.default_rng(w * 1000 + bl)
    K, n, m = 37, 23, 5
    x = np.maximum(rg.standard_normal((K, n)), 0).astype(np.float32)
    d = (rg.standard_normal((K, m)) * 1e-3).astype(np.float32)
    x[:, 0] = x.max(axis=1) + 1  # u = 1 in every row: q = 2^w, an always-one stream
    config = make_config(w, bl, kind, sequence)
    results = [essop_outer_product(x, d, config, 5, stream_method=method, chunk=chunk)
               for method, chunk in (("mask", None), ("mask", 4), ("table", None),
                                     ("direct", 7))]
    for r in results[1:]:
        np.testing.assert_array_equal(r.raw, results[0].raw)
        assert r.activity == results[0].activity


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_max_abs_bit_patterns(dtype):
    rg = np.random.default_rng(3)
    a = (rg.standard_normal((50, 17)) * 2.0 ** rg.integers(-30, 30, (50, 1))).astype(dtype)
    a[0] = 0.0
    a[1] = -0.0
    a[2, 3] = np.finfo(dtype).smallest_subnormal
    a[3, :] = -np.finfo(dtype).max
    got = shift_scaler.row_max_abs(a, "x", 8)
    np.testing.assert_array_equal(got, np.abs(a).max(axis=1).astype(np.float64))
    for bad in (np.nan, -np.inf, np.inf):
        b = a.copy()
        b[41, 5] = bad
        with pytest.raises(OperandError, match=r"x\[41, 5\]"):
            shift_scaler.row_max_abs(b, "x", 8)
