"""Read traces: ``load_trace(path) -> Trace`` with memory-mapped, chunk-iterable records."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import TraceError
from . import format as fmt


@dataclass
class TraceRecord:
    """One layer at one training step: x [K, n] and delta [K, m]; its update is delta.T @ x.

    Attributes:
        layer: layer name (the module's name in the model, e.g. ``stage1.block0.conv1``).
        kind: 'linear', 'conv1d', 'conv2d', 'conv3d' or 'conv_transpose1d/2d/3d'.
        step: training step (number of optimizer steps taken before this gradient).
        n: x row length (inputs; Cin * kh * kw for a conv).
        m: delta row length (outputs; Cout for a conv).
        K: rows (outer products summed): batch for a linear layer, batch * Ho * Wo for a conv,
            or fewer if subsampled (see ``subsample``).
        dtype: on-disk dtype name of both arrays ('float16' | 'float32' | 'float64').
        conv: conv geometry dict (see :mod:`essop_sim.trace.format`) or None for linear.
        subsample: ``{"original_K", "method", "seed", ...}``; method 'none' when all rows kept.
        batch: samples the K rows came from (None if unknown).
        files: ``{"x": {"file", "sha256", "bytes"}, "delta": {...}}`` from the manifest.
        trace_dir: the trace directory.
        index: position in the manifest's record list.
    """

    layer: str
    kind: str
    step: int
    n: int
    m: int
    K: int
    dtype: str
    conv: dict | None
    subsample: dict
    batch: int | None
    files: dict
    trace_dir: Path
    index: int
    _arrays: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_manifest(cls, entry: dict, trace_dir: Path, index: int) -> TraceRecord:
        return cls(layer=entry["layer"], kind=entry["kind"], step=entry["step"], n=entry["n"],
                   m=entry["m"], K=entry["K"], dtype=entry["dtype"], conv=entry["conv"],
                   subsample=entry["subsample"], batch=entry.get("batch"),
                   files=entry["files"], trace_dir=Path(trace_dir), index=index)

    # ------------------------------------------------------------------ arrays

    @property
    def label(self) -> str:
        """How messages name this record: ``record 3 (layer 'conv2', step 0)``."""
        return f"record {self.index} (layer {self.layer!r}, step {self.step})"

    def file_path(self, array: str) -> Path:
        """Path of the 'x' or 'delta' .npy file."""
        return self.trace_dir / self.files[array]["file"]

    def _shape(self, array: str) -> tuple[int, int]:
        return (self.K, self.n) if array == "x" else (self.K, self.m)

    def _open(self, array: str) -> np.memmap:
        if array not in self._arrays:
            path = self.file_path(array)
            fmt.check_array_file(path, self._shape(array), self.dtype,
                                 self.files[array]["bytes"], f"{self.label} {array}",
                                 "[K, n]" if array == "x" else "[K, m]")
            try:
                self._arrays[array] = np.load(path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise TraceError(path, f"{self.label} {array}: cannot memory-map: {exc}") from None
        return self._arrays[array]

    @property
    def x(self) -> np.memmap:
        """Layer inputs, read-only memory map [K, n] (im2col rows for a conv)."""
        return self._open("x")

    @property
    def delta(self) -> np.memmap:
        """Output errors dL/d(output), read-only memory map [K, m]."""
        return self._open("delta")

    def iter_chunks(self, chunk_k: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (x[i:i+chunk_k], delta[i:i+chunk_k]) memory-mapped views, i = 0, chunk_k, ...

        Only the chunk being touched is paged in, so a record larger than memory replays.
        The last chunk may be shorter. Views are read-only; copy (``np.array``) to modify.
        """
        if not isinstance(chunk_k, int | np.integer) or chunk_k < 1:
            raise ValueError(f"chunk_k must be a positive integer, got {chunk_k!r}")
        x, d = self.x, self.delta
        for i in range(0, self.K, int(chunk_k)):
            yield x[i:i + chunk_k], d[i:i + chunk_k]

    def exact_update(self, chunk_k: int = 16384) -> np.ndarray:
        """delta.T @ x in float64 [m, n], accumulated chunk-wise (the exact weight gradient,
        or its subsample when ``subsample['method'] != 'none'``)."""
        from ..numerics.metrics import exact_update

        return exact_update(self.x, self.delta, chunk_k)

    @property
    def nbytes(self) -> int:
        """On-disk bytes of both arrays (headers included)."""
        return sum(int(self.files[a]["bytes"]) for a in fmt.ARRAYS)

    @property
    def elements(self) -> int:
        """Outer-product elements m * n * K."""
        return self.m * self.n * self.K

    def layer_shape(self):
        """This record's workload as an :class:`essop_sim.workloads.LayerShape`."""
        from ..workloads import LayerShape
        return LayerShape(self.layer, self.kind, self.n, self.m, self.K)

    def verify(self, check_finite: bool = True) -> None:
        """Full check of both files: header, shape, dtype, size, sha256 and (optionally) NaN/Inf.

        Streams each file once in blocks of ``format.BLOCK_BYTES``.
        """
        for a in fmt.ARRAYS:
            path = self.file_path(a)
            dims = "[K, n]" if a == "x" else "[K, m]"
            offset = fmt.check_array_file(path, self._shape(a), self.dtype,
                                          self.files[a]["bytes"], f"{self.label} {a}", dims)
            fmt.scan_array_file(path, offset, self._shape(a), np.dtype(self.dtype),
                                self.files[a]["sha256"], check_finite, f"{self.label} {a}")


class Trace:
    """A loaded trace: ``path``, ``manifest`` (the parsed dict) and ``records`` (selected)."""

    def __init__(self, path: Path, manifest: dict, records: list[TraceRecord]):
        self.path = Path(path)
        self.manifest = manifest
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self.records)

    def __getitem__(self, i: int) -> TraceRecord:
        return self.records[i]

    def __repr__(self) -> str:
        return (f"Trace({str(self.path)!r}, model={self.manifest['model']!r}, "
                f"{len(self.records)} records, layers={len(self.layers)}, steps={self.steps})")

    @property
    def layers(self) -> list[str]:
        """Distinct layer names among the selected records, in manifest order."""
        return list(dict.fromkeys(r.layer for r in self.records))

    @property
    def steps(self) -> list[int]:
        """Distinct steps among the selected records, ascending."""
        return sorted({r.step for r in self.records})

    @property
    def nbytes(self) -> int:
        """On-disk bytes of the selected records' arrays."""
        return sum(r.nbytes for r in self.records)

    def get(self, layer: str, step: int) -> TraceRecord:
        """The record of ``layer`` at ``step`` (TraceError if absent)."""
        for r in self.records:
            if r.layer == layer and r.step == step:
                return r
        raise TraceError(self.path, f"no record for layer {layer!r} at step {step}; layers "
                                    f"{self.layers}, steps {self.steps}")

    def select(self, layers: str | Iterable[str] | None = None,
               steps: int | Iterable[int] | None = None) -> Trace:
        """A Trace with only the records matching ``layers`` and ``steps`` (see load_trace)."""
        return Trace(self.path, self.manifest, _select(self.path, self.records, layers, steps))

    def verify(self, check_finite: bool = True) -> None:
        """Verify every selected record's files (see :meth:`TraceRecord.verify`)."""
        for r in self.records:
            r.verify(check_finite)


