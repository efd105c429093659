"""The bit-serial datapath's registry entry (numerics and timing imported on first use)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..registry import Datapath, PriceRule
from . import config as bs_config
from . import cost
from .config import OPERAND_BITS, BitSerialConfig


class BitSerialDatapath(Datapath):
    """Tartan-style bit-serial variable precision (Delmas Lascorz et al., 2017) applied to the
    weight update: an R x C array of serial inner-product units; one operand enters b bits per
    cycle at a per-record precision p, the other bit-parallel; ceil(p / b) cycles per outer
    product."""

    name = "bitserial"
    config_class = BitSerialConfig
    doc = "Bit-serial variable-precision datapath (Tartan)."
    blocks = ("read_port", "write_port", "shadow", "quantiser", "serial_units", "accumulators")
    compute_block = "serial_units"
    stall_causes = ("fill", "operand", "writeback", "drain")
    timing_hints = ("precision",)
    required_activity = cost.REQUIRED
    diagnostic_activity = cost.DIAGNOSTIC
    table_columns = (("precision", "p", "d"),)

    def check(self, config: Any, source: str) -> None:
        bs_config.check(config.bitserial, source)

    def describe(self, config: Any) -> str:
        bs = config.bitserial
        p = {"fixed": f"p={bs.precision}", "auto": f"p=auto({bs.tolerance:g})",
             "profile": "p=profile"}[bs.precision_mode]
        return (f"BitSerial b={bs.bits_per_cycle} {p} {bs.array.rows}x{bs.array.cols} "
                f"serial {bs.serial_operand}")

    def label(self, config: Any) -> str:
        bs = config.bitserial
        p = bs.precision if bs.precision_mode == "fixed" else bs.precision_mode
        return f"bitserial-b{bs.bits_per_cycle}-p{p}"

    def for_layer(self, config: Any, layer: str) -> Any:
        """Mode 'profile': the configuration with the layer's precision fixed."""
        bs = config.bitserial
        if bs.precision_mode != "profile":
            return config
        p = bs_config.profile_precision(bs, layer)
        return dataclasses.replace(config, bitserial=dataclasses.replace(
            bs, precision_mode="fixed", precision=p))

    def outer_product(self, x, delta, config, seed, *, chunk=None):
        from .numerics import bitserial_outer_product

        return bitserial_outer_product(x, delta, config, seed, chunk=chunk)

    def time_update(self, config: Any, m: int, n: int, K: int, *, hints: Mapping[str, Any],
                    fast_forward: bool = True):
        from ...hw.timing import timing_result
        from .timing import BitSerialEventModel

        model = BitSerialEventModel(config, m, n, K, hints["precision"],
                                    fast_forward=fast_forward)
        return timing_result(config, m, n, K, model, hints=hints, tiles=len(model.tiles))

    def closed_form_terms(self, config, m, n, K, *, hints):
        from .timing import closed_form_terms

        return closed_form_terms(config, m, n, K, hints["precision"])

    def reference_timing(self, config, m, n, K, *, hints, max_cycles):
        from .reference import reference_bitserial

        return reference_bitserial(config, m, n, K, hints["precision"], max_cycles)

    def useful_work(self, config, m, n, K, hints):
        """Serial bits consumed: m * n * K * p, over R * C * b lanes per cycle."""
        bs = config.bitserial
        return (m * n * K * int(hints["precision"]),
                bs.array.rows * bs.array.cols * bs.bits_per_cycle)

    def pricing(self, config: Any) -> list[PriceRule]:
        return cost.pricing(config)

    def area_instances(self, config: Any) -> dict[str, tuple[str, int]]:
        return cost.area_instances(config)

    def report_columns(self, config: Any) -> dict[str, Any]:
        bs = config.bitserial
        return {"bits_per_cycle": bs.bits_per_cycle, "array_rows": bs.array.rows,
                "array_cols": bs.array.cols, "serial_operand": bs.serial_operand,
                "precision_mode": bs.precision_mode, "operand_bits": OPERAND_BITS}

    def record_columns(self, config: Any, result: Any) -> dict[str, Any]:
        """Per row: the serial precision p used, and whether the serial operand was signed."""
        return {"precision": int(result.hints["precision"]),
                "serial_signed": bool(result.hints["serial_signed"])}

    def scale_parallelism(self, config: Any, factor: float) -> Any:
        """Columns of the array scaled by ``factor`` (rows kept), at least 1."""
        bs = config.bitserial
        array = dataclasses.replace(bs.array, cols=max(1, round(bs.array.cols * factor)))
        return dataclasses.replace(config, bitserial=dataclasses.replace(bs, array=array))


DATAPATH = BitSerialDatapath()
