"""Cross-check of the FP16 multiplier RTL against the project's binary16 numerics and timing.

* **Products**: each RTL output equals :func:`essop_sim.numerics.fp16.mul_bits` of the same
  operand patterns, bit for bit on the 16-bit pattern. NaNs are compared as bits too: the
  numerics return the canonical quiet NaN 0x7E00 for every NaN result (docs/numerics-fp16.md:
  "NaN canonicalised to 0x7E00"), and so does the RTL.
* **Latency**: every product leaves exactly D = ``fp16.pipeline_depth`` cycles after it was
  issued (the event model's "a product leaves D cycles after issue", ``Fp16Multipliers.depth``),
  also with bubbles in the issue stream; N products issued back to back finish
  compute + pipeline = N * II + (D - II) cycles after the first issue, the two terms of
  :func:`essop_sim.datapaths.fp16.timing.closed_form_terms` for one multiplier with II = 1.

Operands (:func:`operand_pairs`, seeded) mix uniformly random bit patterns with deliberate
classes: signed zeros, subnormals, infinities, NaNs (both signs, quiet and signalling
payloads), products that overflow or land just around 65504/65520, products that underflow to
subnormals or to zero, and exact round-to-nearest ties in the normal and the subnormal range.

Entry points: :func:`operand_pairs`, :func:`simulate_multiplier`, :func:`check_multiplier`
(returns a :class:`CheckResult`; ``.passed``, ``.summary()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import config_from_mapping
from ..datapaths.fp16.pipeline import Fp16Multipliers
from ..datapaths.fp16.timing import closed_form_terms
from ..numerics.fp16 import f16_bits_to_float64, mul_bits
from .fp16_multiplier import Fp16Multiplier
from .simulate import run_testbench

#: (exponent bits, fraction bits) of the MAC's accumulator formats (fp16.accumulator).
ACCUMULATOR_FIELDS = {"fp16": (5, 10), "fp32": (8, 23)}

#: Share of each operand category in :func:`operand_pairs` (normalised to n pairs).
CATEGORY_SHARES = {
    "random_bits": 0.20,      # any 16-bit patterns (about 3% NaN / inf operands)
    "finite": 0.15,           # random finite normals and subnormals
    "specials": 0.10,         # +-0, +-inf, NaNs against every class
    "subnormal_in": 0.10,     # at least one subnormal operand
    "overflow": 0.10,         # products around and beyond 65504 / 65520
    "underflow": 0.15,        # products in the subnormal range or below 2^-25
    "tie_normal": 0.10,       # exact RNE ties, normal result
    "tie_subnormal": 0.10,    # exact RNE ties on the 2^-24 grid
}

#: Edge operand patterns used by :func:`edge_pairs` (all pairs of them).
EDGE_VALUES = (
    0x0000, 0x8000, 0x0001, 0x8001, 0x0002, 0x01FF, 0x0200, 0x03FF, 0x83FF, 0x0400, 0x8400,
    0x0401, 0x07FF, 0x3BFF, 0x3C00, 0xBC00, 0x3C01, 0x3E00, 0x3FFF, 0x4000, 0x4200, 0x5BFF,
    0x5C00, 0x7800, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x7FFF, 0xFD55,
    0x1400, 0x0C00, 0x2000, 0x2C00, 0x1C00, 0x5800, 0x33FF, 0x3555,
)


def _pattern(sign, exp, frac) -> np.ndarray:
    return ((np.asarray(sign, np.uint32) << 15) | (np.asarray(exp, np.uint32) << 10)
            | np.asarray(frac, np.uint32)).astype(np.uint16)


def _random_class(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """n binary16 patterns of one class: 'normal', 'subnormal', 'zero', 'inf', 'nan'."""
    sign = rng.integers(0, 2, n)
    if kind == "normal":
        return _pattern(sign, rng.integers(1, 31, n), rng.integers(0, 1024, n))
    if kind == "subnormal":
        return _pattern(sign, 0, rng.integers(1, 1024, n))
    if kind == "zero":
        return _pattern(sign, 0, 0)
    if kind == "inf":
        return _pattern(sign, 31, 0)
    if kind == "nan":
        return _pattern(sign, 31, rng.integers(1, 1024, n))
    raise ValueError(kind)


def _exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact products in float64 (22 significant bits at most: exact)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return f16_bits_to_float64(a) * f16_bits_to_float64(b)


def _is_tie(v: np.ndarray) -> np.ndarray:
    """Exact float64 values lying exactly halfway between two binary16 neighbours."""
    av = np.abs(v)
    ok = np.isfinite(av) & (av > 0)
    av = np.where(ok, av, 1.0)
    e = np.floor(np.log2(av))
    quantum = np.exp2(np.maximum(e, -14.0) - 10.0)       # binary16 ulp at |v|
    return ok & (av < 65520.0) & (np.mod(av / quantum, 1.0) == 0.5)


def _filtered(rng, n, make, keep, tries: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """n pairs from ``make(rng, size)`` for which ``keep(a, b)`` holds (batched rejection)."""
    got_a, got_b, have = [], [], 0
    for _ in range(tries):
        a, b = make(rng, max(4 * n, 4096))
        sel = keep(a, b)
        got_a.append(a[sel])
        got_b.append(b[sel])
        have += int(sel.sum())
        if have >= n:
            break
    a, b = np.concatenate(got_a)[:n], np.concatenate(got_b)[:n]
    if len(a) < n:
        raise RuntimeError(f"could only draw {len(a)} of {n} pairs")
    return a, b


def _category(rng: np.random.Generator, kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n operand pairs of one category of :data:`CATEGORY_SHARES`."""
    if kind == "random_bits":
        return (rng.integers(0, 1 << 16, n).astype(np.uint16),
                rng.integers(0, 1 << 16, n).astype(np.uint16))
    if kind == "finite":
        def pick(size):
            sub = rng.random(size) < 0.1
            return np.where(sub, _random_class(rng, size, "subnormal"),
                            _random_class(rng, size, "normal"))
        return pick(n), pick(n)
    if kind == "specials":
        classes = ("zero", "inf", "nan", "normal", "subnormal")
        a = np.empty(n, np.uint16)
        b = np.empty(n, np.uint16)
        for i, (ca, cb) in enumerate(zip(rng.integers(0, 3, n), rng.integers(0, 5, n),
                                         strict=True)):
            a[i] = _random_class(rng, 1, classes[ca])[0]
            b[i] = _random_class(rng, 1, classes[cb])[0]
        swap = rng.random(n) < 0.5
        return np.where(swap, b, a), np.where(swap, a, b)
    if kind == "subnormal_in":
        a = _random_class(rng, n, "subnormal")
        b = np.where(rng.random(n) < 0.3, _random_class(rng, n, "subnormal"),
                     _random_class(rng, n, "normal"))
        return a, b
    if kind == "overflow":
        def make(r, size):   # exponent sums near the top of the range
            ea = r.integers(15, 31, size)
            eb = np.clip(30 - ea + r.integers(14, 18, size), 1, 30)
            return (_pattern(r.integers(0, 2, size), ea, r.integers(0, 1024, size)),
                    _pattern(r.integers(0, 2, size), eb, r.integers(0, 1024, size)))
        half = n // 2
        a, b = _filtered(rng, n - half, make, lambda a, b: np.abs(_exact(a, b)) >= 16384.0)
        # the other half: b within 3 patterns of 65520 / a, so p straddles 65504 / 65520
        a2 = _pattern(rng.integers(0, 2, half), rng.integers(15, 31, half),
                      rng.integers(0, 1024, half))
        with np.errstate(over="ignore"):
            b0 = np.abs(np.float16(65520.0 / f16_bits_to_float64(a2))).view(np.uint16)
        b2 = (b0.astype(np.int64) + rng.integers(-3, 4, half)).clip(0x0001, 0x7BFF)
        b2 = b2.astype(np.uint16) | (rng.integers(0, 2, half) << 15).astype(np.uint16)
        return np.concatenate([a, a2]), np.concatenate([b, b2])
    if kind == "underflow":
        def make(r, size):
            ea = r.integers(0, 16, size)
            eb = np.clip(r.integers(-4, 10, size) - ea + 4, 0, 30)
            return (_pattern(r.integers(0, 2, size), ea, r.integers(0, 1024, size)),
                    _pattern(r.integers(0, 2, size), eb, r.integers(0, 1024, size)))
        return _filtered(rng, n, make, lambda a, b: (np.abs(_exact(a, b)) < 2.0 ** -14)
                         & (_exact(a, b) != 0))
    if kind in ("tie_normal", "tie_subnormal"):
        sub = kind == "tie_subnormal"

        def make(r, size):
            # A tie needs the product's dropped bits to be exactly 100...0, i.e. the two
            # significands' trailing zeros to add up to the dropped width: draw fractions as
            # an odd number shifted left by 0-10 bits.
            fa = ((2 * r.integers(0, 512, size) + 1) << r.integers(0, 11, size)) & 0x3FF
            fb = ((2 * r.integers(0, 512, size) + 1) << r.integers(0, 11, size)) & 0x3FF
            if sub:
                ea = r.integers(0, 12, size)
                eb = np.clip(r.integers(0, 6, size) - ea + 2, 0, 30)
            else:
                ea = r.integers(1, 31, size)
                eb = np.clip(30 - ea + r.integers(-12, 12, size), 1, 30)
            return (_pattern(r.integers(0, 2, size), ea, fa),
                    _pattern(r.integers(0, 2, size), eb, fb))

        def keep(a, b):
            v = _exact(a, b)
            band = (np.abs(v) < 2.0 ** -14) if sub else (np.abs(v) >= 2.0 ** -14)
            return _is_tie(v) & band
        return _filtered(rng, n, make, keep, tries=4096)
    raise ValueError(f"unknown operand category {kind!r}")


