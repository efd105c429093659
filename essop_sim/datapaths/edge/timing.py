"""The edge processor as a SimPy event model, on the shared tiled array.

A junction [m, n] is one tile: its W = m * d_in per-edge accumulators live in z banks. The
loader brings batches of samples (x_k, delta_k: (m + n) operands each) into the double-buffered
operand buffer; a sample (k-step) takes sum over groups of the group's cycle cost (1 per group
of z edges, more when inputs clash in a bank) plus ``sample_overhead`` cycles; after the last
sample the pipeline drains and the W accumulators are written back (W x A bits). The pattern is
a function of the configuration and the shape, so no timing hints are needed. See
docs/edge.md, "Timing".
"""

from __future__ import annotations

from ...hw.scheduler import BatchSplit, ceil_div, check_shape, tile_grid
from ...hw.tiled_array import TiledArrayRun
from .pattern import cycle_costs, pattern_cols

BLOCKS = ("read_port", "write_port", "shadow", "lanes", "banks")
#: The accumulate stage (docs/edge.md, Timing): the last products, past the P stages, are added
#: into the banks' accumulators (read-modify-write) in a cycle of their own (cycles).
ACCUMULATE_CYCLES = 1
STALLS = ("fill", "operand", "writeback", "drain", "clash", "overhead")
_ARRAY_BUSY = ("lanes", "banks")
_ARRAY_STALLS = ("operand", "writeback", "clash", "overhead")


def address_bits(n: int, z: int) -> int:
    """Bits of an operand-bank address: ceil(log2(ceil(n / z))), at least 1."""
    return max(1, (ceil_div(n, z) - 1).bit_length())


def sample_terms(config, m: int, n: int) -> tuple[int, int, int, int]:
    """(edges W, edge groups ceil(W / z), clash cycles, overhead cycles) of one sample."""
    c = config.edge
    cols = pattern_cols(c, m, n)
    costs = cycle_costs(cols, c.lanes)
    return int(cols.size), int(costs.size), int(costs.sum() - costs.size), c.sample_overhead


class EdgeEventModel(TiledArrayRun):
    """One edge-processor update of a junction [m, n] over K samples."""

    def __init__(self, config, m: int, n: int, K: int, fast_forward: bool = True):
        check_shape(m, n, K)
        c = config.edge
        super().__init__(config, tile_grid(m, n, m, n),
                         BatchSplit(K, config.memory.operand_buffer_vectors),
                         blocks=BLOCKS, stall_causes=STALLS, array_busy=_ARRAY_BUSY,
                         array_stalls=_ARRAY_STALLS, front_latency=c.front_latency,
                         pipeline_stages=c.pipeline_stages,
                         accumulate_cycles=ACCUMULATE_CYCLES,
                         accumulator_bits=c.accumulator_bits, fast_forward=fast_forward)
        self.W, self.groups, self.clash, self.overhead = sample_terms(config, m, n)
        act = self.stats.activity
        act["edge_multiplies"] += self.W * K
        act["edge_adds"] += self.W * K
        act["bank_read_bits"] += self.W * K * (c.accumulator_bits + c.operand_bits)
        act["bank_write_bits"] += self.W * K * c.accumulator_bits
        act["quantise_ops"] += K * (m + n)
        if c.pattern == "random":   # stored index lists, one per edge per sample
            act["index_read_bits"] += self.W * K * address_bits(n, 1)
            act["address_ops"] += 0
        else:                       # one address adder per bank per edge cycle
            act["address_ops"] += K * (self.groups + self.clash) * min(c.lanes, self.W)
            act["index_read_bits"] += 0

    def tile_bits(self, u: int) -> int:
        """W per-edge accumulators of A bits written back."""
        return self.W * self.accumulator_bits

    def step_cycles(self, u: int) -> int:
        return self.groups + self.clash + self.overhead

    def account(self, u: int, nk: int, stream: int) -> None:
        busy, stalls = self.stats.busy, self.stats.stalls
        busy["lanes"] += nk * self.groups
        busy["banks"] += nk * (self.groups + self.clash)
        stalls["clash"] += nk * self.clash
        stalls["overhead"] += nk * self.overhead


def closed_form_terms(config, m: int, n: int, K: int) -> dict[str, int]:
    """Stall-free cycles: 'load' (the first k-step's vector pair: operands are ready per k-step,
    docs/timing.md), 'front', 'compute' (K ceil(W / z)), 'clash' (K x the pattern's clash
    cycles per sample; 0 for clash_free when z divides n), 'overhead' (K x sample_overhead),
    'pipeline', 'accumulate' (1), 'writeback' (W x A bits)."""
    mem, c = config.memory, config.edge
    W, groups, clash, overhead = sample_terms(config, m, n)
    return {
        "load": ceil_div((m + n) * mem.operand_bits, mem.read_bandwidth),
        "front": c.front_latency,
        "compute": K * groups,
        "clash": K * clash,
        "overhead": K * overhead,
        "pipeline": c.pipeline_stages,
        "accumulate": ACCUMULATE_CYCLES,
        "writeback": ceil_div(W * c.accumulator_bits, mem.write_bandwidth),
    }
