"""The thread policy (essop_sim.numerics.threads): choice, limits, serial variants, results."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

from essop_sim import HardwareConfig
from essop_sim.datapaths.essop import numerics as essop_module
from essop_sim.datapaths.essop.numerics import essop_outer_product
from essop_sim.numerics import comparator, lfsr
from essop_sim.numerics import threads as policy
from essop_sim.numerics.lfsr import RngBanks

TWO_THREADS = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                 reason="needs NUMBA_NUM_THREADS >= 2")


def test_small_work_gets_one_thread(monkeypatch):
    monkeypatch.setattr(policy, "free_cores", lambda: 64)
    assert policy.choose_threads(999, 1000, cap=8) == 1
    assert policy.choose_threads(0, 1000, cap=8) == 1
    assert policy.choose_threads(10**9, 1000, cap=1) == 1


def test_threads_never_exceed_cap_work_or_free_cores(monkeypatch):
    monkeypatch.setattr(policy, "free_cores", lambda: 3)
    assert policy.choose_threads(10**9, 1000, cap=8) == 3      # free cores
    assert policy.choose_threads(10**9, 1000, cap=2) == 2      # numba's (or the user's) cap
    assert policy.choose_threads(2500, 1000, cap=8) == 2       # one per 'small_work' units
    monkeypatch.setattr(policy, "free_cores", lambda: 1)
    assert policy.choose_threads(10**9, 1000, cap=8) == 1      # a busy machine


def test_default_cap_is_numbas_thread_count(monkeypatch):
    monkeypatch.setattr(policy, "free_cores", lambda: 64)
    assert policy.choose_threads(10**12, 1) == numba.get_num_threads()


def test_free_cores_counts_other_processes(monkeypatch):
    monkeypatch.setattr(policy, "cores_available", lambda: 4)
    for busy, free in ((0.0, 4), (0.2, 4), (0.3, 3), (1.0, 3), (2.6, 1), (9.0, 1)):
        monkeypatch.setattr(policy, "busy_elsewhere", lambda b=busy: b)
        assert policy.free_cores() == free


def test_machine_readings_are_in_range():
    assert 1 <= policy.cores_available() <= (__import__("os").cpu_count() or 1)
    assert policy.busy_elsewhere() >= 0.0
    assert 1 <= policy.free_cores() <= policy.cores_available()
    assert policy._own_runnable_threads() >= 1  # this thread is running


def test_limited_sets_and_restores_numba_threads():
    before = numba.get_num_threads()
    with policy.limited(1) as n:
        assert n == 1 and numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError), policy.limited(1):
        raise RuntimeError("restored anyway")
    assert numba.get_num_threads() == before
    with policy.limited(10**6) as n:  # never beyond NUMBA_NUM_THREADS
        assert n == numba.config.NUMBA_NUM_THREADS == numba.get_num_threads()
    assert numba.get_num_threads() == before


def test_chunks_of_restores_the_size_when_nested():
    """threads.chunks_of restores the chunk size it found, nested or after an exception
    (numba.parallel_chunksize, one module-wide object, restores the last size saved)."""
    start = numba.get_parallel_chunksize()
    with policy.chunks_of(3):
        with policy.chunks_of(1):
            assert numba.get_parallel_chunksize() == 1
        assert numba.get_parallel_chunksize() == 3
        with pytest.raises(RuntimeError), policy.chunks_of(5):
            raise RuntimeError
        assert numba.get_parallel_chunksize() == 3
    assert numba.get_parallel_chunksize() == start


def test_an_update_inside_a_users_chunksize_block_leaves_it_as_it_was():
    """essop_outer_product sets its own chunk size (streams built packed at BL 8, and streams
    built one by one at BL 64) and restores the caller's, inside a caller's
    numba.parallel_chunksize block and after it."""
    rg = np.random.default_rng(4)
    x = np.maximum(rg.standard_normal((300, 40)), 0).astype(np.float32)
    d = (rg.standard_normal((300, 30)) * 1e-3).astype(np.float32)
    start = numba.get_parallel_chunksize()
    base = HardwareConfig()
    for bl in (8, 64):
        cfg = dataclasses.replace(base, essop=dataclasses.replace(base.essop,
                                                                  bitstream_length=bl))
        with numba.parallel_chunksize(4):
            essop_outer_product(x, d, cfg, 1)
            assert numba.get_parallel_chunksize() == 4
        assert numba.get_parallel_chunksize() == start


def test_threads_in_effect_follows_limited_blocks():
    before = numba.get_num_threads()
    assert policy.threads_in_effect() == before
    with policy.limited(1):
        assert policy.threads_in_effect() == 1 == numba.get_num_threads()
        with policy.limited(10**6) as n:  # nested: the inner count, then the outer one again
            assert policy.threads_in_effect() == n == numba.get_num_threads()
        assert policy.threads_in_effect() == 1 == numba.get_num_threads()
    assert policy.threads_in_effect() == before == numba.get_num_threads()
    with pytest.raises(RuntimeError), policy.limited(1):
        raise RuntimeError("restored anyway")
    assert policy.threads_in_effect() == before


def test_serial_variant_is_a_cached_non_parallel_copy():
    kernel = comparator.streams_both
    serial = policy.serial_variant(kernel)
    assert serial is not kernel and policy.serial_variant(kernel) is serial
    assert not serial.targetoptions.get("parallel")
    assert serial.py_func.__code__ is kernel.py_func.__code__
    assert serial.py_func.__qualname__ == kernel.py_func.__qualname__ + policy.SERIAL_SUFFIX
    # written to the on-disk cache like the parallel kernel, under its own name
    assert type(serial._cache).__name__ == type(kernel._cache).__name__ != "NullCache"
    assert serial._cache._cache_file._index_name != kernel._cache._cache_file._index_name
    plain = comparator.number_dtype  # not a kernel: returned as it is
    assert policy.serial_variant(plain) is plain
    assert policy.serial_variant(lfsr._leap) is lfsr._leap  # a kernel, not parallel


@TWO_THREADS
def test_for_threads_picks_the_variant_by_thread_count():
    with policy.limited(1):
        assert policy.for_threads(lfsr._lfsr_fill) is policy.serial_variant(lfsr._lfsr_fill)
    with policy.limited(2):
        assert policy.for_threads(lfsr._lfsr_fill) is lfsr._lfsr_fill


@TWO_THREADS
def test_lfsr_numbers_identical_on_one_and_two_threads():
    count = (lfsr.SERIAL_NUMBERS // 4 + 64) // 64 * 64  # 4 banks: the parallel fill runs
    out = {}
    for threads in (1, 2):
        with policy.limited(threads):
            banks = RngBanks("lfsr", "x", 4, 8, 123, segment=64)
            out[threads] = np.concatenate([banks.take(count), banks.take(count)])
    np.testing.assert_array_equal(out[1], out[2])


@TWO_THREADS
@pytest.mark.parametrize("busy", [0.0, 1.0, 5.0])
def test_essop_results_identical_under_the_policy(monkeypatch, busy):
    rng = np.random.default_rng(5)
    x, d = rng.standard_normal((300, 40)), rng.standard_normal((300, 24))
    config = HardwareConfig()
    with policy.limited(1):
        serial = essop_outer_product(x, d, config, 9)
    monkeypatch.setattr(essop_module, "SERIAL_WORK", 1)  # work enough for every thread
    monkeypatch.setattr(policy, "busy_elsewhere", lambda: busy)
    chosen = policy.choose_threads(10**9, 1)
    assert 1 <= chosen <= min(numba.get_num_threads(), policy.free_cores())
    if busy >= policy.cores_available():
        assert chosen == 1
    r = essop_outer_product(x, d, config, 9)
    np.testing.assert_array_equal(r.raw, serial.raw)
    assert r.activity == serial.activity
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # restored
