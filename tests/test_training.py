"""Training in the loop (essop_sim.training, scripts/train_in_loop.py). Needs the torch extra."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # optional extra; CI installs it

from essop_sim import outer_product  # noqa: E402
from essop_sim.config import load_config  # noqa: E402
from essop_sim.datasets import load_digits  # noqa: E402
from essop_sim.models import DigitsCNN  # noqa: E402
from essop_sim.trace.capture import layer_operand_groups, layer_operands  # noqa: E402
from essop_sim.training import (  # noqa: E402
    EXACT,
    EssopGradients,
    UncoveredWeightsError,
    UncoveredWeightsWarning,
    derive_seed,
    essop_gradients,
    train_classifier,
)

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    s = load_digits(seed=0)
    train = (torch.from_numpy(s.x_train), torch.from_numpy(s.y_train))
    test = (torch.from_numpy(s.x_test), torch.from_numpy(s.y_test))
    return train, test


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread and one numba thread: the digits layers are far too small to gain from
    threads (thread start-up and barriers dominate), and CI's 2 cores are shared."""
    import numba

    old, old_nb = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(old)
    numba.set_num_threads(old_nb)


def _batch(digits, size=16):
    (x, y), _ = digits
    return x[:size], y[:size]


def _grads(model, x, y, ctx=None):
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def test_exact_operands_reproduce_autograd(digits):
    """Hooks + im2col + reshape: dW = delta^T x from the captured operands equals autograd's
    weight gradient for every conv and linear layer; biases are left exact."""
    torch.manual_seed(0)
    model = DigitsCNN()
    x, y = _batch(digits)
    ref = _grads(model, x, y)
    with EssopGradients(model, EXACT, seed=0) as ctx:
        got = _grads(model, x, y)
        assert [s.name for s in ctx.stats] == ["conv1", "conv2", "conv3", "fc"]
        assert [s.updates for s in ctx.stats] == [1, 1, 1, 1]
        assert [s.outer_products for s in ctx.stats] == [16 * 64, 16 * 16, 16 * 16, 16]
    for name, g in ref.items():
        if name.endswith("bias"):
            assert torch.equal(got[name], g), name
        else:
            torch.testing.assert_close(got[name], g, rtol=1e-5, atol=1e-7, msg=name)
    # hooks are gone after the context: gradients are autograd's again, bit for bit
    assert all(torch.equal(g, ref[n]) for n, g in _grads(model, x, y).items())


def test_weight_grad_is_the_datapath_dw_with_derived_seed(digits):
    """.grad = outer_product(x, delta, config, seed=derive_seed(run, name, step)).dw reshaped
    (dw, not update: the learning rate stays in the optimizer); seeds advance per step."""
    torch.manual_seed(1)
    model = DigitsCNN()
    x, y = _batch(digits)
    cfg = load_config(None, {"essop.bitstream_length": 16, "essop.scaling.learning_rate": 0.25})
    captured = {}

    def keep(name):
        def hook(module, inputs, output):
            output.register_hook(lambda g: captured.__setitem__(name, (inputs[0].detach(), g)))
        return hook

    handles = [getattr(model, n).register_forward_hook(keep(n)) for n in ("conv2", "fc")]
    with essop_gradients(model, cfg, seed=7) as ctx:
        first = _grads(model, x, y)
        second = _grads(model, x, y)  # same data, next step: different random numbers
    for h in handles:
        h.remove()
    for name in ("conv2", "fc"):
        module = getattr(model, name)
        xo, do = layer_operands(module, *captured[name])
        want = outer_product(xo.numpy(), do.numpy(), cfg, seed=derive_seed(7, name, 1)).dw
        got = second[f"{name}.weight"].reshape(want.shape).double().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)  # float32 rounding only
        assert not torch.equal(first[f"{name}.weight"], second[f"{name}.weight"])
    assert [s.updates for s in ctx.stats] == [2, 2, 2, 2]


