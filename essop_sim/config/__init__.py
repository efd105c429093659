"""Hardware configuration: dataclasses, schema check, YAML loading and rendering.

The core sections live here; each registered datapath and stage brings its own section
(``essop_sim.datapaths.<name>.config``), which ``HardwareConfig`` holds by name.
"""

from .loader import (
    config_digest,
    config_from_mapping,
    config_to_dict,
    load_config,
    parse_override,
)
from .model import CostConfig, HardwareConfig, MemoryConfig, ScalingConfig
from .schema import describe

__all__ = [
    "CostConfig", "HardwareConfig", "MemoryConfig", "ScalingConfig", "config_digest",
    "config_from_mapping", "config_to_dict", "describe", "load_config", "parse_override",
]
