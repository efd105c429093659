"""A test-only stage, 'subsample': keeps every s-th outer product of a record, scaled by s.

sum_k delta_k x_k^T is estimated by s * sum_{k = 0, s, 2s, ...} delta_k x_k^T (x rows scaled by
s, exactly for power-of-two s). It proves that stages register like datapaths and compose with
every datapath: K' = ceil(K / s), and the stage spends ``cycles_per_k`` cycles per input k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from essop_sim.config.model import param
from essop_sim.datapaths import Stage, StageResult


@dataclass(frozen=True)
class SubsampleConfig:
    """The subsample section."""

    stride: int = param(2, "Keep every stride-th outer product.", low=1, high=1024)
    cycles_per_k: int = param(0, "Stage cycles per input outer product.", unit="cycles",
                              low=0, high=64)


class Subsample(Stage):
    name = "subsample"
    config_class = SubsampleConfig
    doc = "Test-only stage: every s-th outer product, scaled by s."

    def apply(self, x, delta, config, seed):
        s = config.subsample.stride
        kept = np.asarray(x[::s], np.float64) * s
        return StageResult(kept, np.asarray(delta[::s]), activity={},
                           columns={"stride": s})

    def output_k(self, config, m, n, K):
        return -(-K // config.subsample.stride)

    def cycles(self, config, m, n, K):
        return config.subsample.cycles_per_k * K

    def describe(self, config):
        return f"subsample /{config.subsample.stride}"


STAGE = Subsample()
