#!/usr/bin/env python
"""Training in the loop with SBE: the digits CNN trained with mini-batch GD (MBGD: exact weight
gradients and the FP16 datapath) and with the SBE stage (rank r) in front of FP16 and ESSOP.

Every run uses the settings of scripts/train_in_loop.py's digits defaults (batch 32, SGD lr 0.05,
momentum 0.9, constant schedule; one torch and one numba thread) and the same seeds, so runs of a
seed differ only in how the weight gradients were computed. Counts matrix updates as array
writes (``LayerStats.array_writes``): K outer products per layer and update for MBGD, r for SBE.
Prints markdown tables (accuracy per epoch, mean ± std over seeds; epochs and array writes to
reach each target accuracy) and writes epochs.csv and summary.json (command, machine, settings)
under --out. docs/training.md ("SBE (issue 13)") holds the result. From the repository root:

    PYTHONPATH=. python scripts/train_sbe.py --seeds 0 1 2 --epochs 10 --ranks 1 4 --passes 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def runs_of(args) -> list[tuple[str, object]]:
    from essop_sim.config import load_config
    from essop_sim.training import EXACT

    runs: list[tuple[str, object]] = []
    if "exact" in args.mbgd:
        runs.append(("MBGD exact", EXACT))
    for dp in args.mbgd:
        if dp != "exact":
            runs.append((f"MBGD {dp}", load_config(overrides={"datapath": dp})))
    for rank in args.ranks:
        for dp in args.datapaths:
            over = {"datapath": dp, "stages": ["sbe"], "sbe.rank": rank,
                    "sbe.passes": args.passes, "sbe.warm_start": args.warm,
                    "sbe.arithmetic": args.arithmetic}
            warm = " warm" if args.warm else ""
            runs.append((f"SBE r={rank} x{args.passes}{warm} + {dp}",
                         load_config(overrides=over)))
    return runs


def first_epoch(acc: list[float], target: float) -> int | None:
    """1-based epoch whose test accuracy first reaches target, or None."""
    return next((e + 1 for e, a in enumerate(acc) if a >= target), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--warm", action="store_true", help="SBE warm start")
    ap.add_argument("--arithmetic", default="binary16")
    ap.add_argument("--datapaths", nargs="+", default=["fp16", "essop"],
                    help="datapaths behind SBE")
    ap.add_argument("--mbgd", nargs="*", default=["exact", "fp16"],
                    help="MBGD baselines: 'exact' (float64 dW) and/or datapath names")
    ap.add_argument("--targets", type=float, nargs="+", default=[0.85, 0.9])
    ap.add_argument("--out", default="runs/train_sbe")
    args = ap.parse_args()

    import numba
    import torch

    from essop_sim import datasets as ds
    from essop_sim.models import build_model
    from essop_sim.training import train_classifier

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_in_loop import machine_info

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    data = ds.load_for_model("cnn", seed=0)
    train = (torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    test = (torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    results: dict[str, list[dict]] = {}
    for label, cfg in runs_of(args):
        for seed in args.seeds:
            t0 = time.perf_counter()
            res = train_classifier(lambda: build_model("cnn"), train, test, cfg,
                                   epochs=args.epochs, batch_size=32, lr=0.05, momentum=0.9,
                                   seed=seed, label=label)
            writes = sum(s.array_writes for s in res.layers)
            updates = res.layers[0].updates
            # every epoch has the same mini-batch sizes, hence the same writes
            assert writes % args.epochs == 0 and updates % args.epochs == 0
            results.setdefault(label, []).append({
                "seed": seed, "test_accuracy": res.test_accuracy,
                "train_loss": res.train_loss, "array_writes": writes,
                "writes_per_layer_update": {s.name: s.array_writes // s.updates
                                            for s in res.layers},
                "updates": updates, "seconds": time.perf_counter() - t0})
            print(f"{label:28s} seed {seed}: " + " ".join(
                f"{100 * a:.1f}" for a in res.test_accuracy)
                + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
        with open(out / "summary.json", "w") as fh:
            json.dump({"command": command, "machine": machine_info(),
                       "load_average": os.getloadavg(), "settings": vars(args),
                       "runs": results}, fh, indent=1)
    with open(out / "epochs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "seed", "epoch", "test_accuracy", "train_loss"])
        for label, rows in results.items():
            for row in rows:
                for e, (a, loss) in enumerate(zip(row["test_accuracy"], row["train_loss"],
                                                  strict=True)):
                    w.writerow([label, row["seed"], e + 1, a, loss])

    print(f"\nTest accuracy (%) per epoch, mean ± std over seeds {args.seeds}:\n")
    print("| run | " + " | ".join(str(e + 1) for e in range(args.epochs)) + " |")
    print("|---|" + "---|" * args.epochs)
    for label, rows in results.items():
        acc = 100 * np.array([r["test_accuracy"] for r in rows])
        print(f"| {label} | " + " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in
                                           zip(acc.mean(0), acc.std(0), strict=True)) + " |")
    print("\nTo reach a target (per seed; '>E' = not within the run's epochs). Array writes "
          "summed over the 4 layers:\n")
    head = " | ".join(f"epochs to {100 * t:g}% | array writes to {100 * t:g}%"
                      for t in args.targets)
    print(f"| run | array writes per update (conv1, conv2, conv3, fc) | {head} |")
    print("|---|---|" + "---|---|" * len(args.targets))
    for label, rows in results.items():
        per = rows[0]["writes_per_layer_update"]
        cells = []
        for t in args.targets:
            eps = [first_epoch(r["test_accuracy"], t) for r in rows]
            cells.append(", ".join(f">{args.epochs}" if e is None else str(e) for e in eps))
            cells.append(", ".join(
                f">{r['array_writes']:,}" if e is None
                else f"{e * r['array_writes'] // args.epochs:,}" for e, r in zip(eps, rows,
                                                                                strict=True)))
        print(f"| {label} | {', '.join(str(v) for v in per.values())} | "
              + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
