"""On-disk trace format: manifest schema, validation, and ``.npy`` file checks.

A trace is a directory::

    my_trace/
      manifest.json                 # written last; its presence marks a complete trace
      r0000_conv1_s0.x.npy          # x     [K, n]  layer inputs (im2col rows for a conv)
      r0000_conv1_s0.delta.npy      # delta [K, m]  output errors dL/d(output)
      ...

The weight gradient of a record is ``delta.T @ x`` ([m, n]); for a conv that is
``weight.grad.reshape(Cout, Cin * kh * kw)``.

Manifest (``format_version`` 1)::

    {
      "format_version": 1,
      "model": "digits_cnn",              # free text
      "dataset": "sklearn digits",        # free text
      "framework": {"name": "torch", "version": "2.13.0"},
      "created": "2025-01-01T00:00:00Z",  # ISO 8601, UTC
      "command": "python scripts/...",    # the command that made it (null if unknown)
      "steps": [0, 440],                  # sorted distinct steps among the records
      "meta": {...},                      # free-form (seed, lr, accuracy, ...)
      "records": [
        {"layer": "conv1", "kind": "conv2d", "step": 0,
         "n": 9, "m": 8, "K": 2048,        # x is [K, n], delta is [K, m]
         "dtype": "float32",               # float16 | float32 | float64, both arrays
         "batch": 32,                      # samples summed (optional; null if unknown)
         "conv": {"in_channels": 1, "out_channels": 8, "kernel_size": [3, 3],
                  "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1,
                  "input_hw": [8, 8], "output_hw": [8, 8]},          # null for linear
         "subsample": {"original_K": 2048, "method": "none", "seed": null},
         "files": {"x":     {"file": "...x.npy",     "sha256": "<hex>", "bytes": 73856},
                   "delta": {"file": "...delta.npy", "sha256": "<hex>", "bytes": 65664}}}
      ]
    }

``kind`` is ``linear``, ``conv1d``, ``conv2d``, ``conv3d`` or ``conv_transpose1d/2d/3d``; the
conv geometry's lists have one entry per spatial dimension, plus ``output_padding`` for a
transposed convolution and ``group`` for one group of a grouped convolution (then m is
out_channels / groups; for a transposed convolution m is in_channels / groups and n is
out_channels / groups * prod(kernel_size)). ``padding`` is ``[ph, pw]`` (symmetric) or
``[top, bottom, left, right]``. ``sha256`` and
``bytes`` cover the whole ``.npy`` file (header included). Every check here raises
:class:`~essop_sim.errors.TraceError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TraceError
from ..fsutil import file_kind

FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)
MANIFEST_NAME = "manifest.json"
KINDS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
         "conv_transpose3d")
DTYPES = ("float16", "float32", "float64")
ARRAYS = ("x", "delta")

#: Bytes read per block when hashing / scanning an array (streaming, bounded memory).
BLOCK_BYTES = 8 << 20

_REQUIRED_TOP = ("format_version", "model", "dataset", "framework", "created", "command",
                 "steps", "records")
_REQUIRED_RECORD = ("layer", "kind", "step", "n", "m", "K", "dtype", "conv", "subsample",
                    "files")
_CONV_PAIRS = ("kernel_size", "stride", "dilation", "input_hw", "output_hw")


# ----------------------------------------------------------------------------- manifest


def read_manifest(trace_dir: Path) -> dict:
    """Read and parse ``manifest.json``; missing or malformed is a TraceError."""
    from .recovery import recover_trace

    recover_trace(trace_dir)  # an overwrite killed half-way: put the previous trace back
    path = Path(trace_dir) / MANIFEST_NAME
    if not Path(trace_dir).is_dir():
        raise TraceError(trace_dir, "not a directory (a trace is a directory with manifest.json)")
    if path.exists() and not path.is_file():
        raise TraceError(path, f"is a {file_kind(path)}, not a regular file")
    if not path.is_file():
        partial = "" if not any(Path(trace_dir).glob("*.npy")) else (
            " (it holds .npy files: an interrupted or incomplete capture?)")
        raise TraceError(path, f"missing manifest: not a complete trace{partial}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(path, f"unreadable manifest: {exc}") from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: "
                               f"{exc.msg} (truncated or hand-edited manifest?)") from None
    except RecursionError:
        raise TraceError(path, "malformed manifest: JSON nested too deeply") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise TraceError(path, f"malformed manifest: {str(exc)[:100]}") from None
    try:
        json.dumps(manifest, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise TraceError(path, "malformed manifest: a string holds a lone surrogate (not "
                               "valid Unicode)") from None
    validate_manifest(manifest, path)
    return manifest


def _fail(source: object, where: str, problem: str) -> None:
    raise TraceError(source, f"manifest {where}: {problem}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_int(source, where, v, low=0):
    if not _is_int(v) or v < low:
        _fail(source, where, f"expected an integer >= {low}, got {v!r}")


def _check_int_list(source, where, v, lengths, low):
    if (not isinstance(v, list) or len(v) not in lengths
            or not all(_is_int(e) and e >= low for e in v)):
        want = " or ".join(str(n) for n in lengths)
        _fail(source, where, f"expected a list of {want} integers >= {low}, got {v!r}")


def validate_manifest(manifest: Any, source: object = "<manifest>") -> None:
    """Check the manifest's structure and field types (not the files).

    Raises TraceError(source, ...) naming the first offending field, e.g.
    ``records[3].conv.stride: expected a list of 2 integers >= 1``.
    """
    if not isinstance(manifest, dict):
        _fail(source, "top level", f"expected a JSON object, got {type(manifest).__name__}")
    if "format_version" not in manifest:
        _fail(source, "format_version", "missing (not an essop-sim trace manifest?)")
    version = manifest["format_version"]
    if version not in SUPPORTED_FORMAT_VERSIONS or not _is_int(version):
        raise TraceError(source, f"unknown format_version {version!r}: this essop-sim reads "
                                 f"format_version {list(SUPPORTED_FORMAT_VERSIONS)} "
                                 "(a newer essop-sim may read it)")
    for key in _REQUIRED_TOP:
        if key not in manifest:
            _fail(source, key, "missing required field")
    for key in ("model", "dataset", "created"):
        if not isinstance(manifest[key], str):
            _fail(source, key, f"expected a string, got {manifest[key]!r}")
    if manifest["command"] is not None and not isinstance(manifest["command"], str):
        _fail(source, "command", f"expected a string or null, got {manifest['command']!r}")
    fw = manifest["framework"]
    if not (isinstance(fw, dict) and isinstance(fw.get("name"), str)
            and isinstance(fw.get("version"), str)):
        _fail(source, "framework", f"expected {{'name': str, 'version': str}}, got {fw!r}")
    if "meta" in manifest and not isinstance(manifest["meta"], dict):
        _fail(source, "meta", f"expected an object, got {manifest['meta']!r}")
    records = manifest["records"]
    if not isinstance(records, list):
        _fail(source, "records", f"expected a list, got {type(records).__name__}")
    if not records:
        _fail(source, "records", "empty: the trace has no records")
    seen: set[tuple[str, int]] = set()
    files: set[str] = set()
    for i, rec in enumerate(records):
        _validate_record(source, f"records[{i}]", rec)
        key = (rec["layer"], rec["step"])
        if key in seen:
            _fail(source, f"records[{i}]", f"duplicate record for layer {key[0]!r} step {key[1]}")
        seen.add(key)
        for a in ARRAYS:
            name = rec["files"][a]["file"]
            if name in files:
                _fail(source, f"records[{i}].files.{a}.file", f"file {name!r} used twice")
            files.add(name)
    steps = manifest["steps"]
    if not isinstance(steps, list) or not all(_is_int(s) for s in steps):
        _fail(source, "steps", f"expected a list of integers, got {steps!r}")
    actual = sorted({r["step"] for r in records})
    if sorted(steps) != actual:
        _fail(source, "steps", f"{steps!r} disagrees with the records' steps {actual!r}")


def _validate_record(source, where, rec) -> None:
    if not isinstance(rec, dict):
        _fail(source, where, f"expected an object, got {rec!r}")
    for key in _REQUIRED_RECORD:
        if key not in rec:
            _fail(source, f"{where}.{key}", "missing required field")
    if not isinstance(rec["layer"], str) or not rec["layer"]:
        _fail(source, f"{where}.layer", f"expected a non-empty string, got {rec['layer']!r}")
    if rec["kind"] not in KINDS:
        _fail(source, f"{where}.kind", f"expected one of {list(KINDS)}, got {rec['kind']!r}")
    _check_int(source, f"{where}.step", rec["step"], 0)
    for key in ("n", "m", "K"):
        _check_int(source, f"{where}.{key}", rec[key], 1)
    if rec["dtype"] not in DTYPES:
        _fail(source, f"{where}.dtype", f"expected one of {list(DTYPES)}, got {rec['dtype']!r}")
    if rec.get("batch") is not None:
        _check_int(source, f"{where}.batch", rec["batch"], 1)
    conv = rec["conv"]
    if rec["kind"] == "linear":
        if conv is not None:
            _fail(source, f"{where}.conv", "expected null for a linear layer")
    else:
        _validate_conv(source, f"{where}.conv", conv, rec)
    sub = rec["subsample"]
    if not isinstance(sub, dict) or "original_K" not in sub or "method" not in sub:
        _fail(source, f"{where}.subsample",
              f"expected {{'original_K': int, 'method': str, 'seed': ...}}, got {sub!r}")
    _check_int(source, f"{where}.subsample.original_K", sub["original_K"], 1)
    if not isinstance(sub["method"], str):
        _fail(source, f"{where}.subsample.method", f"expected a string, got {sub['method']!r}")
    if sub["original_K"] < rec["K"]:
        _fail(source, f"{where}.subsample.original_K",
              f"{sub['original_K']} is smaller than K={rec['K']}")
    if sub["method"] == "none" and sub["original_K"] != rec["K"]:
        _fail(source, f"{where}.subsample", f"method 'none' but original_K={sub['original_K']} "
                                            f"!= K={rec['K']}")
    files = rec["files"]
    if not isinstance(files, dict):
        _fail(source, f"{where}.files", f"expected an object, got {files!r}")
    for a in ARRAYS:
        entry = files.get(a)
        w = f"{where}.files.{a}"
        if not isinstance(entry, dict):
            _fail(source, w, f"expected {{'file', 'sha256', 'bytes'}}, got {entry!r}")
        name = entry.get("file")
        if (not isinstance(name, str) or not name or "/" in name or "\\" in name
                or name in (".", "..")):
            _fail(source, f"{w}.file", f"expected a plain file name, got {name!r}")
        sha = entry.get("sha256")
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            _fail(source, f"{w}.sha256", f"expected 64 lowercase hex digits, got {sha!r}")
        _check_int(source, f"{w}.bytes", entry.get("bytes"), 1)


def _validate_conv(source, where, conv, rec) -> None:
    kind = rec["kind"]
    if not isinstance(conv, dict):
        _fail(source, where, f"expected conv geometry (an object) for a {kind} layer, "
                             f"got {conv!r}")
    for key in ("in_channels", "out_channels", "groups", *_CONV_PAIRS, "padding"):
        if key not in conv:
            _fail(source, f"{where}.{key}", "missing required field")
    for key in ("in_channels", "out_channels", "groups"):
        _check_int(source, f"{where}.{key}", conv[key], 1)
    d = int(kind[-2])  # conv1d .. conv_transpose3d: spatial dimensions
    for key in _CONV_PAIRS:
        _check_int_list(source, f"{where}.{key}", conv[key], (d,), 1)
    _check_int_list(source, f"{where}.padding", conv["padding"], (d, 2 * d), 0)
    groups = conv["groups"]
    if groups > 1:  # one record per group (capture); "group" says which
        _check_int(source, f"{where}.group", conv.get("group"), 0)
        if conv["group"] >= groups:
            _fail(source, f"{where}.group", f"{conv['group']} is not below groups={groups}")
    taps = math.prod(conv["kernel_size"])
    # the weight is [out, in/groups, *k] ([in, out/groups, *k] transposed); a record holds one
    # group's rows of weight.reshape(weight.shape[0], -1)
    rows, cols = (("in_channels", "out_channels") if kind.startswith("conv_transpose")
                  else ("out_channels", "in_channels"))
    if rec["n"] != conv[cols] // groups * taps:
        _fail(source, f"{where}", f"n={rec['n']} disagrees with {cols}/groups * prod(kernel_size)"
                                  f" = {conv[cols] // groups * taps}")
    if rec["m"] != conv[rows] // groups:
        _fail(source, f"{where}", f"m={rec['m']} disagrees with {rows}/groups="
                                  f"{conv[rows] // groups}")


# ----------------------------------------------------------------------------- npy files


def _check_regular(path: Path) -> None:
    """Refuse what is not a regular file before opening it (opening a FIFO blocks forever)."""
    kind = file_kind(path)
    if kind == "missing":
        raise TraceError(path, "missing array file (listed in manifest.json)")
    if kind != "regular file":
        raise TraceError(path, f"is a {kind}, not a regular file")


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Read an ``.npy`` header: (shape, dtype, fortran_order, data offset in bytes)."""
    _check_regular(path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f".npy format version {version} (traces use 1.0 or 2.0)")
            offset = f.tell()
    except FileNotFoundError:
        raise TraceError(path, "missing array file (listed in manifest.json)") from None
    except (ValueError, OSError, SyntaxError, EOFError, TypeError, KeyError,
            RecursionError) as exc:
        raise TraceError(path, f"unreadable .npy header: {exc}") from None
    return tuple(int(s) for s in shape), np.dtype(dtype), bool(fortran), offset


