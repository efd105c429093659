"""The text ``essop-sim trace info PATH`` prints: provenance, records table, sizes, statistics."""

from __future__ import annotations

import json
import os

import numpy as np

from .reader import TraceRecord, load_trace


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:.2f}"


def record_stats(rec: TraceRecord, chunk_k: int = 65536) -> dict[str, float]:
    """Streaming statistics of one record: max |x|, fraction of x exactly 0, max |delta|,
    fraction of delta exactly 0 (dimensionless fractions; maxima in the arrays' units)."""
    xmax = dmax = 0.0
    xz = dz = 0
    for xc, dc in rec.iter_chunks(chunk_k):
        if xc.size:
            xmax = max(xmax, float(np.max(np.abs(xc))))
            xz += int(np.count_nonzero(xc == 0))
        if dc.size:
            dmax = max(dmax, float(np.max(np.abs(dc))))
            dz += int(np.count_nonzero(dc == 0))
    return {"x_absmax": xmax, "x_zero_fraction": xz / (rec.K * rec.n),
            "delta_absmax": dmax, "delta_zero_fraction": dz / (rec.K * rec.m)}


def _subsample_text(rec: TraceRecord) -> str:
    sub = rec.subsample
    if sub.get("method") == "none":
        return "none"
    return f"{sub.get('method')} of {sub.get('original_K')}"


def trace_info(path: str | os.PathLike, verify: bool = True, stats: bool = True) -> str:
    """Describe a trace as text (several lines, no trailing newline).

    Args:
        path: trace directory.
        verify: fully verify the files first (sha256, sizes, NaN/Inf); a problem raises
            TraceError, as load_trace does.
        stats: add per-record max |x|, zero fraction of x, max |delta| (one streaming pass).
    """
    trace = load_trace(path, verify=verify)
    man = trace.manifest
    fw = man["framework"]
    lines = [
        f"trace: {trace.path}",
        f"  format_version: {man['format_version']}",
        f"  model: {man['model']}",
        f"  dataset: {man['dataset']}",
        f"  framework: {fw['name']} {fw['version']}",
        f"  created: {man['created']}",
        f"  command: {man['command'] if man['command'] else '(not recorded)'}",
        f"  steps: {trace.steps}",
        f"  layers: {len(trace.layers)}",
        f"  records: {len(trace)}, {_mib(trace.nbytes)} MiB on disk, "
        f"{sum(r.elements for r in trace):,} outer-product elements (sum of m*n*K)",
        f"  verified: {'sizes, sha256 and finiteness OK' if verify else 'no (manifest only)'}",
    ]
    for key, value in (man.get("meta") or {}).items():
        text = json.dumps(value, sort_keys=True)
        if len(text) > 100:
            text = text[:97] + "..."
        lines.append(f"  meta.{key}: {text}")
    name_w = max(5, *(len(r.layer) for r in trace))
    head = (f"  {'layer':<{name_w}}  {'kind':<6} {'step':>6} {'n':>6} {'m':>5} {'K':>8} "
            f"{'dtype':<7} {'subsample':<22} {'MiB':>7}")
    if stats:
        head += f" {'max|x|':>9} {'x==0':>6} {'max|delta|':>10}"
    lines += ["", head]
    for r in trace:
        row = (f"  {r.layer:<{name_w}}  {r.kind:<6} {r.step:>6} {r.n:>6} {r.m:>5} {r.K:>8} "
               f"{r.dtype:<7} {_subsample_text(r):<22} {_mib(r.nbytes):>7}")
        if stats:
            s = record_stats(r)
            row += (f" {s['x_absmax']:>9.3g} {s['x_zero_fraction']:>6.1%} "
                    f"{s['delta_absmax']:>10.3g}")
        lines.append(row)
    return "\n".join(lines)