def operand_pairs(n: int = 10_000, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(a, b, category)``: n binary16 operand pairs (uint16) in shuffled order, seeded.

    ``category`` holds the index into ``list(CATEGORY_SHARES)`` of each pair.
    """
    rng = np.random.default_rng(seed)
    names = list(CATEGORY_SHARES)
    sizes = [int(n * CATEGORY_SHARES[k]) for k in names]
    sizes[0] += n - sum(sizes)
    parts = [_category(rng, k, s) for k, s in zip(names, sizes, strict=True)]
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    cat = np.repeat(np.arange(len(names)), sizes)
    order = rng.permutation(n)
    return a[order], b[order], cat[order]


def edge_pairs() -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs of :data:`EDGE_VALUES` (1681 pairs)."""
    v = np.array(EDGE_VALUES, np.uint16)
    return np.repeat(v, len(v)), np.tile(v, len(v))


@dataclass
class RtlRun:
    """One simulation of the RTL on an operand stream.

    products: uint16 results in issue order. issue_cycles / out_cycles: cycle index (0 = first
    simulated cycle) in which each product was presented with valid_in and seen with valid_out;
    ``latency`` = out - issue (cycles). ``last_boundary``: clock boundaries from the start of
    the first issue cycle to the end of the cycle its last product is seen in. seconds: wall
    time of the simulation.
    """

    depth: int
    products: np.ndarray
    issue_cycles: np.ndarray
    out_cycles: np.ndarray
    cycles: int
    seconds: float

    @property
    def latency(self) -> np.ndarray:
        return self.out_cycles - self.issue_cycles

    @property
    def last_boundary(self) -> int:
        return int(self.out_cycles[-1] - self.issue_cycles[0])


def simulate_multiplier(a: np.ndarray, b: np.ndarray, depth: int, *,
                        bubbles: np.ndarray | None = None, seed: int = 0) -> RtlRun:
    """Stream the pairs through ``Fp16Multiplier(depth)`` in amaranth.sim, one per cycle.

    ``bubbles[i]`` > 0 inserts that many idle cycles (valid_in = 0, random data on a and b)
    before pair i. Returns the products in issue order with their issue and output cycles.
    """
    a = np.asarray(a, np.uint16)
    b = np.asarray(b, np.uint16)
    n = len(a)
    gaps = np.zeros(n, np.int64) if bubbles is None else np.asarray(bubbles, np.int64)
    rng = np.random.default_rng(seed)
    total = int(n + gaps.sum() + depth + 1)
    junk = rng.integers(0, 1 << 16, (total, 2))
    dut = Fp16Multiplier(depth)
    issue, out, prods = [], [], []
    al, bl, gl = a.tolist(), b.tolist(), gaps.tolist()

    async def bench(ctx):
        i, gap_left, cycle = 0, (gl[0] if n else 0), 0
        while len(out) < n and cycle < total:
            if i < n and gap_left == 0:
                ctx.set(dut.a, al[i])
                ctx.set(dut.b, bl[i])
                ctx.set(dut.valid_in, 1)
                issue.append(cycle)
                i += 1
                gap_left = gl[i] if i < n else 0
            else:
                ctx.set(dut.a, int(junk[cycle, 0]))
                ctx.set(dut.b, int(junk[cycle, 1]))
                ctx.set(dut.valid_in, 0)
                gap_left = max(0, gap_left - 1)
            await ctx.tick()
            cycle += 1
            if ctx.get(dut.valid_out):   # visible in the cycle after `cycle` boundaries
                out.append(cycle)
                prods.append(ctx.get(dut.p))

    seconds = run_testbench(dut, bench)
    if len(out) != n:
        raise RuntimeError(f"RTL returned {len(out)} of {n} products")
    return RtlRun(depth, np.array(prods, np.uint16), np.array(issue, np.int64),
                  np.array(out, np.int64), int(out[-1]) + 1 if n else 0, seconds)


def _result_class(p: np.ndarray) -> np.ndarray:
    """0 zero, 1 subnormal, 2 normal, 3 inf, 4 NaN of binary16 patterns."""
    e = (p >> 10) & 0x1F
    f = p & 0x3FF
    return np.select([(e == 0) & (f == 0), e == 0, e < 31, f == 0], [0, 1, 2, 3], 4)


RESULT_CLASSES = ("zero", "subnormal", "normal", "inf", "nan")


@dataclass
class CheckResult:
    """Outcome of :func:`check_multiplier`.

    pairs: number of operand pairs; mismatches: (a, b, rtl, numerics) patterns of the first
    differing products (at most 20) and ``mismatch_count`` of all; per_category /
    per_result: counts by operand category and by the numerics' result class (plus 'ties');
    latency: {depth: sorted distinct latencies seen (cycles)}; model_depth: {depth: the
    event model's ``Fp16Multipliers.depth`` for that configuration}; drain: {depth: (RTL
    clock boundaries from first issue to last result, compute + pipeline of the timing model
    plus idle cycles inserted after the first issue)}; seconds: wall time of all simulations.
    """

    pairs: int
    depths: tuple[int, ...]
    mismatch_count: int = 0
    mismatches: list[tuple[int, int, int, int]] = field(default_factory=list)
    per_category: dict[str, int] = field(default_factory=dict)
    per_result: dict[str, int] = field(default_factory=dict)
    latency: dict[int, list[int]] = field(default_factory=dict)
    drain: dict[int, tuple[int, int]] = field(default_factory=dict)
    model_depth: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def latency_ok(self) -> bool:
        return all(v == [d] and self.model_depth.get(d) == d for d, v in self.latency.items())

    @property
    def drain_ok(self) -> bool:
        return all(r == m for r, m in self.drain.values())

    @property
    def passed(self) -> bool:
        return self.mismatch_count == 0 and self.latency_ok and self.drain_ok

    def summary(self) -> str:
        """Human-readable lines: counts, mismatches, latency and drain, PASS/FAIL."""
        lines = [f"pairs: {self.pairs} x depths {list(self.depths)}",
                 "operand categories: " + ", ".join(f"{k} {v}" for k, v in
                                                    self.per_category.items()),
                 "numerics result classes: " + ", ".join(f"{k} {v}" for k, v in
                                                         self.per_result.items()),
                 f"product mismatches: {self.mismatch_count}"]
        lines += [f"  a=0x{a:04x} b=0x{b:04x} rtl=0x{r:04x} numerics=0x{w:04x}"
                  for a, b, r, w in self.mismatches]
        for d in self.depths:
            rtl, model = self.drain[d]
            lines.append(f"D={d}: latency seen {self.latency[d]} cycles (event model depth "
                         f"{self.model_depth[d]}); drain {rtl} cycles (timing model compute + "
                         f"pipeline + bubbles {model})")
        lines.append(f"simulation time: {self.seconds:.1f} s")
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)


