"""Capture gradient traces from a PyTorch training loop (needs the ``torch`` extra).

::

    import essop_sim.trace

    with essop_sim.trace.record(model, "runs/my_trace", steps=range(0, 100, 10)) as rec:
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
            rec.step()              # after each optimizer step
            if rec.done:            # every requested step recorded
                break
    # runs/my_trace/ now exists (atomically), one record per (layer, recorded step)

How: a forward hook on every recorded layer (nn.Linear, nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d;
see :func:`weight_coverage`) keeps the (detached) input, and registers a hook on the output
tensor that receives grad_output during backward. Each (input, grad_output) pair becomes
operands via :func:`layer_operand_groups`, so delta.T @ x equals the layer's weight gradient
(one record per group of a grouped convolution, named ``layer.group<j>``). Several backward
passes within one step (gradient accumulation, a module used twice) concatenate their rows,
matching how weight.grad accumulates. Steps are counted by ``rec.step()`` calls: step s is the
gradient computed after s optimizer steps.

torch is imported only when these functions run; without it they raise ImportError saying how
to install the extra.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EssopSimError, TraceError
from .format import DTYPES
from .writer import TraceWriter

#: Pending operands of one step kept in memory before further ones spill to scratch files.
DEFAULT_SPILL_BYTES = 256 << 20

_INSTALL_HINT = ("PyTorch is needed to capture traces from training: "
                 "pip install 'essop-sim[torch]' (or pip install torch)")


class CaptureError(EssopSimError, ValueError):
    """A layer cannot be traced (unsupported module type, or shapes that do not fit it)."""


def require_torch():
    """Import and return torch, or raise ImportError with the install hint."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(_INSTALL_HINT) from exc
    return torch


def _first(t: Any):
    if isinstance(t, tuple | list):
        if not t:
            raise CaptureError("empty input/grad_output tuple")
        return t[0]
    return t


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _tuple(v, d: int) -> tuple[int, ...]:
    return (int(v),) * d if isinstance(v, int) else tuple(int(e) for e in v)


#: Trace record kind of each supported convolution class name: (kind, spatial dims, transposed).
CONV_KINDS = {
    "Conv1d": ("conv1d", 1, False), "Conv2d": ("conv2d", 2, False),
    "Conv3d": ("conv3d", 3, False), "ConvTranspose1d": ("conv_transpose1d", 1, True),
    "ConvTranspose2d": ("conv_transpose2d", 2, True),
    "ConvTranspose3d": ("conv_transpose3d", 3, True),
}


def conv_kind(module) -> tuple[str, int, bool] | None:
    """(kind, spatial dimensions, transposed) of a torch convolution module (any of
    nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d or a subclass), None for anything else."""
    torch = require_torch()
    nn = torch.nn
    for cls in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                nn.ConvTranspose3d):
        if isinstance(module, cls):
            return CONV_KINDS[cls.__name__]
    return None


def layer_kind(module) -> str | None:
    """The trace record kind of a module whose weight gradient is an outer product ('linear',
    'conv1d', ..., 'conv_transpose3d'), or None if capture does not cover the module type."""
    torch = require_torch()
    if isinstance(module, torch.nn.Linear):
        return "linear"
    spec = conv_kind(module)
    return None if spec is None else spec[0]


