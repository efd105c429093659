"""Per-layer table of docs/sbe.md: MBGD vs SBE r = 1, 2, 4 through ESSOP and FP16 on the shipped
trace (means over its three steps); "x P" = P passes (2, the default).
Run: PYTHONPATH=. python scripts/sbe_table.py"""

from __future__ import annotations

import numpy as np

from essop_sim.config import load_config
from essop_sim.simulate import simulate

SBE = {"stages": ["sbe"]}
DESIGNS = [(f"MBGD {dp}", {"datapath": dp}) for dp in ("essop", "fp16")] + [
    (f"SBE r={r} x2 + {dp}", {"datapath": dp, **SBE, "sbe.rank": r, "sbe.passes": 2})
    for dp in ("essop", "fp16") for r in (1, 2, 4)] + [
    (f"SBE r=4 x{p} + fp16", {"datapath": "fp16", **SBE, "sbe.rank": 4, "sbe.passes": p})
    for p in (1, 4)] + [
    ("exact SVD r=1 + fp16", {"datapath": "fp16", **SBE, "sbe.arithmetic": "exact"})]


def mean(rows, key):
    return float(np.mean([row[key] for row in rows]))


def main() -> None:
    table: dict = {}
    for label, over in DESIGNS:
        for row in simulate(load_config(overrides=over)).rows:
            table.setdefault((row["layer"], label), []).append(row)
    print("| layer | design | captured | optimal | dW rel. error | cosine | array writes | "
          "stored bits | cycles | energy (nJ) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (layer, label), rows in sorted(table.items()):
        first = rows[0]
        if "sbe_rank" in first:
            cap = (f"{mean(rows, 'sbe_energy_captured'):.3f} | "
                   f"{mean(rows, 'sbe_energy_optimal'):.3f}")
            writes, bits = first["sbe_array_writes"], first["sbe_stored_bits"]
        else:
            cap, writes, bits = "1 | 1", first["K"], first["m"] * first["n"] * 16
        print(f"| {layer} | {label} | {cap} | {mean(rows, 'rel_error'):.3f} | "
              f"{mean(rows, 'cosine'):.3f} | {writes} | {bits} | {mean(rows, 'cycles'):,.0f} | "
              f"{mean(rows, 'energy_pj') / 1e3:.1f} |")


if __name__ == "__main__":
    main()