def test_same_seed_same_gradients_and_accumulation(digits):
    torch.manual_seed(2)
    model = DigitsCNN()
    x, y = _batch(digits)
    cfg = load_config(None, {"essop.bitstream_length": 8})
    with essop_gradients(model, cfg, seed=3):
        a = _grads(model, x, y)
    with essop_gradients(model, cfg, seed=3):
        b = _grads(model, x, y)
        # a second backward without zero_grad accumulates the datapath's dW of step 1
        torch.nn.functional.cross_entropy(model(x), y).backward()
        acc = {n: p.grad.clone() for n, p in model.named_parameters()}
    with essop_gradients(model, cfg, seed=4):
        c = _grads(model, x, y)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not torch.equal(a["conv3.weight"], c["conv3.weight"])
    assert not torch.equal(acc["fc.weight"], 2 * b["fc.weight"])  # step 1 used other numbers
    torch.testing.assert_close(acc["fc.bias"], 2 * b["fc.bias"])  # biases exact


def test_fp16_datapath_gradients_close_to_exact(digits):
    torch.manual_seed(3)
    model = DigitsCNN()
    x, y = _batch(digits)
    ref = _grads(model, x, y)
    with essop_gradients(model, load_config(None, {"datapath": "fp16"})):
        got = _grads(model, x, y)
    for name in ("conv1.weight", "conv3.weight", "fc.weight"):
        err = (got[name] - ref[name]).norm() / ref[name].norm()
        assert 0 < err < 1e-2, (name, float(err))


def test_weight_used_outside_its_module_is_an_error():
    lin = torch.nn.Linear(4, 3)
    with essop_gradients(lin, EXACT), pytest.raises(RuntimeError, match="outside its module"):
        (torch.nn.functional.linear(torch.randn(2, 4), lin.weight)).sum().backward()


def test_graph_built_under_other_hooks():
    """Forward before attaching + backward inside: an error naming the layer. Forward inside +
    backward after detaching: plain autograd gradients, no error."""
    torch.manual_seed(5)
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    loss = lin(x).pow(2).sum()
    with essop_gradients(lin, EXACT), pytest.raises(RuntimeError, match="no forward call"):
        loss.backward()
    lin.zero_grad(set_to_none=True)
    with essop_gradients(lin, load_config(None, {"essop.bitstream_length": 1})):
        loss = lin(x).pow(2).sum()
    loss.backward()
    want = 2 * lin(x).detach().T @ x
    torch.testing.assert_close(lin.weight.grad, want)


class NdNet(torch.nn.Module):
    """Every convolution kind the datapath covers: Conv1d (grouped, reflect padding),
    ConvTranspose1d (stride, output_padding), Conv3d (dilation, asymmetric kernel),
    ConvTranspose3d (grouped, stride), ConvTranspose2d (dilation, output_padding), Linear."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.c1 = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2, padding_mode="reflect")
        self.t1 = nn.ConvTranspose1d(6, 2, 3, stride=2, padding=1, output_padding=1)
        self.c3 = nn.Conv3d(2, 4, (1, 2, 2), padding=(0, 1, 0), dilation=(1, 2, 1))
        self.t3 = nn.ConvTranspose3d(4, 2, 2, stride=(1, 2, 2), groups=2)
        self.t2 = nn.ConvTranspose2d(2, 3, 2, stride=2, dilation=2, output_padding=1)
        self.fc = nn.Linear(3, 5)

    def forward(self, x):  # x [B, 4, 8]
        h = torch.relu(self.t1(torch.relu(self.c1(x))))              # [B, 2, 8]
        h = torch.relu(self.t3(torch.relu(self.c3(h.reshape(-1, 2, 2, 2, 2)))))  # [B,2,3,4,2]
        h = self.t2(h.flatten(2, 3))                                  # [B, 3, 26, 6]
        return self.fc(h.mean((2, 3)))


def _nd_batch():
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(6, 4, 8, dtype=torch.float64, generator=gen),
            torch.randint(0, 5, (6,), generator=gen))


def test_exact_operands_reproduce_autograd_every_conv_kind():
    """Conv1d/3d, transposed 1d/2d/3d and grouped convs: EXACT (delta^T x from the captured
    operands, per group, in float64) equals autograd's weight.grad; all six layers covered."""
    torch.manual_seed(0)
    model = NdNet().double()
    x, y = _nd_batch()
    ref = _grads(model, x, y)
    with EssopGradients(model, EXACT, seed=0) as ctx:
        got = _grads(model, x, y)
    assert ctx.layer_names == ["c1", "t1", "c3", "t3", "t2", "fc"] and ctx.exact_weights == []
    assert [(s.kind, s.groups) for s in ctx.stats] == [
        ("conv1d", 2), ("conv_transpose1d", 1), ("conv3d", 1), ("conv_transpose3d", 2),
        ("conv_transpose2d", 1), ("linear", 1)]
    # K per update: output positions (input positions for a transposed conv), times groups
    assert [s.outer_products for s in ctx.stats] == [
        2 * 6 * 4, 6 * 4, 6 * 2 * 2 * 1, 2 * 6 * 2 * 2 * 1, 6 * 12 * 2, 6]
    for name, g in ref.items():
        torch.testing.assert_close(got[name], g, rtol=1e-10, atol=1e-12, msg=name)


