"""Say so when numba compiles kernels, so a first run on a fresh install is not silent.

Kernels are compiled lazily, on their first call, and only the ones a run calls (importing the
package compiles nothing); compiled code is cached on disk (see :mod:`essop_sim._numba_cache`).
On a cold cache the first ``essop-sim run`` spends most of its time compiling; numba fires its
``numba:compile`` event only on a cache miss, so a listener on that event prints one line, once,
exactly when there is something to wait for.
"""

from __future__ import annotations

import os
import sys

_installed = False   # a listener is registered in this process
_said = False        # the line was printed in this process


def announce_compilation(stream=None):
    """Print one line to ``stream`` (default: stderr) at the first numba compilation (a cache
    miss) in this process. Idempotent: returns the listener it registered, or None if one was
    registered before."""
    global _installed
    if _installed:
        return None
    from numba.core import event

    class _Notice(event.Listener):
        def on_start(self, ev) -> None:
            global _said
            if _said:
                return
            _said = True
            import numba

            where = os.environ.get("NUMBA_CACHE_DIR") or numba.config.CACHE_DIR or "(default)"
            print("essop-sim: compiling numba kernels for first use (once per install; "
                  f"typically 5-30 s; cached in {where})", file=stream or sys.stderr,
                  flush=True)

        def on_end(self, ev) -> None:
            pass

    listener = _Notice()
    event.register("numba:compile", listener)
    _installed = True
    return listener
