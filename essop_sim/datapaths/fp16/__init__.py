"""The pipelined IEEE binary16 multiplier baseline.

One folder: ``config`` (the ``fp16:`` section), ``numerics`` (bit-exact binary16 products and
fp16/fp32 accumulation), ``geometry`` (batches), ``pipeline`` (the multiplier array's issue
groups), ``timing`` (SimPy event model and closed form), ``reference`` (per-cycle reference),
``cost`` (pricing and area) and ``datapath`` (the registry entry).
"""

from .datapath import DATAPATH, Fp16Datapath

__all__ = ["DATAPATH", "Fp16Datapath"]
