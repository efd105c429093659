"""The composed ESSOP datapath: shift scaler, comparators, AND array, counters, accumulators.

:func:`essop_outer_product` computes, bit for bit, what ESSOP hardware accumulates for
dW = sum_k delta_k x_k^T. The exact semantics are in docs/numerics-essop.md. Operands are read in
chunks of outer products (two passes: exponents first, because the accumulator's common exponent
E is a maximum over all K; then streams and accumulation), so memory-mapped traces stream and
memory stays bounded. Results do not depend on the chunk size or the thread count.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ...config import HardwareConfig
from ...errors import ConfigError
from ...numerics import and_counter, comparator, packed_streams, shift_scaler, vanishing
from ...numerics.lfsr import RngBanks
from ...numerics.pattern import mask_cols, mask_of
from ...numerics.result import OuterProductResult
from ...numerics.threads import choose_threads, chunks_of, for_threads, limited, threads_in_effect

#: Target bytes of packed stream words (+ sign masks) per chunk of outer products. Measured on
#: the ResNet-32 step (2-core AMD EPYC, 32 MiB L3), 8 MiB against 16 / 4 / 2 MiB, three
#: interleaved rounds: BL 256 3.30-3.41 s against 3.59-3.77 / 3.32-3.67 / 3.84-4.08 s;
#: BL 64 1.14-1.34 s against 1.20-1.31 / 1.15-1.27 s.
CHUNK_BYTES = 8 << 20
#: Left shift that groups the vanishing outer products (numerics.vanishing) after every real
#: shift (at most accumulator_fraction_bits <= 40) when streams are built packed.
VANISHED = 64
#: Least K n m W (AND words of an update) for which the vanishing outer products are counted
#: apart (numerics.vanishing) rather than accumulated: compiling that kernel takes about 0.8 s
#: (serial variant), which a cold default run (the shipped trace: at most 1.2 M words an
#: update) would pay for a few milliseconds. ResNet-32's layers at batch 128: about 3e8.
VANISHING_MIN_WORDS = 1 << 24
#: Target bytes of per-element random numbers per chunk (sharing 'element').
CHUNK_RANDOM_BYTES = 32 << 20
#: Below this many word operations, K * (n*m*W + (n+m)*BL) (W = 1 / P for packed streams, BL
#: <= 32), an update runs on one thread.
SERIAL_WORK = 4_000_000


def effective_learning_rate(eta: float, mode: str) -> float:
    """eta_eff: 'multiply' -> eta; 'shift' -> 2^round(log2 eta) (0 for eta = 0), exactly.

    With eta = f * 2^x (frexp, f in [0.5, 1)), round(log2 eta) is x when f >= 2^-1/2 and x - 1
    otherwise; f >= 2^-1/2 is decided exactly on the integer mantissa (M^2 >= 2^105, M = f * 2^53).
    log2 eta is never exactly a half-integer (2^(1/2) is irrational), so no tie rule is needed.
    """
    eta = float(eta)
    if mode == "multiply":
        return eta
    if eta == 0.0:
        return 0.0
    f, x = math.frexp(eta)
    mant = int(f * (1 << 53))
    return math.ldexp(1.0, x if mant * mant >= 1 << 105 else x - 1)


def default_chunk(n: int, m: int, bl: int, sharing: str) -> int:
    """Outer products per chunk: packed words of the chunk ~ CHUNK_BYTES (at least 1)."""
    words = (bl + 63) // 64
    per_k = (n + m) * (8 * words + 1)
    kc = CHUNK_BYTES // per_k
    if sharing == "element":
        kc = min(kc, CHUNK_RANDOM_BYTES // (4 * bl * (n + m)))
    return int(max(1, min(kc, 1 << 16)))


def essop_outer_product(x: np.ndarray, delta: np.ndarray, config: HardwareConfig, seed: int,
                        *, chunk: int | None = None, stream_method: str = "auto",
                        timings: dict | None = None) -> OuterProductResult:
    """ESSOP's bit-exact estimate of sum_k delta_k x_k^T.

    Args:
        x: inputs [K, n] (or [n]); any real dtype, converted to float64 per chunk.
        delta: errors [K, m] (or [m]).
        config: hardware configuration; ``config.essop`` is used.
        seed: seed of the RNG banks.
        chunk: outer products per chunk (default: ~CHUNK_BYTES of packed streams); does not change
            results.
        stream_method: 'auto', 'table' or 'direct' stream construction for shared sequences;
            does not change results.
        timings: if a dict is given, seconds spent are added under 'exponents', 'streams'
            (random numbers + comparators) and 'accumulate'.

    Returns:
        OuterProductResult: raw int64 [m, n] accumulator, dw = raw * 2^(E - F) / BL, update =
        -eta_eff * dw, lsb_weight, x_shifts / delta_shifts (int64 [K] exponents), activity
        {'counter_increments', 'counter_overflows', 'accumulator_saturations', 'k'}.
    """
    from ...numerics import as_operands

    x, delta = as_operands(x, delta)
    rng = config.essop.rng
    K, n = x.shape
    m = delta.shape[1]
    bl = int(config.essop.bitstream_length)
    w = int(config.essop.comparator_bits)
    words = (bl + 63) // 64
    if rng.kind == "lfsr" and w > rng.lfsr_bits:
        raise ConfigError("config", "essop.comparator_bits", w,
                          f"at most essop.rng.lfsr_bits = {rng.lfsr_bits}: a w-bit random "
                          "number is the low w bits of the LFSR state")
    if chunk is None:
        chunk = default_chunk(n, m, bl, rng.sharing)
    chunk = max(1, int(chunk))
    # Small updates run on one thread: waking the pool costs more than it saves, and far more
    # when the machine is oversubscribed (a parallel region waits for a descheduled thread);
    # numerics.threads also leaves out the cores other processes keep busy.
    # Accumulation words per outer product and cell: 1 / P with P = 64 // BL streams packed per
    # word (streams built packed, or packed after they are built: _essop's two packed paths),
    # else W.
    modes = [comparator.stream_mode(stream_method, rng.sharing == "element", size, w, bl)
             for size in (n, m)]
    packed = (packed_streams.fits(bl, *modes, comparator.number_dtype(w, *modes), n, m)
              or and_counter.packs(bl, m))
    cell_words = 1.0 / (64 // bl) if packed else words
    work = K * (n * m * cell_words + (n + m) * bl)
    with limited(choose_threads(work, SERIAL_WORK)):
        return _essop(x, delta, config, seed, chunk, stream_method, timings)


def _essop(x, delta, config, seed, chunk, stream_method, timings) -> OuterProductResult:
    c = config.essop
    rng = c.rng
    K, n = x.shape
    m = delta.shape[1]
    bl = int(c.bitstream_length)
    w = int(c.comparator_bits)
    F = int(c.accumulator_fraction_bits)
    A = int(c.accumulator_bits)
    words = (bl + 63) // 64
    clock = time.perf_counter

    per_element = rng.sharing == "element"
    mode_x = comparator.stream_mode(stream_method, per_element, n, w, bl)
    mode_d = comparator.stream_mode(stream_method, per_element, m, w, bl)
    ndtype = comparator.number_dtype(w, mode_x, mode_d)
    # A pre-defined sparsity mask (essop.mask): every cell's result depends on its own row and
    # column only, so the connected cells are computed as without a mask; the others are
    # zeroed at the end and only the connected cells' AND ones are counted (docs/edge.md).
    mcols = mask_cols(c.mask, m, n)
    # Short streams whose slots fill a word are built packed (packed_streams.fits) when every
    # cell counts (with a sparsity mask, masked_ones reads the plain streams X and D).
    slot_streams = (mcols is None
                    and packed_streams.fits(bl, mode_x, mode_d, ndtype, n, m))

    # Pass 1: scale exponents (also rejects NaN/Inf, naming the element).
    t0 = clock()
    rows = max(chunk, (CHUNK_BYTES // 8) // (n + m))
    ex, ed, active, E, lsh, rsh = shift_scaler.scale_plan(x, delta, c.scaling.granularity, F,
                                                          rows)
    if timings is not None:
        timings["exponents"] = timings.get("exponents", 0.0) + clock() - t0

    # RNG banks: one per side (vector sharing) or one per element.
    banks = []
    for side, size, taps in (("x", n, rng.taps_x), ("delta", m, rng.taps_delta)):
        banks.append(RngBanks(rng.kind, side, size if per_element else 1, w, seed,
                              rng.lfsr_bits, taps, rng.steps_per_number, segment=bl))
    restart = rng.sequence == "restart"
    stride = 0 if restart else bl
    # Random numbers with comparator.MASK_PAD rows after the last one a chunk uses (read, then
    # masked off, by the shared-sequence comparators when BL is not a multiple of 64).
    pad = comparator.MASK_PAD
    fixed = ([np.concatenate([b.first(bl).astype(ndtype),
                              np.zeros((pad, b.nbanks), dtype=ndtype)]) for b in banks]
             if restart else None)

    # Counter and accumulator ranges.
    counter_max = (1 << int(c.counter_bits)) - 1
    saturate = c.overflow == "saturate"
    counter_safe = bl <= counter_max
    acc_hi = (1 << (A - 1)) - 1
    cmax_eff = min(bl, counter_max)
    acc_room = float(acc_hi) * (1.0 - 1e-9)

    # Active k whose steps vanish for every count: counted apart (numerics.vanishing), except
    # with a sparsity mask, which counts the connected cells' ones only, and in updates too
    # small for it to repay compiling its kernel.
    gone = (vanishing.vanishing(active, rsh, cmax_eff)
            if mcols is None and K * n * m * words >= VANISHING_MIN_WORDS else None)
    ones_vanished = 0
    acc = np.zeros((m, n), dtype=np.int64)
    inc = np.zeros(m, dtype=np.int64)
    masked_inc = 0
    covf = np.zeros(m, dtype=np.int64)
    asat = np.zeros(m, dtype=np.int64)
    t_streams = t_acc = 0.0
    kblock, groups = and_counter.kernel_layout(n, m, words)
    threads = threads_in_effect()
    # the serial variants on one thread (numerics.threads)
    streams_both = for_threads(comparator.streams_both)
    accumulate_checked = for_threads(and_counter.accumulate_checked)
    accumulate_plain = for_threads(and_counter.accumulate_fast)
    packed = for_threads(packed_streams.packed_streams)
    vanishing_ones = for_threads(vanishing.vanishing_ones)
    if slot_streams:  # the chunk's magnitude bytes and sign masks
        xb = packed_streams.SlotBytes.empty(min(chunk, K), n, bl)
        db = packed_streams.SlotBytes.empty(min(chunk, K), m, bl)
    # Stream tasks: a few per thread (dynamic schedule), each a contiguous range of k.
    stasks = 1 if threads == 1 else max(1, min(4 * threads, K))
    cap = min(chunk, K)  # chunk buffers, reused
    X_buf = np.empty((cap, words, n), dtype=np.uint64)
    D_buf = np.empty((cap, words, m), dtype=np.uint64)
    Xs_buf = np.empty((cap, n), dtype=np.int8)
    Ds_buf = np.empty((cap, m), dtype=np.int8)
    Xu_buf = np.empty(cap, dtype=np.int8)
    R_buf = (None if restart else
             [np.zeros((cap * bl + pad, b.nbanks), dtype=ndtype) for b in banks])
    for k0 in range(0, K, chunk):
        k1 = min(K, k0 + chunk)
        kc = k1 - k0
        if not active[k0:k1].any():
            if not restart:  # keep the banks in step with k
                for b, buf in zip(banks, R_buf, strict=True):
                    b.take(kc * bl, buf)
            continue
        act = active[k0:k1]
        # Fast path: no counter can overflow and |acc| + sum of the largest steps stays in range.
        # The largest |step| of k, (cmax << lsh) >> rsh <= 2^60, is exact in int64; its sum over
        # the chunk is taken in float64 (it can exceed int64; the check only needs to be
        # conservative). Per chunk: K-sized temporaries cost 1.3 ms at K = 131072 (page faults).
        fast = counter_safe and (
            (float(and_counter.max_abs_int(acc)) if k0 else 0.0)  # acc is zero before chunk 0
            + float(((cmax_eff << lsh[k0:k1]) >> rsh[k0:k1]).sum(where=act, dtype=np.float64))
            * (1.0 + 1e-9) <= acc_room)
        t0 = clock()
        xs = shift_scaler.kernel_array(x[k0:k1])
        ds = shift_scaler.kernel_array(delta[k0:k1])
        X, D, Xs, Ds, Xu = X_buf[:kc], D_buf[:kc], Xs_buf[:kc], Ds_buf[:kc], Xu_buf[:kc]
        if restart:
            Rx, Rd = fixed
        else:
            for b, buf in zip(banks, R_buf, strict=True):
                b.take(kc * bl, buf)
            Rx, Rd = (buf[:kc * bl + pad] for buf in R_buf)
        # k whose steps all vanish (2^rsh > the largest count) get their streams, but only
        # their AND ones are counted, bit-sliced (numerics.vanishing), not accumulated
        cut = gone[k0:k1] if fast and gone is not None else None
        if cut is not None and not cut.any():
            cut = None
        if fast and slot_streams:
            # streams built straight into packed words (numerics.packed_streams); the right-
            # shifted k get plain streams and accumulate_fast. The vanishing k are packed too,
            # in groups of their own after every shift (left shift VANISHED): their words are
            # counted, not accumulated (a packed word's ones are its slots' ones).
            lsh_c, rsh_c = lsh[k0:k1], rsh[k0:k1]
            if cut is not None:
                lsh_c, rsh_c = np.where(cut, VANISHED, lsh_c), np.where(cut, 0, rsh_c)
            order, gstart, gshift, rest = and_counter.packed_plan(lsh_c, rsh_c, act, 64 // bl)
            G = gshift.size
            Xp, NX = np.empty((G, n), dtype=np.uint64), np.empty((G, n), dtype=np.uint64)
            Dp, ND = np.empty((G, m), dtype=np.uint64), np.empty((G, m), dtype=np.uint64)
            Xu = xb.U[:kc]
            gu = np.empty(G, dtype=np.int8)
            with chunks_of(1):
                packed(xs, ex[k0:k1], Rx, ds, ed[k0:k1], Rd, order, gstart, act, rest, stride,
                       bl, w, Xp, NX, Dp, ND, gu, X, Xs, D, Ds, xb.Q, xb.S, Xu, xb.T[:kc], db.Q,
                       db.S, db.U[:kc], db.T[:kc], min(stasks, kc))
            t1 = clock()
            t_streams += t1 - t0
            Ga = int(np.searchsorted(gshift, VANISHED))  # groups are in increasing shift
            and_counter.accumulate_groups_packed(Xp[:Ga], NX[:Ga], Dp[:Ga], ND[:Ga], gu[:Ga],
                                                 gshift[:Ga], acc, inc, groups)
            if Ga < G:
                ones_vanished += vanishing_ones(Xp[Ga:].reshape(G - Ga, 1, n),
                                                Dp[Ga:].reshape(G - Ga, 1, m),
                                                np.ones(G - Ga, dtype=np.bool_),
                                                min(stasks, G - Ga))
            if rest.any():
                accumulate_plain(X, Xs, Xu, D, Ds, lsh[k0:k1], rsh[k0:k1], rest, acc, inc,
                                 kblock, groups)
            t_acc += clock() - t1
            continue
        # Dynamic schedule, one task at a time: the streams are split into a few coarse tasks
        # per thread, so a thread that the OS deschedules on a shared machine does not hold up
        # the other. (Not for the accumulation: its row groups each stream the whole chunk,
        # and more of them measured slower.)
        with chunks_of(1):
            streams_both(xs, ex[k0:k1], Rx, mode_x, X, Xs, Xu, ds, ed[k0:k1], Rd, mode_d,
                         D, Ds, stride, bl, w, min(stasks, kc))
        t1 = clock()
        t_streams += t1 - t0
        if fast:
            if cut is not None:
                ones_vanished += vanishing_ones(X, D, cut, min(stasks, kc))
                act = act & ~cut
            and_counter.accumulate_fast_any(X, Xs, Xu, D, Ds, lsh[k0:k1], rsh[k0:k1], act,
                                            acc, inc, bl, kblock, groups)
        else:
            accumulate_checked(X, Xs, D, Ds, lsh[k0:k1], rsh[k0:k1], act, acc, counter_max,
                               saturate, A, inc, covf, asat, kblock, groups)
        if mcols is not None:
            masked_inc += and_counter.masked_ones(X, D, act, mcols)
        t_acc += clock() - t1
    if timings is not None:
        timings["streams"] = timings.get("streams", 0.0) + t_streams
        timings["accumulate"] = timings.get("accumulate", 0.0) + t_acc

    increments = int(inc.sum()) + int(ones_vanished)
    if mcols is not None:
        acc[~mask_of(mcols, n)] = 0
        increments = int(masked_inc)
    eta = effective_learning_rate(c.scaling.learning_rate, c.scaling.learning_rate_mode)
    # 2^(E - F) is not always a double (extreme operands): np.ldexp over- and underflows to
    # +-inf and 0 as float64 arithmetic does, where math.ldexp would raise OverflowError.
    with np.errstate(over="ignore", under="ignore"):
        lsb = float(np.ldexp(1.0, E - F)) / bl
    dw, update = and_counter.readout(acc, E - F, bl, eta)
    return OuterProductResult(
        datapath="essop",
        dw=dw,
        update=update,
        raw=acc,
        lsb_weight=lsb,
        x_shifts=ex,
        delta_shifts=ed,
        learning_rate=eta,
        activity={
            "counter_increments": increments,
            "counter_overflows": int(covf.sum()),
            "accumulator_saturations": int(asat.sum()),
            "k": int(K),
        },
    )