def test_grouped_conv_one_datapath_update_per_group():
    """A grouped conv's .grad is the datapath's dW of each group (seed derived from the trace
    record name layer.group<j>) stacked; a Conv1d with BL 1 is no longer exact."""
    torch.manual_seed(1)
    model = NdNet()
    x, y = (t.float() if t.is_floating_point() else t for t in _nd_batch())
    cfg = load_config(None, {"essop.bitstream_length": 1})
    captured = {}

    def keep(module, inputs, output):
        output.register_hook(lambda g: captured.__setitem__("c1", (inputs[0].detach(), g)))

    model.c1.register_forward_hook(keep)
    exact = _grads(model, x, y)
    with essop_gradients(model, cfg, seed=5):
        got = _grads(model, x, y)
    parts = layer_operand_groups(model.c1, *captured["c1"])
    want = np.concatenate([
        outer_product(xj.numpy(), dj.numpy(), cfg, seed=derive_seed(5, f"c1.group{j}", 0)).dw
        for j, (xj, dj) in enumerate(parts)])
    np.testing.assert_allclose(got["c1.weight"].reshape(6, -1).double().numpy(), want,
                               rtol=1e-6, atol=0)
    for name in ("c1.weight", "t1.weight", "c3.weight", "t3.weight", "t2.weight"):
        assert not torch.allclose(got[name], exact[name], rtol=1e-3, atol=0), name


class AttnNet(torch.nn.Module):
    """Covered: emb_proj (Linear), head (Linear). Not covered: attention's in/out projections and
    a plain nn.Parameter used in a functional call. 1-d parameters are not weight-bearing."""

    def __init__(self):
        super().__init__()
        self.emb_proj = torch.nn.Linear(4, 8)
        self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        self.mix = torch.nn.Parameter(torch.randn(8, 8) / 3)
        self.gain = torch.nn.Parameter(torch.ones(8))
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):  # x [B, T, 4]
        h = self.emb_proj(x)
        h = self.attn(h, h, h, need_weights=False)[0]
        h = torch.nn.functional.linear(h, self.mix) * self.gain
        return self.head(h.mean(1))


UNCOVERED = ("mix (AttnNet), attn.in_proj_weight (MultiheadAttention), attn.out_proj.weight "
             "(NonDynamicallyQuantizableLinear, called functionally by its MultiheadAttention)")


def test_uncovered_weights_are_refused_in_one_line():
    torch.manual_seed(2)
    model = AttnNet()
    with pytest.raises(UncoveredWeightsError) as err:
        EssopGradients(model, EXACT)
    msg = str(err.value)
    assert "\n" not in msg and "3 weight-bearing parameter(s)" in msg and UNCOVERED in msg
    assert "uncovered='skip'" in msg
    with pytest.raises(UncoveredWeightsError, match="attn.in_proj_weight"):
        train_classifier(AttnNet, (torch.zeros(2, 3, 4), torch.zeros(2, dtype=torch.long)),
                         (torch.zeros(1, 3, 4), torch.zeros(1, dtype=torch.long)), EXACT)
    with pytest.raises(ValueError, match="uncovered must be 'error' or 'skip'"):
        EssopGradients(model, EXACT, uncovered="ignore")


