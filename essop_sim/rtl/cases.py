"""Cross-check cases for the RTL tile: hand-picked edge cases (counter overflow, accumulator
saturation, all-zero rows, partial bit steps, RNG broadcast, huge alignment shifts, ...) and
seeded random configurations. :func:`quick_cases` is the small CI subset, :func:`full_cases`
the full set (``essop-sim rtl check --full``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..config import HardwareConfig


@dataclass(frozen=True)
class CheckCase:
    """One cross-check: a configuration, operands x [K, n] and delta [K, m], the tile to check,
    how many times to run it back to back (``repeat``), and what the case was built to provoke
    (``overflow``: some counter overflows; ``saturation``: some accumulator step leaves the
    A-bit range)."""

    name: str
    config: HardwareConfig
    x: np.ndarray
    delta: np.ndarray
    tile: int = 0
    repeat: int = 1
    overflow: bool = False
    saturation: bool = False


def essop_config(rows: int, cols: int, seed: int = 0, **fields) -> HardwareConfig:
    """The default configuration with an R x C array and ``essop`` fields set; keys ``rng_*``
    and ``sc_*`` go to ``essop.rng`` and ``essop.scaling``."""
    base = HardwareConfig()
    e = base.essop
    rng = {k[4:]: v for k, v in fields.items() if k.startswith("rng_")}
    sc = {k[3:]: v for k, v in fields.items() if k.startswith("sc_")}
    rest = {k: v for k, v in fields.items() if not k.startswith(("rng_", "sc_"))}
    e = dataclasses.replace(e, array=dataclasses.replace(e.array, rows=rows, cols=cols),
                            rng=dataclasses.replace(e.rng, **rng),
                            scaling=dataclasses.replace(e.scaling, **sc), **rest)
    return dataclasses.replace(base, essop=e, seed=seed)


def _coprime_steps(w: int, lfsr_bits: int) -> int | None:
    """steps_per_number for width w: None (= w) when w is coprime with 2^L - 1, else the next
    coprime count."""
    period = (1 << lfsr_bits) - 1
    if math.gcd(w, period) == 1:
        return None
    return next(s for s in range(w + 1, w + 64) if math.gcd(s, period) == 1)


def _operands(gen: np.random.Generator, K: int, n: int, m: int,
              zero_rows: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian rows at random power-of-two scales, with some all-zero rows, zero and -0.0
    elements, and rows whose elements all have the same magnitude (q = 2^w, always-one
    streams)."""
    out = []
    for size in (n, m):
        a = gen.normal(size=(K, size)) * np.exp2(gen.integers(-6, 7, size=(K, 1)))
        a[gen.random(a.shape) < 0.1] = 0.0
        a[gen.random(a.shape) < 0.05] = -0.0
        same = gen.random(K) < 0.15
        a[same] = np.sign(gen.normal(size=(int(same.sum()), size))) * 0.75
        a[gen.random(K) < zero_rows] = 0.0
        out.append(a)
    return out[0], out[1]


def random_case(index: int, seed: int = 2024, max_side: int = 8, max_bl: int = 64,
                max_k: int = 8) -> CheckCase:
    """Seeded random configuration ``index``: array up to ``max_side`` square, BL up to
    ``max_bl``, K up to ``max_k``, every RNG, overflow and timing option drawn."""
    gen = np.random.default_rng([seed, index])
    pick = gen.choice
    rows, cols = int(gen.integers(1, max_side + 1)), int(gen.integers(1, max_side + 1))
    lfsr_bits = int(pick([4, 5, 7, 8, 10, 12, 16, 20]))
    w = int(gen.integers(2, min(lfsr_bits, 8) + 1))
    bl = int(pick([b for b in (5, 8, 13, 16, 24, 32, 48, 64) if b <= max_bl]))
    fields = dict(
        bitstream_length=bl, bits_per_cycle=int(pick([1, 2])), comparator_bits=w,
        counter_bits=int(gen.integers(2, 9)), accumulator_bits=int(gen.integers(8, 33)),
        accumulator_fraction_bits=int(gen.integers(0, 9)),
        overflow=str(pick(["saturate", "wrap"])),
        shift_scaler_latency=int(gen.integers(0, 4)), pipeline_stages=int(gen.integers(0, 4)),
        rng_kind=str(pick(["lfsr", "lfsr", "lfsr", "ideal"])),
        rng_sharing=str(pick(["vector", "element"])),
        rng_sequence=str(pick(["continue", "restart"])), rng_lfsr_bits=lfsr_bits,
        rng_steps_per_number=_coprime_steps(w, lfsr_bits),
        rng_fanout=int(pick([0, 0, 1, 2, 3])),
        sc_granularity=str(pick(["vector", "batch"])))
    config = essop_config(rows, cols, seed=int(gen.integers(0, 1 << 31)), **fields)
    K = int(gen.integers(1, max_k + 1))
    x, d = _operands(gen, K, cols, rows)
    return CheckCase(f"random{index}", config, x, d)


