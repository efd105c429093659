"""Bit-serial variable precision (Tartan): one folder, like ESSOP's: ``config`` (the
``bitserial:`` section), ``numerics`` (bit-exact fixed-point products and accumulation, the
'precision' hint), ``geometry``, ``timing`` (SimPy event model and closed form), ``reference``
(per-cycle reference), ``cost`` (pricing and area) and ``datapath`` (the registry entry).
See docs/bitserial.md and docs/numerics-bitserial.md.
"""

from .datapath import DATAPATH, BitSerialDatapath

__all__ = ["DATAPATH", "BitSerialDatapath"]
