#!/usr/bin/env python
"""Train a reference model and dump gradient traces (x [K, n], delta [K, m] per layer and step).

Examples (run from the repository root)::

    # the shipped default trace (digits CNN, step 0 and the last step; about 2 MB)
    python scripts/dump_traces.py --model cnn --out essop_sim/data/traces/digits_cnn --overwrite

    # digits MLP, every 50th step, float64
    python scripts/dump_traces.py --model mlp --out runs/mlp --steps 0:440:50 --dtype float64

    # ResNet-32 on a local CIFAR-10 copy (extracted cifar-10-python.tar.gz; never downloaded),
    # first and 100th step, at most 8192 rows per layer
    python scripts/dump_traces.py --model resnet32 --cifar-dir ~/data/cifar-10-batches-py \\
        --out runs/resnet32 --steps 0,100 --epochs 1 --max-k 8192

Steps: comma list and/or start:stop[:stride] ranges; negative numbers count from the end
(-1 = the last step of the run). Training is deterministic for a given seed on a given machine
(torch.manual_seed, deterministic algorithms, one thread); the trace's manifest records the
canonical command that remakes it.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

DEFAULTS = {  # per model: epochs, batch size, learning rate, weight decay
    "mlp": {"epochs": 10, "batch_size": 32, "lr": 0.05, "weight_decay": 0.0},
    "cnn": {"epochs": 10, "batch_size": 32, "lr": 0.05, "weight_decay": 0.0},
    "resnet32": {"epochs": 1, "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4},
}


def parse_steps(text: str, total: int) -> list[int]:
    """'0,10,-1' / '0:100:10' / mixtures -> sorted distinct steps in [0, total).

    Negative values count from the end (-1 = total - 1). A step outside the run is an error.
    """
    def fix(v: int) -> int:
        s = total + v if v < 0 else v
        if not 0 <= s < total:
            raise ValueError(f"step {v} is outside the run's {total} steps (0..{total - 1})")
        return s

    out: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        if ":" in part:
            bits = part.split(":")
            if len(bits) > 3:
                raise ValueError(f"bad range {part!r}; expected start:stop[:stride]")
            start = fix(int(bits[0])) if bits[0] else 0
            stop = int(bits[1]) if bits[1] else total
            stop = min(total + stop if stop < 0 else stop, total)
            stride = int(bits[2]) if len(bits) == 3 and bits[2] else 1
            if stride < 1:
                raise ValueError(f"bad stride in {part!r}")
            out.update(range(start, stop, stride))
        else:
            out.add(fix(int(part)))
    if not out:
        raise ValueError(f"no steps in {text!r}")
    return sorted(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=sorted(DEFAULTS))
    p.add_argument("--out", help="trace directory to create (default runs/<model>_trace)")
    p.add_argument("--steps", default="0,-1",
                   help="steps to record: '0,-1', '0:400:50', ... (default: first and last)")
    p.add_argument("--layers", help="comma-separated module names (default: every "
                                    "Linear/Conv2d)")
    p.add_argument("--max-k", type=int, help="keep at most this many rows per record "
                                             "(seeded random subsample, recorded)")
    p.add_argument("--seed", type=int, default=0, help="seed of init, shuffling, subsampling")
    p.add_argument("--epochs", type=int, help="training epochs (default: 10 digits, 1 resnet32)")
    p.add_argument("--batch-size", type=int, help="mini-batch (default: 32 digits, 128 resnet32)")
    p.add_argument("--lr", type=float, help="SGD learning rate (momentum 0.9)")
    p.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    p.add_argument("--cifar-dir", help="local CIFAR-10 python batches (resnet32 only)")
    p.add_argument("--cifar-limit", type=int,
                   help="use only the first N training images (and N/5 test images)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 = deterministic)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing trace")
    return p


def canonical_command(args: argparse.Namespace) -> str:
    """The full command with every option explicit, so it remakes the trace exactly."""
    parts = ["python", "scripts/dump_traces.py", "--model", args.model, "--out", args.out,
             "--steps", args.steps, "--seed", str(args.seed), "--epochs", str(args.epochs),
             "--batch-size", str(args.batch_size), "--lr", repr(args.lr),
             "--dtype", args.dtype, "--threads", str(args.threads)]
    if args.layers:
        parts += ["--layers", args.layers]
    if args.max_k is not None:
        parts += ["--max-k", str(args.max_k)]
    if args.cifar_dir:
        parts += ["--cifar-dir", args.cifar_dir]
    if args.cifar_limit is not None:
        parts += ["--cifar-limit", str(args.cifar_limit)]
    if args.overwrite:
        parts.append("--overwrite")
    return shlex.join(parts)


def run(args: argparse.Namespace, argv: list[str]) -> Path:
    import torch

    from essop_sim import __version__
    from essop_sim import datasets as ds
    from essop_sim.models import build_model
    from essop_sim.trace import record

    d = DEFAULTS[args.model]
    for key in ("epochs", "batch_size", "lr"):
        if getattr(args, key) is None:
            setattr(args, key, d[key])
    args.out = args.out or f"runs/{args.model}_trace"
    if args.epochs < 1 or args.batch_size < 1:
        raise SystemExit("--epochs and --batch-size must be >= 1")

    if args.model != "resnet32" and (args.cifar_dir or args.cifar_limit is not None):
        raise SystemExit("--cifar-dir/--cifar-limit apply to --model resnet32 only")
    if args.model == "resnet32" and not args.cifar_dir:
        raise SystemExit("--model resnet32 needs --cifar-dir DIR (local CIFAR-10 python "
                         "batches; nothing is downloaded)")
    data = ds.load_for_model(args.model, seed=args.seed, cifar_dir=args.cifar_dir,
                             cifar_limit=args.cifar_limit)
    dataset = "CIFAR-10" if args.model == "resnet32" else "sklearn digits (8x8, 10 classes)"
    x_train, x_test = torch.from_numpy(data.x_train), torch.from_numpy(data.x_test)
    y_train, y_test = torch.from_numpy(data.y_train), torch.from_numpy(data.y_test)

    n_train = x_train.shape[0]
    per_epoch = n_train // args.batch_size  # drop_last: every step sees a full batch
    if per_epoch < 1:
        raise SystemExit(f"--batch-size {args.batch_size} exceeds the {n_train} training images")
    total = per_epoch * args.epochs
    try:
        steps = parse_steps(args.steps, total)
    except ValueError as exc:
        raise SystemExit(f"--steps: {exc}") from None
    layers = [s.strip() for s in args.layers.split(",")] if args.layers else None

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model = build_model(args.model)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                          weight_decay=d["weight_decay"])
    gen = torch.Generator().manual_seed(args.seed)
    loss_fn = torch.nn.CrossEntropyLoss()

    import sklearn
    meta = {
        "training": {"optimizer": "SGD", "lr": args.lr, "momentum": 0.9,
                     "weight_decay": d["weight_decay"], "batch_size": args.batch_size,
                     "epochs": args.epochs, "steps_total": total, "steps_per_epoch": per_epoch,
                     "train_images": n_train, "test_images": int(x_test.shape[0]),
                     "seed": args.seed, "augment": args.model == "resnet32"},
        "steps_spec": args.steps,
        "determinism": {"torch.manual_seed": args.seed, "use_deterministic_algorithms": True,
                        "threads": args.threads},
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "numpy": np.__version__, "scikit-learn": sklearn.__version__,
                        "essop_sim": __version__, "machine": platform.machine()},
        "data_source": data.source,
        "argv": list(argv),
        "remake": "run 'command' from the repository root",
    }
    loss_at: dict[str, float] = {}
    t0 = time.perf_counter()
    with record(model, args.out, layers=layers, steps=steps, max_k=args.max_k, seed=args.seed,
                dtype=args.dtype, model_name={"mlp": "digits_mlp", "cnn": "digits_cnn",
                                              "resnet32": "resnet32_cifar10"}[args.model],
                dataset=dataset, command=canonical_command(args), meta=meta,
                overwrite=args.overwrite) as rec:
        model.train()
        for _ in range(args.epochs):
            order = torch.randperm(n_train, generator=gen)
            for b in range(per_epoch):
                idx = order[b * args.batch_size:(b + 1) * args.batch_size]
                xb, yb = x_train[idx], y_train[idx]
                if args.model == "resnet32":
                    xb = ds.cifar_augment(xb, gen)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                if rec.current_step in steps:
                    loss_at[str(rec.current_step)] = float(loss.detach())
                opt.step()
                rec.step()
        model.eval()
        with torch.no_grad():
            correct = 0
            for i in range(0, x_test.shape[0], 256):
                correct += int((model(x_test[i:i + 256]).argmax(1) == y_test[i:i + 256]).sum())
        rec.meta["results"] = {
            "train_loss_at_recorded_steps": loss_at, "final_train_loss": float(loss.detach()),
            "test_accuracy": correct / max(1, int(x_test.shape[0])),
            "train_seconds": round(time.perf_counter() - t0, 2)}
    return Path(args.out)


def main(argv: list[str] | None = None) -> Path:
    """Parse ``argv``, train, write the trace; returns its path. Restores torch's global
    determinism and thread settings afterwards (so it can run inside a test process)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    import torch
    old_det = torch.are_deterministic_algorithms_enabled()
    old_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    try:
        out = run(args, argv)
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)
    print(f"wrote {out}", file=sys.stderr)
    return out


def cli(argv: list[str] | None = None) -> int:
    """:func:`main` for the command line: exit status 0, or 1 with one line on stderr for an
    input or output problem (a full disk, a read-only path, a bad option value), 130 on Ctrl-C.
    The trace writer is atomic, so an interrupted or failed dump leaves no partial trace."""
    from essop_sim.errors import EssopSimError

    try:
        main(argv)
    except EssopSimError as exc:
        print(f"dump_traces: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"dump_traces: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dump_traces: interrupted (no trace written)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(cli())
