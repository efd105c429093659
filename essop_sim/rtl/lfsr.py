"""RNG banks in RTL: leap-forward Fibonacci LFSRs (and a number ROM for kind 'ideal').

A bank of width L (bits) holds its state in a register. One shift of the Fibonacci LFSR is
``fb = parity(state & tapmask); state = (state << 1 | fb) mod 2^L`` (docs/numerics-essop.md,
section 4). Number t of a bank is the low w bits of the state ``(t + 1) * spn`` shifts after
the seed state. With b = bits_per_cycle lanes, the bank presents numbers t .. t + b - 1 at
once (lane j: the low w bits of M^((j+1) spn) state, M the one-shift map over GF(2)), and an
``advance`` moves the state on by b numbers (b * spn shifts), or by ``tail`` numbers on the last,
partial bit step of a k-step (``partial``), so that a k-step consumes exactly BL numbers.
Every output bit is one XOR of state bits (the leap matrix is computed here at elaboration,
from the taps alone); nothing is iterated at run time.

``reload`` puts the seed state back (sequence 'restart': after every k-step; both sequences:
after the tile's last k-step, since every tile starts from number 0). Reload wins over
advance. The seed state is a constant of the bank (a tile-start reload value), computed from
the run seed with SplitMix64 exactly as the numerics specify.
"""

from __future__ import annotations

from amaranth.hdl import Const, Elaboratable, Module, Signal

MASK64 = (1 << 64) - 1


