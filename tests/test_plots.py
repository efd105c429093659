"""Figures from hand-made tables: what each figure needs, skips with notes, valid image files.

(The end-to-end path, real simulator -> sweep table -> figures, is in test_sweep.py.)
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import matplotlib.image
import pytest

from essop_sim.report import plots
from essop_sim.report.io import read_rows, write_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LAYERS = [("conv1", 9, 8, 64), ("fc", 32, 10, 4)]


def _row(point, trace, datapath, bl, r, c, layer, n, m, K, step=0):
    essop = datapath == "essop"
    compute = (math.ceil(m / r) * math.ceil(n / c) * K * bl) if essop else m * n * K // 16 + 1
    stalls = {"stall_fill": 5, "stall_operand": compute // 8, "stall_rng": 0,
              "stall_writeback": 3, "stall_drain": 2}
    cycles = compute + sum(stalls.values())
    row = {"point_index": point, "point_id": f"p{point}", "trace": trace,
           "essop.bitstream_length": bl, "essop.array.rows": r, "essop.array.cols": c,
           "datapath": datapath, "layer": layer, "step": step, "n": n, "m": m, "K": K,
           "bitstream_length": bl if essop else 0, "array_rows": r if essop else 0,
           "array_cols": c if essop else 0, "multipliers": 0 if essop else 64,
           "cycles": cycles, "ideal_cycles": compute, "time_s": cycles * 1e-9,
           "utilization": compute / cycles, "busy_and_array": compute / cycles,
           "busy_rng_bank": 0.5 * compute / cycles}
    row.update(stalls)
    row.update(rel_error=(1.3 / math.sqrt(bl)) if essop else 1e-3,
               cosine=(1 - 0.5 / bl) if essop else 0.999999, energy_pj=(0.1 if essop else 2.0)
               * n * m * K, area_um2=1500.0 if essop else 30000.0)
    return row


def _table(bls=(8, 32, 64), arrays=((8, 8), (32, 32)), fp16=True, traces=("t1",), steps=(0,)):
    rows, point = [], 0
    configs = [("essop", bl, r, c) for bl in bls for r, c in arrays]
    if fp16:
        configs.append(("fp16", 64, 32, 32))
    for datapath, bl, r, c in configs:
        for trace in traces:
            for step in steps:
                for layer, n, m, K in LAYERS:
                    rows.append(_row(point, trace, datapath, bl, r, c, layer, n, m, K, step))
            point += 1
    return rows


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def _check_svg(path):
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")


def test_plot_results_draws_every_figure_as_valid_png_and_svg(tmp_path):
    write_table(_table(), tmp_path, "sweep", {"kind": "test"})
    notes = []
    written = plots.plot_results(tmp_path, note=notes.append)
    names = sorted({p.stem for p in written})
    assert names == sorted(plots.FIGURES)
    assert notes == []
    for path in written:
        assert path.parent == tmp_path / "figures"
        (_check_png if path.suffix == ".png" else _check_svg)(path)
    assert sorted({p.suffix for p in written}) == [".png", ".svg"]


def test_a_table_without_fp16_skips_the_energy_comparison_with_a_note(tmp_path):
    notes = []
    table = _write(tmp_path, _table(fp16=False))
    written = plots.plot_results(table, tmp_path / "f", formats=("png",), note=notes.append,
                                 only=("energy_area", "cycle_breakdown"))
    assert [p.name for p in written] == ["cycle_breakdown.png"]
    assert notes == ["skipped figure energy_area: needs an ESSOP and an FP16 point (no FP16 "
                     "rows)"]
    for name in set(plots.FIGURES) - {"energy_area"}:  # the others are drawn without a note
        plots.FIGURES[name](read_rows(table), note=pytest.fail)


def test_a_single_run_report_gets_only_the_figures_it_supports(tmp_path):
    rows = [{k: v for k, v in r.items() if k not in ("point_id", "point_index", "trace")}
            for r in _table(bls=(64,), arrays=((32, 32),), fp16=False)]
    path = write_table(rows, tmp_path, "report", {})["csv"]
    notes = []
    written = plots.plot_results(path, tmp_path / "figs", formats=("png",), note=notes.append)
    assert [p.name for p in written] == ["cycle_breakdown.png"]
    assert len(notes) == 4 and all(n.startswith("skipped figure ") for n in notes)
    assert any("two or more bitstream lengths" in n for n in notes)


def test_several_traces_plot_the_first_with_a_note():
    notes = []
    plots.figure_cycles_vs_bl(_table(traces=("a", "b")), note=notes.append)
    assert notes == ["cycles_vs_bl: table holds 2 traces; plotting trace 'a' only"]


def test_cycles_figure_has_one_log_log_line_per_array_size_and_an_fp16_reference():
    fig = plots.figure_cycles_vs_bl(_table(bls=(8, 16, 32, 64)), note=pytest.fail)
    ax_cycles, ax_time = fig.axes[:2]
    labels = [line.get_label() for line in ax_cycles.lines]
    assert labels == ["8x8", "32x32", "FP16, 64 multipliers"]
    assert ax_cycles.get_xscale() == "log" and ax_cycles.get_yscale() == "log"
    assert "(bits)" in ax_cycles.get_xlabel() and "cycles" in ax_cycles.get_ylabel()
    assert "(s)" in ax_time.get_ylabel()
    x, y = ax_cycles.lines[0].get_data()
    assert list(x) == [8, 16, 32, 64]
    expected = sum(r["cycles"] for r in _table(bls=(8,)) if r["point_id"] == "p0")
    assert y[0] == expected  # per step, summed over layers


def test_steps_are_averaged_so_totals_are_per_step():
    one = plots.figure_cycles_vs_bl(_table(steps=(0,)), note=pytest.fail)
    two = plots.figure_cycles_vs_bl(_table(steps=(0, 5)), note=pytest.fail)
    assert list(one.axes[0].lines[0].get_ydata()) == list(two.axes[0].lines[0].get_ydata())


def test_error_figure_reference_line_passes_through_the_smallest_bl_point():
    fig = plots.figure_error_vs_bl(_table(), note=pytest.fail)
    ax = fig.axes[0]
    # the array size does not change the numerics: one line stands for both array sizes
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["all 2 array sizes (identical)",
                      "1/sqrt(BL) through BL=8 of all 2 array sizes (identical)",
                      "FP16, 64 multipliers"]
    ref = ax.lines[1]
    xs, ys = ref.get_data()
    assert xs[0] == 8 and ys[0] == pytest.approx(1.3 / math.sqrt(8))
    assert ys[-1] == pytest.approx(1.3 / math.sqrt(64))  # the fake error is exactly 1.3/sqrt(BL)
    assert "cosine" in fig.axes[1].get_ylabel()


def test_error_figure_keeps_one_line_per_array_size_when_they_differ():
    rows = [dict(r, rel_error=r["rel_error"] * 1.1) if r["array_rows"] == 32 else r
            for r in _table()]
    fig = plots.figure_error_vs_bl(rows, note=pytest.fail)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[:3] == ["8x8", "32x32", "1/sqrt(BL) through BL=8 of 8x8"]


def test_error_figure_is_skipped_when_numerics_were_off():
    rows = [dict(r, rel_error=None, cosine=None) for r in _table()]
    with pytest.raises(plots.Unsupported, match="rel_error"):
        plots.figure_error_vs_bl(rows, note=pytest.fail)


def test_energy_area_uses_the_default_reference_point_and_states_the_ratio():
    fig = plots.figure_energy_area(_table(), note=pytest.fail)
    assert "BL=64, 32x32" in fig.get_suptitle()
    titles = [ax.get_title() for ax in fig.axes]
    energy = sum(0.1 * n * m * K for _, n, m, K in LAYERS)
    fp16 = sum(2.0 * n * m * K for _, n, m, K in LAYERS)
    assert any(f"{100 * energy / fp16:.1f}% of FP16" in t for t in titles)
    assert any("5.0% of FP16 (20.0x less)".replace(" (", "\n(") in t for t in titles)  # area


def test_cycle_breakdown_stacks_compute_and_stalls_to_the_total_cycles():
    rows = _table()
    fig = plots.figure_cycle_breakdown(rows, point_id="p1", note=pytest.fail)
    ax = fig.axes[0]
    tops = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        tops[x] = max(tops.get(x, 0.0), patch.get_y() + patch.get_height())
    expected = [r["cycles"] for r in rows if r["point_id"] == "p1"]
    assert [tops[i] for i in range(len(LAYERS))] == pytest.approx(expected)
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "compute" and "stall: operand" in labels and "stall: rng" not in labels
    with pytest.raises(plots.Unsupported, match="no point"):
        plots.figure_cycle_breakdown(rows, point_id="nope", note=pytest.fail)


def test_utilization_heatmap_has_a_panel_per_block_and_a_fixed_colour_scale():
    fig = plots.figure_utilization(_table(), note=pytest.fail)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert titles == ["array utilization", "and array (busy)", "rng bank (busy)"]
    image = fig.axes[0].images[0]
    assert image.get_clim() == (0.0, 1.0)
    assert image.get_array().shape == (2, 3)  # array sizes x bitstream lengths


def test_figures_are_reproducible_bytes(tmp_path):
    rows = _table()
    a = plots.plot_cycle_breakdown(rows, tmp_path / "a", formats=("svg", "png"))
    b = plots.plot_cycle_breakdown(rows, tmp_path / "b", formats=("svg", "png"))
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes()


def _write(tmp_path, rows):
    return write_table(rows, tmp_path, "sweep", {})["json"]