def check_array_file(path: Path, shape: tuple[int, int], dtype: str, nbytes: int | None,
                     label: str, dims: str = "[K, n]") -> int:
    """Check header, shape, dtype and file size against the manifest; return the data offset.

    ``label`` names the record in messages, e.g. ``"record 3 (layer conv2, step 0) x"``;
    ``dims`` names the expected shape, ``"[K, n]"`` or ``"[K, m]"``.
    """
    got_shape, got_dtype, fortran, offset = npy_header(path)
    if got_dtype.hasobject or got_dtype.kind != "f":
        raise TraceError(path, f"{label}: dtype {got_dtype} is not a float type")
    if got_dtype != np.dtype(dtype).newbyteorder("<"):
        want = np.dtype(dtype).newbyteorder("<").str
        raise TraceError(path, f"{label}: dtype {got_dtype.str} disagrees with manifest "
                               f"dtype {dtype} ({want})")
    if got_shape != tuple(shape):
        raise TraceError(path, f"{label}: shape {list(got_shape)} disagrees with manifest "
                               f"{dims} = {list(shape)}")
    if fortran:
        raise TraceError(path, f"{label}: Fortran-ordered array; traces store C order")
    size = path.stat().st_size
    expected_data = offset + math.prod(shape) * got_dtype.itemsize
    if nbytes is not None and size != nbytes:
        what = "truncated" if size < nbytes else "longer than recorded"
        raise TraceError(path, f"{label}: {what}: file is {size} bytes, manifest says {nbytes}")
    if size != expected_data:
        what = "truncated" if size < expected_data else "trailing bytes"
        raise TraceError(path, f"{label}: {what}: file is {size} bytes, header implies "
                               f"{expected_data}")
    return offset


