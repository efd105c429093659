"""How many threads a numba parallel kernel call gets: from the work size and the free cores.

A parallel region only pays off when each thread has enough work, and on a shared machine only
when every thread gets a core: a region ends when its slowest thread does, so a thread the OS
deschedules in favour of another process holds up the whole region (measured: at load 5 on 2
cores, stream construction on 2 threads was slower than on 1). The rule:

* ``work`` below ``small_work`` (the caller's measured threshold, in the caller's work unit):
  one thread;
* otherwise ``min(cap, work // small_work, free_cores())`` threads, at least one, where
  ``cap`` is numba's current thread count (``NUMBA_NUM_THREADS``, or what the user or a sweep
  worker set with ``numba.set_num_threads``) — the policy never raises it.

:func:`free_cores` counts the CPUs this process may run on (``os.sched_getaffinity``) minus
those other processes keep busy. "Busy elsewhere" is the number of runnable tasks right now
(``/proc/loadavg``, 4th field) minus this process's own runnable threads
(``/proc/self/task/*/stat``), capped by the one-minute load average (so that a task that
happens to be runnable at the instant of reading does not count as a sustained load); when the
load covers more CPUs than this process may use (a CPU set narrower than the machine), it is
scaled by the ratio. A core counts as busy from a quarter of a task on (busy CPUs are
``ceil(busy_elsewhere - 1/4)``). Without ``/proc`` (not Linux), the one-minute load average
minus one (this process) stands in. Results never depend on the thread count (tests check
every kernel), so the policy changes only speed.

One thread means no parallel region at all: :func:`for_threads` then returns a serial variant
of the kernel (the same Python function compiled without ``parallel=True``, cached on disk under
its own name). That also saves compiling the parallel variant (its parfor passes and gufunc
take about twice as long) in runs that never need it: a cold default run compiles only serial
code.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import types
from collections.abc import Iterator
from typing import Any

#: Suffix of the serial variant's qualified name (and so of its on-disk cache file).
SERIAL_SUFFIX = "__serial"

_serial_variants: dict[int, Any] = {}
#: The count :func:`limited` set on this thread (numba's count is per calling thread).
_in_effect = threading.local()


def cores_available() -> int:
    """CPUs this process may run on (its affinity set; ``os.cpu_count()`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _own_runnable_threads() -> int:
    """This process's threads in state R (running or runnable) now; at least 1 (the caller)."""
    running = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # "tid (comm) S ...": the state follows the last ')' (comm may hold spaces or parens)
        if stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] == b"R":
            running += 1
    return max(1, running)


def busy_elsewhere() -> float:
    """CPUs (of this process's set) other processes keep busy now: see the module docstring."""
    try:
        with open("/proc/loadavg") as fh:
            fields = fh.read().split()
        load1, runnable = float(fields[0]), int(fields[3].split("/")[0])
        others = max(0.0, min(load1, float(runnable - _own_runnable_threads())))
    except (OSError, ValueError, IndexError):
        try:
            others = max(0.0, os.getloadavg()[0] - 1.0)
        except (AttributeError, OSError):
            return 0.0
    online = os.cpu_count() or 1
    mine = cores_available()
    return others * mine / online if online > mine else others


def free_cores() -> int:
    """CPUs of this process's set that no other process keeps busy; at least 1."""
    return max(1, cores_available() - math.ceil(busy_elsewhere() - 0.25))


def choose_threads(work: float, small_work: float, cap: int | None = None) -> int:
    """Threads for a parallel call doing ``work`` units (see the module docstring for the rule).

    Args:
        work: the call's work, in the unit of ``small_work`` (e.g. word operations).
        small_work: below this much work one thread is used; a thread is added per further
            ``small_work`` units.
        cap: the most threads to use (default: numba's current thread count).
    """
    if cap is None:
        import numba

        cap = numba.get_num_threads()
    if cap <= 1 or work < small_work:
        return 1
    by_work = int(work // small_work) if small_work > 0 else int(cap)
    return max(1, min(int(cap), by_work, free_cores()))


@contextlib.contextmanager
def limited(threads: int) -> Iterator[int]:
    """Run the block with numba's thread count set to ``threads`` (restored afterwards, also on
    an exception); yields the count in effect. Numba's count is per calling thread."""
    import numba

    before = numba.get_num_threads()
    threads = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    if threads != before:
        numba.set_num_threads(threads)
    outer = getattr(_in_effect, "count", None)
    _in_effect.count = threads
    try:
        yield threads
    finally:
        _in_effect.count = outer
        if threads != before:
            numba.set_num_threads(before)


@contextlib.contextmanager
def chunks_of(iterations: int) -> Iterator[None]:
    """Run the block with numba's parallel chunk size set to ``iterations`` (a dynamic schedule
    handing out that many loop iterations at a time), restored afterwards, also on an exception.
    Unlike ``numba.parallel_chunksize``, a module-wide object that keeps the size to restore in
    one attribute (so a nested use, or another Python thread's, overwrote it and the outer
    block's size leaked past its end), the size to restore is this call's own."""
    import numba

    before = numba.get_parallel_chunksize()
    numba.set_parallel_chunksize(iterations)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(before)


def threads_in_effect() -> int:
    """numba's thread count for this calling thread: inside :func:`limited`, the count it set
    (read without numba's lock, which costs about a microsecond per call); else
    ``numba.get_num_threads()``."""
    count = getattr(_in_effect, "count", None)
    if count is not None:
        return count
    import numba

    return numba.get_num_threads()


def serial_variant(kernel: Any) -> Any:
    """The kernel compiled without ``parallel=True`` (``prange`` runs as ``range``): the same
    code on the calling thread, so the same results. Built once per kernel; cached on disk as
    '<name>__serial'. A kernel that is not parallel is returned as it is."""
    options = dict(getattr(kernel, "targetoptions", {}))
    if not options.get("parallel"):
        return kernel
    found = _serial_variants.get(id(kernel))
    if found is not None and found[0] is kernel:
        return found[1]
    import numba

    f = kernel.py_func
    clone = types.FunctionType(f.__code__, f.__globals__, f.__name__ + SERIAL_SUFFIX,
                               f.__defaults__, f.__closure__)
    clone.__qualname__ = f.__qualname__ + SERIAL_SUFFIX
    clone.__module__, clone.__doc__ = f.__module__, f.__doc__
    clone.__kwdefaults__ = f.__kwdefaults__
    options.pop("parallel", None)
    options.pop("nopython", None)  # implied by njit
    cached = type(getattr(kernel, "_cache", None)).__name__ not in ("NullCache", "NoneType")
    serial = numba.njit(cache=cached, **options)(clone)
    _serial_variants[id(kernel)] = (kernel, serial)
    return serial


def for_threads(kernel: Any, work: float = 0, serial_below: float = 0) -> Any:
    """``kernel`` itself, or its :func:`serial_variant` when numba's thread count (of the calling
    thread) is 1 or when ``work < serial_below`` (for a kernel that runs on the calling thread
    alone below that much work anyway): no parallel region to start, and no parallel code to
    compile."""
    if work < serial_below:
        return serial_variant(kernel)
    return serial_variant(kernel) if threads_in_effect() == 1 else kernel
