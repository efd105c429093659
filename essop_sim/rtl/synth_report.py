"""Synthesised gate counts beside the cost table's areas (for ``essop-sim rtl synth``).

* :func:`synth_fp16` synthesises :class:`~.fp16_multiplier.Fp16Multiplier` for given depths D.
* :func:`synth_fp16_mac` synthesises :class:`~.fp_adder.Fp16Mac` (multiplier + accumulate).
* :func:`synth_essop_tile` synthesises an ESSOP tile (``essop_sim.rtl.essop_tile.EssopTile``,
  branch rtl-tile) of rows x cols cells at a configuration.
* :func:`compare_fp16`, :func:`compare_fp16_mac` and :func:`compare_essop` line a
  :class:`~.synth.SynthResult`'s blocks up with the cost table components that price them
  (``datapaths/<name>/cost.area_instances`` at the same configuration and size) and return
  :class:`BlockComparison` rows.
* :func:`comparison_table` renders rows as Markdown.

Block -> cost component: ESSOP ``and_array`` -> and_gate, ``counters`` -> counter (+ popcount),
``accumulators`` -> accumulator, ``comparators`` -> comparator, ``lfsr`` -> lfsr,
``shift_scaler`` -> shifter, ``pipeline`` -> register (the P stream-bit stages), ``control``
-> none (the table has no sequencer). FP16: the multiplier's combinational cells ->
fp16_multiplier, its flip-flops (pipeline ranks and valid bits) -> pipeline_register; the
table's accumulator adder and register have no RTL here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import HardwareConfig, config_from_mapping
from ..cost import estimate_area, load_cost_table
from .synth import SynthResult, synthesize

#: ESSOP tile block -> cost-table blocks of ``datapaths/essop/cost.area_instances`` (the
#: counters block holds the b-input popcount when bits_per_cycle > 1).
ESSOP_BLOCK_COMPONENTS: dict[str, tuple[str, ...]] = {
    "and_array": ("and_gate",), "counters": ("counter", "popcount"),
    "accumulators": ("accumulator",), "comparators": ("comparator",), "lfsr": ("lfsr",),
    "shift_scaler": ("shifter",), "pipeline": ("register",), "control": (), "<top>": (),
}


@dataclass(frozen=True)
class BlockComparison:
    """One block: synthesised NAND2-eq vs the cost table's area (um^2 at the table's node).

    share_synth / share_table: fraction of the compared total (blocks with both figures);
    um2_per_nand2: table area / NAND2-eq, the area the table implicitly gives one NAND2
    equivalent of this block (equal across blocks if table and synthesis agreed on ratios).
    """

    block: str
    component: str | None
    nand2_eq: float
    flip_flops: int
    table_um2: float | None
    share_synth: float | None
    share_table: float | None

    @property
    def um2_per_nand2(self) -> float | None:
        if self.table_um2 is None or self.nand2_eq <= 0:
            return None
        return self.table_um2 / self.nand2_eq


def synth_fp16(depths: tuple[int, ...] = (4,), **kwargs) -> dict[int, SynthResult]:
    """{D: SynthResult} of the FP16 multiplier at each pipeline depth D (top 'fp16mul')."""
    from .fp16_multiplier import Fp16Multiplier

    return {int(d): synthesize(Fp16Multiplier(int(d)), top_name="fp16mul", **kwargs)
            for d in depths}


def tile_config(rows: int, cols: int, config: HardwareConfig | None = None,
                **overrides) -> HardwareConfig:
    """The configuration (default: shipped) with ``essop.array`` = rows x cols."""
    from ..config import config_to_dict

    raw = config_to_dict(config) if config is not None else None
    return config_from_mapping(raw, overrides={"essop.array.rows": rows,
                                               "essop.array.cols": cols, **overrides})


def synth_essop_tile(rows: int, cols: int, config: HardwareConfig | None = None,
                     **kwargs) -> SynthResult:
    """SynthResult of an ESSOP tile of rows x cols cells (top 'tile<rows>x<cols>').

    """
    from . import essop_tile

    cfg = tile_config(rows, cols, config)
    tile = essop_tile.EssopTile(cfg, rows, cols)
    return synthesize(tile, tile.ports(), f"tile{rows}x{cols}", **kwargs)


def _rows(pairs: list[tuple[str, str | None, float, int, float | None]]
          ) -> list[BlockComparison]:
    both = [p for p in pairs if p[4] is not None]
    syn_tot = math.fsum(p[2] for p in both) or 1.0
    tab_tot = math.fsum(p[4] for p in both) or 1.0
    return [BlockComparison(b, c, eq, ff, um2,
                            eq / syn_tot if um2 is not None else None,
                            um2 / tab_tot if um2 is not None else None)
            for b, c, eq, ff, um2 in pairs]


def compare_essop(result: SynthResult, rows: int, cols: int,
                  config: HardwareConfig | None = None, table: str = "14nm"
                  ) -> list[BlockComparison]:
    """Blocks of a synthesised rows x cols ESSOP tile beside ``estimate_area`` at that size."""
    cfg = tile_config(rows, cols, config, datapath="essop")
    area = estimate_area(cfg, load_cost_table(table)).by_component
    pairs = []
    for block, count in result.blocks.items():
        comps = [c for c in ESSOP_BLOCK_COMPONENTS.get(block, ()) if c in area]
        pairs.append((block, " + ".join(comps) or None, count.nand2_eq, count.flip_flops,
                      math.fsum(area[c] for c in comps) if comps else None))
    return _rows(pairs)


def compare_fp16(result: SynthResult, depth: int, config: HardwareConfig | None = None,
                 table: str = "14nm") -> list[BlockComparison]:
    """One synthesised multiplier (logic, flip-flops) beside one multiplier of the table."""
    from ..config import config_to_dict

    raw = config_to_dict(config) if config is not None else None
    cfg = config_from_mapping(raw, overrides={"datapath": "fp16", "fp16.multipliers": 1,
                                              "fp16.pipeline_depth": int(depth)})
    area = estimate_area(cfg, load_cost_table(table)).by_component
    h = result.hierarchical_total
    return _rows([
        ("multiplier logic", "fp16_multiplier", h.logic_nand2_eq, 0, area["fp16_multiplier"]),
        ("pipeline flip-flops", "pipeline_register", h.nand2_eq - h.logic_nand2_eq,
         h.flip_flops, area["pipeline_register"]),
    ])


def synth_fp16_mac(depth: int = 4, accumulator: str = "fp32", **kwargs) -> SynthResult:
    """SynthResult of :class:`~.fp_adder.Fp16Mac` (top 'fp16mac'; blocks mul, widen, adder,
    and the top's accumulator register, side band and done flip-flops)."""
    from .fp_adder import Fp16Mac

    return synthesize(Fp16Mac(int(depth), accumulator), top_name="fp16mac", **kwargs)


def compare_fp16_mac(result: SynthResult, depth: int, accumulator: str = "fp32",
                     config: HardwareConfig | None = None, table: str = "14nm"
                     ) -> list[BlockComparison]:
    """One synthesised MAC beside one multiplier's blocks of ``fp16/cost.area_instances``:
    multiplier logic -> fp16_multiplier; its ranks, the first/last side band and done ->
    pipeline_register; widen + adder (+ the top's few gates: the first-product mux) ->
    fp16_adder / fp32_adder; the ``acc_reg`` block -> accumulator_register."""
    from ..config import config_to_dict

    raw = config_to_dict(config) if config is not None else None
    cfg = config_from_mapping(raw, overrides={"datapath": "fp16", "fp16.multipliers": 1,
                                              "fp16.pipeline_depth": int(depth),
                                              "fp16.accumulator": accumulator})
    area = estimate_area(cfg, load_cost_table(table)).by_component
    b = result.blocks
    mul, top, acc = b["mul"], b.get("<top>"), b["acc_reg"]
    top_eq = top.nand2_eq if top else 0.0
    top_ff = top.flip_flops if top else 0
    top_logic = top.logic_nand2_eq if top else 0.0
    adder = b["adder"].nand2_eq + (b["widen"].nand2_eq if "widen" in b else 0.0)
    return _rows([
        ("multiplier logic", "fp16_multiplier", mul.logic_nand2_eq, 0, area["fp16_multiplier"]),
        ("pipeline flip-flops", "pipeline_register",
         mul.nand2_eq - mul.logic_nand2_eq + top_eq - top_logic, mul.flip_flops + top_ff,
         area["pipeline_register"]),
        (f"{accumulator} adder" + (" + widen" if "widen" in b else ""),
         f"{accumulator}_adder", adder + top_logic, b["adder"].flip_flops,
         area[f"{accumulator}_adder"]),
        ("accumulator register", "accumulator_register", acc.nand2_eq, acc.flip_flops,
         area["accumulator_register"]),
    ])


def comparison_table(rows: list[BlockComparison]) -> str:
    """Markdown: block, component, NAND2-eq, share, table um^2, share, um^2 per NAND2-eq."""
    out = ["| block | table component | NAND2-eq | flip-flops | share (synth) | table um^2 "
           "| share (table) | table um^2 / NAND2-eq |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]

    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    for r in rows:
        um2 = "-" if r.table_um2 is None else f"{r.table_um2:.1f}"
        per = "-" if r.um2_per_nand2 is None else f"{r.um2_per_nand2:.3f}"
        out.append(f"| {r.block} | {r.component or '-'} | {r.nand2_eq:.1f} | {r.flip_flops} | "
                   f"{pct(r.share_synth)} | {um2} | {pct(r.share_table)} | {per} |")
    return "\n".join(out)


__all__ = [
    "ESSOP_BLOCK_COMPONENTS", "BlockComparison", "compare_essop", "compare_fp16",
    "compare_fp16_mac", "comparison_table", "synth_essop_tile", "synth_fp16",
    "synth_fp16_mac", "tile_config",
]
