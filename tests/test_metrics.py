"""Error metrics and the exact float64 update, on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from essop_sim.errors import OperandError
from essop_sim.numerics.metrics import exact_update, update_error


def test_exact_update_of_a_hand_case():
    # K = 2: delta_0 x_0^T + delta_1 x_1^T with x_0 = [1, 2], x_1 = [3, -1],
    # delta_0 = [1, 0, 2], delta_1 = [-1, 1, 0.5]
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    delta = np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.5]])
    expected = np.array([[1 - 3, 2 + 1], [0 + 3, 0 - 1], [2 + 1.5, 4 - 0.5]])
    assert np.array_equal(exact_update(x, delta), expected)
    # a single outer product from 1-D vectors
    assert np.array_equal(exact_update([1.0, 2.0], [3.0]), np.array([[3.0, 6.0]]))


def test_exact_update_chunks_and_memory_maps(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(-8, 8, (103, 5)).astype(np.float32)  # integers: every sum is exact
    delta = rng.integers(-8, 8, (103, 4)).astype(np.int16)
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    reference = delta.astype(np.float64).T @ x.astype(np.float64)
    assert np.array_equal(exact_update(xm, delta, chunk_rows=10), reference)
    assert np.array_equal(exact_update(x, delta, chunk_rows=1), reference)
    with pytest.raises(OperandError, match="same K"):
        exact_update(x, delta[:5])


def test_update_error_by_hand():
    exact = np.array([[3.0, -4.0], [0.0, 0.0]])  # ||exact||_F = 5
    estimate = np.array([[3.0, 4.0], [0.0, 1.0]])  # diff = [0, 8, 0, 1]
    r = update_error(estimate, exact)
    assert math.isclose(r["rel_error"], math.sqrt(65) / 5)
    assert math.isclose(r["abs_error"], math.sqrt(65))
    assert r["max_abs_error"] == 8.0
    assert r["bias"] == 9.0 / 4
    # <e, x> = 9 - 16 = -7; |e| = sqrt(26)
    assert math.isclose(r["cosine"], -7 / (math.sqrt(26) * 5))
    # nonzero exact elements: 3 (sign ok) and -4 (estimate +4: wrong) -> 1/2
    assert r["sign_error_fraction"] == 0.5 and r["nonzero"] == 2


def test_zero_estimate_counts_as_sign_error_and_identical_arrays_are_perfect():
    exact = np.array([1.0, -2.0, 0.0, 4.0])
    r = update_error(np.array([0.0, -1.0, 5.0, 4.0]), exact)
    assert r["sign_error_fraction"] == pytest.approx(1 / 3)
    same = update_error(exact, exact)
    assert same["rel_error"] == 0.0 and same["bias"] == 0.0 and same["cosine"] == pytest.approx(1)
    assert update_error(-exact, exact)["cosine"] == pytest.approx(-1.0)


def test_all_zero_exact_update_is_defined():
    zeros = np.zeros((2, 3))
    both = update_error(zeros, zeros)
    assert both["rel_error"] == 0.0 and both["cosine"] == 1.0
    assert both["sign_error_fraction"] == 0.0 and both["nonzero"] == 0
    off = update_error(np.full((2, 3), 0.5), zeros)
    assert off["rel_error"] == math.inf and off["cosine"] == 0.0
    assert off["abs_error"] == pytest.approx(math.sqrt(6 * 0.25)) and off["bias"] == 0.5


def test_shape_mismatch_is_an_operand_error():
    with pytest.raises(OperandError, match="shape"):
        update_error(np.zeros((2, 3)), np.zeros((3, 2)))
