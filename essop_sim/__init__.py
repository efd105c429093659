"""essop-sim: a bit-exact, cycle-accurate simulator of stochastic-computing weight-update hardware.

Public entry points::

    essop_sim.load_config(path)          # YAML -> frozen HardwareConfig
    essop_sim.outer_product(x, delta, config, seed=...)   # bit-exact numerics
    essop_sim.load_trace(path)           # gradient traces from real training runs
    essop_sim.simulate(config, trace)    # numerics + timing + cost, per-layer rows
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._numba_cache import configure_numba_cache, configure_numba_threading

configure_numba_cache()
configure_numba_threading()

from .config import HardwareConfig, load_config  # noqa: E402 (numba cache first)
from .errors import ConfigError, EssopSimError, OperandError, TraceError  # noqa: E402 (numba cache first)
from .numerics import OuterProductResult, outer_product  # noqa: E402 (numba cache first)


def __getattr__(name: str):
    # Lazy: trace and simulate pull in more modules than the numerics need.
    if name == "load_trace":
        from .trace import load_trace
        return load_trace
    if name == "simulate":
        from .simulate import simulate
        return simulate
    if name == "trace":
        import importlib
        return importlib.import_module(".trace", __name__)
    raise AttributeError(name)


__all__ = [
    "ConfigError", "EssopSimError", "HardwareConfig", "OperandError", "OuterProductResult",
    "TraceError", "__version__", "load_config", "load_trace", "outer_product", "simulate",
]
