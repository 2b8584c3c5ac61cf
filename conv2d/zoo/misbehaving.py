"""Targets that misbehave the way kernels under development do: the runner must turn each into a verdict.

They are not bugs of the convolution's arithmetic (those are in ``mutants``) but of
its process: a native crash, an exit from inside the call, a hang in C code that
never gives the interpreter back, a Python loop that never ends, an exception
with a message of megabytes, a target that declines everything, and torch
raising ``NotImplementedError`` from inside a kernel (which is a defect, not a
decline). Each is correct wherever it does not misbehave.
"""

from __future__ import annotations

import ctypes
import os
import re

import torch
from torch import Tensor

from conv2d.zoo._common import IntPair, PaddingArg
from conv2d.zoo.correct import im2col

__all__ = [
    "declines_everything",
    "exits_on_large_batches",
    "hangs_in_c_on_dilation",
    "huge_message_on_float16",
    "raises_system_exit_on_bias",
    "segfaults_on_groups",
    "spins_on_strides",
    "torch_not_implemented",
    "torch_not_implemented_with_bias",
]


def _conv(input: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, dilation, groups) -> Tensor:
    return im2col(input, weight, bias, stride, padding, dilation, groups)


def segfaults_on_groups(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Dereferences a null pointer (SIGSEGV) on grouped convolutions."""
    if groups > 1:
        ctypes.string_at(0)
    return _conv(input, weight, bias, stride, padding, dilation, groups)


def exits_on_large_batches(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Ends the process with ``os._exit(0)`` (a "success") on batches larger than 3."""
    if input.dim() == 4 and input.shape[0] > 3:
        os._exit(0)
    return _conv(input, weight, bias, stride, padding, dilation, groups)


def raises_system_exit_on_bias(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Raises ``SystemExit(0)`` whenever a bias is given."""
    if bias is not None:
        raise SystemExit(0)
    return _conv(input, weight, bias, stride, padding, dilation, groups)


def hangs_in_c_on_dilation(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Spins in C code that holds the interpreter lock (a catastrophic regex) on dilated convolutions."""
    if dilation not in (1, (1, 1)):
        re.match(r"(a+)+$", "a" * 64 + "b")  # exponential backtracking inside the C regex engine
    return _conv(input, weight, bias, stride, padding, dilation, groups)


def spins_on_strides(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Spins forever in Python (``while True: pass``) on strided convolutions; the core's result otherwise.

    The core, not the host's F.conv2d: the verdict on this target must not depend on the host's kernels.
    """
    if any(s > 1 for s in ((stride, stride) if isinstance(stride, int) else stride)):
        while True:
            pass
    from conv2d.functional import conv2d

    return conv2d(input, weight, bias, stride, padding, dilation, groups)  # type: ignore[arg-type]


def huge_message_on_float16(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Raises a ``RuntimeError`` with a 5 MB message on float16 input."""
    if input.dtype == torch.float16:
        raise RuntimeError("float16 is not handled: " + "x" * 5_000_000)
    return _conv(input, weight, bias, stride, padding, dilation, groups)


def declines_everything(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Raises ``NotImplementedError`` itself on every call: it supports nothing."""
    raise NotImplementedError("not written yet")


def torch_not_implemented(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """A broken kernel: ``y ^ y`` on floats, so torch raises NotImplementedError on every call."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    return y ^ y


def torch_not_implemented_with_bias(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """A broken bias path: ``y & bias`` on floats, so torch raises NotImplementedError whenever a bias is given."""
    y = _conv(input, weight, None, stride, padding, dilation, groups)
    if bias is not None:
        return y & bias.view(-1, 1, 1)
    return y
