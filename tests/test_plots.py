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


#: The fake non-BL datapaths: label, compute-cycle divisor, energy per MAC (pJ), area (um^2),
#: rel_error, cosine and their own prefixed report columns. 'other' stands for a datapath this
#: module has never heard of.
BASELINES = {
    "fp16": ("FP16, 64 multipliers", 16, 2.0, 30000.0, 1e-3, 0.999999,
             {"fp16_multipliers": 64, "fp16_accumulator": "fp32"}),
    "other": ("Other engine, 4 lanes", 4, 0.5, 9000.0, 1e-2, 0.9999, {"other_lanes": 4}),
}


def _row(point, trace, datapath, bl, r, c, layer, n, m, K, step=0):
    """One report row: an ESSOP point (BL x r x c) unless ``datapath`` is one of BASELINES."""
    baseline = BASELINES.get(datapath)
    if baseline is None:
        compute = math.ceil(m / r) * math.ceil(n / c) * K * bl
        label, energy, area, error, cosine = (f"ESSOP BL={bl} {r}x{c}", 0.1, 1500.0,
                                              1.3 / math.sqrt(bl), 1 - 0.5 / bl)
        own = {"essop_bitstream_length": bl, "essop_array_rows": r, "essop_array_cols": c}
    else:
        label, divisor, energy, area, error, cosine, own = baseline
        compute = m * n * K // divisor + 1
    stalls = {"stall_fill": 5, "stall_operand": compute // 8, "stall_rng": 0,
              "stall_writeback": 3, "stall_drain": 2}
    cycles = compute + sum(stalls.values())
    row = {"point_index": point, "point_id": f"p{point}", "trace": trace,
           "essop.bitstream_length": bl, "essop.array.rows": r, "essop.array.cols": c,
           "datapath": datapath, "layer": layer, "step": step, "label": label, "n": n, "m": m,
           "K": K, "cycles": cycles, "ideal_cycles": compute, "time_s": cycles * 1e-9,
           "utilization": compute / cycles, "busy_and_array": compute / cycles,
           "busy_rng_bank": 0.5 * compute / cycles}
    row.update(stalls)
    row.update(rel_error=error, cosine=cosine, energy_pj=energy * n * m * K, area_um2=area,
               area_compute_um2=0.8 * area)
    row.update(own)
    return row


def _table(bls=(8, 32, 64), arrays=((8, 8), (32, 32)), fp16=True, traces=("t1",), steps=(0,),
           others=()):
    """ESSOP points over bls x arrays, then an FP16 point (``fp16``) and one of each of
    ``others`` (names of BASELINES)."""
    rows, point = [], 0
    configs = [("essop", bl, r, c) for bl in bls for r, c in arrays]
    configs += [(name, 64, 32, 32) for name in (("fp16",) if fp16 else ()) + tuple(others)]
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


#: The figures these tables are made for; the bit-serial figures (which skip tables without
#: bit-serial rows) are tested in tests/test_bitserial.py, the CBRAM figure in tests/test_cbram.py.
CORE_FIGURES = [name for name in plots.FIGURES
                if not name.startswith(("bitserial_", "cbram_"))]


def _check_svg(path):
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")


def test_plot_results_draws_every_figure_as_valid_png_and_svg(tmp_path):
    write_table(_table(), tmp_path, "sweep", {"kind": "test"})
    notes = []
    written = plots.plot_results(tmp_path, note=notes.append, only=CORE_FIGURES)
    names = sorted({p.stem for p in written})
    assert names == sorted(CORE_FIGURES)
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
    assert notes == ["skipped figure energy_area: needs a second datapath (all points are ESSOP) "
                     "or a compare report (run --compare)"]
    for name in set(CORE_FIGURES) - {"energy_area"}:  # the others are drawn without a note
        plots.FIGURES[name](read_rows(table), note=pytest.fail)


