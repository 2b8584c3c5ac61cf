"""The core: 2-D cross-correlation, true convolution and a from-scratch ``conv2d``.

``conv2d`` implements the whole ``torch.nn.functional.conv2d`` contract without
calling any of torch's convolution operators. It is built from tensor
primitives (padding, strided views, copies, elementwise multiply-adds, matrix
products) and picks one of five strategies per call:

* **pointwise** -- a 1x1 kernel without padding is a (strided) batched matrix
  product, differentiated by autograd.
* **shifted multiply-add** -- every output channel reading a single input
  channel (depthwise layers, ``corr2d``, ``convolve2d``): each kernel tap is one
  vectorised multiply-add of a shifted view of the zero-padded input planes.
* **same-size shifts** -- an alternative for stride 1 with an output the size of
  the input (off by default, see ``_SAME_SIZE_SHIFTS``): input and output planes
  share one flat layout, so each kernel tap is one multiply-add of the input
  planes shifted by a fixed number of cells, with no padded copy and no cropping.
* **plane im2col** -- with few input channels per group (an RGB stem), the
  kernel windows are gathered as pixel planes and multiplied by the weight in
  one product per group; input and output stay channels-first.
* **shifted matmul** -- everything else. The input is laid out channels-last as
  one matrix of grid cells (for stride ``s``, split into ``s*s`` phase grids) so
  that every kernel tap reads a *contiguous* row block of it, and the output is
  the sum over taps of ``rows @ weight[tap]`` with no copy per tap. With stride 1
  the zero padding after one row doubles as the padding before the next, so the
  grid is barely larger than the image. On CPU the products run over row blocks
  that stay in cache while all taps accumulate, and the batch is processed in
  chunks of images whose arrangement stays a few megabytes. For small images,
  where the grid's spare rows would cost too much, the taps are instead
  gathered channels-last into an im2col matrix and multiplied in one product.

Each of the last four strategies computes the convolution and its two adjoints
(the input gradient, as the transposed computation, and the weight gradient).
The three maps are each other's derivatives, so they are wrapped as three
autograd functions whose backward passes call one another: the core is
differentiable to any order (gradient penalties, Hessian-vector products,
MAML), and the higher derivatives are convolutions computed the same way.

float16 and bfloat16 are computed in float32 and rounded once at the end, the
precision F.conv2d promises for them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx

from conv2d._validation import (
    Padding4,
    Pair,
    as_int,
    as_pair,
    describe,
    require_floating_tensor,
    require_match,
    resolve_padding,
)

__all__ = ["conv2d", "convolve2d", "corr2d"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_MAX_ELEMENTWISE_MULTIPLIER = 4
"""Largest out_channels/groups handled by the elementwise (shifted multiply-add) strategies."""
_SAME_SIZE_SHIFTS = False
"""Whether same-size single-input-channel convolutions use the same-size shifts strategy instead of
shifted multiply-adds on zero-padded frames. Off: with freed memory reused (a caching allocator), frames
were faster on the benchmark's depthwise 3x3 layer (AMD EPYC, 2 threads: 2.57x / 2.21x of F.conv2d
forward / forward+backward against 3.73x / 3.70x; ``benchmarks/speed.py --strategies``); the strategy
saves the padded copy's page faults where every large block is fresh memory. Tests switch it on."""
_DOT_IMAGES = 8
"""Images per batched product in the same-size weight gradient (each product also forms this many wasted cross terms)."""
_SAME_BLOCK_ELEMS = 1 << 17
"""Values per block of planes and per CPU thread in the same-size shifts strategy (each thread's share of
a block's copies then stays in its core's L2 cache)."""
_DOT_BLOCK_ELEMS = 1 << 18
"""Values per block of planes for the same-size weight gradient on CPU, whatever the thread count (a few
images per block, so that each tap is one batched product rather than per-channel dot products)."""
_MIN_TAP_CHANNELS = 8
"""Fewest input channels per group for the channels-last strategies; thinner layers use plane im2col."""
_BLOCK_BYTES = 1 << 20
"""Output bytes per row block of the single-threaded shifted matmul on CPU (about a core's L2 cache)."""
_MIN_BLOCK_ROWS = 1024
"""Fewest rows per block, so each matrix product stays large enough to run at full speed."""
_CHUNK_BYTES = 8 << 20
"""Largest input arrangement built at once on CPU, in bytes."""
_IM2COL_WASTE_NUMERATOR = 64.0
"""im2col replaces per-tap products when the shifted grid's extra rows cost more
than the gathered copy, i.e. when ``grid_rows / output_rows - 1 > this / out_channels_per_group``."""


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """2-D cross-correlation of an ``(H, W)`` tensor with an ``(h, w)`` kernel.

    ``Y[i, j] = (X[i:i + h, j:j + w] * K).sum()`` for every valid position, so the
    output has shape ``(H - h + 1, W - w + 1)``. The output keeps ``X``'s dtype
    and device and is differentiable in ``X`` and ``K`` to any order.

    Raises:
        TypeError: ``X`` or ``K`` is not a floating-point tensor, or their dtypes differ.
        ValueError: either is not 2-D or is empty, they are on different devices,
            or ``K`` is larger than ``X`` in some dimension.
    """
    X, K = _check_planes("corr2d", X, K)
    if K.shape[0] > X.shape[0] or K.shape[1] > X.shape[1]:
        raise ValueError(
            f"corr2d: kernel K of shape {tuple(K.shape)} is larger than X of shape {tuple(X.shape)} in at "
            f"least one dimension, so no valid position exists; use a kernel no larger than X"
        )
    return _conv2d_nchw(X[None, None], K[None, None], None, (1, 1), (0, 0, 0, 0), (1, 1), 1, False)[0, 0]


