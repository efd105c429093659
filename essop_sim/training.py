"""Training in the loop: weight gradients computed by the simulated datapath (ESSOP or FP16).

The forward pass and the backpropagated errors stay in ordinary (torch) precision, as in the ESSOP
paper; only the weight-gradient outer product dW = sum_k delta_k x_k^T of every ``nn.Linear``,
``nn.Conv1d/2d/3d`` and ``nn.ConvTranspose1d/2d/3d`` layer (one per group for a grouped
convolution) is replaced by what the configured hardware computes,
``essop_sim.outer_product(x, delta, config, seed).dw``. Any other weight-bearing parameter
(two or more dimensions) is refused unless ``uncovered='skip'`` (then it trains exactly, with a
warning naming it), so a run labelled ESSOP never trains part of the model exactly unnoticed.
Biases keep their exact gradient (a bias gradient is a plain sum of delta over K, not an outer
product, and ESSOP does not compute it).

How it works (:class:`EssopGradients`, usually through :func:`essop_gradients`):

* a forward hook on each layer saves its input and registers a hook on its output tensor; when
  autograd reaches that output, the hook receives grad_output (delta before any reduction);
* a hook on the layer's ``weight`` (a leaf tensor) runs when autograd has the weight's gradient and
  *returns a replacement*: the layer's (x [K, n], delta [K, m]) come from
  :func:`essop_sim.trace.capture.layer_operand_groups` (im2col for convolutions, per group),
  the datapath computes dW [m, n], and dW reshaped to ``weight.shape`` is what autograd
  accumulates into ``.grad``.
  The output's hook always runs before the weight's, because the weight gradient is produced by
  the output's own backward node. Gradient accumulation over several ``backward()`` calls works
  as usual: each call contributes the datapath's dW instead of the exact one.

Seeds: the datapath's random numbers for a layer's update come from
:func:`derive_seed(run_seed, layer_name, step) <derive_seed>` (the derivation trace replay uses),
``step`` being the number of updates that layer has already had under this context. Two runs
with the same seed, data order and model initialisation therefore produce bit-identical
gradients.

Learning rate: the hook returns ``result.dw`` (the estimate of sum_k delta_k x_k^T in real units),
not ``result.update`` (= -eta_eff * dw): the optimizer applies the learning rate, momentum and
weight decay to the gradient as it would for exact training, so the learning rate is neither
applied twice nor rounded to a power of two behind the optimizer's back, and the sign convention
of ``.grad`` (ascent direction) is kept.

torch is an optional extra (``pip install 'essop-sim[torch]'``); this module imports it only when
a function needs it and raises an ImportError that says so when it is missing.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._numba_cache import configure_numba_threading
from .config import HardwareConfig

# PyTorch and the datapath kernels share this process: numba's workqueue threads, which sleep
# when idle, unless the user chose a threading layer (see essop_sim._numba_cache).
configure_numba_threading(torch_in_process=True)

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

EXACT = "exact"
"""Pass as ``config`` to compute dW = delta^T x exactly (float64) from the same captured operands:
a check of the wiring (hooks, im2col, reshape) with no hardware in between."""


def require_torch() -> Any:
    """Import and return torch, or raise ImportError explaining how to install the extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(
            "essop_sim.training needs PyTorch, an optional extra of essop-sim: install it with "
            "pip install 'essop-sim[torch]' (or pip install torch)") from exc
    return torch


def derive_seed(run_seed: int, layer: str, step: int) -> int:
    """The datapath seed in [0, 2^63) of one layer's update, a pure function of its arguments.

    The same derivation as :func:`essop_sim.simulate.record_seed` (a SHA-256 of
    ``"run_seed:layer:step"``), so the update of layer ``layer`` at step ``step`` draws the same
    random numbers as the replay of a trace record with that layer name and step.

    Args:
        run_seed: the run's seed (any non-negative int).
        layer: the layer's qualified module name (``model.named_modules()``, e.g. ``conv2``).
        step: how many updates this layer has had before this one (0-based).
    """
    from .simulate import record_seed

    return record_seed(int(run_seed), layer, int(step))