def test_a_single_run_report_gets_only_the_figures_it_supports(tmp_path):
    rows = [{k: v for k, v in r.items() if k not in ("point_id", "point_index", "trace")}
            for r in _table(bls=(64,), arrays=((32, 32),), fp16=False)]
    path = write_table(rows, tmp_path, "report", {})["csv"]
    notes = []
    written = plots.plot_results(path, tmp_path / "figs", formats=("png",), note=notes.append,
                                 only=CORE_FIGURES)
    assert [p.name for p in written] == ["cycle_breakdown.png"]
    assert len(notes) == 4 and all(n.startswith("skipped figure ") for n in notes)
    assert any("two or more bitstream lengths" in n for n in notes)


def test_several_traces_plot_the_first_with_a_note():
    notes = []
    plots.figure_cycles_vs_bl(_table(traces=("a", "b")), note=notes.append)
    assert notes == ["cycles_vs_bl: table holds 2 traces; plotting trace 'a' only"]


def test_cycles_figure_has_one_log_log_line_per_array_size_and_an_fp16_reference():
    fig = plots.figure_cycles_vs_bl(_table(bls=(8, 16, 32, 64)), note=pytest.fail)
    ax_cycles, ax_energy = fig.axes[:2]
    labels = [line.get_label() for line in ax_cycles.lines]
    assert labels == ["8x8", "32x32", "FP16, 64 multipliers"]
    assert ax_cycles.get_xscale() == "log" and ax_cycles.get_yscale() == "log"
    assert "(bits)" in ax_cycles.get_xlabel() and "cycles" in ax_cycles.get_ylabel()
    assert "(pJ)" in ax_energy.get_ylabel()  # not time: cycles / clock, the same curves
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
    rows = [dict(r, rel_error=r["rel_error"] * 1.1) if r.get("essop_array_rows") == 32 else r
            for r in _table()]
    fig = plots.figure_error_vs_bl(rows, note=pytest.fail)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[:3] == ["8x8", "32x32", "1/sqrt(BL) through BL=8 of 8x8"]


def test_error_figure_is_skipped_when_numerics_were_off():
    rows = [dict(r, rel_error=None, cosine=None) for r in _table()]
    with pytest.raises(plots.Unsupported, match="rel_error"):
        plots.figure_error_vs_bl(rows, note=pytest.fail)


def _titles(fig):
    """Every axes title of ``fig``, line breaks (wrapping) undone."""
    return [ax.get_title().replace("\n", " ") for ax in fig.axes]


def test_energy_area_uses_the_default_reference_point_and_states_the_ratio():
    fig = plots.figure_energy_area(_table(), note=pytest.fail)
    assert fig.get_suptitle() == "ESSOP BL=64 32x32 vs FP16, 64 multipliers"
    titles = _titles(fig)
    energy = sum(0.1 * n * m * K for _, n, m, K in LAYERS)
    fp16 = sum(2.0 * n * m * K for _, n, m, K in LAYERS)
    assert any(f"ESSOP BL=64 32x32 = {100 * energy / fp16:.1f}% of FP16, 64 multipliers "
               f"({fp16 / energy:.1f}x less)" in t for t in titles)
    assert any(t.startswith("Area ESSOP BL=64 32x32 = 5.0% of FP16, 64 multipliers (20.0x less)")
               for t in titles)
    ax_energy = fig.axes[0]
    assert ax_energy.get_legend_handles_labels()[1] == ["ESSOP BL=64 32x32",
                                                         "FP16, 64 multipliers"]
    assert len(ax_energy.patches) == 2 * len(LAYERS)


