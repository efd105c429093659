#!/usr/bin/env python
"""Start-up times of the ``essop-sim`` command: help, warm and cold runs, a small parallel sweep.

Each measurement is a fresh process running ``python -m essop_sim.cli ...`` (what the
``essop-sim`` console script runs) from a source tree (default: this repository; ``--baseline
TREE`` times a second tree interleaved with it, e.g. another checkout, so both see the same
machine load). Wall seconds, min (and median) of ``--repeat`` runs:

* ``help``: ``essop-sim --help``;
* ``run warm``: ``essop-sim run -q`` (the shipped default config and trace) with the numba
  kernels already in the cache;
* ``run cold``: the same with an empty numba cache (``XDG_CACHE_HOME`` pointing at an empty
  directory: essop_sim._numba_cache puts the cache under it), ``--cold-repeat`` runs;
* ``sweep cold`` / ``sweep warm``: ``essop-sim sweep configs/sweeps/smoke.yaml -j 2 --fresh``
  (5 points) with an empty cache, then again with the cache it left.

Runs cache bytecode (``PYTHONPYCACHEPREFIX`` in a scratch directory, as an installed package
has its ``.pyc`` files) unless ``--no-bytecode``. Prints the command, the machine (CPU, cores,
load average before and after) and the targets of issue 11 (help <= 0.3 s, warm run <= 0.6 s,
cold run <= 8 s). Run from the repository root::

    python scripts/bench_startup.py                       # this tree
    python scripts/bench_startup.py --baseline ../main    # and another checkout, interleaved
    python scripts/bench_startup.py --only help run-warm --repeat 9
    python scripts/bench_startup.py --without-pyarrow     # as installed without pyarrow
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchinfo import cpu_model, load_average

ROOT = Path(__file__).resolve().parents[1]
#: Targets (seconds, wall) from issue 11.
TARGETS = {"help": 0.3, "run-warm": 0.6, "run-cold": 8.0}
MEASURES = ("help", "run-warm", "run-cold", "sweep-cold", "sweep-warm")
#: Run the command with pyarrow hidden (--without-pyarrow): no Parquet copy of the report.
WITHOUT_PYARROW = False
HIDE_PYARROW = ("import runpy, sys; sys.modules['pyarrow'] = None; "
                "runpy.run_module('essop_sim.cli', run_name='__main__', alter_sys=True)")
#: Let the runs cache bytecode (under the scratch directory); --no-bytecode keeps the
#: environment's PYTHONDONTWRITEBYTECODE, and so compiles every module from source each run.
BYTECODE = True


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the process and its children) of one run
    of ``cmd``; raises if it fails. CPU time varies less than wall time on a loaded machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(cmd)}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


class Tree:
    """One source tree under test, with its own numba cache directories."""

    def __init__(self, name: str, path: Path, scratch: Path):
        self.name, self.path = name, path.resolve()
        self.scratch = scratch / name
        self.scratch.mkdir(parents=True)
        self.warm_cache = self.scratch / "cache-warm"

    def env(self, cache_home: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("NUMBA_CACHE_DIR", None)
        env["PYTHONPATH"] = str(self.path)
        env["XDG_CACHE_HOME"] = str(cache_home)
        if BYTECODE:  # as an installed package runs: .pyc files, kept outside the tree
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(self.scratch / "pycache")
        return env

    def cli(self, *args: str) -> list[str]:
        if WITHOUT_PYARROW:  # as an install without the parquet extra runs
            return [sys.executable, "-c", HIDE_PYARROW, *args]
        return [sys.executable, "-m", "essop_sim.cli", *args]

    def fresh_cache(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="cache-cold-", dir=self.scratch))

    def measure(self, what: str) -> tuple[float, float]:
        out = self.scratch / "out"
        if what == "help":
            return timed(self.cli("--help"), self.env(self.warm_cache), self.path)
        if what in ("run-warm", "run-cold"):
            cache = self.warm_cache if what == "run-warm" else self.fresh_cache()
            try:
                return timed(self.cli("run", "-q", "-o", str(out / "run")), self.env(cache),
                             self.path)
            finally:
                if what == "run-cold":
                    shutil.rmtree(cache, ignore_errors=True)
        spec = str(self.path / "configs" / "sweeps" / "smoke.yaml")
        cmd = self.cli("sweep", spec, "-o", str(out / "sweep"), "-j", "2", "--fresh",
                       "--no-progress")
        if what == "sweep-cold":
            self.sweep_cache = self.fresh_cache()
            return timed(cmd, self.env(self.sweep_cache), self.path)
        return timed(cmd, self.env(self.sweep_cache), self.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree to time")
    parser.add_argument("--baseline", type=Path, help="a second tree, timed interleaved")
    parser.add_argument("--repeat", type=int, default=5, help="runs of help and warm run")
    parser.add_argument("--cold-repeat", type=int, default=1, help="cold runs (each compiles)")
    parser.add_argument("--sweep-repeat", type=int, default=1, help="cold + warm sweep pairs")
    parser.add_argument("--only", nargs="+", choices=MEASURES, default=list(MEASURES))
    parser.add_argument("--no-bytecode", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE if set (every run then compiles the "
                             "package's modules from source)")
    parser.add_argument("--without-pyarrow", action="store_true",
                        help="hide pyarrow from the command (as without the parquet extra: no "
                             "report.parquet, no pyarrow import)")
    args = parser.parse_args(argv)
    global BYTECODE, WITHOUT_PYARROW
    BYTECODE = not args.no_bytecode
    WITHOUT_PYARROW = args.without_pyarrow

    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs "
          f"({len(os.sched_getaffinity(0))} usable), Python {platform.python_version()}, "
          f"load average {load_average()}")
    if WITHOUT_PYARROW:
        print("pyarrow: hidden from the command (no report.parquet)")
    dont = os.environ.get("PYTHONDONTWRITEBYTECODE", "")
    print("bytecode: " + ("cached (PYTHONPYCACHEPREFIX in a scratch directory)" if BYTECODE
                          else f"as the environment says (PYTHONDONTWRITEBYTECODE={dont!r})"))
    scratch = Path(tempfile.mkdtemp(prefix="essop-bench-startup-"))
    try:
        trees = [Tree("tree", args.tree, scratch)]
        if args.baseline:
            trees.append(Tree("baseline", args.baseline, scratch))
        for t in trees:  # fill the warm caches (not timed)
            timed(t.cli("run", "-q", "-o", str(t.scratch / "out" / "run")),
                  t.env(t.warm_cache), t.path)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        plan = [("help", args.repeat), ("run-warm", args.repeat),
                ("run-cold", args.cold_repeat)]
        for what, n in plan:
            if what not in args.only:
                continue
            for _ in range(n):
                for t in trees:  # interleaved: both trees see the same load
                    results.setdefault((t.name, what), []).append(t.measure(what))
        if {"sweep-cold", "sweep-warm"} & set(args.only):
            for _ in range(args.sweep_repeat):
                for t in trees:
                    cold = t.measure("sweep-cold")
                    warm = t.measure("sweep-warm")
                    shutil.rmtree(t.sweep_cache, ignore_errors=True)
                    for what, value in (("sweep-cold", cold), ("sweep-warm", warm)):
                        if what in args.only:
                            results.setdefault((t.name, what), []).append(value)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"load average after: {load_average()}")
    header = (f"{'measure':<11} {'tree':<9} {'wall min':>8} {'median':>7} {'cpu min':>8} "
              f"{'runs':>5}  target (wall)")
    print(header)
    print("-" * len(header))
    for what in MEASURES:
        for t in trees:
            values = results.get((t.name, what))
            if not values:
                continue
            wall = [w for w, _ in values]
            cpu = [c for _, c in values]
            target = TARGETS.get(what)
            verdict = "" if target is None else (
                f"<= {target:g} s: {'met' if min(wall) <= target else 'NOT met'}")
            print(f"{what:<11} {t.name:<9} {min(wall):8.3f} {statistics.median(wall):7.3f} "
                  f"{min(cpu):8.3f} {len(values):5d}  {verdict}")
    print("seconds; cpu = user + system time of the command and its children (workers)")
    print(f"trees: tree = {trees[0].path}" + (f", baseline = {trees[1].path}"
                                               if len(trees) > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
