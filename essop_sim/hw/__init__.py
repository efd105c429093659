"""Timing of the datapaths: SimPy event models built from one module per hardware block.

Public API: :func:`time_update`, :func:`closed_form_cycles`, :class:`TimingResult` (see
:mod:`essop_sim.hw.timing` and docs/timing.md). :mod:`essop_sim.hw.reference` is an independent
per-cycle model for validation on small cases.
"""

from .timing import TimingResult, closed_form_cycles, closed_form_terms, time_update

__all__ = ["TimingResult", "closed_form_cycles", "closed_form_terms", "time_update"]