def test_a_third_unknown_datapath_is_a_reference_line_and_a_third_bar_group(tmp_path):
    # through the CSV, where the 'other' rows' essop_* cells come back empty (None)
    rows = read_rows(write_table(_table(others=("other",)), tmp_path, "sweep", {})["csv"])
    other, last = "Other engine, 4 lanes", rows[-1]
    assert last["label"] == other and last["essop_bitstream_length"] is None
    other_cycles = sum(r["cycles"] for r in rows if r["point_id"] == last["point_id"])

    ax = plots.figure_cycles_vs_bl(rows, note=pytest.fail).axes[0]
    assert [line.get_label() for line in ax.lines] == ["8x8", "32x32", "FP16, 64 multipliers",
                                                       other]
    fp16_line, other_line = ax.lines[2:]
    assert list(other_line.get_ydata()) == [other_cycles, other_cycles]  # horizontal
    assert other_line.get_color() != fp16_line.get_color()
    ax = plots.figure_error_vs_bl(rows, note=pytest.fail).axes[0]
    assert [line.get_label() for line in ax.lines][-2:] == ["FP16, 64 multipliers", other]
    assert ax.lines[-1].get_ydata()[0] == pytest.approx(1e-2)
    image = plots.figure_utilization(rows, note=pytest.fail).axes[0].images[0]
    assert image.get_array().shape == (2, 3)  # the BL points only

    fig = plots.figure_energy_area(rows, note=pytest.fail)
    ax_energy, ax_total = fig.axes[:2]
    assert ax_energy.get_legend_handles_labels()[1] == ["ESSOP BL=64 32x32",
                                                         "FP16, 64 multipliers", other]
    assert len(ax_energy.patches) == 3 * len(LAYERS)
    assert [t.get_text() for t in ax_total.get_xticklabels()] == ["ESSOP", "FP16", "OTHER"]
    assert [p.get_height() for p in ax_total.patches] == pytest.approx(
        [sum(f * n * m * K for _, n, m, K in LAYERS) for f in (0.1, 2.0, 0.5)])
    total = ax_total.get_title().replace("\n", " ")
    assert "= 5.0% of FP16, 64 multipliers (20.0x less)" in total
    assert f"ESSOP BL=64 32x32 = 20.0% of {other} (5.0x less)" in total
    assert fig.get_suptitle() == f"ESSOP BL=64 32x32 vs FP16, 64 multipliers vs {other}"

    notes = []
    written = plots.plot_results(tmp_path, tmp_path / "f", formats=("png",), note=notes.append,
                                 only=CORE_FIGURES)
    assert sorted(p.stem for p in written) == sorted(CORE_FIGURES) and notes == []


def test_points_of_a_table_without_labels_are_named_by_their_datapath():
    rows = [{k: v for k, v in r.items() if k != "label"} for r in _table(others=("other",))]
    ax = plots.figure_cycles_vs_bl(rows, note=pytest.fail).axes[0]
    assert [line.get_label() for line in ax.lines][-2:] == ["FP16", "OTHER"]


def _compare_report(baselines):
    """A ``run --compare`` report: one ESSOP point, per baseline B its vs_B_* columns."""
    rows = [{k: v for k, v in r.items() if k not in ("point_id", "point_index", "trace")}
            for r in _table(bls=(64,), arrays=((32, 32),), fp16=False)]
    for row in rows:
        for name in baselines:
            b = _row(0, "t1", name, 64, 32, 32, row["layer"], row["n"], row["m"], row["K"])
            p = f"vs_{name}_"
            row.update({p + "cycles": b["cycles"], p + "energy_pj": b["energy_pj"],
                        p + "area_compute_um2": b["area_compute_um2"],
                        p + "rel_error": b["rel_error"], p + "time_ratio": 0.5,
                        p + "energy_saving": 1 - row["energy_pj"] / b["energy_pj"]})
    return rows