def convolve2d(X: torch.Tensor, K: torch.Tensor, mode: str = "valid") -> torch.Tensor:
    """True 2-D convolution (flipped kernel) of two 2-D tensors, as ``scipy.signal.convolve2d``.

    ``mode`` selects the output, with scipy's conventions for ``X`` of shape
    ``(H, W)`` and ``K`` of shape ``(h, w)``:

    * ``"full"``: every overlap, shape ``(H + h - 1, W + w - 1)``.
    * ``"valid"``: positions without zero padding, shape ``(H - h + 1, W - w + 1)``.
      When ``K`` is at least as large as ``X`` in both dimensions the roles swap
      (convolution commutes) and the shape is ``(h - H + 1, w - W + 1)``.
    * ``"same"``: shape ``(H, W)``, centred on the full output; for an even
      kernel size the extra element is taken from the start, i.e. the window
      starts at ``(h - 1) // 2`` of the full output.

    The output keeps ``X``'s dtype and device and is differentiable in ``X`` and
    ``K`` to any order.

    Raises:
        TypeError: ``X`` or ``K`` is not a floating-point tensor, or their dtypes differ.
        ValueError: either is not 2-D or is empty, they are on different devices,
            ``mode`` is unknown, or in ``"valid"`` mode neither input is at least
            as large as the other in every dimension (scipy raises there too).
    """
    if not isinstance(mode, str) or mode not in ("valid", "full", "same"):
        raise ValueError(f"convolve2d: mode={mode!r} is not supported; expected 'valid', 'full' or 'same'")
    X, K = _check_planes("convolve2d", X, K)
    h, w = K.shape
    pads: Padding4
    if mode == "full":
        pads = (h - 1, h - 1, w - 1, w - 1)
    elif mode == "same":
        pads = (h - 1 - (h - 1) // 2, (h - 1) // 2, w - 1 - (w - 1) // 2, (w - 1) // 2)
    else:
        x_covers = X.shape[0] >= h and X.shape[1] >= w
        k_covers = h >= X.shape[0] and w >= X.shape[1]
        if not (x_covers or k_covers):
            raise ValueError(
                f"convolve2d: in 'valid' mode one input must be at least as large as the other in every "
                f"dimension, got X of shape {tuple(X.shape)} and K of shape {tuple(K.shape)}; "
                f"use mode='full' or 'same', or crop one of them"
            )
        if not x_covers:
            X, K = K, X
        pads = (0, 0, 0, 0)
    kernel = K.flip(0, 1)
    return _conv2d_nchw(X[None, None], kernel[None, None], None, (1, 1), pads, (1, 1), 1, False)[0, 0]


def conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution with the contract of ``torch.nn.functional.conv2d``, built from primitives.

    Args:
        input: ``(N, C_in, H, W)``, or unbatched ``(C_in, H, W)`` (the output is then unbatched).
        weight: ``(C_out, C_in / groups, kH, kW)``.
        bias: ``(C_out,)`` or ``None``.
        stride, dilation: an int ``>= 1`` or a pair of them (height, width).
        padding: an int ``>= 0``, a pair of them, ``"valid"`` (none) or ``"same"``
            (output size equals input size; requires stride 1; total padding
            ``dilation * (k - 1)`` per axis with the odd element at the bottom/right).
        groups: an int ``>= 1`` dividing both ``C_in`` and ``C_out``.

    Returns:
        ``(N, C_out, H_out, W_out)`` (or ``(C_out, H_out, W_out)``) with
        ``H_out = (H + pad_top + pad_bottom - dilation * (kH - 1) - 1) // stride + 1``
        (likewise ``W_out``), the dtype and device of ``input``; channels-last
        memory format when ``input`` or ``weight`` is channels-last, else contiguous.
        Gradients flow to ``input``, ``weight`` and ``bias`` (float16/bfloat16 are
        computed in float32), to any order: double backward (gradient penalties,
        Hessian-vector products) works for every configuration.

    Raises:
        TypeError: a tensor argument is not a dense floating-point tensor, dtypes
            differ, or stride/padding/dilation/groups are not ints (bools included)
            or pairs of ints.
        ValueError: wrong tensor ranks or shapes, devices differ, a value is out
            of range, an unknown padding string, ``"same"`` with stride > 1, channel
            counts not divisible by ``groups``, or a (dilated) kernel larger than
            the padded input.
    """
    fn = "conv2d"
    input = require_floating_tensor(fn, "input", input)
    weight = require_floating_tensor(fn, "weight", weight)
    if input.dim() not in (3, 4):
        hint = "; add batch and channel dims with input[None, None]" if input.dim() == 2 else ""
        raise ValueError(
            f"{fn}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got {describe(input)}{hint}"
        )
    if weight.dim() != 4:
        hint = "; for a single 2-D kernel use weight[None, None]" if weight.dim() == 2 else ""
        raise ValueError(
            f"{fn}: weight must be 4-D (out_channels, in_channels / groups, kH, kW), got {describe(weight)}{hint}"
        )
    require_match(fn, "weight", weight, "input", input)
    if bias is not None:
        bias = require_floating_tensor(fn, "bias", bias)
        require_match(fn, "bias", bias, "input", input)
    stride_ = as_pair(fn, "stride", stride, minimum=1)
    dilation_ = as_pair(fn, "dilation", dilation, minimum=1)
    groups_ = as_int(fn, "groups", groups, minimum=1)

    out_channels, group_channels, kh, kw = weight.shape
    in_channels = input.shape[-3]
    if kh == 0 or kw == 0 or out_channels == 0:
        raise ValueError(
            f"{fn}: weight must have out_channels >= 1 and a kernel of at least 1x1, got {describe(weight)}"
        )
    if in_channels == 0 or input.shape[-1] == 0 or input.shape[-2] == 0:
        raise ValueError(
            f"{fn}: input must have at least one channel and a non-empty image, got {describe(input)}"
        )
    if in_channels % groups_:
        raise ValueError(
            f"{fn}: in_channels={in_channels} (input.shape[-3]) is not divisible by groups={groups_}; "
            f"use a groups value that divides both channel counts"
        )
    if out_channels % groups_:
        raise ValueError(
            f"{fn}: out_channels={out_channels} (weight.shape[0]) is not divisible by groups={groups_}; "
            f"use a groups value that divides both channel counts"
        )
    if group_channels * groups_ != in_channels:
        raise ValueError(
            f"{fn}: weight.shape[1]={group_channels} does not match input channels {in_channels} / "
            f"groups={groups_}; expected weight of shape ({out_channels}, {in_channels // groups_}, {kh}, {kw})"
        )
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(
            f"{fn}: bias must be 1-D with out_channels={out_channels} elements, got {describe(bias)}"
        )
    pads = resolve_padding(fn, padding, (kh, kw), dilation_, stride_)
    height, width = input.shape[-2:]
    span = (dilation_[0] * (kh - 1) + 1, dilation_[1] * (kw - 1) + 1)
    padded = (height + pads[0] + pads[1], width + pads[2] + pads[3])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(
            f"{fn}: the kernel of size {(kh, kw)} with dilation={dilation_} spans {span}, larger than the "
            f"padded input {padded} (input {(height, width)} plus padding={padding!r}); "
            f"use a smaller kernel or dilation, or more padding"
        )
    if input.dim() == 3:
        return _conv2d_nchw(input[None], weight, bias, stride_, pads, dilation_, groups_, False)[0]
    channels_last = _is_channels_last(input) or _is_channels_last(weight)
    return _conv2d_nchw(input, weight, bias, stride_, pads, dilation_, groups_, channels_last)


def _check_planes(fn: str, X: object, K: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the two 2-D operands of ``corr2d``/``convolve2d``."""
    X = require_floating_tensor(fn, "X", X)
    K = require_floating_tensor(fn, "K", K)
    for name, t in (("X", X), ("K", K)):
        if t.dim() != 2:
            raise ValueError(
                f"{fn}: {name} must be 2-D (height, width), got {describe(t)}; "
                f"use conv2d for batched or multi-channel data"
            )
        if t.numel() == 0:
            raise ValueError(f"{fn}: {name} must not be empty, got {describe(t)}")
    require_match(fn, "K", K, "X", X)
    return X, K


def _is_channels_last(t: torch.Tensor) -> bool:
    """Whether ``t`` is a 4-D tensor stored channels-last (and not also plainly contiguous)."""
    return t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


def _conv2d_nchw(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Pair,
    pads: Padding4,
    dilation: Pair,
    groups: int,
    channels_last: bool,
) -> torch.Tensor:
    """Validated 4-D convolution: picks a strategy and returns the output in the requested layout."""
    if x.dtype in _LOW_PRECISION:
        wide_bias = None if bias is None else bias.float()
        out = _conv2d_nchw(
            x.float(), weight.float(), wide_bias, stride, pads, dilation, groups, channels_last
        )
        return out.to(x.dtype)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    o, cg, kh, kw = weight.shape
    og = o // groups
    if kh == 1 and kw == 1 and pads == (0, 0, 0, 0):
        return _pointwise(x, weight, bias, stride, groups, channels_last).contiguous(memory_format=fmt)
    geo = _geometry(x, weight, stride, pads, dilation, groups, fmt)
    if cg == 1 and og <= _MAX_ELEMENTWISE_MULTIPLIER:
        taps = weight.reshape(groups, og, kh * kw).permute(2, 0, 1).contiguous()
        if _SAME_SIZE_SHIFTS and stride == (1, 1) and (geo.ho, geo.wo) == (geo.h, geo.w):
            return _Conv.apply(x, taps, bias, geo, _SameSizeShifts)
        return _Conv.apply(x, taps, bias, geo, _ShiftedMultiplyAdd)
    if kh * kw > 1 and cg < _MIN_TAP_CHANNELS:
        geo = dataclasses.replace(geo, fmt=torch.contiguous_format, im2col=True)
        wmat = weight.reshape(groups, og, cg, kh * kw).transpose(2, 3).reshape(groups, og, kh * kw * cg)
        out = _Conv.apply(x, wmat, bias, geo, _PlaneMatmul)
        return out.contiguous(memory_format=fmt)
    waste = geo.hq * geo.wq / (geo.ho * geo.wo) - 1
    if kh * kw > 1 and waste > _IM2COL_WASTE_NUMERATOR / og:
        geo = dataclasses.replace(
            geo, hq=geo.ho, wq=geo.wo, phases=(0,), offsets=(0,), span=geo.ho * geo.wo, tail=0, im2col=True
        )
        taps = (
            weight.reshape(groups, og, cg, kh, kw).permute(0, 3, 4, 2, 1).reshape(1, groups, kh * kw * cg, og)
        )
    else:
        taps = weight.reshape(groups, og, cg, kh * kw).permute(3, 0, 2, 1)
    return _Conv.apply(x, taps.contiguous(), bias, geo, _ShiftedMatmul)


def _pointwise(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Pair,
    groups: int,
    channels_last: bool,
) -> torch.Tensor:
    """1x1 kernel, no padding: a matrix product over channels at every (strided) pixel."""
    xs = x if stride == (1, 1) else x[:, :, :: stride[0], :: stride[1]]
    n, c, ho, wo = xs.shape
    o = weight.shape[0]
    if channels_last and groups == 1:
        rows = xs.permute(0, 2, 3, 1).reshape(n * ho * wo, c)
        wmat = weight.reshape(o, c).t()
        flat = rows @ wmat if bias is None else torch.addmm(bias, rows, wmat)
        return flat.view(n, ho, wo, o).permute(0, 3, 1, 2)
    og, cg = o // groups, c // groups
    cols = xs.reshape(n * groups, cg, ho * wo)
    wmat = weight.reshape(1, groups, og, cg).expand(n, groups, og, cg).reshape(n * groups, og, cg)
    if bias is None:
        prod = torch.bmm(wmat, cols)
    else:
        shift = bias.reshape(1, groups, og, 1).expand(n, groups, og, 1).reshape(n * groups, og, 1)
        prod = torch.baddbmm(shift, wmat, cols)
    return prod.view(n, o, ho, wo)


@dataclasses.dataclass(frozen=True)
class _Geometry:
    """One convolution's shapes, and the flat grid layout of its padded input.

    Each image (and, for stride > 1, each of the ``sh * sw`` stride phases of it)
    is stored as an ``hq x wq`` grid of cells; output pixel ``(oh, ow)`` sits at
    cell ``oh * wq + ow`` of its image's grid and tap ``t`` reads the cell
    ``offsets[t]`` further on in phase grid ``phases[t]``. With stride 1 the grids
    are frames holding the image at its top-left padding offset, and the zeros
    after one row (or image) double as the padding before the next, so a grid is
    only ``max(pad)`` wider than the image rather than ``sum(pad)``; reads past
    the last image run into ``tail`` zero cells. With stride > 1 each phase grid
    is self-contained and only its first ``span`` cells are computed. Cells
    outside the ``ho x wo`` output are computed too and then dropped.

    ``im2col`` marks an arrangement that holds every tap's input values for
    each output pixel, multiplied in one product; in the channels-last one the
    grid is then exactly the output.
    """

    n: int
    c: int
    h: int
    w: int
    o: int
    groups: int
    kernel: Pair
    stride: Pair
    pads: Padding4
    dilation: Pair
    fmt: torch.memory_format
    ho: int
    wo: int
    hq: int
    wq: int
    phases: tuple[int, ...]
    offsets: tuple[int, ...]
    span: int
    tail: int
    im2col: bool = False


def _geometry(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: Pair,
    pads: Padding4,
    dilation: Pair,
    groups: int,
    fmt: torch.memory_format,
) -> _Geometry:
    """The grid layout for this call (see :class:`_Geometry`)."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    (sh, sw), (dh, dw) = stride, dilation
    pt, pb, pl, pr = pads
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    taps = [(i, j) for i in range(kh) for j in range(kw)]
    shape = (n, c, h, w, o, groups, (kh, kw), stride, pads, dilation, fmt, ho, wo)
    if (sh, sw) == (1, 1):
        hq, wq = max(h + max(pt, pb), ho), max(w + max(pl, pr), wo)
        offsets = tuple(i * dh * wq + j * dw for i, j in taps)
        return _Geometry(*shape, hq, wq, (0,) * len(taps), offsets, hq * wq, max(offsets))
    hq, wq = ho + dh * (kh - 1) // sh, wo + dw * (kw - 1) // sw
    phases = tuple(((i * dh) % sh) * sw + (j * dw) % sw for i, j in taps)
    offsets = tuple(((i * dh) // sh) * wq + (j * dw) // sw for i, j in taps)
    return _Geometry(*shape, hq, wq, phases, offsets, hq * wq - max(offsets), 0)


# --- Differentiation to any order -------------------------------------------------------------
#
# Every strategy below is a bilinear map ``F(x, w)`` (the convolution in that strategy's own weight
# layout ``w``) together with its two adjoints, computed by ``backward``:
#
#     D_x(g, w) = (dF/dx)^T g      (the input gradient, shaped like x)
#     D_w(x, g) = (dF/dw)^T g      (the weight gradient, shaped like w)
#
# The three maps are each other's derivatives: <D_x(g, w), h> = <g, F(h, w)> and
# <D_w(x, g), v> = <g, F(x, v)> = <D_x(g, v), x>. So the backward pass of each is made of the
# other two, and wrapping all three as autograd functions (_Conv, _InputGrad, _WeightGrad) makes
# the core differentiable to any order, with no convolution operator anywhere. When the backward
# pass does not build a graph (the usual first-order case), _Conv runs the strategy's fused
# backward instead, which shares work between the two gradients.


class _Conv(torch.autograd.Function):
    """``F(x, w) + bias`` for one strategy; its backward is ``D_x`` and ``D_w`` (and the bias gradient)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        x: torch.Tensor,
        taps: torch.Tensor,
        bias: torch.Tensor | None,
        geo: _Geometry,
        impl: type[_Strategy],
    ) -> torch.Tensor:
        out, kept = impl.forward(x, taps, bias, geo)
        ctx.save_for_backward(x, taps, *kept)
        ctx.geo, ctx.impl = geo, impl  # type: ignore[attr-defined]
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
            d_x = _InputGrad.apply(grad, taps, geo, impl) if need_x else None
            d_w = _WeightGrad.apply(x, grad, geo, impl, taps.shape) if need_w else None
        else:
            d_x, d_w = impl.backward(x, taps, grad, geo, need_x, need_w, taps.shape, kept)
        d_b = grad.sum(dim=(0, 2, 3)) if need_b else None
        return d_x, d_w, d_b, None, None


