"""The console script ends without the interpreter's teardown only when nothing is left to run.

Each case runs a fresh interpreter (``os._exit`` would end pytest itself) and checks what a
normal exit guarantees: the exit status, every byte written to stdout and stderr (also
without a final newline, into a pipe and into a file), ``atexit`` handlers and
``weakref.finalize`` clean-ups run, and other threads, child processes and profilers are
waited for by taking the ordinary exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, *, stdout=subprocess.PIPE, args: tuple[str, ...] = ()):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


LEAVE = """
    import atexit, os, sys, tempfile, weakref
    from essop_sim.quick_exit import can_leave_quickly, leave
    marker = sys.argv[1]
    atexit.register(lambda: open(marker + ".atexit", "w").close())
    scratch = tempfile.mkdtemp()
    weakref.finalize(leave, os.rmdir, scratch)  # lives until the interpreter ends
    print(scratch)
    sys.stdout.write("no newline at the end")
    sys.stderr.write("to stderr")
    {extra}
    print(can_leave_quickly(), file=sys.stderr)
    leave(3)
    print("not reached")
"""


def _leave(tmp_path: Path, extra: str = "", *, stdout=subprocess.PIPE):
    marker = tmp_path / "m"
    done = _python(LEAVE.format(extra=textwrap.indent(textwrap.dedent(extra), "    ").strip()),
                   stdout=stdout, args=(str(marker),))
    return done, marker


def test_leave_flushes_runs_exit_handlers_and_keeps_the_status(tmp_path):
    done, marker = _leave(tmp_path)
    assert done.returncode == 3, done.stderr
    scratch, tail = done.stdout.split("\n")
    assert tail == "no newline at the end"
    assert done.stderr == "to stderrTrue\n"
    assert (tmp_path / "m.atexit").exists()
    assert not Path(scratch).exists()  # weakref.finalize ran at exit


def test_leave_does_not_wait_for_daemon_threads(tmp_path):
    """An ordinary exit does not wait for a daemon thread either."""
    done, _ = _leave(tmp_path, """
        import threading, time
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        """)
    assert done.returncode == 3, done.stderr
    assert done.stderr == "to stderrTrue\n"


def test_leave_flushes_into_a_file(tmp_path):
    with open(tmp_path / "out.txt", "w") as out:
        done, _ = _leave(tmp_path, stdout=out)
    assert done.returncode == 3, done.stderr
    assert (tmp_path / "out.txt").read_text().endswith("\nno newline at the end")


@pytest.mark.parametrize("extra, why", [
    ("""
     import threading, time
     def late():
         time.sleep(0.5)
         print("thread finished", file=sys.stderr)
     threading.Thread(target=late).start()
     """, "thread finished"),
    ("""
     import multiprocessing, time
     ctx = multiprocessing.get_context("spawn")
     child = ctx.Process(target=time.sleep, args=(0.5,))
     child.start()
     """, ""),
    ("""
     sys.setprofile(lambda frame, event, arg: None)
     """, ""),
])
def test_leave_takes_the_ordinary_exit_while_something_runs_or_watches(tmp_path, extra, why):
    done, marker = _leave(tmp_path, extra)
    assert done.returncode == 3, done.stderr
    assert "False" in done.stderr  # can_leave_quickly said no
    assert done.stderr.strip().endswith(why)
    assert (tmp_path / "m.atexit").exists()


def test_a_failed_flush_takes_the_ordinary_exit(tmp_path):
    """stdout whose flush fails (a closed pipe): the ordinary exit, which reports it (status
    120 for a failed final flush) rather than os._exit with the output lost silently."""
    done, _ = _leave(tmp_path, """
        import io
        class Closed(io.StringIO):
            def flush(self):
                raise BrokenPipeError(32, "Broken pipe")
        sys.stdout = Closed()
        """)
    assert "True" in done.stderr  # nothing else held the quick exit: the flush did
    assert done.returncode == 120, done.stderr
    assert (tmp_path / "m.atexit").exists()


def test_console_script_statuses_and_output():
    """``python -m essop_sim.cli`` ends through console(): --version (argparse's SystemExit)
    0 with its text, a usage error 2, an input error 1 with its one line."""
    for args, status, where, text in (
            (["--version"], 0, "stdout", "essop-sim "),
            (["run", "--no-such-flag"], 2, "stderr", "unrecognized arguments"),
            (["validate", "no/such/file.yaml"], 1, "stderr", "essop-sim: error:")):
        done = subprocess.run([sys.executable, "-m", "essop_sim.cli", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == status, (args, done.stderr)
        assert text in getattr(done, where), (args, done.stdout, done.stderr)