def _ones(K: int, n: int, signs: np.ndarray | None = None) -> np.ndarray:
    a = np.ones((K, n))
    return a if signs is None else a * signs


def edge_cases() -> list[CheckCase]:
    """Hand-picked cases; sizes stay small except 'max_8x8' (8 x 8, BL 64, K 8)."""
    gen = np.random.default_rng(7)
    cases = []
    # Counters: equal magnitudes give always-one streams, so every count is BL = 27 > 7
    # (saturates to 7, wraps to 3).
    for mode in ("saturate", "wrap"):
        cfg = essop_config(2, 3, bitstream_length=27, counter_bits=3, overflow=mode)
        sg = np.where(gen.random((3, 3)) < 0.5, -1.0, 1.0)
        cases.append(CheckCase(f"counter_overflow_{mode}", cfg, _ones(3, 3, sg),
                               _ones(3, 2) * 0.5, overflow=True))
    # Accumulators: (16 << 4) = 256 per step against A = 8 bits (+-127); same signs pile up.
    for mode in ("saturate", "wrap"):
        cfg = essop_config(2, 2, bitstream_length=16, accumulator_bits=8,
                           accumulator_fraction_bits=4, overflow=mode)
        x = _ones(4, 2, np.array([[1, -1], [1, -1], [1, 1], [-1, 1]]))
        cases.append(CheckCase(f"acc_saturation_{mode}", cfg, x, _ones(4, 2) * 3.0,
                               saturation=True))
    # Both at once, with two lanes per cycle and a pipeline: counts 30 wrap to 14 (cb = 4),
    # 14 << 3 = 112 per step leaves A = 9 bits (+-255) at the third step.
    cfg = essop_config(3, 3, bitstream_length=30, bits_per_cycle=2, counter_bits=4,
                       accumulator_bits=9, accumulator_fraction_bits=3, overflow="wrap",
                       pipeline_stages=3, shift_scaler_latency=1)
    cases.append(CheckCase("overflow_and_wrap_b2", cfg, _ones(4, 3) * 2.0, _ones(4, 3) * -1.0,
                           overflow=True, saturation=True))
    # All-zero rows (inactive outer products), a whole zero update, zero elements.
    cfg = essop_config(3, 4, bitstream_length=16, shift_scaler_latency=0, pipeline_stages=0)
    x = gen.normal(size=(5, 4))
    d = gen.normal(size=(5, 3))
    x[1] = 0.0
    d[3] = 0.0
    x[4, 2] = -0.0
    d[:, 1] = 0.0
    cases.append(CheckCase("zero_rows", cfg, x, d))
    cases.append(CheckCase("all_zero", cfg, np.zeros((2, 4)), np.zeros((2, 3))))
    # Partial last bit step (BL = 7, b = 2): the banks advance by one number on it.
    cfg = essop_config(2, 2, bitstream_length=7, bits_per_cycle=2, rng_sequence="continue")
    cases.append(CheckCase("partial_step", cfg, gen.normal(size=(4, 2)),
                           gen.normal(size=(4, 2)), repeat=2))
    cfg = essop_config(2, 3, bitstream_length=5, bits_per_cycle=3, rng_sharing="element")
    cases.append(CheckCase("partial_step_b3_element", cfg, gen.normal(size=(3, 3)),
                           gen.normal(size=(3, 2))))
    # RNG broadcast: fan-out 2 over 3 columns and 4 rows -> g = 2 cycles per bit step.
    cfg = essop_config(4, 3, bitstream_length=8, rng_fanout=2, shift_scaler_latency=3)
    cases.append(CheckCase("fanout_g2", cfg, gen.normal(size=(3, 3)), gen.normal(size=(3, 4)),
                           repeat=2))
    cfg = essop_config(3, 3, bitstream_length=6, rng_fanout=1, bits_per_cycle=2,
                       pipeline_stages=1)
    cases.append(CheckCase("fanout_g3_b2", cfg, gen.normal(size=(2, 3)),
                           gen.normal(size=(2, 3))))
    # Alignment shifts around F + cb = 6 (vector granularity, always-one streams, c = 15):
    # s = 0, 40, 5 (v = (15 << 2) >> 5 = 1) and 6 (v = 0); then random rows 2^-9 apart.
    cfg = essop_config(2, 2, bitstream_length=15, counter_bits=4, accumulator_fraction_bits=2)
    x = _ones(4, 2) * np.array([[1.0], [2.0 ** -40], [2.0 ** -5], [2.0 ** -6]])
    cases.append(CheckCase("shift_boundary", cfg, x, _ones(4, 2, np.array([[1, -1]] * 4))))
    x = gen.normal(size=(4, 2)) * np.array([[1.0], [2.0 ** -40], [1.0], [2.0 ** -9]])
    cases.append(CheckCase("huge_shift", cfg, x, gen.normal(size=(4, 2))))
    # Small LFSR (L = 4, period 15), custom taps, restart; and an 'ideal' source.
    cfg = essop_config(2, 2, bitstream_length=20, comparator_bits=4, rng_lfsr_bits=4,
                       rng_sequence="restart")
    cases.append(CheckCase("lfsr4_restart", cfg, gen.normal(size=(3, 2)),
                           gen.normal(size=(3, 2)), repeat=3))
    cfg = essop_config(2, 3, bitstream_length=16, comparator_bits=6, rng_lfsr_bits=12,
                       rng_taps_x=(12, 6, 4, 1), rng_taps_delta=(12, 11, 10, 4),
                       rng_steps_per_number=11)
    cases.append(CheckCase("custom_taps_L12", cfg, gen.normal(size=(3, 3)),
                           gen.normal(size=(3, 2))))
    cfg = essop_config(3, 2, bitstream_length=12, rng_kind="ideal", rng_sharing="element",
                       bits_per_cycle=2)
    cases.append(CheckCase("ideal_element", cfg, gen.normal(size=(3, 2)),
                           gen.normal(size=(3, 3))))
    # BL = 1, and a tile of a larger update (tile 3 of 2 x 2 tiles, element banks offset).
    cfg = essop_config(2, 2, bitstream_length=1)
    cases.append(CheckCase("bl1", cfg, gen.normal(size=(4, 2)), gen.normal(size=(4, 2))))
    cfg = essop_config(2, 3, bitstream_length=8, rng_sharing="element",
                       sc_granularity="batch")
    cases.append(CheckCase("tile3_of_4", cfg, gen.normal(size=(3, 5)), gen.normal(size=(3, 4)),
                           tile=3))
    # The largest: 8 x 8, BL 64, K 8.
    cfg = essop_config(8, 8, bitstream_length=64, bits_per_cycle=2, rng_lfsr_bits=20,
                       pipeline_stages=2, shift_scaler_latency=2)
    x, d = _operands(gen, 8, 8, 8)
    cases.append(CheckCase("max_8x8", cfg, x, d))
    return cases


def quick_cases() -> list[CheckCase]:
    """The CI subset: tiny tiles (<= 4 x 4), BL <= 32, K <= 5."""
    keep = {"counter_overflow_saturate", "counter_overflow_wrap", "acc_saturation_saturate",
            "acc_saturation_wrap", "zero_rows", "partial_step", "fanout_g2", "shift_boundary",
            "ideal_element", "tile3_of_4", "lfsr4_restart"}
    cases = [c for c in edge_cases() if c.name in keep]
    # seeded random draws that accumulate something (some of the others give all-zero results
    # at these sizes: zero rows, short streams)
    cases += [random_case(i, max_side=4, max_bl=32, max_k=4) for i in (3, 5, 16, 17, 19, 22)]
    return cases


def full_cases(random: int = 24) -> list[CheckCase]:
    """Every edge case and ``random`` seeded random configurations (array up to 8 x 8, BL up
    to 64, K up to 8)."""
    return edge_cases() + [random_case(i) for i in range(random)]
