"""Weight-update datapaths (one folder each) and the registry they plug into.

See :mod:`essop_sim.datapaths.registry` for the protocol, and docs/architecture.md for a walk
through adding a datapath.
"""

from .registry import (
    ENTRY_POINT_GROUP,
    REGISTRY,
    Datapath,
    PriceRule,
    Stage,
    StageResult,
    datapath_of,
    get_datapath,
    get_stage,
    register,
    registered_datapaths,
    registered_stages,
    stages_of,
    unregister,
)

__all__ = [
    "ENTRY_POINT_GROUP", "REGISTRY", "Datapath", "PriceRule", "Stage", "StageResult",
    "datapath_of", "get_datapath", "get_stage", "register", "registered_datapaths",
    "registered_stages", "stages_of", "unregister",
]
