"""Capture from PyTorch (operands equal weight.grad, recording round trip, subsampling), the
reference models, the datasets (CIFAR-10 reader on a synthetic stand-in in CIFAR's own pickle
format) and scripts/dump_traces.py. Tests needing torch are marked ``torch``."""

from __future__ import annotations

import importlib.util
import json
import math
import pickle
import zlib
from pathlib import Path

import numpy as np
import pytest

from essop_sim.datasets import DatasetError, load_cifar10, normalize_cifar10, read_cifar10_batch
from essop_sim.errors import TraceError
from essop_sim.trace import load_trace
from essop_sim.workloads import resnet32_cifar10

ROOT = Path(__file__).resolve().parents[1]


def _dump_module():
    spec = importlib.util.spec_from_file_location("dump_traces", ROOT / "scripts" /
                                                  "dump_traces.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# ----------------------------------------------------------------------------- CIFAR-10 stand-in


def write_cifar_standin(root: Path, per_batch: int = 3, test: int = 2) -> Path:
    """CIFAR-10's python format: pickled dicts with bytes keys (as the original Python 2
    cPickle files read with encoding='bytes'), 'data' uint8 [N, 3072] channel-major."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(files):
        n = test if name == "test_batch" else per_batch
        batch = {b"batch_label": f"{name} of 6".encode(),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)],
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"filenames": [f"img_{i}_{j}.png".encode() for j in range(n)]}
        with open(d / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane"] * 10, b"num_vis": 3072}, f, protocol=2)
    return d


def test_cifar10_reader_on_standin(tmp_path):
    d = write_cifar_standin(tmp_path)
    with open(d / "data_batch_2", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    split = load_cifar10(tmp_path)  # finds cifar-10-batches-py/ below the given directory
    assert split.x_train.shape == (15, 3, 32, 32) and split.x_train.dtype == np.uint8
    assert split.x_test.shape == (2, 3, 32, 32) and split.y_train.dtype == np.int64
    # image 0 of batch 2 is training image 3; pixel (c, h, w) = data[c*1024 + h*32 + w]
    assert split.x_train[3, 2, 5, 7] == raw[b"data"][0, 2 * 1024 + 5 * 32 + 7]
    assert np.array_equal(split.x_train[3:6].reshape(3, -1), raw[b"data"])
    assert list(split.y_train[3:6]) == raw[b"labels"]
    limited = load_cifar10(d, limit_train=4, limit_test=1)
    assert limited.x_train.shape[0] == 4 and limited.x_test.shape[0] == 1
    norm = normalize_cifar10(split.x_train)
    assert norm.dtype == np.float32 and norm.shape == split.x_train.shape
    assert abs(norm[0, 0, 0, 0] - (split.x_train[0, 0, 0, 0] / 255 - 0.4914) / 0.2470) < 1e-5


def test_cifar10_reader_errors(tmp_path):
    with pytest.raises(DatasetError, match="never downloads"):
        load_cifar10(tmp_path)
    d = write_cifar_standin(tmp_path)
    (d / "data_batch_4").unlink()
    with pytest.raises(DatasetError, match=r"missing CIFAR-10 batch files \['data_batch_4'\]"):
        load_cifar10(d)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (d / "evil").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DatasetError, match=r"refusing to load global (__builtin__|builtins).print"):
        read_cifar10_batch(d / "evil")
    (d / "short").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8),
                                            b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DatasetError, match=r"'data' must be uint8 \[N, 3072\]"):
        read_cifar10_batch(d / "short")


def test_digits_loader():
    from essop_sim.datasets import load_digits
    s = load_digits(seed=0)
    assert s.x_train.shape == (1437, 1, 8, 8) and s.x_test.shape == (360, 1, 8, 8)
    assert s.x_train.dtype == np.float32 and s.x_train.min() >= 0.0 and s.x_train.max() <= 1.0
    assert sorted(set(s.y_train.tolist())) == list(range(10))


def test_parse_steps():
    parse = _dump_module().parse_steps
    assert parse("0,-1", 440) == [0, 439]
    assert parse("0:100:25,-1", 440) == [0, 25, 50, 75, 439]
    assert parse(":3", 10) == [0, 1, 2]
    with pytest.raises(ValueError, match="outside the run's 10 steps"):
        parse("10", 10)


def test_capture_without_torch_says_how_to_install(monkeypatch, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "torch", None)  # makes 'import torch' fail
    from essop_sim.trace import layer_operands, record
    with pytest.raises(ImportError, match=r"pip install 'essop-sim\[torch\]'"):
        record(object(), tmp_path / "t")
    with pytest.raises(ImportError, match="PyTorch is needed"):
        layer_operands(None, None, None)
    assert not (tmp_path / "t").exists()


# ----------------------------------------------------------------------------- operands


@pytest.mark.torch
def test_linear_operands_equal_weight_grad(torch):
    from essop_sim.trace import layer_operands
    torch.manual_seed(0)
    lin = torch.nn.Linear(7, 5).double()
    x = torch.randn(4, 3, 7, dtype=torch.float64, requires_grad=True)  # extra leading dim
    out = lin(x)
    g = torch.randn_like(out)
    out.backward(g)
    xs, ds = layer_operands(lin, (x,), (g,))
    assert xs.shape == (12, 7) and ds.shape == (12, 5)
    torch.testing.assert_close(ds.T @ xs, lin.weight.grad, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ds.sum(0), lin.bias.grad, rtol=1e-12, atol=1e-14)


CONV_CASES = [
    dict(cin=3, cout=4, kernel_size=3, stride=1, padding=1, dilation=1, hw=(6, 6)),
    dict(cin=2, cout=5, kernel_size=3, stride=2, padding=1, dilation=1, hw=(7, 9)),
    dict(cin=2, cout=3, kernel_size=(2, 3), stride=(2, 1), padding=(1, 2), dilation=1,
         hw=(8, 7)),
    dict(cin=3, cout=2, kernel_size=3, stride=1, padding=2, dilation=2, hw=(7, 7)),
    dict(cin=2, cout=3, kernel_size=(3, 2), stride=(1, 2), padding=0, dilation=(2, 3),
         hw=(9, 10)),
    dict(cin=2, cout=2, kernel_size=(2, 4), stride=1, padding="same", dilation=1, hw=(5, 6)),
    dict(cin=1, cout=3, kernel_size=3, stride=2, padding="valid", dilation=1, hw=(9, 9)),
    dict(cin=4, cout=2, kernel_size=1, stride=2, padding=0, dilation=1, hw=(8, 8)),
]


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "k{kernel_size}-s{stride}-p{padding}"
                         "-d{dilation}".format(**c).replace(" ", ""))
def test_conv_operands_equal_weight_grad(torch, case):
    from essop_sim.trace import layer_operands
    from essop_sim.trace.capture import conv_geometry
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(case["cin"], case["cout"], case["kernel_size"], stride=case["stride"],
                           padding=case["padding"], dilation=case["dilation"]).double()
    x = torch.randn(3, case["cin"], *case["hw"], dtype=torch.float64, requires_grad=True)
    out = conv(x)
    g = torch.randn_like(out)
    out.backward(g)
    xs, ds = layer_operands(conv, x, g)
    b, cout, ho, wo = out.shape
    kh, kw = conv.kernel_size
    assert xs.shape == (b * ho * wo, case["cin"] * kh * kw) and ds.shape == (b * ho * wo, cout)
    torch.testing.assert_close(ds.T @ xs, conv.weight.grad.reshape(cout, -1), rtol=1e-12,
                               atol=1e-13)
    geo = conv_geometry(conv, case["hw"], (ho, wo))
    assert geo["output_hw"] == [ho, wo] and geo["kernel_size"] == [kh, kw]


# Every convolution dimensionality, transposed and grouped, with stride, padding (incl. 'same' and
# non-zero padding modes), dilation and output_padding: (class, args, kwargs, input shape).
ND_CASES = [
    ("Conv1d", (3, 4, 3), dict(stride=2, padding=2, dilation=2), (2, 3, 11)),
    ("Conv1d", (4, 6, 4), dict(padding="same", groups=2), (2, 4, 9)),
    ("Conv1d", (3, 2, 3), dict(padding=2, padding_mode="circular"), (2, 3, 7)),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=(2, 1), padding=1, groups=2,
                                     padding_mode="reflect"), (2, 4, 7, 6)),
    ("Conv2d", (4, 4, 3), dict(padding=1, groups=4), (2, 4, 5, 5)),  # depthwise
    ("Conv3d", (2, 4, (2, 3, 3)), dict(stride=(1, 2, 1), padding=(1, 0, 2),
                                        dilation=(2, 1, 1)), (2, 2, 5, 7, 6)),
    ("Conv3d", (4, 6, 3), dict(padding="same", groups=2, padding_mode="replicate"),
     (2, 4, 4, 5, 3)),
    ("ConvTranspose1d", (3, 2, 3), dict(stride=2, padding=2, dilation=3, output_padding=2),
     (3, 3, 7)),  # output_padding >= stride (allowed below dilation): extra positions dropped
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (3, 4, 7)),
    ("ConvTranspose2d", (3, 4, (3, 2)), dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2),
                                              output_padding=(1, 2)), (2, 3, 5, 4)),
    ("ConvTranspose3d", (4, 2, 2), dict(stride=2, groups=2, output_padding=1, dilation=3),
     (2, 4, 3, 2, 3)),
    ("ConvTranspose3d", (2, 3, (1, 2, 3)), dict(stride=(1, 2, 1), padding=(0, 1, 1)),
     (2, 2, 3, 4, 5)),
]


def _nd_id(case):
    name, args, kw, _ = case
    return name + "-" + "-".join(f"{k}{v}" for k, v in kw.items()).replace(" ", "")


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", ND_CASES, ids=_nd_id)
def test_nd_transposed_grouped_operands_equal_weight_grad(torch, case):
    """delta^T x (float64) from the operands is weight.grad, for one call and for an unbatched
    call; per group, delta_j^T x_j is the group's rows of weight.grad."""
    from essop_sim.trace.capture import layer_kind, layer_operand_groups, layer_operands
    name, args, kw, shape = case
    torch.manual_seed(2)
    mod = getattr(torch.nn, name)(*args, **kw).double()
    x = torch.randn(*shape, dtype=torch.float64)
    out = mod(x)
    g = torch.randn_like(out)
    out.backward(g)
    w = mod.weight.grad.reshape(mod.weight.shape[0], -1)
    xs, ds = layer_operands(mod, x, g)
    torch.testing.assert_close(ds.T @ xs, w, rtol=1e-12, atol=1e-13)
    parts = layer_operand_groups(mod, x, g)
    assert len(parts) == mod.groups
    rows = mod.weight.shape[0] // mod.groups
    positions = math.prod((x if "Transpose" in name else out).shape[2:]) * shape[0]
    for j, (xj, dj) in enumerate(parts):
        assert xj.shape == (positions, w.shape[1]) and dj.shape == (positions, rows)
        torch.testing.assert_close(dj.T @ xj, w[j * rows:(j + 1) * rows], rtol=1e-12,
                                   atol=1e-13)
    assert layer_kind(mod) == name.lower().replace("transpose", "_transpose")
    # unbatched input [C, *spatial]
    mod.zero_grad()
    out1 = mod(x[0])
    out1.backward(g[0])
    xs1, ds1 = layer_operands(mod, x[0], g[0])
    torch.testing.assert_close(ds1.T @ xs1, mod.weight.grad.reshape(w.shape), rtol=1e-12,
                               atol=1e-13)


@pytest.mark.torch
def test_unbatched_conv_and_unsupported_layers(torch):
    from essop_sim.trace import CaptureError, layer_operands
    conv = torch.nn.Conv2d(2, 3, 3, padding=1).double()
    x = torch.randn(2, 5, 5, dtype=torch.float64, requires_grad=True)
    out = conv(x)
    out.backward(torch.ones_like(out))
    xs, ds = layer_operands(conv, x, torch.ones_like(out))
    torch.testing.assert_close(ds.T @ xs, conv.weight.grad.reshape(3, -1))
    with pytest.raises(CaptureError, match="cannot trace a BatchNorm2d"):
        layer_operands(torch.nn.BatchNorm2d(2), torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3))
    with pytest.raises(CaptureError, match=r"Linear\(3, 2\).*do not fit"):
        layer_operands(torch.nn.Linear(3, 2), torch.zeros(4, 5), torch.zeros(4, 2))
    with pytest.raises(CaptureError, match=r"Conv3d\(2, 2\).*do not fit"):
        layer_operands(torch.nn.Conv3d(2, 2, 1), torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3))