def test_uncovered_skip_warns_and_records_what_the_datapath_computed():
    torch.manual_seed(3)
    model = AttnNet()
    x = torch.randn(5, 6, 4)
    y = torch.randint(0, 3, (5,))
    ref = _grads(model, x, y)
    cfg = load_config(None, {"essop.bitstream_length": 2})
    with pytest.warns(UncoveredWeightsWarning, match="3 weight-bearing parameter") as rec:
        ctx = EssopGradients(model, cfg, uncovered="skip",
                             layers=lambda name, m: name != "head")
    assert UNCOVERED in str(rec[0].message) and "\n" not in str(rec[0].message)
    assert ctx.layer_names == ["emb_proj"]
    assert ctx.exact_weights == [
        ("mix", "AttnNet"), ("attn.in_proj_weight", "MultiheadAttention"),
        ("attn.out_proj.weight",
         "NonDynamicallyQuantizableLinear, called functionally by its MultiheadAttention"),
        ("head.weight", "excluded by layers")]
    with ctx:
        got = _grads(model, x, y)
    for name in ("mix", "attn.in_proj_weight", "attn.out_proj.weight", "head.weight", "gain",
                 "head.bias"):
        assert torch.equal(got[name], ref[name]), name  # exact, bit for bit
    assert not torch.allclose(got["emb_proj.weight"], ref["emb_proj.weight"])
    data = (x, y)
    with pytest.warns(UncoveredWeightsWarning):
        res = train_classifier(AttnNet, data, data, cfg, epochs=1, batch_size=5,
                               uncovered="skip")
    assert res.datapath_layers == ["emb_proj", "head"]
    assert [n for n, _ in res.exact_weights] == ["mix", "attn.in_proj_weight",
                                                  "attn.out_proj.weight"]
    fp32 = train_classifier(AttnNet, data, data, None, epochs=1, batch_size=5)
    assert fp32.datapath_layers == [] and fp32.exact_weights == []


