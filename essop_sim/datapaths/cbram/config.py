"""The CBRAM datapath's configuration section (``cbram:`` in YAML): the array, the bitstream,
the devices (switching law, variation, pulse generator, read and RESET), widths and scaling.
Every field carries its schema (doc, unit, range, choices); docs/cbram.md gives each default's
origin."""

from __future__ import annotations

from dataclasses import dataclass

from ...config.model import ScalingConfig, param, section
from ...errors import ConfigError


@dataclass(frozen=True)
class CbramArrayConfig:
    """The grid of stochastic multipliers (one AND gate + one counter + one accumulator each)."""

    rows: int = param(32, "Array rows R: delta elements processed at once (m is tiled by R); "
                      "one row converter (devices + pulse generator + sense amps) per row.",
                      unit="cells", low=1, high=65536)
    cols: int = param(32, "Array columns C: x elements processed at once (n is tiled by C); one "
                      "column converter per column.", unit="cells", low=1, high=65536)


@dataclass(frozen=True)
class CbramDeviceConfig:
    """Probabilistic CBRAM devices: switching law, variation, pulses, endurance."""

    tau0_s: float = param(2.85e5, "tau0 of the switching law tau(V) = tau0 * exp(-V / V0) (the "
                          "median device).", unit="s", low=1e-30, high=1e30)
    v0_v: float = param(0.156, "V0 of the switching law.", unit="V", low=1e-3, high=100.0)
    set_voltage_v: float = param(4.85, "SET pulse amplitude V (fixed; the magnitude sets the "
                                 "pulse width). Default: tau(V) about 10 ns.", unit="V",
                                 low=0.0, high=100.0)
    pulse_step_ns: float = param(1.0, "Pulse generator resolution: a SET pulse lasts an integer "
                                 "number of steps.", unit="ns", low=1e-3, high=1e6)
    pulse_max_steps: int = param(63, "Longest SET pulse S_max (steps); the pulse-width code has "
                                 "ceil(log2(S_max + 1)) bits.", unit="steps", low=1,
                                 high=1 << 20)
    read_ns: float = param(10.0, "Read (sense) time after every SET pulse.", unit="ns", low=0.0,
                           high=1e6)
    reset_ns: float = param(20.0, "RESET pulse time slot, scheduled after every read (applied "
                            "only to the devices that switched).", unit="ns", low=0.0, high=1e6)
    d2d_sigma: float = param(0.0, "Device-to-device variation: sigma of ln(tau0) over devices "
                             "(lognormal tau0, median tau0_s), frozen per device from the run "
                             "seed.", low=0.0, high=10.0)
    c2c_sigma: float = param(0.0, "Cycle-to-cycle variation: sigma of ln(tau) from pulse to "
                             "pulse (lognormal, discretised to c2c_levels equiprobable levels).",
                             low=0.0, high=10.0)
    c2c_levels: int = param(16, "Equiprobable levels of the cycle-to-cycle factor (a power of "
                            "two: the level is read from the pulse's random word).",
                            unit="levels", low=1, high=1024)
    calibration: str = param("none", "Magnitude -> pulse width: 'none' (width proportional to "
                             "the magnitude, u * tau(V), so P ~ u for small u only) or "
                             "'inverse' (the nominal curve inverted: width = -tau(V) "
                             "ln(1 - u), so the nominal device switches with probability u).",
                             choices=("none", "inverse"))
    endurance_cycles: float = param(1e6, "SET/RESET cycles a device survives (for the lifetime "
                                    "columns).", unit="cycles", low=1.0, high=1e18)


@dataclass(frozen=True)
class CbramConfig:
    """ESSOP's AND array and counters with a CBRAM stochastic bitstream source."""

    array: CbramArrayConfig = section(CbramArrayConfig, "Stochastic multiplier array.")
    bitstream_length: int = param(64, "Bitstream length BL: bits per operand stream.",
                                  unit="bits", low=1, high=1 << 20)
    devices_per_converter: int = param(8, "CBRAM devices d per row/column converter: d stream "
                                       "bits per bit period (bit t from device t mod d); a "
                                       "stream takes ceil(BL / d) bit periods.", unit="devices",
                                       low=1, high=4096)
    magnitude_bits: int = param(8, "Width w of the quantised magnitude q = round(u * 2^w) in "
                                "[0, 2^w] that addresses the pulse-width table.", unit="bits",
                                low=1, high=16)
    counter_bits: int = param(16, "Coincidence counter width (0..BL).", unit="bits", low=1,
                              high=62)
    accumulator_bits: int = param(32, "Signed accumulator width.", unit="bits", low=2, high=63)
    accumulator_fraction_bits: int = param(8, "Fraction bits F of the accumulator.",
                                           unit="bits", low=0, high=40)
    overflow: str = param("saturate", "Counter and accumulator overflow: 'saturate' or 'wrap'.",
                          choices=("saturate", "wrap"))
    shift_scaler_latency: int = param(2, "Cycles from an operand vector leaving the buffer to "
                                      "its pulse widths reaching the pulse generators.",
                                      unit="cycles", low=0, high=1024)
    pipeline_stages: int = param(2, "Register stages between sense amplifiers and "
                                 "counters (sense -> AND -> counter); the accumulate stage "
                                 "adds 1 cycle to the drain.", unit="cycles",
                                 low=0, high=1024)
    device: CbramDeviceConfig = section(CbramDeviceConfig, "CBRAM devices and pulses.")
    scaling: ScalingConfig = section(ScalingConfig, "Shift scaler and learning rate.")


def check(c: CbramConfig, source: str) -> None:
    """Cross-field rules: c2c_levels is a power of two."""
    g = c.device.c2c_levels
    if g & (g - 1):
        raise ConfigError(source, "cbram.device.c2c_levels", g,
                          "a power of two (the level is the low bits of a random word)")
