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
import secrets
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import EssopSimError as EssopSimErrorBase
from ..errors import OutputError, TableError
from ..fsutil import file_kind, fsync_dir, is_regular_file

__all__ = [
    "atomic_write", "commit_files", "csv_columns", "have_parquet", "read_rows", "recover_results",
    "to_jsonable", "write_csv_atomic", "write_json_atomic", "write_table",
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
    text = _csv_text(rows, columns)
    return atomic_write(path, lambda fh: fh.write(text))


def _csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return buf.getvalue()


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
    return atomic_write(path, _parquet_writer(rows, columns), binary=True)


def _parquet_writer(rows: Sequence[Mapping[str, Any]],
                    columns: Sequence[str]) -> Callable[[IO], None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def cell(v: Any) -> Any:
        v = to_jsonable(v)
        return json.dumps(v) if isinstance(v, (list, dict)) else v

    data = {c: [cell(r.get(c)) for r in rows] for c in columns}
    table = pa.table(data)
    return lambda fh: pq.write_table(table, fh)


#: Formats of a result set, in writing order.
TABLE_FORMATS = ("csv", "json", "parquet")
#: Seconds a writer of a result set waits for another writer of the same directory.
LOCK_WAIT_S = 10.0


def _write_synced(path: Path, write: Callable[[IO], None], binary: bool) -> None:
    """Write one staged file completely and fsync it (every byte of a set hits the disk here,
    before anything visible changes: a full disk fails in this function)."""
    mode = "wb" if binary else "w"
    kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
    with open(path, mode, **kwargs) as fh:
        write(fh)
        fh.flush()
        os.fchmod(fh.fileno(), _default_mode())
        os.fsync(fh.fileno())


def _commit_path(out_dir: Path, stem: str) -> Path:
    return out_dir / f".{stem}.commit"


def _apply_commit(journal: Path) -> None:
    """Roll a commit record forward: move each staged file onto its final name, remove the
    previous set's files the new set does not have, then drop the record. Idempotent."""
    out_dir = journal.parent
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
        renames, removes = plan["rename"], plan["remove"]
    except (OSError, ValueError, KeyError, TypeError):
        journal.unlink(missing_ok=True)  # unreadable: written by nothing we know; ignore it
        return
    for tmp, final in renames:
        if (out_dir / tmp).exists():
            os.replace(out_dir / tmp, out_dir / final)
    for name in removes:
        (out_dir / name).unlink(missing_ok=True)
    fsync_dir(out_dir)
    journal.unlink(missing_ok=True)
    fsync_dir(out_dir)


def recover_results(out_dir: str | os.PathLike, *, clean: bool = False) -> None:
    """Finish any result set whose commit was interrupted (a killed writer), so every set in
    ``out_dir`` is whole. With ``clean`` (the caller holds the directory's writer lock), also
    remove staged and temporary files that a killed writer left behind.

    Readers call this too: it does nothing unless a commit record is present, and then only
    when no writer holds the directory (it takes the lock without waiting, or gives up).
    """
    from ..fsutil import holds_lock, output_lock

    out_dir = Path(out_dir)
    try:
        journals = sorted(out_dir.glob(".*.commit"))
    except OSError:
        return
    if not journals and not clean:
        return
    if not holds_lock(out_dir):
        try:
            with output_lock(out_dir, wait=0.0):
                recover_results(out_dir, clean=clean)
        except (EssopSimErrorBase, OSError):
            pass  # a live writer will finish its own commit; a read-only directory stays
        return
    for journal in journals:
        _apply_commit(journal)
    if clean:
        for leftover in out_dir.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()


def commit_files(out_dir: str | os.PathLike,
                 files: Mapping[str, tuple[Callable[[IO], None], bool]],
                 remove: Sequence[str] = ()) -> dict[str, Path]:
    """Replace a set of files in ``out_dir`` as a whole.

    ``files`` maps a file name to ``(write, binary)``. Every file is first written in full to a
    hidden staged file and fsynced; any failure there (a full disk, an exception in ``write``)
    removes the staged files and leaves the previous set untouched. Then a small commit record
    naming the staged files (and the names in ``remove`` that the new set does not have) is
    written atomically, the staged files are renamed onto their names, ``remove`` is deleted and
    the record dropped. A writer killed among those renames leaves the record, which the next
    writer or reader (:func:`recover_results`) rolls forward. Holds the directory's writer lock
    (waiting up to :data:`LOCK_WAIT_S` for another writer).
    """
    from ..fsutil import output_lock

    out_dir = Path(out_dir)
    with output_lock(out_dir, wait=LOCK_WAIT_S):
        recover_results(out_dir, clean=True)
        token = secrets.token_hex(4)
        staged: list[tuple[Path, Path]] = []
        journal = _commit_path(out_dir, Path(next(iter(files))).stem)
        try:
            for name, (write, binary) in files.items():
                final = out_dir / name
                if final.exists() and not final.is_file():
                    raise OutputError(final, f"is a {file_kind(final)}, not a result file; "
                                             "refusing to replace it")
                tmp = out_dir / f".{name}.{token}.tmp"
                staged.append((tmp, final))
                _write_synced(tmp, write, binary)
            gone = [n for n in remove if n not in files and (out_dir / n).is_file()]
            plan = {"rename": [[t.name, f.name] for t, f in staged], "remove": gone}
            atomic_write(journal, lambda fh: fh.write(json.dumps(plan) + "\n"))
        except BaseException:
            for tmp, _ in staged:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            raise
        _apply_commit(journal)
    return {name: out_dir / name for name in files}


def write_table(rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike, stem: str,
                meta: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``OUT/<stem>.csv``, ``OUT/<stem>.json`` and, with pyarrow, ``OUT/<stem>.parquet``,
    as one set: they replace the previous set together or not at all (:func:`commit_files`).

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
    csv_text = _csv_text(rows, columns)
    json_text = json.dumps(to_jsonable({"meta": meta, "columns": columns, "rows": rows}),
                           indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    files: dict[str, tuple[Callable[[IO], None], bool]] = {
        f"{stem}.csv": (lambda fh: fh.write(csv_text), False),
        f"{stem}.json": (lambda fh: fh.write(json_text), False),
    }
    if have_parquet():
        files[f"{stem}.parquet"] = (_parquet_writer(rows, columns), True)
    written = commit_files(out_dir, files,
                           remove=[f"{stem}.{ext}" for ext in TABLE_FORMATS])
    return {name.rsplit(".", 1)[1]: path for name, path in written.items()}


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


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise TableError(path, "no such file")
    if not is_regular_file(path):
        raise TableError(path, f"is a {file_kind(path)}, not a regular file")


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file. A missing or non-regular file (a FIFO would block), text that is not
    UTF-8, malformed, nested too deeply or holding an integer too long to convert is an
    :class:`~essop_sim.errors.OutputError` naming the file (one line)."""
    path = Path(path)
    _check_readable(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise TableError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: "
                                f"{exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise TableError(path, f"not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise TableError(path, "JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise TableError(path, f"unreadable JSON: {str(exc)[:100]}") from None


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read rows back from a ``.csv``, ``.json`` or ``.parquet`` file written by this module.

    CSV cells are typed back: integers, floats, ``true``/``false``, JSON lists/mappings, empty ->
    ``None``, anything else a string. A JSON file may be a table (``{"rows": [...]}``) or a plain
    list of rows.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    recover_results(path.parent)
    if suffix in (".csv", ".json", ".parquet"):
        _check_readable(path)
    if suffix == ".csv":
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                try:
                    header = next(reader)
                except StopIteration:
                    return []
                return [dict(zip(header, (_parse_cell(c) for c in line), strict=True))
                        for line in reader]
        except (UnicodeDecodeError, csv.Error, ValueError) as exc:
            raise TableError(path, f"not a table written by essop-sim: "
                                    f"{str(exc)[:100]}") from None
    if suffix == ".json":
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("rows"), list):
            return data["rows"]
        if isinstance(data, list):
            return data
        raise TableError(path, "expected a JSON table with a 'rows' list or a list of rows")
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        try:
            return pq.read_table(path).to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise TableError(path, f"unreadable Parquet: {str(exc)[:100]}") from None
    raise ValueError(f"{path}: unknown table format {suffix!r} (expected .csv, .json, .parquet)")
