"""The CBRAM datapath's registry entry (numerics and timing imported on first use)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ...hw.scheduler import ceil_div
from ..registry import Datapath, PriceRule
from . import config as cbram_config
from . import cost
from .config import CbramConfig


class CbramDatapath(Datapath):
    """ESSOP's AND array, counters and accumulators with a probabilistic CBRAM bitstream source
    (Lammie et al., TCAS-II 2021): per row and per column converter d devices, a SET pulse whose
    width encodes the magnitude, a read, and a RESET of switched devices per stream bit."""

    name = "cbram"
    config_class = CbramConfig
    doc = "ESSOP array with a probabilistic CBRAM bitstream source (Lammie et al.)."
    blocks = ("read_port", "write_port", "shadow", "shift_scaler", "pulse_generators",
              "devices", "sense_amps", "and_array", "counters", "accumulators")
    compute_block = "devices"
    stall_causes = ("fill", "operand", "writeback", "drain")
    required_activity = cost.REQUIRED
    data_dependent_activity = cost.DATA_DEPENDENT
    diagnostic_activity = cost.DIAGNOSTIC
    table_columns = (("bias_vs_ideal", "bias_id", ".4f"),
                     ("updates_to_failure", "life", ".3g"))

    def check(self, config: Any, source: str) -> None:
        cbram_config.check(config.cbram, source)

    def describe(self, config: Any) -> str:
        c = config.cbram
        dev = c.device
        text = (f"CBRAM BL={c.bitstream_length} d={c.devices_per_converter} "
                f"{c.array.rows}x{c.array.cols}")
        if dev.calibration != "none":
            text += f" cal={dev.calibration}"
        if dev.d2d_sigma or dev.c2c_sigma:
            text += f" d2d={dev.d2d_sigma:g} c2c={dev.c2c_sigma:g}"
        return text

    def label(self, config: Any) -> str:
        c = config.cbram
        label = f"cbram-bl{c.bitstream_length}"
        if c.device.calibration != "none":
            label += f"-{c.device.calibration}"
        return label

    def outer_product(self, x, delta, config, seed, *, chunk=None):
        from .numerics import cbram_outer_product

        return cbram_outer_product(x, delta, config, seed, chunk=chunk)

    def time_update(self, config: Any, m: int, n: int, K: int, *, hints: Mapping[str, Any],
                    fast_forward: bool = True):
        from ...hw.timing import timing_result
        from .timing import CbramEventModel

        model = CbramEventModel(config, m, n, K, fast_forward=fast_forward)
        return timing_result(config, m, n, K, model, hints=hints, tiles=len(model.tiles))

    def closed_form_terms(self, config, m, n, K, *, hints):
        from .timing import closed_form_terms

        return closed_form_terms(config, m, n, K)

    def reference_timing(self, config, m, n, K, *, hints, max_cycles):
        from .reference import reference_cbram

        return reference_cbram(config, m, n, K, max_cycles)

    def useful_work(self, config, m, n, K, hints):
        """Stream bits ANDed: m * n * K * BL, over R * C * d lanes per cycle."""
        c = config.cbram
        return (m * n * K * c.bitstream_length,
                c.array.rows * c.array.cols * c.devices_per_converter)

    def pricing(self, config: Any) -> list[PriceRule]:
        return cost.pricing(config)

    def area_instances(self, config: Any) -> dict[str, tuple[str, int]]:
        return cost.area_instances(config)

    def report_columns(self, config: Any) -> dict[str, Any]:
        from .geometry import bit_period

        c = config.cbram
        dev = c.device
        return {"bitstream_length": c.bitstream_length,
                "devices_per_converter": c.devices_per_converter,
                "array_rows": c.array.rows, "array_cols": c.array.cols,
                "calibration": dev.calibration, "d2d_sigma": dev.d2d_sigma,
                "c2c_sigma": dev.c2c_sigma, "bit_period_cycles": bit_period(config),
                "endurance_cycles": dev.endurance_cycles}

    def record_columns(self, config: Any, result: Any) -> dict[str, Any]:
        """Bias of the expected update against the ideal source, and wear: the most SET
        pulses and switches (SET/RESET cycles) one device took in this update, and the updates
        like this one the most-worn device survives at the configured endurance."""
        c = config.cbram
        m, n = result.dw.shape
        K = int(result.activity["k"])
        periods = ceil_div(c.bitstream_length, c.devices_per_converter)
        # a column converter streams once per tile row, a row converter once per tile column
        pulses = K * periods * max(ceil_div(m, c.array.rows), ceil_div(n, c.array.cols))
        switches = max(int(result.hints["max_switches_x"]),
                       int(result.hints["max_switches_delta"]))
        life = c.device.endurance_cycles / switches if switches else float("inf")
        return {"bias_vs_ideal": float(result.hints["bias_vs_ideal"]),
                "gain_vs_ideal": float(result.hints["gain_vs_ideal"]),
                "max_set_pulses_per_device": pulses,
                "max_switches_per_device": switches,
                "updates_to_failure": life}

    def scale_parallelism(self, config: Any, factor: float) -> Any:
        """Columns of the array scaled by ``factor`` (rows kept), at least 1."""
        c = config.cbram
        array = dataclasses.replace(c.array, cols=max(1, round(c.array.cols * factor)))
        return dataclasses.replace(config, cbram=dataclasses.replace(c, array=array))


DATAPATH = CbramDatapath()
