"""Where numba keeps compiled kernels, so only the first run on a machine pays compile time.

Numba's default cache sits next to the source files (``__pycache__``), which fails when the
package is installed read-only. Unless the user set ``NUMBA_CACHE_DIR`` themselves, we point it
at ``$XDG_CACHE_HOME/essop-sim/numba`` (default ``~/.cache/essop-sim/numba``). This must run
before numba is first imported, which is why the package ``__init__`` calls it first.
"""

from __future__ import annotations

import os
from pathlib import Path


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
    import sys
    if "numba" in sys.modules:  # imported before us: update its live config too
        sys.modules["numba"].config.CACHE_DIR = str(path)
