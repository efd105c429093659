"""Sweeps: a grid of hardware configurations x traces, run in parallel, resumable, one table.

A sweep spec is a YAML file (every path in it is relative to the spec file)::

    base: ../essop_14nm.yaml        # config file, or an inline mapping; default: built-in defaults
    traces: [../../traces/t]        # trace directories; default: the shipped default trace
    seed: 0                         # optional: sets the config's `seed` for every point
    grid:                           # dotted config key -> list of values (cartesian product)
      essop.bitstream_length: [8, 16, 32]
      essop.array.rows: [8, 16]
      essop.array.cols: [8, 16]
    zip:                            # optional: groups of grid keys whose lists advance together
      - [essop.array.rows, essop.array.cols]
    extra:                          # optional: further single points, overrides on `base`
      - {datapath: fp16}
    layers: null                    # optional record selection passed to simulate()
    steps: null
    numerics: true                  # false: timing and cost only (error columns empty)

:func:`expand_sweep` validates all of it before any work (unknown keys, empty axes, zip groups
of unequal length, every point's configuration, every trace's manifest) and numbers the points:
grid combinations in order (last grid axis fastest), then ``extra`` points, each combination
crossed with every trace (trace fastest). A point's id hashes its full configuration, its trace
path and the trace's manifest, so it survives reordering the spec.

:func:`run_sweep` runs the points not yet on disk, serially, in a local process pool (``jobs``)
or on Dask distributed (``dask='local'`` or a scheduler address), writes each finished point
atomically to ``OUT/points/<id>.json`` and finally the table ``OUT/sweep.csv`` / ``sweep.json``
(+ ``sweep.parquet`` with pyarrow): one row per point x trace record, columns ``point_index``,
``point_id``, ``trace``, the swept keys, then the report columns. The table is built from the
point files in point order, so it is byte-identical whatever the completion order, job count or
backend, and whether the sweep ran in one go or was interrupted and resumed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import itertools
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .config import HardwareConfig, config_from_mapping, config_to_dict
from .config.loader import read_yaml
from .errors import ConfigError, EssopSimError, LimitError
from .fsutil import file_kind, is_regular_file, output_lock
from .report.io import read_json, to_jsonable, write_json_atomic, write_table

__all__ = [
    "POINT_FORMAT", "ProgressBar", "Sweep", "SweepError", "SweepPoint", "SweepResult",
    "code_fingerprint", "expand_sweep", "load_sweep", "run_point", "run_sweep",
]

#: Keys a sweep spec may hold.
SPEC_KEYS = ("name", "description", "base", "traces", "seed", "grid", "zip", "extra", "layers",
             "steps", "numerics")
#: Marker written into every point file.
POINT_FORMAT = "essop-sim sweep point v2"
#: Most points a sweep may have without ``force`` (``--force``): expanding and validating a point
#: takes about a millisecond and running one at least a second, so beyond this a typo in a grid
#: (or a hostile spec) would run for days.
MAX_POINTS = 100_000
#: The simulate function run for each point ("module:function").
DEFAULT_SIMULATE = "essop_sim.simulate:simulate"


class SweepError(EssopSimError):
    """A sweep could not run: a point's simulation failed, or a backend is unavailable."""


@dataclass(frozen=True)
class SweepPoint:
    """One configuration on one trace.

    Attributes:
        index: position in the sweep (table order).
        point_id: 16 hex digits, hash of config + trace path + trace manifest + selection.
        assignments: the (dotted key, value) overrides this point applies to the base config.
        swept: (key, effective config value) for every swept key of the sweep (table columns).
        config: the validated configuration.
        trace: the trace path as written in the spec; trace_path: resolved path.
        trace_digest: sha256 (16 hex digits) of the trace's canonical manifest.
        layers, steps, numerics: passed to :func:`essop_sim.simulate.simulate`.
    """

    index: int
    point_id: str
    assignments: tuple[tuple[str, Any], ...]
    swept: tuple[tuple[str, Any], ...]
    config: HardwareConfig
    trace: str
    trace_path: str
    trace_digest: str
    layers: tuple[str, ...] | None = None
    steps: tuple[int, ...] | None = None
    numerics: bool = True

    def label(self) -> str:
        """``'essop.bitstream_length=8, datapath=essop; trace=traces/x'``, for messages."""
        assigned = ", ".join(f"{k}={v!r}" for k, v in self.assignments) or "base config"
        return f"{assigned}; trace={self.trace}"


