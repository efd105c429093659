"""The bit-serial datapath's configuration section (``bitserial:`` in YAML): the array of serial
inner-product units, which operand is serial and how many of its bits enter per cycle, the
precision rule (fixed, automatic or a per-layer profile), the fixed-point scaling and the
accumulator. Every field carries its schema (doc, unit, range, choices)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ...config.model import param, section
from ...errors import ConfigError

#: Width W of both quantised operands (bits, two's complement or unsigned; see
#: docs/numerics-bitserial.md). The cost table's serial-unit entries are for this width.
OPERAND_BITS = 16
#: Bits per cycle with a serial inner-product unit in the cost table (16 = bit-parallel).
BITS_PER_CYCLE = (1, 2, 4, 16)


@dataclass(frozen=True)
class BitSerialArrayConfig:
    """The grid of serial inner-product units (one per dW element of a tile)."""

    rows: int = param(32, "Array rows R: delta elements processed at once (m is tiled by R).",
                      unit="units", low=1, high=65536)
    cols: int = param(32, "Array columns C: x elements processed at once (n is tiled by C).",
                      unit="units", low=1, high=65536)


@dataclass(frozen=True)
class BitSerialConfig:
    """Tartan-style bit-serial variable-precision datapath."""

    array: BitSerialArrayConfig = section(BitSerialArrayConfig, "Serial inner-product units.")
    serial_operand: str = param("x", "Operand that enters bit-serially at precision p ('x' or "
                                "'delta'); the other enters bit-parallel at 16 bits.",
                                choices=("x", "delta"))
    bits_per_cycle: int = param(1, "Serial bits b consumed per cycle by every unit; an outer "
                                "product takes ceil(p / b) cycles. 16 = the bit-parallel "
                                "baseline (one cycle per product). One of 1, 2, 4, 16 (the "
                                "widths the cost table prices).", unit="bits/cycle", low=1,
                                high=16)
    precision_mode: str = param("auto", "How the serial precision p of a record is chosen: "
                                "'fixed' (p = precision), 'auto' (the smallest p whose dW meets "
                                "tolerance, found by the numerics on the record's data) or "
                                "'profile' (per layer from precision_profile; layers it does "
                                "not match use precision).", choices=("fixed", "auto", "profile"))
    precision: int = param(16, "Serial precision p in bits (mode 'fixed', and unmatched layers "
                           "of mode 'profile'); 16 = the full operand width.", unit="bits",
                           low=1, high=OPERAND_BITS)
    tolerance: float = param(0.01, "Mode 'auto': the largest relative Frobenius error "
                             "||dW_p - dW_exact|| / ||dW_exact|| accepted (dW_exact: float64).",
                             low=0.0, high=1e6)
    precision_profile: tuple | None = param(None, "Mode 'profile': Tartan-style per-layer "
                                            "precisions as 'pattern=p' entries (fnmatch "
                                            "pattern on the layer name; the first match wins).",
                                            nullable=True, item=str)
    scaling: str = param("tensor", "Power-of-two scale of the fixed-point operands: one "
                         "exponent per operand 'tensor' (all K vectors of the record) or per "
                         "operand 'vector' (each k; products are aligned to the common exponent "
                         "by a right shift).", choices=("tensor", "vector"))
    accumulator_bits: int = param(48, "Signed accumulator width A that sums the K shifted "
                                  "products of an update.", unit="bits", low=2, high=62)
    accumulator_fraction_bits: int = param(0, "Guard bits F: a product enters as "
                                           "(prod << F) >> (E - e_k).", unit="bits", low=0,
                                           high=29)
    overflow: str = param("saturate", "Accumulator overflow: 'saturate' (clamp after every "
                          "add) or 'wrap' (two's complement modulo 2^A).",
                          choices=("saturate", "wrap"))
    quantiser_latency: int = param(1, "Cycles from an operand vector leaving the buffer to its "
                                   "fixed-point form reaching the units.", unit="cycles", low=0,
                                   high=1024)
    pipeline_stages: int = param(2, "Register stages from the units' shift-accumulate to the "
                                 "accumulators (adder tree, alignment shift); part of the "
                                 "drain, with 1 cycle for the accumulate stage.", unit="cycles",
                                 low=0, high=1024)


def parse_profile(entries: tuple | None, source: str = "config") -> list[tuple[str, int]]:
    """(pattern, p) pairs of a precision profile, in order; ConfigError on a bad entry."""
    out = []
    for entry in entries or ():
        pattern, sep, value = str(entry).rpartition("=")
        ok = bool(sep and pattern.strip()) and value.strip().isdigit()
        p = int(value) if ok else 0
        if not ok or not 1 <= p <= OPERAND_BITS:
            raise ConfigError(source, "bitserial.precision_profile", entry,
                              f"entries 'pattern=p' with p in [1, {OPERAND_BITS}]")
        out.append((pattern.strip(), p))
    return out


def profile_precision(section_: BitSerialConfig, layer: str) -> int:
    """p of ``layer`` under the profile: the first matching pattern's, else ``precision``."""
    for pattern, p in parse_profile(section_.precision_profile):
        if fnmatch.fnmatchcase(layer, pattern):
            return p
    return section_.precision


def check(bs: BitSerialConfig, source: str) -> None:
    """Cross-field rules: b is a priced unit width, a profile is well formed, and mode
    'profile' has one."""
    if bs.bits_per_cycle not in BITS_PER_CYCLE:
        raise ConfigError(source, "bitserial.bits_per_cycle", bs.bits_per_cycle,
                          "one of " + ", ".join(map(str, BITS_PER_CYCLE)) + " (a serial unit "
                          "the cost table prices)")
    parse_profile(bs.precision_profile, source)
    if bs.precision_mode == "profile" and not bs.precision_profile:
        raise ConfigError(source, "bitserial.precision_profile", None,
                          "a list of 'pattern=p' entries when precision_mode is 'profile'")