# What the test means: trained with ESSOP BL64 weight gradients, the digits CNN is not worse than
# with FP32 gradients by more than ESSOP_MARGIN (one-sided: better is fine), and with BL1 it is
# clearly worse. What it measures, so that the numbers are stable across CPUs and BLAS builds
# (which round torch's float32 kernels differently, so every trajectory, FP32 included, ends
# elsewhere; a single final snapshot of a noisy constant-rate run moved by 3 points that way):
# * a cosine learning-rate schedule annealed to ~0, so training settles instead of bouncing;
# * per run, the mean test accuracy over the last LAST_EPOCHS epochs, not one snapshot;
# * per seed, the paired difference to the FP32 run of the same seed (same initial weights and
#   data order), averaged over len(SEEDS) seeds.
#
# Spread, measured on the 2-core AMD EPYC VM (docs/training.md has the commands and tables):
#   python scripts/train_in_loop.py --bl 1 64 --seeds 0 1 ... 15 --schedule cosine --epochs 4
#       --threads 1 (16 seeds; and --threads 2, the stand-in for "another CPU": other float32
#       summation orders, hence other trajectories)
# gave, for the per-run statistic (points of accuracy):
#   BL64 - FP32 per seed: mean +0.11 (1 thread) / +0.10 (2 threads), sd 0.65 / 0.76,
#                         range -1.25 .. +2.08
#   FP32 - BL1 per seed:  mean 4.05 / 4.06, sd 1.41 / 1.49, range 1.53 .. 6.53
#   FP32 itself:          mean 94.3 / 94.3, sd 1.4, lowest seed 90.4
# Margins from those, with n = 6 seeds, standard error of a mean of paired differences =
# sd / sqrt(6), taking the larger sd:
#   ESSOP_MARGIN = 1.25 points = 4 standard errors (0.76 / sqrt 6 = 0.31). If BL64 is truly as
#     good as FP32 the test fails with probability ~3e-5 (normal approximation); a BL64 that
#     costs 1.25 points on average fails half the time, one that costs 2 points almost always.
#   SHORT_BL_GAP = 1.5 points, above ESSOP_MARGIN (so "clearly worse" means worse than the
#     tolerance granted to BL64) and 4.2 standard errors (1.49 / sqrt 6 = 0.61) below the
#     measured mean gap of 4.05; a BL1 as good as FP32 (gap 0 +- 0.31) would fail it.
#   FP32_FLOOR = 90 %: the baseline learned (mean of 6 seeds; measured 94.3, standard error of
#     that mean 0.57).
# Means of the statistic over other seed sets (1 / 2 threads): seeds 0-5 BL64 - FP32 -0.02 /
# +0.25, FP32 - BL1 4.21 / 4.28; seeds 6-11 +0.12 / -0.02, 4.03 / 3.98.
# To re-check elsewhere under perturbation (docs/training.md lists the results here):
#   ESSOP_TRAINING_SEEDS=6,7,8,9,10,11 ESSOP_TRAINING_TORCH_THREADS=2 \
#       pytest tests/test_training.py -k tracks_fp32 -s
# (keep six seeds: the margins assume n = 6).
SEEDS = tuple(int(v) for v in os.environ.get("ESSOP_TRAINING_SEEDS", "0,1,2,3,4,5").split(","))
TORCH_THREADS = int(os.environ.get("ESSOP_TRAINING_TORCH_THREADS", "1"))
EPOCHS = 4
LAST_EPOCHS = 2
ESSOP_BL = 64
ESSOP_MARGIN = 0.0125
SHORT_BL = 1
SHORT_BL_GAP = 0.015
FP32_FLOOR = 0.90


def _settled_accuracy(result):
    """Mean test accuracy (fraction) over the last LAST_EPOCHS epochs of a run."""
    return float(np.mean(result.test_accuracy[-LAST_EPOCHS:]))


def test_essop_training_tracks_fp32_and_short_bl_hurts(digits):
    torch.set_num_threads(TORCH_THREADS)  # the autouse fixture restores it
    train, test = digits
    kw = dict(epochs=EPOCHS, batch_size=32, lr=0.05, momentum=0.9, schedule="cosine")
    runs = {"fp32": None,
            "essop": load_config(None, {"essop.bitstream_length": ESSOP_BL}),
            "short": load_config(None, {"essop.bitstream_length": SHORT_BL})}
    acc: dict[str, list[float]] = {label: [] for label in runs}
    for seed in SEEDS:
        for label, cfg in runs.items():
            res = train_classifier(DigitsCNN, train, test, cfg, seed=seed, **kw)
            acc[label].append(_settled_accuracy(res))
            if label == "essop" and seed == SEEDS[0]:
                assert res.label == f"essop-bl{ESSOP_BL}" and res.gradient_seconds > 0
                assert [s.updates for s in res.layers] == [len(res.step_seconds)] * 4
                assert res.datapath_layers == ["conv1", "conv2", "conv3", "fc"]
    fp32, essop, short = (np.array(acc[k]) for k in ("fp32", "essop", "short"))
    essop_vs_fp32 = float(np.mean(essop - fp32))
    short_gap = float(np.mean(fp32 - short))
    summary = (f"seeds {SEEDS}, {TORCH_THREADS} torch thread(s), accuracy over the last "
               f"{LAST_EPOCHS} epochs: FP32 "
               f"{np.round(100 * fp32, 2)}, BL{ESSOP_BL} {np.round(100 * essop, 2)}, "
               f"BL{SHORT_BL} {np.round(100 * short, 2)}; mean BL{ESSOP_BL} - FP32 "
               f"{100 * essop_vs_fp32:+.2f} points, mean FP32 - BL{SHORT_BL} "
               f"{100 * short_gap:+.2f} points")
    print(summary)
    assert fp32.mean() > FP32_FLOOR, summary
    assert essop_vs_fp32 >= -ESSOP_MARGIN, summary
    assert short_gap >= SHORT_BL_GAP, summary


