#!/usr/bin/env python
"""Training in the loop with the edge processor: the digits CNN with pre-defined sparse layers
(every conv and linear layer masked by the edge processor's clash_free pattern, weights outside
it zero, kept weights scaled to the sparse fan-in) and its weight gradients from the edge
processor's masked fixed-point update, at several densities and operand widths, next to FP32.

Same settings as scripts/train_bitserial.py (8 epochs, batch 32, SGD lr 0.05, momentum 0.9,
constant schedule). Prints one line per run and a mean +- std table; docs/training.md holds the
result. Run from the repository root:

    python scripts/train_edge.py --densities 1 0.5 0.25 0.125 0.0625 --bits 8 12 16 --seeds 0 1 2
    python scripts/train_edge.py --no-fp32 --no-edge --masked-fp16      # the sparsity alone
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--densities", type=float, nargs="+",
                    default=[1.0, 0.5, 0.25, 0.125, 0.0625])
    ap.add_argument("--bits", type=int, nargs="+", default=[8, 12, 16])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--masked-fp16", action="store_true",
                    help="also FP16 gradients under the same mask (the sparsity alone)")
    ap.add_argument("--no-fp32", action="store_true", help="skip the dense FP32 runs")
    ap.add_argument("--no-edge", action="store_true", help="skip the edge runs")
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
    runs = [] if args.no_fp32 else [("fp32 dense", None)]
    if not args.no_edge:
        runs += [(f"edge d={d:g} B={b}", load_config(overrides={
            "datapath": "edge", "edge.pattern": "clash_free", "edge.density": d,
            "edge.operand_bits": b})) for b in args.bits for d in args.densities]
    if args.masked_fp16:   # the same pattern (mask.banks = edge.lanes = 16, seed 0)
        runs += [(f"fp16 mask d={d:g}", load_config(overrides={
            "datapath": "fp16", "fp16.mask.pattern": "clash_free", "fp16.mask.density": d}))
            for d in args.densities]
    acc: dict[str, list[float]] = {}
    for label, cfg in runs:
        for seed in args.seeds:
            t0 = time.perf_counter()
            res = train_classifier(lambda: build_model("cnn"), train, test, cfg,
                                   epochs=args.epochs, batch_size=32, lr=0.05, momentum=0.9,
                                   seed=seed, label=label)
            acc.setdefault(label, []).append(100 * res.final_accuracy)
            print(f"{label:22s} seed {seed}: final test accuracy "
                  f"{100 * res.final_accuracy:.2f}%  ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    print("\n| run | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean +- std |")
    print("|---|" + "---|" * (len(args.seeds) + 1))
    for label, values in acc.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in values)
              + f" | {statistics.mean(values):.1f} +- {std:.1f} |")


if __name__ == "__main__":
    main()
