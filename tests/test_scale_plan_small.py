"""shift_scaler.scale_plan's one-call path for float32 / float64 operands read in place (serial
for small updates, parallel rows for large ones) against the chunked path (chunked row maxima,
numpy exponents and shifts), field for field, on random operands: float32 and float64 mixed,
magnitudes from subnormal to 2^100, zero rows, -0.0, empty rows, both granularities and random
fraction bits. A NaN or Inf is still named by the chunked path's error."""

from __future__ import annotations

import numpy as np
import pytest

from essop_sim.errors import OperandError
from essop_sim.numerics import shift_scaler


@pytest.mark.parametrize("case", range(64))
def test_one_call_plan_equals_chunked_plan(case):
    rg = np.random.default_rng(3000 + case)
    K, n, m = int(rg.integers(1, 20)), int(rg.integers(0, 9)), int(rg.integers(1, 9))
    if case % 16 == 15:  # above ROW_MAX_SERIAL elements: the parallel kernel
        K = shift_scaler.ROW_MAX_SERIAL // (n + m) + int(rg.integers(1, 999))
    x = (rg.standard_normal((K, n)) * 2.0 ** rg.integers(-160, 100, (K, 1)))
    d = (rg.standard_normal((K, m)) * 2.0 ** rg.integers(-160, 100, (K, 1)))
    x = x.astype(rg.choice([np.float32, np.float64]))
    d = d.astype(rg.choice([np.float32, np.float64]))
    x[rg.random((K, n)) < 0.3] = 0.0
    d[rg.random(K) < 0.2] = 0.0
    if case % 7 == 0:
        x[:] = -0.0
    for granularity in ("vector", "batch"):
        F = int(rg.integers(0, 40))
        small = shift_scaler.scale_plan(x, d, granularity, F, rows=4096)
        general = shift_scaler.chunked_plan(x, d, granularity, F, rows=max(1, K // 3))
        assert small[3] == general[3]  # E
        for a, b in zip(small, general, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_call_plan_leaves_non_finite_operands_to_the_named_error(dtype):
    x = np.ones((3, 4), dtype=dtype)
    x[1, 2] = np.inf
    with pytest.raises(OperandError, match=r"x\[1, 2\]"):
        shift_scaler.scale_plan(x, np.ones((3, 2)), "vector", 8, rows=4096)
    d = np.ones((3, 2), dtype=dtype)
    d[2, 0] = np.nan
    with pytest.raises(OperandError, match=r"delta\[2, 0\]"):
        shift_scaler.scale_plan(np.ones((3, 4)), d, "batch", 8, rows=4096)
