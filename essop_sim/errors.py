"""Error types of essop-sim. Each names where the problem is and what was expected.

The command line prints these as one line and exits with status 1 (input error).
"""

from __future__ import annotations


class EssopSimError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class ConfigError(EssopSimError, ValueError):
    """A configuration (or sweep spec, or cost table) value is missing, unknown or out of range."""

    def __init__(self, source: str, key: str, value: object, expected: str):
        self.source, self.key, self.value, self.expected = source, key, value, expected
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{source}: key '{key}': got {shown}, expected {expected}")


class TraceError(EssopSimError, ValueError):
    """A trace directory is missing files, corrupt, or inconsistent with its manifest."""

    def __init__(self, path: object, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class OperandError(EssopSimError, ValueError):
    """Operands handed to a datapath are malformed (shape mismatch, NaN/Inf)."""
