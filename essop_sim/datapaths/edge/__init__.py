"""Edge processing with pre-defined structured sparsity (Dey, Shao, Chugg, Beerel, ICANN 2017):
``config`` (the ``edge:`` section), ``pattern`` (seeded connection patterns: dense, random,
clash_free), ``numerics`` (bit-exact masked fixed-point update), ``timing`` (SimPy event model on
the shared tiled array, closed form), ``reference`` (per-cycle reference), ``cost`` and
``datapath`` (the registry entry). See docs/edge.md and docs/numerics-edge.md.
"""

from .datapath import DATAPATH, EdgeDatapath

__all__ = ["DATAPATH", "EdgeDatapath"]
