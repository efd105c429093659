"""Frozen configuration dataclasses: the hardware being simulated.

Every field documents its meaning, its unit and the formula it enters, in the style of aihwkit's
device dataclasses. The allowed values live in the field metadata (``doc``, ``unit``, ``low``,
``high``, ``choices``); :mod:`essop_sim.config.schema` checks a raw YAML mapping against that
metadata, and :mod:`essop_sim.config.loader` builds these objects only from a mapping that passed
the check. Nothing here reads files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def param(
    default: Any,
    doc: str,
    *,
    unit: str | None = None,
    low: float | None = None,
    high: float | None = None,
    choices: tuple | None = None,
    nullable: bool = False,
    item: type | None = None,
) -> Any:
    """A dataclass field carrying its own schema (doc, unit, range, choices)."""
    meta = {
        "doc": doc,
        "unit": unit,
        "low": low,
        "high": high,
        "choices": choices,
        "nullable": nullable,
        "item": item,
    }
    return field(default=default, metadata=meta)


def section(factory: type, doc: str) -> Any:
    """A nested configuration section."""
    return field(default_factory=factory, metadata={"doc": doc, "section": True})


@dataclass(frozen=True)
class ArrayConfig:
    """The grid of stochastic multipliers (one AND gate + one counter + one accumulator each)."""

    rows: int = param(32, "Array rows R: delta elements processed at once (m is tiled by R).",
                      unit="cells", low=1, high=65536)
    cols: int = param(32, "Array columns C: x elements processed at once (n is tiled by C).",
                      unit="cells", low=1, high=65536)


@dataclass(frozen=True)
class RngConfig:
    """Random-number sources that feed the comparators (RNG banks)."""

    kind: str = param("lfsr", "Random source: 'lfsr' (bit-exact linear feedback shift register "
                      "banks) or 'ideal' (uniform integers from numpy's PCG64, for theory checks).",
                      choices=("lfsr", "ideal"))
    sharing: str = param("vector", "Who shares a random sequence. 'vector' (ESSOP): every x_i "
                         "compares with the same r_t and every delta_j with one independent s_t, "
                         "2 sequences per outer product. 'element' (conventional): every operand "
                         "element has its own sequence, n + m sequences.",
                         choices=("vector", "element"))
    lfsr_bits: int = param(16, "LFSR register width L; period 2^L - 1 with maximal-length taps.",
                           unit="bits", low=2, high=32)
    taps_x: tuple | None = param(None, "Feedback tap positions (1-based, L included) of the x "
                                 "bank; null = the maximal-length default for lfsr_bits.",
                                 nullable=True, item=int)
    taps_delta: tuple | None = param(None, "Feedback taps of the delta bank; null = a second, "
                                     "different maximal-length polynomial for lfsr_bits.",
                                     nullable=True, item=int)
    steps_per_number: int | None = param(None, "LFSR shifts per random number (leap-forward); "
                                         "null = comparator_bits, so consecutive numbers share "
                                         "no register bits.", unit="shifts", low=1, high=64,
                                         nullable=True)
    sequence: str = param("continue", "Across the K outer products of an update: 'continue' "
                          "(the banks keep running, outer product k uses numbers k*BL .. "
                          "k*BL+BL-1) or 'restart' (every outer product reuses the first BL).",
                          choices=("continue", "restart"))
    fanout: int = param(0, "Comparators one bank output can drive per cycle; a bank shared by "
                        "more comparators broadcasts in ceil(sharers / fanout) cycles per bit "
                        "step. 0 = unlimited.", unit="comparators", low=0, high=1 << 20)


@dataclass(frozen=True)
class ScalingConfig:
    """Power-of-two shift scaler that maps unbounded operands into [0, 1]."""

    granularity: str = param("vector", "Scale exponent per operand vector (one per outer "
                             "product k and operand) or one per 'batch' (all K of an update).",
                             choices=("vector", "batch"))
    learning_rate: float = param(1.0, "Learning rate eta; the update is -eta * dW.", low=0.0,
                                 high=1e6)
    learning_rate_mode: str = param("shift", "'shift': eta rounded to the nearest power of two "
                                    "2^round(log2 eta) and applied as a shift; 'multiply': a real "
                                    "multiply by eta.", choices=("shift", "multiply"))


@dataclass(frozen=True)
class EssopConfig:
    """The ESSOP stochastic outer-product datapath."""

    array: ArrayConfig = section(ArrayConfig, "Stochastic multiplier array.")
    bitstream_length: int = param(64, "Bitstream length BL: bits per operand stream; the "
                                  "estimate is count / BL.", unit="bits", low=1, high=1 << 20)
    bits_per_cycle: int = param(1, "Stream bits produced and ANDed per cycle per cell "
                                "(parallel bitstream generation); a stream takes "
                                "ceil(BL / bits_per_cycle) cycles.", unit="bits/cycle", low=1,
                                high=4096)
    comparator_bits: int = param(8, "Comparator width w: magnitudes are quantised to "
                                 "q = round(u * 2^w) in [0, 2^w]; bit t = 1 iff r_t < q.",
                                 unit="bits", low=1, high=24)
    counter_bits: int = param(16, "Coincidence counter width: counts one outer product's "
                              "AND ones (0..BL).", unit="bits", low=1, high=62)
    accumulator_bits: int = param(32, "Signed accumulator width that sums the shifted counts of "
                                  "the K outer products of an update.", unit="bits", low=2,
                                  high=63)
    accumulator_fraction_bits: int = param(8, "Fraction bits F of the accumulator: a count of "
                                           "outer product k enters as (c << F) >> (E - e_k).",
                                           unit="bits", low=0, high=40)
    overflow: str = param("saturate", "Counter and accumulator overflow: 'saturate' (clamp, as "
                          "hardware usually does) or 'wrap' (two's complement modulo).",
                          choices=("saturate", "wrap"))
    shift_scaler_latency: int = param(2, "Cycles from an operand vector leaving the buffer to "
                                      "its scaled magnitudes reaching the comparators.",
                                      unit="cycles", low=0, high=1024)
    pipeline_stages: int = param(2, "Register stages between comparators and accumulators "
                                 "(comparator -> AND -> counter); part of the pipeline fill.",
                                 unit="cycles", low=0, high=1024)
    rng: RngConfig = section(RngConfig, "RNG banks.")
    scaling: ScalingConfig = section(ScalingConfig, "Shift scaler and learning rate.")


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


@dataclass(frozen=True)
class MemoryConfig:
    """Operand buffers, memory ports and the clock."""

    operand_bits: int = param(16, "Width of one stored operand (x_i or delta_j) as read from "
                              "memory.", unit="bits", low=1, high=64)
    operand_buffer_vectors: int = param(64, "Operand-buffer half capacity, in outer products "
                                        "(k steps) of one tile; double buffered.",
                                        unit="vectors", low=1, high=1 << 24)
    read_bandwidth: int = param(1024, "Operand read bandwidth from memory into the buffers.",
                                unit="bits/cycle", low=1, high=1 << 30)
    write_bandwidth: int = param(1024, "Write-back bandwidth of the update to memory.",
                                 unit="bits/cycle", low=1, high=1 << 30)
    shared_port: bool = param(False, "Reads and write-backs share one port (write-back waits "
                              "for a free port) instead of separate read and write ports.")
    clock_hz: float = param(1.0e9, "Clock frequency; time_s = cycles / clock_hz.", unit="Hz",
                            low=1.0, high=1e12)


@dataclass(frozen=True)
class CostConfig:
    """Which component cost table prices the counted activity."""

    table: str = param("14nm", "Built-in table name or path to a cost-table YAML file.")
    node_nm: float | None = param(None, "Scale the table to this technology node (nm); null = "
                                  "the table's own node.", unit="nm", low=1.0, high=1000.0,
                                  nullable=True)


@dataclass(frozen=True)
class HardwareConfig:
    """One complete hardware configuration, as read from YAML."""

    datapath: str = param("essop", "Which datapath computes the outer product.",
                          choices=("essop", "fp16"))
    seed: int = param(0, "Seed of every random number of a run (LFSR seeds, ideal RNG).",
                      low=0, high=(1 << 63) - 1)
    essop: EssopConfig = section(EssopConfig, "ESSOP datapath.")
    fp16: Fp16Config = section(Fp16Config, "FP16 baseline datapath.")
    memory: MemoryConfig = section(MemoryConfig, "Memory system and clock.")
    cost: CostConfig = section(CostConfig, "Energy and area table.")
