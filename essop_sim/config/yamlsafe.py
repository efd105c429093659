"""Bounded, strict YAML: every configuration, sweep spec, cost table and ``--set`` value is
parsed here.

On top of ``yaml.SafeLoader``:

* a key repeated in one mapping is an error naming both lines (YAML's "last one wins" silently
  dropped whole sections);
* the document may hold at most :data:`MAX_NODES` values *after* alias expansion (a "billion
  laughs" bomb is refused in milliseconds instead of exhausting memory), no self-referencing
  alias, at most :data:`MAX_DEPTH` levels of nesting, and at most :data:`MAX_BYTES` of text;
* text that is not UTF-8, an integer too long to convert, and nesting deep enough to exhaust
  the parser's recursion are one-line :class:`~essop_sim.errors.ConfigError`\\ s naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..fsutil import file_kind

#: Values a document may expand to (aliases counted at each use).
MAX_NODES = 100_000
#: Nesting levels of mappings and lists.
MAX_DEPTH = 64
#: Size of a YAML file.
MAX_BYTES = 16 << 20


class _Bounded(ConfigError):
    pass


class _Strict:
    """The checks of :class:`StrictLoader`, for any SafeLoader-like base."""

    source = "<yaml>"

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_graph(node, self.source)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable key: SafeLoader reports it
                    continue
                if first is not None:
                    raise ConfigError(self.source, f"line {key_node.start_mark.line + 1}",
                                      key, f"each key once per mapping (also at line "
                                           f"{first.start_mark.line + 1}; the last one would "
                                           "silently win)")
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


class StrictLoader(_Strict, yaml.SafeLoader):
    """SafeLoader refusing duplicate keys and documents too large once aliases expand."""


#: The same checks on libyaml's parser (about 10x faster) when PyYAML has it; used first, and
#: any problem is then reported by :class:`StrictLoader` (so messages do not depend on it).
CStrictLoader = (type("CStrictLoader", (_Strict, yaml.CSafeLoader), {})
                 if getattr(yaml, "__with_libyaml__", False) else None)


def _check_graph(root, source: str) -> None:
    """Count the values of the composed node graph with aliases expanded (memoized, so the
    count itself is cheap), refusing cycles and deep nesting."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            depths[key] = 1 + max((depths[id(c)] for c in children), default=0)
            if sizes[key] > MAX_NODES:
                raise ConfigError(source, f"line {node.start_mark.line + 1}", "...",
                                  f"at most {MAX_NODES:,} values once aliases are expanded "
                                  "(an alias bomb?)")
            if depths[key] > MAX_DEPTH:
                raise ConfigError(source, f"line {node.start_mark.line + 1}", "...",
                                  f"at most {MAX_DEPTH} levels of nesting")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ConfigError(source, f"line {node.start_mark.line + 1}", "*alias",
                              "no alias inside the value it names (a recursive structure)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text strictly and within bounds; every problem is a ConfigError.

    Well-formed text is parsed with libyaml where available; anything it refuses is parsed
    again by the pure-Python loader, whose error is reported (the same wording either way).
    """
    if CStrictLoader is not None:
        loader = CStrictLoader(text)
        loader.source = source
        try:
            return loader.get_single_data()
        except Exception:  # noqa: BLE001 - the pure-Python loader below names the problem
            pass
        finally:
            loader.dispose()
    return _load_python(text, source)


def _load_python(text: str, source: str) -> Any:
    loader = StrictLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<file>"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, where, problem, "well-formed YAML") from None
    except RecursionError:
        raise ConfigError(source, "<file>", "...", f"at most {MAX_DEPTH} levels of "
                                                   "nesting") from None
    except ConfigError:
        raise
    except ValueError as exc:  # int() of thousands of digits, a malformed timestamp, ...
        raise ConfigError(source, "<file>", str(exc)[:60], "values YAML can convert "
                                                           "(an integer too long?)") from None
    finally:
        loader.dispose()


def read_text_checked(path: str | os.PathLike, what: str = "YAML file") -> str:
    """The UTF-8 text of a regular file of at most :data:`MAX_BYTES` (FIFOs, directories and
    devices are refused without being opened)."""
    path = Path(path)
    kind = file_kind(path)
    if kind != "regular file":
        shown = "missing" if kind == "missing" else f"a {kind}"
        raise ConfigError(str(path), "<file>", shown, f"an existing {what} (a regular file)")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(str(path), "<file>", f"{size:,} bytes",
                          f"a {what} of at most {MAX_BYTES >> 20} MiB")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "<file>", f"byte {exc.start}",
                          f"UTF-8 text (a {what})") from None
    except OSError as exc:
        raise ConfigError(str(path), "<file>", exc.strerror or str(exc),
                          f"a readable {what}") from None


def load_yaml_file(path: str | os.PathLike, what: str = "YAML file") -> Any:
    """:func:`read_text_checked` then :func:`load_yaml_text`."""
    return load_yaml_text(read_text_checked(path, what), str(path))
