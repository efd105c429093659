"""Numba set-up that must happen before numba is first imported: kernel cache and threading layer.

Cache: numba's default cache sits next to the source files (``__pycache__``), which fails when
the package is installed read-only. Unless the user set ``NUMBA_CACHE_DIR`` themselves, we point
it at ``$XDG_CACHE_HOME/essop-sim/numba`` (default ``~/.cache/essop-sim/numba``).

Threading layer: see :func:`configure_numba_threading` and docs/training.md ("numba threads
beside PyTorch"). The package ``__init__`` calls both functions first, before anything imports
numba.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: numba's threading layer in a process that also runs PyTorch (unless the user chose one).
TORCH_THREADING_LAYER = "workqueue"

_chosen_here = False


def cache_dir() -> Path:
    """The numba cache directory essop-sim uses."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "essop-sim" / "numba"


def configure_numba_cache() -> None:
    """Set NUMBA_CACHE_DIR (if unset) to a user-writable directory."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # numba falls back to its own locations
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    if "numba" in sys.modules:  # imported before us: update its live config too
        sys.modules["numba"].config.CACHE_DIR = str(path)


def configure_numba_threading(torch_in_process: bool | None = None) -> str | None:
    """Use numba's 'workqueue' threading layer in a process that also runs PyTorch.

    Numba's default layer on Linux is OpenMP. PyTorch brings its own OpenMP runtime, and
    whichever libgomp a process loads first serves both (the runtimes share a soname and
    PyTorch loads its copy globally), so numba's parallel kernels and PyTorch's operators run on
    one runtime with one wait policy. With ``OMP_WAIT_POLICY`` unset its idle threads spin after
    every parallel region: after each datapath kernel a numba worker spins on a core for
    milliseconds, PyTorch's do the same after each operator, and on a busy machine the spinning
    threads take the cores from the threads doing the work. ``OMP_WAIT_POLICY=passive`` stops
    the spinning only if set before the runtime loads (usually at ``import torch``, before
    essop_sim could act) and then slows PyTorch's own parallel operators too. The 'workqueue'
    layer is numba's own thread pool: its idle threads sleep, and PyTorch's runtime is left
    exactly as it was. docs/training.md ("numba threads beside PyTorch") has the measurements.

    'workqueue' is not thread-safe: parallel kernels called from two threads at once abort the
    process. So it is chosen only where PyTorch is in the process: at ``import essop_sim`` when
    torch is already imported, and at ``import essop_sim.training`` (``torch_in_process=True``).
    Elsewhere (sweeps, Dask workers) numba's default stays. Nothing is changed if the user set
    ``NUMBA_THREADING_LAYER`` or ``OMP_WAIT_POLICY`` (their choice stands), or once a parallel
    kernel has run (the layer is then fixed for the process).

    Args:
        torch_in_process: whether PyTorch is used in this process; None = whether torch is
            already imported.

    Returns:
        The layer chosen here ('workqueue'), 'user' if the user's settings stand, or None if
        nothing was changed (no torch, or numba's layer already running).
    """
    global _chosen_here
    if _chosen_here:
        return TORCH_THREADING_LAYER
    if os.environ.get("NUMBA_THREADING_LAYER") or os.environ.get("OMP_WAIT_POLICY"):
        return "user"
    if torch_in_process is None:
        torch_in_process = "torch" in sys.modules
    if not torch_in_process:
        return None
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            numba.threading_layer()
            return None  # a parallel kernel already ran: the layer is fixed
        except ValueError:
            pass  # not started yet
    # the environment for numba's own (re)reading of its configuration, the config for a numba
    # already imported
    os.environ["NUMBA_THREADING_LAYER"] = TORCH_THREADING_LAYER
    if numba is not None:
        numba.config.THREADING_LAYER = TORCH_THREADING_LAYER
    _chosen_here = True
    return TORCH_THREADING_LAYER


def load_numba_without_scipy() -> bool:
    """Make numba start lean in our own processes (the CLI and its sweep workers call this first).

    Two things numba does on a first compilation or cache load are not needed to run a cached
    kernel, and cost most of a warm ``essop-sim run``'s numba start-up:

    * every cache load refreshes the compiler's registries of typing and lowering rules, which
      imports some 70 numba modules (about 0.07 s) although the loaded machine code needs only
      numba's runtime. Here a cache load initialises just that runtime (``rtsys``, as
      ``refresh`` does first), and the registries load when something is compiled (numba's
      compiler refreshes them itself). See :func:`_load_overload_lean`.
    * the registries import ``numba.np.arraymath``, which imports ``scipy.linalg.cython_blas``
      only to decide whether ``np.correlate`` and ``np.convolve`` in numba code may call BLAS:
      0.2-0.4 s, for functions no essop-sim kernel calls. When the registries do load, they
      load with ``scipy.linalg`` hidden, so those two functions use numba's own loop in this
      process (``np.dot`` and ``np.linalg`` in numba code still import SciPy when they are
      compiled).

    A library user importing essop_sim is not affected. Does nothing if ``scipy.linalg`` or
    ``numba.np.arraymath`` is already imported, or if numba's internals are not the ones this
    was written against (numba then behaves as usual).

    Returns:
        Whether numba was set up here.
    """
    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return False
    import numba  # noqa: F401 - numba itself first (it imports the top-level scipy package)
    from numba.core import caching, cpu

    cache, context = caching.Cache, cpu.CPUContext
    if not all(hasattr(cache, name) for name in
               ("load_overload", "_load_overload", "_guard_against_spurious_io_errors")):
        return False
    if getattr(cache.load_overload, "essop_sim_lean", False):
        return False
    full_registries = context.load_additional_registries

    def load_additional_registries(self):  # the compiler's refresh, with scipy.linalg hidden
        if "numba.np.arraymath" not in sys.modules and "scipy.linalg" not in sys.modules:
            sys.modules["scipy.linalg"] = None  # type: ignore[assignment] - its import fails
            try:
                import numba.np.arraymath  # noqa: F401
            finally:
                if "scipy.linalg" in sys.modules and sys.modules["scipy.linalg"] is None:
                    del sys.modules["scipy.linalg"]
        full_registries(self)

    context.load_additional_registries = load_additional_registries
    cache.load_overload = _load_overload_lean
    return True


def _load_overload_lean(self, sig, target_context):
    """numba's ``Cache.load_overload`` without the registry refresh: initialise numba's runtime
    (what the loaded code calls: allocation, reference counts; a parallel kernel starts its
    thread pool through the library's own reload hooks), then load as numba does. A cache miss
    returns None and numba compiles, refreshing the registries first."""
    from numba.core.runtime import rtsys

    rtsys.initialize(target_context)
    with self._guard_against_spurious_io_errors():
        return self._load_overload(sig, target_context)


_load_overload_lean.essop_sim_lean = True  # type: ignore[attr-defined]
