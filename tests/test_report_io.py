"""Atomic result writers: JSON, CSV, tables; exact round trips; no partial files."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from essop_sim import __version__
from essop_sim.report import io as rio


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_json_round_trip_converts_numpy_and_non_finite(tmp_path):
    obj = {"a": np.int64(3), "b": np.float32(0.5), "c": [np.float64("nan"), math.inf, 1.25],
           "d": np.arange(3), "e": (1, "x"), "f": {"g": np.bool_(True)}, "p": tmp_path}
    path = rio.write_json_atomic(tmp_path / "sub" / "x.json", obj)
    back = json.loads(path.read_text())  # strict JSON: no NaN tokens
    assert back == {"a": 3, "b": 0.5, "c": [None, None, 1.25], "d": [0, 1, 2], "e": [1, "x"],
                    "f": {"g": True}, "p": str(tmp_path)}
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()
    assert _leftovers(path.parent) == []


def test_json_rejects_unknown_types_without_touching_the_file(tmp_path):
    path = tmp_path / "x.json"
    rio.write_json_atomic(path, {"old": 1})
    with pytest.raises(TypeError, match="object"):
        rio.write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"old": 1}
    assert _leftovers(tmp_path) == []


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("old\n")

    def half_then_fail(fh):
        fh.write("new, partial")
        raise KeyboardInterrupt  # as if Ctrl-C arrived mid-write

    with pytest.raises(KeyboardInterrupt):
        rio.atomic_write(path, half_then_fail)
    assert path.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_atomic_write_replaces_by_rename(tmp_path):
    path = tmp_path / "a.json"
    rio.write_json_atomic(path, [1])
    with open(path, encoding="utf-8") as held:  # a reader holding the old file keeps it
        rio.write_json_atomic(path, [2])
        assert json.load(held) == [1]
    assert json.loads(path.read_text()) == [2]


def test_csv_columns_are_the_union_in_first_seen_order(tmp_path):
    rows = [{"b": 1, "a": 2}, {"a": 3, "c": 4}, {"d": None, "b": 5}]
    assert rio.csv_columns(rows) == ["b", "a", "c", "d"]
    path = rio.write_csv_atomic(tmp_path / "t.csv", rows)
    lines = path.read_text().splitlines()
    assert lines == ["b,a,c,d", "1,2,,", ",3,4,", "5,,,"]
    explicit = rio.write_csv_atomic(tmp_path / "u.csv", rows, columns=["d", "c", "b", "a"])
    assert explicit.read_text().splitlines()[0] == "d,c,b,a"
    with pytest.raises(ValueError, match="row 1 has keys not in the column list"):
        rio.write_csv_atomic(tmp_path / "v.csv", rows, columns=["a", "b"])


def test_csv_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(7)
    floats = list(rng.standard_normal(50) * 10.0 ** rng.integers(-30, 30, 50))
    rows = [{"layer": f"conv{i}", "i": i, "x": float(f), "f32": np.float32(f), "flag": i % 2 == 0,
             "none": None, "text": 'a, "quoted" cell', "lst": [1, 2.5]}
            for i, f in enumerate(floats)]
    rows[3]["x"] = float("nan")
    path = rio.write_csv_atomic(tmp_path / "t.csv", rows)
    back = rio.read_rows(path)
    assert len(back) == len(rows)
    for r, b in zip(rows, back, strict=True):
        assert b["layer"] == r["layer"] and b["i"] == r["i"] and b["flag"] == r["flag"]
        assert b["f32"] == float(r["f32"])  # float32 widened exactly
        assert b["none"] is None and b["text"] == r["text"] and b["lst"] == [1, 2.5]
        if math.isnan(r["x"]):
            assert b["x"] is None
        else:
            assert b["x"] == r["x"]  # bit-identical, not approximately equal


def test_write_table_writes_csv_json_and_parquet_only_with_pyarrow(tmp_path):
    rows = [{"layer": "fc1", "cycles": 10, "rel_error": 0.125},
            {"layer": "fc2", "cycles": 20, "rel_error": 0.25, "extra": "x"}]
    meta = {"config": {"datapath": "essop", "essop": {"bitstream_length": 64}}, "trace": "t"}
    written = rio.write_table(rows, tmp_path / "out", "report", meta)
    assert written["csv"] == tmp_path / "out" / "report.csv"
    data = json.loads(written["json"].read_text())
    assert data["meta"]["config"] == meta["config"] and data["meta"]["version"] == __version__
    assert data["columns"] == ["layer", "cycles", "rel_error", "extra"]
    assert data["rows"] == rows
    assert rio.read_rows(written["json"]) == rows
    assert rio.read_rows(written["csv"]) == [dict(r, extra=r.get("extra")) for r in rows]
    assert "version" not in meta  # the caller's mapping is not modified
    parquet = tmp_path / "out" / "report.parquet"
    if rio.have_parquet():
        assert written["parquet"] == parquet
        assert rio.read_rows(parquet)[1]["cycles"] == 20
    else:
        assert "parquet" not in written and not parquet.exists()
    assert _leftovers(tmp_path / "out") == []


def test_write_table_without_pyarrow_writes_no_parquet(tmp_path, monkeypatch):
    monkeypatch.setattr(rio, "have_parquet", lambda: False)
    written = rio.write_table([{"a": 1}], tmp_path, "t", {})
    assert set(written) == {"csv", "json"}
    assert sorted(os.listdir(tmp_path)) == ["t.csv", "t.json"]


def test_read_rows_rejects_unknown_formats(tmp_path):
    bad = tmp_path / "t.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match="unknown table format"):
        rio.read_rows(bad)
    notable = tmp_path / "t.json"
    notable.write_text('{"meta": 1}')
    with pytest.raises(ValueError, match="rows"):
        rio.read_rows(notable)


def test_atomic_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = rio.write_json_atomic(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