@pytest.mark.torch
def test_weight_coverage(torch):
    """Covered: Linear/conv modules owning their weight and called as modules. Uncovered (listed):
    every other trainable parameter with >= 2 dims; 1-d parameters and frozen ones are not."""
    from essop_sim.trace.capture import weight_coverage
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 8)
            self.conv = nn.Conv1d(8, 8, 3, groups=2)
            self.up = nn.ConvTranspose2d(2, 2, 2)
            self.attn = nn.MultiheadAttention(8, 2)
            self.head = nn.Linear(8, 10)
            self.tied = nn.Linear(8, 10)
            self.tied.weight = self.emb.weight  # shared with the embedding
            self.proj = nn.Parameter(torch.zeros(8, 8))  # used in a functional call
            self.scale = nn.Parameter(torch.ones(8))  # 1-d: not an outer product
            self.norm = nn.LayerNorm(8)
            self.frozen = nn.Linear(3, 3).requires_grad_(False)

    cov = weight_coverage(Net())
    assert [n for n, _ in cov.layers] == ["conv", "up", "head"]
    assert cov.uncovered == [
        ("proj", "Net"), ("emb.weight", "Embedding, shared with tied.weight"),
        ("attn.in_proj_weight", "MultiheadAttention"),
        ("attn.out_proj.weight",
         "NonDynamicallyQuantizableLinear, called functionally by its MultiheadAttention")]
    assert "\n" not in cov.describe_uncovered()


