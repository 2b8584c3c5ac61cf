"""Targets that misbehave the way kernels under development do: the runner must turn each into a verdict.

They are not bugs of the convolution's arithmetic (those are in ``mutants``) but of
its process: a native crash, an exit from inside the call, a hang in C code that
never gives the interpreter back, a Python loop that never ends, an exception
with a message of megabytes, a target that declines everything, torch
raising ``NotImplementedError`` from inside a kernel (which is a defect, not a
decline), and a kernel cache keyed on too little, whose wrong results need the
calls made before them. Each is correct wherever it does not misbehave.
"""

from __future__ import annotations

import ctypes
import os
import re

import torch
from torch import Tensor

from conv2d.zoo._common import Conv2dCall, base_conv2d, conv2d_signature

__all__ = [
    "declines_everything",
    "exits_on_large_batches",
    "hangs_in_c_on_dilation",
    "huge_message_on_float16",
    "raises_system_exit_on_bias",
    "segfaults_on_groups",
    "spins_on_strides",
    "stale_kernel_cache",
    "torch_not_implemented",
    "torch_not_implemented_with_bias",
]


@conv2d_signature
def segfaults_on_groups(c: Conv2dCall) -> Tensor:
    """Dereferences a null pointer (SIGSEGV) on grouped convolutions."""
    if c.groups > 1:
        ctypes.string_at(0)
    return base_conv2d(c)


@conv2d_signature
def exits_on_large_batches(c: Conv2dCall) -> Tensor:
    """Ends the process with ``os._exit(0)`` (a "success") on batches larger than 3."""
    if c.input.dim() == 4 and c.input.shape[0] > 3:
        os._exit(0)
    return base_conv2d(c)


@conv2d_signature
def raises_system_exit_on_bias(c: Conv2dCall) -> Tensor:
    """Raises ``SystemExit(0)`` whenever a bias is given."""
    if c.bias is not None:
        raise SystemExit(0)
    return base_conv2d(c)


@conv2d_signature
def hangs_in_c_on_dilation(c: Conv2dCall) -> Tensor:
    """Spins in C code that holds the interpreter lock (a catastrophic regex) on dilated convolutions."""
    if c.dilation not in (1, (1, 1)):
        re.match(r"(a+)+$", "a" * 64 + "b")  # exponential backtracking inside the C regex engine
    return base_conv2d(c)


@conv2d_signature
def spins_on_strides(c: Conv2dCall) -> Tensor:
    """Spins forever in Python (``while True: pass``) on strided convolutions; the core's result otherwise.

    The core, not the host's F.conv2d: the verdict on this target must not depend on the host's kernels.
    """
    if any(s > 1 for s in ((c.stride, c.stride) if isinstance(c.stride, int) else c.stride)):
        while True:
            pass
    from conv2d.functional import conv2d

    return conv2d(*c)  # type: ignore[arg-type]


@conv2d_signature
def huge_message_on_float16(c: Conv2dCall) -> Tensor:
    """Raises a ``RuntimeError`` with a 5 MB message on float16 input."""
    if c.input.dtype == torch.float16:
        raise RuntimeError("float16 is not handled: " + "x" * 5_000_000)
    return base_conv2d(c)


@conv2d_signature
def declines_everything(c: Conv2dCall) -> Tensor:
    """Raises ``NotImplementedError`` itself on every call: it supports nothing."""
    raise NotImplementedError("not written yet")


@conv2d_signature
def torch_not_implemented(c: Conv2dCall) -> Tensor:
    """A broken kernel: ``y ^ y`` on floats, so torch raises NotImplementedError on every call."""
    y = base_conv2d(c)
    return y ^ y


@conv2d_signature
def torch_not_implemented_with_bias(c: Conv2dCall) -> Tensor:
    """A broken bias path: ``y & bias`` on floats, so torch raises NotImplementedError whenever a bias is given."""
    y = base_conv2d(c._replace(bias=None))
    if c.bias is not None:
        return y & c.bias.view(-1, 1, 1)
    return y


#: The geometry each "compiled kernel" of :func:`stale_kernel_cache` was built for, by its key.
_KERNELS: dict[tuple[object, ...], Conv2dCall] = {}


@conv2d_signature
def stale_kernel_cache(c: Conv2dCall) -> Tensor:
    """Caches a "compiled kernel" per input rank and dtype, and keeps the stride, padding and dilation of the
    first call that built it: later calls with other ones get the first call's geometry.

    The bug class of a JIT or autotuning cache whose key leaves out a parameter the kernel
    was specialised on. A case fails only after another call of the same rank and dtype, so
    each of its failures holds when checked alone in a fresh process.
    """
    built = _KERNELS.setdefault((c.input.dim(), c.input.dtype), c)
    return base_conv2d(c._replace(stride=built.stride, padding=built.padding, dilation=built.dilation))
