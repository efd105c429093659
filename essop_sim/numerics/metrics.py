"""Error of a hardware update against the exact one (pure functions, float64).

``exact_update(x, delta)`` is the reference sum_k delta_k x_k^T in float64, computed in chunks of
K so memory-mapped traces are streamed. ``update_error(estimate, exact)`` compares a datapath's
``dw`` with it. All quantities are in the units of dW (the product of the operand units); ratios
and fractions are dimensionless.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import OperandError
from . import as_operands

#: Rows of K converted to float64 at once by :func:`exact_update`.
EXACT_CHUNK_ROWS = 8192


def exact_update(x: np.ndarray, delta: np.ndarray, chunk_rows: int = EXACT_CHUNK_ROWS
                 ) -> np.ndarray:
    """sum_k delta_k x_k^T = Delta^T X in float64, shape [m, n].

    Args:
        x: [K, n] or [n] (any numeric dtype; may be memory-mapped).
        delta: [K, m] or [m].
        chunk_rows: rows of K converted to float64 and multiplied at a time.

    The sum is accumulated chunk by chunk in float64 (BLAS inside a chunk), so its rounding
    error is that of float64 summation, far below any datapath under study.
    """
    x, delta = as_operands(x, delta)  # a memmap stays a view: nothing is read yet
    K, n = x.shape
    m = delta.shape[1]
    out = np.zeros((m, n), np.float64)
    step = max(1, int(chunk_rows))
    for k0 in range(0, K, step):
        xs = np.asarray(x[k0:k0 + step], dtype=np.float64)
        ds = np.asarray(delta[k0:k0 + step], dtype=np.float64)
        out += ds.T @ xs
    return out


def relative_error(estimate: np.ndarray, exact: np.ndarray) -> float:
    """||estimate - exact||_F / ||exact||_F (0.0 when both are zero, inf when only ``exact``
    is), for a datapath's own decisions (e.g. a precision search) without the full
    :func:`update_error`."""
    norm = float(np.linalg.norm(exact))
    diff = float(np.linalg.norm(estimate - exact))
    if norm == 0.0:
        return 0.0 if diff == 0.0 else math.inf
    return diff / norm


def update_error(estimate: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """How far ``estimate`` is from ``exact`` (same shape), as plain floats.

    Returns:
        rel_error: ||estimate - exact||_F / ||exact||_F. When ``exact`` is all zeros it is 0.0
            if ``estimate`` is too, else inf (no finite relative error exists).
        abs_error: ||estimate - exact||_F, in the units of dW.
        max_abs_error: max |estimate - exact|, in the units of dW.
        bias: mean of (estimate - exact) over all elements, in the units of dW.
        cosine: cosine similarity of the flattened arrays, <e, x> / (|e| |x|); 1.0 when both
            are all zeros, 0.0 when exactly one is.
        sign_error_fraction: among elements with exact != 0, the fraction where
            sign(estimate) != sign(exact) (an estimate of 0 there counts as a sign error);
            0.0 when exact has no nonzero element.
        nonzero: the number of elements with exact != 0 (the denominator above).
    """
    e = np.asarray(estimate, dtype=np.float64)
    x = np.asarray(exact, dtype=np.float64)
    if e.shape != x.shape:
        raise OperandError(f"estimate shape {e.shape} differs from exact shape {x.shape}")
    if e.size == 0:
        raise OperandError("cannot compare empty arrays")
    diff = (e - x).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        abs_err = float(np.linalg.norm(diff))
        norm_x = float(np.linalg.norm(x))
        norm_e = float(np.linalg.norm(e))
        rel = abs_err / norm_x if norm_x > 0 else (0.0 if abs_err == 0 else math.inf)
        if norm_x > 0 and norm_e > 0:
            cosine = float(np.dot(e.ravel(), x.ravel()) / (norm_e * norm_x))
        else:
            cosine = 1.0 if norm_x == 0 and norm_e == 0 else 0.0
        nonzero = x != 0
        count = int(np.count_nonzero(nonzero))
        wrong = np.count_nonzero(np.sign(e[nonzero]) != np.sign(x[nonzero]))
        return {
            "rel_error": rel,
            "abs_error": abs_err,
            "max_abs_error": float(np.max(np.abs(diff))),
            "bias": float(np.mean(diff)),
            "cosine": cosine,
            "sign_error_fraction": float(wrong / count) if count else 0.0,
            "nonzero": count,
        }


__all__ = ["exact_update", "relative_error", "update_error"]
