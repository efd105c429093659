"""Gradient traces from real training runs: on-disk format, reader, writer, capture, synthetic.

A trace is a directory of ``manifest.json`` plus, per record (one layer at one training step),
``x`` [K, n] (layer inputs; im2col rows for a conv) and ``delta`` [K, m] (output errors) as
``.npy`` files; the weight gradient is ``delta.T @ x`` [m, n]. See docs/traces.md.

::

    from essop_sim.trace import load_trace, default_trace_path
    trace = load_trace(default_trace_path())          # verifies sizes, sha256, finiteness
    for rec in trace.records:
        for x, delta in rec.iter_chunks(4096):        # memory-mapped row chunks
            ...

Capture (needs torch): ``with essop_sim.trace.record(model, path, steps=...) as rec: ...``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import TraceError
from .format import FORMAT_VERSION, MANIFEST_NAME, validate_manifest
from .reader import Trace, TraceRecord, load_trace

DEFAULT_TRACE_NAME = "digits_cnn"

#: Names imported on first use (a replay needs only the reader): name -> submodule.
_LAZY = {"CaptureError": "capture", "Recorder": "capture", "layer_operands": "capture",
         "record": "capture", "trace_info": "info", "make_synthetic_trace": "synthetic",
         "TraceWriter": "writer"}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def default_trace_path() -> Path:
    """The shipped default trace, ``essop_sim/data/traces/digits_cnn``: package data, so it is
    there in a repository checkout and in any installed copy (``pip install .``) alike.

    Raises TraceError if it is missing (a damaged install); remake it with the command in
    docs/traces.md.
    """
    path = Path(__file__).resolve().parents[1] / "data" / "traces" / DEFAULT_TRACE_NAME
    if not (path / MANIFEST_NAME).is_file():
        raise TraceError(path, "the shipped default trace is missing (a damaged install?); "
                               "reinstall essop-sim, or remake it from the repository root "
                               "with: python scripts/dump_traces.py --model cnn --out "
                               "essop_sim/data/traces/digits_cnn --steps 0,60,-1 --overwrite "
                               "(see docs/traces.md)")
    return path


__all__ = [
    "FORMAT_VERSION", "CaptureError", "Recorder", "Trace", "TraceRecord", "TraceWriter",
    "default_trace_path", "layer_operands", "load_trace", "make_synthetic_trace", "record",
    "trace_info", "validate_manifest",
]
