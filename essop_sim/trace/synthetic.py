"""Synthetic traces with realistic statistics (no torch): for tests and benchmarks.

x (layer inputs) imitates post-ReLU activations: a fraction ``x_zero_fraction`` of exact zeros,
the rest half-normal (or lognormal) magnitudes with a per-feature (column) scale drawn lognormal,
so some input features are much larger than others. delta (output errors) is signed and
heavy-tailed: Student-t (3 degrees of freedom) values times a per-sample (row) lognormal scale
times ``delta_scale`` (default 1e-3, typical of backpropagated errors), with a fraction
``delta_zero_fraction`` of exact zeros (errors stopped by an inactive ReLU).

Everything is drawn from ``numpy.random.default_rng([seed, step, layer_index])`` in fixed
chunks, so a (seed, layers, steps, options) tuple always gives byte-identical arrays.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TraceError
from .writer import TraceWriter

#: Rows generated per chunk (fixed, so results do not depend on memory settings).
GEN_CHUNK_ROWS = 8192


def _as_layer(spec: Any, i: int) -> dict:
    """LayerShape | dict | (name, kind, n, m, K) -> dict with name, kind, n, m, K, conv."""
    if hasattr(spec, "name") and hasattr(spec, "K"):
        d = {"name": spec.name, "kind": spec.kind, "n": spec.n, "m": spec.m, "K": spec.K}
    elif isinstance(spec, dict):
        d = dict(spec)
        d.setdefault("name", d.pop("layer", None) or f"layer{i}")
    elif isinstance(spec, tuple | list) and len(spec) == 5:
        d = dict(zip(("name", "kind", "n", "m", "K"), spec, strict=True))
    else:
        raise TraceError("<layers>", f"layer {i}: expected a LayerShape, a dict or a "
                                     f"(name, kind, n, m, K) tuple, got {spec!r}")
    for key in ("n", "m", "K"):
        if not isinstance(d.get(key), int | np.integer) or d[key] < 1:
            raise TraceError("<layers>", f"layer {d.get('name')!r}: {key} must be a positive "
                                         f"integer, got {d.get(key)!r}")
    if d.get("kind") not in ("linear", "conv2d"):
        raise TraceError("<layers>", f"layer {d.get('name')!r}: kind must be 'linear' or "
                                     f"'conv2d', got {d.get('kind')!r}")
    if d["kind"] == "conv2d" and d.get("conv") is None:
        d["conv"] = infer_conv_geometry(int(d["n"]), int(d["m"]), int(d["K"]))
    if d["kind"] == "linear":
        d["conv"] = None
    return d


def infer_conv_geometry(n: int, m: int, K: int) -> dict:
    """Plausible conv geometry for a synthetic conv2d layer of width n, m and K rows.

    3x3 kernel (padding 1) when n is a multiple of 9, else 1x1; stride 1; square input equal to
    the output, the largest of 32, 16, 8, 4, 2, 1 that divides K (K = batch * H * W).
    """
    k = 3 if n % 9 == 0 else 1
    hw = next(s for s in (32, 16, 8, 4, 2, 1) if K % (s * s) == 0)
    return {"in_channels": n // (k * k), "out_channels": m, "kernel_size": [k, k],
            "stride": [1, 1], "padding": [k // 2, k // 2], "dilation": [1, 1], "groups": 1,
            "input_hw": [hw, hw], "output_hw": [hw, hw]}


def synthetic_chunks(n: int, m: int, K: int, rng: np.random.Generator, *,
                     x_zero_fraction: float = 0.5, delta_zero_fraction: float = 0.3,
                     delta_scale: float = 1e-3, x_distribution: str = "halfnormal",
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield float64 (x [k, n], delta [k, m]) chunks of ``GEN_CHUNK_ROWS`` rows totalling K."""
    if x_distribution not in ("halfnormal", "lognormal"):
        raise ValueError(f"x_distribution must be 'halfnormal' or 'lognormal', "
                         f"got {x_distribution!r}")
    for name, f in (("x_zero_fraction", x_zero_fraction),
                    ("delta_zero_fraction", delta_zero_fraction)):
        if not 0.0 <= f < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {f}")
    col_scale = rng.lognormal(0.0, 0.5, size=n)
    for i in range(0, K, GEN_CHUNK_ROWS):
        k = min(GEN_CHUNK_ROWS, K - i)
        if x_distribution == "halfnormal":
            x = np.abs(rng.standard_normal((k, n)))
        else:
            x = rng.lognormal(-0.5, 1.0, size=(k, n))
        x *= col_scale
        x[rng.random((k, n)) < x_zero_fraction] = 0.0
        row_scale = rng.lognormal(0.0, 1.0, size=(k, 1)) * delta_scale
        d = rng.standard_t(3.0, size=(k, m)) * row_scale
        d[rng.random((k, m)) < delta_zero_fraction] = 0.0
        yield x, d


