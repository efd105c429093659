"""Write a configuration back out as YAML with every key commented from its schema."""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from .schema import choices_of, fields_of, format_bound


def _scalar(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()


def render_yaml(config: Any, indent: int = 0) -> str:
    """Commented YAML for ``config``: a comment block (meaning, unit, allowed values) per key."""
    pad = " " * indent
    lines = []
    for name, (f, _tp) in fields_of(type(config)).items():
        meta = f.metadata
        value = getattr(config, name)
        doc = meta["doc"]
        if meta.get("unit"):
            doc += f" Unit: {meta['unit']}."
        choices = choices_of(meta)
        if choices and meta.get("item") is str:
            doc += " Each one of: " + ", ".join(choices) + "."
        elif choices:
            doc += " One of: " + ", ".join(choices) + "."
        elif meta.get("low") is not None:
            doc += f" Range: [{format_bound(meta['low'])}, {format_bound(meta['high'])}]."
        for text in textwrap.wrap(doc, width=96 - indent):
            lines.append(f"{pad}# {text}")
        if meta.get("section"):
            lines.append(f"{pad}{name}:")
            lines.append(render_yaml(value, indent + 2).rstrip("\n"))
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}")
    return "\n".join(lines) + "\n"
