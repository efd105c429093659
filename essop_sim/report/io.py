"""Atomic result files: JSON, CSV and (when pyarrow is installed) Parquet tables of report rows.

Every writer goes through :func:`atomic_write`: the content is written to a temporary file in the
destination directory, flushed and fsynced, then moved over the destination with
:func:`os.replace`. A reader therefore sees either the old file or the complete new one, never a
partial write, even if the process is killed mid-write (what makes sweeps resumable).

Value conventions, the same for every format:

* numpy scalars and arrays become plain Python numbers and lists;
* non-finite floats (NaN, +-inf) become JSON ``null`` (strict, RFC 8259 JSON) and an empty CSV cell;
* floats are written with ``repr``, the shortest text that reads back to the identical float, so a
  table read back with :func:`read_rows` is bit-identical to what was written;
* CSV cells that hold a list or mapping are written as JSON text.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..fsutil import fsync_dir

__all__ = [
    "atomic_write", "csv_columns", "have_parquet", "read_rows", "to_jsonable", "write_csv_atomic",
    "write_json_atomic", "write_table",
]


def to_jsonable(obj: Any) -> Any:
    """A copy of ``obj`` made of JSON types only (dict with str keys, list, str, int, float, None).

    numpy scalars/arrays, tuples, paths and dataclasses are converted; non-finite floats become
    ``None``. Raises ``TypeError`` naming the type of anything else.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    # numpy without importing it: scalars have .item(), arrays .tolist()
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):
        return to_jsonable(obj.tolist())
    raise TypeError(f"cannot write a value of type {type(obj).__name__} to JSON: {obj!r:.80}")


def _default_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0666 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], *,
                 binary: bool = False) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, fsync, then rename onto ``path``.

    Parent directories are created. On any exception the temporary file is removed and ``path`` is
    left as it was. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mode = "wb" if binary else "w"
        kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as fh:
            write(fh)
            fh.flush()
            os.fchmod(fh.fileno(), _default_mode())  # mkstemp makes 0600; results are shared
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 1) -> Path:
    """Write ``obj`` (made JSON-safe by :func:`to_jsonable`) atomically as UTF-8 JSON."""
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False, ensure_ascii=False)
    return atomic_write(path, lambda fh: fh.write(text + "\n"))


def csv_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Union of the rows' keys in first-seen order (a stable column order)."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(str(key), None)
    return list(seen)


def _csv_cell(value: Any) -> str:
    value = to_jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def write_csv_atomic(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]],
                     columns: Sequence[str] | None = None) -> Path:
    """Write rows as CSV (header line, then one line per row) atomically.

    ``columns`` defaults to :func:`csv_columns` (union of keys, first-seen order); a row without a
    column gets an empty cell. Keys not in an explicit ``columns`` list are an error.
    """
    columns = list(columns) if columns is not None else csv_columns(rows)
    known = set(columns)
    for i, row in enumerate(rows):
        extra = [k for k in row if k not in known]
        if extra:
            raise ValueError(f"row {i} has keys not in the column list: {extra}")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    text = buf.getvalue()
    return atomic_write(path, lambda fh: fh.write(text))


def have_parquet() -> bool:
    """True when pyarrow (needed for Parquet output) can be imported."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _write_parquet_atomic(path: Path, rows: Sequence[Mapping[str, Any]],
                          columns: Sequence[str]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def cell(v: Any) -> Any:
        v = to_jsonable(v)
        return json.dumps(v) if isinstance(v, (list, dict)) else v

    data = {c: [cell(r.get(c)) for r in rows] for c in columns}
    table = pa.table(data)
    return atomic_write(path, lambda fh: pq.write_table(table, fh), binary=True)


def write_table(rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike, stem: str,
                meta: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``OUT/<stem>.csv``, ``OUT/<stem>.json`` and, with pyarrow, ``OUT/<stem>.parquet``.

    The JSON file is ``{"meta": ..., "columns": [...], "rows": [...]}``; ``meta`` should carry the
    full configuration and what produced the rows; the software version is added as
    ``meta["version"]`` when absent. Returns ``{format: path}`` of the files written.
    """
    from .. import __version__

    out_dir = Path(out_dir)
    rows = [to_jsonable(dict(r)) for r in rows]
    columns = csv_columns(rows)
    meta = dict(meta or {})
    meta.setdefault("version", __version__)
    written = {
        "csv": write_csv_atomic(out_dir / f"{stem}.csv", rows, columns),
        "json": write_json_atomic(out_dir / f"{stem}.json",
                                  {"meta": meta, "columns": columns, "rows": rows}),
    }
    if have_parquet():
        written["parquet"] = _write_parquet_atomic(out_dir / f"{stem}.parquet", rows, columns)
    return written


_INT = re.compile(r"[-+]?\d+")


def _parse_cell(text: str) -> Any:
    if text == "":
        return None
    if _INT.fullmatch(text):
        return int(text)
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if text[0] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    try:
        return float(text)
    except ValueError:
        return text


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read rows back from a ``.csv``, ``.json`` or ``.parquet`` file written by this module.

    CSV cells are typed back: integers, floats, ``true``/``false``, JSON lists/mappings, empty ->
    ``None``, anything else a string. A JSON file may be a table (``{"rows": [...]}``) or a plain
    list of rows.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                return []
            return [dict(zip(header, (_parse_cell(c) for c in line), strict=True))
                    for line in reader]
    if suffix == ".json":
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("rows"), list):
            return data["rows"]
        if isinstance(data, list):
            return data
        raise ValueError(f"{path}: expected a JSON table with a 'rows' list or a list of rows")
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        return pq.read_table(path).to_pylist()
    raise ValueError(f"{path}: unknown table format {suffix!r} (expected .csv, .json, .parquet)")