class _InputGrad(torch.autograd.Function):
    """``D_x(g, w)``, the input gradient; its backward is ``F(h, w)`` for ``g`` and ``D_w(h, g)`` for ``w``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, grad: torch.Tensor, taps: torch.Tensor, geo: _Geometry, impl: type[_Strategy]
    ) -> torch.Tensor:
        d_x, _ = impl.backward(None, taps, grad, geo, True, False, taps.shape, [])
        assert d_x is not None
        ctx.save_for_backward(grad, taps)
        ctx.geo, ctx.impl = geo, impl  # type: ignore[attr-defined]
        return d_x

    @staticmethod
    def backward(ctx: Any, h: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad, taps = ctx.saved_tensors
        geo, impl = ctx.geo, ctx.impl
        d_grad = _Conv.apply(h, taps, None, geo, impl) if ctx.needs_input_grad[0] else None
        d_taps = _WeightGrad.apply(h, grad, geo, impl, taps.shape) if ctx.needs_input_grad[1] else None
        return d_grad, d_taps, None, None


class _WeightGrad(torch.autograd.Function):
    """``D_w(x, g)``, the weight gradient; its backward is ``D_x(g, v)`` for ``x`` and ``F(x, v)`` for ``g``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        x: torch.Tensor,
        grad: torch.Tensor,
        geo: _Geometry,
        impl: type[_Strategy],
        shape: torch.Size,
    ) -> torch.Tensor:
        _, d_w = impl.backward(x, None, grad, geo, False, True, shape, [])
        assert d_w is not None
        ctx.save_for_backward(x, grad)
        ctx.geo, ctx.impl = geo, impl  # type: ignore[attr-defined]
        return d_w

    @staticmethod
    def backward(ctx: Any, v: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, grad = ctx.saved_tensors
        geo, impl = ctx.geo, ctx.impl
        d_x = _InputGrad.apply(grad, v, geo, impl) if ctx.needs_input_grad[0] else None
        d_grad = _Conv.apply(x, v, None, geo, impl) if ctx.needs_input_grad[1] else None
        return d_x, d_grad, None, None, None


class _Strategy:
    """One way of computing ``F(x, w) + bias`` and the adjoints ``D_x`` and ``D_w``, without autograd.

    ``forward`` returns the output and tensors worth keeping for the backward
    pass (an arrangement of ``x``), or none. ``backward`` returns the input
    gradient (if ``need_x``; ``taps`` is then given) and the weight gradient of
    shape ``shape`` (if ``need_w``; ``x`` is then given, and ``kept`` holds what
    ``forward`` kept, or is empty).
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    @staticmethod
    def backward(
        x: torch.Tensor | None,
        taps: torch.Tensor | None,
        grad: torch.Tensor,
        geo: _Geometry,
        need_x: bool,
        need_w: bool,
        shape: torch.Size,
        kept: list[torch.Tensor],
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        raise NotImplementedError


def _frame(
    x: torch.Tensor, hq: int, wq: int, top: int, left: int, tail: int, channels_last: bool
) -> torch.Tensor:
    """``x`` at offset ``(top, left)`` in zero ``hq x wq`` frames, flattened, with ``tail`` zero cells after."""
    n, c, h, w = x.shape
    cells = n * c * hq * wq
    buf = x.new_empty(cells + tail * (c if channels_last else 1))
    if channels_last:
        frame = buf[:cells].view(n, hq, wq, c).permute(0, 3, 1, 2)
    else:
        frame = buf[:cells].view(n, c, hq, wq)
    buf[cells:].zero_()
    frame[:, :, :top].zero_()
    frame[:, :, top + h :].zero_()
    frame[:, :, top : top + h, :left].zero_()
    frame[:, :, top : top + h, left + w :].zero_()
    frame[:, :, top : top + h, left : left + w] = x
    return buf


def _arrange(x: torch.Tensor, geo: _Geometry, channels_last: bool) -> torch.Tensor:
    """``x`` laid out in ``geo``'s grids, flattened (cells of C values, or C planes of cells)."""
    (sh, sw), (pt, _, pl, _) = geo.stride, geo.pads
    if (sh, sw) == (1, 1):
        return _frame(x, geo.hq, geo.wq, pt, pl, geo.tail, channels_last)
    padded = F.pad(x, (pl, sw * geo.wq - geo.w - pl, pt, sh * geo.hq - geo.h - pt))
    split = padded.reshape(geo.n, geo.c, geo.hq, sh, geo.wq, sw)
    return split.permute((3, 5, 0, 2, 4, 1) if channels_last else (3, 5, 0, 1, 2, 4)).reshape(-1)


def _arranged_cells(geo: _Geometry) -> int:
    """How many cells (of ``C`` values each) :func:`_arrange` lays out for ``geo``."""
    if geo.stride == (1, 1):
        return geo.n * geo.hq * geo.wq + geo.tail
    return geo.stride[0] * geo.stride[1] * geo.n * geo.hq * geo.wq


def _unarrange(flat: torch.Tensor, geo: _Geometry, channels_last: bool) -> torch.Tensor:
    """The adjoint of :func:`_arrange`: the input-shaped tensor (often a view) whose arrangement is ``flat``."""
    n, c, h, w = geo.n, geo.c, geo.h, geo.w
    (sh, sw), (pt, _, pl, _) = geo.stride, geo.pads
    if (sh, sw) == (1, 1):
        cells = flat[: n * c * geo.hq * geo.wq]
        if channels_last:
            frame = cells.view(n, geo.hq, geo.wq, c).permute(0, 3, 1, 2)
        else:
            frame = cells.view(n, c, geo.hq, geo.wq)
        return frame[:, :, pt : pt + h, pl : pl + w]
    if channels_last:
        split = flat.view(sh, sw, n, geo.hq, geo.wq, c).permute(2, 5, 3, 0, 4, 1)
    else:
        split = flat.view(sh, sw, n, c, geo.hq, geo.wq).permute(2, 3, 4, 0, 5, 1)
    padded = split.reshape(n, c, sh * geo.hq, sw * geo.wq)
    return F.pad(padded, (-pl, pl + w - sw * geo.wq, -pt, pt + h - sh * geo.hq))


def _im2col(x: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """Every output pixel's receptive field as one row, ordered (group, tap row, tap column, channel)."""
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    pt, pb, pl, pr = geo.pads
    hp, wp = geo.h + pt + pb, geo.w + pl + pr
    padded = _frame(x, hp, wp, pt, pl, 0, channels_last=True).view(geo.n, hp, wp, geo.c)
    cols = padded.unfold(1, dh * (kh - 1) + 1, sh).unfold(2, dw * (kw - 1) + 1, sw)[..., ::dh, ::dw]
    cols = cols.reshape(geo.n, geo.ho, geo.wo, geo.groups, geo.c // geo.groups, kh, kw)
    return cols.permute(0, 1, 2, 3, 5, 6, 4).reshape(geo.n * geo.ho * geo.wo, geo.c * kh * kw)


def _col2im(taps: torch.Tensor, gm: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """The input gradient of a channels-last im2col product, as an input-shaped view.

    ``taps`` is the ``(1, G, K, Og)`` weight of the product and ``gm`` the
    ``(rows, G * Og)`` output gradient: ``gm @ taps^T`` is formed once, and each
    kernel tap's share of it is added into a zero-padded channels-last input
    with one strided add.
    """
    (kh, kw), (pt, pb, pl, pr) = geo.kernel, geo.pads
    n, g, cg, hp, wp = geo.n, geo.groups, geo.c // geo.groups, geo.h + pt + pb, geo.w + pl + pr
    cols = gm.new_empty(gm.shape[0], geo.c * kh * kw)
    _product(cols, gm, taps[0].transpose(-1, -2), accumulate=False)
    shares = cols.view(n, geo.ho, geo.wo, g, kh, kw, cg).permute(4, 5, 0, 3, 6, 1, 2)
    padded = gm.new_zeros(n, hp, wp, g, cg).permute(0, 3, 4, 1, 2)
    _scatter_taps(padded, shares, geo)
    return padded.reshape(n, geo.c, hp, wp)[:, :, pt : pt + geo.h, pl : pl + geo.w]


def _scatter_taps(padded: torch.Tensor, shares: torch.Tensor, geo: _Geometry) -> None:
    """``padded[..., window(i, j)] += shares[i, j]`` for every kernel tap, the adjoint of gathering the windows.

    ``padded`` is ``(N, G, Cg, Hp, Wp)`` (any memory layout) and ``shares`` is
    ``(kh, kw, N, G, Cg, Ho, Wo)``.
    """
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (geo.ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (geo.wo - 1) + 1, sw)
            padded[:, :, :, rows, cols] += shares[i, j]


def _scatter_phases(shares: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """The adjoint of gathering strided windows from the stride phases (see :func:`_plane_columns`).

    ``shares`` is ``(kh, kw, N, G, Cg, Ho, Wo)``; each tap's share is added into
    its phase grid at its offset, a window of contiguous rows, and the phase
    grids are then laid back as the input-shaped gradient.
    """
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    g = geo.groups
    flat = shares.new_zeros(sh * sw * geo.n * geo.c * geo.hq * geo.wq)
    phases = flat.view(sh, sw, geo.n, g, geo.c // g, geo.hq, geo.wq)
    for i in range(kh):
        for j in range(kw):
            oi, oj = (i * dh) // sh, (j * dw) // sw
            phase = phases[(i * dh) % sh, (j * dw) % sw]
            phase[..., oi : oi + geo.ho, oj : oj + geo.wo] += shares[i, j]
    return _unarrange(flat, geo, channels_last=False)


def _plane_columns(x: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """im2col on pixel planes: ``(G, kh * kw * Cg, N * Ho * Wo)``, one kernel tap's windows per row block.

    With stride > 1 the windows are cut from the stride phases of the padded
    input (see :class:`_Geometry`), so that every copied run is contiguous; the
    taps reading one phase form a regular grid of window offsets, gathered by a
    single strided copy.
    """
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    pt, pb, pl, pr = geo.pads
    n, c, g = geo.n, geo.c, geo.groups
    if (sh, sw) == (1, 1):
        flat, hq, wq = F.pad(x, (pl, pr, pt, pb)).reshape(-1), geo.h + pt + pb, geo.w + pl + pr
    else:
        flat, hq, wq = _arrange(x, geo, channels_last=False), geo.hq, geo.wq
    plane = hq * wq
    cols = x.new_empty(kh, kw, g, c // g, n, geo.ho, geo.wo)
    for a in range(sh):
        rows = [i for i in range(kh) if (i * dh) % sh == a]
        for b in range(sw):
            taps = [j for j in range(kw) if (j * dw) % sw == b]
            if not rows or not taps:
                continue
            i_step = rows[1] - rows[0] if len(rows) > 1 else 1
            j_step = taps[1] - taps[0] if len(taps) > 1 else 1
            start = (a * sw + b) * n * c * plane + (rows[0] * dh) // sh * wq + (taps[0] * dw) // sw
            windows = flat.as_strided(
                (len(rows), len(taps), g, c // g, n, geo.ho, geo.wo),
                (i_step * dh // sh * wq, j_step * dw // sw, c // g * plane, plane, c * plane, wq, 1),
                flat.storage_offset() + start,
            )
            cols[rows[0] : rows[-1] + 1 : i_step, taps[0] : taps[-1] + 1 : j_step] = windows
    return cols.permute(2, 0, 1, 3, 4, 5, 6).reshape(g, kh * kw * (c // g), n * geo.ho * geo.wo)


class _PlaneMatmul(_Strategy):
    """Convolution with few input channels per group, as im2col on pixel planes and one product per group.

    Everything stays channels-first: the columns are ``(G, K, pixels)`` with
    ``K = kh * kw * Cg`` (tap-major), ``weight`` is ``(G, Og, K)`` in the same
    order, and ``weight @ columns`` is the output with its channels first, so
    neither the input nor the output is transposed through memory. On CPU
    the batch runs in chunks of images, and the columns are rebuilt for the
    backward pass rather than kept.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = x.new_empty(geo.n, geo.o, geo.ho, geo.wo)
        pixels = geo.ho * geo.wo
        for n0, n1 in _image_chunks(geo, x):
            sub = dataclasses.replace(geo, n=n1 - n0)
            cols = _plane_columns(x[n0:n1], sub)
            if geo.groups == 1:  # one product per image, written straight into the output's planes
                per_image = cols[0].view(-1, sub.n, pixels).transpose(0, 1)
                weight = taps.expand(sub.n, -1, -1)
                target = out[n0:n1].view(sub.n, geo.o, pixels)
                if bias is None:
                    torch.bmm(weight, per_image, out=target)
                else:
                    torch.baddbmm(bias.view(1, -1, 1).expand_as(target), weight, per_image, out=target)
                continue
            prod = torch.bmm(taps, cols).view(geo.o, sub.n, geo.ho, geo.wo)
            if bias is None:
                out[n0:n1] = prod.transpose(0, 1)
            else:
                torch.add(prod.transpose(0, 1), bias.view(1, -1, 1, 1), out=out[n0:n1])
        return out, []

    @staticmethod
    def backward(
        x: torch.Tensor | None,
        taps: torch.Tensor | None,
        grad: torch.Tensor,
        geo: _Geometry,
        need_x: bool,
        need_w: bool,
        shape: torch.Size,
        kept: list[torch.Tensor],
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        g, og, _ = shape
        (kh, kw), (pt, pb, pl, pr), cg = geo.kernel, geo.pads, geo.c // g
        d_x = grad.new_empty(geo.n, geo.c, geo.h, geo.w) if need_x else None
        d_w = grad.new_zeros(shape) if need_w else None
        for n0, n1 in _image_chunks(geo, grad):
            sub = dataclasses.replace(geo, n=n1 - n0)
            gm = grad[n0:n1].reshape(n1 - n0, g, og, -1).permute(1, 2, 0, 3).reshape(g, og, -1)
            if d_w is not None:
                assert x is not None
                d_w.baddbmm_(gm, _plane_columns(x[n0:n1], sub).transpose(1, 2))
            if d_x is not None:
                assert taps is not None
                shares = torch.bmm(taps.transpose(1, 2), gm).view(g, kh, kw, cg, sub.n, geo.ho, geo.wo)
                shares = shares.permute(1, 2, 4, 0, 3, 5, 6)
                if geo.stride != (1, 1):
                    d_x[n0:n1] = _scatter_phases(shares, sub)
                    continue
                padded = grad.new_zeros(sub.n, g, cg, geo.h + pt + pb, geo.w + pl + pr)
                _scatter_taps(padded, shares, sub)
                d_x[n0:n1] = padded.view(sub.n, geo.c, geo.h + pt + pb, -1)[
                    :, :, pt : pt + geo.h, pl : pl + geo.w
                ]
        return d_x, d_w


class _ShiftedMultiplyAdd(_Strategy):
    """Convolution where each output channel reads one input channel (depthwise, single-channel).

    The input is arranged channels-first (one flat plane of grid cells per image
    and channel) and every kernel tap is one multiply-add of a shifted view of
    those planes: ``out[b, g, m] = bias + sum_t plane[b, g] shifted by t * taps[t, g, m]``,
    with ``taps`` of shape ``(T, G, M)`` for ``M`` output channels per group.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        src = _arrange(x, geo, channels_last=False)
        n_taps, g, m = taps.shape
        length = geo.hq * geo.wq
        out = torch.empty(
            (geo.n, geo.o, geo.ho, geo.wo), dtype=x.dtype, device=x.device, memory_format=geo.fmt
        )
        final = out.unflatten(1, (g, m))
        shifts = _plane_shifts(geo)
        # every tap but the last accumulates over the planes of grid cells; the last one reads the
        # accumulator cropped to the output and writes the output itself (no separate cropping copy)
        before = None if bias is None else bias.view(1, g, m, 1, 1)
        if n_taps > 1:
            grid = src.new_empty(geo.n, g, m, length)
            grid[..., geo.span :].zero_()
            acc = grid[..., : geo.span]
            for t, shift in enumerate(shifts[:-1]):
                a = _planes(src, shift, geo).unsqueeze(2)
                coef = taps[t].view(1, g, m, 1)
                if t > 0:
                    acc.addcmul_(a, coef)
                elif bias is None:
                    torch.mul(a, coef, out=acc)
                else:
                    torch.addcmul(bias.view(1, g, m, 1), a, coef, out=acc)
            before = grid.view(geo.n, g, m, geo.hq, geo.wq)[..., : geo.ho, : geo.wo]
        cells = (geo.n, geo.c, geo.ho, geo.wo)
        last = src.as_strided(cells, (geo.c * length, length, geo.wq, 1), src.storage_offset() + shifts[-1])
        coef = taps[-1].view(1, g, m, 1, 1)
        if before is None:
            torch.mul(last.unsqueeze(2), coef, out=final)
        else:
            torch.addcmul(before, last.unsqueeze(2), coef, out=final)
        return out, [src]

    @staticmethod
    def backward(
        x: torch.Tensor | None,
        taps: torch.Tensor | None,
        grad: torch.Tensor,
        geo: _Geometry,
        need_x: bool,
        need_w: bool,
        shape: torch.Size,
        kept: list[torch.Tensor],
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        _, g, m = shape
        grid = grad.new_empty(geo.n, geo.o, geo.hq, geo.wq)
        grid[:, :, geo.ho :].zero_()
        grid[:, :, : geo.ho, geo.wo :].zero_()
        grid[:, :, : geo.ho, : geo.wo] = grad
        gm = grid.view(geo.n, g, m, geo.hq * geo.wq)[..., : geo.span]
        d_x = d_taps = None
        if need_x:
            assert taps is not None
            d_src = grad.new_zeros(geo.stride[0] * geo.stride[1] * geo.n * geo.c * geo.hq * geo.wq + geo.tail)
            for t, shift in enumerate(_plane_shifts(geo)):
                target = _planes(d_src, shift, geo)
                if m == 1:
                    target.addcmul_(gm[:, :, 0], taps[t].view(1, g, 1))
                else:
                    target.add_((gm * taps[t].view(1, g, m, 1)).sum(2))
            d_x = _unarrange(d_src, geo, channels_last=False).contiguous(memory_format=geo.fmt)
        if need_w:
            if kept:
                src = kept[0]
            else:
                assert x is not None
                src = _arrange(x, geo, channels_last=False)
            d_taps = grad.new_empty(shape)
            for t, shift in enumerate(_plane_shifts(geo)):
                torch.sum(
                    torch.linalg.vecdot(_planes(src, shift, geo).unsqueeze(2), gm), dim=0, out=d_taps[t]
                )
        return d_x, d_taps


def _plane_shifts(geo: _Geometry) -> tuple[int, ...]:
    """Each tap's start in the channels-first flat arrangement: its phase block plus its offset."""
    block = geo.n * geo.c * geo.hq * geo.wq
    return tuple(p * block + off for p, off in zip(geo.phases, geo.offsets, strict=True))


def _planes(flat: torch.Tensor, shift: int, geo: _Geometry) -> torch.Tensor:
    """The ``(N, C, span)`` view of ``flat``'s planes of grid cells, ``shift`` cells on."""
    length = geo.hq * geo.wq
    return flat.as_strided(
        (geo.n, geo.c, geo.span), (geo.c * length, length, 1), flat.storage_offset() + shift
    )


class _SameSizeShifts(_Strategy):
    """Stride 1 with an output the size of the input, where each output channel reads one input channel.

    Output and input planes then have the same flat layout, so kernel tap ``t``
    (reading ``dy`` rows and ``dx`` columns away) is one multiply-add of the
    input planes shifted by ``dy * W + dx`` cells, over the rows where the read
    stays inside the image, with no padded copy of the input and no cropping of
    the output. A shifted read that runs off the end of a row lands in the
    neighbouring row; it is made to read zero by using, for each ``dx != 0``,
    a copy of the input with the ``|dx|`` columns that no valid read of that
    shift touches set to zero. The input gradient is the same computation on
    the output gradient with the opposite shifts, and the weight gradient one
    batched product per tap. On CPU everything runs over blocks of planes small
    enough to stay in cache, with the masked copies in scratch buffers reused
    from block to block (fresh multi-megabyte buffers cost page faults).
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        _, g, m = taps.shape
        out = x.new_empty(geo.n, g, m, geo.h * geo.w)
        shifter = _Shifter(geo, _same_size_shifts(geo, adjoint=False), x)
        planes = x.reshape(geo.n, g, geo.h * geo.w)
        for block in _plane_blocks(geo, x, _SAME_BLOCK_ELEMS):
            shifter.load(planes, block)
            for mi in range(m):
                part = None if bias is None else bias.view(g, m)[:, mi]
                shifter.correlate(out[:, :, mi], block, taps[:, :, mi], part, accumulate=False)
        return out.view(geo.n, geo.o, geo.h, geo.w).contiguous(memory_format=geo.fmt), []

    @staticmethod
    def backward(
        x: torch.Tensor | None,
        taps: torch.Tensor | None,
        grad: torch.Tensor,
        geo: _Geometry,
        need_x: bool,
        need_w: bool,
        shape: torch.Size,
        kept: list[torch.Tensor],
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        n_taps, g, m = shape
        hw = geo.h * geo.w
        gm = grad.reshape(geo.n, g, m, hw)
        d_x = grad.new_empty(geo.n, g, hw) if need_x else None
        d_taps = grad.new_zeros(n_taps, m, g) if need_w else None
        spreader = _Shifter(geo, _same_size_shifts(geo, adjoint=True), grad) if need_x else None
        gatherer = _Shifter(geo, _same_size_shifts(geo, adjoint=False), grad) if need_w else None
        planes = None if x is None else x.reshape(geo.n, g, hw)
        if d_x is not None:
            assert spreader is not None and taps is not None
            for block in _plane_blocks(geo, grad, _SAME_BLOCK_ELEMS):
                for mi in range(m):
                    spreader.load(gm[:, :, mi], block)
                    spreader.correlate(d_x, block, taps[:, :, mi], None, accumulate=mi > 0)
        if d_taps is not None:
            assert gatherer is not None and planes is not None
            for block in _plane_blocks(geo, grad, _DOT_BLOCK_ELEMS, per_thread=False):
                gatherer.load(planes, block)
                for mi in range(m):
                    gatherer.dots(d_taps[:, mi], gm[:, :, mi], block)
        if d_x is not None:
            d_x = d_x.view(geo.n, geo.c, geo.h, geo.w).contiguous(memory_format=geo.fmt)
        return d_x, None if d_taps is None else d_taps.transpose(1, 2)


def _same_size_shifts(geo: _Geometry, adjoint: bool) -> list[tuple[int, int, int]]:
    """``(tap, dy, dx)`` for every tap that reads inside the image: tap ``(i, j)`` reads input pixel
    ``(y + dy, x + dx)`` for output pixel ``(y, x)``; the adjoint reads the other way. Taps with ``dy = 0``
    (which cover every output row) come first."""
    (kh, kw), (dh, dw), (pt, _, pl, _) = geo.kernel, geo.dilation, geo.pads
    sign = -1 if adjoint else 1
    shifts = [(i * kw + j, sign * (i * dh - pt), sign * (j * dw - pl)) for i in range(kh) for j in range(kw)]
    inside = [s for s in shifts if abs(s[1]) < geo.h and abs(s[2]) < geo.w]
    return sorted(inside, key=lambda s: s[1] != 0)


def _plane_blocks(
    geo: _Geometry, x: torch.Tensor, elems: int, per_thread: bool = True
) -> list[tuple[int, int, int, int]]:
    """``(n0, n1, c0, c1)`` blocks of images and channels covering the planes: on CPU each holds about
    ``elems`` values (per thread if ``per_thread``; whole images while they fit, else channel ranges of
    one image); otherwise one block."""
    n, c, hw = geo.n, geo.c, geo.h * geo.w
    if x.device.type != "cpu":
        return [(0, n, 0, c)] if n else []
    if per_thread:
        elems *= torch.get_num_threads()
    if c * hw <= elems:
        step = elems // (c * hw)
        return [(n0, min(n, n0 + step), 0, c) for n0 in range(0, n, step)]
    step = max(1, elems // hw)
    return [(i, i + 1, c0, min(c, c0 + step)) for i in range(n) for c0 in range(0, c, step)]


class _Shifter:
    """Shifted reads of one block of planes at a time, for one list of ``(tap, dy, dx)`` shifts.

    :meth:`load` makes a block's planes readable for every column shift ``dx``:
    shift 0 reads the planes themselves (copied only if a plane is not
    contiguous); for ``dx != 0`` they are copied into a scratch buffer and the
    ``|dx|`` columns that no in-row read of that shift touches are set to zero
    (the last ones for ``dx < 0``, the first ones for ``dx > 0``), between
    ``|dx|`` zero cells before (reads running off the first row) and after (the
    last row). The scratch buffers and the views into them are made once per
    call and reused by every block of the same size.
    """

    def __init__(self, geo: _Geometry, shifts: list[tuple[int, int, int]], like: torch.Tensor) -> None:
        self.geo, self.shifts = geo, shifts
        self.columns = sorted({dx for _, _, dx in shifts})
        self.like = like
        self.scratch: dict[int, torch.Tensor] = {}
        self.views: dict[tuple[Any, ...], torch.Tensor] = {}
        self.sources: dict[int, torch.Tensor] = {}
        self.block_views: dict[tuple[Any, ...], torch.Tensor] = {}
        self.scratch_ptrs: set[int] = set()

    def _masked_columns(self, planes: torch.Tensor, dx: int) -> torch.Tensor:
        """The ``|dx|`` columns of ``(n, c, H*W)`` planes that no in-row read of column shift ``dx`` may see."""
        n, c, _ = planes.shape
        grid = planes.view(n, c, self.geo.h, self.geo.w)
        return grid[..., self.geo.w + dx :] if dx < 0 else grid[..., :dx]

    def _scratch_planes(self, dx: int, n: int, c: int) -> torch.Tensor:
        """``(n, c, H*W)`` planes in the scratch buffer for ``dx``, with the zero cells around them."""
        key = ("planes", dx, n, c)
        if key not in self.views:
            hw, pad = self.geo.h * self.geo.w, abs(dx)
            size = n * c * hw
            buf = self.scratch.get(dx)
            if buf is None or buf.numel() < size + 2 * pad:
                buf = self.scratch[dx] = self.like.new_empty(size + 2 * pad)
            buf[:pad].zero_()
            buf[pad + size : size + 2 * pad].zero_()
            self.views[key] = buf[pad : pad + size].view(n, c, hw)
            self.scratch_ptrs.add(self.views[key].data_ptr())
        return self.views[key]

    def load(self, planes: torch.Tensor, block: tuple[int, int, int, int]) -> None:
        """Make the block's planes of ``planes`` (``(N, C, H*W)``) the ones read by the next shifts."""
        n0, n1, c0, c1 = block
        part = planes[n0:n1, c0:c1]
        self.block_views = {}
        for dx in self.columns:
            if dx == 0 and part.stride(-1) == 1:
                self.sources[0] = part
                continue
            view = self._scratch_planes(dx, n1 - n0, c1 - c0)
            view.copy_(part)
            if dx != 0:  # zeroed, not multiplied by a mask: an inf or nan there must not leak
                self._masked_columns(view, dx).zero_()
            self.sources[dx] = view

    def _read(self, dy: int, dx: int) -> torch.Tensor:
        """The loaded planes as read for shift ``(dy, dx)``: ``(n, c, (H - |dy|) * W)``, from row ``max(0, dy)``.

        Reads of the scratch buffers are the same views for every block of one size; reads of the
        planes themselves are made once per block."""
        source = self.sources[dx]
        key = ("read", dy, dx, *source.shape) if dx != 0 or source.data_ptr() in self.scratch_ptrs else None
        local = ("block", dy, dx)
        if key is None:
            if local not in self.block_views:
                self.block_views[local] = self._shifted(source, dy, dx)
            return self.block_views[local]
        if key not in self.views:
            self.views[key] = self._shifted(source, dy, dx)
        return self.views[key]

    def _shifted(self, source: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
        n, c, _ = source.shape
        geo = self.geo
        return source.as_strided(
            (n, c, (geo.h - abs(dy)) * geo.w),
            source.stride(),
            source.storage_offset() + max(0, dy) * geo.w + dx,
        )

    def correlate(
        self,
        out: torch.Tensor,
        block: tuple[int, int, int, int],
        coefs: torch.Tensor,
        bias: torch.Tensor | None,
        accumulate: bool,
    ) -> None:
        """``out[block] (+)= bias + sum over shifts of coefs[tap] * (loaded planes shifted by (dy, dx))``.

        ``out`` is ``(N, C, H*W)``, ``coefs`` ``(T, C)`` and ``bias`` ``(C,)``; the
        first shift with ``dy = 0`` covers every output row and initialises the block.
        """
        n0, n1, c0, c1 = block
        target = out[n0:n1, c0:c1]
        key = ("coefs", coefs.data_ptr(), coefs.stride(), c0, c1)
        if key not in self.views:
            self.views[key] = coefs[:, c0:c1].unsqueeze(-1).unbind(0)  # type: ignore[assignment]
        coef: tuple[torch.Tensor, ...] = self.views[key]  # type: ignore[assignment]
        b = None if bias is None else bias[c0:c1].view(-1, 1)
        fresh = not accumulate
        if fresh and (not self.shifts or self.shifts[0][1] != 0):
            if b is None:
                target.zero_()
            else:
                target.copy_(b.expand(target.shape))
            fresh = False
        rows = self._rows(target)
        for t, dy, dx in self.shifts:
            if not fresh:
                rows[dy].addcmul_(self._read(dy, dx), coef[t])
            elif b is None:
                torch.mul(self._read(dy, dx), coef[t], out=rows[dy])
            else:
                torch.addcmul(b, self._read(dy, dx), coef[t], out=rows[dy])
            fresh = False

    def _rows(self, planes: torch.Tensor) -> dict[int, torch.Tensor]:
        """For each row shift ``dy``: the output rows ``max(0, -dy) .. H - max(0, dy)`` of ``planes`` (``(n, c, H*W)``)."""
        w, h = self.geo.w, self.geo.h
        return {
            dy: planes[..., max(0, -dy) * w : (h - max(0, dy)) * w] for dy in {dy for _, dy, _ in self.shifts}
        }

    def dots(self, total: torch.Tensor, grad: torch.Tensor, block: tuple[int, int, int, int]) -> None:
        """``total[tap, c] += sum over images and pixels of (loaded planes shifted by the tap) * grad``.

        ``total`` is ``(T, C)`` and ``grad`` ``(N, C, H*W)``. With several images
        each tap is one batched matrix product of a channel's ``(n, pixels)``
        shifted planes by its ``(pixels, n)`` gradient planes, in chunks of at
        most ``_DOT_IMAGES`` images, of which only the diagonal is kept (a few
        wasted products buy matrix-product speed); with one image, a vector dot
        product per channel.
        """
        n0, n1, c0, c1 = block
        used = [t for t, _, _ in self.shifts]
        for k0 in range(0, n1 - n0, _DOT_IMAGES):
            k1 = min(n1 - n0, k0 + _DOT_IMAGES)
            rows = self._rows(grad[n0 + k0 : n0 + k1, c0:c1])
            if k1 - k0 == 1:
                for t, dy, dx in self.shifts:
                    total[t, c0:c1] += torch.linalg.vecdot(self._read(dy, dx)[k0], rows[dy][0])
                continue
            prods = grad.new_empty(len(self.shifts), c1 - c0, k1 - k0, k1 - k0)
            for i, (_, dy, dx) in enumerate(self.shifts):
                torch.bmm(self._read(dy, dx)[k0:k1].transpose(0, 1), rows[dy].permute(1, 2, 0), out=prods[i])
            total[used, c0:c1] += prods.diagonal(dim1=2, dim2=3).sum(-1)


class _ShiftedMatmul(_Strategy):
    """Convolution as a sum of matrix products over a channels-last arrangement of the input.

    The arrangement is a matrix of ``R`` rows (grid cells, or im2col rows) by
    ``G * K`` columns; tap ``t`` reads the contiguous row block starting at
    ``shift[t]``, so ``grid = sum_t src[shift_t : shift_t + valid] @ taps[t]``
    (per group) with ``taps`` of shape ``(T, G, K, Og)``, and no copy per tap.
    The grid is then cropped to the output, the bias added on the way. On CPU
    the batch is processed in chunks of images whose arrangement stays small
    (see :func:`_image_chunks`); im2col arrangements are rebuilt for the
    backward pass rather than kept.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = torch.empty(
            (geo.n, geo.o, geo.ho, geo.wo), dtype=x.dtype, device=x.device, memory_format=geo.fmt
        )
        kept = []
        for n0, n1 in _image_chunks(geo, x):
            sub = dataclasses.replace(geo, n=n1 - n0)
            src = _source(x[n0:n1], sub)
            shifts, valid = _row_shifts(sub)
            grid = src.new_empty(sub.n * sub.hq * sub.wq, sub.o)
            grid[valid:].zero_()
            for r0, r1 in _blocks(valid, grid, len(shifts)):
                for t, shift in enumerate(shifts):
                    _product(grid[r0:r1], src[shift + r0 : shift + r1], taps[t], accumulate=t > 0)
            cropped = grid.view(sub.n, sub.hq, sub.wq, sub.o)[:, : sub.ho, : sub.wo].permute(0, 3, 1, 2)
            if bias is None:
                out[n0:n1] = cropped
            else:
                torch.add(cropped, bias.view(1, -1, 1, 1), out=out[n0:n1])
            if not geo.im2col:
                kept.append(src)
        return out, kept

    @staticmethod
    def backward(
        x: torch.Tensor | None,
        taps: torch.Tensor | None,
        grad: torch.Tensor,
        geo: _Geometry,
        need_x: bool,
        need_w: bool,
        shape: torch.Size,
        kept: list[torch.Tensor],
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        _, g, k, og = shape
        d_x = d_taps = None
        if need_x:
            d_x = torch.empty(
                (geo.n, geo.c, geo.h, geo.w), dtype=grad.dtype, device=grad.device, memory_format=geo.fmt
            )
        if need_w:
            d_taps = grad.new_zeros(shape)
        for i, (n0, n1) in enumerate(_image_chunks(geo, grad)):
            sub = dataclasses.replace(geo, n=n1 - n0)
            shifts, valid = _row_shifts(sub)
            grid = grad.new_empty(sub.n, sub.hq, sub.wq, sub.o)
            grid[:, sub.ho :].zero_()
            grid[:, : sub.ho, sub.wo :].zero_()
            grid[:, : sub.ho, : sub.wo] = grad[n0:n1].permute(0, 2, 3, 1)
            gm = grid.view(-1, sub.o)[:valid]
            if d_x is not None and geo.im2col:
                assert taps is not None
                d_x[n0:n1] = _col2im(taps, gm, sub)
            elif d_x is not None:
                assert taps is not None
                adjoint = taps.transpose(-1, -2)
                d_src = grad.new_empty(_arranged_cells(sub), sub.c)
                for r0, r1 in _blocks(d_src.shape[0], d_src, len(shifts)):
                    d_src[r0:r1].zero_()
                    for t, shift in enumerate(shifts):
                        q0, q1 = max(0, r0 - shift), min(valid, r1 - shift)
                        if q0 < q1:
                            _product(d_src[q0 + shift : q1 + shift], gm[q0:q1], adjoint[t], accumulate=True)
                d_x[n0:n1] = _unarrange(d_src.view(-1), sub, channels_last=True)
            if d_taps is not None:
                if kept:
                    src = kept[i]
                else:
                    assert x is not None
                    src = _source(x[n0:n1], sub)
                for t, shift in enumerate(shifts):
                    a = src[shift : shift + valid]
                    if g == 1:
                        d_taps[t, 0].addmm_(a.t(), gm)
                    else:
                        d_taps[t].baddbmm_(
                            a.view(valid, g, k).permute(1, 2, 0), gm.view(valid, g, og).transpose(0, 1)
                        )
        return d_x, d_taps


def _source(x: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """The matrix the shifted products read: im2col rows, or channels-last grid cells."""
    return _im2col(x, geo) if geo.im2col else _arrange(x, geo, channels_last=True).view(-1, geo.c)


def _image_chunks(geo: _Geometry, x: torch.Tensor) -> list[tuple[int, int]]:
    """Image ranges covering the batch: on CPU each range's arrangement stays within ``_CHUNK_BYTES``
    (fresh multi-megabyte buffers cost page faults on every call, small ones are reused); otherwise one range."""
    if x.device.type != "cpu":
        return [(0, geo.n)] if geo.n else []
    if geo.im2col:
        cells = geo.ho * geo.wo * geo.kernel[0] * geo.kernel[1]
    else:
        cells = geo.hq * geo.wq * geo.stride[0] * geo.stride[1]
    step = max(1, _CHUNK_BYTES // (x.element_size() * geo.c * cells))
    return [(n0, min(geo.n, n0 + step)) for n0 in range(0, geo.n, step)]


def _product(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, accumulate: bool) -> None:
    """``out = a @ b`` (or ``+=``) per group: ``out`` is ``(rows, G * N)``, ``a`` ``(rows, G * K)``, ``b`` ``(G, K, N)``."""
    g, k, n = b.shape
    if g == 1:
        if accumulate:
            out.addmm_(a, b[0])
        else:
            torch.mm(a, b[0], out=out)
    else:
        rows = out.shape[0]
        grouped = out.view(rows, g, n).transpose(0, 1)
        grouped.baddbmm_(a.view(rows, g, k).transpose(0, 1), b, beta=1 if accumulate else 0)


def _blocks(rows: int, out: torch.Tensor, taps: int) -> list[tuple[int, int]]:
    """Row ranges covering ``rows``.

    Single-threaded on CPU, with several taps to accumulate, each range of
    ``out`` fits in the core's L2 cache, so that the accumulation stays in cache
    instead of streaming the whole output once per tap. With several threads
    every extra product is one more synchronisation of the thread pool, which
    costs more than the cache saves (and a great deal when a core is shared),
    so then, as on other devices, the whole range is one block.
    """
    if out.device.type != "cpu" or taps == 1 or torch.get_num_threads() > 1:
        return [(0, rows)]
    step = max(_MIN_BLOCK_ROWS, _BLOCK_BYTES // (out.element_size() * max(1, out.shape[1])))
    return [(r0, min(rows, r0 + step)) for r0 in range(0, rows, step)]


def _row_shifts(geo: _Geometry) -> tuple[tuple[int, ...], int]:
    """Each tap's first row in the channels-last arrangement, and how many grid rows are computed."""
    cells = geo.hq * geo.wq
    shifts = tuple(p * geo.n * cells + off for p, off in zip(geo.phases, geo.offsets, strict=True))
    return shifts, max(0, (geo.n - 1) * cells + geo.span)