# ----------------------------------------------------------------------------- recording


def _toy(torch, inplace=False):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), torch.nn.ReLU(inplace=inplace),
        torch.nn.Conv2d(4, 3, (2, 3), padding=(0, 1), dilation=(1, 2)),
        torch.nn.ReLU(inplace=inplace), torch.nn.Flatten(), torch.nn.Linear(3 * 3 * 2, 5),
    ).double()


def _train(torch, model, rec, steps, accumulate=1, grads=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(1)
    for s in range(steps):
        opt.zero_grad()
        for _ in range(accumulate):
            x = torch.randn(6, 2, 8, 8, dtype=torch.float64, generator=gen)
            y = torch.randint(0, 5, (6,), generator=gen)
            torch.nn.functional.cross_entropy(model(x), y).backward()
        if grads is not None:
            grads[s] = {n: m.weight.grad.clone() for n, m in model.named_modules()
                        if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)}
        opt.step()
        rec.step()


@pytest.mark.torch
@pytest.mark.parametrize("inplace", [False, True], ids=["relu", "inplace-relu"])
def test_record_round_trip_equals_weight_grad(torch, tmp_path, inplace):
    from essop_sim.trace import record
    model = _toy(torch, inplace)
    grads: dict = {}
    with record(model, tmp_path / "t", steps=[0, 2], dtype="float64", model_name="toy",
                dataset="random", command="pytest") as rec:
        assert rec.layers == ["0", "2", "5"]
        _train(torch, model, rec, 3, grads=grads)
        assert rec.done
    trace = load_trace(tmp_path / "t")
    assert trace.steps == [0, 2] and trace.layers == ["0", "2", "5"]
    assert trace.manifest["framework"] == {"name": "torch", "version": torch.__version__}
    assert trace.manifest["command"] == "pytest" and trace.manifest["model"] == "toy"
    for r in trace:
        want = grads[r.step][r.layer].reshape(r.m, -1).numpy()
        np.testing.assert_allclose(r.exact_update(), want, rtol=1e-10, atol=1e-14)
        assert r.subsample == {"original_K": r.K, "method": "none", "seed": None}
        assert r.batch == 6
    c0 = trace.get("0", 0)
    assert c0.conv == {"in_channels": 2, "out_channels": 4, "kernel_size": [3, 3],
                       "stride": [2, 2], "padding": [1, 1], "dilation": [1, 1], "groups": 1,
                       "input_hw": [8, 8], "output_hw": [4, 4]}
    assert c0.K == 6 * 4 * 4
    c2 = trace.get("2", 2)
    assert c2.conv["output_hw"] == [3, 2] and c2.conv["dilation"] == [1, 2]
    assert trace.get("5", 0).kind == "linear" and trace.get("5", 0).conv is None


