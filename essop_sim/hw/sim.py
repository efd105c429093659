"""Small SimPy helpers shared by the event-model blocks (not by the reference model).

Time is in clock cycles: ``env.now`` is an integer cycle boundary; something that takes L cycles
from boundary T occupies cycles T .. T+L-1 and is done at boundary T+L.
"""

from __future__ import annotations

from collections import defaultdict

import simpy
from simpy.events import Event

#: Event priority below SimPy's NORMAL (1): a LATE event at time T is processed after every
#: NORMAL and URGENT event of time T, including ones they schedule at T themselves. Port
#: arbitration uses it so that all requests made at one cycle boundary compete together.
LATE = 2


class Settle(Event):
    """An event that fires at the current time, after everything else of this time step."""

    def __init__(self, env: simpy.Environment):
        self.env = env
        self.callbacks = []
        self._value = None
        self._ok = True
        env.schedule(self, LATE)


class Signals:
    """Lazily created one-shot events keyed by an index (batch or tile number)."""

    def __init__(self, env: simpy.Environment):
        self.env = env
        self._events: dict[int, Event] = {}

    def get(self, key: int) -> Event:
        """The event for ``key`` (created untriggered if new)."""
        ev = self._events.get(key)
        if ev is None:
            ev = self._events[key] = self.env.event()
        return ev

    def fire(self, key: int, value=None) -> None:
        """Trigger the event for ``key`` now with ``value``."""
        self.get(key).succeed(value)

    def drop(self, key: int) -> None:
        """Forget a consumed event (keeps the table small on long runs)."""
        self._events.pop(key, None)


class Stats:
    """Counters filled by the blocks of one datapath run.

    Attributes:
        busy: block name -> busy cycles.
        stalls: cause -> array stall cycles ('fill', 'operand', 'rng', 'writeback', 'drain').
        bits_read, bits_written: memory traffic (bits).
        events: hardware transactions processed (batch loads, batch computes, write-back
            bursts, fast-forwarded runs).
    """

    CAUSES = ("fill", "operand", "rng", "writeback", "drain")

    def __init__(self, blocks: tuple[str, ...]):
        self.busy: dict[str, int] = dict.fromkeys(blocks, 0)
        self.stalls: dict[str, int] = dict.fromkeys(self.CAUSES, 0)
        self.bits_read = 0
        self.bits_written = 0
        self.events = 0
        self.runs = 0
        self.activity: dict[str, int] = defaultdict(int)


class DatapathRun:
    """What every datapath model shares: one SimPy environment in which an operand buffer, a
    write-back unit and the datapath's own compute process (its ``array()`` generator) run.

    Subclasses set ``env``, ``buffer``, ``writeback``, ``stats`` and define ``array()``, which
    records in ``compute_end`` the cycle its last compute slot ended.
    """

    compute_end: int = 0

    def run(self) -> tuple[int, Stats]:
        """Simulate; return (total cycles, counters). Total = when the last process ends (the
        last write-back, or the last compute slot if later); the cycles after the last compute
        slot are the 'drain' stall."""
        env = self.env
        env.process(self.buffer.run())
        env.process(self.writeback.run())
        env.process(self.array())
        env.run()
        cycles = env.now
        self.stats.stalls["drain"] = cycles - self.compute_end
        return cycles, self.stats
