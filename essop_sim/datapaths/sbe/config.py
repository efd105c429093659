"""The SBE stage's configuration section (``sbe:`` in YAML): rank, passes, warm start, the
stage's arithmetic and the latencies of its datapath (MAC lanes, divider, square root)."""

from __future__ import annotations

from dataclasses import dataclass

from ...config.model import param
from ...errors import ConfigError

#: The stage's arithmetic: 'exact' is the float64 truncated SVD reference; the others run the
#: streaming recursion with every operation rounded to that format (docs/numerics-sbe.md).
ARITHMETICS = ("exact", "binary64", "binary32", "binary16", "fixed")


@dataclass(frozen=True)
class SbeConfig:
    """Streaming batch eigenupdates: rank-r compression of a record's K outer products."""

    rank: int = param(1, "Rank r: outer products handed to the datapath (K' = min(r, K, m, n)).",
                      unit="outer products", low=1, high=64)
    passes: int = param(2, "Passes of the streaming recursion over the batch's K pairs (one "
                        "pass in binary16 leaves the dW error above 1 on the conv layers of "
                        "real gradients; two bring it below 1 on most, docs/sbe.md).", low=1,
                        high=16)
    warm_start: bool = param(False, "Start from the previous step's singular vectors of the "
                             "same layer (the previous record of that layer in trace order "
                             "within one run; training: the previous update).")
    warm_weight: float = param(0.0, "Warm start only: the previous step's running averages "
                               "X, D and s seed this record's as w0 = round(warm_weight * K) "
                               "prior samples (docs/numerics-sbe.md section 5); 0 carries the "
                               "hats only (the running averages restart at zero).",
                               unit="batches", low=0.0, high=64.0)
    arithmetic: str = param("binary16", "Arithmetic of the stage: 'binary16', 'binary32', "
                            "'binary64' or 'fixed' (every operation rounded once, "
                            "docs/numerics-sbe.md), or 'exact' (float64 truncated SVD, the "
                            "reference; its timing and cost are those of binary64).",
                            choices=ARITHMETICS)
    fixed_bits: int = param(26, "Arithmetic 'fixed': word width W (two's complement, saturating).",
                            unit="bits", low=8, high=26)
    fixed_frac: int = param(16, "Arithmetic 'fixed': fraction bits F (LSB 2^-F, RNE).",
                            unit="bits", low=1, high=24)
    lanes: int = param(16, "Multiply-accumulate lanes of the stage (vector operations per "
                       "cycle).", unit="lanes", low=1, high=4096)
    div_latency: int = param(12, "Latency of one division (reciprocal of a norm).",
                             unit="cycles", low=1, high=128)
    sqrt_latency: int = param(12, "Latency of one square root (norm).", unit="cycles", low=1,
                              high=128)
    capacity: int = param(288, "Elements a + b of one singular pair the state buffer holds "
                          "(area: 2 r capacity words + r); records with m + n beyond it still "
                          "run (the report's stored bits count what they need).",
                          unit="elements", low=2, high=1 << 20)


def word_bits(c: SbeConfig) -> int:
    """Bits of one stored word in the stage's arithmetic."""
    return {"binary16": 16, "binary32": 32, "fixed": c.fixed_bits}.get(c.arithmetic, 64)


def check(c: SbeConfig, source: str) -> None:
    if c.warm_weight > 0 and not c.warm_start:
        raise ConfigError(source, "sbe.warm_weight", c.warm_weight,
                          "0 unless sbe.warm_start is true (the weight seeds the warm start)")
    if c.fixed_frac >= c.fixed_bits - 1:
        raise ConfigError(source, "sbe.fixed_frac", c.fixed_frac,
                          f"fewer than fixed_bits - 1 = {c.fixed_bits - 1} fraction bits")