@pytest.mark.parametrize("baselines", [("fp16",), ("fp16", "other")])
def test_a_compare_report_draws_energy_area_from_its_vs_columns(tmp_path, baselines):
    path = write_table(_compare_report(baselines), tmp_path, "report", {})["json"]
    notes = []
    written = plots.plot_results(path, tmp_path / "f", formats=("png",), note=notes.append,
                                 only=("energy_area",))
    assert [p.name for p in written] == ["energy_area.png"] and notes == []

    fig = plots.figure_energy_area(read_rows(path), note=pytest.fail)
    names = [name.upper() for name in baselines]
    assert fig.get_suptitle() == " vs ".join(["ESSOP BL=64 32x32", *names])
    ax_energy, ax_total, ax_area, ax_area_total = fig.axes
    assert ax_energy.get_legend_handles_labels()[1] == ["ESSOP BL=64 32x32", *names]
    heights = [p.get_height() for p in ax_energy.patches]  # design's bars, then each baseline's
    assert heights[len(LAYERS):2 * len(LAYERS)] == pytest.approx(
        [2.0 * n * m * K for _, n, m, K in LAYERS])
    assert "= 5.0% of FP16 (20.0x less)" in ax_total.get_title().replace("\n", " ")
    assert "compute area" in ax_area.get_ylabel()
    assert [p.get_height() for p in ax_area_total.patches] == pytest.approx(
        [1200.0, 24000.0, 7200.0][:len(baselines) + 1])  # area_compute_um2 of each side


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
    labels = [label.split(" (")[0] for label in ax.get_legend_handles_labels()[1]]
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


def test_an_unknown_point_id_is_a_one_line_error_listing_valid_ids(tmp_path, capsys):
    from essop_sim.cli import main

    table = _write(tmp_path, _table())
    assert main(["plot", str(table), "--point", "0", "-o", str(tmp_path / "f")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'0'" in err and "p0, p1, p2, p3, ..." in err
    assert not (tmp_path / "f").exists()
    assert main(["plot", str(table), "--point", "p1", "-o", str(tmp_path / "f"),
                 "--only", "cycle_breakdown", "--format", "png"]) == 0
    rows = [{k: v for k, v in r.items() if k not in ("point_id", "point_index")}
            for r in _table(bls=(64,), arrays=((32, 32),), fp16=False)]
    report = write_table(rows, tmp_path / "run", "report", {})["csv"]
    assert main(["plot", str(report), "--point", "p0"]) == 1
    assert "no point_id column" in capsys.readouterr().err
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()) as out, pytest.raises(SystemExit):
        main(["plot", "--help"])
    assert "BL=64 and a 32x32 array" in " ".join(out.getvalue().split())


def test_cycles_figure_second_panel_is_energy_and_tracks_it():
    rows = _table(bls=(8, 16, 32))
    fig = plots.figure_cycles_vs_bl(rows, note=pytest.fail)
    ax_energy = fig.axes[1]
    x, y = ax_energy.lines[0].get_data()
    assert list(x) == [8, 16, 32]
    assert y[0] == pytest.approx(sum(r["energy_pj"] for r in rows if r["point_id"] == "p0"))
    no_energy = [{k: v for k, v in r.items() if k != "energy_pj"} for r in rows]
    assert len(plots.figure_cycles_vs_bl(no_energy, note=pytest.fail).axes) == 1


def test_cycle_breakdown_legend_gives_each_share_and_flags_invisible_stalls():
    rows = _table()
    for r in rows:
        r["stall_rng"] = 1   # 1 cycle in 100k: far too thin to draw
        r["stall_operand"] += 100_000
        r["cycles"] += 100_001 - r.pop("stall_drain")  # no drain column: not listed
    fig = plots.figure_cycle_breakdown(rows, point_id="p1", note=pytest.fail)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any(label.startswith("compute (") and label.endswith("%)") for label in labels)
    assert "stall: rng (<0.1%, too thin to see)" in labels
    assert not any(label.startswith("stall: drain") for label in labels)


def test_utilization_hides_constant_busy_panels_and_unused_axes():
    rows = _table(bls=(8, 16, 32, 64))
    for r in rows:
        r["busy_comparators"] = 1.0
        r["busy_counters"] = 0.25
    fig = plots.figure_utilization(rows, note=pytest.fail)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["array utilization", "and array (busy)", "rng bank (busy)"]
    assert len(fig.axes) == 4   # three heatmaps and the colour bar: no empty slots
    suptitle = fig.get_suptitle()
    assert "not drawn" in suptitle and "comparators 1.00" in suptitle
    assert "counters 0.25" in suptitle
