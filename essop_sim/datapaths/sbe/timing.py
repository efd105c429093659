"""SBE timing: the stage's schedule (docs/sbe.md, "Timing"), as a closed form, a SimPy event
model and the operation counts the cost model prices. The per-cycle reference is reference.py.

The stage has ``lanes`` multiply-accumulate lanes (one multiply and one add per lane per cycle)
and one pipelined divide/square-root unit. For every pass, sample j and component i the schedule
runs these phases back to back (each vector phase over the n + m elements of the pair):

===========  =====================================================  ==========================
phase        work                                                   cycles
===========  =====================================================  ==========================
init         (cold start, first sample of a component) norms,       2 V + S + Q + 1
             square roots, reciprocals, scaling
dots         cx = x . X^, cd = delta . D^                           V
update       X <- a X + (b cd) x, D likewise (2 multiplies/elt.)    2 V
deflate      (i < r - 1) x <- x - cx X^, delta likewise             V
norm         ||X||^2, ||D||^2                                       V
recip        sqrt then reciprocal, D one cycle after X              S + Q + 1
scale        X^ = X / ||X||, D^ likewise                            V
sigma        (last pass) the dots with the new hats, s update       V + 2
===========  =====================================================  ==========================

with V = ceil((n + m) / lanes), S = sqrt_latency, Q = div_latency. After the last pass, every
kept component computes t = sqrt|s| and scales its pair: S + V each. Nothing overlaps: each phase
needs the previous one's result (the hats of sample j are used by sample j + 1), so the schedule
is stall-free and the closed form is exact. The datapath behind the stage starts when the stage
ends (it needs the final hats).
"""

from __future__ import annotations

import math

import simpy

#: Phase names, the stage's busy blocks.
PHASES = ("init", "dots", "update", "deflate", "norm", "recip", "scale", "sigma", "output")


def _units(c, m: int, n: int, K: int):
    from .numerics import output_k

    return (math.ceil((n + m) / c.lanes), c.sqrt_latency, c.div_latency,
            output_k(c.rank, m, n, K))


def schedule(c, m: int, n: int, K: int, warm: bool = False):
    """The phases in order as (phase, cycles), the stage's whole run for one record."""
    V, S, Q, count = _units(c, m, n, K)
    r = count
    for p in range(c.passes):
        last = p == c.passes - 1
        for j in range(K):
            for i in range(r):
                if p == 0 and j == 0 and not warm:
                    yield "init", 2 * V + S + Q + 1
                yield "dots", V
                yield "update", 2 * V
                if i < r - 1:
                    yield "deflate", V
                yield "norm", V
                yield "recip", S + Q + 1
                yield "scale", V
                if last:
                    yield "sigma", V + 2
    for _ in range(r):
        yield "output", S + V


def closed_form_terms(c, m: int, n: int, K: int, warm: bool = False) -> dict[str, int]:
    """Cycles of each phase summed over the run (stall-free, exact)."""
    V, S, Q, r = _units(c, m, n, K)
    P, L = c.passes, K * r
    return {
        "init": 0 if warm else r * (2 * V + S + Q + 1),
        "dots": P * L * V,
        "update": P * L * 2 * V,
        "deflate": P * K * max(r - 1, 0) * V,
        "norm": P * L * V,
        "recip": P * L * (S + Q + 1),
        "scale": P * L * V,
        "sigma": L * (V + 2),
        "output": r * (S + V),
    }


def closed_form_cycles(c, m: int, n: int, K: int, warm: bool = False) -> int:
    return sum(closed_form_terms(c, m, n, K, warm).values())


class SbeEventModel:
    """SimPy: the lane array and the divide/sqrt unit as resources; one process walks the
    schedule, holding the unit each phase needs for its cycles."""

    def __init__(self, c, m: int, n: int, K: int, warm: bool = False):
        self.c, self.m, self.n, self.K, self.warm = c, m, n, K, warm
        self.busy = dict.fromkeys(PHASES, 0)
        self.events = 0

    def _run(self, env, lanes, unit):
        V, S, Q, _ = _units(self.c, self.m, self.n, self.K)
        for phase, cycles in schedule(self.c, self.m, self.n, self.K, self.warm):
            start = env.now
            if phase == "recip" or phase == "output":
                with unit.request() as req:
                    yield req
                    yield env.timeout(S + (Q + 1 if phase == "recip" else 0))
                if phase == "output":
                    with lanes.request() as req:
                        yield req
                        yield env.timeout(V)
            elif phase == "init":
                with lanes.request() as req:
                    yield req
                    yield env.timeout(V)
                with unit.request() as req:
                    yield req
                    yield env.timeout(S + Q + 1)
                with lanes.request() as req:
                    yield req
                    yield env.timeout(V)
            else:
                with lanes.request() as req:
                    yield req
                    yield env.timeout(cycles)
            self.busy[phase] += env.now - start
            self.events += 1

    def run(self) -> tuple[int, dict[str, int]]:
        env = simpy.Environment()
        lanes = simpy.Resource(env, capacity=1)
        unit = simpy.Resource(env, capacity=1)
        env.process(self._run(env, lanes, unit))
        env.run()
        return int(env.now), dict(self.busy)


def op_counts(c, m: int, n: int, K: int, warm: bool = False) -> dict[str, int]:
    """Scalar operations of the schedule (what the kernel performs on nonzero data): multiplies,
    adds, divisions, square roots."""
    from .numerics import output_k

    r = output_k(c.rank, m, n, K)
    e, P = n + m, c.passes
    L = K * r
    deflations = P * K * max(r - 1, 0)
    mul = P * L * (e + 2 + 2 * e + 2 * e) + deflations * e + L * (e + 3) + r * e
    add = P * L * (3 * e - 4) + deflations * e + L * (e - 1)
    div = P * L * 2
    sqrt = P * L * 2 + r
    if not warm:
        mul += r * 2 * e
        add += r * (e - 2)
        div += r * 2
        sqrt += r * 2
    return {"mul": mul, "add": add, "div": div, "sqrt": sqrt}
