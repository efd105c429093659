"""Worked example: the paper's comparison (one outer product, ESSOP vs pipelined FP16) with the
shipped cost table. Run ``python -m essop_sim.cost.paper``; ``docs/cost.md`` quotes its output
and ``tests/test_cost.py`` holds the two equal.

The activity of *one outer product* (K = 1) of an m = rows delta vector and an n = cols x vector
is what ``simulate`` prices too: the event model's counts (``essop_sim.hw.time_update``) plus the
one data-dependent count, ``counter_increments``, from the bit-exact numerics
(``essop_sim.outer_product``) on synthetic operands (ReLU activations, Gaussian errors, fixed
seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import HardwareConfig, load_config
from ..hw import time_update
from ..numerics import outer_product
from .estimate import (
    MEMORY_COMPONENTS,
    efficiency_improvement,
    estimate_area,
    estimate_energy,
)
from .table import CostTable, load_cost_table


def operands(m: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic (x [n], delta [m]): ReLU of Gaussians and Gaussians."""
    rng = np.random.default_rng(seed)
    return np.maximum(rng.standard_normal(n), 0.0), rng.standard_normal(m)


def essop_activity(config: HardwareConfig, x: np.ndarray, delta: np.ndarray) -> dict[str, int]:
    """Activity of one ESSOP outer product of delta [m] and x [n]: the event model's counts
    (``time_update``) plus the counter increments the bit-exact numerics produced."""
    activity = dict(time_update(config, delta.size, x.size, 1).activity)
    result = outer_product(x, delta, config)
    activity["counter_increments"] = result.activity["counter_increments"]
    return activity


def fp16_activity(config: HardwareConfig, m: int, n: int) -> dict[str, int]:
    """Activity of one FP16-baseline outer product (m x n products), as the event model counts."""
    return dict(time_update(config, m, n, 1).activity)


@dataclass(frozen=True)
class Point:
    """One compared operating point (compute only: operand buffer and SRAM excluded)."""

    label: str
    essop_pj_per_element: float
    fp16_pj_per_element: float
    essop_area_um2: float
    fp16_area_um2: float
    essop_cycles_per_element: float
    fp16_cycles_per_element: float
    readings: dict[str, float]
    essop_by_component: dict[str, float]
    fp16_by_component: dict[str, float]


def compare(essop: HardwareConfig, fp16: HardwareConfig, table: CostTable, label: str,
            seed: int = 0) -> Point:
    """ESSOP vs FP16 on one outer product of the ESSOP array's size."""
    m, n = essop.essop.array.rows, essop.essop.array.cols
    x, delta = operands(m, n, seed)
    elements = m * n
    ea = essop_activity(essop, x, delta)
    fa = fp16_activity(fp16, m, n)
    ee = estimate_energy(essop, ea, table, elements=elements)
    fe = estimate_energy(fp16, fa, table, elements=elements)
    ar_e = estimate_area(essop, table)
    ar_f = estimate_area(fp16, table)
    e_essop, e_fp16 = ee.total(MEMORY_COMPONENTS), fe.total(MEMORY_COMPONENTS)
    a_essop, a_fp16 = ar_e.total(MEMORY_COMPONENTS), ar_f.total(MEMORY_COMPONENTS)
    # steady-state throughput: ESSOP one outer product per stream; FP16 one product per
    # multiplier per issue interval
    c_essop = -(-essop.essop.bitstream_length // essop.essop.bits_per_cycle) / elements
    c_fp16 = fp16.fp16.issue_interval / fp16.fp16.multipliers
    readings = efficiency_improvement(e_essop, e_fp16, a_essop, a_fp16,
                                      new_cycles=c_essop, base_cycles=c_fp16)
    skip = set(MEMORY_COMPONENTS)
    return Point(label, e_essop / elements, e_fp16 / elements, a_essop, a_fp16, c_essop, c_fp16,
                 readings,
                 {k: v / elements for k, v in ee.by_component.items() if k not in skip},
                 {k: v / elements for k, v in fe.by_component.items() if k not in skip})


def points(table: CostTable | None = None) -> list[Point]:
    """The operating points of the worked example in docs/cost.md."""
    table = table if table is not None else load_cost_table("14nm")
    fp16 = load_config(overrides={"datapath": "fp16"})
    out = [compare(load_config(), fp16, table, "shipped default (BL 64)")]
    for bl in (8, 16, 32):
        out.append(compare(load_config(overrides={"essop.bitstream_length": bl}), fp16, table,
                           f"default widths, BL {bl}"))
    for bl in (8, 16):
        lean = load_config(overrides={
            "essop.bitstream_length": bl, "essop.bits_per_cycle": bl,
            "essop.counter_bits": bl.bit_length(), "essop.accumulator_bits": 16,
        })
        out.append(compare(lean, fp16, table, f"parallel streams, BL {bl}"))
    return out


def format_points(pts: list[Point]) -> str:
    """The comparison as a text table (percentages: reading A saving / reading B gain)."""
    head = (f"{'operating point':30s} {'E_essop':>8s} {'E_fp16':>8s} {'E saving':>9s} "
            f"{'E gain':>8s} {'A saving':>9s} {'A.t saving':>10s}")
    lines = [head, "-" * len(head)]
    for p in pts:
        r = p.readings
        lines.append(f"{p.label:30s} {p.essop_pj_per_element:8.4f} {p.fp16_pj_per_element:8.4f} "
                     f"{100 * r['energy_saving']:8.1f}% {100 * r['energy_efficiency_gain']:7.0f}% "
                     f"{100 * r['area_saving']:8.1f}% {100 * r['area_time_saving']:9.1f}%")
    lines.append("E in pJ per outer-product element (compute only); paper: E saving 82.2%, "
                 "area saving 93.7%")
    return "\n".join(lines)


def breakdown_line(p: Point) -> str:
    """``p``'s energy per element by component, largest first, 4 decimals (pJ): the sentence
    docs/cost.md quotes (a test holds them equal)."""
    def side(name: str, total: float, parts: dict[str, float]) -> str:
        terms = sorted(((k, v) for k, v in parts.items() if v), key=lambda kv: -kv[1])
        return f"{name} {total:.4f} = " + " + ".join(f"{k} {v:.4f}" for k, v in terms)

    return (f"Per element, {p.label} (pJ): "
            f"{side('ESSOP', p.essop_pj_per_element, p.essop_by_component)}; "
            f"{side('FP16', p.fp16_pj_per_element, p.fp16_by_component)}.")


def main() -> None:
    """Print the worked example."""
    pts = points()
    print(format_points(pts))
    for p in pts[:1] + pts[-1:]:
        print(f"\n{p.label}: pJ per element by component")
        print("  ESSOP:", {k: round(v, 5) for k, v in p.essop_by_component.items() if v})
        print("  FP16: ", {k: round(v, 5) for k, v in p.fp16_by_component.items() if v})
        print(f"  area um^2: ESSOP {p.essop_area_um2:.0f}, FP16 {p.fp16_area_um2:.0f}")
        print(" ", breakdown_line(p))


if __name__ == "__main__":
    main()
