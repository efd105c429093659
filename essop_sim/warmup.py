"""Compile a sweep's numba kernels once, in the parent, before its worker processes start.

Every worker process of a parallel sweep needs the same compiled kernels. They share the on-disk
numba cache (the parent sets ``NUMBA_CACHE_DIR``, :mod:`essop_sim._numba_cache`, and workers
inherit it), but on a cold cache each worker would miss it at the same moment and compile the
same kernels again, side by side on the same cores (a cold ``-j 2`` sweep compiled everything
twice). :func:`warm_kernels` runs, in the calling process, each pending point's datapath (and
stages) on the first rows of the point's first record, with numba limited to the threads a
worker will have, so that the kernels and type specialisations the points need (and the serial
or parallel variant the workers will pick, :mod:`essop_sim.numerics.threads`) are compiled and
written to the cache once; the workers then load them.

The result of a warm-up is discarded: it only fills the cache. A point the warm-up cannot run
(any exception) is left to its worker, which reports the problem as usual. Kernels used only by
larger updates (a parallel variant when a worker has several threads) or by data-dependent
branches the first rows do not reach are still compiled by the worker that needs them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

#: Outer products (rows of K) of each warm-up update.
WARM_ROWS = 64


def warm_kernels(points: Iterable[Any], threads: int) -> dict[str, Any]:
    """Run each point's numerics on its first record's first :data:`WARM_ROWS` rows.

    Args:
        points: sweep points (``config``, ``trace_path``, ``layers``, ``steps``, ``numerics``).
        threads: numba threads of a worker process (the warm-up runs with as many).

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
    with limited(threads):
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