def scan_array_file(path: Path, offset: int, shape: tuple[int, int], dtype: np.dtype,
                    sha256: str | None, check_finite: bool, label: str) -> None:
    """Stream the file once: sha256 of all bytes, and the first NaN/Inf in the data.

    Reads ``BLOCK_BYTES`` (rounded to whole rows) at a time, so memory stays bounded whatever
    the array size.
    """
    dtype = np.dtype(dtype)
    row_bytes = max(1, shape[1] * dtype.itemsize)
    block = max(row_bytes, BLOCK_BYTES // row_bytes * row_bytes)
    h = hashlib.sha256()
    bad: tuple[int, int, str] | None = None
    row = 0
    _check_regular(path)
    with open(path, "rb") as f:
        h.update(f.read(offset))
        while True:
            buf = f.read(block)
            if not buf:
                break
            h.update(buf)
            if check_finite and bad is None:
                a = np.frombuffer(buf, dtype=dtype)
                finite = np.isfinite(a)
                if not finite.all():
                    flat = int(np.argmin(finite))
                    kind = "NaN" if np.isnan(a[flat]) else "Inf"
                    bad = (row + flat // shape[1], flat % shape[1], kind)
            row += len(buf) // row_bytes
    if sha256 is not None and h.hexdigest() != sha256:
        raise TraceError(path, f"{label}: checksum mismatch (sha256 {h.hexdigest()[:12]}..., "
                               f"manifest {sha256[:12]}...): the file is corrupt or was modified")
    if bad is not None:
        r, c, kind = bad
        raise TraceError(path, f"{label}: {kind} at row {r}, column {c} (first non-finite "
                               f"value); traces must be finite")


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file, read in blocks."""
    h = hashlib.sha256()
    _check_regular(path)
    with open(path, "rb") as f:
        for buf in iter(lambda: f.read(BLOCK_BYTES), b""):
            h.update(buf)
    return h.hexdigest()


def safe_name(text: str) -> str:
    """File-name-safe layer name (``stage1.block0/conv1`` -> ``stage1.block0_conv1``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "layer"
