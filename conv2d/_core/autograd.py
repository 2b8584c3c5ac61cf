"""Differentiation to any order: the strategy interface and the three autograd functions around it.

Every strategy is a bilinear map ``F(x, w)`` (the convolution in that strategy's own weight
layout ``w``) together with its two adjoints, computed by ``backward``::

    D_x(g, w) = (dF/dx)^T g      (the input gradient, shaped like x)
    D_w(x, g) = (dF/dw)^T g      (the weight gradient, shaped like w)

The three maps are each other's derivatives: <D_x(g, w), h> = <g, F(h, w)> and
<D_w(x, g), v> = <g, F(x, v)> = <D_x(g, v), x>. So the backward pass of each is made of the
other two, and wrapping all three as autograd functions (:class:`Conv`, :class:`InputGrad`,
:class:`WeightGrad`) makes the core differentiable to any order, with no convolution operator
anywhere. When the backward pass does not build a graph (the usual first-order case),
:class:`Conv` runs the strategy's fused backward instead, which shares work between the two
gradients.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch.autograd.function import FunctionCtx

from conv2d._core.geometry import Geometry

__all__ = ["BackwardCall", "Conv", "Gradients", "InputGrad", "Strategy", "WeightGrad"]

#: What :meth:`Strategy.backward` returns: the input gradient and the weight gradient, each if asked for.
Gradients = tuple[torch.Tensor | None, torch.Tensor | None]


@dataclasses.dataclass(frozen=True)
class BackwardCall:
    """One call of :meth:`Strategy.backward`: what it is given, and which gradients it is asked for.

    The input gradient is asked for if ``need_x`` (``taps`` is then given), the weight
    gradient, of shape ``shape``, if ``need_w`` (``x`` is then given, and ``kept`` holds
    what ``forward`` kept, or is empty). ``grad`` is the output gradient.
    """

    x: torch.Tensor | None
    taps: torch.Tensor | None
    grad: torch.Tensor
    geo: Geometry
    need_x: bool
    need_w: bool
    shape: torch.Size
    kept: list[torch.Tensor]


class Conv(torch.autograd.Function):
    """``F(x, w) + bias`` for one strategy; its backward is ``D_x`` and ``D_w`` (and the bias gradient)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        x: torch.Tensor,
        taps: torch.Tensor,
        bias: torch.Tensor | None,
        geo: Geometry,
        impl: type[Strategy],
    ) -> torch.Tensor:
        out, kept = impl.forward(x, taps, bias, geo)
        _keep(ctx, geo, impl, x, taps, *kept)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, taps, *kept = ctx.saved_tensors
        geo, impl = ctx.geo, ctx.impl
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if 0 in grad.stride() and grad.numel() > 1:
            # a broadcast gradient (``y.sum().backward()`` hands over an expanded scalar): the
            # strategies' products and copies are several times slower on zero strides
            grad = grad.contiguous(memory_format=geo.fmt)
        if torch.is_grad_enabled():
            d_x = InputGrad.apply(grad, taps, geo, impl) if need_x else None
            d_w = WeightGrad.apply(x, grad, geo, impl, taps.shape) if need_w else None
        else:
            d_x, d_w = impl.backward(BackwardCall(x, taps, grad, geo, need_x, need_w, taps.shape, kept))
        d_b = grad.sum(dim=(0, 2, 3)) if need_b else None
        return d_x, d_w, d_b, None, None


class InputGrad(torch.autograd.Function):
    """``D_x(g, w)``, the input gradient; its backward is ``F(h, w)`` for ``g`` and ``D_w(h, g)`` for ``w``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, grad: torch.Tensor, taps: torch.Tensor, geo: Geometry, impl: type[Strategy]
    ) -> torch.Tensor:
        d_x, _ = impl.backward(BackwardCall(None, taps, grad, geo, True, False, taps.shape, []))
        assert d_x is not None
        _keep(ctx, geo, impl, grad, taps)
        return d_x

    @staticmethod
    def backward(ctx: Any, h: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad, taps = ctx.saved_tensors
        geo, impl = ctx.geo, ctx.impl
        d_grad = Conv.apply(h, taps, None, geo, impl) if ctx.needs_input_grad[0] else None
        d_taps = WeightGrad.apply(h, grad, geo, impl, taps.shape) if ctx.needs_input_grad[1] else None
        return d_grad, d_taps, None, None


# Deliberately parallel to InputGrad: the two adjoints, each differentiated through the other and Conv.
class WeightGrad(torch.autograd.Function):
    """``D_w(x, g)``, the weight gradient; its backward is ``D_x(g, v)`` for ``x`` and ``F(x, v)`` for ``g``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        x: torch.Tensor,
        grad: torch.Tensor,
        geo: Geometry,
        impl: type[Strategy],
        shape: torch.Size,
    ) -> torch.Tensor:
        _, d_w = impl.backward(BackwardCall(x, None, grad, geo, False, True, shape, []))
        assert d_w is not None
        _keep(ctx, geo, impl, x, grad)
        return d_w

    @staticmethod
    def backward(ctx: Any, v: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, grad = ctx.saved_tensors
        geo, impl = ctx.geo, ctx.impl
        d_x = InputGrad.apply(grad, v, geo, impl) if ctx.needs_input_grad[0] else None
        d_grad = Conv.apply(x, v, None, geo, impl) if ctx.needs_input_grad[1] else None
        return d_x, d_grad, None, None, None


def _keep(ctx: Any, geo: Geometry, impl: type[Strategy], *tensors: torch.Tensor) -> None:
    """Save ``tensors`` for the backward pass, with the call's geometry and strategy."""
    ctx.save_for_backward(*tensors)
    ctx.geo, ctx.impl = geo, impl


class Strategy:
    """One way of computing ``F(x, w) + bias`` and the adjoints ``D_x`` and ``D_w``, without autograd.

    ``forward`` returns the output and tensors worth keeping for the backward
    pass (an arrangement of ``x``), or none. ``backward`` returns the gradients a
    :class:`BackwardCall` asks for.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    @staticmethod
    def backward(call: BackwardCall) -> Gradients:
        raise NotImplementedError
