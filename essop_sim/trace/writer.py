"""Atomic trace writer: arrays go into a hidden sibling temp directory, renamed into place last.

::

    with TraceWriter("runs/t", model="mlp", dataset="digits") as w:
        w.add("fc1", "linear", step=0, x=x, delta=delta)      # x [K, n], delta [K, m]
    # runs/t/ appears only here, complete, with manifest.json

An exception inside the ``with`` removes the temp directory; a killed process leaves only a
hidden ``.t.partial-<pid>-<hex>`` directory without a manifest, which ``load_trace`` refuses.
Files are fsynced before the rename, and the parent directory after it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TraceError
from ..fsutil import fsync_dir
from ..report.io import atomic_write
from . import format as fmt
from .recovery import clean_leftovers, exchange, recover_trace

#: Rows per chunk when ``add`` streams a large (e.g. memory-mapped) array to disk.
WRITE_CHUNK_BYTES = 8 << 20


class _HashingFile:
    """Write-through wrapper that hashes and counts every byte written."""

    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def write(self, b) -> int:
        b = memoryview(b).cast("B")  # byte view: len() counts bytes, not rows
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 ('...Z'); honours SOURCE_DATE_EPOCH for reproducible builds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        t = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
    else:
        t = _dt.datetime.now(_dt.timezone.utc)
    return t.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def no_subsample(k: int) -> dict:
    """The ``subsample`` entry of a record that keeps all K rows."""
    return {"original_K": int(k), "method": "none", "seed": None}


class TraceWriter:
    """Write a trace directory atomically.

    Args:
        path: the trace directory to create. Must not exist unless ``overwrite`` (then it must
            be an existing trace or an empty directory; anything else is refused).
        model, dataset: free-text descriptions stored in the manifest.
        framework: ``{"name": ..., "version": ...}`` of what produced the arrays
            (default: essop_sim itself).
        command: the command line that made the trace (stored verbatim), or None.
        meta: free-form JSON-serialisable dict; ``writer.meta`` may be updated until close.
        overwrite: replace an existing trace at ``path`` (the swap happens at close).
    """

    def __init__(self, path: str | os.PathLike, *, model: str, dataset: str,
                 framework: dict | None = None, command: str | None = None,
                 meta: dict | None = None, overwrite: bool = False):
        self.path = Path(path)
        self.overwrite = overwrite
        clean_leftovers(self.path)  # put back an interrupted overwrite's trace, drop stale dirs
        self._check_target()
        if framework is None:
            from .. import __version__
            framework = {"name": "essop_sim", "version": __version__}
        self.model, self.dataset, self.framework = str(model), str(dataset), dict(framework)
        self.command = command
        self.meta: dict[str, Any] = dict(meta or {})
        self.records: list[dict] = []
        self._keys: set[tuple[str, int]] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.tmp = self.path.parent / f".{self.path.name}.partial-{token}"
        self.tmp.mkdir()
        self._state = "open"

    # ------------------------------------------------------------------ public

    def add(self, layer: str, kind: str, step: int, x, delta, *, conv: dict | None = None,
            subsample: dict | None = None, batch: int | None = None,
            dtype: str = "float32") -> dict:
        """Add one record from whole arrays x [K, n] and delta [K, m] (any float dtype).

        Arrays are cast to ``dtype`` and streamed to disk in chunks, so memory-mapped inputs
        larger than memory are fine. Returns the manifest entry.
        """
        x, delta = np.asarray(x), np.asarray(delta)
        if x.ndim != 2 or delta.ndim != 2 or x.shape[0] != delta.shape[0]:
            raise TraceError(self.path, f"layer {layer!r} step {step}: need x [K, n] and "
                                        f"delta [K, m] with equal K; got x {list(x.shape)}, "
                                        f"delta {list(delta.shape)}")
        k, n, m = x.shape[0], x.shape[1], delta.shape[1]
        rows = max(1, WRITE_CHUNK_BYTES // (8 * max(n, m)))
        chunks = ((x[i:i + rows], delta[i:i + rows]) for i in range(0, k, rows))
        return self.add_chunks(layer, kind, step, k, n, m, chunks, conv=conv,
                               subsample=subsample, batch=batch, dtype=dtype)

    def add_chunks(self, layer: str, kind: str, step: int, K: int, n: int, m: int,
                   chunks: Iterable[tuple[Any, Any]], *, conv: dict | None = None,
                   subsample: dict | None = None, batch: int | None = None,
                   dtype: str = "float32") -> dict:
        """Add one record from an iterable of (x_chunk [k_i, n], delta_chunk [k_i, m]) pairs.

        The chunks' k_i must sum to K (known up front: it goes in the .npy header). Values must
        be finite. ``subsample`` defaults to "none" (all K rows kept). Returns the manifest entry.
        """
        if self._state != "open":
            raise TraceError(self.path, f"writer is {self._state}; cannot add records")
        step, K, n, m = int(step), int(K), int(n), int(m)
        if (layer, step) in self._keys:
            raise TraceError(self.path, f"duplicate record: layer {layer!r} step {step}")
        if dtype not in fmt.DTYPES:
            raise TraceError(self.path, f"dtype {dtype!r}: expected one of {list(fmt.DTYPES)}")
        dt = np.dtype(dtype).newbyteorder("<")
        index = len(self.records)
        stem = f"r{index:04d}_{fmt.safe_name(layer)}_s{step}"
        entry: dict[str, Any] = {
            "layer": str(layer), "kind": kind, "step": step, "n": n, "m": m, "K": K,
            "dtype": dtype, "batch": None if batch is None else int(batch),
            "conv": None if conv is None else dict(conv),
            "subsample": dict(subsample) if subsample is not None else no_subsample(K),
            "files": {},
        }
        label = f"layer {layer!r} step {step}"
        names = {a: f"{stem}.{a}.npy" for a in fmt.ARRAYS}
        paths = {a: self.tmp / names[a] for a in fmt.ARRAYS}
        # metadata errors (kind, conv geometry, subsample) fail before any array is written
        fmt._validate_record(self.path, f"record {index}", {**entry, "files": {
            a: {"file": names[a], "sha256": "0" * 64, "bytes": 1} for a in fmt.ARRAYS}})
        try:
            with ExitStack() as stack:
                handles = {a: stack.enter_context(open(paths[a], "wb")) for a in fmt.ARRAYS}
                self._write_arrays(handles, entry, names, chunks, dt, label)
            fmt._validate_record(self.path, f"record {index}", entry)
        except BaseException:
            for a in fmt.ARRAYS:
                paths[a].unlink(missing_ok=True)
            raise
        self.records.append(entry)
        self._keys.add((str(layer), step))
        return entry

    def _write_arrays(self, handles, entry, names, chunks, dt, label) -> None:
        """Stream chunks into the two open .npy files; fill entry['files'] (sha256, bytes)."""
        K, n, m, dtype = entry["K"], entry["n"], entry["m"], entry["dtype"]
        hf = {a: _HashingFile(handles[a]) for a in fmt.ARRAYS}
        for a, cols in (("x", n), ("delta", m)):
            np.lib.format.write_array_header_1_0(hf[a], {
                "descr": np.lib.format.dtype_to_descr(dt), "fortran_order": False,
                "shape": (K, cols)})
        rows = 0
        for xc, dc in chunks:
            xc = np.ascontiguousarray(np.asarray(xc), dtype=dt)
            dc = np.ascontiguousarray(np.asarray(dc), dtype=dt)
            if (xc.ndim != 2 or dc.ndim != 2 or xc.shape[1] != n or dc.shape[1] != m
                    or xc.shape[0] != dc.shape[0]):
                raise TraceError(self.path, f"{label}: chunk shapes x {list(xc.shape)}, "
                                            f"delta {list(dc.shape)} do not fit [k, {n}], "
                                            f"[k, {m}]")
            for a, c in (("x", xc), ("delta", dc)):
                bad = ~np.isfinite(c)
                if bad.any():
                    r, col = np.argwhere(bad)[0]
                    raise TraceError(self.path, f"{label}: {a} has a non-finite value "
                                                f"({c[r, col]}) at row {rows + r}, column "
                                                f"{col} (after cast to {dtype})")
                hf[a].write(c.data if c.size else b"")  # C-contiguous
            rows += xc.shape[0]
            if rows > K:
                break
        if rows != K:
            raise TraceError(self.path, f"{label}: chunks held {rows} rows, expected K={K}")
        for a in fmt.ARRAYS:
            handles[a].flush()
            os.fsync(handles[a].fileno())
            entry["files"][a] = {"file": names[a], "sha256": hf[a].h.hexdigest(),
                                 "bytes": hf[a].n}

    def manifest(self) -> dict:
        """The manifest as it would be written now."""
        return {
            "format_version": fmt.FORMAT_VERSION,
            "model": self.model,
            "dataset": self.dataset,
            "framework": self.framework,
            "created": utc_now_iso(),
            "command": self.command,
            "steps": sorted({r["step"] for r in self.records}),
            "meta": self.meta,
            "records": self.records,
        }

    def close(self) -> Path:
        """Write manifest.json (last), fsync, and rename the temp directory into place."""
        if self._state != "open":
            raise TraceError(self.path, f"writer is already {self._state}")
        old = None
        try:
            if not self.records:
                raise TraceError(self.path, "no records were written; refusing to create an "
                                            "empty trace")
            manifest = self.manifest()
            fmt.validate_manifest(manifest, self.path / fmt.MANIFEST_NAME)
            text = json.dumps(manifest, indent=1, sort_keys=False) + "\n"
            atomic_write(self.tmp / fmt.MANIFEST_NAME, lambda f: f.write(text))
            recover_trace(self.path)
            self._check_target()
            if self.path.exists() and exchange(self.tmp, self.path):
                old, self.tmp = self.tmp, None  # atomic: the old trace is now at tmp
            else:
                if self.path.exists():  # overwrite (checked above): swap the old one out first
                    old = self.path.parent / (f".{self.path.name}.old-{os.getpid()}-"
                                              f"{secrets.token_hex(4)}")
                    os.rename(self.path, old)
                os.rename(self.tmp, self.path)
            fsync_dir(self.path.parent)
        except BaseException:
            if old is not None and not self.path.exists():
                os.rename(old, self.path)  # put the previous trace back; nothing is lost
                old = None
            self.abort()
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._state = "closed"
        return self.path

    def abort(self) -> None:
        """Discard everything written so far (removes the temp directory)."""
        if self._state == "open":
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
            self._state = "aborted"

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # ------------------------------------------------------------------ helpers

    def _check_target(self) -> None:
        p = self.path
        if not p.exists():
            return
        if not self.overwrite:
            raise TraceError(p, "already exists; choose another path or overwrite it "
                                "(overwrite=True, --overwrite)")
        if not p.is_dir():
            raise TraceError(p, "exists and is not a directory; refusing to replace it")
        if not (p / fmt.MANIFEST_NAME).is_file() and any(p.iterdir()):
            raise TraceError(p, "exists and is not a trace (no manifest.json) nor empty; "
                                "refusing to replace it")

