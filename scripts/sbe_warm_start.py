#!/usr/bin/env python
"""SBE error against passes and warm start on consecutive steps of real training (docs/sbe.md).

Reads a trace with runs of consecutive steps (made by scripts/dump_traces.py; it stays out of the
package, e.g. in /tmp), runs the SBE stage (binary16 unless --arithmetic) on every record with
1, 2 and 4 passes, cold and warm (the previous step's state of the same layer, within one window
of consecutive steps: the hats only, warm_weight 0, or also the running averages counted as
warm_weight x K prior samples), and prints a markdown table of the stage's dW relative error
||G~ - G|| / ||G|| (mean ± std over the steps of each window after its first, which starts cold
in every mode) next to the Eckart-Young bound, then a summary per window and passes; --png
writes the figure. Run from the repository root:

    python scripts/dump_traces.py --model cnn --out /tmp/sbe_consecutive_trace \\
        --steps 0:8,300:308 --epochs 7 --dtype float32 --threads 1
    PYTHONPATH=. python scripts/sbe_warm_start.py /tmp/sbe_consecutive_trace \\
        --png docs/img/sbe_warm_start.png --weights 0 0.25 1 4
"""

from __future__ import annotations

import argparse

import numpy as np


def windows(steps: list[int]) -> list[list[int]]:
    """Split sorted steps into runs of consecutive steps."""
    out: list[list[int]] = []
    for s in steps:
        if out and s == out[-1][-1] + 1:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def mode_label(warm) -> str:
    """warm: None = cold, 0 = hats-only warm start, w > 0 = averages seeded as w K samples."""
    if warm is None:
        return "cold"
    return "warm hats" if warm == 0 else f"warm w0={warm:g}K"


