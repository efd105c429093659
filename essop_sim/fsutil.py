"""File-system helpers shared by the writers of traces and results."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_dir(path: str | os.PathLike) -> None:
    """fsync a directory so a rename or new entry inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(Path(path), os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- output lock

#: Name of the lock file an essop-sim writer holds in its output directory.
LOCK_NAME = ".essop-sim.lock"

_held: dict[str, list] = {}  # resolved directory -> [fd, depth]: re-entrant within a process


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: lock the first byte
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:200].strip()
    except OSError:
        return "another process"
    return f"another essop-sim process ({text})" if text else "another process"


@contextlib.contextmanager
def output_lock(directory: str | os.PathLike, *, wait: float = 0.0):
    """Hold the exclusive writer lock of an output directory (created if needed).

    A second writer (another process) waits up to ``wait`` seconds, then gets an
    :class:`~essop_sim.errors.OutputBusyError` naming the holder. Re-entrant within a process.
    The lock is an advisory ``flock`` on ``DIR/.essop-sim.lock`` (removed on release): the
    kernel drops it when the holder dies, so a killed run never leaves the directory locked.
    """
    import sys
    import time

    from .errors import OutputBusyError

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = str(directory.resolve())
    if key in _held:
        _held[key][1] += 1
        try:
            yield directory
        finally:
            _held[key][1] -= 1
        return
    path = directory / LOCK_NAME
    deadline = time.monotonic() + wait
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if _try_lock(fd):
            try:  # the holder before us may have removed the file: lock the current one
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except OSError:
                same = False
            if same:
                break
        os.close(fd)
        if time.monotonic() >= deadline:
            raise OutputBusyError(directory, f"{_holder(path)} is writing into this directory; "
                                  "wait for it to finish or choose another output directory")
        time.sleep(0.1)
    try:
        with contextlib.suppress(OSError):
            cmd = " ".join(os.path.basename(a) if i == 0 else a
                           for i, a in enumerate(sys.argv))[:120]
            os.write(fd, f"pid {os.getpid()}: {cmd}".encode())
        _held[key] = [fd, 1]
        try:
            yield directory
        finally:
            del _held[key]
            with contextlib.suppress(OSError):
                os.unlink(path)  # while still locked: a waiter re-checks the file it locked
    finally:
        os.close(fd)  # releases the lock


def holds_lock(directory: str | os.PathLike) -> bool:
    """Does this process hold ``directory``'s writer lock?"""
    return str(Path(directory).resolve()) in _held


def is_regular_file(path: str | os.PathLike) -> bool:
    """True for an existing regular file (following symlinks); FIFOs, sockets, devices and
    directories are not (opening a FIFO would block)."""
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def file_kind(path: str | os.PathLike) -> str:
    """'regular file', 'directory', 'fifo', ... or 'missing', for messages."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "missing"
    for test, name in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def pid_alive(pid: int) -> bool:
    """Is a process with this id running (on this machine)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
