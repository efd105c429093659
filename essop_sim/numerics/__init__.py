"""Shared numeric building blocks of the datapaths: what the hardware computes, not when.

Blocks (one module each): ``lfsr`` (RNG banks), ``comparator`` (quantise + compare, packed
bitstreams), ``shift_scaler`` (power-of-two scaling), ``and_counter`` (AND array, counters and
accumulators), ``fp16`` (binary16 arithmetic), ``metrics`` (error against exact float64),
``result`` (what every datapath returns). Each datapath composes them in its own
``datapaths/<name>/numerics.py``; :func:`outer_product` runs the configured one.
"""

from __future__ import annotations

import numpy as np

from ..config import HardwareConfig
from ..errors import OperandError
from .result import OuterProductResult


def as_operands(x: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check and shape operands: x [K, n] (or [n]) and delta [K, m] (or [m]) -> 2-D float arrays.

    Raises OperandError on a shape mismatch, an empty dimension or a non-numeric dtype. NaN/Inf
    are found later, by each datapath's single pass over the data (see ``check_finite``).
    """
    x = np.asarray(x)
    delta = np.asarray(delta)
    if x.ndim == 1:
        x = x[None, :]
    if delta.ndim == 1:
        delta = delta[None, :]
    if x.ndim != 2 or delta.ndim != 2:
        raise OperandError(f"x must be [K, n] or [n] and delta [K, m] or [m]; got x shape "
                           f"{x.shape}, delta shape {delta.shape}")
    if x.shape[0] != delta.shape[0]:
        raise OperandError(f"x and delta must have the same K (rows); got x shape {x.shape}, "
                           f"delta shape {delta.shape}")
    if 0 in x.shape or 0 in delta.shape:
        raise OperandError(f"empty operand: x shape {x.shape}, delta shape {delta.shape}")
    for name, a in (("x", x), ("delta", delta)):
        if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
            raise OperandError(f"{name} must be numeric; got dtype {a.dtype}")
    return x, delta


def check_finite(name: str, a: np.ndarray, k0: int = 0) -> None:
    """Raise OperandError naming the first non-finite element of a chunk starting at row k0."""
    bad = ~np.isfinite(a)
    if bad.any():
        k, i = np.argwhere(bad)[0]
        raise OperandError(f"{name}[{k0 + k}, {i}] is {a[k, i]}: operands must be finite")


def outer_product(x: np.ndarray, delta: np.ndarray, config: HardwareConfig | None = None,
                  seed: int | None = None, *, chunk: int | None = None) -> OuterProductResult:
    """The configured datapath's estimate of sum_k delta_k x_k^T, bit-exact.

    Args:
        x: layer inputs, [K, n] or [n] (K outer products summed into one update).
        delta: output errors, [K, m] or [m].
        config: hardware configuration (``config.datapath`` selects a registered datapath);
            default is the shipped default configuration.
        seed: seed of every random number; default ``config.seed``.
        chunk: outer products per pass; never changes the result (default: the datapath's).

    Returns:
        OuterProductResult with ``.dw`` [m, n] in real units and the raw accumulator contents.

    Raises:
        ConfigError: ``config.datapath`` is not registered.
    """
    from ..datapaths.registry import datapath_of

    config = config if config is not None else HardwareConfig()
    seed = config.seed if seed is None else seed
    datapath = datapath_of(config)
    x, delta = as_operands(x, delta)
    return datapath.outer_product(x, delta, config, seed, chunk=chunk)


__all__ = ["OuterProductResult", "as_operands", "check_finite", "outer_product"]