def splitmix64(seed: int, index: int) -> int:
    """Output ``index`` (1-based) of SplitMix64 seeded with ``seed``."""
    z = (seed + index * 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def seed_state(seed: int, bank: int, lfsr_bits: int) -> int:
    """Start state of bank id ``bank``: SplitMix64(seed, bank + 1) mod (2^L - 1) + 1."""
    return splitmix64(seed, bank + 1) % ((1 << lfsr_bits) - 1) + 1


def leap_rows(taps: tuple[int, ...], lfsr_bits: int, shifts: int) -> list[int]:
    """Bit i of the state ``shifts`` shifts on is the parity of (state & rows[i]).

    Computed symbolically: each state bit is tracked as the set (bit mask) of starting bits
    whose XOR it is; a shift moves bit i to bit i + 1 and the feedback (the XOR of the tap bits'
    sets) into bit 0.
    """
    rows = [1 << i for i in range(lfsr_bits)]
    for _ in range(shifts):
        fb = 0
        for p in taps:
            fb ^= rows[p - 1]
        rows = [fb] + rows[:-1]
    return rows


def _leap(state: Signal, rows: list[int], bits: int):
    """The low ``bits`` bits of the leaped state as an Amaranth value (XOR of masked bits)."""
    from amaranth.hdl import Cat

    width = len(state)
    return Cat(*[(state & Const(rows[i], width)).xor() for i in range(bits)])


class LfsrBank(Elaboratable):
    """One leap-forward LFSR bank.

    Args:
        lfsr_bits: L (bits); taps: 1-based tap positions (L included); width: w (bits);
        steps: shifts per number (spn); lanes: numbers presented per cycle (b); tail: numbers
        consumed by a partial advance; seed: start state (1 .. 2^L - 1).

    Ports: ``advance``, ``partial``, ``reload`` (in, 1 bit); ``numbers`` (out, ``lanes`` signals
    of w bits, combinational from the state register).
    """

    def __init__(self, lfsr_bits: int, taps: tuple[int, ...], width: int, steps: int,
                 lanes: int, tail: int, seed: int):
        self.lfsr_bits, self.taps, self.width, self.steps = lfsr_bits, tuple(taps), width, steps
        self.lanes, self.tail, self.seed = lanes, tail, seed
        self.advance = Signal()
        self.partial = Signal()
        self.reload = Signal()
        self.numbers = [Signal(width, name=f"number{j}") for j in range(lanes)]
        self.state = Signal(lfsr_bits, init=seed)

    def elaborate(self, platform):
        m = Module()
        L = self.lfsr_bits
        for j, out in enumerate(self.numbers):
            m.d.comb += out.eq(_leap(self.state, leap_rows(self.taps, L, (j + 1) * self.steps),
                                     self.width))
        full = _leap(self.state, leap_rows(self.taps, L, self.lanes * self.steps), L)
        with m.If(self.reload):
            m.d.sync += self.state.eq(self.seed)
        with m.Elif(self.advance & self.partial & (self.tail != self.lanes)):
            m.d.sync += self.state.eq(
                _leap(self.state, leap_rows(self.taps, L, self.tail * self.steps), L))
        with m.Elif(self.advance):
            m.d.sync += self.state.eq(full)
        return m


class RomBank(Elaboratable):
    """A bank that replays stored numbers (kind 'ideal': PCG64 numbers computed in software).

    Not a hardware proposal: it lets the rest of the tile be checked with the 'ideal' source.
    Same ports as :class:`LfsrBank`; ``values`` are the bank's numbers 0, 1, 2, ... (at least as
    many as the run consumes, plus ``lanes`` of slack).
    """

    def __init__(self, values: list[int], width: int, lanes: int, tail: int):
        self.values, self.width, self.lanes, self.tail = list(values), width, lanes, tail
        self.advance = Signal()
        self.partial = Signal()
        self.reload = Signal()
        self.numbers = [Signal(width, name=f"number{j}") for j in range(lanes)]
        self.index = Signal(range(len(self.values) + 1))

    def elaborate(self, platform):
        from amaranth.hdl import Array, Mux

        m = Module()
        table = Array(Const(v, self.width) for v in self.values + [0] * self.lanes)
        for j, out in enumerate(self.numbers):
            m.d.comb += out.eq(table[self.index + j])
        with m.If(self.reload):
            m.d.sync += self.index.eq(0)
        with m.Elif(self.advance):
            m.d.sync += self.index.eq(self.index + Mux(self.partial, self.tail, self.lanes))
        return m


class RngBanks(Elaboratable):
    """The tile's RNG banks: one x bank and one delta bank ('vector' sharing) or one bank per
    active column and row ('element'), all driven by the same advance / partial / reload.

    ``x_numbers[i]`` / ``delta_numbers[j]``: the ``lanes`` numbers of x bank i / delta bank j.
    Bank ids: 2 * (col0 + i) for x, 2 * (row0 + j) + 1 for delta (index 0 under 'vector').
    ``ideal``: for kind 'ideal', {bank id: numbers} to replay (see :class:`RomBank`).
    """

    def __init__(self, p, ideal: dict[int, list[int]] | None = None):
        self.p = p
        self.advance = Signal()
        self.partial = Signal()
        self.reload = Signal()
        self.x_banks = [self._bank(p, "x", i, ideal) for i in range(p.banks_x)]
        self.delta_banks = [self._bank(p, "delta", j, ideal) for j in range(p.banks_delta)]
        self.x_numbers = [b.numbers for b in self.x_banks]
        self.delta_numbers = [b.numbers for b in self.delta_banks]

    @staticmethod
    def bank_id(p, side: str, index: int) -> int:
        """Bank id of the tile's x bank / delta bank ``index`` (docs/numerics-essop.md)."""
        if p.sharing == "vector":
            return 0 if side == "x" else 1
        return 2 * (p.col0 + index) if side == "x" else 2 * (p.row0 + index) + 1

    def _bank(self, p, side: str, index: int, ideal):
        bid = self.bank_id(p, side, index)
        if p.kind == "ideal":
            if ideal is None or bid not in ideal:
                raise ValueError(f"kind 'ideal' needs the numbers of bank {bid}")
            return RomBank(ideal[bid], p.w, p.lanes, p.tail)
        taps = p.taps_x if side == "x" else p.taps_delta
        return LfsrBank(p.lfsr_bits, taps, p.w, p.steps, p.lanes, p.tail,
                        seed_state(p.seed, bid, p.lfsr_bits))

    def elaborate(self, platform):
        m = Module()
        for name, banks in (("x", self.x_banks), ("delta", self.delta_banks)):
            for i, bank in enumerate(banks):
                m.submodules[f"{name}{i}"] = bank
                m.d.comb += [bank.advance.eq(self.advance), bank.partial.eq(self.partial),
                             bank.reload.eq(self.reload)]
        return m
