"""Exact fast-forward of periodic steady states in the batch pipeline (event model only).

Inside one tile, the batches that are all full (V k-steps) have identical load and compute
durations, and once the previous tile's write-back is off the port nothing else interacts
with them. The whole future of the loader/consumer pair, seen from the consumer's decision
point for batch c (boundary e_{c-1}, the end of batch c-1's compute), is then a function of a
small relative state, e.g. ``a_c - e_{c-1}`` (when load c completes, relative to now). If the
same state recurs at decision points c0 and c of one tile, the schedule is periodic with period
p = c - c0 batches and D = e_{c-1} - e_{c0-1} cycles: batch c + r*p starts exactly r*D later than
batch c (translation invariance of a deterministic system with identical inputs). The consumer
then skips whole periods in one transaction, adding r times the counters accumulated over one
period; the loader skips the matching loads. Nothing is approximated: the skipped batches get
exactly the stamps a batch-by-batch simulation would give, which the tests check against both
the per-cycle reference model and the event model run with fast-forward off.

Rules that keep it exact: states are recorded only at decision points where the caller certifies
that no outside interaction is pending (write-backs off a shared port, the load of the batch
already started); an uncertified decision point clears the history; a skip never reaches the
last full batch of the tile (the tail is simulated batch by batch).
"""

from __future__ import annotations

from .sim import Stats


class FastForward:
    """Periodic-state detector for one datapath's consumer process.

    Args:
        stats: the run's counters.
        busy_keys, stall_keys: the counters the consumer owns (scaled by the number of skipped
            periods); counters owned by other processes are scaled by those processes.
    """

    def __init__(self, stats: Stats, busy_keys: tuple[str, ...], stall_keys: tuple[str, ...]):
        self.stats = stats
        self.busy_keys = busy_keys
        self.stall_keys = stall_keys
        self.scope: object = None
        self.history: dict[tuple, tuple[int, int, tuple[int, ...]]] = {}

    def _snapshot(self) -> tuple[int, ...]:
        busy, stalls = self.stats.busy, self.stats.stalls
        return tuple(busy[k] for k in self.busy_keys) + tuple(stalls[k] for k in self.stall_keys)

    def reset(self) -> None:
        """Forget recorded states (an uncertified decision point breaks periodicity)."""
        self.history.clear()

    def consider(self, scope: object, index: int, last_index: int, state: tuple,
                 now: int) -> tuple[int, int] | None:
        """Record the state at the decision point for batch ``index``; maybe skip ahead.

        Args:
            scope: identifies the run of identical batches (e.g. the tile); a new scope clears
                the history.
            index: batch index (within the scope) about to be computed.
            last_index: the highest batch index the skip may reach (exclusive of the skipped
                computes, inclusive of the skipped loads).
            state: the relative state that determines the future.
            now: current boundary (cycles).

        Returns:
            None, or (count, shift): skip ``count`` batches, shifting time by ``shift`` cycles.
        """
        if scope != self.scope:
            self.scope = scope
            self.history.clear()
        snap = self._snapshot()
        prev = self.history.get(state)
        if prev is None:
            self.history[state] = (index, now, snap)
            return None
        c0, t0, snap0 = prev
        period = index - c0
        runs = (last_index - index) // period
        if runs <= 0:
            return None
        busy, stalls = self.stats.busy, self.stats.stalls
        nb = len(self.busy_keys)
        for i, k in enumerate(self.busy_keys):
            busy[k] += runs * (snap[i] - snap0[i])
        for i, k in enumerate(self.stall_keys):
            stalls[k] += runs * (snap[nb + i] - snap0[nb + i])
        self.stats.events += 1
        self.stats.runs += 1
        self.history.clear()
        return runs * period, runs * (now - t0)
