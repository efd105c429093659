"""The datapath protocol and the registry every weight-update engine plugs into.

A *datapath* computes dW = sum_k delta_k x_k^T in some hardware (ESSOP, the FP16 baseline, ...).
Each one is a folder ``essop_sim/datapaths/<name>/`` (or a third-party package) holding one
subclass of :class:`Datapath`: its configuration section (a dataclass whose fields carry their
schema through :func:`essop_sim.config.model.param`), its cross-field checks, its bit-exact
numerics, its event model and independent per-cycle reference, its pricing rules and area
instances, its report columns and a one-line description. A *stage* (:class:`Stage`) transforms a
record's operands before any datapath sees them (e.g. a rank-r compression) and registers the
same way.

Shared code never names a datapath: it asks the registry (:func:`datapath_of`,
:func:`get_datapath`, :func:`stages_of`). The registry holds the built-ins and whatever installed
packages declare under the entry-point group ``essop_sim.datapaths`` (the entry point names an
instance or a class of :class:`Datapath` or :class:`Stage`). Loading is lazy: a datapath's
numerics and timing modules are imported only when used.
"""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from ..hw.reference import ReferenceResult
    from ..hw.timing import TimingResult
    from ..numerics.result import OuterProductResult

#: The entry-point group third-party datapaths and stages register under.
ENTRY_POINT_GROUP = "essop_sim.datapaths"

#: Built-in plug-ins are the sub-packages of essop_sim.datapaths, each exposing ``DATAPATH`` or
#: ``STAGE``; these come first (the order of config sections and listings), the rest by name.
FIRST = ("essop", "fp16")


def builtin_modules() -> list[str]:
    """The sub-packages of :mod:`essop_sim.datapaths`: adding a folder adds a built-in."""
    import pkgutil

    from .. import datapaths

    names = [m.name for m in pkgutil.iter_modules(datapaths.__path__) if m.ispkg]
    names.sort(key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n))
    return [f"{datapaths.__name__}.{n}" for n in names]


@dataclass(frozen=True)
class PriceRule:
    """One pricing rule of the activity contract: energy = count[key] x e(component, action) x
    width (pJ). Rules of one datapath may price the same key more than once (e.g. ESSOP's AND
    outputs feed a popcount adder when bits_per_cycle > 1). ``bucket`` names the entry of the
    energy breakdown (default: the component, or 'sram_<action>' for SRAM)."""

    key: str
    component: str
    action: str
    width: int = 1
    bucket: str | None = None

    @property
    def name(self) -> str:
        """The breakdown entry this rule adds to."""
        if self.bucket is not None:
            return self.bucket
        return f"sram_{self.action}" if self.component == "sram" else self.component


class Plugin(ABC):
    """What datapaths and stages share: a YAML name, a config section and a description.

    Class attributes:
        name: the value of ``datapath:`` (or an entry of ``stages:``) in YAML, and the key of
            this plug-in's configuration section.
        config_class: the section's frozen dataclass; its fields carry their schema
            (:func:`essop_sim.config.model.param`), defaults are the shipped values.
        doc: one sentence shown by ``essop-sim config`` and in rendered YAML.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    doc: ClassVar[str]

    def check(self, config: Any, source: str) -> None:  # noqa: B027 - optional hook
        """Cross-field rules a single field's range cannot express; raise ConfigError naming
        ``source`` and the dotted key. Called by ``load_config`` for every registered plug-in
        whose section is in use."""

    def describe(self, config: Any) -> str:
        """One line naming the configured hardware, e.g. 'ESSOP BL=64 32x32'."""
        return self.name

    @property
    def source_dir(self) -> Path:
        """The folder of this plug-in's code (what a sweep point's code fingerprint hashes)."""
        return Path(inspect.getfile(type(self))).resolve().parent

    def pricing(self, config: Any) -> list[PriceRule]:
        """The activity keys this plug-in emits that cost energy, and how each is priced."""
        return []

    def area_instances(self, config: Any) -> dict[str, tuple[str, int]]:
        """Block -> (cost-table component, instances or bit-slices) making this plug-in's area."""
        return {}

    def report_columns(self, config: Any) -> dict[str, Any]:
        """Plug-in-specific report values, by short name; the report prefixes each with
        '<name>_' (see docs/reports.md)."""
        return {}


