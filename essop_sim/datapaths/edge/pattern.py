"""The edge processor's view of the shared connection patterns
(:mod:`essop_sim.numerics.pattern`): the pattern of its ``edge`` section."""

from __future__ import annotations

import numpy as np

from ...numerics.pattern import connection_cols as _connection_cols
from ...numerics.pattern import cycle_costs, fan_in, mask_of

__all__ = ["cycle_costs", "fan_in", "mask_of", "pattern_cols"]


def pattern_cols(c, m: int, n: int) -> np.ndarray:
    """cols [m, d_in] of the junction of shape [m, n] under the ``edge`` section ``c``."""
    return _connection_cols(c.pattern, c.density, c.pattern_seed, m, n, c.lanes)
