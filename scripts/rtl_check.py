"""Cross-check the RTL ESSOP tile against the numerics and the timing event model on the full
case set (essop_sim.rtl.cases.full_cases): hand-picked edge cases and seeded random
configurations. Prints the command, one line per case (PASS/FAIL, ready cycle and busy AND
cycles on both sides, overflow / saturation counts), the mismatches of failed cases and a
summary; exits 1 on any mismatch.

    PYTHONPATH=. python scripts/rtl_check.py [--random N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time


def describe(case) -> str:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=24, help="random configurations")
    parser.add_argument("--only", nargs="*", help="run only these case names")
    args = parser.parse_args(argv)
    print("command:", shlex.join([sys.executable, *sys.argv]), flush=True)

    from essop_sim.rtl.cases import full_cases
    from essop_sim.rtl.check import check_tile

    cases = full_cases(args.random)
    if args.only:
        cases = [c for c in cases if c.name in set(args.only)]
    t0 = time.perf_counter()
    failed, overflowed, saturated = [], 0, 0
    for case in cases:
        res = check_tile(case.config, case.x, case.delta, tile=case.tile, repeat=case.repeat)
        status = "PASS" if res.passed else "FAIL"
        extra = ""
        if res.counter_overflows is not None:
            extra = (f" ovf {res.counter_overflows[0]}/{res.counter_overflows[1]}"
                     f" sat {res.accumulator_saturations[0]}/{res.accumulator_saturations[1]}")
            overflowed += res.counter_overflows[0] > 0
            saturated += res.accumulator_saturations[0] > 0
        print(f"{status} {case.name:26s} {describe(case)}", flush=True)
        print(f"     ready rtl/event {res.ready_rtl}/{res.ready_model}  and-cycles "
              f"{res.busy_rtl['and_array']}/{res.busy_model['and_array']}  stream "
              f"{res.busy_rtl['rng_bank']}/{res.busy_model['rng_bank']}  event total "
              f"{res.event_cycles}{extra}  sim {res.seconds:.2f}s", flush=True)
        for line in res.mismatches:
            print("     mismatch:", line)
        if not res.passed:
            failed.append(case.name)
    seconds = time.perf_counter() - t0
    print(f"summary: {len(cases) - len(failed)}/{len(cases)} passed, {len(failed)} failed "
          f"({', '.join(failed) or 'none'}); cases with counter overflow {overflowed}, with "
          f"accumulator saturation {saturated}; {seconds:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
