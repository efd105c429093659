"""A test-only datapath, 'tinymac': the smallest complete plug-in of essop-sim.

It exists to prove the registry (docs/architecture.md walks through it): registered through the
entry-point group ``essop_sim.datapaths`` (see ../tinymac-0.1.dist-info/entry_points.txt) or with
``essop_sim.datapaths.register``, it runs through ``essop-sim run``, sweeps and the contract
suite without touching any file of the package.

Hardware: ``macs`` integer multiply-accumulate lanes. Operands are fixed point with ``frac_bits``
fraction bits, q = round_half_even(v * 2^frac_bits) (int64), so the update
raw[j, i] = sum_k q(delta_k[j]) * q(x_k[i]) is exact in int64 and dW = raw * 2^(-2 frac_bits).
With ``skip_zero`` the array skips outer products whose x_k or delta_k quantises to all zeros;
how many remain (K') is a *timing hint* the numerics find, so this datapath also exercises the
hint mechanism (its timing cannot run without numerics). Timing: ``latency`` fill cycles, then
ceil(m * n * K' / macs) compute cycles, one product per lane per cycle.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import simpy

from essop_sim.config.model import param
from essop_sim.datapaths import Datapath, PriceRule
from essop_sim.hw.reference import ReferenceResult
from essop_sim.hw.sim import Stats
from essop_sim.hw.timing import timing_result
from essop_sim.numerics.result import OuterProductResult

OPERAND_BITS = 16
ACC_BITS = 32


@dataclass(frozen=True)
class TinyMacConfig:
    """The tinymac section."""

    macs: int = param(4, "Multiply-accumulate lanes.", unit="lanes", low=1, high=4096)
    latency: int = param(2, "Fill cycles before the first product.", unit="cycles", low=1,
                         high=64)
    frac_bits: int = param(8, "Fraction bits of the fixed-point operands.", unit="bits", low=0,
                           high=20)
    skip_zero: bool = param(True, "Skip outer products with an all-zero operand vector.")


def _quantise(a: np.ndarray, frac_bits: int) -> np.ndarray:
    return np.rint(np.asarray(a, np.float64) * (1 << frac_bits)).astype(np.int64)


def kept_k(qx: np.ndarray, qd: np.ndarray, skip_zero: bool) -> np.ndarray:
    """Mask of the outer products the array computes."""
    if not skip_zero:
        return np.ones(len(qx), bool)
    return qx.any(axis=1) & qd.any(axis=1)


class TinyEventModel:
    """SimPy: one fill transaction, then one compute transaction of all issue groups."""

    def __init__(self, config, m: int, n: int, K: int):
        c = config.tinymac
        self.latency, self.groups = c.latency, math.ceil(m * n * K / c.macs)
        self.stats = Stats(TinyMac.blocks)
        self.stats.bits_read = K * (m + n) * OPERAND_BITS
        self.stats.bits_written = m * n * ACC_BITS
        self.stats.activity["mac_ops"] = m * n * K

    def _array(self, env):
        yield env.timeout(self.latency)
        self.stats.stalls["fill"] += self.latency
        yield env.timeout(self.groups)
        self.stats.busy["macs"] += self.groups
        self.stats.events += 2

    def run(self):
        env = simpy.Environment()
        env.process(self._array(env))
        env.run()
        return env.now, self.stats


class TinyMac(Datapath):
    name = "tinymac"
    config_class = TinyMacConfig
    doc = "Test-only integer MAC array (proves the registry)."
    blocks = ("macs",)
    compute_block = "macs"
    stall_causes = Stats.CAUSES
    timing_hints = ("kept_k",)
    required_activity = ("cycles", "mac_ops", "sram_read_bits", "sram_write_bits")
    diagnostic_activity = ("k",)

    def describe(self, config) -> str:
        return f"TinyMAC {config.tinymac.macs} MACs"

    def outer_product(self, x, delta, config, seed, *, chunk=None):
        c = config.tinymac
        K, n = x.shape
        m = delta.shape[1]
        raw = np.zeros((m, n), np.int64)
        kept = 0
        step = chunk or 256
        for k0 in range(0, K, step):
            qx = _quantise(x[k0:k0 + step], c.frac_bits)
            qd = _quantise(delta[k0:k0 + step], c.frac_bits)
            mask = kept_k(qx, qd, c.skip_zero)
            kept += int(mask.sum())
            raw += qd[mask].T @ qx[mask]
        dw = raw * 2.0 ** (-2 * c.frac_bits)
        return OuterProductResult(datapath=self.name, dw=dw, update=-dw, raw=raw,
                                  lsb_weight=2.0 ** (-2 * c.frac_bits),
                                  activity={"k": K}, hints={"kept_k": kept})

    def time_update(self, config, m, n, K, *, hints, fast_forward=True):
        kept = hints["kept_k"]
        return timing_result(config, m, n, kept, TinyEventModel(config, m, n, kept),
                             hints=hints, tiles=1)

    def closed_form_terms(self, config, m, n, K, *, hints):
        c = config.tinymac
        return {"fill": c.latency, "compute": math.ceil(m * n * hints["kept_k"] / c.macs)}

    def reference_timing(self, config, m, n, K, *, hints, max_cycles):
        c = config.tinymac
        products, issued, t = m * n * hints["kept_k"], 0, 0
        busy, stalls = {"macs": 0}, dict.fromkeys(Stats.CAUSES, 0)
        while t < c.latency or issued < products:   # one cycle per iteration
            if t < c.latency:
                stalls["fill"] += 1
            else:
                busy["macs"] += 1
                issued += c.macs
            t += 1
        return ReferenceResult(t, busy, stalls, hints["kept_k"] * (m + n) * OPERAND_BITS,
                               m * n * ACC_BITS)

    def useful_work(self, config, m, n, K, hints):
        return m * n * hints["kept_k"], config.tinymac.macs

    def pricing(self, config):
        return [PriceRule("mac_ops", "accumulator", "add", ACC_BITS),
                PriceRule("sram_read_bits", "sram", "read"),
                PriceRule("sram_write_bits", "sram", "write")]

    def area_instances(self, config):
        return {"mac": ("accumulator", config.tinymac.macs * ACC_BITS)}

    def report_columns(self, config):
        return {"macs": config.tinymac.macs}

    def scale_parallelism(self, config, factor):
        macs = min(4096, max(1, round(config.tinymac.macs * factor)))
        return dataclasses.replace(config, tinymac=dataclasses.replace(config.tinymac, macs=macs))


DATAPATH = TinyMac()
