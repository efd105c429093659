"""Crash recovery around a trace path: put back a trace an interrupted overwrite moved away, and
remove what killed writers left behind.

A writer builds a trace in ``.NAME.partial-<pid>-<hex>`` beside it. An overwrite swaps the new
directory in: atomically where the platform can exchange two paths (Linux ``renameat2`` with
``RENAME_EXCHANGE``), else by renaming the old trace to ``.NAME.old-<pid>-<hex>`` and the new
one into place. A process killed between those two renames leaves nothing at ``NAME``;
:func:`recover_trace` (called by every reader and writer of ``NAME``) renames the newest
complete ``.old-*`` back. :func:`clean_leftovers` (called by writers) removes ``.partial-*`` and
``.old-*`` directories whose writer is no longer running.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import sys
from pathlib import Path

from ..fsutil import fsync_dir, pid_alive
from .format import MANIFEST_NAME

_LEFTOVER = re.compile(r"\.(partial|old)-(\d+)-[0-9a-f]+$")


def _leftovers(path: Path, kind: str) -> list[Path]:
    pattern = f".{glob.escape(path.name)}.{kind}-*"
    try:
        found = [p for p in path.parent.glob(pattern) if p.is_dir()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _writer_pid(leftover: Path) -> int | None:
    match = _LEFTOVER.search(leftover.name)
    return int(match.group(2)) if match else None


def recover_trace(path: str | os.PathLike) -> bool:
    """If nothing is at ``path`` but an interrupted overwrite left the previous trace in
    ``.NAME.old-*``, rename it back. Returns True when a trace was put back."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        return False
    for old in _leftovers(path, "old"):
        if (old / MANIFEST_NAME).is_file():
            try:
                os.rename(old, path)
            except OSError:
                continue
            fsync_dir(path.parent)
            return True
    return False


def clean_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove ``.NAME.partial-*`` and ``.NAME.old-*`` directories of writers that are no longer
    running (after :func:`recover_trace`); returns what was removed."""
    path = Path(path)
    recover_trace(path)
    removed = []
    for kind in ("partial", "old"):
        for leftover in _leftovers(path, kind):
            pid = _writer_pid(leftover)
            if pid is not None and pid != os.getpid() and pid_alive(pid):
                continue  # a live writer's work in progress
            if kind == "old" and not path.exists():
                continue  # still the only copy of the previous trace
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two existing paths (Linux ``renameat2(RENAME_EXCHANGE)``).
    Returns False where unsupported (then the caller swaps with two renames)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    with contextlib.suppress(Exception):
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return True
    return False
