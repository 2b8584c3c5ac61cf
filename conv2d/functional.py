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
  the input (off by default, see ``conv2d._core.tuning.SAME_SIZE_SHIFTS``): input and output planes
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

The machinery lives in :mod:`conv2d._core`: the grid layout and arrangements
(``geometry``), the autograd functions (``autograd``), one module per strategy
(``plane_matmul``, ``multiply_add``, ``same_size``, ``shifted_matmul``), the
strategy choice (``dispatch``) and its thresholds and block sizes (``tuning``).
"""

from __future__ import annotations

import torch

from conv2d._core.dispatch import conv2d_nchw
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
    return conv2d_nchw(X[None, None], K[None, None], None, (1, 1), (0, 0, 0, 0), (1, 1), 1, False)[0, 0]


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
    return conv2d_nchw(X[None, None], kernel[None, None], None, (1, 1), pads, (1, 1), 1, False)[0, 0]


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
    input, weight, bias = _checked_tensors(fn, input, weight, bias)
    stride_ = as_pair(fn, "stride", stride, minimum=1)
    dilation_ = as_pair(fn, "dilation", dilation, minimum=1)
    groups_ = as_int(fn, "groups", groups, minimum=1)
    _check_channels(fn, input, weight, bias, groups_)
    kernel = (weight.shape[2], weight.shape[3])
    pads = resolve_padding(fn, padding, kernel, dilation_, stride_)
    _check_span(fn, input, kernel, pads, dilation_, padding)
    if input.dim() == 3:
        return conv2d_nchw(input[None], weight, bias, stride_, pads, dilation_, groups_, False)[0]
    channels_last = _is_channels_last(input) or _is_channels_last(weight)
    return conv2d_nchw(input, weight, bias, stride_, pads, dilation_, groups_, channels_last)


#: What the gate holds the core to beyond F.conv2d's default contract: its output keeps a
#: channels_last input's layout (the ``output-layout`` law fails it otherwise).
conv2d.__conv2d_capabilities__ = {"preserves_layout": True}  # type: ignore[attr-defined]


def _checked_tensors(
    fn: str, input: object, weight: object, bias: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``conv2d``'s tensor arguments checked for kind, rank, dtype and device."""
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
    return input, weight, bias


def _check_channels(
    fn: str, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int
) -> None:
    """The shapes of ``conv2d``'s tensors: non-empty, channel counts that fit ``groups``, bias per channel."""
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
    if in_channels % groups:
        raise ValueError(
            f"{fn}: in_channels={in_channels} (input.shape[-3]) is not divisible by groups={groups}; "
            f"use a groups value that divides both channel counts"
        )
    if out_channels % groups:
        raise ValueError(
            f"{fn}: out_channels={out_channels} (weight.shape[0]) is not divisible by groups={groups}; "
            f"use a groups value that divides both channel counts"
        )
    if group_channels * groups != in_channels:
        raise ValueError(
            f"{fn}: weight.shape[1]={group_channels} does not match input channels {in_channels} / "
            f"groups={groups}; expected weight of shape ({out_channels}, {in_channels // groups}, {kh}, {kw})"
        )
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(
            f"{fn}: bias must be 1-D with out_channels={out_channels} elements, got {describe(bias)}"
        )


def _check_span(
    fn: str, input: torch.Tensor, kernel: Pair, pads: Padding4, dilation: Pair, padding: object
) -> None:
    """The (dilated) kernel must fit in the padded input."""
    kh, kw = kernel
    height, width = input.shape[-2:]
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    padded = (height + pads[0] + pads[1], width + pads[2] + pads[3])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(
            f"{fn}: the kernel of size {(kh, kw)} with dilation={dilation} spans {span}, larger than the "
            f"padded input {padded} (input {(height, width)} plus padding={padding!r}); "
            f"use a smaller kernel or dilation, or more padding"
        )


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
