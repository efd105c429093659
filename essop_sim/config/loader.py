"""Build frozen :class:`HardwareConfig` objects from YAML files and ``key=value`` overrides.

Validation is :mod:`essop_sim.config.schema`'s job; this module parses, applies overrides, calls
the check, then constructs. The shipped ``configs/essop_14nm.yaml`` equals the dataclass
defaults (a test holds them equal), so ``HardwareConfig()`` is the default configuration.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fsutil import file_kind
from .model import HardwareConfig
from .schema import check_mapping, fields_of, parse_float
from .yamlsafe import MAX_BYTES, load_yaml_file, load_yaml_text

#: The path that means standard input (``--config -``).
STDIN = "-"


def yaml_source(path: str | Path) -> str:
    """How errors name a YAML input: ``'<stdin>'`` for ``-``, else the path."""
    return "<stdin>" if str(path) == STDIN else str(path)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file, ``-`` (standard input) or a pipe/FIFO (e.g. bash's ``<(...)``, a
    /dev/fd path), strictly and within the bounds of :mod:`.yamlsafe`; a syntax error names the
    source ('<stdin>' or the path), line and column."""
    source = yaml_source(path)
    if source == "<stdin>":
        return load_yaml_text(_read_bounded(sys.stdin, source), source)
    if file_kind(path) in ("fifo", "character device"):   # a pipe the user handed us
        try:
            with open(path, encoding="utf-8") as stream:
                return load_yaml_text(_read_bounded(stream, source), source)
        except UnicodeDecodeError as exc:
            raise ConfigError(source, "<file>", f"byte {exc.start}", "UTF-8 text") from None
        except OSError as exc:
            raise ConfigError(source, "<file>", exc.strerror or str(exc),
                              "a readable YAML file") from None
    return load_yaml_file(path)   # regular files; missing paths and directories are refused


def _read_bounded(stream: Any, source: str) -> str:
    """At most MAX_BYTES characters of a stream (a larger input is an error, not a hang)."""
    text = stream.read(MAX_BYTES + 1)
    if len(text) > MAX_BYTES:
        raise ConfigError(source, "<file>", "more input", f"a YAML file of at most "
                                                          f"{MAX_BYTES >> 20} MiB")
    return text


def parse_override(text: str) -> tuple[str, Any]:
    """``'essop.bitstream_length=128'`` -> ``('essop.bitstream_length', 128)`` (YAML scalar)."""
    if "=" not in text:
        raise ConfigError("--set", text, text, "KEY=VALUE, e.g. essop.bitstream_length=128")
    key, _, value = text.partition("=")
    try:
        parsed = load_yaml_text(value, f"--set {key.strip()}") if value.strip() else None
    except ConfigError:
        raise ConfigError("--set", key, value, "a YAML scalar value") from None
    return key.strip(), parsed


def set_dotted(raw: dict, key: str, value: Any, source: str) -> None:
    """Set ``raw['a']['b'] = value`` for key ``'a.b'``, creating sections as needed."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(source, key, value, f"'{part}' to be a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type, raw: dict) -> Any:
    kwargs = {}
    for name, (f, tp) in fields_of(cls).items():
        if name not in raw:
            continue
        value = raw[name]
        if f.metadata.get("section"):
            value = _build(tp, value)
        elif tp is tuple and value is not None:
            value = tuple(value)
        elif tp is float and value is not None:
            value = float(parse_float(value) if isinstance(value, str) else value)
        kwargs[name] = value
    return cls(**kwargs)


def config_from_mapping(raw: Any, source: str = "<mapping>",
                        overrides: dict[str, Any] | None = None) -> HardwareConfig:
    """Validate a raw mapping (plus dotted overrides) and build the configuration."""
    raw = copy.deepcopy(raw) if raw is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError(source, "<top level>", raw, "a mapping of keys to values")
    for key, value in (overrides or {}).items():
        set_dotted(raw, key, value, source)
    check_mapping(raw, HardwareConfig, source)
    config = _build(HardwareConfig, raw)
    check_consistency(config, source)
    return config


def load_config(path: str | Path | None = None,
                overrides: list[str] | dict[str, Any] | None = None) -> HardwareConfig:
    """Read a hardware configuration; ``path=None`` gives the shipped default.

    ``overrides`` are ``'key=value'`` strings (as from ``--set``) or a dotted-key mapping.
    """
    if isinstance(overrides, (list, tuple)):
        overrides = dict(parse_override(o) for o in overrides)
    raw = read_yaml(path) if path is not None else {}
    source = yaml_source(path) if path is not None else "<default config>"
    return config_from_mapping(raw, source, overrides)


def check_consistency(config: HardwareConfig, source: str) -> None:
    """Cross-field rules that a single field's range cannot express: each registered datapath
    and stage checks its own section (all of them, since a comparison may switch datapath)."""
    from ..datapaths.registry import REGISTRY

    for plugin in REGISTRY.plugins().values():
        plugin.check(config, source)


def config_to_dict(config: Any) -> dict:
    """Plain nested dict of a configuration (tuples as lists), for JSON and YAML output."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return list(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    if isinstance(config, HardwareConfig):
        core = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                if f.name != "sections"}
        out = {k: core[k] for k in ("datapath", "seed", "stages")}
        out.update({name: dataclasses.asdict(sec) for name, sec in config.sections.items()})
        out.update(memory=dataclasses.asdict(config.memory), cost=dataclasses.asdict(config.cost))
        return plain(out)
    return plain(dataclasses.asdict(config))


def config_digest(config: HardwareConfig) -> str:
    """Short stable hash of a configuration (for sweep point identities)."""
    text = json.dumps(config_to_dict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
