"""Mutants whose bug is in the runtime: nondeterminism, input mutation, buffer reuse, threads, global state.

Each computes the right values on a single call in a fresh process; its bug shows
across calls, threads or the caller's tensors. ``WITNESSES`` maps each name to a
small, deterministic input on which the bug shows.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import (
    Conv2dCall,
    base_conv2d,
    case,
    compute_dtype,
    conv,
    conv2d_signature,
    registrar,
    unbatch,
)

__all__ = [
    "WITNESSES",
    "cached_output_buffer",
    "identity_kernel_returns_input",
    "input_scaled_in_place",
    "leaves_deterministic_mode_on",
    "nondeterministic_channel_chunks",
    "resets_default_dtype",
    "shared_workspace",
    "weight_flipped_in_place",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("conv2d")
# The mutants below share one form on purpose (@_mutant, @conv2d_signature, a docstring naming
# the bug, a short body around the zoo's correct convolution): each differs only by its own bug.

_CALLS = itertools.count()
_ARENA: dict[tuple[Any, ...], Tensor] = {}
_WORKSPACE: dict[tuple[Any, ...], Tensor] = {}


# -- nondeterminism -------------------------------------------------------------------------------
@_mutant(
    Category.NONDETERMINISM,
    "run-to-run differences from a changing reduction order (pytorch/pytorch#116369: CPU Conv1d "
    "dispatching to different kernels within one run; cuDNN's atomics-based algorithms).",
    lambda: case((2, 24, 6, 6), (4, 24, 3, 3)),
)
@conv2d_signature
def nondeterministic_channel_chunks(c: Conv2dCall) -> Tensor:
    """For C_in/groups > 8, sums 4-channel partial results in an order that rotates from call to call."""
    per_group = c.weight.shape[1]
    if per_group <= 8:
        return base_conv2d(c)
    x, geo = c.normalise()
    dtype = compute_dtype(c.input.dtype)
    xg = F.pad(x, geo.fpad).to(dtype).unflatten(1, (c.groups, -1))
    starts = list(range(0, per_group, 4))
    turn = next(_CALLS) % len(starts)
    acc = sum(
        conv(
            xg[:, :, s : s + 4].flatten(1, 2), c.weight[:, s : s + 4].to(dtype), None, geo, pads=(0, 0, 0, 0)
        )
        for s in starts[turn:] + starts[:turn]
    )
    assert isinstance(acc, Tensor)
    acc = acc if c.bias is None else acc + c.bias.to(dtype).view(1, -1, 1, 1)
    return unbatch(acc.to(c.input.dtype), geo.batched)


# -- input mutation -------------------------------------------------------------------------------
@_mutant(
    Category.INPUT_MUTATION,
    "operators that write into their weight argument (hpi-xnor/BMXNet#30: QFullyConnected quantizes "
    "into the input weight tensor); here a large-kernel path flips the kernel in place and forgets it.",
    lambda: case((2, 3, 8, 8), (4, 3, 5, 5)),
)
@conv2d_signature
def weight_flipped_in_place(c: Conv2dCall) -> Tensor:
    """Correct result, but for kernels of 25+ taps it leaves the caller's weight flipped (a true-convolution path)."""
    if c.weight.shape[-2] * c.weight.shape[-1] < 25:
        return base_conv2d(c)
    with torch.no_grad():
        c.weight.copy_(c.weight.flip(-2, -1))
    return base_conv2d(c._replace(weight=c.weight.flip(-2, -1)))


@_mutant(
    Category.INPUT_MUTATION,
    "overflow guards that rescale the caller's tensor instead of a copy (the bug class; compare "
    "hpi-xnor/BMXNet#30 for operators writing into their arguments).",
    lambda: (
        (torch.full((1, 2, 5, 5), 300.0, dtype=torch.float16), torch.ones(2, 2, 3, 3, dtype=torch.float16)),
        {},
    ),
)
@conv2d_signature
def input_scaled_in_place(c: Conv2dCall) -> Tensor:
    """Correct float16 result, but when max|input| > 256 it divides the caller's input by 16 in place."""
    if c.input.dtype != torch.float16 or float(c.input.detach().abs().max()) <= 256:
        return base_conv2d(c)
    with torch.no_grad():
        c.input.mul_(1 / 16)
    scaled_bias = None if c.bias is None else c.bias / 16
    return base_conv2d(c._replace(bias=scaled_bias)) * 16