class _NdNet:
    """Conv1d (grouped) -> ConvTranspose1d -> Conv3d -> ConvTranspose3d (grouped) -> Linear."""

    @staticmethod
    def build(torch):
        nn = torch.nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.c1 = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)
                self.t1 = nn.ConvTranspose1d(6, 2, 3, stride=2, padding=1, output_padding=1)
                self.c3 = nn.Conv3d(2, 4, (1, 2, 2), padding=(0, 1, 0), dilation=(1, 2, 1))
                self.t3 = nn.ConvTranspose3d(4, 2, 2, stride=(1, 2, 2), groups=2)
                self.fc = nn.Linear(2, 3)

            def forward(self, x):  # x [B, 4, 8]
                h = torch.relu(self.t1(torch.relu(self.c1(x))))           # [B, 2, 8]
                h = self.t3(torch.relu(self.c3(h.reshape(-1, 2, 2, 2, 2))))
                return self.fc(h.mean((2, 3, 4)))

        torch.manual_seed(0)
        return Net().double()


@pytest.mark.torch
def test_record_nd_transposed_grouped_round_trip(torch, tmp_path):
    """record covers every convolution kind: one record per group of a grouped convolution
    (named layer.group<j>, its rows of weight.grad), geometry with d-element lists."""
    from essop_sim.trace import record
    model = _NdNet.build(torch)
    x = torch.randn(3, 4, 8, dtype=torch.float64)
    with record(model, tmp_path / "t", dtype="float64") as rec:
        assert rec.layers == ["c1", "t1", "c3", "t3", "fc"]
        model(x).square().sum().backward()
        rec.step()
    trace = load_trace(tmp_path / "t")
    assert trace.layers == ["c1.group0", "c1.group1", "t1", "c3", "t3.group0", "t3.group1",
                            "fc"]
    kinds = {r.layer: r.kind for r in trace}
    assert kinds == {"c1.group0": "conv1d", "c1.group1": "conv1d", "t1": "conv_transpose1d",
                     "c3": "conv3d", "t3.group0": "conv_transpose3d",
                     "t3.group1": "conv_transpose3d", "fc": "linear"}
    for r in trace:
        name, _, group = r.layer.partition(".group")
        w = getattr(model, name).weight.grad
        rows = w.shape[0] // (getattr(model, name).groups if group else 1)
        j = int(group or 0)
        want = w.reshape(w.shape[0], -1)[j * rows:(j + 1) * rows].numpy()
        np.testing.assert_allclose(r.exact_update(), want, rtol=1e-10, atol=1e-14)
        assert r.batch == 3
    assert trace.get("c1.group1", 0).conv == {
        "in_channels": 4, "out_channels": 6, "kernel_size": [3], "stride": [2], "padding": [1],
        "dilation": [1], "groups": 2, "input_hw": [8], "output_hw": [4], "group": 1}
    assert trace.get("t1", 0).conv["output_padding"] == [1]
    assert trace.get("c3", 0).conv["padding"] == [0, 1, 0]
    assert trace.get("t3.group0", 0).conv["output_hw"] == [3, 4, 2]


