#!/usr/bin/env python
"""Training in the loop with the bit-serial datapath: the digits CNN with its weight gradients
from the bit-serial datapath at several fixed precisions p and in 'auto' mode, next to FP32.

Same settings as scripts/train_in_loop.py's digits defaults (8 epochs, batch 32, SGD lr 0.05,
momentum 0.9, constant schedule, seed 0). Prints one line per run; docs/bitserial.md holds the
result. Run from the repository root:

    python scripts/train_bitserial.py --p 2 4 6 8 16 --auto 0.01 --seeds 0
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, nargs="*", default=[2, 4, 6, 8, 16])
    ap.add_argument("--auto", type=float, nargs="*", default=[0.01],
                    help="tolerances of 'auto' runs")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--serial", default="x", choices=["x", "delta"])
    args = ap.parse_args()

    import torch

    from essop_sim import datasets as ds
    from essop_sim.config import load_config
    from essop_sim.models import build_model
    from essop_sim.training import train_classifier

    torch.set_num_threads(1)
    data = ds.load_for_model("cnn", seed=0)
    train = (torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    test = (torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    base = {"datapath": "bitserial", "bitserial.serial_operand": args.serial}
    runs = [("fp32", None)]
    runs += [(f"bitserial p={p}", load_config(overrides={
        **base, "bitserial.precision_mode": "fixed", "bitserial.precision": p}))
        for p in args.p]
    runs += [(f"bitserial auto({tol:g})", load_config(overrides={
        **base, "bitserial.precision_mode": "auto", "bitserial.tolerance": tol}))
        for tol in args.auto]
    for seed in args.seeds:
        for label, cfg in runs:
            t0 = time.perf_counter()
            res = train_classifier(lambda: build_model("cnn"), train, test, cfg,
                                   epochs=args.epochs, batch_size=32, lr=0.05, momentum=0.9,
                                   seed=seed, label=label)
            print(f"{label:24s} seed {seed}: final test accuracy "
                  f"{100 * res.final_accuracy:.2f}%  ({time.perf_counter() - t0:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
