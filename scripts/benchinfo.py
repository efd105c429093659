"""What every benchmark prints about where it ran: the command, the CPU, the threads, the load.

Imported by the scripts in this folder (``from benchinfo import ...``; Python puts a script's own
folder on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import shlex
import sys


def cpu_model() -> str:
    """The CPU model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. '0.52 0.80 1.01' ('?' where unknown)."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - no load average on this OS
        return "?"


def command_line() -> str:
    """This process's command line, shell-quoted so it can be pasted back."""
    return " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv)


def machine_line() -> str:
    """One line: CPU model, usable/logical CPUs, Python, and the load average now."""
    return (f"{cpu_model()}; {usable_cpus()} usable of {os.cpu_count()} logical CPUs; "
            f"Python {platform.python_version()}; load average {load_average()}")
