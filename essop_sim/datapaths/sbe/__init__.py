"""Streaming batch eigenupdates (SBE, Hoskins et al. 2019): a rank-r compression *stage* in front
of any datapath. ``config`` (the ``sbe:`` section), ``numerics`` (the streaming recursion,
bit-exact in binary16, binary32, binary64 or fixed point, and the exact truncated-SVD mode),
``timing`` (closed form, SimPy event model, operation counts), ``reference`` (per-cycle
reference), ``stage`` (the registry entry). See docs/sbe.md and docs/numerics-sbe.md.
"""

from .stage import STAGE, SbeStage

__all__ = ["STAGE", "SbeStage"]
