"""Property tests (hypothesis) of exact invariants the hardware model must satisfy.

These are equalities, not tolerances: power-of-two shift scaling and sign-magnitude arithmetic
make the ESSOP estimate exactly equivariant under x -> 2^s x and x -> -x, for every input and
seed, as long as nothing overflows (the default 32-bit accumulator cannot at these sizes).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from essop_sim import load_config, outer_product
from essop_sim.numerics.fp16 import to_f16_bits
from essop_sim.numerics.shift_scaler import exponent_of

FAST = settings(max_examples=40, deadline=None)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
operand = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_subnormal=False)


@FAST
@given(st.floats(min_value=5e-324, max_value=1.7e308))
def test_exponent_is_the_smallest_power_of_two_not_below(mx):
    u = math.ldexp(mx, -exponent_of(mx))  # exact: a power-of-two scaling of a float64
    assert 0.5 < u <= 1.0


@FAST
@given(arrays(np.float64, 16, elements=st.floats(min_value=-65504.0, max_value=65504.0)))
def test_binary16_rounding_equals_numpy(values):
    assert np.array_equal(to_f16_bits(values), values.astype(np.float16).view(np.uint16))


def _case(draw_k, draw_n, draw_m):
    return st.tuples(arrays(np.float64, (draw_k, draw_n), elements=operand),
                     arrays(np.float64, (draw_k, draw_m), elements=operand))


operands = st.integers(1, 3).flatmap(lambda k: _case(k, 5, 4))
CONFIGS = {
    "vector": load_config(overrides={"essop.bitstream_length": 32}),
    "batch": load_config(overrides={"essop.bitstream_length": 32,
                                    "essop.scaling.granularity": "batch",
                                    "essop.rng.sharing": "element"}),
}


@FAST
@given(operands, st.integers(-20, 20), st.integers(0, 2**32), st.sampled_from(sorted(CONFIGS)))
def test_power_of_two_scaling_commutes_with_the_estimate(xd, s, seed, name):
    x, delta = xd
    config = CONFIGS[name]
    base = outer_product(x, delta, config, seed=seed)
    scaled = outer_product(np.ldexp(x, s), delta, config, seed=seed)
    assert np.array_equal(scaled.raw, base.raw)
    assert np.array_equal(scaled.dw, np.ldexp(base.dw, s))


@FAST
@given(operands, st.integers(0, 2**32), st.sampled_from(sorted(CONFIGS)))
def test_negating_an_operand_negates_the_estimate(xd, seed, name):
    x, delta = xd
    config = CONFIGS[name]
    base = outer_product(x, delta, config, seed=seed)
    assert np.array_equal(outer_product(-x, delta, config, seed=seed).dw, -base.dw)
    assert np.array_equal(outer_product(x, -delta, config, seed=seed).dw, -base.dw)
