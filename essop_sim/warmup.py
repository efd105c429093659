"""Compile a sweep's numba kernels once, in one worker, before the points run.

Every worker process of a parallel sweep needs the same compiled kernels. They share the on-disk
numba cache (the parent sets ``NUMBA_CACHE_DIR``, :mod:`essop_sim._numba_cache`, and workers
inherit it), but on a cold cache each worker would miss it at the same moment and compile the
same kernels again, side by side on the same cores (a cold ``-j 2`` sweep compiled everything
twice). :func:`warm_kernels` runs each pending point's datapath (and stages) on the first rows of
the point's first record, with numba's threads as a worker has them, so that the kernels and
type specialisations the points need (and the serial or parallel variant the workers pick,
:mod:`essop_sim.numerics.threads`) are compiled and written to the cache once. The sweep runs it
as the first task of one worker while the other workers start (``essop_sim.sweep``), and hands
out the points when it is done: the other workers then load the kernels from the cache, and on a
warm cache the warm-up costs only its small updates (the parent never loads numba).

The result of a warm-up is discarded: it only fills the cache. A point the warm-up cannot run
(any exception) is left to its worker, which reports the problem as usual. Kernels used only by
larger updates (a parallel variant when a worker has several threads) or by data-dependent
branches the first rows do not reach are still compiled by the worker that needs them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

#: Outer products (rows of K) of each warm-up update.
WARM_ROWS = 64


def warm_kernels_safe(points: Iterable[Any]) -> dict[str, Any]:
    """:func:`warm_kernels` in a worker process (its thread limit already set); never raises."""
    try:
        return warm_kernels(points)
    except Exception as exc:  # noqa: BLE001 - a warm-up is an optimisation only
        return {"points": 0, "skipped": None, "seconds": 0.0, "error": repr(exc)}


def warm_kernels(points: Iterable[Any], threads: int | None = None) -> dict[str, Any]:
    """Run each point's numerics on its first record's first :data:`WARM_ROWS` rows.

    Args:
        points: sweep points (``config``, ``trace_path``, ``layers``, ``steps``, ``numerics``).
        threads: numba threads of a worker process (the warm-up runs with as many); None: as
            this process is set (in a worker).

    Returns:
        ``{"points": warmed, "skipped": failed or without numerics, "seconds": wall time}``.
    """
    from .datapaths.registry import datapath_of, stages_of
    from .numerics.threads import limited
    from .simulate import record_seed
    from .trace import load_trace

    started = time.perf_counter()
    traces: dict[tuple, Any] = {}
    warmed = skipped = 0
    with limited(threads) if threads is not None else contextlib.nullcontext():
        for point in points:
            if not point.numerics:
                skipped += 1
                continue
            try:
                key = (point.trace_path, point.layers, point.steps)
                if key not in traces:  # not verified here (the worker does): no full read
                    traces[key] = load_trace(point.trace_path, verify=False,
                                             layers=point.layers, steps=point.steps)
                record = traces[key].records[0]
                _warm_one(point.config, record, datapath_of, stages_of, record_seed)
                warmed += 1
            except Exception:  # noqa: BLE001 - the worker runs the point and reports it
                skipped += 1
    return {"points": warmed, "skipped": skipped, "seconds": time.perf_counter() - started}


def _warm_one(config: Any, record: Any, datapath_of, stages_of, record_seed) -> None:
    """The stages and the datapath of ``config`` on the first rows of ``record``."""
    datapath = datapath_of(config)
    config = datapath.for_layer(config, record.layer)
    seed = record_seed(config.seed, record.layer, record.step)
    x, delta = record.x[:WARM_ROWS], record.delta[:WARM_ROWS]
    for stage in stages_of(config):
        out = stage.apply(x, delta, config, seed)
        x, delta = out.x, out.delta
    datapath.outer_product(x, delta, config, seed)