@dataclass(frozen=True)
class Sweep:
    """An expanded, validated sweep spec."""

    source: str
    spec: dict
    swept_keys: tuple[str, ...]
    points: tuple[SweepPoint, ...]


@dataclass
class SweepResult:
    """What :func:`run_sweep` did. ``str(result)`` and ``os.fspath(result)`` give the CSV path."""

    table: Path
    paths: dict[str, Path]
    rows: list[dict[str, Any]]
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0

    def __str__(self) -> str:
        return str(self.table)

    def __fspath__(self) -> str:
        return str(self.table)


# ----------------------------------------------------------------------------- expansion


def _trace_manifest(path: Path) -> dict:
    from .trace.format import read_manifest

    return read_manifest(path)


def trace_digest(manifest: Mapping[str, Any]) -> str:
    """Short sha256 of a manifest's canonical JSON (the manifest lists every file's sha256)."""
    text = json.dumps(to_jsonable(manifest), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _default_trace() -> str:
    from .trace import default_trace_path

    return str(default_trace_path())


def _point_id(config_dict: dict, trace: str, digest: str, layers, steps, numerics) -> str:
    ident = {"config": config_dict, "trace": trace, "trace_digest": digest, "layers": layers,
             "steps": steps, "numerics": numerics}
    text = json.dumps(to_jsonable(ident), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _dotted_get(tree: Mapping[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        node = node[part]
    return node


def _list_of(source: str, key: str, value: Any, item: type, what: str) -> list:
    if not isinstance(value, list) or not value:
        raise ConfigError(source, key, value, f"a non-empty list of {what}")
    for v in value:
        if not isinstance(v, item) or isinstance(v, bool) and item is not bool:
            raise ConfigError(source, key, value, f"a non-empty list of {what}")
    return value


def _axes(source: str, grid: dict, zips: list) -> list[tuple[tuple[str, ...], list[tuple]]]:
    """Grid + zip groups -> product axes, each (keys, list of value tuples), in grid order."""
    group_of: dict[str, int] = {}
    for g, group in enumerate(zips):
        where = f"zip[{g}]"
        _list_of(source, where, group, str, "grid keys")
        for key in group:
            if key not in grid:
                raise ConfigError(source, where, key, f"keys of `grid` (got '{key}', which is "
                                  f"not a grid key: {sorted(grid)})")
            if key in group_of:
                raise ConfigError(source, where, key, f"each grid key in at most one zip group "
                                  f"('{key}' is also in zip[{group_of[key]}])")
            group_of[key] = g
        lengths = {key: len(grid[key]) for key in group}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise ConfigError(source, where, group, f"value lists of equal length to zip "
                              f"together (lengths {shown})")
    axes, emitted = [], set()
    for key in grid:
        g = group_of.get(key)
        if g is None:
            axes.append(((key,), [(v,) for v in grid[key]]))
        elif g not in emitted:
            emitted.add(g)
            keys = tuple(zips[g])
            axes.append((keys, list(zip(*(grid[k] for k in keys), strict=True))))
    return axes


def _check_keys(source: str, where: str, keys: Sequence[str]) -> None:
    for key in keys:
        if not isinstance(key, str) or not key or any(not p for p in key.split(".")):
            raise ConfigError(source, where, key, "dotted configuration keys such as "
                              "'essop.bitstream_length'")
    for a in keys:
        for b in keys:
            if a != b and b.startswith(a + "."):
                raise ConfigError(source, f"{where}.{b}", b, f"no key nested under another "
                                  f"swept key ('{a}' sets the whole section)")


def load_sweep(spec: str | os.PathLike | Mapping[str, Any], *,
               base_dir: str | os.PathLike | None = None,
               max_points: int | None = None) -> Sweep:
    """Read and validate a sweep spec (a YAML path or a mapping) and expand it into points.

    Paths in a mapping spec are relative to ``base_dir`` (default: the current directory).
    Raises :class:`~essop_sim.errors.ConfigError` naming the spec key, or the point index, its
    assignments and the offending config key; :class:`~essop_sim.errors.TraceError` for a
    missing or malformed trace.
    """
    if isinstance(spec, Mapping):
        raw, source = dict(spec), "<sweep spec>"
        root = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        source = str(spec)
        raw = read_yaml(spec)
        root = Path(spec).resolve().parent
        if not isinstance(raw, dict):
            raise ConfigError(source, "<top level>", raw, "a mapping with keys "
                              + ", ".join(SPEC_KEYS))
    for key in raw:
        if key not in SPEC_KEYS:
            raise ConfigError(source, str(key), raw[key], "a sweep spec key: one of "
                              + ", ".join(SPEC_KEYS))

    base = raw.get("base")
    if base is None:
        base_raw, base_source = {}, "built-in defaults"
    elif isinstance(base, str):
        base_path = root / base
        base_raw, base_source = read_yaml(base_path), str(base_path)
        if base_raw is None:
            base_raw = {}
        if not isinstance(base_raw, dict):
            raise ConfigError(str(base_path), "<top level>", base_raw, "a configuration mapping")
    elif isinstance(base, dict):
        base_raw, base_source = base, "inline mapping"
    else:
        raise ConfigError(source, "base", base, "a config file path (relative to the spec) or "
                          "an inline configuration mapping")
    base_raw = dict(base_raw)
    if "seed" in raw:
        seed = raw["seed"]
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ConfigError(source, "seed", seed, "an integer >= 0")
        base_raw["seed"] = seed

    grid = raw.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError(source, "grid", grid, "a mapping of dotted config key -> list of values")
    _check_keys(source, "grid", list(grid))
    for key, values in grid.items():
        if not isinstance(values, list):
            raise ConfigError(source, f"grid.{key}", values, "a list of values (write [v] for "
                              "a single value)")
        if not values:
            raise ConfigError(source, f"grid.{key}", values, "a non-empty list of values "
                              "(an empty axis gives no points)")
    zips = raw.get("zip") or []
    if not isinstance(zips, list):
        raise ConfigError(source, "zip", zips, "a list of groups (lists) of grid keys")
    axes = _axes(source, grid, zips)

    extra = raw.get("extra") or []
    if not isinstance(extra, list):
        raise ConfigError(source, "extra", extra, "a list of mappings (dotted key -> value)")
    for i, point in enumerate(extra):
        if not isinstance(point, dict):
            raise ConfigError(source, f"extra[{i}]", point, "a mapping of dotted key -> value")
        _check_keys(source, f"extra[{i}]", list(point))

    layers = raw.get("layers")
    if layers is not None:
        layers = tuple(_list_of(source, "layers", layers, str, "layer names"))
    steps = raw.get("steps")
    if steps is not None:
        steps = tuple(_list_of(source, "steps", steps, int, "integer steps"))
    numerics = raw.get("numerics", True)
    if not isinstance(numerics, bool):
        raise ConfigError(source, "numerics", numerics, "true or false")

    traces = raw.get("traces")
    if traces is None:
        traces = [_default_trace()]
    _list_of(source, "traces", traces, str, "trace directory paths")
    if len(set(traces)) != len(traces):
        raise ConfigError(source, "traces", traces, "distinct trace paths")
    trace_info = []
    for t in traces:
        path = (root / t).resolve()
        manifest = _trace_manifest(path)
        present_layers = {r["layer"] for r in manifest["records"]}
        present_steps = {r["step"] for r in manifest["records"]}
        if layers is not None and not set(layers) & present_layers:
            raise ConfigError(source, "layers", list(layers), f"layer names of trace {t} "
                              f"(it has {sorted(present_layers)})")
        if steps is not None and not set(steps) & present_steps:
            raise ConfigError(source, "steps", list(steps), f"steps of trace {t} "
                              f"(it has {sorted(present_steps)})")
        trace_info.append((t, str(path), trace_digest(manifest)))

    total = (math.prod(len(vals) for _, vals in axes) + len(extra)) * len(traces)
    if max_points is not None and total > max_points:
        raise LimitError(f"{source}: the sweep has {total:,} points (grid "
                         f"{' x '.join(str(len(v)) for _, v in axes) or '-'}, "
                         f"{len(extra)} extra, {len(traces)} trace(s)), more than the limit of "
                         f"{max_points:,}; at about 1 s per point that is "
                         f"{_clock(total)} of work: narrow the grid, or pass --force")
    combos: list[dict[str, Any]] = []
    for values in itertools.product(*(vals for _, vals in axes)):
        assignment: dict[str, Any] = {}
        for (keys, _), vals in zip(axes, values, strict=True):
            assignment.update(zip(keys, vals, strict=True))
        combos.append({k: assignment[k] for k in grid})  # grid order
    combos.extend(dict(p) for p in extra)
    swept_keys = list(grid)
    for p in extra:
        swept_keys.extend(k for k in p if k not in swept_keys)
    _check_keys(source, "swept keys", swept_keys)

    points: list[SweepPoint] = []
    seen: dict[str, int] = {}
    for c, assignment in enumerate(combos):
        first = c * len(trace_info)
        shown = ", ".join(f"{k}={v!r}" for k, v in assignment.items()) or "no overrides"
        where = f"{source}: point {first} [{shown}] (base: {base_source})"
        try:
            config = config_from_mapping(base_raw, where, assignment)
        except ConfigError as exc:
            err = ConfigError(where, exc.key, exc.value, exc.expected)
            err.point_index, err.assignments = first, assignment
            raise err from None
        config_dict = config_to_dict(config)
        swept = tuple((k, to_jsonable(_dotted_get(config_dict, k))) for k in swept_keys)
        for t, (trace, path, digest) in enumerate(trace_info):
            index = first + t
            pid = _point_id(config_dict, trace, digest, layers, steps, numerics)
            if pid in seen:
                raise ConfigError(source, "grid/extra", shown, f"distinct points: point {index} "
                                  f"repeats point {seen[pid]} (same configuration and trace)")
            seen[pid] = index
            points.append(SweepPoint(index, pid, tuple(assignment.items()), swept, config,
                                     trace, path, digest, layers, steps, numerics))
    return Sweep(source, to_jsonable(raw), tuple(swept_keys), tuple(points))


def expand_sweep(spec: str | os.PathLike | Mapping[str, Any], *,
                 base_dir: str | os.PathLike | None = None) -> list[SweepPoint]:
    """Validate a sweep spec and return its points in table order (see :func:`load_sweep`)."""
    return list(load_sweep(spec, base_dir=base_dir).points)


# ----------------------------------------------------------------------------- running

#: Package files that cannot change a sweep row (presentation, capture and training code);
#: editing them does not invalidate finished points.
PRESENTATION_FILES = frozenset({"cli.py", "sweep.py", "report/plots.py", "report/text.py",
                                "training.py", "models.py", "datasets.py", "trace/capture.py"})


def _digest_files(root: Path, skip: Callable[[str], bool]) -> str:
    """sha256 of the ``.py`` / ``.yaml`` files under ``root`` (relative names and contents),
    in sorted order, except those whose relative POSIX path ``skip`` accepts."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".py", ".yaml", ".yml") or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root).as_posix()
        if not skip(rel):
            digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _in_a_datapath_folder(rel: str) -> bool:
    """Is ``rel`` (relative to the package) inside one plug-in's folder, datapaths/<name>/?"""
    parts = rel.split("/")
    return len(parts) > 2 and parts[0] == "datapaths"


@functools.lru_cache(maxsize=1)
def _core_fingerprint() -> str:
    root = Path(__file__).resolve().parent
    return _digest_files(root, lambda rel: rel in PRESENTATION_FILES
                         or _in_a_datapath_folder(rel))


@functools.lru_cache(maxsize=64)
def _folder_fingerprint(folder: Path) -> str:
    return _digest_files(folder, lambda rel: False)


def code_fingerprint(config: HardwareConfig | None = None) -> str:
    """sha256 (16 hex digits) of the simulator code a point depends on.

    The shared core: every ``.py`` and ``.yaml`` file of the installed ``essop_sim`` package
    (cost tables included) except :data:`PRESENTATION_FILES` and the plug-in folders
    ``datapaths/<name>/``; plus, given ``config``, the folder of its datapath and of each of its
    stages (``Plugin.source_dir``, also for third-party plug-ins). Editing one datapath thus
    keeps every other datapath's finished points. A point file records it, and a resumed sweep
    recomputes points that an older or edited simulator produced, even under the same version.
    """
    core = _core_fingerprint()
    if config is None:
        return core[:16]
    from .datapaths.registry import datapath_of, stages_of

    folders = [p.source_dir for p in (datapath_of(config), *stages_of(config))]
    text = core + "".join(_folder_fingerprint(f) for f in folders)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plugin_refs(config: HardwareConfig) -> list[str]:
    """'module:Class' of the datapath and stages ``config`` uses, so that a worker process
    registers plug-ins the parent registered at run time (entry points register themselves)."""
    from .datapaths.registry import datapath_of, stages_of

    return [f"{type(p).__module__}:{type(p).__qualname__}"
            for p in (datapath_of(config), *stages_of(config))]


def _register_plugins(refs: Sequence[str]) -> None:
    from .datapaths.registry import register

    for ref in refs:
        module, _, name = ref.partition(":")
        register(getattr(importlib.import_module(module), name))


def _task(point: SweepPoint, simulate: str) -> dict[str, Any]:
    return {"index": point.index, "point_id": point.point_id, "config": point.config,
            "trace_path": point.trace_path, "layers": point.layers, "steps": point.steps,
            "numerics": point.numerics, "simulate": simulate,
            "plugins": _plugin_refs(point.config)}


def run_point(task: Mapping[str, Any]) -> dict[str, Any]:
    """Simulate one point (in whichever process runs it) and return JSON-safe results.

    Returns ``{"rows": [...], "meta": {...}, "elapsed_s": float}``; exceptions propagate.
    """
    _register_plugins(task.get("plugins", ()))
    module, _, name = task["simulate"].partition(":")
    simulate = getattr(importlib.import_module(module), name)
    started = time.perf_counter()
    report = simulate(task["config"], task["trace_path"], layers=task["layers"],
                      steps=task["steps"], numerics=task["numerics"])
    return {"rows": to_jsonable(report.rows), "meta": to_jsonable(report.meta),
            "elapsed_s": time.perf_counter() - started}


def _run_point_safe(task: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`run_point` for worker processes: failures come back as text, not as exceptions.

    (Exceptions with custom constructors do not always survive pickling between processes.)
    """
    try:
        return run_point(task)
    except Exception as exc:  # noqa: BLE001 - reported to the parent with its traceback
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def record_digest(record: Mapping[str, Any]) -> str:
    """sha256 of a point record's canonical JSON, its own ``digest`` field left out."""
    body = {k: v for k, v in record.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _record(point: SweepPoint, result: Mapping[str, Any]) -> dict[str, Any]:
    from . import __version__

    return {"format": POINT_FORMAT, "version": __version__,
            "code": code_fingerprint(point.config),
            "point_id": point.point_id,
            "index": point.index, "trace": point.trace, "trace_path": point.trace_path,
            "trace_digest": point.trace_digest, "assignments": dict(point.assignments),
            "layers": point.layers, "steps": point.steps, "numerics": point.numerics,
            "config": config_to_dict(point.config), "elapsed_s": result["elapsed_s"],
            "meta": result["meta"], "rows": result["rows"]}


def point_path(out_dir: str | os.PathLike, point: SweepPoint) -> Path:
    """Where a point's results live: ``OUT/points/<point_id>.json``."""
    return Path(out_dir) / "points" / f"{point.point_id}.json"


def _check_point_file(path: Path) -> None:
    """A point file that exists must be a regular file (a FIFO would block a reader, a directory
    cannot be replaced): refuse anything else with a one-line error."""
    if (path.exists() or path.is_symlink()) and not is_regular_file(path):
        raise SweepError(f"{path}: is a {file_kind(path)}, not a point file; remove it "
                         "(or rerun with --fresh into another directory)")


def _load_valid(path: Path, point: SweepPoint) -> dict | None:
    """The point file's record if it is complete, untouched since written (its ``digest``),
    belongs to this point and was produced by this simulator (same version and
    :func:`code_fingerprint`), else None."""
    from . import __version__

    _check_point_file(path)
    if not path.exists():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    try:
        intact = isinstance(record, dict) and record.get("digest") == record_digest(record)
    except (TypeError, ValueError):
        intact = False
    if not intact:
        return None
    if not (isinstance(record, dict) and record.get("format") == POINT_FORMAT
            and record.get("version") == __version__
            and record.get("code") == code_fingerprint(point.config)
            and record.get("point_id") == point.point_id
            and record.get("trace_digest") == point.trace_digest
            and record.get("config") == to_jsonable(config_to_dict(point.config))
            and isinstance(record.get("rows"), list)):
        return None
    return record


class ProgressBar:
    """Plain-text progress on a stream (stderr): points done/total, rate and time left.

    On a terminal the line is redrawn in place; otherwise a line is printed at most every
    ``interval`` seconds (and at the end). ``enabled=False`` prints nothing.
    """

    def __init__(self, total: int, done: int = 0, *, enabled: bool = True,
                 stream: IO[str] | None = None, width: int = 24, interval: float = 2.0):
        self.total, self.done, self.reused = total, done, done
        self.enabled, self.width, self.interval = enabled, width, interval
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._last = -1e9
        self._drawn = False
        self._draw(force=True)

    def text(self) -> str:
        """The current progress line (no line ending)."""
        elapsed = time.perf_counter() - self.started
        new = self.done - self.reused
        filled = int(self.width * self.done / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        parts = [f"sweep [{bar}] {self.done}/{self.total} points"]
        if self.reused:
            parts.append(f"{self.reused} reused")
        if new and elapsed > 0:
            rate = new / elapsed
            left = (self.total - self.done) / rate
            parts.append(f"{rate:.2f} points/s" if rate >= 0.1 else f"{60 * rate:.2f} points/min")
            parts.append(f"{_clock(left)} left")
        parts.append(f"{_clock(elapsed)} elapsed")
        return " | ".join(parts)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            self.stream.write("\r" + self.text() + "\x1b[K")
        elif force or now - self._last >= self.interval:
            self.stream.write(self.text() + "\n")
        else:
            return
        self._last, self._drawn = now, True
        self.stream.flush()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more finished points and redraw."""
        self.done += n
        self._draw(force=self.done >= self.total)

    def close(self) -> None:
        """Finish the line (terminal) so later output starts on a fresh line."""
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _failure(point: SweepPoint, message: str, worker_tb: str | None = None) -> SweepError:
    err = SweepError(f"sweep point {point.index} ({point.label()}) failed: {message}"
                     " (finished points are kept; rerun to resume)")
    err.point_index, err.worker_traceback = point.index, worker_tb
    return err


def _run_serial(pending, simulate, finished) -> None:
    for point in pending:
        try:
            result = run_point(_task(point, simulate))
        except Exception as exc:
            raise _failure(point, f"{type(exc).__name__}: {exc}") from exc
        finished(point, result)


def limit_numba_threads(threads: int) -> None:
    """Cap this process's numba threads (a worker of ``jobs`` on a shared machine gets
    cpu_count // jobs, so parallel sweeps do not oversubscribe the cores)."""
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def die_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Make this (worker) process exit when ``parent_pid`` dies, however it dies (SIGKILL too).

    On Linux the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``);
    everywhere, a daemon thread also polls ``os.getppid()`` every ``interval`` seconds and
    exits when the process has been re-parented.
    """
    import signal
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="essop-sim-parent-watch", daemon=True).start()


def _worker_init(threads: int, parent_pid: int) -> None:
    from ._numba_cache import load_numba_without_scipy

    die_with_parent(parent_pid)
    load_numba_without_scipy()
    limit_numba_threads(threads)


def _dask_worker_setup(threads: int) -> None:
    from ._numba_cache import load_numba_without_scipy

    load_numba_without_scipy()
    limit_numba_threads(threads)


class _Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind like Ctrl-C (workers stopped, finished points kept)."""


def _threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def _started() -> None:
    """A no-op task: the pool starts a worker process per task it cannot hand to an idle one."""


def _run_pool(pending, simulate, finished, jobs: int, warm: bool = False) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from .warmup import warm_kernels_safe

    ctx = multiprocessing.get_context("spawn")  # fork-safety (numba, threads) and portability
    workers = min(jobs, len(pending))
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                   initializer=_worker_init,
                                   initargs=(_threads_per_worker(workers), os.getpid()))
    futures = {}
    previous = _on_sigterm()
    try:
        if warm:  # one worker compiles what the points need while the others start
            first = executor.submit(warm_kernels_safe, pending)
            for _ in range(workers - 1):
                executor.submit(_started)
            first.result()
        futures = {executor.submit(_run_point_safe, _task(p, simulate)): p for p in pending}
        for future in as_completed(futures):
            point, result = futures[future], future.result()
            if "error" in result:
                raise _failure(point, result["error"], result["traceback"])
            finished(point, result)
    except BaseException:
        for future in futures:
            future.cancel()
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # our own workers: do not wait for points in flight
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        raise
    finally:
        _restore_sigterm(previous)
    executor.shutdown(wait=True)


def _on_sigterm():
    """In the main thread, turn SIGTERM into an exception for the duration of a pool run, so
    the workers are stopped and the lock released (returns what to restore)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise _Terminated()

    return signal.signal(signal.SIGTERM, handler)


def _restore_sigterm(previous) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _dask_client(dask: str, jobs: int, timeout: float):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise SweepError("the Dask backend needs dask.distributed, which is not installed: "
                         "pip install 'essop-sim[dask]' (or run with --jobs N, a local process "
                         "pool)") from exc
    if dask == "local":
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        client.run(_dask_worker_setup, _threads_per_worker(jobs))  # our cores: share them
        return client, cluster, as_completed
    try:
        client = Client(dask, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise SweepError(f"--dask {dask}: no Dask scheduler answered within {timeout:g} s "
                         f"({type(exc).__name__}); check the address, or raise "
                         "--dask-timeout") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        client.close()
        raise SweepError(f"--dask {dask}: the scheduler answers but no worker is connected "
                         f"(waited {timeout:g} s); start workers (dask worker {dask}) or "
                         "raise --dask-timeout") from None
    return client, None, as_completed


def _run_dask(pending, simulate, finished, jobs: int, dask: str, timeout: float = 10.0,
              warm: bool = False) -> None:
    client, cluster, as_completed = _dask_client(dask, jobs, timeout)
    futures = {}
    try:
        if warm:  # one worker compiles what the points need before the points run
            from .warmup import warm_kernels_safe

            client.submit(warm_kernels_safe, pending, pure=False,
                          key=f"essop-sim-warm-{os.getpid()}").result()
        for point in pending:
            future = client.submit(_run_point_safe, _task(point, simulate), pure=False,
                                   key=f"essop-sim-point-{point.point_id}-{os.getpid()}")
            futures[future.key] = (future, point)
        idle_since, checked = None, time.monotonic()
        remaining = as_completed([f for f, _ in futures.values()], with_results=False)
        while True:
            done = remaining.next_batch(block=False) if not remaining.is_empty() else None
            if done is None:
                break
            if not done:  # nothing finished: are there still workers to finish anything?
                time.sleep(0.05)
                if cluster is not None or time.monotonic() - checked < 1.0:
                    continue
                checked = time.monotonic()
                if not client.scheduler_info().get("workers"):
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > timeout:
                        raise SweepError(f"--dask {dask}: every worker left the scheduler "
                                         f"(none for {timeout:g} s); finished points are "
                                         "kept: rerun to resume")
                else:
                    idle_since = None
                continue
            for future in done:
                point, result = futures[future.key][1], future.result()
                if "error" in result:
                    raise _failure(point, result["error"], result["traceback"])
                finished(point, result)
    except BaseException:
        client.cancel([f for f, _ in futures.values()])
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def sweep_meta(sweep: Sweep) -> dict[str, Any]:
    """The table's metadata: spec, software version and code fingerprint, swept keys, traces
    and every point's full configuration."""
    from . import __version__

    traces = {}
    for p in sweep.points:
        traces.setdefault(p.trace, {"trace": p.trace, "path": p.trace_path,
                                    "manifest_digest": p.trace_digest})
    return {
        "kind": "essop-sim sweep",
        "version": __version__,
        "code": code_fingerprint(),
        "spec_source": sweep.source,
        "spec": sweep.spec,
        "swept_keys": list(sweep.swept_keys),
        "traces": list(traces.values()),
        "points": [{"index": p.index, "point_id": p.point_id, "trace": p.trace,
                    "assignments": dict(p.assignments), "config": config_to_dict(p.config)}
                   for p in sweep.points],
    }


def table_rows(sweep: Sweep, records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per point x report row, in point order: ids, swept keys, then report columns."""
    rows = []
    for p in sweep.points:
        for report_row in records[p.point_id]["rows"]:
            row: dict[str, Any] = {"point_index": p.index, "point_id": p.point_id,
                                   "trace": p.trace}
            row.update(p.swept)
            row.update(report_row)
            rows.append(row)
    return rows


def run_sweep(spec: str | os.PathLike | Mapping[str, Any], out_dir: str | os.PathLike,
              jobs: int = 1, dask: str | None = None, progress: bool = True, *,
              resume: bool = True, stream: IO[str] | None = None,
              simulate: str = DEFAULT_SIMULATE, force: bool = False,
              dask_timeout: float = 10.0) -> SweepResult:
    """Run every point of a sweep and write ``OUT/sweep.csv``, ``sweep.json`` (+ parquet).

    Args:
        spec: sweep spec YAML path (or mapping, paths relative to the current directory).
        out_dir: output directory; finished points go to ``OUT/points/<id>.json``.
        jobs: worker processes (local pool) or Dask workers for ``dask='local'``; 1 = serial.
        dask: None (local), ``'local'`` (a Dask LocalCluster of ``jobs`` processes) or the
            address of a running Dask scheduler (workers must see the same trace paths).
        progress: draw a progress bar on ``stream`` (default stderr).
        resume: reuse valid point files already in ``OUT/points`` (False recomputes all).
        simulate: ``'module:function'`` called per point as ``f(config, trace_path, layers=,
            steps=, numerics=)`` returning a Report; the default is the real simulator.
        force: run a sweep of more than :data:`MAX_POINTS` points.
        dask_timeout: seconds to wait for a Dask scheduler to answer, and for a first worker.

    The output directory is locked for the whole sweep (a second writer is refused), and a
    directory holding another spec's point files is refused unless ``resume=False``
    (``--fresh``), which discards them.

    Everything is validated before the first point runs. A failing point raises
    :class:`SweepError` naming it; on that or on Ctrl-C the points already finished stay on
    disk and a rerun computes only the rest.
    """
    started = time.perf_counter()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError("run_sweep", "jobs", jobs, "an integer >= 1")
    sweep = load_sweep(spec, max_points=None if force else MAX_POINTS)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SweepError(f"{out}: is a {file_kind(out)}, not a directory; choose another "
                         "output directory")
    if not force:
        from .limits import check_work
        from .trace.format import read_manifest

        for path in dict.fromkeys(p.trace_path for p in sweep.points):
            check_work(read_manifest(Path(path))["records"], sweep.points[0].numerics, path)
    with output_lock(out):
        return _run_locked(sweep, out, jobs, dask, progress, resume, stream, simulate,
                           started, dask_timeout)


def _foreign_points(sweep: Sweep, points_dir: Path) -> list[Path]:
    """Point files in ``points_dir`` that are not points of ``sweep`` (another spec's)."""
    ours = {f"{p.point_id}.json" for p in sweep.points}
    try:
        return sorted(f for f in points_dir.glob("*.json") if f.name not in ours)
    except OSError:
        return []


def _run_locked(sweep: Sweep, out: Path, jobs: int, dask: str | None, progress: bool,
                resume: bool, stream: IO[str] | None, simulate: str, started: float,
                dask_timeout: float) -> SweepResult:
    from .report.io import recover_results

    # kernels compiled once, by one worker, before the points run (essop_sim.warmup)
    warm = simulate == DEFAULT_SIMULATE
    points_dir = out / "points"
    if points_dir.exists() and not points_dir.is_dir():
        raise SweepError(f"{points_dir}: is a {file_kind(points_dir)}, not a directory")
    points_dir.mkdir(parents=True, exist_ok=True)
    recover_results(out, clean=True)  # an interrupted table commit; stale temporary files
    recover_results(points_dir, clean=True)
    foreign = _foreign_points(sweep, points_dir)
    if foreign and resume:
        raise SweepError(f"{out}: holds {len(foreign)} point file(s) of another sweep spec "
                         f"(e.g. {foreign[0].name}), not points of {sweep.source}; rerun with "
                         "--fresh to discard them, or choose another output directory")
    for f in foreign:
        f.unlink(missing_ok=True)

    records: dict[str, dict] = {}
    if resume:
        for p in sweep.points:
            record = _load_valid(point_path(out, p), p)
            if record is not None:
                records[p.point_id] = record
    reused = [p.point_id for p in sweep.points if p.point_id in records]
    pending = [p for p in sweep.points if p.point_id not in records]
    computed: list[str] = []
    bar = ProgressBar(len(sweep.points), len(reused), enabled=progress, stream=stream)

    def finished(point: SweepPoint, result: Mapping[str, Any]) -> None:
        record = to_jsonable(_record(point, result))
        record["digest"] = record_digest(record)
        _check_point_file(point_path(out, point))
        write_json_atomic(point_path(out, point), record)
        records[point.point_id] = record
        computed.append(point.point_id)
        bar.advance()

    try:
        if not pending:
            pass
        elif dask is not None:
            _run_dask(pending, simulate, finished, jobs, dask, dask_timeout,
                      warm=warm and dask == "local")
        elif jobs > 1 and len(pending) > 1:
            _run_pool(pending, simulate, finished, jobs, warm=warm)
        else:
            _run_serial(pending, simulate, finished)
    finally:
        bar.close()

    # Always build the table from the files on disk: identical bytes however points ran.
    on_disk = {}
    for p in sweep.points:
        record = _load_valid(point_path(out, p), p)
        if record is None:
            raise SweepError(f"{point_path(out, p)}: changed or removed while the sweep ran "
                             "(its digest does not match); rerun to recompute it")
        on_disk[p.point_id] = record
    rows = table_rows(sweep, on_disk)
    paths = write_table(rows, out, "sweep", sweep_meta(sweep))
    return SweepResult(table=paths["csv"], paths=paths, rows=rows, computed=computed,
                       reused=reused, wall_time_s=time.perf_counter() - started)