@dataclass
class LayerStats:
    """What the datapath did for one wrapped layer, summed over the updates so far.

    Attributes:
        name: qualified module name in the model (``model.named_modules()``).
        kind: the trace record kind: 'linear', 'conv1d', 'conv2d', 'conv3d',
            'conv_transpose1d', 'conv_transpose2d' or 'conv_transpose3d'.
        weight_shape: shape of the layer's weight tensor.
        m, n: rows and columns of the weight gradient as a matrix,
            ``weight.reshape(m, n)``: m = ``weight.shape[0]`` (out features / Cout; Cin for a
            transposed convolution), n = in features, or Cin/groups * prod(kernel) (Cout/groups
            * prod(kernel) transposed).
        groups: outer products per update: a grouped convolution's dW is one outer product per
            group (rows ``j*m/groups:(j+1)*m/groups``), each with its own datapath seed.
        updates: weight gradients computed by the datapath.
        outer_products: total K (outer products summed) over those updates and groups.
        array_writes: outer products the datapath applied (K' after the configured stages, e.g.
            r per update with SBE; equal to outer_products without stages).
        seconds: wall-clock time spent building operands and in the datapath, in seconds.
    """

    name: str
    kind: str
    weight_shape: tuple[int, ...]
    m: int
    n: int
    groups: int = 1
    updates: int = 0
    outer_products: int = 0
    array_writes: int = 0
    seconds: float = 0.0


class UncoveredWeightsError(ValueError):
    """The model has weight-bearing parameters the datapath would not compute (see
    :func:`essop_sim.trace.capture.weight_coverage`)."""


class UncoveredWeightsWarning(UserWarning):
    """Weight-bearing parameters train with exact gradients because of ``uncovered='skip'``."""


