"""Start-up: what the command line imports and compiles (in fresh processes, via sys.modules)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from essop_sim.config import yamlsafe
from essop_sim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

#: Modules of the plug-ins the default (ESSOP) run does not use.
OTHER_NUMERICS = ("essop_sim.datapaths.fp16.numerics", "essop_sim.datapaths.bitserial.numerics",
                  "essop_sim.datapaths.cbram.numerics", "essop_sim.datapaths.edge.numerics",
                  "essop_sim.datapaths.sbe.numerics", "essop_sim.datapaths.fp16.timing",
                  "essop_sim.datapaths.bitserial.timing", "essop_sim.datapaths.cbram.timing")


def _modules_after(code: str, env: dict | None = None) -> set[str]:
    """The modules imported by ``code`` run in a fresh interpreter (it prints nothing else
    on the last line than what we print)."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {}),
                                         "PYTHONPATH": str(ROOT)}, timeout=600)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _cli(args: list[str]) -> str:
    return textwrap.dedent(f"""
        import contextlib, io, sys
        from essop_sim.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main({args!r})
            except SystemExit as exc:
                code = exc.code
        assert code == 0, code
    """)


def test_help_imports_no_plotting_no_numba():
    loaded = _modules_after(_cli(["--help"]))
    assert "matplotlib" not in loaded
    assert "numba" not in loaded
    assert "simpy" not in loaded


def test_default_run_imports_only_what_it_uses(tmp_path):
    """The default run, twice in fresh processes (the first may compile): the second loads
    its kernels from the cache without numba's array maths (a cached kernel whose code calls
    into it, e.g. through an array's .sum(), makes the load import it, and SciPy with it)."""
    _modules_after(_cli(["run", "-q", "-o", str(tmp_path / "first")]))
    loaded = _modules_after(_cli(["run", "-q", "-o", str(tmp_path / "out")]))
    assert "numba.np.arraymath" not in loaded
    assert "essop_sim.datapaths.essop.numerics" in loaded  # it did run the numerics
    assert not any(m == "matplotlib" or m.startswith("matplotlib.") for m in loaded)
    assert "essop_sim.report.plots" not in loaded
    assert "scipy.linalg" not in loaded  # numba's array maths loaded without it
    assert "essop_sim.trace.capture" not in loaded
    assert not set(OTHER_NUMERICS) & loaded
    assert (tmp_path / "out" / "report.csv").is_file()


def test_plugin_discovery_and_config_import_no_numerics():
    loaded = _modules_after(textwrap.dedent("""
        from essop_sim.config import load_config
        from essop_sim.datapaths.registry import REGISTRY
        assert {"essop", "fp16", "bitserial", "cbram", "edge", "sbe"} <= set(REGISTRY.plugins())
        load_config(None, [])
    """))
    assert "numba" not in loaded
    assert not any(m.endswith((".numerics", ".timing")) and m.startswith("essop_sim.datapaths")
                   for m in loaded)


def test_trace_reader_does_not_import_capture():
    loaded = _modules_after(textwrap.dedent("""
        import essop_sim.trace as t
        t.load_trace(t.default_trace_path())
    """))
    assert "essop_sim.trace.capture" not in loaded and "essop_sim.trace.writer" not in loaded
    loaded = _modules_after("import essop_sim.trace as t\nassert callable(t.record)\n"
                            "from essop_sim.trace import TraceWriter, make_synthetic_trace")
    assert {"essop_sim.trace.capture", "essop_sim.trace.writer"} <= loaded


def test_numba_without_scipy_still_compiles_linear_algebra():
    pytest.importorskip("scipy")
    loaded = _modules_after(textwrap.dedent("""
        import sys
        from essop_sim._numba_cache import load_numba_without_scipy
        assert load_numba_without_scipy()
        assert "scipy.linalg" not in sys.modules and "numba.np.arraymath" not in sys.modules
        assert not load_numba_without_scipy()  # once
        import numba, numpy as np

        @numba.njit
        def conv(a, b):
            return np.convolve(a, b)

        a = np.arange(6.0)
        assert (conv(a, a) == np.convolve(a, a)).all()  # registries loaded, scipy.linalg hidden
        assert "numba.np.arraymath" in sys.modules and "scipy.linalg" not in sys.modules

        @numba.njit
        def dot(a, b):
            return np.dot(a, b)

        a = a.reshape(2, 3)
        assert (dot(a, a.T) == a @ a.T).all()  # BLAS through scipy, imported on demand
        import scipy.linalg
        assert scipy.linalg.norm(a) > 0
    """))
    assert "scipy.linalg" in loaded


#: A cached parallel kernel that allocates (numba's runtime) and calls another cached kernel.
_LEAN_KERNELS = """
import numba, numpy as np

@numba.njit(cache=True)
def square(v):
    return v * v

@numba.njit(cache=True, parallel=True)
def rows(a):
    out = np.empty(a.shape[0], dtype=np.int64)
    for i in numba.prange(a.shape[0]):
        s = 0
        for j in range(a.shape[1]):
            s += square(a[i, j])
        out[i] = s
    return out
"""