def conv_pads(module) -> list[tuple[int, int]]:
    """Padding (before, after) per spatial dimension that a convolution module applies.

    Resolves ``padding='valid'`` and ``'same'`` (which pads asymmetrically, the extra pixel
    after, for even effective kernel sizes, as PyTorch does). For a transposed convolution it is
    the padding of the equivalent forward convolution (``padding`` removed from each side of the
    output).
    """
    _, d, _ = conv_kind(module)
    kernel, dilation = _tuple(module.kernel_size, d), _tuple(module.dilation, d)
    if isinstance(module.padding, str):
        if module.padding == "valid":
            return [(0, 0)] * d
        totals = [dl * (k - 1) for k, dl in zip(kernel, dilation, strict=True)]  # 'same'
        return [(t // 2, t - t // 2) for t in totals]
    return [(p, p) for p in _tuple(module.padding, d)]


def conv_padding(module) -> tuple[int, int, int, int]:
    """Zero padding (top, bottom, left, right) in pixels that ``module`` (nn.Conv2d) applies."""
    (top, bottom), (left, right) = conv_pads(module)
    return (top, bottom, left, right)


def _im2col(t, kernel, stride, dilation, pads, out_size):
    """im2col of t [B, C, *S] for a d-dimensional kernel: [B * prod(out_size), C * prod(kernel)],
    rows in (b, o_1, ..., o_d) order, columns in (c, k_1, ..., k_d) order (``F.unfold``'s order,
    for any d). ``pads`` is (before, after) zero padding per dimension; positions beyond
    ``out_size`` (a transposed convolution's output_padding) are dropped."""
    torch = require_torch()
    d = len(kernel)
    flat = [p for lo_hi in reversed(pads) for p in lo_hi]
    if any(flat):
        t = torch.nn.functional.pad(t, flat)
    for i in range(d):
        span = dilation[i] * (kernel[i] - 1) + 1
        if t.shape[2 + i] < span:
            raise CaptureError(f"input size {list(t.shape[2:])} (padded) is smaller than the "
                               f"kernel's span {span} in dimension {i}")
        t = t.unfold(2 + i, span, stride[i])[..., ::dilation[i]]
        if t.shape[2 + i] < out_size[i]:
            raise CaptureError(f"im2col gives {t.shape[2 + i]} positions in dimension {i} but "
                               f"the other operand has {out_size[i]}")
        t = t.narrow(2 + i, 0, out_size[i])
    b, c = t.shape[:2]
    perm = (0, *range(2, 2 + d), 1, *range(2 + d, 2 + 2 * d))
    return t.permute(perm).reshape(b * math.prod(out_size), c * math.prod(kernel))


def layer_operand_groups(module, inp, grad_out) -> list:
    """The outer-product operands of one layer call, one (x [K, n], delta [K, m]) pair of torch
    tensors per group: ``delta_j.T @ x_j`` is rows ``j*m:(j+1)*m`` of
    ``weight.grad.reshape(groups * m, n)``. A single pair for Linear and ungrouped convolutions.

    Args:
        module: nn.Linear, or a convolution: nn.Conv1d/2d/3d or nn.ConvTranspose1d/2d/3d, any
            stride, padding (incl. 'same'/'valid'), dilation, groups, output_padding and
            padding_mode.
        inp: the module's input tensor (or the forward hook's ``inputs`` tuple). Linear:
            [..., in_features]; convolutions: [B, Cin, *spatial] or unbatched [Cin, *spatial].
        grad_out: dL/d(output) (or a ``grad_output`` tuple), same shape as the output.

    Returns:
        Linear: x = input reshaped [K, in_features], delta = grad_out reshaped
        [K, out_features], K = product of the leading dims (the batch).
        Convolution (weight [Cout, Cin/g, *k]): x = im2col(input) (the kernel, stride, padding
        and dilation of the module, ``F.unfold``'s layout in any dimension) restricted to the
        group's input channels, [B * prod(output size), Cin/g * prod(k)]; delta = grad_out's
        channels of the group, [B * prod(output size), Cout/g]; rows in (b, position) order.
        Transposed convolution (weight [Cin, Cout/g, *k]): the roles follow the weight's layout,
        so delta = the group's input channels [B * prod(input size), Cin/g] and x = im2col of
        grad_out (the forward convolution's stride, padding and dilation, one row per input
        position) [B * prod(input size), Cout/g * prod(k)].
        Same dtype and device as the inputs; no autograd graph.

    Raises:
        CaptureError for other module types, or shapes that do not fit the module.
    """
    torch = require_torch()
    F = torch.nn.functional
    x, g = _first(inp), _first(grad_out)
    with torch.no_grad():
        x, g = x.detach(), g.detach()
        if isinstance(module, torch.nn.Linear):
            n, m = module.in_features, module.out_features
            if x.shape[-1] != n or g.shape[-1] != m or x.shape[:-1] != g.shape[:-1]:
                raise CaptureError(f"Linear({n}, {m}): input {list(x.shape)} and grad_output "
                                   f"{list(g.shape)} do not fit")
            return [(x.reshape(-1, n), g.reshape(-1, m))]
        spec = conv_kind(module)
        if spec is None:
            raise CaptureError(f"cannot trace a {type(module).__name__}: only nn.Linear and "
                               "convolutions (nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d) have "
                               "outer-product weight updates here")
        _, d, transposed = spec
        if x.dim() == d + 1:  # unbatched
            x, g = x.unsqueeze(0), g.unsqueeze(0)
        cin, cout, groups = module.in_channels, module.out_channels, module.groups
        if x.dim() != d + 2 or x.shape[1] != cin or g.dim() != d + 2 or g.shape[1] != cout:
            raise CaptureError(f"{type(module).__name__}({cin}, {cout}): input "
                               f"{list(x.shape)} and grad_output {list(g.shape)} do not fit")
        kernel = _tuple(module.kernel_size, d)
        stride, dilation = _tuple(module.stride, d), _tuple(module.dilation, d)
        if transposed:  # dW[ci, co, k] = sum_pos x[ci, pos] * im2col(grad_out)[(co, k), pos]
            cols = _im2col(g, kernel, stride, dilation, conv_pads(module), x.shape[2:])
            rows = x.movedim(1, -1).reshape(-1, cin)
            m, n = cin // groups, cout // groups * math.prod(kernel)
            return [(cols[:, j * n:(j + 1) * n], rows[:, j * m:(j + 1) * m])
                    for j in range(groups)]
        if module.padding_mode != "zeros":  # the module pads its input itself, then pads 0
            x = F.pad(x, module._reversed_padding_repeated_twice, mode=module.padding_mode)
            pads = [(0, 0)] * d
        else:
            pads = conv_pads(module)
        cols = _im2col(x, kernel, stride, dilation, pads, g.shape[2:])
        rows = g.movedim(1, -1).reshape(-1, cout)
        m, n = cout // groups, cin // groups * math.prod(kernel)
        return [(cols[:, j * n:(j + 1) * n], rows[:, j * m:(j + 1) * m]) for j in range(groups)]


def layer_operands(module, inp, grad_out):
    """The outer-product operands of one layer call: (x [K, n], delta [K, m]) torch tensors with
    ``delta.T @ x == weight.grad.reshape(m, n)`` for that call (m = ``weight.shape[0]``).

    The operands of :func:`layer_operand_groups` (see there for modules, shapes and the row and
    column order). For a grouped convolution, whose weight gradient is one outer product per
    group, the groups' operands are stacked: x = [x_0; ...; x_{g-1}] ([g * K, n]) and delta the
    matching rows with each group's delta_j in its own columns and zeros elsewhere ([g * K, m]).

    Raises:
        CaptureError for other module types, or shapes that do not fit the module.
    """
    torch = require_torch()
    parts = layer_operand_groups(module, inp, grad_out)
    if len(parts) == 1:
        return parts[0]
    k, mg = parts[0][1].shape
    x = torch.cat([xj for xj, _ in parts])
    delta = parts[0][1].new_zeros((len(parts) * k, len(parts) * mg))
    for j, (_, dj) in enumerate(parts):
        delta[j * k:(j + 1) * k, j * mg:(j + 1) * mg] = dj
    return x, delta


def conv_geometry(module, input_hw, output_hw, group: int | None = None) -> dict:
    """The manifest's ``conv`` entry for a convolution module seen with the given input and
    output spatial sizes (lists of d integers; the key names say ``hw`` for every d).

    Adds ``output_padding`` for a transposed convolution, ``padding_mode`` when it is not
    'zeros', and ``group`` (the group this record holds) for a grouped convolution.
    """
    _, d, transposed = conv_kind(module)
    pads = conv_pads(module)
    padding = ([lo for lo, _ in pads] if all(lo == hi for lo, hi in pads)
               else [p for lo_hi in pads for p in lo_hi])
    geo = {"in_channels": module.in_channels, "out_channels": module.out_channels,
           "kernel_size": list(_tuple(module.kernel_size, d)),
           "stride": list(_tuple(module.stride, d)), "padding": padding,
           "dilation": list(_tuple(module.dilation, d)), "groups": module.groups,
           "input_hw": [int(v) for v in input_hw], "output_hw": [int(v) for v in output_hw]}
    if transposed:
        geo["output_padding"] = list(_tuple(module.output_padding, d))
    if module.padding_mode != "zeros":
        geo["padding_mode"] = module.padding_mode
    if module.groups > 1:
        geo["group"] = int(group if group is not None else 0)
    return geo


def group_record_name(layer: str, group: int) -> str:
    """The trace record name (and datapath seed name) of one group of a grouped convolution."""
    return f"{layer}.group{group}"


@dataclass
class Coverage:
    """Which weights of a model capture (and training in the loop) can express as outer products.

    Attributes:
        layers: (qualified name, module) of every nn.Linear / convolution module whose trainable
            weight is its own (not shared with another module) and which is called as a module
            (not, like nn.MultiheadAttention's ``out_proj``, used functionally by its parent), in
            ``model.named_modules()`` order.
        uncovered: (parameter name, why) of every other trainable parameter with two or more
            dimensions (a matrix or kernel: a weight-bearing parameter). One-dimensional
            parameters (biases, normalisation scales) are not outer-product updates and are not
            listed.
    """

    layers: list[tuple[str, Any]] = field(default_factory=list)
    uncovered: list[tuple[str, str]] = field(default_factory=list)

    def describe_uncovered(self) -> str:
        """``name (why), name (why), ...`` on one line."""
        return ", ".join(f"{name} ({why})" for name, why in self.uncovered)


def weight_coverage(model) -> Coverage:
    """Sort ``model``'s trainable weight-bearing parameters into covered layers and the rest.

    A parameter object registered in several places (tied weights) is covered only if it is
    registered once; a Linear inside an nn.MultiheadAttention (its ``out_proj``, which the
    attention calls through ``F.multi_head_attention_forward``, never as a module) is not.
    """
    torch = require_torch()
    modules = dict(model.named_modules())
    owners: dict[int, list[str]] = {}
    for mname, mod in modules.items():
        for pname, p in mod._parameters.items():
            if p is not None:
                owners.setdefault(id(p), []).append(f"{mname}.{pname}" if mname else pname)
    cov = Coverage()
    covered: set[int] = set()
    functional: set[int] = set()
    for name, mod in modules.items():
        if layer_kind(mod) is None:
            continue
        w = getattr(mod, "weight", None)
        if not isinstance(w, torch.nn.Parameter) or not w.requires_grad:
            continue
        parent = modules.get(name.rsplit(".", 1)[0] if "." in name else "")
        if name and isinstance(parent, torch.nn.MultiheadAttention):
            functional.add(id(w))
        elif len(owners[id(w)]) == 1:
            cov.layers.append((name, mod))
            covered.add(id(w))
    seen: set[int] = set()
    for pname, p in model.named_parameters():
        if id(p) in seen or id(p) in covered or not p.requires_grad or p.dim() < 2:
            continue
        seen.add(id(p))
        owner = modules.get(pname.rsplit(".", 1)[0] if "." in pname else "")
        why = type(owner).__name__
        if id(p) in functional:
            why += ", called functionally by its MultiheadAttention"
        if len(owners[id(p)]) > 1:
            why += ", shared with " + ", ".join(o for o in owners[id(p)] if o != pname)
        cov.uncovered.append((pname, why))
    return cov


class Recorder:
    """Context manager made by :func:`record`; call :meth:`step` after each optimizer step.

    Attributes:
        current_step: optimizer steps taken so far (``step()`` calls).
        meta: dict stored in the manifest's ``meta`` (update it before the ``with`` ends).
        layers: names of the recorded modules, in model order.
    """

    def __init__(self, model, path, layers=None, steps=None, max_k=None, seed=0,
                 dtype="float32", model_name=None, dataset="unknown", command=None, meta=None,
                 overwrite=False, spill_bytes=DEFAULT_SPILL_BYTES):
        torch = require_torch()
        self._torch = torch
        self.model, self.path = model, Path(path)
        self.steps = None if steps is None else sorted({int(s) for s in steps})
        if self.steps is not None and (not self.steps or self.steps[0] < 0):
            raise TraceError(self.path, f"steps must be non-negative integers, got {steps!r}")
        if max_k is not None and (not isinstance(max_k, int) or max_k < 1):
            raise TraceError(self.path, f"max_k must be a positive integer or None, got {max_k!r}")
        if dtype not in DTYPES:
            raise TraceError(self.path, f"dtype {dtype!r}: expected one of {list(DTYPES)}")
        self._step_set = None if self.steps is None else set(self.steps)
        self.max_k, self.seed, self.dtype = max_k, int(seed), dtype
        self.modules = self._select_modules(model, layers)
        self.layers = [name for name, _ in self.modules]
        self.current_step = 0
        self.meta = dict(meta or {})
        self._writer_args = dict(model=model_name or type(model).__name__, dataset=dataset,
                                 framework={"name": "torch", "version": torch.__version__},
                                 command=command if command is not None else _argv_command(),
                                 overwrite=overwrite)
        self.spill_bytes = int(spill_bytes)
        self._pending: dict[str, dict] = {}
        self._pending_bytes = 0
        self._scratch: Path | None = None
        self._spilled = 0
        self._handles: list = []
        self._writer: TraceWriter | None = None

    # ------------------------------------------------------------------ selection

    def _select_modules(self, model, layers):
        named = weight_coverage(model).layers
        if layers is None:
            chosen = named
        else:
            wanted = [layers] if isinstance(layers, str) else list(layers)
            by_name = dict(named)
            unknown = [w for w in wanted if w not in by_name]
            if unknown:
                raise TraceError(self.path, f"layers {unknown} are not Linear or convolution "
                                            f"modules of the model; it has {list(by_name)}")
            chosen = [(n, m) for n, m in named if n in set(wanted)]
        if not chosen:
            raise TraceError(self.path, "the model has no Linear or convolution layers to "
                                        "record")
        return chosen

    # ------------------------------------------------------------------ hooks

    def recording(self) -> bool:
        """True while the current step is one to record."""
        return self._writer is not None and (self._step_set is None or
                                              self.current_step in self._step_set)

    @property
    def done(self) -> bool:
        """True once every requested step has been recorded (never, for steps=None)."""
        return self.steps is not None and self.current_step > self.steps[-1]

    def _forward_hook(self, name, module):
        spec = conv_kind(module)
        dims = spec[1] if spec is not None else 0

        def hook(mod, inputs, output):
            torch = self._torch
            if not self.recording() or not torch.is_grad_enabled():
                return
            if not isinstance(output, torch.Tensor) or not output.requires_grad:
                return
            inp = _first(inputs).detach()
            sizes = (tuple(inp.shape[-dims:]), tuple(output.shape[-dims:])) if dims else None

            def on_grad(grad):
                self._collect(name, mod, inp, grad, sizes, dims)

            output.register_hook(on_grad)
        return hook

    def _collect(self, name, mod, inp, grad, sizes, dims) -> None:
        torch = self._torch
        tdt = getattr(torch, self.dtype)
        parts = layer_operand_groups(mod, inp, grad)
        if dims:  # conv: [B, C, *spatial] or unbatched [C, *spatial]
            batch = int(inp.shape[0]) if inp.dim() == dims + 2 else 1
        else:  # linear: [B, ..., in] or unbatched [in]
            batch = int(inp.shape[0]) if inp.dim() >= 2 else 1
        for j, (x, d) in enumerate(parts):
            record = name if len(parts) == 1 else group_record_name(name, j)
            slot = self._pending.setdefault(record, {"parts": [], "batch": 0, "sizes": [],
                                                     "module": mod, "layer": name,
                                                     "group": j})
            slot["parts"].append((self._stash(x.to(dtype=tdt).cpu().numpy()),
                                  self._stash(d.to(dtype=tdt).cpu().numpy())))
            slot["batch"] += batch
            if sizes is not None:
                slot["sizes"].append(sizes)

    def _stash(self, a: np.ndarray) -> np.ndarray | Path:
        """Keep a copy in memory, or spill it to the scratch directory once the step's
        pending operands would exceed ``spill_bytes``."""
        if self._pending_bytes + a.nbytes <= self.spill_bytes:
            self._pending_bytes += a.nbytes
            return np.array(a, copy=True)  # own memory (a may alias a torch tensor)
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.scratch-",
                                                  dir=self.path.parent))
        f = self._scratch / f"{self._spilled}.npy"
        self._spilled += 1
        np.save(f, a)
        return f

    # ------------------------------------------------------------------ steps

    def step(self) -> None:
        """Mark the end of an optimizer step: write this step's records (if any), advance."""
        if self._writer is None:
            raise TraceError(self.path, "rec.step() called outside the 'with record(...)' block")
        self._flush()
        self.current_step += 1

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        torch = self._torch
        try:
            for name in self._record_order(pending):
                self._write_layer(name, pending.pop(name), torch)
        finally:
            self._pending_bytes = 0
            if self._scratch is not None:
                for f in self._scratch.iterdir():
                    f.unlink()

    def _record_order(self, pending: dict) -> list[str]:
        """Pending record names in model order (a grouped layer's groups in group order)."""
        rank = {name: i for i, name in enumerate(self.layers)}
        return sorted(pending, key=lambda r: (rank[pending[r]["layer"]], pending[r]["group"]))

    def _write_layer(self, name: str, slot: dict, torch) -> None:
        """Write one layer's record for the current step: its calls' rows in call order, or
        a seeded uniform subsample of ``max_k`` of them (kept in their original order)."""
        parts = [tuple(np.load(p, mmap_mode="r") if isinstance(p, Path) else p for p in pair)
                 for pair in slot["parts"]]
        k = sum(xp.shape[0] for xp, _ in parts)
        n, m = parts[0][0].shape[1], parts[0][1].shape[1]
        rows = None
        sub = {"original_K": k, "method": "none", "seed": None}
        if self.max_k is not None and k > self.max_k:
            seq = [self.seed, self.current_step, zlib.crc32(name.encode())]
            rows = np.sort(np.random.default_rng(seq).choice(k, self.max_k, replace=False))
            sub = {"original_K": k, "method": "random_rows", "seed": self.seed,
                   "seed_sequence": seq,
                   "how": "numpy.random.default_rng(seed_sequence).choice(original_K, K, "
                          "replace=False), sorted; seed_sequence = [seed, step, "
                          "zlib.crc32(layer name)]",
                   "scale_to_full": k / self.max_k}

        def chunks():
            offset = 0
            for xp, dp in parts:
                size = xp.shape[0]
                if rows is None:
                    yield xp, dp
                else:
                    sel = rows[(rows >= offset) & (rows < offset + size)] - offset
                    if sel.size:
                        yield xp[sel], dp[sel]
                offset += size

        mod = slot["module"]
        kind = layer_kind(mod)
        conv = None
        if kind != "linear":
            in_size, out_size = slot["sizes"][0]
            conv = conv_geometry(mod, in_size, out_size, group=slot["group"])
            sizes = sorted({s[0] for s in slot["sizes"]})
            if len(sizes) > 1:  # calls with different input sizes
                conv["input_hw_all"] = [list(t) for t in sizes]
        self._writer.add_chunks(name, kind, self.current_step, k if rows is None else rows.size,
                                n, m, chunks(), conv=conv, subsample=sub,
                                batch=slot["batch"] or None, dtype=self.dtype)

    # ------------------------------------------------------------------ context

    def __enter__(self) -> Recorder:
        self._writer = TraceWriter(self.path, meta=None, **self._writer_args)
        for name, mod in self.modules:
            self._handles.append(mod.register_forward_hook(self._forward_hook(name, mod)))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._finish(exc_type)
        finally:
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None

    def _finish(self, exc_type) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if exc_type is not None:
            self._pending.clear()
            self._pending_bytes = 0
            writer.abort()
            return
        try:
            if self._pending:  # a backward pass after the last rec.step(): keep it
                self._writer = writer
                self._flush()
                self._writer = None
            writer.meta.update(self.meta)
            writer.meta.setdefault("capture", {})
            writer.meta["capture"].update({
                "steps_requested": self.steps, "layers": self.layers, "max_k": self.max_k,
                "seed": self.seed, "dtype": self.dtype, "steps_run": self.current_step})
            if not writer.records:
                raise TraceError(self.path, f"no gradients were captured: requested steps "
                                            f"{self.steps}, the loop ran {self.current_step} "
                                            "step(s) (call rec.step() after each optimizer "
                                            "step, and run backward inside the 'with')")
            writer.close()
        except BaseException:
            writer.abort()
            raise


