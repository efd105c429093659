#!/usr/bin/env python
"""SBE error against passes and warm start on consecutive steps of real training (docs/sbe.md).

Reads a trace with runs of consecutive steps (made by scripts/dump_traces.py; it stays out of the
package, e.g. in /tmp), runs the SBE stage (binary16 unless --arithmetic) on every record with
1, 2 and 4 passes, cold and warm (the previous step's hats of the same layer, within one window of
consecutive steps), and prints a markdown table of the stage's dW relative error ||G~ - G|| / ||G||
(mean over the steps of each window after its first, which starts cold in both modes) next to the
Eckart-Young bound; --png writes the figure. Run from the repository root:

    python scripts/dump_traces.py --model cnn --out /tmp/sbe_consecutive_trace \\
        --steps 0:8,300:308 --epochs 7 --dtype float32 --threads 1
    PYTHONPATH=. python scripts/sbe_warm_start.py /tmp/sbe_consecutive_trace \\
        --png docs/img/sbe_warm_start.png
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


def measure(trace, ranks, passes, arithmetic: str) -> dict:
    """{(layer, window start, rank, passes, warm): [errors of the steps after the first]} and
    {(layer, window start, rank): [Eckart-Young bounds of the same steps]}."""
    from essop_sim.config import load_config
    from essop_sim.datapaths.sbe.stage import STAGE

    errors: dict = {}
    bounds: dict = {}
    for win in windows(sorted(trace.steps)):
        recs = [r for r in trace.records if r.step in win]
        layers = sorted({r.layer for r in recs})
        for rank in ranks:
            for p in passes:
                for warm in (False, True):
                    config = load_config(overrides={
                        "datapath": "fp16", "stages": ["sbe"], "sbe.rank": rank,
                        "sbe.passes": p, "sbe.warm_start": warm,
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
                            if p == passes[0] and not warm:
                                bounds.setdefault((layer, win[0], rank), []).append(
                                    out.columns["eckart_young"])
    return {"errors": errors, "bounds": bounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--passes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--arithmetic", default="binary16")
    ap.add_argument("--png", default=None)
    args = ap.parse_args()

    from essop_sim.trace import load_trace

    trace = load_trace(args.trace)
    res = measure(trace, args.ranks, args.passes, args.arithmetic)
    errors, bounds = res["errors"], res["bounds"]
    layers = sorted({k[0] for k in errors})
    starts = sorted({k[1] for k in errors})
    head = " | ".join(f"{p} pass{'es' if p > 1 else ''} {w}" for p in args.passes
                      for w in ("cold", "warm"))
    print(f"| layer | steps | r | {head} | Eckart-Young |")
    print("|---|---|---|" + "---|" * (2 * len(args.passes) + 1))
    for layer in layers:
        for s0 in starts:
            for rank in args.ranks:
                cells = []
                for p in args.passes:
                    for warm in (False, True):
                        e = errors[(layer, s0, rank, p, warm)]
                        cells.append(f"{np.mean(e):.2f} ± {np.std(e):.2f}")
                n_steps = len(errors[(layer, s0, rank, args.passes[0], False)])
                print(f"| {layer} | {s0 + 1}-{s0 + n_steps} | {rank} | {' | '.join(cells)} | "
                      f"{np.mean(bounds[(layer, s0, rank)]):.2f} |")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(args.ranks), len(layers),
                                 figsize=(3.2 * len(layers), 2.9 * len(args.ranks)),
                                 squeeze=False, sharex=True)
        colors = dict(zip(starts, ("tab:blue", "tab:red", "tab:green", "tab:purple"),
                          strict=False))
        for i, rank in enumerate(args.ranks):
            for j, layer in enumerate(layers):
                ax = axes[i][j]
                for s0 in starts:
                    for warm, style in ((False, "--o"), (True, "-s")):
                        mean = [np.mean(errors[(layer, s0, rank, p, warm)]) for p in args.passes]
                        ax.plot(args.passes, mean, style, color=colors[s0], ms=4,
                                label=f"steps from {s0 + 1}, {'warm' if warm else 'cold'}")
                    ax.axhline(np.mean(bounds[(layer, s0, rank)]), color=colors[s0], lw=0.8,
                               ls=":")
                ax.set_title(f"{layer}, r = {rank}", fontsize=10)
                ax.set_xticks(args.passes)
                ax.set_ylim(bottom=0)
                ax.grid(alpha=0.3)
                if i == len(args.ranks) - 1:
                    ax.set_xlabel("passes over the batch")
                if j == 0:
                    ax.set_ylabel("dW rel. error")
        axes[0][0].legend(fontsize=7, loc="upper right")
        fig.suptitle(f"SBE ({args.arithmetic}) on consecutive digits-CNN steps: error vs passes, "
                     "cold (dashed) and warm start (solid); dotted: Eckart-Young bound",
                     fontsize=10)
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