def test_lean_numba_loads_cached_kernels_without_the_compiler_registries(tmp_path):
    """A process set up by load_numba_without_scipy runs cached kernels (parallel, allocating,
    calling each other) without importing the compiler's registries, with the results of a
    process numba set up as usual; it still compiles a new kernel afterwards."""
    (tmp_path / "lean_kernels.py").write_text(_LEAN_KERNELS)
    run = textwrap.dedent("""
        import sys
        from essop_sim._numba_cache import load_numba_without_scipy
        lean = sys.argv[1] == "lean"
        if lean:
            assert load_numba_without_scipy()
        import numba, numpy as np
        import lean_kernels as k
        a = np.arange(3000, dtype=np.int64).reshape(100, 30) - 1234
        got = k.rows(a)
        assert (got == (a * a).sum(axis=1)).all()
        assert numba.threading_layer()  # the parallel kernel started its pool
        print(sys.argv[1], "numba.np.arraymath" in sys.modules,
              k.rows.stats.cache_hits.get(k.rows.signatures[0], 0))
        if lean:  # compiling still works: numba refreshes its registries itself
            f = numba.njit(lambda v: np.cumsum(v))
            assert (f(got) == np.cumsum(got)).all()
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]),
           "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_NUM_THREADS": "2"}
    lines = []
    for mode in ("usual", "lean", "usual"):  # compile and cache, then load lean, then usual
        done = subprocess.run([sys.executable, "-c", run, mode], capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=600)
        assert done.returncode == 0, done.stderr
        lines.append(done.stdout.split())
    assert lines[0] == ["usual", "True", "0"]   # compiled (the compiler loads its registries)
    assert lines[1] == ["lean", "False", "1"]   # loaded from the cache, registries not loaded
    assert lines[2] == ["usual", "True", "1"]   # numba's own load refreshes them


def _both_loaders(text: str):
    """(result or error text) of the libyaml path and of the pure-Python loader."""
    out = []
    for fast in (True, False):
        saved = yamlsafe.CStrictLoader
        if not fast:
            yamlsafe.CStrictLoader = None
        try:
            out.append(("ok", yamlsafe.load_yaml_text(text, "t.yaml")))
        except ConfigError as exc:
            out.append(("error", str(exc)))
        finally:
            yamlsafe.CStrictLoader = saved
    return out


@pytest.mark.skipif(yamlsafe.CStrictLoader is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("text", [
    "a: 1\nb: [1, 2.5, yes, null, 1e3, 0x10, ~, '07']\nc: {d: -0.0, e: .inf}\n",
    "a: 1\nb: 2\na: 3\n",                              # duplicate key
    "a: [1, 2\n",                                      # malformed
    "a: &x [1, 2]\nb: *x\nc: *x\n",
    "a: &a [" + ",".join(["1"] * 10) + "]\n" + "".join(  # an alias bomb
        f"{c}: &{c} [" + ",".join(["*" + p] * 10) + "]\n"
        for p, c in zip("abcdef", "bcdefg", strict=True)),
])
def test_libyaml_and_python_loaders_agree(text):
    fast, slow = _both_loaders(text)
    assert fast == slow


@pytest.mark.skipif(yamlsafe.CStrictLoader is None, reason="PyYAML without libyaml")
def test_shipped_yaml_parses_identically_with_libyaml():
    files = sorted((ROOT / "configs").rglob("*.yaml")) + sorted(
        (ROOT / "essop_sim" / "cost" / "tables").glob("*.yaml"))
    assert files
    for path in files:
        fast, slow = _both_loaders(path.read_text())
        assert fast == slow and fast[0] == "ok", path


def test_sweep_workers_load_what_the_parent_warmed(tmp_path):
    """After warm_kernels in the parent, a worker process compiles nothing (fresh cache)."""
    code = textwrap.dedent("""
        import multiprocessing
        from essop_sim.sweep import _task, expand_sweep, run_point
        from essop_sim.warmup import warm_kernels

        def worker(task):
            from numba.core import event
            compiled = []

            class Count(event.Listener):
                def on_start(self, ev):
                    compiled.append(ev.data["dispatcher"].py_func.__qualname__)

                def on_end(self, ev):
                    pass

            event.register("numba:compile", Count())
            run_point(task)
            return compiled

        if __name__ == "__main__":
            spec = {"base": {"datapath": "bitserial"}, "grid": {"seed": [0, 1]},
                     "layers": ["fc"], "steps": [0]}
            points = expand_sweep(spec)
            stats = warm_kernels(points, 1)
            assert stats["points"] == 2, stats
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(1) as pool:
                compiled = pool.apply(worker, (_task(points[0], "essop_sim.simulate:simulate"),))
            print("COMPILED", compiled)
            assert compiled == [], compiled
    """)
    script = tmp_path / "warm.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "cache" / "essop-sim" / "numba").is_dir()
