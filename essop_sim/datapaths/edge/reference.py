"""Per-cycle reference of the edge processor's timing, to validate its event model.

The tiled-array loop of :func:`essop_sim.hw.reference.reference_tiled` (one tile: the junction)
with the edge processor's sample re-stated from docs/edge.md: the z lanes take the next z edges;
in each cycle every operand bank serves one pending read; the group's first cycle is a 'lanes'
cycle, each further cycle until all its reads are served a 'clash' stall; then
``sample_overhead`` 'overhead' cycles. The per-cycle bank service is simulated here, sharing no
code with the event model (which counts the largest bank multiplicity per group).
"""

from __future__ import annotations

from ...hw.reference import ReferenceResult, reference_tiled
from ...hw.scheduler import BatchSplit, tile_grid
from .pattern import pattern_cols


def sample_labels(cols, z: int, overhead: int) -> list[str]:
    """The label of every cycle of one sample: 'lane', 'clash' or 'overhead'."""
    flat = [int(i) for row in cols for i in row]
    labels: list[str] = []
    for g0 in range(0, len(flat), z):
        pending = [i % z for i in flat[g0:g0 + z]]   # bank of every read of the group
        first = True
        while pending:
            served: set[int] = set()
            rest = []
            for bank in pending:
                if bank in served:
                    rest.append(bank)
                else:
                    served.add(bank)
            pending = rest
            labels.append("lane" if first else "clash")
            first = False
    return labels + ["overhead"] * overhead


def reference_edge(config, m: int, n: int, K: int,
                   max_cycles: int = 2_000_000) -> ReferenceResult:
    """Per-cycle edge-processor timing of a junction [m, n] over K samples."""
    c = config.edge
    cols = pattern_cols(c, m, n)
    W = len(cols) * len(cols[0])
    labels = sample_labels(cols, c.lanes, c.sample_overhead)

    def on_cycle(u: int, cyc: int, busy: dict, stalls: dict) -> None:
        label = labels[cyc]
        if label == "lane":
            busy["lanes"] += 1
            busy["banks"] += 1
        elif label == "clash":
            busy["banks"] += 1
            stalls["clash"] += 1
        else:
            stalls["overhead"] += 1

    return reference_tiled(
        config, tile_grid(m, n, m, n), BatchSplit(K, config.memory.operand_buffer_vectors),
        front_latency=c.front_latency, pipeline_stages=c.pipeline_stages,
        accumulate_cycles=1,   # the banks' accumulate after the P stages
        accumulator_bits=c.accumulator_bits,
        blocks=("read_port", "write_port", "shadow", "lanes", "banks"),
        stall_causes=("fill", "operand", "writeback", "drain", "clash", "overhead"),
        step_cycles=lambda u: len(labels), on_cycle=on_cycle, max_cycles=max_cycles,
        writeback_bits=lambda tl: W * c.accumulator_bits)
