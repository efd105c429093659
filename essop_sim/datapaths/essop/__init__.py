"""ESSOP: the stochastic outer-product datapath (shared random numbers, AND array, counters).

One folder: ``config`` (the ``essop:`` section and its cross-field checks), ``numerics``
(bit-exact counts), ``geometry`` (tiles and batches), ``timing`` (SimPy event model and closed
form), ``reference`` (per-cycle reference), ``cost`` (pricing and area) and ``datapath`` (the
registry entry tying them together).
"""

from .datapath import DATAPATH, EssopDatapath

__all__ = ["DATAPATH", "EssopDatapath"]
