"""The FP16 baseline's registry entry (numerics and timing imported on first use)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ...numerics.pattern import mask_array, mask_label, mask_text
from ..registry import Datapath, PriceRule
from . import cost
from .config import Fp16Config


class Fp16Datapath(Datapath):
    """A pipelined array of binary16 multipliers with fp16 or fp32 accumulators."""

    name = "fp16"
    config_class = Fp16Config
    doc = "FP16 baseline datapath."
    blocks = ("read_port", "write_port", "shadow", "multipliers", "pipeline", "accumulators")
    compute_block = "multipliers"
    stall_causes = ("fill", "operand", "rng", "writeback", "drain")
    diagnostic_activity = cost.DIAGNOSTIC

    def describe(self, config: Any) -> str:
        f = config.fp16
        text = f"FP16, {f.multipliers} multipliers"
        text += ", fp16 accumulators" if f.accumulator == "fp16" else ""
        return text + mask_text(f.mask)

    def label(self, config: Any) -> str:
        return self.name + mask_label(config.fp16.mask)

    def weight_mask(self, config: Any, m: int, n: int):
        """``fp16.mask`` as a bool mask [m, n], or None (no mask)."""
        return mask_array(config.fp16.mask, m, n)

    def outer_product(self, x, delta, config, seed, *, chunk=None):
        from .numerics import fp16_outer_product

        return fp16_outer_product(x, delta, config, chunk=chunk)

    def time_update(self, config: Any, m: int, n: int, K: int, *, hints: Mapping[str, Any],
                    fast_forward: bool = True):
        from ...hw.timing import timing_result
        from .timing import Fp16EventModel

        model = Fp16EventModel(config, m, n, K, fast_forward=fast_forward)
        return timing_result(config, m, n, K, model, hints=hints, tiles=1)

    def closed_form_terms(self, config, m, n, K, *, hints):
        from .timing import closed_form_terms

        return closed_form_terms(config, m, n, K)

    def closed_form_cycles(self, config, m, n, K, *, hints):
        from .timing import closed_form_cycles

        return closed_form_cycles(config, m, n, K)

    def reference_timing(self, config, m, n, K, *, hints, max_cycles):
        from .reference import reference_fp16

        return reference_fp16(config, m, n, K, max_cycles)

    def useful_work(self, config, m, n, K, hints):
        f = config.fp16
        return m * n * K * f.issue_interval, f.multipliers

    def required(self, config: Any) -> tuple[str, ...]:
        """The fixed required keys plus the configured accumulator's adds."""
        return (*cost.REQUIRED, cost.adds_key(config))

    def pricing(self, config: Any) -> list[PriceRule]:
        return cost.pricing(config)

    def area_instances(self, config: Any) -> dict[str, tuple[str, int]]:
        return cost.area_instances(config)

    def report_columns(self, config: Any) -> dict[str, Any]:
        f = config.fp16
        return {"multipliers": f.multipliers, "accumulator": f.accumulator}

    def scale_parallelism(self, config: Any, factor: float) -> Any:
        """Multipliers scaled by ``factor``, at least 1."""
        f = config.fp16
        count = max(1, round(f.multipliers * factor))
        return dataclasses.replace(config, fp16=dataclasses.replace(f, multipliers=count))


DATAPATH = Fp16Datapath()
