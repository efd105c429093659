"""Benchmark the ESSOP hot path on the weight-update shapes of ResNet-32 / CIFAR-10.

For every layer (essop_sim.workloads.resnet32_cifar10, batch 128 by default) it builds synthetic
ReLU-like operands (x = max(0, N(0, 1)), delta = N(0, 1) * 1e-3, float32), then measures

* the plain AND/popcount accumulation kernel alone (``and_counter.accumulate_fast``, one word
  per outer product and cell, on the packed streams, in the same chunks essop_outer_product
  uses), as gate evaluations per second: m * n * K * BL AND-gate evaluations / seconds;
* the project's fast-path accumulation, the one essop_outer_product calls
  (``and_counter.accumulate_fast_any``: for BL <= 32 it packs 64 // BL outer products per word,
  packing included in its time; otherwise it is ``accumulate_fast``);
* a plain popcount roofline over the same packed data and loop shape
  (``and_counter.popcount_roofline``: sum of popcount(a & b), no sign, shift, activity or
  saturation; it adds every word into a per-cell accumulator in memory);
* the LIMIT of this work (:func:`popcount_limit`, defined here): the m * n * K * BL gate
  evaluations on m * n * K * W words with AND + popcount summed in registers, k innermost and
  contiguous (its best layout: [rows, K * W] words), 2 x 2 cells per tile, one store per cell;
  every kernel figure is also printed as a fraction of the limit;
* the full ``essop_outer_product`` (exponents, random numbers, comparators/streams and
  accumulation), and the share of its time in stream generation versus accumulation. At BL 1,
  2, 4, 8, 16 and 32 it builds the streams packed (``numerics.packed_streams``, with the
  default 8-bit comparators) and accumulates them with ``and_counter.accumulate_packed``, so
  its accumulation ("acc s", and "the step's accumulation" in the BL ratios) is not the
  "project" column's (which packs streams built one by one, packing included).

Usage::

    python scripts/bench_kernels.py            # all 34 layers
    python scripts/bench_kernels.py --quick    # 4 representative layers
    python scripts/bench_kernels.py --layers conv1,stage3.block4.conv2
    python scripts/bench_kernels.py --quick --bls 8,63,64,127,128,256   # BL sweep, ratios
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

import numba as nb
import numpy as np
from benchinfo import cpu_model

from essop_sim.numerics.and_counter import popcount64


@nb.njit(parallel=True)
def popcount_limit(XT, DT, out):  # pragma: no cover - numba
    """out[j, i] = sum over words b of popcount(XT[i, b] & DT[j, b]): the register-resident
    limit of the AND/popcount work (XT uint64 [n, K*W], DT [m, K*W], k contiguous; 2 x 2 cells
    per tile, words innermost so the four sums stay in vector registers; one store per cell)."""
    n, L = XT.shape
    m = DT.shape[0]
    for jb in nb.prange((m + 1) // 2):
        j0 = 2 * jb
        j1 = min(m - 1, j0 + 1)  # an odd last row is computed twice (same value)
        d0 = DT[j0]
        d1 = DT[j1]
        for ib in range((n + 1) // 2):
            i0 = 2 * ib
            i1 = min(n - 1, i0 + 1)
            x0 = XT[i0]
            x1 = XT[i1]
            s00 = s01 = s10 = s11 = 0
            for b in range(L):
                a = x0[b]
                c = x1[b]
                s00 += popcount64(a & d0[b])
                s01 += popcount64(c & d0[b])
                s10 += popcount64(a & d1[b])
                s11 += popcount64(c & d1[b])
            out[j0, i0] = s00
            out[j0, i1] = s01
            out[j1, i0] = s10
            out[j1, i1] = s11


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 representative layers only")
    parser.add_argument("--layers", default=None, help="comma-separated layer names")
    parser.add_argument("--batch", type=int, default=128, help="mini-batch size (default 128)")
    parser.add_argument("--bl", type=int, default=64, help="bitstream length BL (bits)")
    parser.add_argument("--bls", default=None,
                        help="comma-separated BL sweep, e.g. 8,63,64,127,128,256 (overrides --bl)")
    parser.add_argument("--repeat", type=int, default=1, help="timed repetitions (best kept)")
    args = parser.parse_args(argv)

    t_import = time.perf_counter()
    import numba

    from essop_sim.config import HardwareConfig
    from essop_sim.datapaths.essop.numerics import essop_outer_product
    from essop_sim.numerics import and_counter
    from essop_sim.workloads import resnet32_cifar10

    t_import = time.perf_counter() - t_import

    layers = resnet32_cifar10(args.batch)
    if args.layers:
        wanted = [s.strip() for s in args.layers.split(",") if s.strip()]
        by_name = {lay.name: lay for lay in layers}
        missing = [s for s in wanted if s not in by_name]
        if missing:
            parser.error(f"unknown layers {missing}; known: {sorted(by_name)}")
        layers = [by_name[s] for s in wanted]
    elif args.quick:
        pick = ("conv1", "stage1.block1.conv1", "stage3.block2.conv2", "fc")
        layers = [lay for lay in layers if lay.name in pick]

    import dataclasses
    base = HardwareConfig()
    bls = [int(v) for v in args.bls.split(",")] if args.bls else [args.bl]
    c = base.essop
    w = c.comparator_bits
    load_before = os.getloadavg()
    print("command:", " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=False).stdout.strip()
    except OSError:
        rev = ""
    print(f"config: BL={','.join(map(str, bls))} bits, comparator_bits={w}, lfsr_bits="
          f"{c.rng.lfsr_bits}, sharing={c.rng.sharing}, counter_bits={c.counter_bits}, "
          f"accumulator_bits={c.accumulator_bits}, F={c.accumulator_fraction_bits}; batch "
          f"{args.batch}; {len(layers)} layers; repeat {args.repeat}; git {rev or '?'}")

    # Compile (or load from the numba cache) every kernel on a tiny problem first.
    t0 = time.perf_counter()
    tiny_x = np.abs(np.random.default_rng(0).standard_normal((8, 5))).astype(np.float32)
    tiny_d = np.random.default_rng(1).standard_normal((8, 3)).astype(np.float32)
    for bl in sorted({(b + 63) // 64 * 64 for b in bls}):
        cfg = dataclasses.replace(base, essop=dataclasses.replace(base.essop,
                                                                  bitstream_length=bl))
        essop_outer_product(tiny_x, tiny_d, cfg, 0)
        essop_outer_product(tiny_x.astype(np.float64), tiny_d.astype(np.float64), cfg, 0)
    Xt = np.zeros((2, 1, 5), np.uint64)
    Dt = np.zeros((2, 1, 3), np.uint64)
    and_counter.popcount_roofline(Xt, Dt, np.zeros((3, 5), np.int64), 1, 1)
    popcount_limit(np.zeros((5, 2), np.uint64), np.zeros((3, 2), np.uint64),
                   np.zeros((3, 5), np.int64))
    for bl in sorted({b for b in bls if b <= and_counter.PACK_MAX_BL})[:1]:
        and_counter.accumulate_fast_any(Xt, np.zeros((2, 5), np.int8), np.zeros(2, np.int8), Dt,
                                        np.zeros((2, 3), np.int8), np.zeros(2, np.int64),
                                        np.zeros(2, np.int64), np.ones(2, np.bool_),
                                        np.zeros((3, 5), np.int64), np.zeros(3, np.int64),
                                        bl, 1, 1)
    t_compile = time.perf_counter() - t0
    print(f"machine: {cpu_model()}; {os.cpu_count()} logical CPUs; numba {numba.__version__}, "
          f"{numba.get_num_threads()} threads ({numba.threading_layer()} threading layer); "
          f"numpy {np.__version__}")
    print(f"load average before: {', '.join(f'{v:.2f}' for v in load_before)}")
    print(f"import {t_import:.2f} s; kernel compile/cache load {t_compile:.2f} s")

    summary = []
    for bl in bls:
        config = dataclasses.replace(base, essop=dataclasses.replace(base.essop,
                                                                     bitstream_length=bl))
        summary.append((bl, run_bl(config, layers, args.repeat)))

    print("=" * 100)
    print("summary (rates in G gate-evals/s = m*n*K*BL / s; fractions of the LIMIT kernel):")
    print(f"{'BL':>5}  {'limit':>7}  {'roofline':>14}  {'plain acc':>14}  "
          f"{'project acc':>14}  {'acc s':>6}  {'step s':>7}")
    for bl, t in summary:
        ev = t["evals"]

        def cell(key, t=t, ev=ev):
            return f"{ev / t[key] / 1e9:7.1f} ({t['lim'] / t[key]:.2f})"
        print(f"{bl:>5}  {ev / t['lim'] / 1e9:7.1f}  {cell('roof'):>14}  {cell('acc'):>14}  "
              f"{cell('proj'):>14}  {t['proj']:6.2f}  {t['full']:7.2f}")
    by_bl = dict(summary)
    for a, b in ((1, 64), (8, 64), (16, 64), (32, 64), (63, 64), (127, 128), (256, 64)):
        if a in by_bl and b in by_bl:
            print(f"BL {a} / BL {b} time: project accumulation "
                  f"{by_bl[a]['proj'] / by_bl[b]['proj']:.2f}, the step's accumulation "
                  f"{by_bl[a]['accum'] / by_bl[b]['accum']:.2f}, whole step "
                  f"{by_bl[a]['full'] / by_bl[b]['full']:.2f}, limit "
                  f"{by_bl[a]['lim'] / by_bl[b]['lim']:.2f}")
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


def run_bl(config, layers, repeat: int) -> dict:
    """Measure every layer at config's BL; print a row per layer and the BL's totals."""
    from essop_sim.datapaths.essop.numerics import default_chunk, essop_outer_product
    from essop_sim.numerics import and_counter, comparator, shift_scaler
    from essop_sim.numerics.lfsr import RngBanks
    from essop_sim.numerics.threads import chunks_of

    c = config.essop
    bl, w = c.bitstream_length, c.comparator_bits
    words = (bl + 63) // 64
    print(f"--- BL {bl} ({words} words per stream)")
    header = (f"{'layer':<24}{'m':>4}{'n':>5}{'K':>8}  {'limit':>7}  {'roof':>5}  {'acc':>5}  "
              f"{'proj':>5}  {'full s':>7}  {'streams':>7}  {'acc s':>6}")
    print(header + "   (limit in G gate-evals/s; kernels as fractions of it)")
    tot = dict(evals=0, acc=0.0, proj=0.0, roof=0.0, lim=0.0, full=0.0, streams=0.0,
               accum=0.0, expo=0.0, cpu=0.0)
    rng = np.random.default_rng(2024)
    for lay in layers:
        K, n, m = lay.K, lay.n, lay.m
        x = np.maximum(rng.standard_normal((K, n), dtype=np.float32), 0)
        d = rng.standard_normal((K, m), dtype=np.float32) * np.float32(1e-3)
        # Full datapath.
        best_full, timings, cpu = None, None, 0.0
        for _ in range(repeat):
            tm: dict = {}
            c0 = time.process_time()
            t0 = time.perf_counter()
            essop_outer_product(x, d, config, 1, timings=tm)
            dt = time.perf_counter() - t0
            if best_full is None or dt < best_full:
                best_full, timings, cpu = dt, tm, time.process_time() - c0
        # Kernels alone, on the same packed streams and chunks.
        chunk = default_chunk(n, m, bl, c.rng.sharing)
        kblock, groups = and_counter.kernel_layout(n, m, words)
        ex, _ = shift_scaler.exponents(shift_scaler.row_max_abs(x, "x", 4096), "vector")
        ed, _ = shift_scaler.exponents(shift_scaler.row_max_abs(d, "delta", 4096), "vector")
        active = np.ones(K, np.bool_)
        mixed = np.ones(K, np.int8)  # every k through the per-element sign loop
        s = (ex + ed).max() - (ex + ed)
        F = c.accumulator_fraction_bits
        lsh = np.maximum(F - s, 0).astype(np.int64)
        rsh = np.minimum(np.maximum(s - F, 0), 63).astype(np.int64)
        bx = RngBanks("lfsr", "x", 1, w, 1)
        bd = RngBanks("lfsr", "delta", 1, w, 1)
        mode_x = comparator.stream_mode("auto", False, n, w, bl)
        mode_d = comparator.stream_mode("auto", False, m, w, bl)
        ndtype = comparator.number_dtype(w, mode_x, mode_d)
        chunks = []
        for k0 in range(0, K, chunk):
            k1 = min(K, k0 + chunk)
            kc = k1 - k0
            X = np.empty((kc, words, n), np.uint64)
            D = np.empty((kc, words, m), np.uint64)
            Xs = np.empty((kc, n), np.int8)
            Xu = np.empty(kc, np.int8)
            Ds = np.empty((kc, m), np.int8)
            Rx = bx.take(kc * bl, np.empty((kc * bl, 1), ndtype))
            Rd = bd.take(kc * bl, np.empty((kc * bl, 1), ndtype))
            with chunks_of(1):  # the schedule essop_outer_product uses
                comparator.streams_both(x[k0:k1], ex[k0:k1], Rx, mode_x, X, Xs, Xu, d[k0:k1],
                                        ed[k0:k1], Rd, mode_d, D, Ds, bl, bl, w, 1)
            # The limit's layout (k contiguous), built untimed.
            LX = np.ascontiguousarray(X.transpose(2, 0, 1).reshape(n, kc * words))
            LD = np.ascontiguousarray(D.transpose(2, 0, 1).reshape(m, kc * words))
            chunks.append((X, Xs, Xu, D, Ds, k0, k1, LX, LD))
        best = {}
        out = np.zeros((m, n), np.int64)
        for _ in range(repeat + 1):  # interleaved; the first round also warms the caches
            res = {}
            acc = np.zeros((m, n), np.int64)
            inc = np.zeros(m, np.int64)
            t0 = time.perf_counter()
            for X, Xs, _, D, Ds, k0, k1, *_ in chunks:
                and_counter.accumulate_fast(X, Xs, mixed[k0:k1], D, Ds, lsh[k0:k1], rsh[k0:k1],
                                            active[k0:k1], acc, inc, kblock, groups)
            res["acc"] = time.perf_counter() - t0
            roof = np.zeros((m, n), np.int64)
            t0 = time.perf_counter()
            for X, _, _, D, *_ in chunks:
                and_counter.popcount_roofline(X, D, roof, kblock, groups)
            res["roof"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for *_, LX, LD in chunks:
                popcount_limit(LX, LD, out)
            res["lim"] = time.perf_counter() - t0
            acc2 = np.zeros((m, n), np.int64)
            inc2 = np.zeros(m, np.int64)
            t0 = time.perf_counter()
            for X, Xs, Xu, D, Ds, k0, k1, *_ in chunks:
                and_counter.accumulate_fast_any(X, Xs, Xu, D, Ds, lsh[k0:k1], rsh[k0:k1],
                                                active[k0:k1], acc2, inc2, bl, kblock, groups)
            res["proj"] = time.perf_counter() - t0
            if not (np.array_equal(acc, acc2) and np.array_equal(inc, inc2)):
                raise AssertionError(f"{lay.name}: accumulate_fast_any differs from "
                                     "accumulate_fast")
            for key, v in res.items():
                best[key] = min(best.get(key, v), v)
        evals = m * n * K * bl
        tot["evals"] += evals
        for key in ("acc", "proj", "roof", "lim"):
            tot[key] += best[key]
        tot["full"] += best_full
        tot["cpu"] += cpu
        tot["streams"] += timings.get("streams", 0.0)
        tot["accum"] += timings.get("accumulate", 0.0)
        tot["expo"] += timings.get("exponents", 0.0)
        fr = {key: best["lim"] / best[key] for key in ("roof", "acc", "proj")}
        print(f"{lay.name:<24}{m:>4}{n:>5}{K:>8}  {evals / best['lim'] / 1e9:>7.1f}  "
              f"{fr['roof']:>5.2f}  {fr['acc']:>5.2f}  {fr['proj']:>5.2f}  "
              f"{best_full:>7.3f}  {timings.get('streams', 0.0):>7.3f}  "
              f"{timings.get('accumulate', 0.0):>6.3f}", flush=True)
        del x, d, chunks

    full = tot["full"]
    ev = tot["evals"]
    print("-" * len(header))
    print(f"gate evaluations: {ev:.3e} (m*n*K*BL over {len(layers)} layers)")
    for key, label in (("lim", "LIMIT (registers, k contiguous)"),
                       ("roof", "popcount roofline (per-word store)"),
                       ("acc", "plain accumulate_fast"),
                       ("proj", "project accumulate_fast_any")):
        print(f"{label:<36} {ev / tot[key] / 1e9:8.2f} G gate-evals/s ({tot[key]:.3f} s) = "
              f"{tot['lim'] / tot[key]:.2f} of the limit")
    print(f"full essop_outer_product, whole step: {full:.2f} s "
          f"(exponents {tot['expo']:.2f} s = {100 * tot['expo'] / full:.0f}%, "
          f"streams {tot['streams']:.2f} s = {100 * tot['streams'] / full:.0f}%, "
          f"accumulation {tot['accum']:.2f} s = {100 * tot['accum'] / full:.0f}%)")
    print(f"CPU time of the whole step (all threads of this process): {tot['cpu']:.2f} s "
          f"(CPU / wall {tot['cpu'] / full:.2f}); load average now "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return tot


if __name__ == "__main__":
    raise SystemExit(main())