class EssopGradients:
    """Replaces the weight gradients of a model's Linear and convolution layers with a datapath's
    dW.

    Use as a context manager (hooks are removed on exit) or call :meth:`attach` / :meth:`detach`.

    Covered: every ``nn.Linear``, ``nn.Conv1d/2d/3d`` and ``nn.ConvTranspose1d/2d/3d`` (any
    stride, padding, dilation, padding mode, output padding; a grouped convolution as one outer
    product per group) that is called as a module and owns its trainable weight
    (:func:`essop_sim.trace.capture.weight_coverage`). Every other trainable parameter with two or
    more dimensions (a plain ``nn.Parameter`` used in a functional call, nn.MultiheadAttention's
    in- and out-projections, an embedding, a weight tied to another module) is *uncovered*: by
    default that is an :class:`UncoveredWeightsError` naming them, so no run labelled ESSOP
    silently trains part of the model exactly. One-dimensional parameters (biases,
    normalisation scales) are not outer products and always keep their exact gradients.

    Args:
        model: any ``torch.nn.Module``.
        config: the hardware configuration (``config.datapath`` 'essop' or 'fp16'), or
            :data:`EXACT` for exact float64 dW from the same operands.
        seed: run seed; the datapath seed of each layer's update is
            ``derive_seed(seed, layer_name, step)`` (``layer_name.group<j>`` for group j of a
            grouped convolution, the trace record name of that group).
        layers: optional predicate ``(name, module) -> bool`` selecting which covered layers to
            wrap; the rest keep exact gradients on purpose (listed in :attr:`exact_weights`,
            not an error).
        uncovered: 'error' (default): raise :class:`UncoveredWeightsError` if the model has
            uncovered weight-bearing parameters; 'skip': train them with exact gradients and
            emit an :class:`UncoveredWeightsWarning` listing them.

    Attributes:
        layer_names: the layers whose weight gradients the datapath computes.
        exact_weights: (parameter name, why) of the weight-bearing parameters left exact.
        stats: per wrapped layer :class:`LayerStats`.
    """

    def __init__(self, model: nn.Module, config: HardwareConfig | str,
                 seed: int = 0,
                 layers: Callable[[str, nn.Module], bool] | None = None,
                 uncovered: str = "error") -> None:
        require_torch()
        from .trace.capture import layer_kind, weight_coverage

        if not (isinstance(config, HardwareConfig) or config == EXACT):
            raise TypeError(f"config must be a HardwareConfig or {EXACT!r}; got {config!r:.80}")
        if uncovered not in ("error", "skip"):
            raise ValueError(f"uncovered must be 'error' or 'skip'; got {uncovered!r}")
        if config != EXACT:
            from .datapaths.registry import datapath_of

            datapath_of(config)   # an unknown datapath is a ConfigError here, not at backward
        self.model = model
        self.config = config
        self.seed = int(seed)
        self._handles: list[Any] = []
        self._pending: dict[int, list[tuple[Any, Any]]] = {}
        self._modules: list[tuple[str, nn.Module]] = []
        self._stage_state: dict = {}   # stateful stages: (stage, layer) -> state
        self.stats: list[LayerStats] = []
        coverage = weight_coverage(model)
        if coverage.uncovered:
            listing = coverage.describe_uncovered()
            if uncovered == "error":
                raise UncoveredWeightsError(
                    f"{len(coverage.uncovered)} weight-bearing parameter(s) not covered by the "
                    f"datapath would train with exact gradients: {listing}; covered are Linear, "
                    "Conv1d/2d/3d and ConvTranspose1d/2d/3d modules called as modules; pass "
                    "uncovered='skip' to train these exactly (with a warning)")
            warnings.warn(f"training in the loop: {len(coverage.uncovered)} weight-bearing "
                          f"parameter(s) not covered by the datapath train with exact "
                          f"gradients: {listing}", UncoveredWeightsWarning, stacklevel=3)
        self.exact_weights: list[tuple[str, str]] = list(coverage.uncovered)
        for name, module in coverage.layers:
            if layers is not None and not layers(name, module):
                self.exact_weights.append((f"{name}.weight" if name else "weight",
                                           "excluded by layers"))
                continue
            w = module.weight
            self._modules.append((name, module))
            self.stats.append(LayerStats(name, layer_kind(module), tuple(w.shape),
                                         int(w.shape[0]), int(w[0].numel()),
                                         groups=int(getattr(module, "groups", 1))))

    # -- hooks ---------------------------------------------------------------------------------

    def attach(self) -> EssopGradients:
        """Register the hooks (idempotent)."""
        if self._handles:
            return self
        # A fresh dict per attach: output hooks of a graph built under an earlier attach (whose
        # backward runs later) write to their own, orphaned dict, never into this one.
        pending: dict[int, list[tuple[Any, Any]]] = {}
        self._pending = pending
        self._apply_weight_masks()
        for index, (_, module) in enumerate(self._modules):
            pending[index] = []
            self._handles.append(module.register_forward_hook(self._forward_hook(index, pending)))
            self._handles.append(module.weight.register_hook(
                self._weight_hook(index, module, pending)))
        return self

    def _apply_weight_masks(self) -> None:
        """Zero the weights outside the datapath's pre-defined connection mask
        (``Datapath.weight_mask``; none for a dense datapath), per group of a grouped
        convolution, and scale each row's kept weights by sqrt(n / d_in) (an initialisation for
        the sparse fan-in d_in: the row sums keep their variance). The datapath's updates are
        zero outside the mask, so those weights stay zero under SGD with momentum and weight
        decay. Called on every attach: attach once, before training (as train_classifier)."""
        if self.config == EXACT:
            return
        from .datapaths.registry import datapath_of
        from .trace.capture import group_record_name

        torch = require_torch()
        datapath = datapath_of(self.config)
        for index, (_, module) in enumerate(self._modules):
            stats = self.stats[index]
            w = module.weight
            rows, n = int(w.shape[0]), int(w[0].numel())
            m = rows // stats.groups
            for j in range(stats.groups):
                name = stats.name if stats.groups == 1 else group_record_name(stats.name, j)
                config = datapath.for_layer(self.config, name)
                mask = datapath.weight_mask(config, m, n)
                if mask is None:
                    continue
                keep = torch.from_numpy(mask)
                # the kept weights are rescaled to the sparse fan-in (variance of a row's sum
                # as at initialisation with fan-in n): x sqrt(n / d_in) per output row
                scale = torch.sqrt(n / keep.sum(dim=1).clamp(min=1).to(w.dtype))
                with torch.no_grad():
                    block = w.view(rows, n)[j * m:(j + 1) * m]
                    block.mul_(scale[:, None])
                    block[~keep] = 0.0

    def detach(self) -> None:
        """Remove the hooks; later backward passes compute exact gradients again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._pending = {}

    def __enter__(self) -> EssopGradients:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def _forward_hook(self, index: int, pending: dict) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            if not getattr(output, "requires_grad", False):
                return  # no_grad / inference: nothing to capture
            x = inputs[0].detach()

            def on_grad_output(grad: Any) -> None:
                # Runs when autograd reaches this call's output; the closure (and x) is freed
                # with the graph if backward never comes.
                pending[index].append((x, grad.detach()))

            output.register_hook(on_grad_output)

        return hook

    def _weight_hook(self, index: int, module: nn.Module, pending: dict) -> Callable:
        torch = require_torch()

        def hook(grad: Any) -> Any:
            calls = pending[index]
            stats = self.stats[index]
            if not calls:
                raise RuntimeError(
                    f"layer {stats.name!r}: its weight received a gradient but no forward call "
                    "of the layer was seen while the hooks were attached (a forward pass run "
                    "before attaching, or a weight used outside its module, e.g. tied weights, "
                    "is not supported)")
            t0 = time.perf_counter()
            dw = self._compute(index, module, calls)
            calls.clear()
            stats.seconds += time.perf_counter() - t0
            return torch.from_numpy(dw).reshape(grad.shape).to(dtype=grad.dtype,
                                                                device=grad.device)

        return hook

    def _compute(self, index: int, module: nn.Module,
                 calls: Sequence[tuple[Any, Any]]) -> np.ndarray:
        """dW [m, n] (float64) of one layer for the captured (input, grad_output) calls: one
        outer product per group (a single one unless a grouped convolution), rows stacked."""
        from .trace.capture import group_record_name, layer_operand_groups

        stats = self.stats[index]
        per_group: list[tuple[list[np.ndarray], list[np.ndarray]]] = [
            ([], []) for _ in range(stats.groups)]
        for inp, grad_out in calls:
            for j, (x, delta) in enumerate(layer_operand_groups(module, inp, grad_out)):
                per_group[j][0].append(_as_numpy(x))
                per_group[j][1].append(_as_numpy(delta))
        step = stats.updates
        stats.updates += 1
        blocks = []
        for j, (xs, ds) in enumerate(per_group):
            x = xs[0] if len(xs) == 1 else np.concatenate(xs, axis=0)
            delta = ds[0] if len(ds) == 1 else np.concatenate(ds, axis=0)
            stats.outer_products += int(x.shape[0])
            if self.config == EXACT:
                from .numerics.metrics import exact_update

                stats.array_writes += int(x.shape[0])
                blocks.append(exact_update(x, delta))
                continue
            from .datapaths.registry import datapath_of, stages_of
            from .numerics import outer_product

            name = stats.name if stats.groups == 1 else group_record_name(stats.name, j)
            seed = derive_seed(self.seed, name, step)
            config = datapath_of(self.config).for_layer(self.config, name)
            for stage in stages_of(config):   # as simulate_record: stages first, state per layer
                if stage.wants_state(config):
                    key = (stage.name, name)
                    out = stage.apply(x, delta, config, seed, state=self._stage_state.get(key))
                    self._stage_state[key] = out.state
                else:
                    out = stage.apply(x, delta, config, seed)
                x, delta = out.x, out.delta
            stats.array_writes += int(x.shape[0])
            blocks.append(np.asarray(outer_product(x, delta, config, seed=seed).dw,
                                     dtype=np.float64))
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=0)

    @property
    def seconds(self) -> float:
        """Total wall-clock seconds spent computing datapath gradients so far."""
        return sum(s.seconds for s in self.stats)

    @property
    def layer_names(self) -> list[str]:
        """Qualified names of the wrapped layers, in layer-index order."""
        return [name for name, _ in self._modules]


def _as_numpy(a: Any) -> np.ndarray:
    """A float32 or float64 C-contiguous numpy array from a torch tensor or array-like."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32)
    return np.ascontiguousarray(a)


