"""Mutants whose bug is in the backward pass: wrong gradients, and autograd paths that lose them.

Each is an autograd Function with an exact forward and a flawed backward (or one
that computes its gradients outside autograd); ``WITNESSES`` maps each name to a
small, deterministic input, with gradients required, on which the bug shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import Conv2dCall, Geometry, case, conv, conv2d_signature, registrar, unbatch

__all__ = [
    "WITNESSES",
    "bias_grad_missing_grouped",
    "detached_double_backward",
    "frozen_weight_loses_input_grad",
    "grad_bias_batch_mean",
    "grad_input_ignores_dilation",
    "grad_input_ignores_stride",
    "grad_weight_groups_first_input",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("conv2d")
# The mutants below share one form on purpose (@_mutant, @conv2d_signature, a docstring naming
# the bug, a body that hands ``_flawed`` its flaw): each differs only by its own bug.

Grads = tuple[Tensor | None, Tensor | None, Tensor | None]
Flaw = Callable[[Grads, Tensor, Tensor, Tensor, Geometry], Grads]


def _exact_grads(x: Tensor, weight: Tensor, bias: Tensor | None, geo: Geometry, grad: Tensor) -> Grads:
    """The exact gradients of <conv(x, weight) + bias, grad> w.r.t. x, weight and bias."""
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_() for t in (x, weight)]
        b = None if bias is None else bias.detach().requires_grad_()
        out = conv(leaves[0], leaves[1], b, geo)
        grads = torch.autograd.grad(out, [*leaves, *([b] if b is not None else [])], grad)
    return grads[0], grads[1], grads[2] if b is not None else None


class _FlawedBackward(torch.autograd.Function):
    """F.conv2d forward; backward = the exact gradients passed through a flaw."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, geo: Geometry, flaw: Flaw
    ) -> Tensor:
        ctx.save_for_backward(x, weight, bias)
        ctx.geo, ctx.flaw = geo, flaw
        return conv(x, weight, bias, geo)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, bias = ctx.saved_tensors
        grads = ctx.flaw(_exact_grads(x, weight, bias, ctx.geo, grad), x, weight, grad, ctx.geo)
        return (*grads, None, None)


def _flawed(flaw: Flaw, c: Conv2dCall) -> Tensor:
    """The call ``c`` with an exact forward and a backward passed through ``flaw``."""
    x, geo = c.normalise()
    return unbatch(_FlawedBackward.apply(x, c.weight, c.bias, geo, flaw), geo.batched)


