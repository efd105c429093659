"""The FP16 baseline's batches (one tile: the whole [m, n] update) and accumulator width."""

from __future__ import annotations

from ...config import HardwareConfig
from ...hw.scheduler import BatchSplit, check_shape
from ...numerics.pattern import mask_cols


def fp16_cells(config: HardwareConfig, m: int, n: int) -> int:
    """Products per k-step: m * n, or the connected cells W of a ``fp16.mask`` (the masked
    baseline issues only those, as a compacted stream; docs/edge.md)."""
    cols = mask_cols(config.fp16.mask, m, n)
    return m * n if cols is None else int(cols.size)


def fp16_batch_steps(config: HardwareConfig, m: int, n: int) -> int:
    """k-steps per FP16 operand batch: V = ``memory.operand_buffer_vectors``.

    (Before issue 16 a half was raised to one issue group of ``multipliers`` products, because
    fixed groups of exactly M products could need three batches at once; a slot now issues
    whatever is loaded, up to M, so any V works.)
    """
    return config.memory.operand_buffer_vectors


def fp16_geometry(config: HardwareConfig, m: int, n: int, K: int) -> BatchSplit:
    """The FP16 batch split of the K k-steps (one tile: the whole [m, n] update)."""
    check_shape(m, n, K)
    return BatchSplit(K, fp16_batch_steps(config, m, n))


def fp16_accumulator_bits(config: HardwareConfig) -> int:
    """Width of one FP16-baseline accumulator as written back: 16 (fp16) or 32 (fp32) bits."""
    return 16 if config.fp16.accumulator == "fp16" else 32