class Datapath(Plugin):
    """One weight-update engine. Subclass, set the class attributes, implement the methods.

    Class attributes (beyond :class:`Plugin`'s):
        blocks: busy-cycle keys the event model reports (block -> cycles).
        compute_block: the block whose busy cycles plus all stalls equal total cycles.
        stall_causes: stall keys the event model reports (cause -> cycles).
        timing_hints: keys of ``OuterProductResult.hints`` the timing needs (empty: timing from
            the update's shape alone, so runs without numerics work).
        required_activity: activity keys the event model must count (energy refuses without).
        data_dependent_activity: keys only the numerics count; priced 0 and listed in
            ``EnergyBreakdown.assumed_zero`` when the numerics did not run.
        informational_activity: keys whose energy another key already carries (never priced,
            never listed as unpriced).
        diagnostic_activity: keys the numerics count for information (overflows, K, ...): never
            priced, listed in ``EnergyBreakdown.unpriced``. Every key a datapath emits is
            priced, informational or diagnostic (the contract suite checks it).
        table_columns: (key, heading, format) of :meth:`record_columns` keys that
            ``essop-sim run`` prints after the design column (e.g. a per-layer precision).
    """

    blocks: ClassVar[tuple[str, ...]] = ()
    compute_block: ClassVar[str] = ""
    stall_causes: ClassVar[tuple[str, ...]] = ()
    timing_hints: ClassVar[tuple[str, ...]] = ()
    required_activity: ClassVar[tuple[str, ...]] = ("cycles",)
    data_dependent_activity: ClassVar[tuple[str, ...]] = ()
    informational_activity: ClassVar[tuple[str, ...]] = ()
    diagnostic_activity: ClassVar[tuple[str, ...]] = ()
    table_columns: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    def for_layer(self, config: Any, layer: str) -> Any:
        """The configuration one layer's records run with (default: ``config``); e.g. a
        per-layer precision profile fixing that layer's precision. ``simulate_record`` and
        training in the loop call it with the record's layer name."""
        return config

    def weight_mask(self, config: Any, m: int, n: int) -> np.ndarray | None:
        """The pre-defined connection mask [m, n] (bool) of an update of this shape, or None
        (default: dense). Training in the loop zeroes the weights outside it when the hooks
        are attached; the datapath's updates are zero there, so they stay zero (e.g. the edge
        processor's pattern, docs/edge.md)."""
        return None

    def record_columns(self, config: Any, result: OuterProductResult) -> dict[str, Any]:
        """Per-record report values found by the numerics (default: none), reported as
        '<name>_<key>' like :meth:`report_columns` (e.g. the precision a record used)."""
        return {}

    @abstractmethod
    def outer_product(self, x: np.ndarray, delta: np.ndarray, config: Any, seed: int, *,
                      chunk: int | None = None) -> OuterProductResult:
        """The bit-exact estimate of sum_k delta_k x_k^T (x [K, n], delta [K, m], already checked
        by :func:`essop_sim.numerics.as_operands`). ``chunk`` (outer products per pass) must not
        change the result."""

    @abstractmethod
    def time_update(self, config: Any, m: int, n: int, K: int, *, hints: Mapping[str, Any],
                    fast_forward: bool = True) -> TimingResult:
        """The event model's timing of one [m, n] update summed over K (see hw.timing)."""

    @abstractmethod
    def closed_form_terms(self, config: Any, m: int, n: int, K: int, *,
                          hints: Mapping[str, Any]) -> dict[str, int]:
        """Terms of the stall-free cycle count (cycles), by name."""

    def closed_form_cycles(self, config: Any, m: int, n: int, K: int, *,
                           hints: Mapping[str, Any]) -> int:
        """Stall-free cycles; default: the sum of :meth:`closed_form_terms`."""
        return sum(self.closed_form_terms(config, m, n, K, hints=hints).values())

    @abstractmethod
    def reference_timing(self, config: Any, m: int, n: int, K: int, *,
                         hints: Mapping[str, Any], max_cycles: int) -> ReferenceResult:
        """The independent per-cycle model of the same update (small cases only)."""

    @abstractmethod
    def useful_work(self, config: Any, m: int, n: int, K: int,
                    hints: Mapping[str, Any]) -> tuple[int, int]:
        """(useful work, lanes per cycle): utilization = useful / (lanes x cycles)."""

    def required(self, config: Any) -> tuple[str, ...]:
        """Activity keys the event model must count for ``config`` (default:
        ``required_activity``)."""
        return self.required_activity

    def label(self, config: Any) -> str:
        """A short identifier for run names and legends, e.g. 'essop-bl64'."""
        return self.name

    def scale_parallelism(self, config: Any, factor: float) -> Any:
        """``config`` with this datapath's parallelism scaled by about ``factor`` (an
        iso-throughput comparison scales a baseline until its time matches); None if the
        datapath cannot scale."""
        return None


class Stage(Plugin):
    """A transformation of a record's operands in front of any datapath.

    ``apply`` replaces (x [K, n], delta [K, m]) by (x' [K', n], delta' [K', m]) whose outer
    products the datapath then computes; ``output_k`` gives K' from the shape alone (runs
    without numerics), ``cycles`` the stage's own latency, which runs before the datapath.
    """

    @abstractmethod
    def apply(self, x: np.ndarray, delta: np.ndarray, config: Any,
              seed: int) -> StageResult:
        """The operands handed on, with the stage's activity and report columns."""

    def output_k(self, config: Any, m: int, n: int, K: int) -> int:
        """K' of the operands the stage hands on (from the shape alone)."""
        return K

    def cycles(self, config: Any, m: int, n: int, K: int) -> int:
        """The stage's own cycles for an update of shape [m, n] over K (input K)."""
        return 0

    def wants_state(self, config: Any) -> bool:
        """Whether ``apply`` carries state from one record of a layer to the next (default
        False). If True, ``apply`` is called with ``state=`` the ``StageResult.state`` of the
        previous record of the same layer in the same run (None for a layer's first record):
        within one ``simulate`` call in trace order, and across the updates of one layer in
        training. Records are otherwise independent, so the state must be a deterministic
        function of the records before it."""
        return False


