"""Plain-text tables of report rows for the terminal."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: (row key, column heading, format) of the per-layer table that ``essop-sim run`` prints.
RUN_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("layer", "layer", "s"),
    ("step", "step", "d"),
    ("m", "m", "d"),
    ("n", "n", "d"),
    ("K", "K", "d"),
    ("label", "hardware", "s"),
    ("cycles", "cycles", ",d"),
    ("utilization", "util", ".3f"),
    ("stall_operand", "stall_op", ",d"),
    ("rel_error", "rel_err", ".4f"),
    ("cosine", "cosine", ".4f"),
    ("energy_pj", "energy_pJ", ".4g"),
    ("energy_per_element_pj", "pJ/elem", ".3g"),
)

def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def format_table(rows: Sequence[dict[str, Any]],
                 columns: Sequence[tuple[str, str, str]] = RUN_COLUMNS) -> str:
    """Right-aligned text table of ``rows`` (missing keys shown as '-')."""
    cols = [c for c in columns if any(c[0] in r for r in rows)]
    cells = [[_cell(r.get(key), fmt) for key, _, fmt in cols] for r in rows]
    heads = [head for _, head, _ in cols]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(heads)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def totals_line(rows: Sequence[dict[str, Any]]) -> str:
    """One-line summary: total cycles, time and energy over all rows."""
    cycles = sum(r.get("cycles", 0) for r in rows)
    time_s = sum(r.get("time_s", 0.0) for r in rows)
    energy = sum(r.get("energy_pj", 0.0) for r in rows)
    return (f"total: {len(rows)} records, {cycles:,} cycles, {time_s * 1e3:.4g} ms, "
            f"{energy / 1e6:.4g} uJ")
