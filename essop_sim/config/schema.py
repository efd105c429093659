"""Check a raw configuration mapping against the schema carried by the dataclass fields.

This module only validates: it never builds configuration objects (that is
:mod:`essop_sim.config.loader`). Every problem is reported as a :class:`ConfigError` naming the
source file, the dotted key, the offending value and what was expected.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

from ..errors import ConfigError, ConfigErrors


def parse_float(text: str) -> float | str:
    """``'2.5e9'`` -> 2.5e9; text that is not a number is returned unchanged."""
    try:
        return float(text)
    except ValueError:
        return text


def format_bound(v: float) -> str:
    """A range bound as written: integers exactly, other numbers compactly."""
    return str(v) if isinstance(v, int) else f"{v:g}"


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            tuple: "a list"}.get(tp, str(tp))


def _base_type(f: dataclasses.Field, hints: dict) -> type:
    tp = hints[f.name]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if args:
        tp = args[0]
    origin = typing.get_origin(tp)
    return origin or tp


def fields_of(cls: type) -> dict[str, tuple[dataclasses.Field, type]]:
    """Field name -> (field, base python type) for a configuration dataclass.

    A field marked ``plugin_sections`` (HardwareConfig's) stands for one section per registered
    datapath and stage, listed in its place.
    """
    from .model import plugin_sections, section

    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[dataclasses.Field, type]] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("plugin_sections"):
            for name, (doc, sec) in plugin_sections().items():
                out[name] = (section(sec, doc), sec)
        else:
            out[f.name] = (f, _base_type(f, hints))
    return out


def choices_of(meta: Any) -> tuple | None:
    """The allowed values of a field (a tuple, or a callable giving one, resolved now)."""
    choices = meta.get("choices")
    return choices() if callable(choices) else choices


def check_value(value: Any, f: dataclasses.Field, tp: type, key: str, source: str) -> None:
    """Raise ConfigError unless ``value`` is allowed for field ``f``."""
    meta = f.metadata

    def fail(expected: str) -> None:
        raise ConfigError(source, key, value, expected)

    if value is None:
        if not meta.get("nullable"):
            fail(_type_name(tp) + " (null is not allowed)")
        return
    if tp is bool:
        if not isinstance(value, bool):
            fail("true or false")
        return
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
    elif tp is float:
        if isinstance(value, str):
            value = parse_float(value)  # YAML 1.1 reads '2.5e9' (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("a number")
        if not math.isfinite(value):
            fail("a finite number")
    elif tp is str:
        if not isinstance(value, str):
            fail("a string")
    elif tp is tuple:
        if not isinstance(value, (list, tuple)) or not (value or meta.get("item") is str):
            fail("a non-empty list")
        item = meta.get("item")
        if item is int and not all(isinstance(v, int) and not isinstance(v, bool)
                                   for v in value):
            fail("a list of integers")
        if item is str and not all(isinstance(v, str) for v in value):
            fail("a list of names")
        choices = choices_of(meta)
        if choices is not None and not set(value) <= set(choices):
            fail("a list of: " + (", ".join(repr(c) for c in choices) or "(none registered)"))
        return
    choices = choices_of(meta)
    if choices is not None and value not in choices:
        fail("one of " + ", ".join(repr(c) for c in choices))
    low, high = meta.get("low"), meta.get("high")
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    if low is not None and value < low or high is not None and value > high:
        fail(f"a value in [{format_bound(low)}, {format_bound(high)}]{unit}")


def check_mapping(raw: Any, cls: type, source: str, prefix: str = "") -> None:
    """Validate ``raw`` (a mapping from YAML) against dataclass ``cls``, recursively.

    Unknown keys are errors, never ignored. Every problem is collected: one is raised as a
    :class:`ConfigError`, several as a :class:`~essop_sim.errors.ConfigErrors` listing them all.
    """
    errors: list[ConfigError] = []
    _collect(raw, cls, source, prefix, errors)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)


def _collect(raw: Any, cls: type, source: str, prefix: str, errors: list[ConfigError]) -> None:
    where = prefix.rstrip(".") or "<top level>"
    if not isinstance(raw, dict):
        errors.append(ConfigError(source, where, raw, "a mapping of keys to values"))
        return
    known = fields_of(cls)
    for key, value in raw.items():
        dotted = prefix + str(key)
        if key not in known:
            close = ", ".join(sorted(known))
            errors.append(ConfigError(source, dotted, value, f"a known key (unknown key; known "
                                                             f"here: {close})"))
            continue
        f, tp = known[key]
        try:
            if f.metadata.get("section"):
                _collect(value, tp, source, dotted + ".", errors)
            else:
                check_value(value, f, tp, dotted, source)
        except ConfigError as exc:
            errors.append(exc)


def describe(cls: type, prefix: str = "") -> list[tuple[str, Any, str, str]]:
    """Flatten the schema: (dotted key, default, unit, doc) for every leaf, in order."""
    rows = []
    for name, (f, tp) in fields_of(cls).items():
        if f.metadata.get("section"):
            rows += describe(tp, prefix + name + ".")
        else:
            rows.append((prefix + name, f.default, f.metadata.get("unit") or "",
                         f.metadata["doc"]))
    return rows