def _argv_command() -> str | None:
    """The running process's command line (best effort), for the manifest."""
    import shlex
    if not sys.argv or not sys.argv[0]:
        return None
    return shlex.join([os.path.basename(sys.executable) or "python", *sys.argv])


def record(model, path, layers: Iterable[str] | None = None,
           steps: Iterable[int] | None = None, max_k: int | None = None, seed: int = 0, *,
           dtype: str = "float32", model_name: str | None = None, dataset: str = "unknown",
           command: str | None = None, meta: dict | None = None,
           overwrite: bool = False, spill_bytes: int = DEFAULT_SPILL_BYTES) -> Recorder:
    """Record gradient operands of ``model``'s Linear and convolution layers during training.

    Use as ``with record(model, path, steps=...) as rec:`` around a training loop that calls
    ``rec.step()`` after each optimizer step. The trace directory appears atomically when the
    block ends without an exception (an exception discards it).

    Args:
        model: a ``torch.nn.Module``.
        path: trace directory to create.
        layers: module names (as in ``model.named_modules()``) to record; None = every layer
            :func:`weight_coverage` covers (nn.Linear, nn.Conv1d/2d/3d,
            nn.ConvTranspose1d/2d/3d). A grouped convolution gives one record per group,
            ``name.group<j>``.
        steps: steps to record (step s = after s optimizer steps); None = every step.
        max_k: keep at most this many rows (of K) per record, chosen uniformly without
            replacement by a seeded RNG; recorded in each record's ``subsample`` entry.
        seed: seed of that row choice.
        dtype: on-disk dtype: 'float32' (default), 'float16' or 'float64'.
        model_name, dataset: manifest descriptions (default: the model's class name, 'unknown').
        command: the command that made the trace (default: this process's argv).
        meta: extra manifest ``meta`` entries (``rec.meta`` may be updated inside the block).
        overwrite: replace an existing trace at ``path``.
        spill_bytes: a step's operands are held until ``rec.step()``; beyond this many bytes
            (default 256 MiB) they go to a hidden scratch directory beside ``path`` (removed
            at the end), so a ResNet-32 step at batch 128 (about 1.6 GB of x) fits in memory.
    """
    return Recorder(model, path, layers=layers, steps=steps, max_k=max_k, seed=seed, dtype=dtype,
                    model_name=model_name, dataset=dataset, command=command, meta=meta,
                    overwrite=overwrite, spill_bytes=spill_bytes)