def make_synthetic_trace(path: str | os.PathLike, layers: Iterable[Any], seed: int = 0, *,
                         steps: Iterable[int] = (0,), max_k: int | None = None,
                         x_zero_fraction: float = 0.5, delta_zero_fraction: float = 0.3,
                         delta_scale: float = 1e-3, x_distribution: str = "halfnormal",
                         dtype: str = "float32", model: str = "synthetic",
                         overwrite: bool = False) -> Path:
    """Write a valid synthetic trace and return its path.

    Args:
        path: trace directory to create (atomically, via :class:`TraceWriter`).
        layers: :class:`essop_sim.workloads.LayerShape` objects (e.g.
            ``workloads.resnet32_cifar10(batch=8)``), dicts with name/kind/n/m/K (and optional
            ``conv`` geometry) or ``(name, kind, n, m, K)`` tuples. x is [K, n], delta [K, m].
        seed: RNG seed; record (step, layer i) uses ``default_rng([seed, step, i])``.
        steps: steps to write; each step holds every layer.
        max_k: cap K per layer (rows beyond are not generated). A capped record says so in
            its ``subsample`` entry (method 'synthetic_cap', original_K = the layer's K).
        x_zero_fraction: fraction of exact zeros in x (ReLU sparsity), in [0, 1).
        delta_zero_fraction: fraction of exact zeros in delta, in [0, 1).
        delta_scale: typical |delta| (dimensionless, like a loss gradient).
        x_distribution: 'halfnormal' or 'lognormal' magnitudes for the non-zero x.
        dtype: on-disk dtype ('float16' | 'float32' | 'float64').
        model: the manifest's model name.
        overwrite: replace an existing trace at ``path``.
    """
    specs = [_as_layer(s, i) for i, s in enumerate(layers)]
    if not specs:
        raise TraceError(path, "make_synthetic_trace needs at least one layer")
    if max_k is not None and (not isinstance(max_k, int) or max_k < 1):
        raise TraceError(path, f"max_k must be a positive integer or None, got {max_k!r}")
    steps = [int(s) for s in steps]
    options = {"seed": seed, "max_k": max_k, "x_zero_fraction": x_zero_fraction,
               "delta_zero_fraction": delta_zero_fraction, "delta_scale": delta_scale,
               "x_distribution": x_distribution, "generator": __name__,
               "rng": "numpy.random.default_rng([seed, step, layer_index])",
               "note": "synthetic statistics, not a training run; conv geometry of LayerShape "
                       "inputs is inferred from n and K"}
    with TraceWriter(path, model=model, dataset="synthetic", command=None,
                     meta={"synthetic": options}, overwrite=overwrite) as w:
        for step in steps:
            for i, d in enumerate(specs):
                K = int(d["K"]) if max_k is None else min(int(d["K"]), max_k)
                sub = None
                if d["K"] != K:
                    sub = {"original_K": int(d["K"]), "method": "synthetic_cap", "seed": seed}
                rng = np.random.default_rng([seed, step, i])
                chunks = synthetic_chunks(int(d["n"]), int(d["m"]), K, rng,
                                          x_zero_fraction=x_zero_fraction,
                                          delta_zero_fraction=delta_zero_fraction,
                                          delta_scale=delta_scale,
                                          x_distribution=x_distribution)
                w.add_chunks(d["name"], d["kind"], step, K, int(d["n"]), int(d["m"]), chunks,
                             conv=d["conv"], subsample=sub, dtype=dtype,
                             batch=d.get("batch"))
    return Path(path)
