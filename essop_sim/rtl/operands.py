"""The software pre-processing of a tile's inputs (docs/numerics-essop.md sections 1-3),
restated here with exact integer and rational arithmetic (no numerics code is shared):

- signs (sign-magnitude: v < 0, so -0.0 is positive);
- scale exponents: e = smallest integer with max|v| <= 2^e, per vector (granularity 'vector')
  or over all K (granularity 'batch'); an all-zero vector reports 0 and makes its outer product
  inactive; E = max over active k of e_x[k] + e_d[k] (0 if none);
- magnitudes q = floor(|v| 2^(w - e) + 1/2) clipped to [0, 2^w] (exact, via fractions).

The exponents are computed over the whole update's vectors, and E over the whole update, so a
tile of a larger update gets the same inputs as the datapath gives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import OperandError
from .params import EXPONENT_BITS, TileParams


def exponent(max_abs: float) -> int:
    """Smallest integer e with max_abs <= 2^e (max_abs > 0), exactly (frexp, no logarithm)."""
    f, p = math.frexp(max_abs)
    return p - 1 if f == 0.5 else p


def magnitude(v: float, e: int, w: int) -> int:
    """q = floor(|v| 2^(w - e) + 1/2), clipped to [0, 2^w] (exact rational arithmetic)."""
    y = Fraction(abs(float(v))) * Fraction(2) ** (w - e)
    return min(math.floor(y + Fraction(1, 2)), 1 << w)


@dataclass(frozen=True)
class TileOperands:
    """What a tile receives per k-step, and per update (E).

    Attributes:
        q_x: int [K, cols] magnitudes (w + 1 bits); x_signs: bool [K, cols] (True: negative).
        q_delta, delta_signs: likewise [K, rows].
        e_x, e_delta: int [K] scale exponents (0 for an all-zero vector).
        exponent: E, the accumulators' common exponent.
        active: bool [K], both vectors non-zero.
    """

    q_x: np.ndarray
    x_signs: np.ndarray
    q_delta: np.ndarray
    delta_signs: np.ndarray
    e_x: np.ndarray
    e_delta: np.ndarray
    exponent: int
    active: np.ndarray

    @property
    def K(self) -> int:
        """Outer products (k-steps)."""
        return int(self.q_x.shape[0])


def _exponents(a: np.ndarray, granularity: str) -> tuple[np.ndarray, np.ndarray]:
    peak = np.abs(a).max(axis=1)
    if granularity == "batch":
        top = float(peak.max())
        e = exponent(top) if top > 0 else 0
        return np.full(a.shape[0], e, dtype=np.int64), peak > 0
    return np.array([exponent(float(v)) if v > 0 else 0 for v in peak], dtype=np.int64), peak > 0


def tile_operands(p: TileParams, x: np.ndarray, delta: np.ndarray,
                  granularity: str) -> TileOperands:
    """The inputs of the tile ``p`` (its rows row0.., columns col0..) for operands x [K, n],
    delta [K, m] (finite; any real dtype, converted to float64)."""
    x = np.asarray(x, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    for name, a in (("x", x), ("delta", delta)):
        if not np.isfinite(a).all():
            raise OperandError(f"{name} holds NaN or Inf: operands must be finite")
    ex, nzx = _exponents(x, granularity)
    ed, nzd = _exponents(delta, granularity)
    active = nzx & nzd
    E = int((ex + ed)[active].max()) if active.any() else 0
    limit = 1 << (EXPONENT_BITS - 1)
    for name, v in (("e_x", ex), ("e_delta", ed), ("E", np.array([E]))):
        if v.size and (v.min() < -limit or v.max() >= limit):
            raise OperandError(f"{name} does not fit {EXPONENT_BITS} signed bits")
    xs = x[:, p.col0:p.col0 + p.cols]
    ds = delta[:, p.row0:p.row0 + p.rows]
    q_x = np.array([[magnitude(v, int(ex[k]), p.w) for v in row] for k, row in enumerate(xs)],
                   dtype=np.int64).reshape(xs.shape)
    q_d = np.array([[magnitude(v, int(ed[k]), p.w) for v in row] for k, row in enumerate(ds)],
                   dtype=np.int64).reshape(ds.shape)
    return TileOperands(q_x=q_x, x_signs=xs < 0, q_delta=q_d, delta_signs=ds < 0, e_x=ex,
                        e_delta=ed, exponent=E, active=active)
