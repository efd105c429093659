"""The edge processor's registry entry (numerics and timing imported on first use)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..registry import Datapath, PriceRule
from . import config as edge_config
from . import cost
from .config import EdgeConfig


class EdgeDatapath(Datapath):
    """Edge processing with pre-defined structured sparsity (Dey et al., ICANN 2017): a
    junction's W = m x d_in edges, fixed by a seeded pattern, are updated z per clock in fixed
    point; the operand memory has z banks and a clash-free interleaver keeps every clock's z
    reads in z distinct banks."""

    name = "edge"
    config_class = EdgeConfig
    doc = "Edge processor with pre-defined sparsity (Dey et al.)."
    blocks = ("read_port", "write_port", "shadow", "lanes", "banks")
    compute_block = "lanes"
    stall_causes = ("fill", "operand", "writeback", "drain", "clash", "overhead")
    timing_hints = ()
    required_activity = cost.REQUIRED
    diagnostic_activity = cost.DIAGNOSTIC
    table_columns = (("density_eff", "density", ".4g"),)

    def check(self, config: Any, source: str) -> None:
        edge_config.check(config.edge, source)

    def describe(self, config: Any) -> str:
        c = config.edge
        d = "" if c.pattern == "dense" else f" d={c.density:g}"
        return f"Edge z={c.lanes} {c.pattern}{d} B={c.operand_bits}"

    def label(self, config: Any) -> str:
        c = config.edge
        d = "" if c.pattern == "dense" else f"-d{c.density:g}"
        return f"edge-z{c.lanes}-{c.pattern}{d}-b{c.operand_bits}"

    def outer_product(self, x, delta, config, seed, *, chunk=None):
        from .numerics import edge_outer_product

        return edge_outer_product(x, delta, config, seed, chunk=chunk)

    def time_update(self, config: Any, m: int, n: int, K: int, *, hints: Mapping[str, Any],
                    fast_forward: bool = True):
        from ...hw.timing import timing_result
        from .timing import EdgeEventModel

        model = EdgeEventModel(config, m, n, K, fast_forward=fast_forward)
        return timing_result(config, m, n, K, model, hints=hints, tiles=1)

    def closed_form_terms(self, config, m, n, K, *, hints):
        from .timing import closed_form_terms

        return closed_form_terms(config, m, n, K)

    def reference_timing(self, config, m, n, K, *, hints, max_cycles):
        from .reference import reference_edge

        return reference_edge(config, m, n, K, max_cycles)

    def useful_work(self, config, m, n, K, hints):
        """Edge updates: W * K, over z lanes per cycle."""
        from .timing import sample_terms

        return sample_terms(config, m, n)[0] * K, config.edge.lanes

    def pricing(self, config: Any) -> list[PriceRule]:
        return cost.pricing(config)

    def area_instances(self, config: Any) -> dict[str, tuple[str, int]]:
        return cost.area_instances(config)

    def report_columns(self, config: Any) -> dict[str, Any]:
        c = config.edge
        return {"lanes": c.lanes, "pattern": c.pattern, "density": c.density,
                "operand_bits": c.operand_bits, "lr_shift": c.lr_shift}

    def weight_mask(self, config: Any, m: int, n: int):
        """The junction's pattern as a bool mask [m, n]."""
        from .pattern import mask_of, pattern_cols

        return mask_of(pattern_cols(config.edge, m, n), n)

    def record_columns(self, config: Any, result: Any) -> dict[str, Any]:
        """Per row: the edges W, the density W / (m n) and the error against the exact masked
        update (the core error columns compare with the dense update)."""
        m, n = result.dw.shape
        return {"edges": int(result.hints["edges"]),
                "density_eff": result.hints["edges"] / (m * n),
                "masked_rel_error": float(result.hints["masked_rel_error"])}

    def scale_parallelism(self, config: Any, factor: float) -> Any:
        """z scaled by ``factor``, at least 1."""
        c = config.edge
        return dataclasses.replace(config, edge=dataclasses.replace(
            c, lanes=max(1, round(c.lanes * factor))))


DATAPATH = EdgeDatapath()
