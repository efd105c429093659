"""Trace format: round trip, atomic writes, every corruption's error, selection, synthetic
traces, the shipped default trace. No torch needed."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from essop_sim.errors import TraceError
from essop_sim.trace import (
    FORMAT_VERSION,
    TraceWriter,
    default_trace_path,
    load_trace,
    make_synthetic_trace,
    trace_info,
)
from essop_sim.trace import format as fmt
from essop_sim.workloads import LayerShape, resnet32_cifar10

CONV = {"in_channels": 2, "out_channels": 3, "kernel_size": [3, 2], "stride": [1, 1],
        "padding": [1, 0], "dilation": [1, 1], "groups": 1, "input_hw": [4, 5],
        "output_hw": [4, 4]}


def _arrays(seed: int, k: int, n: int, m: int, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((k, n)), 0).astype(dtype)
    d = (rng.standard_normal((k, m)) * 1e-3).astype(dtype)
    return x, d


@pytest.fixture
def small(tmp_path):
    """A 2-layer (linear + conv2d), 2-step trace and the arrays written into it."""
    path = tmp_path / "t"
    data = {}
    with TraceWriter(path, model="toy", dataset="random", command="make toy",
                     meta={"seed": 1}) as w:
        for step in (0, 7):
            x, d = _arrays(step, 40, 6, 4)
            w.add("fc", "linear", step, x, d, batch=40)
            data["fc", step] = (x, d)
            x, d = _arrays(100 + step, 2 * 16, 12, 3)  # conv: K = 2 * 4 * 4, n = 2 * 3 * 2
            w.add("conv", "conv2d", step, x, d, conv=CONV, batch=2)
            data["conv", step] = (x, d)
    return path, data


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def _write_manifest(path: Path, man: dict) -> None:
    (path / "manifest.json").write_text(json.dumps(man))


# ----------------------------------------------------------------------------- round trip


def test_round_trip_arrays_and_metadata(small):
    path, data = small
    trace = load_trace(path)
    assert trace.path == path
    assert [(r.layer, r.step) for r in trace] == [("fc", 0), ("conv", 0), ("fc", 7), ("conv", 7)]
    assert trace.layers == ["fc", "conv"] and trace.steps == [0, 7]
    man = trace.manifest
    assert man["format_version"] == FORMAT_VERSION and man["model"] == "toy"
    assert man["command"] == "make toy" and man["meta"] == {"seed": 1}
    assert man["framework"]["name"] == "essop_sim"
    for r in trace:
        x, d = data[r.layer, r.step]
        assert isinstance(r.x, np.memmap) and isinstance(r.delta, np.memmap)
        assert np.array_equal(r.x, x) and np.array_equal(r.delta, d)
        assert r.x.dtype == np.float32 and (r.K, r.n, r.m) == (x.shape[0], x.shape[1], d.shape[1])
        assert r.subsample == {"original_K": r.K, "method": "none", "seed": None}
        np.testing.assert_allclose(r.exact_update(chunk_k=7),
                                   d.astype(np.float64).T @ x.astype(np.float64), rtol=1e-12)
    conv = trace.get("conv", 7)
    assert conv.kind == "conv2d" and conv.conv == CONV and conv.batch == 2
    assert trace.get("fc", 0).conv is None


def test_iter_chunks_covers_rows_in_order(small):
    rec = load_trace(small[0]).get("fc", 0)
    chunks = list(rec.iter_chunks(16))
    assert [c[0].shape[0] for c in chunks] == [16, 16, 8]
    assert np.array_equal(np.concatenate([c[0] for c in chunks]), rec.x)
    assert np.array_equal(np.concatenate([c[1] for c in chunks]), rec.delta)
    with pytest.raises(ValueError, match="chunk_k"):
        next(rec.iter_chunks(0))


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_round_trip_other_dtypes(tmp_path, dtype):
    x, d = _arrays(3, 9, 5, 2, np.float64)
    with TraceWriter(tmp_path / "t", model="m", dataset="d") as w:
        w.add("fc", "linear", 0, x, d, dtype=dtype)
    rec = load_trace(tmp_path / "t")[0]
    assert rec.dtype == dtype and rec.x.dtype == np.dtype(dtype)
    assert np.array_equal(rec.x, x.astype(dtype)) and np.array_equal(rec.delta, d.astype(dtype))


def test_add_chunks_streams_and_checks_row_count(tmp_path):
    x, d = _arrays(5, 25, 4, 3)
    with TraceWriter(tmp_path / "t", model="m", dataset="d") as w:
        w.add_chunks("fc", "linear", 0, 25, 4, 3, ((x[i:i + 10], d[i:i + 10])
                                                   for i in range(0, 25, 10)))
        with pytest.raises(TraceError, match="chunks held 25 rows, expected K=30"):
            w.add_chunks("fc2", "linear", 0, 30, 4, 3, [(x, d)])
    rec = load_trace(tmp_path / "t")[0]
    assert np.array_equal(rec.x, x) and np.array_equal(rec.delta, d)
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        "manifest.json", "r0000_fc_s0.delta.npy", "r0000_fc_s0.x.npy"]


def test_verify_streams_in_blocks(small, monkeypatch):
    """With tiny read blocks the checksum still matches and a NaN deep in the file is found."""
    path, _ = small
    monkeypatch.setattr(fmt, "BLOCK_BYTES", 64)
    load_trace(path)
    rec = load_trace(path, verify=False).get("conv", 7)
    x = np.array(rec.x)
    x[29, 5] = np.nan
    _replace_array(path, rec.index, "x", x)
    with pytest.raises(TraceError, match=r"NaN at row 29, column 5"):
        load_trace(path)


# ----------------------------------------------------------------------------- atomic writes


def test_exception_inside_writer_leaves_nothing(tmp_path):
    x, d = _arrays(0, 4, 3, 2)
    with pytest.raises(RuntimeError), TraceWriter(tmp_path / "t", model="m", dataset="d") as w:
        w.add("fc", "linear", 0, x, d)
        raise RuntimeError("training crashed")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_capture_is_not_a_trace(tmp_path):
    """A writer that never closes (process killed) leaves only a hidden partial directory
    without a manifest, which load_trace refuses."""
    x, d = _arrays(0, 4, 3, 2)
    w = TraceWriter(tmp_path / "t", model="m", dataset="d")
    w.add("fc", "linear", 0, x, d)
    assert not (tmp_path / "t").exists()
    assert w.tmp.name.startswith(".t.partial-") and w.tmp.parent == tmp_path
    with pytest.raises(TraceError, match="missing manifest.*interrupted"):
        load_trace(w.tmp)
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_overwrite_rules(small, tmp_path):
    path, _ = small
    x, d = _arrays(0, 4, 3, 2)
    with pytest.raises(TraceError, match="already exists"):
        TraceWriter(path, model="m", dataset="d")
    with TraceWriter(path, model="new", dataset="d", overwrite=True) as w:
        w.add("only", "linear", 0, x, d)
    trace = load_trace(path)
    assert trace.manifest["model"] == "new" and trace.layers == ["only"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # old one and temp gone
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("keep me")
    with pytest.raises(TraceError, match="not a trace"):
        TraceWriter(tmp_path / "notes", model="m", dataset="d", overwrite=True)


def test_writer_refuses_bad_input(tmp_path):
    x, d = _arrays(0, 4, 3, 2)
    with TraceWriter(tmp_path / "t", model="m", dataset="d") as w:
        bad = x.copy()
        bad[2, 1] = np.inf
        with pytest.raises(TraceError, match="x has a non-finite value .* row 2, column 1"):
            w.add("fc", "linear", 0, bad, d)
        with pytest.raises(TraceError, match="equal K"):
            w.add("fc", "linear", 0, x, d[:3])
        with pytest.raises(TraceError, match="kind"):
            w.add("fc", "dense", 0, x, d)
        with pytest.raises(TraceError, match="conv.*expected conv geometry"):
            w.add("c", "conv2d", 0, x, d)
        with pytest.raises(TraceError, match="disagrees with in_channels"):
            w.add("c", "conv2d", 0, x, d, conv=CONV)
        w.add("fc", "linear", 0, x, d)
        with pytest.raises(TraceError, match="duplicate record"):
            w.add("fc", "linear", 0, x, d)
    assert len(load_trace(tmp_path / "t")) == 1
    with pytest.raises(TraceError, match="empty trace"), \
            TraceWriter(tmp_path / "e", model="m", dataset="d"):
        pass
    assert not (tmp_path / "e").exists()


# ----------------------------------------------------------------------------- corruption


def _replace_array(path: Path, index: int, array: str, a: np.ndarray) -> None:
    """Rewrite one array file and fix its manifest entry (so only the content is 'bad')."""
    man = _manifest(path)
    entry = man["records"][index]["files"][array]
    np.save(path / entry["file"], a)
    entry["sha256"] = fmt.sha256_file(path / entry["file"])
    entry["bytes"] = (path / entry["file"]).stat().st_size
    _write_manifest(path, man)


def _fc0(path: Path, array: str = "delta") -> Path:
    return path / _manifest(path)["records"][0]["files"][array]["file"]


def _missing_manifest(p):
    (p / "manifest.json").unlink()
    return p / "manifest.json"


def _missing_npy(p):
    f = _fc0(p)
    f.unlink()
    return f


def _truncated_npy(p):
    f = _fc0(p, "x")
    with open(f, "r+b") as fh:
        fh.truncate(f.stat().st_size - 10)
    return f


def _flipped_byte(p):
    f = _fc0(p, "x")
    raw = bytearray(f.read_bytes())
    raw[-5] ^= 0x01
    f.write_bytes(bytes(raw))
    return f


def _bad_header(p):
    f = _fc0(p, "x")
    raw = bytearray(f.read_bytes())
    raw[:6] = b"NOTNPY"
    f.write_bytes(bytes(raw))
    return f


def _nan(p):
    rec = load_trace(p, verify=False)[0]
    d = np.array(rec.delta)
    d[3, 2] = np.nan
    _replace_array(p, 0, "delta", d)
    return _fc0(p)


def _inf(p):
    rec = load_trace(p, verify=False)[0]
    x = np.array(rec.x)
    x[11, 0] = -np.inf
    _replace_array(p, 0, "x", x)
    return _fc0(p, "x")


def _shape(p):
    man = _manifest(p)
    man["records"][0]["n"] = 7
    _write_manifest(p, man)
    return _fc0(p, "x")


def _dtype(p):
    man = _manifest(p)
    man["records"][0]["dtype"] = "float64"
    _write_manifest(p, man)
    return _fc0(p, "x")


def _version(p):
    man = _manifest(p)
    man["format_version"] = 99
    _write_manifest(p, man)
    return p / "manifest.json"


def _malformed(p):
    text = (p / "manifest.json").read_text()
    (p / "manifest.json").write_text(text[: len(text) // 2])
    return p / "manifest.json"


def _missing_field(p):
    man = _manifest(p)
    del man["records"][1]["K"]
    _write_manifest(p, man)
    return p / "manifest.json"


def _steps_disagree(p):
    man = _manifest(p)
    man["steps"] = [0]
    _write_manifest(p, man)
    return p / "manifest.json"


CORRUPTIONS = [
    (_missing_manifest, r"missing manifest: not a complete trace"),
    (_missing_npy, r"missing array file"),
    (_truncated_npy, r"record 0 \(layer 'fc', step 0\) x: truncated: file is \d+ bytes, "
                     r"manifest says \d+"),
    (_flipped_byte, r"record 0 \(layer 'fc', step 0\) x: checksum mismatch"),
    (_bad_header, r"unreadable .npy header"),
    (_nan, r"record 0 \(layer 'fc', step 0\) delta: NaN at row 3, column 2"),
    (_inf, r"record 0 \(layer 'fc', step 0\) x: Inf at row 11, column 0"),
    (_shape, r"x: shape \[40, 6\] disagrees with manifest \[K, n\] = \[40, 7\]"),
    (_dtype, r"dtype <f4 disagrees with manifest dtype float64"),
    (_version, r"unknown format_version 99"),
    (_malformed, r"malformed JSON at line \d+, column \d+"),
    (_missing_field, r"manifest records\[1\]\.K: missing required field"),
    (_steps_disagree, r"manifest steps: \[0\] disagrees with the records' steps \[0, 7\]"),
]


@pytest.mark.parametrize("corrupt, message", CORRUPTIONS, ids=[c[0].__name__.strip("_")
                                                               for c in CORRUPTIONS])
def test_corruption_gives_clear_error(small, corrupt, message):
    path, _ = small
    bad_file = corrupt(path)
    with pytest.raises(TraceError, match=message) as info:
        load_trace(path)
    assert Path(str(info.value.path)) == bad_file  # the error names the offending file
    assert str(info.value).startswith(str(bad_file))


def test_verify_false_skips_content_checks_but_not_shapes(small):
    path, data = small
    _flipped_byte(path)
    rec = load_trace(path, verify=False)[0]  # checksum not checked without verify
    assert not np.array_equal(rec.x, data["fc", 0][0])
    _shape(path)
    with pytest.raises(TraceError, match="disagrees with manifest"):
        _ = load_trace(path, verify=False)[0].x  # header still checked on first access


def test_not_a_directory(tmp_path):
    with pytest.raises(TraceError, match="not a directory"):
        load_trace(tmp_path / "nope")


# ----------------------------------------------------------------------------- selection


def test_select_layers_and_steps(small):
    path, _ = small
    t = load_trace(path, layers=["conv"], steps=7)
    assert [(r.layer, r.step) for r in t] == [("conv", 7)]
    assert [r.layer for r in load_trace(path, layers="c*")] == ["conv", "conv"]
    assert len(load_trace(path).select(steps=[0])) == 2
    with pytest.raises(TraceError, match=r"no layer matches 'fc2'; the trace has layers"):
        load_trace(path, layers=["fc2"])
    with pytest.raises(TraceError, match=r"steps \[3\] not in the trace; it has steps \[0, 7\]"):
        load_trace(path, steps=[0, 3])
    with pytest.raises(TraceError, match="no record for layer 'fc' at step 1"):
        load_trace(path).get("fc", 1)


def test_selection_verifies_only_selected_records(small):
    path, _ = small
    _flipped_byte(path)  # corrupts fc at step 0
    assert len(load_trace(path, steps=[7])) == 2
    with pytest.raises(TraceError, match="checksum"):
        load_trace(path, layers=["fc"])


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_statistics(tmp_path):
    path = make_synthetic_trace(tmp_path / "s", [("a", "linear", 64, 32, 4000)], seed=3,
                                x_zero_fraction=0.4, delta_zero_fraction=0.2)
    rec = load_trace(path)[0]
    x, d = np.asarray(rec.x, np.float64), np.asarray(rec.delta, np.float64)
    assert x.min() == 0.0 and abs(np.mean(x == 0) - 0.4) < 0.01
    assert abs(np.mean(d == 0) - 0.2) < 0.01
    nz = d[d != 0]
    assert np.mean(nz > 0) == pytest.approx(0.5, abs=0.02)  # signed, symmetric
    assert 1e-4 < np.median(np.abs(nz)) < 1e-2  # small
    kurtosis = np.mean((nz - nz.mean()) ** 4) / np.var(nz) ** 2
    assert kurtosis > 6  # heavy-tailed (a Gaussian gives 3)
    col_means = x.mean(axis=0)
    assert col_means.max() / col_means.min() > 2  # per-feature scales differ, as in real x


def test_synthetic_is_deterministic_and_accepts_layer_shapes(tmp_path):
    shapes = resnet32_cifar10(batch=1)
    a = make_synthetic_trace(tmp_path / "a", shapes[:3] + shapes[-1:], seed=5, max_k=300,
                             steps=(0, 2))
    b = make_synthetic_trace(tmp_path / "b", shapes[:3] + shapes[-1:], seed=5, max_k=300,
                             steps=(0, 2))
    c = make_synthetic_trace(tmp_path / "c", shapes[:1], seed=6, max_k=300)
    ta, tb, tc = load_trace(a), load_trace(b), load_trace(c)
    assert [r.files for r in ta] == [r.files for r in tb]
    assert ta[0].files["x"]["sha256"] != tc[0].files["x"]["sha256"]
    assert ta.steps == [0, 2] and ta.layers == ["conv1", "stage1.block0.conv1",
                                                "stage1.block0.conv2", "fc"]
    conv1 = ta.get("conv1", 0)
    assert (conv1.n, conv1.m, conv1.K) == (27, 16, 300)
    assert conv1.subsample == {"original_K": 1024, "method": "synthetic_cap", "seed": 5}
    assert conv1.conv["kernel_size"] == [3, 3] and conv1.conv["in_channels"] == 3
    fc = ta.get("fc", 2)
    assert (fc.n, fc.m, fc.K, fc.kind) == (64, 10, 1, "linear")
    assert fc.subsample["method"] == "none"
    assert fc.layer_shape() == LayerShape("fc", "linear", 64, 10, 1)


def test_synthetic_float16_and_bad_layers(tmp_path):
    p = make_synthetic_trace(tmp_path / "h", [LayerShape("l", "linear", 8, 4, 50)],
                             dtype="float16")
    assert load_trace(p)[0].x.dtype == np.float16
    with pytest.raises(TraceError, match="kind must be"):
        make_synthetic_trace(tmp_path / "z", [("l", "rnn", 8, 4, 50)])
    with pytest.raises(TraceError, match="n must be a positive integer"):
        make_synthetic_trace(tmp_path / "z", [("l", "linear", 0, 4, 50)])
    assert not (tmp_path / "z").exists()


# ----------------------------------------------------------------------------- info


def test_trace_info_text(small):
    path, _ = small
    text = trace_info(path)
    assert text.splitlines()[0] == f"trace: {path}"
    assert "command: make toy" in text and "steps: [0, 7]" in text
    assert "verified: sizes, sha256 and finiteness OK" in text
    rows = [ln.split() for ln in text.splitlines() if ln.startswith("  fc ")
            or ln.startswith("  conv ")]
    assert [r[:6] for r in rows] == [["fc", "linear", "0", "6", "4", "40"],
                                     ["conv", "conv2d", "0", "12", "3", "32"],
                                     ["fc", "linear", "7", "6", "4", "40"],
                                     ["conv", "conv2d", "7", "12", "3", "32"]]
    _flipped_byte(path)
    with pytest.raises(TraceError, match="checksum"):
        trace_info(path)
    assert "verified: no" in trace_info(path, verify=False, stats=False)


# ----------------------------------------------------------------------------- shipped trace


def test_shipped_default_trace_loads_and_verifies():
    path = default_trace_path()
    trace = load_trace(path)  # full verification: sizes, sha256, finiteness
    man = trace.manifest
    total = sum(f.stat().st_size for f in path.iterdir())
    assert total <= 3 * 2**20
    assert man["model"] == "digits_cnn" and man["framework"]["name"] == "torch"
    assert man["command"].startswith("python scripts/dump_traces.py --model cnn "
                                     "--out traces/digits_cnn ")
    assert trace.layers == ["conv1", "conv2", "conv3", "fc"]
    assert trace.steps[0] == 0 and len(trace.steps) >= 2
    assert trace.steps[-1] == man["meta"]["training"]["steps_total"] - 1  # the last step
    assert man["meta"]["results"]["test_accuracy"] > 0.9
    for r in trace:
        assert r.subsample["method"] == "none" and r.dtype == "float32"
        if r.kind == "conv2d":
            g = r.conv
            assert r.n == g["in_channels"] * math.prod(g["kernel_size"])
            assert r.batch * math.prod(g["output_hw"]) == r.K
        else:
            assert r.batch == r.K
        assert np.all(np.asarray(r.x) >= 0)  # pixels in [0, 1] or ReLU outputs
    late = trace.get("fc", trace.steps[-1])
    assert np.abs(late.exact_update()).max() > 0  # a real, non-trivial gradient


def test_default_trace_path_is_package_data():
    import essop_sim
    assert default_trace_path() == (Path(essop_sim.__file__).resolve().parent / "data"
                                    / "traces" / "digits_cnn")
    assert os.path.isfile(default_trace_path() / "manifest.json")


def test_pyproject_package_data_ships_the_trace_and_matches_files():
    """Every package-data pattern matches a file, and the default trace's files are matched
    (a non-editable install ran nothing before: the trace was outside the package)."""
    tomllib = pytest.importorskip("tomllib")

    import essop_sim
    root = Path(essop_sim.__file__).resolve().parent
    project = tomllib.loads((root.parent / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["essop_sim"]
    matched = set()
    for pattern in patterns:
        hits = {p for p in root.glob(pattern) if p.is_file()}
        assert hits, f"package-data pattern {pattern!r} matches nothing"
        matched |= hits
    assert set(default_trace_path().iterdir()) <= matched


def test_failed_overwrite_puts_the_previous_trace_back(tmp_path, monkeypatch):
    path = tmp_path / "t"
    x, d = np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)
    with TraceWriter(path, model="old", dataset="d") as w:
        w.add("fc", "linear", 0, x, d)
    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name.startswith(".t.partial"):  # the final move into place fails
            raise OSError("disk trouble")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    # the two-rename swap (where the platform cannot exchange two paths atomically)
    monkeypatch.setattr("essop_sim.trace.writer.exchange", lambda a, b: False)
    with pytest.raises(OSError, match="disk trouble"), \
            TraceWriter(path, model="new", dataset="d", overwrite=True) as w:
        w.add("fc", "linear", 0, 2 * x, d)
    monkeypatch.undo()
    assert load_trace(path).manifest["model"] == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