def _select(path: Path, records: list[TraceRecord], layers, steps) -> list[TraceRecord]:
    if layers is not None:
        patterns = [layers] if isinstance(layers, str) else list(layers)
        names = list(dict.fromkeys(r.layer for r in records))
        keep: set[str] = set()
        for p in patterns:
            hit = [n for n in names if n == p or fnmatch.fnmatchcase(n, str(p))]
            if not hit:
                raise TraceError(path, f"no layer matches {p!r}; the trace has layers {names}")
            keep.update(hit)
        records = [r for r in records if r.layer in keep]
    if steps is not None:
        wanted = [steps] if isinstance(steps, int | np.integer) else list(steps)
        have = sorted({r.step for r in records})
        missing = [s for s in wanted if s not in have]
        if missing:
            raise TraceError(path, f"steps {missing} not in the trace; it has steps {have}")
        records = [r for r in records if r.step in set(wanted)]
    return records


def load_trace(path: str | os.PathLike, verify: bool = True, *,
               layers: str | Iterable[str] | None = None,
               steps: int | Iterable[int] | None = None) -> Trace:
    """Open a trace directory.

    Args:
        path: the trace directory (holding ``manifest.json``).
        verify: check every selected record's files fully: present, readable .npy header,
            shape and dtype as in the manifest, byte size (truncation), sha256 (corruption),
            and finiteness (first NaN/Inf by row and column). Streams each file in blocks.
            With ``verify=False`` only the manifest is checked here; shape, dtype and size are
            still checked when an array is first opened.
        layers: keep only these layers: names or ``fnmatch`` patterns (``"stage1.*"``); each
            must match something.
        steps: keep only these steps (an int or iterable); each must be present.

    Returns:
        Trace with the selected records, in manifest order.

    Raises:
        TraceError naming the offending file and the problem.
    """
    path = Path(path)
    manifest = fmt.read_manifest(path)
    records = [TraceRecord.from_manifest(e, path, i) for i, e in enumerate(manifest["records"])]
    records = _select(path, records, layers, steps)
    trace = Trace(path, manifest, records)
    if verify:
        trace.verify()
    return trace