# -- output buffer reuse --------------------------------------------------------------------------
@_mutant(
    Category.BUFFER_REUSE,
    "torch_migraphx returning the same preallocated output buffers on every call "
    "(ROCm/torch_migraphx#247: out1 and out2 referencing the same data).",
    lambda: case((1, 1, 48, 48), (16, 1, 3, 3), padding=1),
)
@conv2d_signature
def cached_output_buffer(c: Conv2dCall) -> Tensor:
    """Without autograd, outputs above 32768 elements go into one cached buffer that the next call overwrites."""
    out = base_conv2d(c)
    if out.numel() <= 32768 or out.requires_grad:
        return out
    key = (tuple(out.shape), out.stride(), out.dtype, out.device)
    return _ARENA.setdefault(key, torch.empty_like(out)).copy_(out)


@_mutant(
    Category.BUFFER_REUSE,
    "graph rewrites that elide an identity operation and alias its input "
    "(the bug class; compare pytorch/xla#1727 on aliasing inputs with outputs).",
    lambda: (
        (torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0)), torch.eye(3).view(3, 3, 1, 1)),
        {},
    ),
)
@conv2d_signature
def identity_kernel_returns_input(c: Conv2dCall) -> Tensor:
    """For an identity 1x1 weight without bias, returns a view of the input instead of a new tensor."""
    _, geo = c.normalise()
    o, ci = c.weight.shape[:2]
    identity = (
        c.bias is None
        and c.groups == 1
        and o == ci
        and geo.kernel == (1, 1)
        and geo.stride == (1, 1)
        and geo.fpad == (0, 0, 0, 0)
        and torch.equal(
            c.weight.detach().reshape(o, ci), torch.eye(o, dtype=c.weight.dtype, device=c.weight.device)
        )
    )
    if identity:
        return c.input.view_as(c.input)
    return base_conv2d(c)


# -- threads and global state ---------------------------------------------------------------------
@_mutant(
    Category.THREAD_SAFETY,
    "module-level scratch buffers shared by every call (the bug class of static workspaces in "
    "hand-written kernels), so two threads calling at once overwrite each other's results.",
    lambda: case((1, 2, 5, 5), (3, 2, 3, 3)),
)
@conv2d_signature
def shared_workspace(c: Conv2dCall) -> Tensor:
    """Writes each result into one module-level workspace per shape, then copies it out after a pause."""
    out = base_conv2d(c)
    key = (tuple(out.shape), out.dtype, out.device)
    workspace = _WORKSPACE.setdefault(key, torch.empty_like(out))
    with torch.no_grad():
        workspace.copy_(out)
    time.sleep(0.002)  # the window in which another thread's call overwrites the workspace
    return out if out.requires_grad else workspace.clone()


@_mutant(
    Category.GLOBAL_STATE,
    "kernels that switch a global mode for their own speed and leave it switched (the bug class; "
    "compare libraries that call torch.use_deterministic_algorithms or set_flush_denormal on import).",
    lambda: case((1, 2, 5, 5), (3, 2, 3, 3)),
)
@conv2d_signature
def leaves_deterministic_mode_on(c: Conv2dCall) -> Tensor:
    """Turns torch's deterministic-algorithms mode on and leaves it on."""
    torch.use_deterministic_algorithms(True)
    return base_conv2d(c)


@_mutant(
    Category.GLOBAL_STATE,
    "libraries that call torch.set_default_dtype(torch.float32) to be sure of float32 tensors and so "
    "reset a caller's float64 default (the bug class); a before/after comparison under torch's own "
    "default sees no change.",
    lambda: case((1, 2, 5, 5), (3, 2, 3, 3)),
)
@conv2d_signature
def resets_default_dtype(c: Conv2dCall) -> Tensor:
    """Sets torch's default dtype to float32 on every call, whatever the caller had set."""
    torch.set_default_dtype(torch.float32)
    return base_conv2d(c)
