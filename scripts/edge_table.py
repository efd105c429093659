"""Table and figure of docs/edge.md: the edge processor (clash_free and random patterns), masked
ESSOP (--compare essop, the same clash_free mask) and dense FP16 (--compare fp16) at densities 1,
1/2, 1/4, 1/8, 1/16 on the shipped trace (sums over its 12 records; errors are means of the
per-record relative Frobenius errors).
Run: PYTHONPATH=. python scripts/edge_table.py [--out results/edge_table] [--figure PATH]"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

DENSITIES = (1.0, 0.5, 0.25, 0.125, 0.0625)


def run(out: Path, pattern: str, density: float) -> list[dict]:
    target = out / f"{pattern}_{density:g}"
    subprocess.run([sys.executable, "-m", "essop_sim.cli", "run", "--config",
                    "configs/edge_14nm.yaml", "--set", f"edge.pattern={pattern}",
                    "--set", f"edge.density={density}", "--set",
                    "essop.mask.pattern=clash_free", "--set", f"essop.mask.density={density}",
                    "--compare", "essop,fp16", "-o", str(target), "-q"],
                   check=True, stdout=subprocess.DEVNULL)
    return json.loads((target / "report.json").read_text())["rows"]


def total(rows, key):
    return sum(r[key] for r in rows)


def mean(rows, key):
    return sum(r[key] for r in rows) / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("results/edge_table"))
    ap.add_argument("--figure", type=Path, default=Path("docs/img/edge_density.png"))
    args = ap.parse_args()
    res = {(p, d): run(args.out, p, d) for p in ("clash_free", "random") for d in DENSITIES}
    print("| density | complexity reduction (m n K / edges) | edge cycles | edge clash stalls | "
          "random-pattern cycles (clash stalls) | edge energy (uJ) | edge error vs dense | "
          "edge error vs masked exact | masked ESSOP cycles | masked ESSOP energy (uJ) | "
          "masked ESSOP error vs dense | dense FP16 cycles | dense FP16 energy (uJ) | "
          "dense FP16 error |")
    print("|" + "---|" * 14)
    series: dict[str, list[float]] = {}
    for d in DENSITIES:
        cf, rnd = res[("clash_free", d)], res[("random", d)]
        edges = sum(r["edge_edges"] * r["K"] for r in cf)
        full = sum(r["m"] * r["n"] * r["K"] for r in cf)
        print(f"| {d:g} | {full / edges:.2f} | {total(cf, 'cycles'):,} | "
              f"{total(cf, 'stall_clash'):,} | {total(rnd, 'cycles'):,} "
              f"({total(rnd, 'stall_clash'):,}) | {total(cf, 'energy_pj') / 1e6:.3f} | "
              f"{mean(cf, 'rel_error'):.3f} | {mean(cf, 'edge_masked_rel_error'):.1e} | "
              f"{total(cf, 'vs_essop_cycles'):,} | {total(cf, 'vs_essop_energy_pj') / 1e6:.3f} | "
              f"{mean(cf, 'vs_essop_rel_error'):.3f} | {total(cf, 'vs_fp16_cycles'):,} | "
              f"{total(cf, 'vs_fp16_energy_pj') / 1e6:.3f} | {mean(cf, 'vs_fp16_rel_error'):.1e} |")
        for name, rows, ck, ek in (("edge clash_free", cf, "cycles", "energy_pj"),
                                   ("edge random", rnd, "cycles", "energy_pj"),
                                   ("masked ESSOP", cf, "vs_essop_cycles", "vs_essop_energy_pj"),
                                   ("dense FP16", cf, "vs_fp16_cycles", "vs_fp16_energy_pj")):
            series.setdefault(name + " cycles", []).append(total(rows, ck))
            series.setdefault(name + " energy", []).append(total(rows, ek) / 1e6)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    x = [1 / d for d in DENSITIES]
    for ax, what, unit in ((axes[0], "cycles", "cycles (12 records)"),
                           (axes[1], "energy", "energy (uJ, 12 records)")):
        for name in ("edge clash_free", "edge random", "masked ESSOP", "dense FP16"):
            ax.plot(x, series[f"{name} {what}"], marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("1 / density")
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle("Pre-defined sparsity on the shipped digits_cnn trace (z = 16, B = 16)")
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
