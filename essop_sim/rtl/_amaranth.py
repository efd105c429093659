"""Import guard for the optional Amaranth HDL dependency of the FP16 RTL modules.

``require_amaranth()`` raises one clear line when Amaranth is missing, instead of an
ImportError deep in a module; the RTL modules call it before importing Amaranth.
"""

from __future__ import annotations

#: The message for a missing Amaranth (the ``rtl`` extra of the package).
MISSING_AMARANTH = ('essop_sim.rtl needs Amaranth HDL 0.5: pip install -e ".[rtl]" '
                    '(or pip install "amaranth>=0.5,<0.6")')


def require_amaranth() -> None:
    """Raise ImportError with :data:`MISSING_AMARANTH` when ``amaranth`` (0.5.x) is absent."""
    try:
        import amaranth
    except ImportError as exc:
        raise ImportError(MISSING_AMARANTH) from exc
    version = getattr(amaranth, "__version__", "0.5")
    if not version.startswith("0.5"):
        raise ImportError(f"{MISSING_AMARANTH}; found amaranth {version}")
