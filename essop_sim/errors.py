"""Error types of essop-sim. Each names where the problem is and what was expected.

The command line prints these as one line and exits with status 1 (input error).
"""

from __future__ import annotations

import reprlib


class _ShortRepr(reprlib.Repr):
    """A bounded repr: depth, items per container and string/int lengths are capped, so a
    value built by a YAML alias bomb, a self-referencing structure or a 5,000-digit integer is
    shown in a few dozen characters (and in bounded time) instead of expanded."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple = 3, 4, 6, 6
        self.maxset = self.maxfrozenset = self.maxdeque = self.maxarray = 6
        self.maxstring, self.maxother, self.maxlong = 60, 60, 40

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # repr() of a huge int is slow, and refused beyond 4300 digits
            return f"<integer of about {int(x.bit_length() * 0.30103) + 1} digits>"
        return repr(x)

    def repr_str(self, x: str, level: int) -> str:
        return super().repr_str(x[: self.maxstring + 8], level) if len(x) > self.maxstring \
            else repr(x)


_SHORT = _ShortRepr()


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)``, bounded in size and time, at most ``limit`` characters."""
    try:
        shown = _SHORT.repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        shown = f"<{type(value).__name__}>"
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return shown


def one_line(text: str, limit: int = 2000) -> str:
    """``text`` made safe for one terminal line: control characters (newlines, escape
    sequences) escaped, long text cut."""
    out = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
    out = out.encode("utf-8", "backslashreplace").decode("utf-8")
    return out if len(out) <= limit else out[: limit - 3] + "..."


def safe_text(text: str) -> str:
    """Multi-line ``text`` safe to print: control characters other than newline and tab (a
    layer name holding terminal escape sequences) and lone surrogates are shown escaped."""
    out = "".join(c if c.isprintable() or c in "\n\t " else repr(c)[1:-1] for c in text)
    return out.encode("utf-8", "backslashreplace").decode("utf-8")


class EssopSimError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class ConfigError(EssopSimError, ValueError):
    """A configuration (or sweep spec, or cost table) value is missing, unknown or out of range."""

    def __init__(self, source: str, key: str, value: object, expected: str):
        self.source, self.key, self.value, self.expected = source, key, value, expected
        super().__init__(f"{source}: key '{key}': got {short_repr(value)}, expected {expected}")


class ConfigErrors(ConfigError):
    """Several configuration errors found in one pass; the message lists them all."""

    def __init__(self, errors: list[ConfigError]):
        first = errors[0]
        self.errors = list(errors)
        EssopSimError.__init__(self, f"{first.source}: {len(errors)} errors: " + "; ".join(
            f"key '{e.key}': got {short_repr(e.value)}, expected {e.expected}"
            if e.source == first.source else str(e) for e in errors))
        self.source, self.key, self.value, self.expected = (first.source, first.key,
                                                            first.value, first.expected)


class TraceError(EssopSimError, ValueError):
    """A trace directory is missing files, corrupt, or inconsistent with its manifest."""

    def __init__(self, path: object, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class OperandError(EssopSimError, ValueError):
    """Operands handed to a datapath are malformed (shape mismatch, NaN/Inf)."""


class OutputError(EssopSimError, OSError):
    """An output directory or file cannot be written (or a result set cannot be read)."""

    def __init__(self, path: object, problem: str):
        self.path, self.problem = path, problem
        EssopSimError.__init__(self, f"{path}: {problem}")

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class TableError(EssopSimError, ValueError):
    """A result table or point file cannot be read: missing, not a regular file, malformed."""

    def __init__(self, path: object, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class OutputBusyError(OutputError):
    """Another process holds the writer lock of an output directory."""


class LimitError(EssopSimError):
    """A run or sweep would exceed a work or memory limit (override with --force)."""
