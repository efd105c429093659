"""The tabulated LFSR orbit (lfsr.orbit_table, used by RngBanks.take when the whole period fits)
gives the numbers the leap tables give, bit for bit: random widths, sides, leaps, bank counts,
seeds, output widths and take sizes, including takes that wrap around the period; and it is not
used where it would be wrong (a leap or taps whose orbit misses states) or too large."""

from __future__ import annotations

import math

import numpy as np
import pytest

from essop_sim.numerics import lfsr


def leap_only(bank):
    """A copy of bank that generates with the leap tables (no orbit)."""
    twin = lfsr.RngBanks.__new__(lfsr.RngBanks)
    twin.__dict__.update(bank.__dict__)
    twin.states = bank.states.copy()
    twin.orbit = None
    return twin


@pytest.mark.parametrize("case", range(16))
def test_orbit_numbers_equal_leap_numbers(case):
    rg = np.random.default_rng(900 + case)
    L = int(rg.integers(2, lfsr.ORBIT_MAX_BITS + 1))
    w = int(rg.integers(1, min(L, 16) + 1))
    spn = int(rg.integers(1, 3 * L))
    while math.gcd(spn, 2**L - 1) != 1:
        spn += 1
    side = ("x", "delta")[case % 2]
    nbanks = int(rg.choice([1, 1, 3, 7]))
    bank = lfsr.RngBanks("lfsr", side, nbanks, w, int(rg.integers(0, 2**63)), L, None, spn,
                         segment=int(rg.integers(1, 100)))
    assert bank.orbit is not None
    twin = leap_only(bank)
    period = 2**L - 1
    sizes = [0, 1, int(rg.integers(1, 200)), period, period + 3, int(rg.integers(1, 3000))]
    dtype = np.uint8 if w <= 8 else np.uint16
    for count in sizes:
        got = bank.take(count, np.empty((count + 5, nbanks), dtype=dtype))
        want = twin.take(count)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(bank.states, twin.states)
    np.testing.assert_array_equal(bank.first(77), leap_only(bank).first(77))


def test_orbit_is_the_sequence_from_state_one():
    mask = lfsr.tap_mask(lfsr.default_taps(5, "x"), 5)
    orbit, index = lfsr.orbit_table(mask, 5, 3)
    s, want = 1, []
    for _ in range(31):
        want.append(s)
        for _ in range(3):
            s = lfsr.lfsr_shift(s, mask, 5)
    assert orbit.tolist() == want and s == 1
    np.testing.assert_array_equal(index[orbit], np.arange(31))
    assert not orbit.flags.writeable and not index.flags.writeable


def test_orbit_not_tabulated_where_it_misses_states_or_is_too_wide():
    # x^4 + x^2 + 1 = (x^2 + x + 1)^2 is not primitive: its cycles are shorter than 15.
    assert lfsr.orbit_table(lfsr.tap_mask((4, 2), 4), 4, 1) is None
    # A leap of 3 shifts on a period of 15 = 3 * 5 visits 5 states only.
    assert lfsr.orbit_table(lfsr.tap_mask(lfsr.default_taps(4, "x"), 4), 4, 3) is None
    wide = lfsr.ORBIT_MAX_BITS + 1
    assert lfsr.orbit_table(lfsr.tap_mask(lfsr.default_taps(wide, "x"), wide), wide, 1) is None
    # Such banks still generate, with the leap tables.
    bank = lfsr.RngBanks("lfsr", "x", 2, 4, 3, 4, (4, 2), 1)
    assert bank.orbit is None
    s = [lfsr.lfsr_seed_state(3, b, 4) for b in (0, 2)]
    got = bank.take(40)
    for b in range(2):
        for t in range(40):
            s[b] = lfsr.lfsr_shift(s[b], lfsr.tap_mask((4, 2), 4), 4)
            assert got[t, b] == s[b] & 15