def _transposed_grad_input(
    grad: Tensor,
    weight: Tensor,
    geo: Geometry,
    shape: torch.Size,
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> Tensor:
    """grad_input by a transposed convolution with the given stride and dilation, fitted to the input."""
    gi = F.conv_transpose2d(grad, weight, None, stride, 0, 0, geo.groups, dilation)
    (hp, wp), top, left = geo.padded, geo.pad_h[0], geo.pad_w[0]
    gi = gi[..., :hp, :wp]
    gi = F.pad(gi, (0, wp - gi.shape[-1], 0, hp - gi.shape[-2]))
    return gi[..., top : top + shape[-2], left : left + shape[-1]]


def _flaw_grad_weight_groups(grads: Grads, x: Tensor, weight: Tensor, grad: Tensor, geo: Geometry) -> Grads:
    if geo.groups == 1:
        return grads
    first = x[:, : weight.shape[1]].repeat(1, geo.groups, 1, 1)
    return grads[0], _exact_grads(first, weight, None, geo, grad)[1], grads[2]


def _flaw_grad_input_dilation(grads: Grads, x: Tensor, weight: Tensor, grad: Tensor, geo: Geometry) -> Grads:
    if geo.dilation == (1, 1):
        return grads
    return _transposed_grad_input(grad, weight, geo, x.shape, geo.stride, (1, 1)), grads[1], grads[2]


def _flaw_grad_input_stride(grads: Grads, x: Tensor, weight: Tensor, grad: Tensor, geo: Geometry) -> Grads:
    if geo.stride == (1, 1):
        return grads
    return _transposed_grad_input(grad, weight, geo, x.shape, (1, 1), geo.dilation), grads[1], grads[2]


def _flaw_grad_bias_mean(grads: Grads, x: Tensor, weight: Tensor, grad: Tensor, geo: Geometry) -> Grads:
    gb = grads[2]
    return grads[0], grads[1], None if gb is None else gb / x.shape[0]


def _flaw_bias_grad_missing(grads: Grads, x: Tensor, weight: Tensor, grad: Tensor, geo: Geometry) -> Grads:
    return grads if geo.groups == 1 else (grads[0], grads[1], None)


class _FrozenWeightLosesInput(torch.autograd.Function):
    """Exact forward; backward drops the input gradient whenever the weight does not require grad."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, geo: Geometry) -> Tensor:
        ctx.save_for_backward(x, weight, bias)
        ctx.geo = geo
        return conv(x, weight, bias, geo)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, bias = ctx.saved_tensors
        gx, gw, gb = _exact_grads(x, weight, bias, ctx.geo, grad)
        if not ctx.needs_input_grad[1]:
            gx = None  # "only the weights train": the shortcut is wrong for a frozen weight
        return gx, gw, gb, None


# -- backward-only bugs --------------------------------------------------------------------------
@_mutant(
    Category.BACKWARD,
    "torch.nn.grad.conv2d_weight, wrong with groups > 1 (pytorch/pytorch#51430).",
    lambda: case((2, 4, 6, 6), (4, 2, 3, 3), groups=2, grad=True),
)
@conv2d_signature
def grad_weight_groups_first_input(c: Conv2dCall) -> Tensor:
    """Exact forward; with groups > 1, grad_weight of every group is computed from the first group's input."""
    return _flawed(_flaw_grad_weight_groups, c)


@_mutant(
    Category.BACKWARD,
    "backward-data kernels that support fewer parameters than their forward (the bug class; compare "
    "Zardinality/TF-deformable-conv#16, where two code paths disagreed once dilation was not 1).",
    lambda: case((2, 3, 9, 9), (4, 3, 3, 3), dilation=2, grad=True),
)
@conv2d_signature
def grad_input_ignores_dilation(c: Conv2dCall) -> Tensor:
    """Exact forward; grad_input is a transposed convolution with dilation 1."""
    return _flawed(_flaw_grad_input_dilation, c)


@_mutant(
    Category.BACKWARD,
    "oneDNN's backward-data convolution, incorrect when stride_w > 1, ic > 16 and iw < 17 "
    "(fujitsu/oneDNN#44).",
    lambda: case((2, 3, 9, 9), (4, 3, 3, 3), stride=2, grad=True),
)
@conv2d_signature
def grad_input_ignores_stride(c: Conv2dCall) -> Tensor:
    """Exact forward; grad_input is a transposed convolution with stride 1."""
    return _flawed(_flaw_grad_input_stride, c)


@_mutant(
    Category.BACKWARD,
    "bias gradients reduced the wrong way (snuspl/cruise#800 summed the bias error over the wrong "
    "axis): here averaged over the batch instead of summed.",
    lambda: case((3, 3, 6, 6), (4, 3, 3, 3), grad=True),
)
@conv2d_signature
def grad_bias_batch_mean(c: Conv2dCall) -> Tensor:
    """Exact forward; grad_bias is divided by the batch size (wrong whenever N > 1)."""
    return _flawed(_flaw_grad_bias_mean, c)


@_mutant(
    Category.BACKWARD,
    "torchao's QAT autograd functions, whose backward returned None in the bias slot "
    "(pytorch/ao#4817): the bias silently gets no gradient.",
    lambda: case((2, 4, 6, 6), (4, 2, 3, 3), groups=2, grad=True),
)
@conv2d_signature
def bias_grad_missing_grouped(c: Conv2dCall) -> Tensor:
    """Exact forward; with groups > 1 the backward returns no gradient for the bias."""
    return _flawed(_flaw_bias_grad_missing, c)


# -- autograd paths -------------------------------------------------------------------------------
@_mutant(
    Category.AUTOGRAD_PATH,
    "custom backward passes that compute the input gradient only alongside the weight gradient, so "
    "freezing the weight (fine-tuning) silently stops every earlier layer (the bug class).",
    lambda: case((1, 2, 5, 5), (3, 2, 3, 3), grad=True),
)
@conv2d_signature
def frozen_weight_loses_input_grad(c: Conv2dCall) -> Tensor:
    """Returns no input gradient when the weight is frozen (requires_grad=False)."""
    x, geo = c.normalise()
    return unbatch(_FrozenWeightLosesInput.apply(x, c.weight, c.bias, geo), geo.batched)


@_mutant(
    Category.AUTOGRAD_PATH,
    "custom autograd Functions whose backward computes exact gradients outside autograd, so gradient "
    "penalties (WGAN-GP), Hessian-vector products and MAML see zero second derivatives (the bug class).",
    lambda: case((1, 2, 5, 5), (3, 2, 3, 3), grad=True),
)
@conv2d_signature
def detached_double_backward(c: Conv2dCall) -> Tensor:
    """Exact first-order gradients, computed detached: the gradients themselves have no gradient."""
    return _flawed(lambda grads, *_: grads, c)
