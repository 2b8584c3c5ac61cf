"""A hostile host: what torch's kernels do on other CPUs and GPUs, emulated on this one.

The project's suite and the gate's verdicts must not depend on the host's
kernels. Every new CPU model has shown something the authors' machine could
not: an FFT that rounds differently, bfloat16 subnormals flushed by AMX, a
segfault in bfloat16, wrong float32 values from oneDNN. This module makes any
machine such a host, so that independence from the host is tested everywhere.

Set ``CONV2D_HOSTILE_HOST=1`` (``pytest --hostile-host`` and ``tox -e hostile``
set it): importing :mod:`conv2d` then calls :func:`install` in that process and
every process it starts (gate workers, probes, test workers). The host's
``torch.nn.functional.conv2d`` (``torch.conv2d``, ``nn.Conv2d``) and its matrix
products are swapped for emulations of these faults:

======================================  ===================================================================
``float16/bfloat16 subnormals``         flushed to zero in the convolution and in half-precision matrix
                                        products, inputs and results (AMX's bfloat16 denormals-are-zero;
                                        GPU fast paths in float16)
``float32 subnormals``                  the float32 convolution runs with flush-to-zero and
                                        denormals-are-zero (``torch.set_flush_denormal(True)`` for the
                                        call, and its inputs and results flushed)
wrong values                            in the region of the registered torch bug
                                        ``float32-channels-last-slice-wrong-values`` the convolution's
                                        result is off by one
segfault                                in the region of ``bfloat16-dilated-segfault`` the process dies
                                        with SIGSEGV
======================================  ===================================================================

The regions are the registry's own (:mod:`conv2d.gate.upstream`), and each
emulated fault is a registered entry that the registry's probes find on this
host: a verdict on the hostile ``F.conv2d`` labels every failure it causes as
known. The emulations act only in the call they replace, and leave torch's
global settings as they found them. The gate's float64 reference is bound to
``torch.ops.aten`` and never sees them.
"""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["ENVIRONMENT_VARIABLE", "FAULTS", "active", "install"]

#: Set (to anything but "" or "0") to make every process that imports conv2d a hostile host.
ENVIRONMENT_VARIABLE = "CONV2D_HOSTILE_HOST"
#: The registered entries the hostile host emulates, by the name the registry gives them.
FAULTS: tuple[str, ...] = (
    "bfloat16-subnormals-flushed",
    "float16-subnormals-flushed",
    "float32-subnormals-flushed",
    "float32-channels-last-slice-wrong-values",
    "bfloat16-dilated-segfault",
)
_HALF = (torch.float16, torch.bfloat16)
_MARK = "__conv2d_hostile__"
_MATRIX_PRODUCTS: tuple[tuple[Any, str], ...] = (
    (torch, "matmul"),
    (torch, "mm"),
    (torch, "bmm"),
    (torch.Tensor, "matmul"),
    (torch.Tensor, "__matmul__"),
    (torch.Tensor, "mm"),
    (torch.Tensor, "bmm"),
)


def active() -> bool:
    """Whether this process was asked to be a hostile host."""
    return os.environ.get(ENVIRONMENT_VARIABLE, "") not in ("", "0")


def _flush(t: Any, dtypes: tuple[torch.dtype, ...]) -> Any:
    """``t`` with its subnormal elements replaced by zero, where ``t`` is a tensor of one of ``dtypes``."""
    if not isinstance(t, torch.Tensor) or t.dtype not in dtypes:
        return t
    tiny = torch.finfo(t.dtype).tiny
    subnormal = (t != 0) & (t.abs() < tiny)  # zeros stay themselves: their gradient must still flow
    if not bool(subnormal.any()):  # nothing to flush: the very tensor, strides and all
        return t
    return torch.where(subnormal, torch.zeros_like(t), t)


def _hostile_conv(conv: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    from conv2d.gate.hostcalls import call_args
    from conv2d.gate.upstream import BUGS

    regions = {bug.name: bug.affects for bug in BUGS}

    @functools.wraps(conv)
    def hostile_conv2d(*args: Any, **kwargs: Any) -> torch.Tensor:
        call = call_args(args, kwargs)
        if call is None:  # arguments torch itself rejects: let it say so
            return conv(*args, **kwargs)
        if _inside(regions["bfloat16-dilated-segfault"], call):
            os.kill(os.getpid(), signal.SIGSEGV)
        dtype = call.input.dtype
        flushing = (*_HALF, torch.float32)
        flushed = call.replace(input=_flush(call.input, flushing), weight=_flush(call.weight, flushing))
        flushed = flushed.replace(bias=_flush(call.bias, flushing))
        ftz = dtype == torch.float32 and not _flushing() and torch.set_flush_denormal(True)
        try:
            out = conv(flushed.input, flushed.weight, flushed.bias, **flushed.params())
        finally:
            if ftz:
                torch.set_flush_denormal(False)
        out = _flush(out, flushing)
        if _inside(regions["float32-channels-last-slice-wrong-values"], call):
            out = out + 1
        return out

    setattr(hostile_conv2d, _MARK, True)
    return hostile_conv2d


def _flushing() -> bool:
    """Whether float32 subnormals are flushed already (the caller's own setting, left as it is)."""
    return bool((torch.tensor([2.0**-140], dtype=torch.float32, device="cpu") * 1.0).item() == 0.0)


def _inside(affects: Callable[[Any], bool], call: Any) -> bool:
    try:
        return bool(affects(call))
    except Exception:
        return False


def _hostile_product(product: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(product)
    def hostile_product(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_flush(a, _HALF) for a in args)
        return _flush(product(*args, **kwargs), _HALF)

    setattr(hostile_product, _MARK, True)
    return hostile_product


def install() -> None:
    """Swap this process's convolution and matrix products for the emulations (idempotent)."""
    conv = torch.nn.functional.conv2d
    if getattr(conv, _MARK, False):
        return
    hostile = _hostile_conv(conv)
    torch.nn.functional.conv2d = hostile
    torch.conv2d = hostile
    for owner, attr in _MATRIX_PRODUCTS:
        setattr(owner, attr, _hostile_product(getattr(owner, attr)))