def _load_script():
    spec = importlib.util.spec_from_file_location("train_in_loop",
                                                  ROOT / "scripts" / "train_in_loop.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_script_writes_tables_and_plot(tmp_path, capsys):
    from essop_sim.report.io import read_rows

    script = _load_script()
    out = tmp_path / "run"
    script.main(["--bl", "2", "16", "--fp16", "--epochs", "2", "--max-steps", "3",
                 "--seeds", "0", "--out", str(out)])
    text = capsys.readouterr().out
    assert "command: python scripts/train_in_loop.py" in text and "machine: " in text
    summary = read_rows(out / "summary.csv")
    assert [r["label"] for r in summary] == ["fp32", "essop-bl2", "essop-bl16", "fp16"]
    assert all(r["steps"] == 6 for r in summary)
    assert summary[0]["step_ratio_vs_fp32"] == 1.0 and summary[1]["step_ratio_vs_fp32"] > 0
    epochs = read_rows(out / "epochs.csv")
    assert len(epochs) == 8 and {r["epoch"] for r in epochs} == {1, 2}
    assert (out / "train_in_loop.png").stat().st_size > 1000


def test_script_resnet32_on_a_local_cifar_directory(tmp_path):
    """The ResNet-32 / CIFAR-10 path end to end on a tiny fake copy of the python batches (random
    pixels): data reading, augmentation, BatchNorm and 1x1 shortcut convs under the hooks."""
    import pickle

    rng = np.random.default_rng(0)
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, 4).tolist()}
        (cifar / name).write_bytes(pickle.dumps(batch))
    out = tmp_path / "run"
    res = _load_script().main(["--model", "resnet32", "--cifar-dir", str(tmp_path), "--bl", "8",
                               "--no-fp32", "--epochs", "1", "--batch-size", "2",
                               "--max-steps", "1", "--no-plot", "--out", str(out)])
    (run,) = res["results"]
    assert run["label"] == "essop-bl8" and run["steps"] == 1 and run["gradient_seconds"] > 0
    assert run["datapath_layers"] == 34  # 33 convolutions + 1 fully connected
    assert res["meta"]["dataset"] == "CIFAR-10" and res["meta"]["training"]["train_images"] == 20


THREADING_PROBE = """
import json, os, sys
if sys.argv[1] == "torch-first":
    import torch  # noqa: F401
import essop_sim
import numba
after_package = numba.config.THREADING_LAYER
if sys.argv[1] == "training":
    import essop_sim.training  # noqa: F401
numba.get_num_threads()  # starts the threading layer
print(json.dumps({"after_package": after_package, "layer": numba.threading_layer(),
                  "env": os.environ.get("NUMBA_THREADING_LAYER")}))
"""


@pytest.mark.parametrize("case, env, want", [
    ("torch-first", {}, ("workqueue", "workqueue")),
    ("training", {}, ("default", "workqueue")),  # no torch at import essop_sim: left alone
    ("torch-first", {"NUMBA_THREADING_LAYER": "omp"}, ("omp", "omp")),  # the user's choice
    ("training", {"OMP_WAIT_POLICY": "passive"}, ("default", "omp")),  # user tuned OpenMP
], ids=["torch-first", "training-import", "user-layer", "user-omp-wait-policy"])
def test_numba_threading_layer_beside_torch(case, env, want):
    """In a fresh process: numba's workqueue layer once PyTorch is in the process (imported before
    essop_sim, or essop_sim.training imported), unless the user set NUMBA_THREADING_LAYER or
    OMP_WAIT_POLICY."""
    import json
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items()
             if k not in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY")}
    clean["PYTHONPATH"] = os.pathsep.join([str(ROOT), clean.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", THREADING_PROBE, case], env={**clean, **env},
                         capture_output=True, text=True, check=True, timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert (got["after_package"], got["layer"]) == want, got
