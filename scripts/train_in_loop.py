#!/usr/bin/env python
"""Training in the loop: train a network whose weight gradients come from the simulated datapath.

Trains the same model (same seed: same initial weights, same mini-batch order) once with ordinary
FP32 autograd and once per datapath configuration, where every nn.Linear / convolution weight
gradient is replaced by what ESSOP (at each bitstream length) or the FP16 multiplier array
computes (essop_sim.training). The forward pass and the backpropagated errors stay in FP32; biases
keep their exact gradients. Writes, under --out:

    epochs.csv / epochs.json     one row per run and epoch: test accuracy, train loss
    summary.csv / summary.json   one row per run: final accuracy, median step time, time ratio
                                 ESSOP/FP32 (same seed), seconds in the datapath
    train_in_loop.png            test accuracy per epoch, and final accuracy vs bitstream length

The JSON files carry the command, the machine and every setting. All files are written
atomically, after every run, so an interrupted sweep keeps what it finished.

Examples (from the repository root)::

    # the digits CNN (a few minutes on one core): FP32, ESSOP at BL 4/16/64/256, FP16, 3 seeds
    python scripts/train_in_loop.py --bl 4 16 64 256 --fp16 --seeds 0 1 2

    # ResNet-32 on a local CIFAR-10 copy (extracted cifar-10-python.tar.gz; nothing is
    # downloaded). Slow: hours on a CPU for full epochs; --cifar-limit / --max-steps shorten it.
    python scripts/train_in_loop.py --model resnet32 --cifar-dir ~/data/cifar-10-batches-py \\
        --bl 16 64 --epochs 2 --cifar-limit 5000
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

DEFAULTS = {  # per model: epochs, batch size, learning rate, weight decay
    "mlp": {"epochs": 8, "batch_size": 32, "lr": 0.05, "weight_decay": 0.0, "numba_threads": 1},
    "cnn": {"epochs": 8, "batch_size": 32, "lr": 0.05, "weight_decay": 0.0, "numba_threads": 1},
    "resnet32": {"epochs": 2, "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4,
                 "numba_threads": 0},
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="cnn", choices=sorted(DEFAULTS),
                   help="cnn (digits CNN, default), mlp (digits MLP), resnet32 (CIFAR-10)")
    p.add_argument("--bl", type=int, nargs="*", default=[4, 16, 64, 256],
                   help="ESSOP bitstream lengths to train with (default: 4 16 64 256)")
    p.add_argument("--fp16", action="store_true", help="also train with the FP16 datapath")
    p.add_argument("--no-fp32", action="store_true", help="skip the FP32 baseline")
    p.add_argument("--sharing", default=None, choices=["vector", "element"],
                   help="ESSOP random-number sharing (default: the config's, 'vector')")
    p.add_argument("--config", help="hardware configuration YAML (default: shipped default)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="configuration override, repeatable (e.g. essop.comparator_bits=10)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="run seeds: weights, data order, datapath random numbers (default 0)")
    p.add_argument("--epochs", type=int, help="epochs (default 8 digits, 2 resnet32)")
    p.add_argument("--batch-size", type=int, help="mini-batch (default 32 digits, 128 resnet32)")
    p.add_argument("--lr", type=float, help="SGD learning rate (default 0.05 digits, 0.1 "
                                            "resnet32)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, help="SGD weight decay (default 0 digits, "
                                                      "5e-4 resnet32)")
    p.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                   help="learning-rate schedule (default constant; cosine anneals to ~0)")
    p.add_argument("--max-steps", type=int, help="at most this many steps per epoch")
    p.add_argument("--cifar-dir", help="local CIFAR-10 python batches (resnet32 only)")
    p.add_argument("--cifar-limit", type=int,
                   help="use only the first N training images (and N/5 test images)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--numba-threads", type=int,
                   help="threads of the datapath kernels; 0 = numba's default (the core count). "
                        "Default 1 for the digits models (their layers are too small to gain "
                        "from threads), 0 for resnet32")
    p.add_argument("--out", default="runs/train_in_loop", help="output directory")
    p.add_argument("--no-plot", action="store_true", help="do not draw the PNG")
    return p


def canonical_command(args: argparse.Namespace) -> str:
    """The command with every option explicit, so it remakes the table."""
    parts = ["python", "scripts/train_in_loop.py", "--model", args.model,
             "--bl", *map(str, args.bl), "--seeds", *map(str, args.seeds),
             "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
             "--lr", repr(args.lr), "--momentum", repr(args.momentum),
             "--weight-decay", repr(args.weight_decay), "--schedule", args.schedule,
             "--threads", str(args.threads),
             "--out", args.out]
    for flag in ("fp16", "no_fp32", "no_plot"):
        if getattr(args, flag):
            parts.append("--" + flag.replace("_", "-"))
    for name in ("sharing", "config", "max_steps", "cifar_dir", "cifar_limit", "numba_threads"):
        value = getattr(args, name)
        if value is not None:
            parts += ["--" + name.replace("_", "-"), str(value)]
    for item in args.set:
        parts += ["--set", item]
    return shlex.join(parts)


def machine_info() -> dict[str, Any]:
    """What ran the measurement: platform, CPU, core count, library versions, threads."""
    import numba
    import numpy as np
    import torch

    from essop_sim import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = f"{numba.config.THREADING_LAYER} (not started)"
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "numba": numba.__version__, "essop_sim": __version__,
            "torch_threads": torch.get_num_threads(), "numba_threads": numba.get_num_threads(),
            "numba_threading_layer": layer,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def warm_up(runs: list[tuple[str, Any]]) -> float:
    """One small outer product per datapath configuration, before anything is timed: compiles
    (or loads from the cache) the kernels and starts numba's threads, so every run's step time,
    FP32's included, is measured in a process where the datapath kernels have already run (as
    in a real mixed run; numba's idle threads can slow PyTorch, see docs/training.md).
    Returns the seconds it took."""
    import numpy as np

    from essop_sim import outer_product

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal((64, 144))).astype(np.float32)
    delta = (1e-3 * rng.standard_normal((64, 16))).astype(np.float32)
    for _, cfg in runs:
        if cfg is not None:
            outer_product(x, delta, cfg, seed=0)
    return time.perf_counter() - t0


def load_data(args: argparse.Namespace):
    """(train, test, dataset name, augment) as torch tensors."""
    import torch

    from essop_sim import datasets as ds

    if args.model == "resnet32":
        if not args.cifar_dir:
            raise SystemExit("--model resnet32 needs --cifar-dir DIR (local CIFAR-10 python "
                             "batches; nothing is downloaded)")
        name, augment = "CIFAR-10", ds.cifar_augment
    else:
        if args.cifar_dir or args.cifar_limit is not None:
            raise SystemExit("--cifar-dir/--cifar-limit apply to --model resnet32 only")
        name, augment = "sklearn digits (8x8, 10 classes; 1437 train / 360 test)", None
    data = ds.load_for_model(args.model, seed=0, cifar_dir=args.cifar_dir,
                             cifar_limit=args.cifar_limit)
    train = (torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    test = (torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    return train, test, name, augment


def datapath_configs(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """[(label, config or None)]: FP32 first, then ESSOP per BL, then FP16."""
    from essop_sim.config import load_config
    from essop_sim.training import run_label

    runs: list[tuple[str, Any]] = [] if args.no_fp32 else [("fp32", None)]
    for bl in args.bl:
        over = ["datapath=essop", f"essop.bitstream_length={bl}"]
        if args.sharing:
            over.append(f"essop.rng.sharing={args.sharing}")
        cfg = load_config(args.config, [*over, *args.set])
        runs.append((run_label(cfg), cfg))
    if args.fp16:
        cfg = load_config(args.config, ["datapath=fp16", *args.set])
        runs.append((run_label(cfg), cfg))
    return runs


def summarize(results: list[dict]) -> list[dict]:
    """One row per run, with the step-time ratio against the FP32 run of the same seed."""
    fp32 = {r["seed"]: r["median_step_ms"] for r in results if r["label"] == "fp32"}
    rows = []
    for r in results:
        row = {k: v for k, v in r.items() if k not in ("test_accuracy", "train_loss")}
        base = fp32.get(r["seed"])
        row["step_ratio_vs_fp32"] = (r["median_step_ms"] / base) if base else None
        rows.append(row)
    return rows


def epoch_rows(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        pairs = zip(r["test_accuracy"], r["train_loss"], strict=True)
        for e, (acc, loss) in enumerate(pairs, start=1):
            rows.append({"label": r["label"], "datapath": r["datapath"],
                         "bitstream_length": r["bitstream_length"], "seed": r["seed"],
                         "epoch": e, "test_accuracy": acc, "train_loss": loss})
    return rows


def plot(results: list[dict], out: Path, title: str) -> Path:
    """Two panels: mean test accuracy per epoch per run label; final accuracy vs BL."""
    import numpy as np
    from matplotlib.figure import Figure

    from essop_sim.report.plots import save_figure

    labels = list(dict.fromkeys(r["label"] for r in results))
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for label in labels:
        accs = np.array([r["test_accuracy"] for r in results if r["label"] == label])
        epochs = np.arange(1, accs.shape[1] + 1)
        style = {"color": "black", "lw": 2} if label == "fp32" else {}
        ax1.plot(epochs, 100 * accs.mean(0), marker="o", ms=3, label=label, **style)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title("test accuracy per epoch (mean over seeds)")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)

    essop = [r for r in results if r["datapath"] == "essop"]
    bls = sorted({r["bitstream_length"] for r in essop})
    if bls:
        final = [[r["test_accuracy"][-1] for r in essop if r["bitstream_length"] == b]
                 for b in bls]
        mean = np.array([100 * np.mean(f) for f in final])
        lo = mean - np.array([100 * min(f) for f in final])
        hi = np.array([100 * max(f) for f in final]) - mean
        ax2.errorbar(bls, mean, yerr=[lo, hi], marker="o", capsize=3,
                     label="ESSOP (mean, min-max over seeds)")
        ax2.set_xscale("log", base=2)
        ax2.set_xticks(bls, [str(b) for b in bls])
    for label, color in (("fp32", "black"), ("fp16", "tab:red")):
        ref = [r["test_accuracy"][-1] for r in results if r["label"] == label]
        if ref:
            ax2.axhline(100 * np.mean(ref), color=color, ls="--",
                        label=f"{label.upper()} ({100 * np.mean(ref):.1f}%)")
            if len(ref) > 1:
                ax2.axhspan(100 * min(ref), 100 * max(ref), color=color, alpha=0.08)
    ax2.set_xlabel("bitstream length BL (bits)")
    ax2.set_ylabel("final test accuracy (%)")
    ax2.set_title("final accuracy vs bitstream length (bands: min-max)")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, out, "train_in_loop", formats=("png",))[0]


def run(args: argparse.Namespace) -> dict:
    import torch

    from essop_sim.config import config_to_dict
    from essop_sim.models import build_model
    from essop_sim.report.io import write_table
    from essop_sim.training import train_classifier

    d = DEFAULTS[args.model]
    for key in ("epochs", "batch_size", "lr", "weight_decay", "numba_threads"):
        if getattr(args, key) is None:
            setattr(args, key, d[key])
    if args.epochs < 1 or args.batch_size < 1:
        raise SystemExit("--epochs and --batch-size must be >= 1")
    if any(b < 1 for b in args.bl):
        raise SystemExit("--bl values must be >= 1")
    import numba

    torch.set_num_threads(args.threads)
    if args.numba_threads:
        numba.set_num_threads(min(args.numba_threads, numba.config.NUMBA_NUM_THREADS))
    out = Path(args.out)
    train, test, dataset, augment = load_data(args)
    runs = datapath_configs(args)
    command = canonical_command(args)
    warm = warm_up(runs)
    machine = machine_info()
    print(f"command: {command}")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()))
    print(f"datapath warm-up (kernel compile or cache load, thread start): {warm:.2f} s")
    if args.threads > 1 and not os.environ.get("OMP_WAIT_POLICY"):
        print("note: more than one torch thread with OMP_WAIT_POLICY unset: on a busy machine "
              "PyTorch's spinning OpenMP threads can make steps many times slower; export "
              "OMP_WAIT_POLICY=passive before starting Python (docs/training.md)")
    meta = {"command": command, "argv": sys.argv, "machine": machine, "dataset": dataset,
            "model": args.model,
            "training": {"optimizer": "SGD", "lr": args.lr, "momentum": args.momentum,
                         "weight_decay": args.weight_decay, "batch_size": args.batch_size,
                         "epochs": args.epochs, "schedule": args.schedule,
                         "max_steps_per_epoch": args.max_steps,
                         "loss": "cross-entropy (mean over the batch)",
                         "train_images": int(train[0].shape[0]),
                         "test_images": int(test[0].shape[0])},
            "gradients": "weights of every Linear and convolution from the datapath "
                         "(OuterProductResult.dw); biases, forward pass and backpropagated "
                         "errors in FP32",
            "configs": {label: (None if cfg is None else config_to_dict(cfg))
                        for label, cfg in runs}}
    results: list[dict] = []
    for seed in args.seeds:
        for label, cfg in runs:
            t0 = time.perf_counter()

            def report(epoch: int, res, label=label, seed=seed, t0=t0) -> None:
                print(f"  [{label} seed {seed}] epoch {epoch + 1}/{args.epochs}: test "
                      f"{100 * res.test_accuracy[-1]:.2f}%  loss {res.train_loss[-1]:.4f}  "
                      f"({time.perf_counter() - t0:.1f} s)", flush=True)

            res = train_classifier(lambda: build_model(args.model), train, test, cfg,
                                   epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                   momentum=args.momentum, weight_decay=args.weight_decay,
                                   schedule=args.schedule, seed=seed, label=label,
                                   on_epoch=report,
                                   max_steps_per_epoch=args.max_steps, augment=augment)
            results.append({
                "label": label, "datapath": "fp32" if cfg is None else cfg.datapath,
                "bitstream_length": (cfg.essop.bitstream_length
                                     if cfg is not None and cfg.datapath == "essop" else None),
                "seed": seed, "final_accuracy": res.final_accuracy,
                "median_step_ms": 1e3 * res.median_step_seconds,
                "steps": len(res.step_seconds),
                "gradient_seconds": res.gradient_seconds,
                "datapath_layers": len(res.layers),
                "train_seconds": time.perf_counter() - t0,
                "test_accuracy": res.test_accuracy, "train_loss": res.train_loss})
            summary = summarize(results)
            write_table(epoch_rows(results), out, "epochs", meta)
            write_table(summary, out, "summary", meta)
            ratio = summary[-1]["step_ratio_vs_fp32"]
            print(f"{label} seed {seed}: final test accuracy {100 * res.final_accuracy:.2f}%, "
                  f"median step {1e3 * res.median_step_seconds:.2f} ms"
                  + (f" = {ratio:.2f}x FP32" if ratio and label != "fp32" else ""), flush=True)
    if not args.no_plot:
        png = plot(results, out, f"{args.model} on {dataset.split(' (')[0]}, "
                                 f"{args.epochs} epochs, seeds {args.seeds}")
        print(f"wrote {png}")
    meta["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    print(f"load average at the end: {' '.join(map(str, meta['load_average_end']))}")
    print_table(summarize(results))
    print(f"wrote {out}/epochs.csv, {out}/summary.csv (+ .json)")
    return {"results": results, "meta": meta}


def print_table(summary: list[dict]) -> None:
    """Per label: mean final accuracy over seeds and mean step-time ratio vs FP32."""
    import numpy as np

    print(f"{'run':<16}{'seeds':>6}{'final acc % (mean)':>20}{'min':>8}{'max':>8}"
          f"{'step ms':>10}{'x FP32':>8}")
    for label in dict.fromkeys(r["label"] for r in summary):
        rows = [r for r in summary if r["label"] == label]
        acc = [100 * r["final_accuracy"] for r in rows]
        ratios = [r["step_ratio_vs_fp32"] for r in rows if r["step_ratio_vs_fp32"]]
        ratio = f"{np.mean(ratios):.2f}" if ratios else "-"
        print(f"{label:<16}{len(rows):>6}{np.mean(acc):>20.2f}{min(acc):>8.2f}{max(acc):>8.2f}"
              f"{np.median([r['median_step_ms'] for r in rows]):>10.2f}{ratio:>8}")


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` and run; restores torch's and numba's thread counts afterwards (so it can
    run inside a test process). Returns {'results': [...], 'meta': {...}}."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import torch
    except ImportError:
        raise SystemExit("train_in_loop.py needs PyTorch: pip install 'essop-sim[torch]'") \
            from None
    import numba

    # essop_sim.training picks numba's threading layer for a process with PyTorch, which must
    # happen before anything (numba.get_num_threads included) starts numba's threads
    import essop_sim.training  # noqa: F401

    old = torch.get_num_threads(), numba.get_num_threads()
    try:
        return run(args)
    finally:
        torch.set_num_threads(old[0])
        numba.set_num_threads(old[1])


if __name__ == "__main__":
    main()
