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

How: a forward hook on every recorded nn.Linear / nn.Conv2d keeps the (detached) input, and
registers a hook on the output tensor that receives grad_output during backward. Each (input,
grad_output) pair becomes operands via :func:`layer_operands`, so delta.T @ x equals the
layer's weight gradient. Several backward passes within one step (gradient accumulation, a
module used twice) concatenate their rows, matching how weight.grad accumulates. Steps are
counted by ``rec.step()`` calls: step s is the gradient computed after s optimizer steps.

torch is imported only when these functions run; without it they raise ImportError saying how
to install the extra.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterable
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
    """A layer cannot be traced (unsupported module type or convolution option)."""


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


def conv_padding(module) -> tuple[int, int, int, int]:
    """Zero padding (top, bottom, left, right) in pixels that ``module`` (nn.Conv2d) applies.

    Resolves ``padding='valid'`` and ``'same'`` (which pads asymmetrically, extra on the
    bottom/right, for even effective kernel sizes, as PyTorch does).
    """
    kh, kw = _pair(module.kernel_size)
    dh, dw = _pair(module.dilation)
    if isinstance(module.padding, str):
        if module.padding == "valid":
            return (0, 0, 0, 0)
        th, tw = dh * (kh - 1), dw * (kw - 1)  # 'same' (stride 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    ph, pw = _pair(module.padding)
    return (ph, ph, pw, pw)


def _check_conv(module) -> None:
    if module.groups != 1:
        raise CaptureError(f"Conv2d with groups={module.groups} is not supported (the im2col "
                           "operands need groups=1); exclude the layer with layers=[...]")
    if module.padding_mode != "zeros":
        raise CaptureError(f"Conv2d with padding_mode={module.padding_mode!r} is not supported "
                           "(only 'zeros'); exclude the layer with layers=[...]")


