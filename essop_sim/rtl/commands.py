"""``essop-sim rtl check | fp16 | synth``: the RTL cross-checks and synthesis from the command line.

``check`` (the ESSOP tile):

Runs a set of cross-check cases (:mod:`.cases`) or one configuration's tile on a trace record
through :func:`.check.check_tile` and prints, per case, PASS/FAIL, the cycle at which the
results are final and the busy AND / streaming cycles on both sides (RTL / event model), the
counter-overflow and accumulator-saturation counts (RTL / numerics), every mismatch, and a
summary. The exit code is 1 when any case disagrees.

``fp16``: seeded operand pairs (random patterns plus zeros, subnormals, infinities, NaNs,
overflow, underflow and round-to-nearest-even ties) through ``Fp16Multiplier(D)``, every product
compared with ``numerics.fp16.mul_bits`` bit for bit and its latency with D; then the
multiply-accumulate RTL against the FP16 datapath's raw accumulators. Exit 1 on any mismatch.

``synth``: Yosys gate counts (cells by type, NAND2-equivalents per block) of the FP16 multiplier
and multiply-accumulate and of ESSOP tiles, beside the cost table's areas (docs/cost.md).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from .cases import CheckCase, full_cases, quick_cases
from .check import TileCheck, check_record, check_tile


def describe(case: CheckCase) -> str:
    """One-line summary of a case's configuration."""
    e = case.config.essop
    r = e.rng
    K = case.x.shape[0]
    text = (f"{e.array.rows}x{e.array.cols} K={K} BL={e.bitstream_length} "
            f"b={e.bits_per_cycle} w={e.comparator_bits} {r.kind}")
    if r.kind == "lfsr":
        text += f"/L={r.lfsr_bits}/spn={r.steps_per_number or e.comparator_bits}"
    text += (f" {r.sharing} {r.sequence} fo={r.fanout} cb={e.counter_bits} "
             f"A={e.accumulator_bits} F={e.accumulator_fraction_bits} {e.overflow} "
             f"Ls={e.shift_scaler_latency} P={e.pipeline_stages} {e.scaling.granularity}")
    text += f" tile={case.tile}" if case.tile else ""
    return text + (f" x{case.repeat} back to back" if case.repeat > 1 else "")


def print_result(name: str, summary: str, res: TileCheck) -> None:
    """The two lines (and any mismatch lines) of one checked case."""
    extra = ""
    if res.counter_overflows is not None:
        extra = (f" ovf {res.counter_overflows[0]}/{res.counter_overflows[1]}"
                 f" sat {res.accumulator_saturations[0]}/{res.accumulator_saturations[1]}")
    print(f"{'PASS' if res.passed else 'FAIL'} {name:26s} {summary}", flush=True)
    print(f"     ready rtl/event {res.ready_rtl}/{res.ready_model}  and-cycles "
          f"{res.busy_rtl['and_array']}/{res.busy_model['and_array']}  stream "
          f"{res.busy_rtl['rng_bank']}/{res.busy_model['rng_bank']}  event total "
          f"{res.event_cycles}{extra}  sim {res.seconds:.2f}s", flush=True)
    for line in res.mismatches:
        print("     mismatch:", line)