def model_depth_and_drain(depth: int, products: int) -> tuple[int, int]:
    """(Fp16Multipliers.depth, compute + pipeline cycles) of the timing model for ``products``
    products on one fully pipelined multiplier of depth ``depth``."""
    cfg = config_from_mapping(None, overrides={"datapath": "fp16", "fp16.multipliers": 1,
                                               "fp16.issue_interval": 1,
                                               "fp16.pipeline_depth": depth})
    terms = closed_form_terms(cfg, 1, products, 1)
    return Fp16Multipliers(cfg, 1, products, 1).depth, terms["compute"] + terms["pipeline"]


def check_multiplier(a: np.ndarray, b: np.ndarray, depths: tuple[int, ...],
                     category: np.ndarray | None = None, *, seed: int = 0) -> CheckResult:
    """Run the pairs through the RTL at every depth; compare with numerics and timing model.

    At the first depth all pairs stream back to back (drain checked against the timing
    model); at the others the same pairs stream with seeded random bubbles (0-2 idle cycles
    before 1 pair in 4), so latency is checked with gaps and the products again.
    """
    a = np.asarray(a, np.uint16)
    b = np.asarray(b, np.uint16)
    want = mul_bits(a, b)
    names = list(CATEGORY_SHARES)
    res = CheckResult(pairs=len(a), depths=tuple(int(d) for d in depths))
    if category is not None:
        res.per_category = {names[i]: int(np.sum(category == i)) for i in range(len(names))}
    cls = _result_class(want)
    res.per_result = {k: int(np.sum(cls == i)) for i, k in enumerate(RESULT_CLASSES)}
    res.per_result["ties"] = int(np.sum(_is_tie(_exact(a, b))))
    rng = np.random.default_rng(seed)
    bad_total = 0
    for j, d in enumerate(res.depths):
        gaps = None
        if j > 0:
            gaps = np.where(rng.random(len(a)) < 0.25, rng.integers(0, 3, len(a)), 0)
        run = simulate_multiplier(a, b, d, bubbles=gaps, seed=seed + j)
        res.seconds += run.seconds
        bad = np.nonzero(run.products != want)[0]
        bad_total += len(bad)
        for i in bad[:max(0, 20 - len(res.mismatches))]:
            res.mismatches.append((int(a[i]), int(b[i]), int(run.products[i]), int(want[i])))
        res.latency[d] = sorted({int(x) for x in run.latency})
        model_d, model_drain = model_depth_and_drain(d, len(a))
        res.model_depth[d] = model_d
        idle = 0 if gaps is None else int(gaps[1:].sum())   # bubbles after the first issue
        res.drain[d] = (run.last_boundary, model_drain + idle)
    res.mismatch_count = bad_total
    return res




