"""The SBE stage's per-cycle reference: a plain loop over clock cycles, restated from the timing
rules of docs/sbe.md without SimPy and without timing.py's schedule. Small cases only."""

from __future__ import annotations


def reference_sbe(c, m: int, n: int, K: int, warm: bool = False,
                  max_cycles: int = 10_000_000) -> tuple[int, dict[str, int]]:
    """(cycles, phase -> busy cycles) of one record, one cycle per iteration."""
    r = min(c.rank, K, m, n)
    lanes_work = n + m                      # elements per vector phase
    busy: dict[str, int] = {}
    # the program: (phase, unit, work); 'lanes' work is elements (lanes per cycle),
    # 'unit' work is cycles of the divide/sqrt unit
    program = []
    for p in range(c.passes):
        for j in range(K):
            for i in range(r):
                if p == 0 and j == 0 and not warm:
                    program += [("init", "lanes", lanes_work),
                                ("init", "unit", c.sqrt_latency + c.div_latency + 1),
                                ("init", "lanes", lanes_work)]
                program += [("dots", "lanes", lanes_work), ("update", "lanes", lanes_work),
                            ("update", "lanes", lanes_work)]
                if i < r - 1:
                    program.append(("deflate", "lanes", lanes_work))
                program += [("norm", "lanes", lanes_work),
                            ("recip", "unit", c.sqrt_latency + c.div_latency + 1),
                            ("scale", "lanes", lanes_work)]
                if p == c.passes - 1:
                    program += [("sigma", "lanes", lanes_work), ("sigma", "unit", 2)]
    for _ in range(r):
        program += [("output", "unit", c.sqrt_latency), ("output", "lanes", lanes_work)]
    t, pc, left = 0, 0, None
    while pc < len(program):
        phase, unit, work = program[pc]
        if left is None:
            left = work
        left -= c.lanes if unit == "lanes" else 1      # this cycle's progress
        busy[phase] = busy.get(phase, 0) + 1
        t += 1
        if left <= 0:
            pc, left = pc + 1, None
        if t > max_cycles:
            raise RuntimeError("reference beyond max_cycles")
    return t, busy