def run_cases(cases: list[CheckCase]) -> int:
    """Check every case, print each and a summary; 0 if all pass, else 1."""
    t0 = time.perf_counter()
    failed, overflowed, saturated = [], 0, 0
    for case in cases:
        res = check_tile(case.config, case.x, case.delta, tile=case.tile, repeat=case.repeat)
        print_result(case.name, describe(case), res)
        if res.counter_overflows is not None:
            overflowed += res.counter_overflows[0] > 0
            saturated += res.accumulator_saturations[0] > 0
        if not res.passed:
            failed.append(case.name)
    print(f"summary: {len(cases) - len(failed)}/{len(cases)} passed, {len(failed)} failed "
          f"({', '.join(failed) or 'none'}); cases with counter overflow {overflowed}, with "
          f"accumulator saturation {saturated}; {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


def check_command(args: argparse.Namespace) -> int:
    """``essop-sim rtl check``: the CI subset, ``--full`` set, or ``--config``'s tile."""
    print("command:", shlex.join(["essop-sim", *sys.argv[1:]]), flush=True)
    if args.config or args.trace or args.set:
        return _check_config(args)
    cases = full_cases(args.random) if args.full else quick_cases()
    if args.only:
        known = {c.name for c in cases}
        unknown = sorted(set(args.only) - known)
        if unknown:
            from ..errors import ConfigError
            raise ConfigError("--only", "case", ", ".join(unknown),
                              f"one of the {'full' if args.full else 'quick'} set's cases: "
                              f"{', '.join(sorted(known))}")
        cases = [c for c in cases if c.name in set(args.only)]
    return run_cases(cases)


def _check_config(args: argparse.Namespace) -> int:
    """One configuration's tile ``--tile`` on the first record of the trace (its first
    ``--max-k`` outer products)."""
    from ..simulate import resolve_trace

    config = _config_of(args)
    record = resolve_trace(args.trace)[0]
    res = check_record(config, record, tile=args.tile, max_k=args.max_k)
    e = config.essop
    print_result(f"{record.layer}@{record.step}", f"tile {args.tile} of the {e.array.rows}x"
                 f"{e.array.cols} array, K={res.K}, BL={e.bitstream_length}", res)
    return 0 if res.passed else 1


def _config_of(args: argparse.Namespace):
    """The hardware configuration named by --config / --set (default: the shipped one)."""
    from ..config import load_config

    return load_config(args.config, args.set)


def fp16_command(args: argparse.Namespace) -> int:
    """``essop-sim rtl fp16``: the FP16 multiplier and MAC RTL against the numerics."""
    from .fp16_check import check_mac, check_multiplier, edge_pairs, operand_pairs

    print("command:", shlex.join(["essop-sim", *sys.argv[1:]]), flush=True)
    depths = args.depths or [_config_of(args).fp16.pipeline_depth, 1, 7]
    t0 = time.perf_counter()
    a, b, cat = operand_pairs(args.pairs, args.seed)
    result = check_multiplier(a, b, tuple(depths), cat, seed=args.seed)
    print(result.summary())
    ea, eb = edge_pairs()
    edges = check_multiplier(ea, eb, tuple(depths[:1]), seed=args.seed)
    print(f"edge values: all {edges.pairs} ordered pairs of "
          f"{int(round(edges.pairs ** 0.5))} edge patterns at D={depths[0]}: "
          f"{edges.mismatch_count} mismatches, {'PASS' if edges.passed else 'FAIL'}")
    macs = [check_mac(args.mac_k, 8, 8, depths[0], acc, seed=args.seed)
            for acc in ("fp16", "fp32")]
    for mac in macs:
        print(mac.summary())
    ok = result.passed and edges.passed and all(mac.passed for mac in macs)
    print(f"total wall time: {time.perf_counter() - t0:.1f} s")
    print("OVERALL:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def synth_command(args: argparse.Namespace) -> int:
    """``essop-sim rtl synth``: gate counts of the FP16 blocks and ESSOP tiles."""
    from . import synth_report as sr
    from .synth import require_yosys

    require_yosys()
    print("command:", shlex.join(["essop-sim", *sys.argv[1:]]), flush=True)
    config = _config_of(args)
    default_d = config.fp16.pipeline_depth
    t0 = time.perf_counter()
    for d, r in sr.synth_fp16(tuple(args.depths or [default_d, 7])).items():
        _print_synth(f"FP16 multiplier, D = {d}", r, args.cells,
                     sr.comparison_table(sr.compare_fp16(r, d)))
    for acc in ("fp32", "fp16"):
        r = sr.synth_fp16_mac(default_d, acc)
        _print_synth(f"FP16 multiply-accumulate, D = {default_d}, {acc} accumulator", r,
                     args.cells, sr.comparison_table(sr.compare_fp16_mac(r, default_d, acc)))
    for n in args.tiles:
        r = sr.synth_essop_tile(n, n, config)
        _print_synth(f"ESSOP tile {n} x {n}", r, args.cells,
                     sr.comparison_table(sr.compare_essop(r, n, n, sr.tile_config(n, n, config))))
    print(f"\ntotal wall time: {time.perf_counter() - t0:.1f} s")
    return 0


def _print_synth(title: str, result, cells: bool, comparison: str) -> None:
    """One synthesised design: its per-block table, cells by type, and the cost comparison."""
    print(f"\n## {title}  ({result.yosys_version}; Yosys {result.seconds:.1f} s)")
    print(result.table())
    if cells:
        print()
        print(result.cells_table())
    print()
    print(comparison, flush=True)