@dataclass
class StageResult:
    """What a stage hands on: the new operands, its data-dependent activity and its columns."""

    x: Any
    delta: Any
    activity: dict[str, int] = field(default_factory=dict)
    columns: dict[str, Any] = field(default_factory=dict)
    #: what a stateful stage (Stage.wants_state) hands to the next record of the same layer
    state: Any = None


class Registry:
    """Name -> plug-in, for datapaths and stages; built-ins and entry points load on first use."""

    def __init__(self) -> None:
        self._datapaths: dict[str, Datapath] = {}
        self._stages: dict[str, Stage] = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name in builtin_modules():
            module = importlib.import_module(name)
            for attr in ("DATAPATH", "STAGE"):
                if hasattr(module, attr):
                    self.register(getattr(module, attr))
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                self.register(ep.load())
            except Exception as exc:  # noqa: BLE001 - a broken plug-in is named, not fatal
                raise ConfigError(f"entry point {ep.name!r} ({ep.value})",
                                  ENTRY_POINT_GROUP, ep.value,
                                  f"a Datapath or Stage that imports ({exc})") from None

    def register(self, plugin: Any, *, replace: bool = False) -> Any:
        """Add a Datapath or Stage (an instance, or a class instantiated without arguments).
        Names are unique across datapaths and stages, and may not shadow a core config key."""
        if isinstance(plugin, type):
            plugin = plugin()
        if not isinstance(plugin, (Datapath, Stage)):
            raise TypeError(f"{plugin!r} is neither a Datapath nor a Stage")
        name = plugin.name
        from ..config.model import CORE_KEYS

        if not name.isidentifier() or name in CORE_KEYS:
            raise ValueError(f"plug-in name {name!r} must be an identifier and not one of "
                             f"{', '.join(CORE_KEYS)}")
        if not replace and name in self._datapaths.keys() | self._stages.keys():
            existing = self._datapaths.get(name) or self._stages.get(name)
            if type(existing) is type(plugin):
                return existing
            raise ValueError(f"a plug-in named {name!r} is already registered")
        self.unregister(name)
        target = self._datapaths if isinstance(plugin, Datapath) else self._stages
        target[name] = plugin
        return plugin

    def unregister(self, name: str) -> None:
        """Remove a plug-in (tests use this to undo a registration)."""
        self._datapaths.pop(name, None)
        self._stages.pop(name, None)

    def datapaths(self) -> dict[str, Datapath]:
        self._load()
        return dict(self._datapaths)

    def stages(self) -> dict[str, Stage]:
        self._load()
        return dict(self._stages)

    def plugins(self) -> dict[str, Plugin]:
        """Every registered datapath and stage, datapaths first (the order of config sections)."""
        return {**self.datapaths(), **self.stages()}


REGISTRY = Registry()


def registered_datapaths() -> tuple[str, ...]:
    """Names of the registered datapaths, built-ins first."""
    return tuple(REGISTRY.datapaths())


def registered_stages() -> tuple[str, ...]:
    """Names of the registered stages."""
    return tuple(REGISTRY.stages())


def get_datapath(name: str, source: str = "config") -> Datapath:
    """The registered datapath ``name``; an unknown name is a ConfigError listing the known."""
    found = REGISTRY.datapaths().get(name)
    if found is None:
        known = ", ".join(repr(n) for n in registered_datapaths())
        raise ConfigError(source, "datapath", name, f"a registered datapath: one of {known}")
    return found


def get_stage(name: str, source: str = "config") -> Stage:
    """The registered stage ``name``; an unknown name is a ConfigError listing the known."""
    found = REGISTRY.stages().get(name)
    if found is None:
        known = ", ".join(repr(n) for n in registered_stages()) or "none registered"
        raise ConfigError(source, "stages", name, f"a registered stage: one of {known}")
    return found


def datapath_of(config: Any, source: str = "config") -> Datapath:
    """The datapath a configuration selects (``config.datapath``)."""
    return get_datapath(config.datapath, source)


def stages_of(config: Any, source: str = "config") -> list[Stage]:
    """The stages a configuration applies, in order (``config.stages``)."""
    return [get_stage(name, source) for name in config.stages]


def register(plugin: Any, *, replace: bool = False) -> Any:
    """Register a Datapath or Stage in the global registry (see :meth:`Registry.register`)."""
    return REGISTRY.register(plugin, replace=replace)


def unregister(name: str) -> None:
    """Remove a plug-in from the global registry."""
    REGISTRY.unregister(name)
