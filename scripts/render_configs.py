"""Regenerate configs/essop_14nm.yaml, fp16_baseline.yaml, bitserial_14nm.yaml,
cbram_14nm.yaml, sbe_essop_14nm.yaml and edge_14nm.yaml from the schema.

The shipped files are the dataclass defaults with every key commented from its field metadata,
so they cannot drift from the code (tests/test_config.py holds them equal).
Run: python scripts/render_configs.py
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from essop_sim.config import HardwareConfig
from essop_sim.config.render import render_yaml

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

HEADERS = {
    "essop": ("# essop-sim hardware configuration: ESSOP at 14 nm (the default configuration).\n"
              "# Every key is optional; omitted keys take the values shown. "
              "`essop-sim config` lists them all.\n"),
    "fp16": ("# essop-sim hardware configuration: the pipelined FP16 multiplier baseline, "
             "14 nm.\n"
             "# Same keys as essop_14nm.yaml; only `datapath` differs, so both share memory, "
             "clock and cost table.\n"),
    "bitserial": ("# essop-sim hardware configuration: the bit-serial variable-precision "
                  "datapath (Tartan), 14 nm.\n"
                  "# Same keys as essop_14nm.yaml; only `datapath` differs. See docs/bitserial.md."
                  "\n"),
    "cbram": ("# essop-sim hardware configuration: ESSOP's array with a probabilistic CBRAM "
              "bitstream source\n# (Lammie et al.), 14 nm logic. Same keys as essop_14nm.yaml; "
              "only `datapath` differs.\n# See docs/cbram.md.\n"),
    "sbe": ("# essop-sim hardware configuration: the SBE stage (streaming batch eigenupdates, "
            "rank r)\n# in front of ESSOP, 14 nm. Same keys as essop_14nm.yaml; `stages: [sbe]` "
            "differs.\n# Put `datapath: fp16` (or any other) to compress in front of that "
            "datapath. See docs/sbe.md.\n"),
    "edge": ("# essop-sim hardware configuration: the edge processor with pre-defined sparsity "
             "(Dey et al.),\n# 14 nm. Same keys as essop_14nm.yaml; only `datapath` differs. "
             "See docs/edge.md.\n"),
}
FILES = {"essop": "essop_14nm.yaml", "fp16": "fp16_baseline.yaml",
         "bitserial": "bitserial_14nm.yaml", "cbram": "cbram_14nm.yaml",
         "sbe": "sbe_essop_14nm.yaml", "edge": "edge_14nm.yaml"}
#: shipped files that apply stages: key -> (datapath, stages)
STAGED = {"sbe": ("essop", ("sbe",))}


def render(datapath: str) -> str:
    """The commented YAML text of the shipped config ``datapath`` (a key of FILES)."""
    name, stages = STAGED.get(datapath, (datapath, ()))
    config = dataclasses.replace(HardwareConfig(), datapath=name, stages=stages)
    return HEADERS[datapath] + "\n" + render_yaml(config)


def main() -> None:
    for datapath, name in FILES.items():
        (CONFIGS / name).write_text(render(datapath))
        print(CONFIGS / name)


if __name__ == "__main__":
    main()
