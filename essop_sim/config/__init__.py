"""Hardware configuration: dataclasses, schema check, YAML loading and rendering."""

from .loader import (
    config_digest,
    config_from_mapping,
    config_to_dict,
    load_config,
    parse_override,
)
from .model import (
    ArrayConfig,
    CostConfig,
    EssopConfig,
    Fp16Config,
    HardwareConfig,
    MemoryConfig,
    RngConfig,
    ScalingConfig,
)
from .schema import describe

__all__ = [
    "ArrayConfig", "CostConfig", "EssopConfig", "Fp16Config", "HardwareConfig", "MemoryConfig",
    "RngConfig", "ScalingConfig", "config_digest", "config_from_mapping", "config_to_dict",
    "describe", "load_config", "parse_override",
]
