"""Pre-defined connection patterns of a junction (an [m, n] update: m outputs, n inputs), shared
by the edge processor (``datapaths/edge``) and the masked ESSOP and FP16 datapaths (their
``mask`` sections, :class:`MaskConfig`).

A pattern is a function of (kind, density, seed, m, n, z) only, so timing derives it from the
update's shape and the configuration (no timing hints), and training and replay agree. Edges are
numbered in processing order e = j * d_in + f (output j, its f-th edge); ``cols[j, f]`` is the
input of edge e. Input i lives in operand bank ``i % z``; the z edges of clock cycle g are
e = g z .. g z + z - 1. Rules (docs/edge.md, "Connection patterns"):

- fan-in d_in = n for 'dense'; otherwise floor(density * n), at least 1, lowered to the largest
  divisor of n not above it (so every output's edges are distinct inputs), W = m * d_in edges;
- 'dense': cols[j, f] = f;
- 'random': each output draws d_in distinct inputs uniformly (seeded), sorted: a hardware
  needs the index lists stored;
- 'clash_free': the edges are cut into sweeps of n; within a sweep, position q = e mod n reads
  bank b = q mod z at address sigma(q div z) where sigma(a) = (p a + o) mod A_b is an affine
  permutation of bank b's A_b addresses with seeded p (coprime to A_b) and o, new for every
  (sweep, bank): an adder per bank computes it (no stored index lists). Every sweep uses every
  input once; when z divides n, each cycle's z inputs lie in z distinct banks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..config.model import param

KIND_IDS = {"dense": 0, "random": 1, "clash_free": 2}


def fan_in(kind: str, density: float, n: int) -> int:
    """d_in of every output (see the module rules)."""
    if kind == "dense":
        return n
    d = max(1, min(n, math.floor(density * n + 1e-9)))
    while n % d:
        d -= 1
    return d


def _coprime(rng: np.random.Generator, A: int) -> int:
    if A <= 2:
        return 1
    while True:
        p = int(rng.integers(1, A))
        if math.gcd(p, A) == 1:
            return p


@lru_cache(maxsize=256)
def _cols(kind: str, density: float, seed: int, m: int, n: int) -> np.ndarray:
    d = fan_in(kind, density, n)
    if kind == "dense":
        cols = np.tile(np.arange(n, dtype=np.int64), (m, 1))
    elif kind == "random":
        rng = np.random.default_rng([seed, KIND_IDS[kind], m, n, d])
        cols = np.sort(np.stack([rng.choice(n, size=d, replace=False) for _ in range(m)]), 1)
    elif kind == "clash_free":
        raise AssertionError("use clash_free_cols")
    else:
        raise ValueError(f"unknown pattern kind {kind!r}")
    cols.setflags(write=False)
    return cols


@lru_cache(maxsize=256)
def clash_free_cols(density: float, seed: int, m: int, n: int, z: int) -> np.ndarray:
    """The 'clash_free' pattern for z banks (the interleaver depends on z)."""
    d = fan_in("clash_free", density, n)
    W = m * d
    rng = np.random.default_rng([seed, KIND_IDS["clash_free"], m, n, d, z])
    flat = np.empty(W, np.int64)
    banks = [np.arange(b, n, z) for b in range(min(z, n))]   # bank b's inputs by address
    for s in range(-(-W // n)):
        q = np.arange(min(n, W - s * n))
        b, a = q % z, q // z
        for bank in range(min(z, n)):
            sel = b == bank
            A = len(banks[bank])
            p, o = _coprime(rng, A), int(rng.integers(0, A))
            flat[s * n + q[sel]] = banks[bank][(p * a[sel] + o) % A]
    cols = flat.reshape(m, d)
    cols.setflags(write=False)
    return cols


def connection_cols(kind: str, density: float, seed: int, m: int, n: int,
                    z: int) -> np.ndarray:
    """cols [m, d_in] of a junction of shape [m, n] (read-only, cached); ``z`` banks matter
    to 'clash_free' only."""
    if kind == "clash_free":
        return clash_free_cols(float(density), int(seed), m, n, int(z))
    return _cols(kind, float(density), int(seed), m, n)


def mask_of(cols: np.ndarray, n: int) -> np.ndarray:
    """The boolean mask [m, n] of a pattern."""
    mask = np.zeros((cols.shape[0], n), bool)
    mask[np.arange(cols.shape[0])[:, None], cols] = True
    return mask


def cycle_costs(cols: np.ndarray, z: int) -> np.ndarray:
    """Cycles each group of z consecutive edges takes when each bank serves one read per cycle:
    the largest number of the group's inputs in one bank (1 when clash-free)."""
    banks = (cols.ravel() % z).astype(np.int64)
    G = -(-banks.size // z)
    group = np.arange(banks.size) // z
    counts = np.zeros((G, z), np.int64)
    np.add.at(counts, (group, banks), 1)
    return counts.max(axis=1)


@dataclass(frozen=True)
class MaskConfig:
    """A pre-defined sparsity mask on a cell-array or multiplier datapath (ESSOP, FP16): only the
    connected cells of the pattern compute and count (docs/edge.md, "Masked ESSOP and FP16")."""

    pattern: str = param("none", "Mask pattern: 'none' (dense, the datapath unchanged), "
                         "'dense', 'random' or 'clash_free' (as the edge section's).",
                         choices=("none", *KIND_IDS))
    density: float = param(0.25, "Connected cells / (m x n) (see edge.density).",
                           low=1.0 / 65536, high=1.0)
    seed: int = param(0, "Seed of the pattern (see edge.pattern_seed).", low=0,
                      high=2**31 - 1)
    banks: int = param(16, "Banks z the 'clash_free' interleaver is built for (equal to "
                       "edge.lanes gives the edge processor's pattern).", low=1, high=4096)


def mask_cols(mask: MaskConfig, m: int, n: int) -> np.ndarray | None:
    """The connected inputs [m, d_in] of an [m, n] update under ``mask``; None for 'none'."""
    if mask.pattern == "none":
        return None
    return connection_cols(mask.pattern, mask.density, mask.seed, m, n, mask.banks)


def mask_array(mask: MaskConfig, m: int, n: int) -> np.ndarray | None:
    """The boolean mask [m, n]; None for 'none'."""
    cols = mask_cols(mask, m, n)
    return None if cols is None else mask_of(cols, n)


def mask_text(mask: MaskConfig) -> str:
    """What a datapath's description adds for a mask: '' for 'none', else ' mask=random d=0.25'."""
    if mask.pattern == "none":
        return ""
    return f" mask={mask.pattern}" + ("" if mask.pattern == "dense" else f" d={mask.density:g}")


def mask_label(mask: MaskConfig) -> str:
    """What a datapath's label adds for a mask: '' for 'none', else '-mrandom-d0.25'."""
    if mask.pattern == "none":
        return ""
    return f"-m{mask.pattern}" + ("" if mask.pattern == "dense" else f"-d{mask.density:g}")
