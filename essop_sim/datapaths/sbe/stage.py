"""The SBE stage's registry entry: config, numerics, timing, cost and report columns."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import PriceRule, Stage, StageResult
from . import config as sbe_config
from .config import SbeConfig, word_bits

#: Bits of one operand word read from SRAM (the trace operands enter as binary16 words).
INPUT_BITS = 16
#: The arithmetic's cost-table components: (multiplier, adder, divide/sqrt unit, width); fixed
#: point prices a W x W multiply as W additions of W bits and a W-bit division or square root
#: (digit recurrence, one bit per step) as W additions of W bits (docs/cost.md, "SBE").
_UNITS = {
    "binary16": ("fp16_multiplier", "multiply", "fp16_adder", "add", "fp16_divider", 1),
    "binary32": ("fp32_multiplier", "multiply", "fp32_adder", "add", "fp32_divider", 1),
    "binary64": ("fp32_multiplier", "multiply", "fp32_adder", "add", "fp32_divider", 2),
    "exact": ("fp32_multiplier", "multiply", "fp32_adder", "add", "fp32_divider", 2),
}


def _subspace_energy(G: np.ndarray, delta: np.ndarray, x: np.ndarray) -> float:
    """||Q_u^T G Q_v||_F^2: the energy of G inside the span of the handed-on left (delta rows)
    and right (x rows) vectors (orthonormal bases by SVD; at most the Eckart-Young optimum)."""
    def basis(a):
        if not len(a) or not np.any(a):
            return np.zeros((a.shape[1], 0))
        u, sv, _ = np.linalg.svd(a.T, full_matrices=False)
        return u[:, sv > sv[0] * 1e-12]

    qu, qv = basis(np.asarray(delta, np.float64)), basis(np.asarray(x, np.float64))
    core = qu.T @ G @ qv
    return float(np.sum(core * core))


class SbeStage(Stage):
    """Streaming batch eigenupdates: K outer products in, r = min(rank, K, m, n) out."""

    name = "sbe"
    config_class = SbeConfig
    doc = ("Streaming batch eigenupdates (Hoskins et al. 2019): rank-r compression of a "
           "record's outer products in front of the datapath.")

    def check(self, config: Any, source: str) -> None:
        sbe_config.check(config.sbe, source)

    def describe(self, config: Any) -> str:
        c = config.sbe
        warm = " warm" if c.warm_start else ""
        if c.warm_start and c.warm_weight > 0:
            warm += f" w0={c.warm_weight:g}K"
        return f"SBE r={c.rank} x{c.passes} {c.arithmetic}{warm}"

    # -- state (warm start) ---------------------------------------------------------------
    def wants_state(self, config: Any) -> bool:
        return bool(config.sbe.warm_start) and config.sbe.arithmetic != "exact"

    # -- numerics ---------------------------------------------------------------------------
    def apply(self, x, delta, config, seed, state=None) -> StageResult:
        from ...numerics.metrics import exact_update
        from .numerics import sbe_operands

        c = config.sbe
        K, n = x.shape
        m = delta.shape[1]
        out = sbe_operands(x, delta, c, state if c.warm_start else None)
        warm = c.warm_start and out.state is not None and state is not None \
            and state[0].shape == out.state[0].shape
        G = exact_update(x, delta)
        total = float(np.sum(G * G))
        sv = np.linalg.svd(G, compute_uv=False)
        r = len(out.x)
        kept = _subspace_energy(G, out.delta, out.x)
        approx = out.delta.T @ out.x
        err = float(np.linalg.norm(approx - G))
        norm_g = float(np.sqrt(total))
        bits = word_bits(c)
        columns = {
            "rank": int(np.count_nonzero(out.sigma)),
            "energy_captured": kept / total if total else 0.0,
            "sigma_ratio": (float(np.sum(out.sigma ** 2)) / float(np.sum(sv[:r] ** 2))
                            if total else 0.0),
            "energy_optimal": float(np.sum(sv[:r] ** 2)) / total if total else 0.0,
            "stage_rel_error": err / norm_g if norm_g else 0.0,
            "eckart_young": float(np.sqrt(np.sum(sv[r:] ** 2))) / norm_g if norm_g else 0.0,
            "array_writes": r,
            "stored_bits": r * (2 * (m + n) + 1) * bits,
            "batch_stored_bits": m * n * bits,
            "warm": bool(warm),
        }
        if c.arithmetic == "fixed":
            columns["saturated"] = out.saturated
        return StageResult(out.x, out.delta, activity=self.activity(config, m, n, K, warm),
                           columns=columns, state=out.state)

    def output_k(self, config: Any, m: int, n: int, K: int) -> int:
        from .numerics import output_k

        return output_k(config.sbe.rank, m, n, K)

    # -- timing -----------------------------------------------------------------------------
    def cycles(self, config: Any, m: int, n: int, K: int) -> int:
        from .timing import closed_form_cycles

        return closed_form_cycles(config.sbe, m, n, K)

    def activity(self, config: Any, m: int, n: int, K: int, warm: bool = False) -> dict:
        """The schedule's operations and traffic (shape only; docs/sbe.md)."""
        from .timing import op_counts

        c = config.sbe
        ops = op_counts(c, m, n, K, warm)
        r = self.output_k(config, m, n, K)
        bits = word_bits(c)
        # every pass re-reads the batch from SRAM; the state (X, D and their hats) is written
        # once per element update and normalisation
        state_writes = c.passes * K * r * 2 * (m + n) + (0 if warm else r * (m + n))
        return {"sbe_mul": ops["mul"], "sbe_add": ops["add"], "sbe_div": ops["div"],
                "sbe_sqrt": ops["sqrt"],
                "sbe_sram_read_bits": c.passes * K * (m + n) * INPUT_BITS,
                "sbe_state_write_bits": state_writes * bits}

    # -- cost -------------------------------------------------------------------------------
    def pricing(self, config: Any) -> list[PriceRule]:
        c = config.sbe
        if c.arithmetic == "fixed":
            w = c.fixed_bits
            arith = [PriceRule("sbe_mul", "accumulator", "add", w * w, bucket="sbe_mul"),
                     PriceRule("sbe_add", "accumulator", "add", w, bucket="sbe_add"),
                     PriceRule("sbe_div", "accumulator", "add", w * w, bucket="sbe_div"),
                     PriceRule("sbe_sqrt", "accumulator", "add", w * w, bucket="sbe_sqrt")]
        else:
            mul, mact, add, aact, div, width = _UNITS[c.arithmetic]
            arith = [PriceRule("sbe_mul", mul, mact, width, bucket="sbe_mul"),
                     PriceRule("sbe_add", add, aact, width, bucket="sbe_add"),
                     PriceRule("sbe_div", div, "divide", width, bucket="sbe_div"),
                     PriceRule("sbe_sqrt", div, "sqrt", width, bucket="sbe_sqrt")]
        return arith + [
            PriceRule("sbe_sram_read_bits", "sram", "read", bucket="sbe_sram_read"),
            PriceRule("sbe_state_write_bits", "register", "write", bucket="sbe_state")]

    def area_instances(self, config: Any) -> dict[str, tuple[str, int]]:
        c = config.sbe
        state = ("register", c.rank * (2 * c.capacity + 1) * word_bits(c))
        if c.arithmetic == "fixed":
            w = c.fixed_bits
            return {"sbe_lanes": ("accumulator", c.lanes * (w * w + w)),
                    "sbe_divider": ("accumulator", w * w), "sbe_state": state}
        mul, _, add, _, div, width = _UNITS[c.arithmetic]
        return {"sbe_multipliers": (mul, c.lanes * width), "sbe_adders": (add, c.lanes * width),
                "sbe_divider": (div, width), "sbe_state": state}


STAGE = SbeStage()
