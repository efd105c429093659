"""CBRAM: ESSOP's AND array, counters and accumulators fed by probabilistic CBRAM devices.

The bitstream source of Lammie et al. (TCAS-II 2021): each operand magnitude becomes a SET pulse
whose width is chosen so that the device switches with the wanted probability; a read after the
pulse gives the bit and a RESET restores switched devices. One folder, as ESSOP's: ``config``,
``device`` (the switching model and its tables), ``numerics``, ``geometry``, ``timing``,
``reference``, ``cost``, ``datapath``. See docs/cbram.md and docs/numerics-cbram.md.
"""

from .datapath import DATAPATH, CbramDatapath

__all__ = ["DATAPATH", "CbramDatapath"]
