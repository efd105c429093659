"""Bit-exact numerics of the edge processor: the masked update mask * (delta^T x) in fixed
point. The specification, bit for bit, is docs/numerics-edge.md; tests/reference_edge.py
re-implements it independently.

x and delta are quantised to signed B-bit codes with I_x and I_d integer bits (round half to
even, saturate); each edge (j, i) of the pattern accumulates qd[k, j] * qx[k, i] over k in an
A-bit accumulator that saturates after every add; the weight update in weight LSBs is the
accumulator shifted right (floor) by F_x + F_d + lr_shift - F_w and saturated to the weight
width. Operands are read in chunks with the accumulators carried across chunks, so ``chunk``
never changes the result.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ...numerics.metrics import exact_update, relative_error
from ...numerics.result import OuterProductResult
from .config import fraction_bits
from .pattern import mask_of, pattern_cols

DEFAULT_CHUNK = 4096


@nb.njit(cache=True)
def accumulate(qd, qx, cols, acc_bits, acc, saturations):  # pragma: no cover
    """acc[j, f] <- sat(acc[j, f] + qd[k, j] * qx[k, cols[j, f]]) for k in order."""
    K, m = qd.shape
    d = cols.shape[1]
    hi = (np.int64(1) << (acc_bits - 1)) - 1
    lo = -hi - 1
    for k in range(K):
        for j in range(m):
            dv = qd[k, j]
            if dv == 0:
                continue
            for f in range(d):
                v = qx[k, cols[j, f]]
                if v == 0:
                    continue
                a = acc[j, f] + dv * v
                if a > hi:
                    a = hi
                    saturations[0] += 1
                elif a < lo:
                    a = lo
                    saturations[0] += 1
                acc[j, f] = a


def quantise(a: np.ndarray, bits: int, frac: int) -> tuple[np.ndarray, int]:
    """Signed B-bit codes q = clip(rint(v * 2^frac), -2^(B-1), 2^(B-1) - 1) and the clip count."""
    y = np.rint(np.ldexp(np.asarray(a, np.float64), frac))
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    clips = int(np.count_nonzero(y > hi) + np.count_nonzero(y < lo))
    return np.clip(y, lo, hi).astype(np.int64), clips


def weight_update(acc: np.ndarray, c) -> tuple[np.ndarray, int]:
    """Update in weight LSBs: sat_Bw(acc >> s), s = F_x + F_d + lr_shift - F_w (a left shift
    if negative), and the count of saturated entries."""
    fx = fraction_bits(c.operand_bits, c.x_int_bits)
    fd = fraction_bits(c.operand_bits, c.delta_int_bits)
    fw = fraction_bits(c.weight_bits, c.weight_int_bits)
    s = fx + fd + c.lr_shift - fw
    # a left shift (s < 0) runs on Python integers: exact, no int64 overflow
    u = acc >> min(s, 63) if s >= 0 else acc.astype(object) * (1 << -s)
    lo, hi = -(1 << (c.weight_bits - 1)), (1 << (c.weight_bits - 1)) - 1
    sat = int(np.count_nonzero(u > hi) + np.count_nonzero(u < lo))
    return np.clip(u, lo, hi).astype(np.int64), sat


def edge_outer_product(x: np.ndarray, delta: np.ndarray, config, seed: int = 0, *,
                       chunk: int | None = None) -> OuterProductResult:
    """The edge processor's bit-exact masked sum_k delta_k x_k^T (deterministic: ``seed``
    unused; the pattern comes from the configuration and the shape)."""
    c = config.edge
    chunk = int(chunk or DEFAULT_CHUNK)
    K, n = x.shape
    m = delta.shape[1]
    cols = pattern_cols(c, m, n)
    fx = fraction_bits(c.operand_bits, c.x_int_bits)
    fd = fraction_bits(c.operand_bits, c.delta_int_bits)
    acc = np.zeros(cols.shape, np.int64)
    saturations = np.zeros(1, np.int64)
    clips = 0
    for k0 in range(0, K, chunk):
        qx, cx = quantise(x[k0:k0 + chunk], c.operand_bits, fx)
        qd, cd = quantise(delta[k0:k0 + chunk], c.operand_bits, fd)
        clips += cx + cd
        accumulate(qd, qx, np.ascontiguousarray(cols), c.accumulator_bits, acc, saturations)
    raw = np.zeros((m, n), np.int64)
    raw[np.arange(m)[:, None], cols] = acc
    dw = np.ldexp(raw.astype(np.float64), -(fx + fd))
    upd, wsat = weight_update(raw, c)
    fw = fraction_bits(c.weight_bits, c.weight_int_bits)
    mask = mask_of(cols, n)
    masked_exact = exact_update(x, delta) * mask
    return OuterProductResult(
        datapath="edge", dw=dw, update=-np.ldexp(upd.astype(np.float64), -fw), raw=raw,
        lsb_weight=math.ldexp(1.0, -(fx + fd)), learning_rate=math.ldexp(1.0, -c.lr_shift),
        activity={"accumulator_saturations": int(saturations[0]), "quantiser_clips": clips,
                  "weight_saturations": wsat, "k": int(K)},
        hints={"edges": int(cols.size), "masked_rel_error": relative_error(dw, masked_exact)})