@contextmanager
def essop_gradients(model: nn.Module, config: HardwareConfig | str, seed: int = 0,
                    layers: Callable[[str, nn.Module], bool] | None = None,
                    uncovered: str = "error") -> Iterator[EssopGradients]:
    """Context manager: inside it, ``loss.backward()`` leaves the datapath's dW in each weight's
    ``.grad`` (reshaped to the weight's shape; biases exact). See :class:`EssopGradients`
    (which layers are covered, ``layers``, ``uncovered='error'|'skip'``).

    Example::

        with essop_gradients(model, load_config(None, {"essop.bitstream_length": 16}), seed=0):
            for x, y in batches:
                opt.zero_grad()
                loss_fn(model(x), y).backward()
                opt.step()
    """
    ctx = EssopGradients(model, config, seed=seed, layers=layers, uncovered=uncovered)
    with ctx:
        yield ctx


# -- a small, deterministic training loop ------------------------------------------------------


@dataclass
class TrainResult:
    """History of one training run.

    Attributes:
        label: what computed the weight gradients ('fp32', 'essop-bl16', ...).
        test_accuracy: test accuracy after each epoch, fractions in [0, 1], length ``epochs``.
        train_loss: mean training loss (cross-entropy, nats) of each epoch.
        step_seconds: wall-clock seconds of every training step (forward, backward including
            the datapath gradients, optimizer step), in order.
        gradient_seconds: of those, seconds spent in the datapath gradient hooks (0 for fp32).
        layers: per-layer datapath statistics (empty for fp32).
        datapath_layers: names of the layers whose weight gradients the datapath computed
            (empty for fp32).
        exact_weights: (parameter name, why) of the weight-bearing parameters that kept exact
            gradients under a datapath (``uncovered='skip'``, or excluded), empty for fp32.
    """

    label: str
    test_accuracy: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    gradient_seconds: float = 0.0
    layers: list[LayerStats] = field(default_factory=list)
    datapath_layers: list[str] = field(default_factory=list)
    exact_weights: list[tuple[str, str]] = field(default_factory=list)

    @property
    def final_accuracy(self) -> float:
        """Test accuracy after the last epoch (fraction)."""
        return self.test_accuracy[-1] if self.test_accuracy else float("nan")

    @property
    def median_step_seconds(self) -> float:
        """Median wall-clock seconds of one training step."""
        return float(np.median(self.step_seconds)) if self.step_seconds else float("nan")


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Classification accuracy (fraction in [0, 1]) of ``model`` on inputs x [N, ...], labels
    y [N] (int64), in eval mode and without gradients."""
    torch = require_torch()
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    model.train(was_training)
    return correct / max(len(x), 1)


def train_classifier(make_model: Callable[[], nn.Module],
                     train: tuple[torch.Tensor, torch.Tensor],
                     test: tuple[torch.Tensor, torch.Tensor],
                     config: HardwareConfig | str | None = None, *,
                     epochs: int = 5, batch_size: int = 32, lr: float = 0.05,
                     momentum: float = 0.9, weight_decay: float = 0.0,
                     schedule: str = "constant", seed: int = 0, label: str | None = None,
                     on_epoch: Callable[[int, TrainResult], None] | None = None,
                     max_steps_per_epoch: int | None = None,
                     augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None
                     = None, uncovered: str = "error") -> TrainResult:
    """Train a classifier with SGD, weight gradients from ``config`` (None = exact FP32 autograd).

    The same ``seed`` gives the same initial weights (``torch.manual_seed(seed)`` before
    ``make_model()``), the same mini-batch order (a ``torch.Generator`` seeded with ``seed``) and,
    for a datapath, the same datapath random numbers, so an FP32 and an ESSOP run differ only in
    how the weight gradients were computed.

    Args:
        make_model: builds the (untrained) model; called once, after seeding.
        train: (x [N, ...] float32, y [N] int64) training set.
        test: (x, y) test set, evaluated after every epoch.
        config: HardwareConfig for ESSOP / FP16 weight gradients, :data:`EXACT`, or None for
            ordinary FP32 autograd.
        epochs: passes over the training set.
        batch_size: samples per step (the last, smaller batch of an epoch is kept).
        lr, momentum, weight_decay: ``torch.optim.SGD`` settings (learning rate per step).
        schedule: 'constant' (lr throughout) or 'cosine' (lr * (1 + cos(pi * t / T)) / 2 at
            step t of T, ending near 0, so the final accuracy is not a snapshot of a noisy
            plateau).
        seed: run seed (weights, data order, datapath random numbers).
        label: name of the run in the result; default from ``config``.
        on_epoch: called as ``on_epoch(epoch, result)`` after each epoch's evaluation.
        max_steps_per_epoch: stop each epoch after this many steps (None = the whole set).
        augment: optional ``augment(x_batch, generator) -> x_batch`` applied to each training
            batch, drawing its randomness from the run's data-order generator (so it is the
            same for every datapath).
        uncovered: 'error' or 'skip', as for :class:`EssopGradients` (ignored for FP32).

    Returns:
        TrainResult with per-epoch test accuracy and per-step wall-clock times.
    """
    torch = require_torch()
    torch.manual_seed(seed)
    model = make_model()
    model.train()
    x_train, y_train = train
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine'; got {schedule!r}")
    steps_per_epoch = -(-len(x_train) // batch_size)
    if max_steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, max_steps_per_epoch)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
             if schedule == "cosine" else None)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    result = TrainResult(label if label is not None else run_label(config))
    ctx = (EssopGradients(model, config, seed=seed, uncovered=uncovered)
           if config is not None else None)
    if ctx is not None:
        ctx.attach()
    try:
        for epoch in range(epochs):
            order = torch.randperm(len(x_train), generator=gen)
            total, count = 0.0, 0
            for step, i in enumerate(range(0, len(order), batch_size)):
                if max_steps_per_epoch is not None and step >= max_steps_per_epoch:
                    break
                idx = order[i:i + batch_size]
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                xb = x_train[idx] if augment is None else augment(x_train[idx], gen)
                loss = loss_fn(model(xb), y_train[idx])
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                result.step_seconds.append(time.perf_counter() - t0)
                total += loss.item() * len(idx)
                count += len(idx)
            result.train_loss.append(total / max(count, 1))
            result.test_accuracy.append(evaluate(model, *test))
            if on_epoch is not None:
                on_epoch(epoch, result)
    finally:
        if ctx is not None:
            ctx.detach()
            result.gradient_seconds = ctx.seconds
            result.layers = list(ctx.stats)
            result.datapath_layers = ctx.layer_names
            result.exact_weights = list(ctx.exact_weights)
    return result


def run_label(config: HardwareConfig | str | None) -> str:
    """Short name of what computes the weight gradients: 'fp32', 'exact', or the datapath's
    label (e.g. 'fp16', 'essop-bl<BL>', plus '-element' for per-element random numbers)."""
    from .datapaths.registry import datapath_of

    if config is None:
        return "fp32"
    if config == EXACT:
        return "exact"
    return datapath_of(config).label(config)


__all__ = [
    "EXACT", "EssopGradients", "LayerStats", "TrainResult", "UncoveredWeightsError",
    "UncoveredWeightsWarning", "derive_seed", "essop_gradients", "evaluate", "require_torch",
    "run_label", "train_classifier",
]