@pytest.mark.torch
def test_gradient_accumulation_concatenates_rows(torch, tmp_path):
    from essop_sim.trace import record
    model = _toy(torch)
    grads: dict = {}
    with record(model, tmp_path / "t", layers=["5"], steps=[1], dtype="float64") as rec:
        _train(torch, model, rec, 2, accumulate=2, grads=grads)
    (r,) = load_trace(tmp_path / "t").records
    assert (r.layer, r.step, r.K, r.batch) == ("5", 1, 12, 12)
    np.testing.assert_allclose(r.exact_update(), grads[1]["5"].numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.torch
def test_subsampling_is_seeded_and_recorded(torch, tmp_path):
    from essop_sim.trace import record
    model = _toy(torch)
    # recorders on the same model see the same gradients: full, subsampled, and both again
    # with every operand spilled to scratch files (spill_bytes=0), over 2 calls per step
    kw = dict(steps=[1], dtype="float64")
    with record(model, tmp_path / "full", **kw) as full, \
            record(model, tmp_path / "sub", max_k=20, seed=7, **kw) as sub, \
            record(model, tmp_path / "full_spill", spill_bytes=0, **kw) as full_spill, \
            record(model, tmp_path / "sub_spill", max_k=20, seed=7, spill_bytes=0,
                   **kw) as sub_spill:
        for _ in range(2):
            for _ in range(2):
                model(torch.randn(3, 2, 8, 8, dtype=torch.float64)).square().sum().backward()
            for rec in (full, sub, full_spill, sub_spill):
                rec.step()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "full_spill", "sub",
                                                          "sub_spill"]  # scratch removed
    tf, ts = load_trace(tmp_path / "full"), load_trace(tmp_path / "sub")
    assert [r.files for r in load_trace(tmp_path / "full_spill")] == [r.files for r in tf]
    assert [r.files for r in load_trace(tmp_path / "sub_spill")] == [r.files for r in ts]
    for name in ("0", "2"):
        f, s = tf.get(name, 1), ts.get(name, 1)
        assert s.K == 20 and s.subsample["original_K"] == f.K > 20
        assert s.subsample["method"] == "random_rows" and s.subsample["seed"] == 7
        seq = [7, 1, zlib.crc32(name.encode())]
        assert s.subsample["seed_sequence"] == seq
        rows = np.sort(np.random.default_rng(seq).choice(f.K, 20, replace=False))
        assert np.array_equal(s.x, f.x[rows]) and np.array_equal(s.delta, f.delta[rows])
    lin = ts.get("5", 1)  # K = 6 <= max_k: kept whole, and said so
    assert lin.K == 6 and lin.subsample["method"] == "none"
    assert ts.manifest["meta"]["capture"]["max_k"] == 20


