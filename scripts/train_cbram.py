#!/usr/bin/env python
"""Training in the loop with the CBRAM bitstream source (issue 15): the digits CNN with its weight
gradients from the `cbram` datapath, uncalibrated and calibrated, at several device-variation
levels (d2d sigma = c2c sigma), next to FP32 autograd and LFSR ESSOP at the same bitstream length.

Settings as scripts/train_in_loop.py's digits defaults except the number of epochs (batch 32, SGD
lr 0.05, momentum 0.9, constant learning rate, one torch and one numba thread). The accuracy of a
run is the mean test accuracy over its last ``--last`` epochs (steadier than one snapshot at a
constant learning rate); the table gives its mean and standard deviation over the seeds.
docs/training.md ("CBRAM bitstream source") holds the result. Run from the repository root:

    python scripts/train_cbram.py --bl 64 --sigma 0 0.3 0.6 --seeds 0 1 2 --epochs 6 --last 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bl", type=int, default=64, help="bitstream length (CBRAM and ESSOP)")
    ap.add_argument("--sigma", type=float, nargs="+", default=[0.0, 0.3, 0.6],
                    help="device variation levels (cbram.device.d2d_sigma = c2c_sigma)")
    ap.add_argument("--calibration", nargs="+", default=["none", "inverse"],
                    choices=["none", "inverse"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--last", type=int, default=3,
                    help="a run's accuracy is the mean over its last N epochs")
    ap.add_argument("--max-steps", type=int, default=None, help="steps per epoch (None: all)")
    ap.add_argument("--json", default=None, help="also write every run's history here")
    args = ap.parse_args()

    import numba
    import torch

    from essop_sim import datasets as ds
    from essop_sim.config import load_config
    from essop_sim.models import build_model
    from essop_sim.training import train_classifier

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    data = ds.load_for_model("cnn", seed=0)
    train = (torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    test = (torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    runs: list[tuple[str, object]] = [("FP32", None), (f"ESSOP (LFSR) BL{args.bl}", load_config(
        overrides={"datapath": "essop", "essop.bitstream_length": args.bl}))]
    for cal in args.calibration:
        for sigma in args.sigma:
            runs.append((f"CBRAM BL{args.bl} {cal} sigma {sigma:g}", load_config(overrides={
                "datapath": "cbram", "cbram.bitstream_length": args.bl,
                "cbram.device.calibration": cal, "cbram.device.d2d_sigma": sigma,
                "cbram.device.c2c_sigma": sigma})))
    print("command: python " + " ".join([sys.argv[0], *sys.argv[1:]]), flush=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    history: list[dict] = []
    t_all = time.perf_counter()
    for label, cfg in runs:
        for seed in args.seeds:
            t0 = time.perf_counter()
            res = train_classifier(lambda: build_model("cnn"), train, test, cfg,
                                   epochs=args.epochs, batch_size=32, lr=0.05, momentum=0.9,
                                   seed=seed, label=label,
                                   max_steps_per_epoch=args.max_steps)
            acc = statistics.fmean(res.test_accuracy[-args.last:])
            history.append({"label": label, "seed": seed, "accuracy_last": acc,
                            "test_accuracy": res.test_accuracy, "train_loss": res.train_loss,
                            "median_step_ms": 1e3 * res.median_step_seconds,
                            "seconds": time.perf_counter() - t0})
            print(f"{label:32s} seed {seed}: mean test accuracy of the last {args.last} epochs "
                  f"{100 * acc:.2f}%  per epoch {[round(100 * a, 1) for a in res.test_accuracy]}"
                  f"  median step {1e3 * res.median_step_seconds:.1f} ms "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"total {time.perf_counter() - t_all:.0f} s; load average {os.getloadavg()[0]:.2f} "
          "at end", flush=True)
    print(f"\n| run | accuracy, mean of last {args.last} epochs, mean over seeds "
          f"{' '.join(map(str, args.seeds))} (%) | std over seeds | min | max | "
          "median step (ms) |\n|---|---|---|---|---|---|")
    for label, _ in runs:
        accs = [100 * h["accuracy_last"] for h in history if h["label"] == label]
        steps = [h["median_step_ms"] for h in history if h["label"] == label]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {label} | {statistics.fmean(accs):.2f} | {std:.2f} | {min(accs):.2f} | "
              f"{max(accs):.2f} | {statistics.median(steps):.1f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"command": sys.argv, "runs": history}, fh, indent=1)


if __name__ == "__main__":
    main()
