"""A plain numpy model of the fast-path accumulation (no counter or accumulator overflow), the
reference of tests/test_and_counter_fast.py and tests/test_and_counter_packed.py."""

from __future__ import annotations

import numpy as np


def uniform_signs(xs):
    """Per row k of sign masks xs int8 [K, n] (0 / -1): 0 if all are 0 (or n = 0), -1 if all
    are -1, else 1 (comparator.uniform_sign, row by row, in numpy)."""
    if xs.shape[1] == 0:
        return np.zeros(xs.shape[0], dtype=np.int8)
    lo, hi = xs.min(axis=1), xs.max(axis=1)
    return np.where(lo == hi, lo, 1).astype(np.int8)


def popcounts(t):
    """popcount of every uint64 of t (any shape), as int64."""
    return np.unpackbits(t[..., None].view(np.uint8), axis=-1).sum(axis=-1).astype(np.int64)


def reference_fast(X, Xs, D, Ds, lsh, rsh, active):
    """acc[j, i] = sum over active k of sign * ((c << lsh) >> rsh), c = sum over words of
    popcount(X[k, w, i] & D[k, w, j]), sign negative iff Xs[k, i] != Ds[k, j]; ones[j] = sum
    of c. X uint64 [K, W, n], D [K, W, m], Xs / Ds int8 sign masks [K, n] / [K, m]."""
    K, W, n = X.shape
    m = D.shape[2]
    acc = np.zeros((m, n), dtype=np.int64)
    ones = np.zeros(m, dtype=np.int64)
    for k in range(K):
        if not active[k]:
            continue
        c = sum(popcounts(X[k, w][None, :] & D[k, w][:, None]) for w in range(W))
        ones += c.sum(axis=1)
        v = (c << lsh[k]) >> rsh[k]
        acc += np.where(Xs[k][None, :] != Ds[k][:, None], -v, v)
    return acc, ones