@pytest.mark.torch
def test_record_errors_leave_no_trace(torch, tmp_path):
    from essop_sim.trace import record
    model = _toy(torch)
    with pytest.raises(RuntimeError, match="boom"), \
            record(model, tmp_path / "t", steps=[0]) as rec:
        _train(torch, model, rec, 1)
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TraceError, match=r"no gradients were captured: requested steps \[5\], "
                                         r"the loop ran 2 step"), \
            record(model, tmp_path / "t", steps=[5]) as rec:
        _train(torch, model, rec, 2)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TraceError, match=r"layers \['fc'\] are not Linear or convolution"):
        record(model, tmp_path / "t", layers=["fc"])
    with pytest.raises(TraceError, match="no Linear or convolution layers"):
        record(torch.nn.Sequential(torch.nn.ReLU()), tmp_path / "t")
    rec = record(model, tmp_path / "t")
    with pytest.raises(TraceError, match="outside the 'with record"):
        rec.step()


@pytest.mark.torch
def test_no_grad_forward_is_not_recorded(torch, tmp_path):
    from essop_sim.trace import record
    model = _toy(torch)
    with record(model, tmp_path / "t", steps=[0], dtype="float64") as rec:
        with torch.no_grad():  # evaluation pass inside a recorded step
            model(torch.randn(50, 2, 8, 8, dtype=torch.float64))
        _train(torch, model, rec, 1)
    assert all(r.batch == 6 for r in load_trace(tmp_path / "t"))


# ----------------------------------------------------------------------------- models


