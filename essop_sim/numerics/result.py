"""The result of one simulated weight update (numerics only; timing is separate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class OuterProductResult:
    """What a datapath computed for dW = sum_k delta_k x_k^T (shape [m, n]).

    Attributes:
        datapath: the datapath's name.
        dw: the hardware's estimate of sum_k delta_k x_k^T in real units, float64 [m, n].
        update: the weight update the hardware applies, -eta_eff * dw, float64 [m, n].
        raw: the accumulator contents as the hardware holds them. ESSOP: signed int64 [m, n]
            accumulator values (LSB weight ``lsb_weight``). FP16: uint16 (fp16 accumulation)
            or uint32 (fp32 accumulation) bit patterns [m, n].
        lsb_weight: real value of one ESSOP accumulator LSB, 2^(E - F) / BL (1.0 for FP16).
        x_shifts: ESSOP scale exponents e_x per outer product k, int64 [K] (x_k is scaled by
            2^-e_x[k]); empty for FP16.
        delta_shifts: the same for delta, int64 [K].
        learning_rate: eta_eff actually applied (a power of two in 'shift' mode).
        activity: data-dependent activity counted by the numerics. ESSOP:
            'counter_increments' (total AND ones, i.e. coincidences), 'counter_overflows',
            'accumulator_saturations', 'k'. FP16: 'fp16_multiplies', 'fp16_adds' or
            'fp32_adds', 'overflows', 'operand_flushes', 'k' (see docs/numerics-*.md).
    """

    datapath: str
    dw: np.ndarray
    update: np.ndarray
    raw: np.ndarray
    lsb_weight: float = 1.0
    x_shifts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    delta_shifts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    learning_rate: float = 1.0
    activity: dict[str, int] = field(default_factory=dict)
    hints: dict[str, Any] = field(default_factory=dict)