@dataclass
class MacCheck:
    """Outcome of :func:`check_mac`: elements (m * n sequences of K products) compared with
    ``fp16_outer_product(...).raw`` bit for bit; done latencies (cycles from the issue of an
    element's last product to ``done``) seen; wall time."""

    accumulator: str
    depth: int
    elements: int
    k: int
    mismatch_count: int
    mismatches: list[tuple[int, int, int, int]]
    done_latency: list[int]
    special: dict[str, int]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.mismatch_count == 0 and self.done_latency == [self.depth]

    def summary(self) -> str:
        lines = [f"MAC {self.accumulator} D={self.depth}: {self.elements} elements x K={self.k}"
                 f" products; results {self.special}; mismatches {self.mismatch_count}; "
                 f"done latency {self.done_latency} cycles; {self.seconds:.1f} s"]
        lines += [f"  element ({j}, {i}): rtl=0x{r:x} numerics=0x{w:x}"
                  for j, i, r, w in self.mismatches]
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)


def mac_operands(k: int, m: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x [k, n], delta [k, m] finite binary16 values (float64), seeded.

    Mostly normals in [2^-7, 2^8) with 10% subnormals and 3% signed zeros; 2% of values in
    [2^11, 65504]. Column x[:, 0] is signed zeros only (results +0, also from -0 products);
    x[:, 1] and delta[:, 0] are 2^-12 to 2^-9 (products subnormal or flushed to zero, fp16
    sums subnormal); delta[:, -1] is 2^7 to 65504 (products and sums overflow to inf, and
    inf + -inf gives NaN).
    """
    rng = np.random.default_rng(seed)

    def draw(shape, lo=8, hi=23):
        size = int(np.prod(shape))
        kind = rng.random(size)
        e = np.where(kind < 0.1, 0, np.where(kind > 0.98, rng.integers(26, 31, size),
                                             rng.integers(lo, hi, size)))
        f = np.where(kind < 0.03, 0, rng.integers(0, 1024, size))
        bits = _pattern(rng.integers(0, 2, size), e, f)
        return f16_bits_to_float64(bits).reshape(shape)

    x, delta = draw((k, n)), draw((k, m))
    if n >= 1:
        x[:, 0] = np.where(rng.random(k) < 0.5, -0.0, 0.0)
    if n >= 2:
        x[:, 1] = draw((k,), 3, 7)
    if m >= 2:
        delta[:, 0] = draw((k,), 3, 7)       # element (0, 1): tiny x tiny, subnormal sums
        delta[:, -1] = draw((k,), 22, 31)    # last row: overflowing products, inf - inf
    return x, delta


def check_mac(k: int, m: int, n: int, depth: int, accumulator: str = "fp32", *,
              seed: int = 0) -> MacCheck:
    """Stream the m * n dot products of ``mac_operands`` through ``Fp16Mac`` (one element
    after the other, products back to back) and compare each final accumulator with the FP16
    datapath's ``fp16_outer_product`` raw pattern (uint16 / uint32, NaN canonical)."""
    from ..datapaths.fp16.numerics import fp16_outer_product
    from ..numerics.fp16 import to_f16_bits
    from .fp_adder import Fp16Mac

    x, delta = mac_operands(k, m, n, seed)
    cfg = config_from_mapping(None, overrides={"datapath": "fp16",
                                               "fp16.accumulator": accumulator})
    want = fp16_outer_product(x, delta, cfg).raw
    xb, db = to_f16_bits(x).tolist(), to_f16_bits(delta).tolist()
    dut = Fp16Mac(depth, accumulator)
    results, done_at, last_at = [], [], []

    async def bench(ctx):
        total = m * n * k + depth + 1
        for c in range(total):
            if c < m * n * k:
                e, kk = divmod(c, k)
                j, i = divmod(e, n)
                ctx.set(dut.a, db[kk][j])
                ctx.set(dut.b, xb[kk][i])
                ctx.set(dut.valid_in, 1)
                ctx.set(dut.first, kk == 0)
                ctx.set(dut.last, kk == k - 1)
                if kk == k - 1:
                    last_at.append(c)
            else:
                ctx.set(dut.valid_in, 0)
                ctx.set(dut.first, 0)
                ctx.set(dut.last, 0)
            await ctx.tick()
            if ctx.get(dut.done):   # seen after c + 1 clock boundaries
                results.append(ctx.get(dut.acc))
                done_at.append(c + 1)

    seconds = run_testbench(dut, bench)
    flat = want.reshape(-1).astype(np.uint64)
    got = np.array(results, np.uint64)
    if len(got) != len(flat):
        raise RuntimeError(f"MAC returned {len(got)} of {len(flat)} elements")
    bad = np.nonzero(got != flat)[0]
    mism = [(int(b // n), int(b % n), int(got[b]), int(flat[b])) for b in bad[:20]]
    exp_bits, frac_bits = ACCUMULATOR_FIELDS[accumulator]
    e, f = (flat >> frac_bits) & ((1 << exp_bits) - 1), flat & ((1 << frac_bits) - 1)
    ebits = (1 << exp_bits) - 1
    special = {"inf": int(np.sum((e == ebits) & (f == 0))), "nan": int(np.sum((e == ebits)
                                                                           & (f != 0))),
               "zero": int(np.sum((e == 0) & (f == 0))),
               "subnormal": int(np.sum((e == 0) & (f != 0)))}
    lat = sorted({d - c for d, c in zip(done_at, last_at, strict=True)})
    return MacCheck(accumulator, int(depth), m * n, k, len(bad), mism, lat, special, seconds)


__all__ = [
    "CATEGORY_SHARES", "EDGE_VALUES", "RESULT_CLASSES", "CheckResult", "MacCheck", "RtlRun",
    "check_mac", "check_multiplier", "edge_pairs", "mac_operands", "model_depth_and_drain",
    "operand_pairs", "simulate_multiplier",
]