@pytest.mark.torch
def test_resnet32_layers_match_workloads(torch, tmp_path):
    from essop_sim.models import ResNet32
    from essop_sim.trace import record
    torch.manual_seed(0)
    model = ResNet32()
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 33 and fcs == ["fc"]
    with record(model, tmp_path / "r", steps=[0], max_k=64) as rec:
        out = model(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10)
        out.sum().backward()
        rec.step()
    trace = load_trace(tmp_path / "r")
    want = resnet32_cifar10(batch=2)
    assert [(r.layer, r.kind, r.n, r.m, r.subsample["original_K"]) for r in trace] == [
        (w.name, w.kind, w.n, w.m, w.K) for w in want]
    short = trace.get("stage2.block0.shortcut", 0)
    assert short.conv["kernel_size"] == [1, 1] and short.conv["stride"] == [2, 2]
    assert short.conv["input_hw"] == [32, 32] and short.conv["output_hw"] == [16, 16]


@pytest.mark.torch
def test_digits_models_shapes(torch):
    from essop_sim.models import build_model
    x = torch.zeros(5, 1, 8, 8)
    assert build_model("mlp")(x).shape == (5, 10) and build_model("cnn")(x).shape == (5, 10)
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        build_model("vgg")


# ----------------------------------------------------------------------------- dump_traces.py


@pytest.mark.torch
def test_dump_traces_cnn_is_deterministic(torch, tmp_path):
    main = _dump_module().main
    before = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    args = ["--model", "cnn", "--epochs", "1", "--steps", "0,-1"]
    a = main([*args, "--out", str(tmp_path / "a")])
    b = main([*args, "--out", str(tmp_path / "b")])
    ta, tb = load_trace(a), load_trace(b)
    assert ta.layers == ["conv1", "conv2", "conv3", "fc"] and ta.steps == [0, 43]
    assert [r.files for r in ta] == [r.files for r in tb]  # byte-identical arrays
    man = ta.manifest
    assert man["command"] == (f"python scripts/dump_traces.py --model cnn --out {tmp_path / 'a'} "
                              "--steps 0,-1 --seed 0 --epochs 1 --batch-size 32 --lr 0.05 "
                              "--dtype float32 --threads 1")
    assert man["meta"]["training"]["steps_total"] == 44
    assert set(man["meta"]["results"]["train_loss_at_recorded_steps"]) == {"0", "43"}
    # global torch settings restored for the rest of the process
    assert (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()) == before


@pytest.mark.torch
def test_dump_traces_mlp_subsampled_float64(torch, tmp_path):
    out = _dump_module().main(["--model", "mlp", "--epochs", "1", "--steps", "0:10:5",
                               "--max-k", "16", "--dtype", "float64", "--layers", "fc1,fc3",
                               "--out", str(tmp_path / "m")])
    trace = load_trace(out)
    assert trace.layers == ["fc1", "fc3"] and trace.steps == [0, 5]
    for r in trace:
        assert r.K == 16 and r.dtype == "float64"
        assert r.subsample["original_K"] == 32 and r.subsample["method"] == "random_rows"
    assert "--max-k 16" in trace.manifest["command"]


@pytest.mark.torch
def test_dump_traces_resnet32_on_cifar_standin(torch, tmp_path):
    write_cifar_standin(tmp_path / "cifar", per_batch=2)
    main = _dump_module().main
    out = main(["--model", "resnet32", "--cifar-dir", str(tmp_path / "cifar"), "--epochs", "1",
                "--batch-size", "4", "--steps", "0,-1", "--max-k", "32",
                "--out", str(tmp_path / "r")])
    trace = load_trace(out)
    want = resnet32_cifar10(batch=4)
    assert trace.steps == [0, 1] and len(trace) == 2 * 34
    assert [(r.layer, r.n, r.m, r.subsample["original_K"]) for r in trace.select(steps=0)] == [
        (w.name, w.n, w.m, w.K) for w in want]
    meta = json.loads((out / "manifest.json").read_text())["meta"]
    assert meta["training"]["train_images"] == 10 and meta["training"]["augment"] is True
    with pytest.raises(SystemExit, match="needs --cifar-dir"):
        main(["--model", "resnet32", "--out", str(tmp_path / "x")])