def layer_operands(module, inp, grad_out):
    """The outer-product operands of one layer call: (x [K, n], delta [K, m]) torch tensors.

    Args:
        module: an ``nn.Linear`` or ``nn.Conv2d`` (groups=1, padding_mode='zeros').
        inp: the module's input tensor (or the forward hook's ``inputs`` tuple). Linear:
            [..., in_features]; Conv2d: [B, Cin, H, W] or unbatched [Cin, H, W].
        grad_out: dL/d(output) (or a ``grad_output`` tuple), same shape as the output.

    Returns:
        Linear: x = input reshaped [K, in_features], delta = grad_out reshaped
        [K, out_features], K = product of the leading dims (the batch).
        Conv2d: x = im2col(input) (``F.unfold`` with the module's kernel, stride, padding,
        dilation) as [B * Ho * Wo, Cin * kh * kw], delta = grad_out as [B * Ho * Wo, Cout],
        rows in (b, ho, wo) order.
        In both cases ``delta.T @ x == weight.grad.reshape(m, n)`` for that call. Same dtype
        and device as the inputs; no autograd graph.

    Raises:
        CaptureError for other module types, grouped or non-zero-padded convolutions, or shapes
        that do not fit the module.
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
            return x.reshape(-1, n), g.reshape(-1, m)
        if isinstance(module, torch.nn.Conv2d):
            _check_conv(module)
            if x.dim() == 3:
                x, g = x.unsqueeze(0), g.unsqueeze(0)
            cin, cout = module.in_channels, module.out_channels
            if x.dim() != 4 or x.shape[1] != cin or g.dim() != 4 or g.shape[1] != cout:
                raise CaptureError(f"Conv2d({cin}, {cout}): input {list(x.shape)} and "
                                   f"grad_output {list(g.shape)} do not fit")
            kh, kw = _pair(module.kernel_size)
            top, bottom, left, right = conv_padding(module)
            if top == bottom and left == right:
                cols = F.unfold(x, (kh, kw), dilation=_pair(module.dilation),
                                padding=(top, left), stride=_pair(module.stride))
            else:
                cols = F.unfold(F.pad(x, (left, right, top, bottom)), (kh, kw),
                                dilation=_pair(module.dilation), padding=0,
                                stride=_pair(module.stride))
            b, _, ho, wo = g.shape
            if cols.shape[2] != ho * wo:
                raise CaptureError(f"Conv2d: im2col gives {cols.shape[2]} positions but "
                                   f"grad_output is {ho}x{wo}")
            xk = cols.transpose(1, 2).reshape(b * ho * wo, cin * kh * kw)
            dk = g.permute(0, 2, 3, 1).reshape(b * ho * wo, cout)
            return xk, dk
        raise CaptureError(f"cannot trace a {type(module).__name__}: only nn.Linear and "
                           "nn.Conv2d have outer-product weight updates here")


def conv_geometry(module, input_hw: tuple[int, int], output_hw: tuple[int, int]) -> dict:
    """The manifest's ``conv`` entry for an nn.Conv2d seen with the given input/output HxW."""
    top, bottom, left, right = conv_padding(module)
    padding = [top, left] if (top == bottom and left == right) else [top, bottom, left, right]
    return {"in_channels": module.in_channels, "out_channels": module.out_channels,
            "kernel_size": list(_pair(module.kernel_size)), "stride": list(_pair(module.stride)),
            "padding": padding, "dilation": list(_pair(module.dilation)),
            "groups": module.groups, "input_hw": list(input_hw), "output_hw": list(output_hw)}


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
        nn = self._torch.nn
        named = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)]
        if layers is None:
            chosen = named
        else:
            wanted = [layers] if isinstance(layers, str) else list(layers)
            by_name = dict(named)
            unknown = [w for w in wanted if w not in by_name]
            if unknown:
                raise TraceError(self.path, f"layers {unknown} are not nn.Linear/nn.Conv2d "
                                            f"modules of the model; it has {list(by_name)}")
            chosen = [(n, m) for n, m in named if n in set(wanted)]
        if not chosen:
            raise TraceError(self.path, "the model has no nn.Linear or nn.Conv2d layers to record")
        for name, m in chosen:
            if isinstance(m, nn.Conv2d):
                try:
                    _check_conv(m)
                except CaptureError as exc:
                    raise CaptureError(f"layer {name!r}: {exc}") from None
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
        def hook(mod, inputs, output):
            torch = self._torch
            if not self.recording() or not torch.is_grad_enabled():
                return
            if not isinstance(output, torch.Tensor) or not output.requires_grad:
                return
            inp = _first(inputs).detach()
            out_hw = tuple(output.shape[-2:]) if isinstance(mod, torch.nn.Conv2d) else None
            in_hw = tuple(inp.shape[-2:]) if isinstance(mod, torch.nn.Conv2d) else None

            def on_grad(grad):
                self._collect(name, mod, inp, grad, in_hw, out_hw)

            output.register_hook(on_grad)
        return hook

    def _collect(self, name, mod, inp, grad, in_hw, out_hw) -> None:
        torch = self._torch
        x, d = layer_operands(mod, inp, grad)
        tdt = getattr(torch, self.dtype)
        slot = self._pending.setdefault(name, {"parts": [], "batch": 0, "hw": [],
                                               "module": mod})
        slot["parts"].append((self._stash(x.to(dtype=tdt).cpu().numpy()),
                              self._stash(d.to(dtype=tdt).cpu().numpy())))
        if in_hw is not None:  # conv: [B, C, H, W] or unbatched [C, H, W]
            slot["batch"] += int(inp.shape[0]) if inp.dim() == 4 else 1
            slot["hw"].append((in_hw, out_hw))
        else:  # linear: [B, ..., in] or unbatched [in]
            slot["batch"] += int(inp.shape[0]) if inp.dim() >= 2 else 1

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
            for name in self.layers:
                if name in pending:
                    self._write_layer(name, pending.pop(name), torch)
        finally:
            self._pending_bytes = 0
            if self._scratch is not None:
                for f in self._scratch.iterdir():
                    f.unlink()

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
        if isinstance(mod, torch.nn.Conv2d):
            in_hw, out_hw = slot["hw"][0]
            conv = conv_geometry(mod, in_hw, out_hw)
            sizes = sorted({h[0] for h in slot["hw"]})
            if len(sizes) > 1:  # calls with different input sizes
                conv["input_hw_all"] = [list(t) for t in sizes]
            kind = "conv2d"
        else:
            conv, kind = None, "linear"
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
    """Record gradient operands of ``model``'s Linear/Conv2d layers during training.

    Use as ``with record(model, path, steps=...) as rec:`` around a training loop that calls
    ``rec.step()`` after each optimizer step. The trace directory appears atomically when the
    block ends without an exception (an exception discards it).

    Args:
        model: a ``torch.nn.Module``.
        path: trace directory to create.
        layers: module names (as in ``model.named_modules()``) to record; None = every
            nn.Linear and nn.Conv2d. Grouped or non-zero-padded convs raise CaptureError.
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
