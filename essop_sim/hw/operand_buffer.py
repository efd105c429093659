"""Memory ports and the double-buffered operand buffer with its loader (event model).

Memory port: one transfer at a time, never preempted. A separate-port system has a read port
(loads only) and a write port (write-backs only). With ``memory.shared_port`` one port serves
both; when it is free at a cycle boundary, a waiting write-back is granted before a waiting load
(arbitration happens after every other event of that boundary, so requests made at the same
boundary compete together). A granted transfer of ``bits`` takes ``ceil(bits / bandwidth)``
cycles.

Operand buffer: two halves, each holding one batch (at most ``operand_buffer_vectors`` k-steps of
one tile's operands). Batch j goes into half ``j % 2``. The loader loads batches in order; load j
starts when its half is free (the consumer released batch j-2) and the read port is granted. A
load writes the batch's k-steps in order, so k-step i of a load that started at boundary s has
arrived at s + ceil((i + 1) * bits_per_k_step / bandwidth) (:meth:`MemoryPorts.read_cycles`);
the loader announces each load's start (``started``); its end follows from its bits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from .sim import Settle, Signals, Stats

WRITEBACK = 0  # port request priorities: lower is served first
LOAD = 1


class MemoryPort:
    """A memory port: one transfer at a time, write-backs before loads when both wait."""

    def __init__(self, env: simpy.Environment, arbitrate_late: bool):
        self.env = env
        self.holder: simpy.Event | None = None
        self._queues: tuple[deque, deque] = (deque(), deque())
        self._late = arbitrate_late
        self._armed = False

    def request(self, kind: int) -> simpy.Event:
        """Ask for the port (``WRITEBACK`` or ``LOAD``); the event fires when it is granted."""
        ev = self.env.event()
        self._queues[kind].append(ev)
        self._arm()
        return ev

    def release(self) -> None:
        """Give the port back (the transfer is done)."""
        self.holder = None
        self._arm()

    def _arm(self) -> None:
        if not self._late:
            self._grant()
        elif not self._armed:
            self._armed = True
            Settle(self.env).callbacks.append(self._grant)

    def _grant(self, _event=None) -> None:
        self._armed = False
        if self.holder is not None:
            return
        for queue in self._queues:
            if queue:
                self.holder = queue.popleft()
                self.holder.succeed()
                return


class MemoryPorts:
    """The read and write ports of a datapath (one object twice when shared)."""

    def __init__(self, env: simpy.Environment, shared: bool, read_bandwidth: int,
                 write_bandwidth: int):
        self.shared = shared
        self.read = MemoryPort(env, arbitrate_late=shared)
        self.write = self.read if shared else MemoryPort(env, arbitrate_late=False)
        self.read_bandwidth = read_bandwidth
        self.write_bandwidth = write_bandwidth

    def read_cycles(self, bits: int) -> int:
        """Cycles to read ``bits`` bits: ceil(bits / read_bandwidth)."""
        return -(-bits // self.read_bandwidth)

    def write_cycles(self, bits: int) -> int:
        """Cycles to write ``bits`` bits: ceil(bits / write_bandwidth)."""
        return -(-bits // self.write_bandwidth)


@dataclass(frozen=True)
class Skip:
    """A fast-forwarded run decided by the consumer at its decision point for batch ``cut``.

    The consumer skips computing batches cut .. cut+count-1 and the loader skips loads
    cut+1 .. cut+count; every time stamp after the run is shifted by ``shift`` cycles.
    """

    cut: int
    count: int
    shift: int


class OperandBuffer:
    """Double-buffered operand buffer and its loader process.

    Args:
        env: the simulation environment.
        ports: memory ports (loads use the read port).
        batches: number of batches (global, over all tiles).
        load_bits: batch index -> bits loaded for that batch.
        stats: where busy cycles ('read_port'), bits_read and events go.
    """

    def __init__(self, env: simpy.Environment, ports: MemoryPorts, batches: int,
                 load_bits: Callable[[int], int], stats: Stats):
        self.env = env
        self.ports = ports
        self.batches = batches
        self.load_bits = load_bits
        self.stats = stats
        self.started = Signals(env)     # batch j -> fired at its load-start boundary (value: cycle)
        self.half_free = Signals(env)   # batch j -> its half was released by batch j-2
        self.skip: Skip | None = None
        self.last_started = -1          # index of the last load that started
        self.last_start = 0             # its start boundary (cycles)
        self.last_end = 0               # its done boundary (cycles)

    def release(self, j: int) -> None:
        """The consumer is done with batch j: its half may take batch j+2."""
        self.half_free.fire(j + 2)

    def run(self):
        """Loader process: load batches in order into alternating halves."""
        env, port = self.env, self.ports.read
        j = 0
        while j < self.batches:
            if j >= 2:
                yield self.half_free.get(j)
                self.half_free.drop(j)
            skip = self.skip
            if skip is not None and skip.cut + 1 == j:
                # Fast-forward: loads j .. j+count-1 happen inside the skipped run; load
                # j+count-1 starts and ends exactly `shift` after load j-1 did (periodic
                # steady state; full batches, so every load of the run takes as long).
                bits = self.load_bits(j)
                cycles = self.ports.read_cycles(bits)
                start = self.last_start + skip.shift
                assert start >= env.now, "fast-forward would move time backwards"
                self.stats.busy["read_port"] += skip.count * cycles
                self.stats.bits_read += skip.count * bits
                yield env.timeout(start - env.now)
                last = j + skip.count - 1
                self.last_started, self.last_start, self.last_end = last, start, start + cycles
                self.started.fire(last, start)
                yield env.timeout(cycles)
                j += skip.count
                continue
            bits = self.load_bits(j)
            cycles = self.ports.read_cycles(bits)
            yield port.request(LOAD)
            self.last_started, self.last_start, self.last_end = j, env.now, env.now + cycles
            self.started.fire(j, env.now)
            yield env.timeout(cycles)
            port.release()
            self.stats.busy["read_port"] += cycles
            self.stats.bits_read += bits
            self.stats.events += 1
            j += 1
