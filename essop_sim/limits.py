"""Work and memory estimates made before a run starts, so a few bytes of hostile input (a trace
declaring a 10^6 x 10^6 layer) are refused in milliseconds with the estimate in the message
instead of running for minutes and dying of MemoryError. ``--force`` (``force=True``) skips the
refusal; the estimates are deliberately coarse upper bounds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from .errors import LimitError

#: Bytes per dW element a record holds at once: with numerics the datapath's update, the exact
#: float64 update and raw counts (float64/int64) plus temporaries; without them the timing
#: model's per-tile state, bounded by one word per element.
BYTES_PER_ELEMENT = {True: 32, False: 8}
#: Outer-product elements (m n K) simulated per second, measured on one core of a 2024 laptop
#: (default trace, BL 64: about 6 M elements in 1.3 s); used only to say how long a run takes.
ELEMENTS_PER_S = 4e6
#: Estimated seconds beyond which a run says how long it will take.
NOTICE_S = 60.0


def memory_limit() -> int:
    """Bytes a single record may need: ``ESSOP_SIM_MAX_MEMORY`` (bytes) if set, else half of
    this machine's physical memory (8 GiB where that is unknown)."""
    env = os.environ.get("ESSOP_SIM_MAX_MEMORY", "").strip()
    if env.isdigit():
        return int(env)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def human_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def estimate(records: Iterable[Any], numerics: bool) -> dict[str, Any]:
    """``{"elements", "seconds", "peak_bytes", "peak_record"}`` for records with ``m, n, K``
    attributes (TraceRecord) or keys (manifest entries)."""
    def get(r, key):
        return r[key] if isinstance(r, dict) else getattr(r, key)

    elements, peak, peak_record = 0, 0, None
    for r in records:
        m, n, k = int(get(r, "m")), int(get(r, "n")), int(get(r, "K"))
        elements += m * n * k
        need = m * n * BYTES_PER_ELEMENT[bool(numerics)]
        if need > peak:
            peak, peak_record = need, r
    return {"elements": elements, "seconds": elements / ELEMENTS_PER_S, "peak_bytes": peak,
            "peak_record": peak_record}


def check_work(records: Iterable[Any], numerics: bool, where: str, *,
               force: bool = False) -> dict[str, Any]:
    """Refuse (LimitError) when one record would need more than :func:`memory_limit`; return
    the estimate. ``force`` only returns it."""
    est = estimate(records, numerics)
    limit = memory_limit()
    r = est["peak_record"]
    if est["peak_bytes"] > limit and not force:
        def get(key):
            return r[key] if isinstance(r, dict) else getattr(r, key)
        raise LimitError(
            f"{where}: layer {str(get('layer'))[:60]!r} step {get('step')} has a "
            f"{get('m'):,} x {get('n'):,} update (K={get('K'):,}); simulating it needs about "
            f"{human_bytes(est['peak_bytes'])} of memory, more than the limit of "
            f"{human_bytes(limit)} (half this machine's memory; ESSOP_SIM_MAX_MEMORY sets it): "
            "pass --force to run anyway")
    return est


def notice(est: dict[str, Any]) -> str | None:
    """A line saying how long a long run will take, or None for a short one."""
    if est["seconds"] < NOTICE_S:
        return None
    return (f"note: {est['elements']:,} outer-product elements to simulate: about "
            f"{human_seconds(est['seconds'])} at {ELEMENTS_PER_S / 1e6:g} M elements/s")
