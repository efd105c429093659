"""The FP16 baseline's configuration section (``fp16:`` in YAML)."""

from __future__ import annotations

from dataclasses import dataclass

from ...config.model import param, section
from ...numerics.pattern import MaskConfig


@dataclass(frozen=True)
class Fp16Config:
    """The pipelined IEEE binary16 multiplier baseline."""

    multipliers: int = param(64, "FP16 multipliers working in parallel.", unit="multipliers",
                             low=1, high=1 << 20)
    pipeline_depth: int = param(4, "Multiplier pipeline depth D; a product leaves D cycles "
                                "after issue.", unit="cycles", low=1, high=1024)
    issue_interval: int = param(1, "Cycles between issues on one multiplier (1 = fully "
                                "pipelined).", unit="cycles", low=1, high=1024)
    accumulator: str = param("fp32", "Accumulation format of the K products of an element.",
                             choices=("fp16", "fp32"))
    mask: MaskConfig = section(MaskConfig, "Pre-defined sparsity mask: only connected products "
                               "are issued and counted (docs/edge.md).")