def measure(trace, ranks, passes, arithmetic: str, weights=(0.0,)) -> dict:
    """{(layer, window start, rank, passes, warm): [errors of the steps after the first]} and
    {(layer, window start, rank): [Eckart-Young bounds of the same steps]}; warm is None (cold)
    or the sbe.warm_weight of a warm start (0: hats only)."""
    from essop_sim.config import load_config
    from essop_sim.datapaths.sbe.stage import STAGE

    errors: dict = {}
    bounds: dict = {}
    modes = (None, *weights)
    for win in windows(sorted(trace.steps)):
        recs = [r for r in trace.records if r.step in win]
        layers = sorted({r.layer for r in recs})
        for rank in ranks:
            for p in passes:
                for warm in modes:
                    config = load_config(overrides={
                        "datapath": "fp16", "stages": ["sbe"], "sbe.rank": rank,
                        "sbe.passes": p, "sbe.warm_start": warm is not None,
                        "sbe.warm_weight": warm or 0.0,
                        "sbe.arithmetic": arithmetic})
                    for layer in layers:
                        state = None
                        for rec in sorted((r for r in recs if r.layer == layer),
                                          key=lambda r: r.step):
                            out = STAGE.apply(np.asarray(rec.x), np.asarray(rec.delta), config,
                                              0, state=state)
                            state = out.state
                            if rec.step == win[0]:
                                continue
                            errors.setdefault((layer, win[0], rank, p, warm), []).append(
                                out.columns["stage_rel_error"])
                            if p == passes[0] and warm is None:
                                bounds.setdefault((layer, win[0], rank), []).append(
                                    out.columns["eckart_young"])
    return {"errors": errors, "bounds": bounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--passes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.25, 1.0, 4.0],
                    help="warm starts to compare with cold: sbe.warm_weight values (0 = the "
                    "hats-only warm start)")
    ap.add_argument("--arithmetic", default="binary16")
    ap.add_argument("--png", default=None)
    args = ap.parse_args()

    from essop_sim.trace import load_trace

    trace = load_trace(args.trace)
    res = measure(trace, args.ranks, args.passes, args.arithmetic, tuple(args.weights))
    errors, bounds = res["errors"], res["bounds"]
    layers = sorted({k[0] for k in errors})
    starts = sorted({k[1] for k in errors})
    modes = (None, *args.weights)
    print(f"| layer | steps | r | passes | {' | '.join(mode_label(w) for w in modes)} | "
          "Eckart-Young |")
    print("|---|---|---|---|" + "---|" * (len(modes) + 1))
    for layer in layers:
        for s0 in starts:
            for rank in args.ranks:
                for p in args.passes:
                    cells = []
                    for warm in modes:
                        e = errors[(layer, s0, rank, p, warm)]
                        cells.append(f"{np.mean(e):.2f} ± {np.std(e):.2f}")
                    n_steps = len(errors[(layer, s0, rank, p, None)])
                    print(f"| {layer} | {s0 + 1}-{s0 + n_steps} | {rank} | {p} | "
                          f"{' | '.join(cells)} | {np.mean(bounds[(layer, s0, rank)]):.2f} |")
    # summary: per window, passes and mode, the mean over the (layer, rank) rows of the error's
    # mean, and how many rows beat cold (+) or lose to it (-) by more than the larger std
    print()
    print("| steps | passes | " + " | ".join(mode_label(w) for w in modes) + " |")
    print("|---|---|" + "---|" * len(modes))
    for s0, p in ((s0, p) for s0 in starts for p in args.passes):
        cells = []
        for warm in modes:
            keys = [(la, s0, rank, p) for la in layers for rank in args.ranks]
            mean = np.mean([np.mean(errors[(*k, warm)]) for k in keys])
            if warm is None:
                cells.append(f"{mean:.3f}")
                continue
            better = sum(np.mean(errors[(*k, None)]) - np.mean(errors[(*k, warm)])
                         > max(np.std(errors[(*k, None)]), np.std(errors[(*k, warm)]))
                         for k in keys)
            worse = sum(np.mean(errors[(*k, warm)]) - np.mean(errors[(*k, None)])
                        > max(np.std(errors[(*k, None)]), np.std(errors[(*k, warm)]))
                        for k in keys)
            cells.append(f"{mean:.3f} (+{better} / -{worse} of {len(keys)})")
        n_steps = len(errors[(layers[0], s0, args.ranks[0], p, None)])
        print(f"| {s0 + 1}-{s0 + n_steps} | {p} | " + " | ".join(cells) + " |")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(args.ranks) * len(starts), len(layers),
                                 figsize=(3.2 * len(layers), 2.6 * len(args.ranks) * len(starts)),
                                 squeeze=False, sharex=True)
        cmap = plt.get_cmap("viridis")
        colors = {None: "black", **{w: cmap(0.15 + 0.7 * i / max(len(args.weights) - 1, 1))
                                    for i, w in enumerate(args.weights)}}
        for i0, rank in enumerate(args.ranks):
            for i1, s0 in enumerate(starts):
                i = i0 * len(starts) + i1
                for j, layer in enumerate(layers):
                    ax = axes[i][j]
                    for warm in modes:
                        mean = [np.mean(errors[(layer, s0, rank, p, warm)])
                                for p in args.passes]
                        ax.plot(args.passes, mean, "--o" if warm is None else "-s",
                                color=colors[warm], ms=3.5, lw=1.2, label=mode_label(warm))
                    ax.axhline(np.mean(bounds[(layer, s0, rank)]), color="gray", lw=0.8,
                               ls=":")
                    n_steps = len(errors[(layer, s0, rank, args.passes[0], None)])
                    ax.set_title(f"{layer}, r = {rank}, steps {s0 + 1}-{s0 + n_steps}",
                                 fontsize=9)
                    ax.set_xticks(args.passes)
                    ax.set_ylim(bottom=0)
                    ax.grid(alpha=0.3)
                    if i == len(axes) - 1:
                        ax.set_xlabel("passes over the batch")
                    if j == 0:
                        ax.set_ylabel("dW rel. error")
        axes[0][0].legend(fontsize=7, loc="upper right")
        fig.suptitle(f"SBE ({args.arithmetic}) on consecutive digits-CNN steps: mean error vs "
                     "passes, cold (dashed) and warm starts (solid); dotted: Eckart-Young bound",
                     fontsize=10)
        fig.tight_layout()
        fig.savefig(args.png, dpi=100)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
