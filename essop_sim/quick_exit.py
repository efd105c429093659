"""Ending the ``essop-sim`` process without the interpreter's teardown, once nothing is left.

After a run, Python's shutdown clears every module and frees every object: with numba loaded
(its type registries, the LLVM bindings, the loaded kernels) that takes 0.1-0.2 s, a fifth
of a warm ``essop-sim run`` on the shipped defaults (docs/performance.md, "Start-up"). Nothing
of it is observable: the results are already committed to disk (``report.io.commit_files``
syncs them) and the text already printed. :func:`leave` flushes the standard streams, runs the
``atexit`` handlers (logging, multiprocessing's finalisers, ``weakref.finalize`` callbacks such
as temporary directories' clean-up, coverage's data file), then ends the process with
``os._exit``.

It takes the ordinary exit (``sys.exit``) instead whenever something could still be running or
watching: another Python thread that is not a daemon (a thread pool's workers: a normal exit
joins them), a child process, or a tracer or profiler (``python -m cProfile``, coverage,
debuggers: they report after the program returns). Only the console script and ``python -m
essop_sim.cli`` end this way; :func:`essop_sim.cli.main` returns as before, so a program that
calls it goes on.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading


def can_leave_quickly() -> bool:
    """Whether ending with ``os._exit`` skips nothing but the teardown: the calling thread is
    the only Python thread that is not a daemon (an ordinary exit waits for those, not for
    daemons), no child process of ``multiprocessing`` is alive, and no tracer or
    profiler is set."""
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return False
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return False
    mp = sys.modules.get("multiprocessing")
    return mp is None or not mp.active_children()


def _flushed() -> bool:
    """Flush stdout and stderr (either may be None, as under pythonw); False if that failed (a
    closed pipe, a full disk)."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except OSError:
        return False
    return True


def leave(code: int) -> None:
    """End the process with exit status ``code`` (0-255): quickly (flush, ``atexit`` handlers,
    ``os._exit``) when :func:`can_leave_quickly`, else ``sys.exit(code)``. Does not return."""
    if not can_leave_quickly() or not _flushed():
        sys.exit(code)  # (a failed flush: the ordinary exit reports it as usual)
    atexit._run_exitfuncs()
    if not _flushed():  # what the handlers printed
        code = code or 120  # what the interpreter returns when its final flush fails
    os._exit(code)
