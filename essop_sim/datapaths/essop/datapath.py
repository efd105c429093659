"""The ESSOP datapath's registry entry: the protocol of :mod:`essop_sim.datapaths.registry`
implemented by the modules of this folder (numerics and timing imported on first use)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ...numerics.pattern import mask_array, mask_label, mask_text
from ..registry import Datapath, PriceRule
from . import config as essop_config
from . import cost
from .config import EssopConfig


class EssopDatapath(Datapath):
    """ESSOP (Joshi et al., ISCAS 2020): two shared random sequences, comparators, an R x C AND
    array with counters and block-floating accumulators, power-of-two shift scaling."""

    name = "essop"
    config_class = EssopConfig
    doc = "ESSOP stochastic outer-product datapath."
    blocks = ("read_port", "write_port", "shadow", "shift_scaler", "rng_bank", "comparators",
              "and_array", "counters", "accumulators")
    compute_block = "and_array"
    stall_causes = ("fill", "operand", "rng", "writeback", "drain")
    required_activity = cost.REQUIRED
    data_dependent_activity = cost.DATA_DEPENDENT
    informational_activity = cost.INFORMATIONAL
    diagnostic_activity = cost.DIAGNOSTIC

    def check(self, config: Any, source: str) -> None:
        essop_config.check(config.essop, source)

    def describe(self, config: Any) -> str:
        e = config.essop
        text = f"ESSOP BL={e.bitstream_length} {e.array.rows}x{e.array.cols}"
        if e.rng.sharing != "vector":
            text += f" {e.rng.sharing} RNG"
        return text + mask_text(e.mask)

    def label(self, config: Any) -> str:
        e = config.essop
        label = f"essop-bl{e.bitstream_length}"
        if e.rng.sharing != "vector":
            label += f"-{e.rng.sharing}"
        return label + mask_label(e.mask)

    def weight_mask(self, config: Any, m: int, n: int):
        """``essop.mask`` as a bool mask [m, n], or None (no mask)."""
        return mask_array(config.essop.mask, m, n)

    def outer_product(self, x, delta, config, seed, *, chunk=None):
        from .numerics import essop_outer_product

        return essop_outer_product(x, delta, config, seed, chunk=chunk)

    def time_update(self, config: Any, m: int, n: int, K: int, *, hints: Mapping[str, Any],
                    fast_forward: bool = True):
        from ...hw.timing import timing_result
        from .timing import EssopEventModel

        model = EssopEventModel(config, m, n, K, fast_forward=fast_forward)
        return timing_result(config, m, n, K, model, hints=hints, tiles=len(model.tiles))

    def closed_form_terms(self, config, m, n, K, *, hints):
        from .timing import closed_form_terms

        return closed_form_terms(config, m, n, K)

    def reference_timing(self, config, m, n, K, *, hints, max_cycles):
        from .reference import reference_essop

        return reference_essop(config, m, n, K, max_cycles)

    def useful_work(self, config, m, n, K, hints):
        e = config.essop
        return m * n * K * e.bitstream_length, e.array.rows * e.array.cols * e.bits_per_cycle

    def pricing(self, config: Any) -> list[PriceRule]:
        return cost.pricing(config)

    def area_instances(self, config: Any) -> dict[str, tuple[str, int]]:
        return cost.area_instances(config)

    def report_columns(self, config: Any) -> dict[str, Any]:
        e = config.essop
        return {"bitstream_length": e.bitstream_length, "array_rows": e.array.rows,
                "array_cols": e.array.cols}

    def scale_parallelism(self, config: Any, factor: float) -> Any:
        """Columns of the array scaled by ``factor`` (rows kept), at least 1."""
        e = config.essop
        cols = max(1, round(e.array.cols * factor))
        array = dataclasses.replace(e.array, cols=cols)
        return dataclasses.replace(config, essop=dataclasses.replace(e, array=array))


DATAPATH = EssopDatapath()
