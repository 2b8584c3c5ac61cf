"""Buggy conv2d implementations, each emulating a real class of convolution bug.

Every mutant uses the zoo's correct im2col convolution as its kernel (never the
host's ``F.conv2d``, whose own bugs would otherwise count as kills) and is
correct everywhere except in
its trigger region, where it behaves the way the real bug does: a layout bug
really reads memory with the wrong strides, a precision bug really computes in
lower precision, a backward bug is an autograd Function with an exact forward
and a flawed backward, and so on. ``WITNESSES`` maps each name to a small,
deterministic input on which the bug shows.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.zoo._entry import ZooEntry
from conv2d.zoo.correct import (
    Fn,
    Geometry,
    IntPair,
    PaddingArg,
    _compute_dtype,
    _entry,
    _normalise_args,
    _pair,
    _same_split,
    _tap_slices,
    _unbatch,
)
from conv2d.zoo.correct import im2col as _base_conv2d

__all__ = ["WITNESSES"]

Witness = Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]

_REGISTRY: list[ZooEntry] = []
#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES: dict[str, Witness] = {}


def _registrar(
    registry: list[ZooEntry], witnesses: dict[str, Witness], kind: Literal["conv2d", "corr2d"]
) -> Callable[[str, str, Witness], Callable[[Fn], Fn]]:
    """A decorator factory ``(category, modelled_on, witness)`` that registers a mutant and its witness."""

    def mutant(category: str, modelled_on: str, witness: Witness) -> Callable[[Fn], Fn]:
        def apply(fn: Fn) -> Fn:
            witnesses[fn.__name__] = witness
            return _entry(registry, category=category, modelled_on=modelled_on, kind=kind)(fn)

        return apply

    return mutant


_mutant = _registrar(_REGISTRY, WITNESSES, "conv2d")


# -- witnesses ------------------------------------------------------------------------------------
def _case(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    *,
    bias: bool = True,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    grad: bool = False,
    **params: Any,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Random normal input, weight and (optionally) bias of the given shapes, and the call's keywords."""
    gen = torch.Generator().manual_seed(seed)
    x, w = (torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in (x_shape, w_shape))
    b = torch.randn(w_shape[0], generator=gen, dtype=torch.float64).to(dtype) if bias else None
    if grad:
        for t in (x, w, b):
            if t is not None:
                t.requires_grad_()
    return (x, w, b), params


def _case_with(
    make_input: Callable[[Tensor], Tensor] | None = None,
    make_weight: Callable[[Tensor], Tensor] | None = None,
    **kwargs: Any,
) -> Witness:
    """A witness whose input and/or weight are re-laid in memory (values unchanged)."""

    def witness() -> tuple[tuple[Any, ...], dict[str, Any]]:
        (x, w, b), params = _case(**kwargs)
        x = make_input(x) if make_input else x
        w = make_weight(w) if make_weight else w
        return (x, w, b), params

    return witness


def _strided_view(t: Tensor) -> Tensor:
    """``t``'s values as every other element of a wider buffer along the last dim (offset 0)."""
    wide = t.new_zeros(*t.shape[:-1], 2 * t.shape[-1])
    wide[..., ::2] = t
    return wide[..., ::2]


def _offset_view(t: Tensor) -> Tensor:
    """``t``'s values in a contiguous view that starts 5 elements into a NaN-filled buffer."""
    flat = torch.full((t.numel() + 5,), float("nan"), dtype=t.dtype)
    flat[5:] = t.reshape(-1)
    return flat[5:].view(t.shape)


def _channels_last(t: Tensor) -> Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def _stagnating_half(dtype: torch.dtype, big: float, taps: int, channels: int) -> Witness:
    """All-ones input; the first product is ``big`` and every later one adds 1.

    Where the spacing at ``big`` is 2, adding 1 is a tie that rounds back to ``big``, so a
    running sum in that dtype stops growing.
    """

    def witness() -> tuple[tuple[Any, ...], dict[str, Any]]:
        x = torch.ones(1, channels, taps + 2, taps + 2, dtype=dtype)
        w = torch.ones(2, channels, taps, taps, dtype=dtype)
        w[:, 0, 0, 0] = big
        return (x, w, None), {}

    return witness


# -- shared pieces --------------------------------------------------------------------------------
def _conv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    geo: Geometry,
    *,
    pads: tuple[int, int, int, int] | None = None,
    stride: tuple[int, int] | int | None = None,
) -> Tensor:
    """The zoo's correct im2col convolution of the 4-D ``x`` with explicit zero padding (``geo``'s unless ``pads`` is given)."""
    padded = F.pad(x, geo.fpad if pads is None else pads)
    return _base_conv2d(
        padded, weight, bias, geo.stride if stride is None else stride, 0, geo.dilation, geo.groups
    )


def _channel_view(bias: Tensor) -> Tensor:
    """``bias`` shaped to broadcast over (N, C, H, W) and (C, H, W) outputs."""
    return bias.view(-1, 1, 1)


def _is_channels_last(t: Tensor) -> bool:
    """True for a 4-D tensor stored NHWC (and not also plain contiguous)."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _read_as_contiguous(t: Tensor) -> Tensor:
    """``t``'s storage read with contiguous strides from its offset, whatever its real strides are.

    An expanded tensor whose storage is too small to misread this way is copied instead.
    """
    strides = [1] * t.dim()
    for i in range(t.dim() - 2, -1, -1):
        strides[i] = strides[i + 1] * t.shape[i + 1]
    available = t.untyped_storage().nbytes() // t.element_size()
    if t.storage_offset() + t.numel() > available:
        return t.contiguous()
    return t.as_strided(t.shape, strides, t.storage_offset())


# =================================================================================================
# output-size arithmetic
# =================================================================================================
@_mutant(
    "output-size",
    "PaddlePaddle's cnn_output_size (PaddlePaddle/Paddle#5242), which rounded the output size up "
    "outside caffe mode: output-size formulas that use ceil instead of floor.",
    lambda: _case((2, 3, 10, 10), (4, 3, 3, 3), stride=2),
)
def ceil_output_size(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Rounds the output size up when (H + 2p - d(k-1) - 1) is not a multiple of the stride.

    The extra last row/column is a window that hangs over the edge and reads zeros.
    """
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    extra = [-(geo.padded[a] - geo.extent[a]) % geo.stride[a] for a in (0, 1)]
    left, right, top, bottom = geo.fpad
    return _unbatch(
        _conv(x, weight, bias, geo, pads=(left, right + extra[1], top, bottom + extra[0])), geo.batched
    )


@_mutant(
    "output-size",
    "output-size formula slips such as the mis-stated one in the documentation discussed in "
    "torch/nn#945; here floor((H + 2p - d(k-1)) / s), an off-by-one that only shows with a stride above 1.",
    lambda: _case((2, 3, 9, 9), (4, 3, 3, 3), stride=2),
)
def off_by_one_strided_output(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Computes the output size as floor(L / s) with L = H + 2p - d(k-1), dropping the last row/column.

    It equals the right floor((L - 1) / s) + 1 for stride 1 and whenever L is a multiple of s.
    """
    _, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    rows, cols = ((geo.padded[a] - geo.extent[a] + 1) // geo.stride[a] for a in (0, 1))
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)[..., :rows, :cols]


@_mutant(
    "output-size",
    "output-size formulas that forget the dilation, as in PaddlePaddle/Paddle#5242 and "
    "webmachinelearning/webnn#222: the size uses k instead of d(k-1)+1.",
    lambda: _case((2, 3, 10, 10), (4, 3, 3, 3), dilation=2),
)
def dilation_ignored_in_output_size(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Sizes the output as if dilation were 1, so dilated calls get extra rows/columns that read zeros."""
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    rows, cols = ((geo.padded[a] - geo.kernel[a]) // geo.stride[a] + 1 for a in (0, 1))
    need = ((rows - 1) * geo.stride[0] + geo.extent[0], (cols - 1) * geo.stride[1] + geo.extent[1])
    left, right, top, bottom = geo.fpad
    pads = (left, right + need[1] - geo.padded[1], top, bottom + need[0] - geo.padded[0])
    return _unbatch(_conv(x, weight, bias, geo, pads=pads), geo.batched)


# =================================================================================================
# padding conventions
# =================================================================================================
@_mutant(
    "padding",
    "kornia's compute_padding for even kernels (kornia/kornia#709) and the ONNX SAME_LOWER / "
    "SAME_UPPER split: the odd extra element of 'same' padding put on the wrong side.",
    lambda: _case((2, 3, 8, 8), (4, 3, 2, 2), padding="same"),
)
def same_even_kernel_wrong_side(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Puts the extra element of an odd 'same' padding at the top/left instead of the bottom/right."""
    if padding != "same":
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    pads = (geo.pad_w[1], geo.pad_w[0], geo.pad_h[1], geo.pad_h[0])
    return _unbatch(_conv(x, weight, bias, geo, pads=pads), geo.batched)


@_mutant(
    "padding",
    "'same' padding computed from the undilated kernel, as in dmlc/nnvm#308 and "
    "zylo117/Yet-Another-EfficientDet-Pytorch#280 (Conv2dStaticSamePadding ignores dilation).",
    lambda: _case((2, 3, 9, 9), (4, 3, 3, 3), padding="same", dilation=2),
)
def same_ignores_dilation(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Computes 'same' padding from k - 1 instead of d(k - 1), so dilated outputs shrink."""
    if padding != "same":
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    (top, bottom), (left, right) = (_same_split(k - 1) for k in geo.kernel)
    return _unbatch(_conv(x, weight, bias, geo, pads=(left, right, top, bottom)), geo.batched)


@_mutant(
    "padding",
    "one-sided emulations of 'same' padding, such as the Theano backend in keras-team/keras#1792 "
    "('effectively, we only pad one side').",
    lambda: _case((2, 3, 8, 8), (4, 3, 3, 3), padding="same"),
)
def same_all_padding_after(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Puts all of 'same' padding after the input (bottom/right), shifting the output when d(k-1) >= 2."""
    if padding != "same":
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    return _unbatch(_conv(x, weight, bias, geo, pads=(0, sum(geo.pad_w), 0, sum(geo.pad_h))), geo.batched)


@_mutant(
    "padding",
    "F.pad's last-dimension-first argument order: a (pad_h, pad_w) pair handed to F.pad pads the "
    "width by pad_h on the left and pad_w on the right, and the height not at all.",
    lambda: _case((2, 3, 8, 8), (4, 3, 3, 3), padding=(1, 2)),
)
def pad_pair_as_fpad_tuple(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Passes a per-axis padding pair straight to F.pad: one-sided width padding, no height padding."""
    if isinstance(padding, str | int):
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    ph, pw = _pair(padding, "padding")
    return _base_conv2d(F.pad(input, (ph, pw)), weight, bias, stride, 0, dilation, groups)


# =================================================================================================
# per-axis mix-ups
# =================================================================================================
@_mutant(
    "per-axis",
    "converters and kernels that assume square strides (starimeL/PytorchConverter#37 asserts "
    "dH == dW): the height stride used for both axes.",
    lambda: _case((2, 3, 10, 10), (4, 3, 3, 3), stride=(1, 2)),
)
def stride_h_for_w(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Uses the height stride for the width too (wrong only when the two strides differ)."""
    sh, _ = _pair(stride, "stride")
    return _base_conv2d(input, weight, bias, (sh, sh), padding, dilation, groups)


@_mutant(
    "per-axis",
    "mlpack's convolution layer, which applied strideWidth to rows and strideHeight to columns "
    "(mlpack/mlpack#4050).",
    lambda: _case((2, 3, 10, 10), (4, 3, 3, 3), stride=(1, 2)),
)
def stride_swapped(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Swaps the height and width strides (wrong only when they differ)."""
    sh, sw = _pair(stride, "stride")
    return _base_conv2d(input, weight, bias, (sw, sh), padding, dilation, groups)


@_mutant(
    "per-axis",
    "AutoGluon's SamePadding, where pad_width and pad_height were misplaced (autogluon/autogluon#438).",
    lambda: _case((2, 3, 8, 8), (4, 3, 3, 3), padding=(0, 2)),
)
def padding_swapped(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Pads the height by the width's padding and vice versa (wrong only when they differ)."""
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    return _unbatch(_conv(x, weight, bias, geo, pads=(*geo.pad_h, *geo.pad_w)), geo.batched)


@_mutant(
    "per-axis",
    "per-axis dilation handled like a scalar (mlpack/mlpack#4050 notes the same mix-up for "
    "dilation as for stride): the height dilation used for both axes.",
    lambda: _case((2, 3, 10, 10), (4, 3, 3, 3), dilation=(2, 1)),
)
def dilation_h_for_w(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Uses the height dilation for the width too (wrong only when the two dilations differ)."""
    dh, _ = _pair(dilation, "dilation")
    return _base_conv2d(input, weight, bias, stride, padding, (dh, dh), groups)


# =================================================================================================
# grouped and depthwise indexing
# =================================================================================================
@_mutant(
    "groups",
    "PyTorch's depthwise 3x3 Winograd kernel, which assumed groups == in_channels == out_channels "
    "(fixed in pytorch/pytorch#60460 for #60176).",
    lambda: _case((2, 3, 8, 8), (6, 1, 3, 3), groups=3),
)
def depthwise_multiplier_interleaved(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """With a depthwise multiplier m > 1, feeds output channel o from input channel o % C, not o // m."""
    channels, out_channels = weight.shape[1] * groups, weight.shape[0]
    if groups == 1 or groups != channels or out_channels == channels:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    source = torch.arange(out_channels, device=x.device) % channels
    out = _base_conv2d(F.pad(x[:, source], geo.fpad), weight, bias, geo.stride, 0, geo.dilation, out_channels)
    return _unbatch(out, geo.batched)


@_mutant(
    "groups",
    "grouped convolutions with wrong per-group results (pytorch/pytorch#19912: wrong on CPU for 4 in / "
    "16 out channels, 2 groups); emulated as group g's weight slice starting at g, not g * out/groups.",
    lambda: _case((2, 4, 8, 8), (6, 2, 3, 3), groups=2),
)
def group_weight_slice(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Takes group g's filters from weight[g : g + out/groups] (wrong when groups > 1 and out/groups > 1)."""
    per_group = weight.shape[0] // groups
    if groups == 1 or per_group == 1:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    shifted = torch.cat([weight[g : g + per_group] for g in range(groups)])
    return _base_conv2d(input, shifted, bias, stride, padding, dilation, groups)


@_mutant(
    "groups",
    "per-group offset arithmetic in im2col convolutions (questioned for Caffe in BVLC/caffe#4134); "
    "emulated as an input-channel offset advanced per group only in the depthwise path.",
    lambda: _case((2, 4, 8, 8), (4, 2, 3, 3), groups=2),
)
def group_input_offset_not_advanced(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """For 1 < groups < in_channels every group reads the first group's input channels."""
    per_group = weight.shape[1]
    if groups == 1 or per_group == 1:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    return _unbatch(_conv(x[:, :per_group].repeat(1, groups, 1, 1), weight, bias, geo), geo.batched)


# =================================================================================================
# bias
# =================================================================================================
@_mutant(
    "bias",
    "double bias handling between a framework and its kernel library, as in Maratyszcza/NNPACK#77 "
    "(Darknet adds its own bias, so NNPACK must not): a split-K epilogue that adds the bias again.",
    lambda: _case((2, 32, 6, 6), (4, 32, 3, 3)),
)
def bias_twice_split_k(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Adds the bias twice when the reduction length C_in/groups * kh * kw exceeds 256 (the split-K path)."""
    out = _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    if bias is None or weight[0].numel() <= 256:
        return out
    return out + _channel_view(bias)


@_mutant(
    "bias",
    "rten's grouped ConvTranspose (robertknight/rten#1408), where every group used the bias values of "
    "the first group; compare OAID/Tengine#5 (bias step for group convolution).",
    lambda: _case((2, 4, 8, 8), (4, 2, 3, 3), groups=2),
)
def bias_first_group_reused(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Indexes the bias by the channel's position within its group, so every group gets group 0's bias."""
    if bias is None or groups == 1:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    return _base_conv2d(
        input, weight, bias[: weight.shape[0] // groups].repeat(groups), stride, padding, dilation, groups
    )


@_mutant(
    "bias",
    "kernels that stage the bias in a fixed-size block of output channels (the bug class; no specific "
    "public issue): channels past the block get no bias.",
    lambda: _case((1, 2, 5, 5), (70, 2, 3, 3)),
)
def bias_ignored_above_64(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Adds no bias to output channels 64 and above."""
    if bias is not None and bias.shape[0] > 64:
        bias = torch.cat([bias[:64], torch.zeros_like(bias[64:])])
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "bias",
    "onnx2c's convolution, whose bias was indexed along the wrong dimension (kraiskil/onnx2c#7): here "
    "the NHWC path indexes the bias as if its output were NCHW.",
    _case_with(_channels_last, x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
def bias_wrong_axis_channels_last(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """For channels_last input, adds bias[flat_index // (H*W)] to the NHWC buffer, the NCHW channel of each slot."""
    if bias is None or not _is_channels_last(input):
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    out = _base_conv2d(input, weight, None, stride, padding, dilation, groups)
    n, o, h, w = out.shape
    nhwc = out.permute(0, 2, 3, 1).reshape(n, -1) + bias.repeat_interleave(h * w)
    return nhwc.view(n, h, w, o).permute(0, 3, 1, 2)


# =================================================================================================
# batch handling
# =================================================================================================
def _chunked(input: Tensor, run: Callable[[Tensor, int], Tensor]) -> Tensor:
    """Apply ``run(batched_input, n)`` to the input made 4-D, and undo the batch dim for 3-D input."""
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    return _unbatch(run(x, x.shape[0]), batched)


@_mutant(
    "batch",
    "neon's Conv3D, wrong when batch_size > 32 and batch_size % 32 != 0 (NervanaSystems/neon#361): "
    "a batch loop over full chunks only.",
    lambda: _case((5, 3, 6, 6), (4, 3, 3, 3)),
)
def batch_chunks_drop_remainder(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Processes the batch in chunks of 4 and leaves the last N % 4 samples zero when N > 4."""

    def run(x: Tensor, n: int) -> Tensor:
        stop = max(n // 4, 1) * 4
        out = torch.cat(
            [
                _base_conv2d(x[s : s + 4], weight, bias, stride, padding, dilation, groups)
                for s in range(0, stop, 4)
            ]
        )
        return torch.cat([out, out.new_zeros(n - out.shape[0], *out.shape[1:])])

    return _chunked(input, run)


@_mutant(
    "batch",
    "batch-splitting of large convolutions (pytorch/pytorch#31379; a split miscalculation in "
    "ROCm/rocm-libraries#11188): the last chunk is read from a clamped start but written at its own.",
    lambda: _case((6, 3, 6, 6), (4, 3, 3, 3)),
)
def batch_chunks_misaligned_remainder(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Chunks of 4; the last partial chunk reads samples N-4..N-1 but writes them to its own slots."""

    def run(x: Tensor, n: int) -> Tensor:
        parts = []
        for start in range(0, n, 4):
            read = min(start, max(n - 4, 0))
            out = _base_conv2d(x[read : read + 4], weight, bias, stride, padding, dilation, groups)
            parts.append(out[: min(4, n - start)])
        return torch.cat(parts)

    return _chunked(input, run)


@_mutant(
    "batch",
    "HWC/CHW layout confusion at an image boundary (bytecodealliance/wasmtime#4464 feeds NCHW data to "
    "an NHWC model): an unbatched image taken to be stored height-width-channel.",
    lambda: _case((3, 6, 7), (4, 3, 3, 3)),
)
def unbatched_read_as_hwc(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Reinterprets an unbatched (C, H, W) input as HWC data (wrong whenever C > 1)."""
    if input.dim() == 3:
        c, h, w = input.shape
        input = input.reshape(h, w, c).permute(2, 0, 1)
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "batch",
    "the unbatched-input convention (add a batch dimension, remove it again) with the removal "
    "forgotten (the bug class; no specific public issue).",
    lambda: _case((3, 6, 6), (4, 3, 3, 3)),
)
def unbatched_keeps_batch_dim(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Returns a (1, C_out, H_out, W_out) tensor for unbatched (C, H, W) input."""
    x = input if input.dim() == 4 else input.unsqueeze(0)
    return _base_conv2d(x, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "batch",
    "argument-less squeeze() collapsing every unit dimension, as fixed in NVIDIA/tacotron2#303 and "
    "NVIDIA/DeepLearningExamples#765 ('when batch size is 1, squeeze collapses the batch dimension').",
    lambda: _case((1, 3, 6, 6), (4, 3, 3, 3)),
)
def squeeze_all_unit_dims(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Removes the batch dimension with squeeze(), which also drops N, C_out, H_out or W_out of size 1."""
    x = input if input.dim() == 4 else input.unsqueeze(0)
    return _base_conv2d(x, weight, bias, stride, padding, dilation, groups).squeeze()


# =================================================================================================
# tile remainders and size thresholds
# =================================================================================================
@_mutant(
    "tile-remainder",
    "ncnn's stride-2 convolution, wrong when the output size was not a multiple of 4 "
    "(Tencent/ncnn#1014); emulated as an 8-wide vector loop without its scalar tail.",
    lambda: _case((2, 3, 10, 11), (4, 3, 3, 3)),
)
def tail_drop_w8(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Leaves the last W_out % 8 output columns zero (the 8-wide vector loop has no tail)."""
    out = _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    keep = out.shape[-1] - out.shape[-1] % 8
    return torch.cat([out[..., :keep], torch.zeros_like(out[..., keep:])], dim=-1)


@_mutant(
    "tile-remainder",
    "channel-blocked CPU kernels, e.g. pytorch/pytorch#21597 (MKL-DNN convolution wrong for 6 input "
    "channels, right for 8, 12, 16); emulated as the tail of 16-wide channel blocks dropped.",
    lambda: _case((2, 20, 6, 6), (4, 20, 3, 3)),
)
def channel_tail_c16(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Drops the last (C_in/groups) % 16 input channels from the reduction when C_in/groups > 16."""
    per_group = weight.shape[1]
    if per_group <= 16 or per_group % 16 == 0:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    kept = (torch.arange(per_group, device=weight.device) < per_group - per_group % 16).to(weight.dtype)
    return _base_conv2d(input, weight * kept.view(1, -1, 1, 1), bias, stride, padding, dilation, groups)


_TILE = 32


@_mutant(
    "tile-remainder",
    "tiled inference without the halo each tile needs (wolny/pytorch-3dunet#113: 'the current "
    "implementation of the halo is incorrect', causing tiling artefacts).",
    lambda: _case((1, 1, 70, 70), (2, 1, 3, 3)),
)
def tiled_missing_halo(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Above H*W = 4096 computes 32x32 output tiles from their own input rows only, zeros in place of the halo."""
    if input.shape[-2] * input.shape[-1] <= 4096:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    xp, (sh, sw), (ho, wo) = F.pad(x, geo.fpad), geo.stride, geo.out
    rows = []
    for r0 in range(0, ho, _TILE):
        rh = min(_TILE, ho - r0)
        tiles = []
        for c0 in range(0, wo, _TILE):
            cw = min(_TILE, wo - c0)
            tile = xp[..., r0 * sh : (r0 + rh) * sh, c0 * sw : (c0 + cw) * sw]
            need = ((rh - 1) * sh + geo.extent[0], (cw - 1) * sw + geo.extent[1])
            tile = F.pad(tile, (0, max(0, need[1] - tile.shape[-1]), 0, max(0, need[0] - tile.shape[-2])))
            tiles.append(_base_conv2d(tile, weight, bias, geo.stride, 0, geo.dilation, groups)[..., :rh, :cw])
        rows.append(torch.cat(tiles, dim=-1))
    return _unbatch(torch.cat(rows, dim=-2), geo.batched)


_WRAP = 1 << 16


@_mutant(
    "tile-remainder",
    "narrow-integer index overflow in large convolutions (the 32-bit guard of pytorch/pytorch#80020, "
    "scaled down to a 16-bit index so that it is reachable).",
    lambda: _case((1, 1, 64, 64), (20, 1, 3, 3), padding=1),
)
def index_wrap_16bit(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Writes output element i to i mod 2**16: above 65536 output elements, later ones overwrite earlier ones."""
    out = _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    if out.numel() <= _WRAP:
        return out
    flat = out.reshape(-1)
    wrapped = flat[:_WRAP]
    for start in range(_WRAP, flat.numel(), _WRAP):
        segment = flat[start : start + _WRAP]
        wrapped = torch.cat([segment, wrapped[segment.numel() :]])
    return torch.cat([wrapped, flat.new_zeros(flat.numel() - _WRAP)]).view(out.shape)


# =================================================================================================
# fast paths
# =================================================================================================
@_mutant(
    "fast-path",
    "darknet's size-1 convolution path, which used the input as its column buffer without checking "
    "the stride (AlexeyAB/darknet#6471); compare majianjia/nnom#84 for CMSIS-NN's 1x1 kernel.",
    lambda: _case((2, 3, 8, 8), (4, 3, 1, 1), stride=2),
)
def pointwise_ignores_stride(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Its 1x1 fast path computes stride 1 and keeps the first H_out x W_out pixels."""
    s = _pair(stride, "stride")
    if weight.shape[-2:] != (1, 1) or s == (1, 1):
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    out = _conv(x, weight, bias, geo, stride=1)[..., : geo.out[0], : geo.out[1]]
    return _unbatch(out, geo.batched)


@_mutant(
    "fast-path",
    "1x1 fast paths valid only without padding, chosen without checking it (majianjia/nnom#84: "
    "CMSIS-NN's 1x1 kernel requires pad 0 and stride 1).",
    lambda: _case((2, 3, 6, 6), (4, 3, 1, 1), padding=1),
)
def pointwise_ignores_padding(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Its 1x1 fast path ignores padding, so the output lacks the padded border."""
    if weight.shape[-2:] != (1, 1) or isinstance(padding, str):
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    return _base_conv2d(input, weight, bias, stride, 0, dilation, groups)


@_mutant(
    "fast-path",
    "TensorFlow's Conv2D shortcut for a filter as large as the input, done as one matmul (the paths "
    "are listed in tensorflow/tensorflow#51132), with the bias handling of Maratyszcza/NNPACK#77.",
    lambda: _case((2, 3, 5, 5), (4, 3, 5, 5)),
)
def whole_input_kernel_drops_bias(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """When the (undilated) kernel covers the whole padded input, a single-GEMM path forgets the bias."""
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    if geo.padded != geo.kernel or geo.dilation != (1, 1):
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    n, o, g = x.shape[0], weight.shape[0], groups
    flat = F.pad(x, geo.fpad).reshape(n, g, -1)
    out = torch.einsum("ngk,gok->ngo", flat, weight.reshape(g, o // g, -1)).reshape(n, o, 1, 1)
    return _unbatch(out, geo.batched)


# =================================================================================================
# memory layout
# =================================================================================================
@_mutant(
    "layout",
    "kernels that index every buffer as dense (NVIDIA/cutlass#1323: a stride ignored; "
    "ggml-org/llama.cpp#28503: conv2d kernels assumed contiguity).",
    _case_with(_strided_view, x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
def strided_view_as_contiguous(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Reads a non-contiguous input view (other than channels_last) with contiguous strides."""
    if not input.is_contiguous() and not _is_channels_last(input):
        input = _read_as_contiguous(input)
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "layout",
    "oneDNN reading from the start of the storage for views with a non-zero storage offset "
    "(pytorch/pytorch#179042); compare nntile/nntile#464.",
    _case_with(_offset_view, x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
def storage_offset_ignored(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Reads the input from the start of its storage, ignoring its storage offset."""
    if input.storage_offset():
        input = input.as_strided(input.shape, input.stride(), 0)
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "layout",
    "NHWC/NCHW mix-ups between a framework and its kernels (tenstorrent/tt-metal#21463: 'we were "
    "passing NCHW format, when NHWC was expected'); compare pytorch/pytorch#82060.",
    _case_with(_channels_last, x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
def channels_last_read_as_nchw(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Reads a channels_last input's memory as if it were NCHW."""
    if _is_channels_last(input):
        input = _read_as_contiguous(input)
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "layout",
    "PyTorch's THNN convolution, wrong for non-contiguous weights (pytorch/pytorch#1246).",
    _case_with(make_weight=lambda w: w.transpose(2, 3), x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
def weight_assumed_contiguous(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Reads a non-contiguous weight (views, channels_last) with contiguous strides."""
    if not weight.is_contiguous():
        weight = _read_as_contiguous(weight)
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


# =================================================================================================
# precision
# =================================================================================================
def _conv_in(
    dtype: torch.dtype,
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntPair,
    padding: PaddingArg,
    dilation: IntPair,
    groups: int,
) -> Tensor:
    """F.conv2d with every tensor argument cast to ``dtype`` (the result stays in ``dtype``)."""
    low_bias = None if bias is None else bias.to(dtype)
    return _base_conv2d(input.to(dtype), weight.to(dtype), low_bias, stride, padding, dilation, groups)


def _round_to_tf32(t: Tensor) -> Tensor:
    """``t`` (float32) rounded to 10 mantissa bits, nearest-even; the gradient passes straight through."""
    bits = t.detach().contiguous().view(torch.int32)
    rounded = (bits + 0xFFF + ((bits >> 13) & 1)) & -8192
    return t + (rounded.view(torch.float32) - t).detach()


@_mutant(
    "precision",
    "cuDNN's TF32 tensor-core math, enabled by default for float32 convolutions "
    "(torch.backends.cudnn.allow_tf32; pytorch/pytorch#107514).",
    lambda: _case((2, 4, 6, 6), (4, 4, 3, 3), dtype=torch.float32),
)
def tf32_float32(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Rounds float32 input and weight to TF32 (10-bit mantissa) before multiplying, without declaring it."""
    if input.dtype == torch.float32:
        input, weight = _round_to_tf32(input), _round_to_tf32(weight)
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "precision",
    "reduced-precision math modes that down-convert float32 operands to bfloat16 (oneDNN's "
    "fpmath_mode=bf16; the bug class, no specific public issue).",
    lambda: _case((2, 4, 6, 6), (4, 4, 3, 3), dtype=torch.float32),
)
def float32_via_bfloat16(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Computes float32 convolutions in bfloat16 and casts the result back to float32."""
    if input.dtype != torch.float32:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    return _conv_in(torch.bfloat16, input, weight, bias, stride, padding, dilation, groups).float()


@_mutant(
    "special-shape kernel",
    "torch 2.13's oneDNN bfloat16 CPU convolution, which returns wrong values whenever stride > 1 "
    "and the output width is 1 (found by this gate on an Intel Xeon with AVX512; see the README's "
    "'Bugs found in real implementations').",
    lambda: _case((1, 1, 15, 4), (1, 1, 3, 4), dtype=torch.bfloat16, stride=2),
)
def bfloat16_strided_width_one(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """In bfloat16 with stride > 1 and a one-column output, reads its window one column to the right."""
    out = _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    if input.dtype != torch.bfloat16 or max(_pair(stride, "stride")) == 1 or out.shape[-1] != 1:
        return out
    shifted = F.pad(input, (-1, 1))  # the columns one to the left: the window starts a column late
    return _base_conv2d(shifted, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "precision",
    "half-precision accumulators that drop small late addends (openvinotoolkit/openvino#25525; "
    "uxlfoundation/oneDNN#5041 moved f16 convolution to an f32 accumulator).",
    _stagnating_half(torch.float16, 2048.0, taps=7, channels=1),
)
def float16_accumulate_per_tap(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Accumulates float16 convolutions tap by tap in a float16 running sum."""
    if input.dtype != torch.float16:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    xp = F.pad(x, geo.fpad)
    acc = sum(
        _base_conv2d(xp[..., rows, cols], weight[..., u : u + 1, v : v + 1], None, 1, 0, 1, groups)
        for u, v, rows, cols in _tap_slices(geo)
    )
    assert isinstance(acc, Tensor)
    return _unbatch(acc if bias is None else acc + bias.view(1, -1, 1, 1), geo.batched)


@_mutant(
    "precision",
    "bfloat16 sums that stagnate (pytorch/pytorch#83863: a bfloat16 matmul of 1024 ones gives a wrong "
    "result on CPU without mkldnn): accumulation channel by channel in bfloat16.",
    _stagnating_half(torch.bfloat16, 256.0, taps=1, channels=80),
)
def bfloat16_accumulate_per_channel(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Accumulates bfloat16 convolutions input channel by input channel in a bfloat16 running sum."""
    if input.dtype != torch.bfloat16:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    xp = F.pad(x, geo.fpad).unflatten(1, (groups, -1))
    acc = sum(
        _conv(xp[:, :, c], weight[:, c : c + 1], None, geo, pads=(0, 0, 0, 0)) for c in range(weight.shape[1])
    )
    assert isinstance(acc, Tensor)
    return _unbatch(acc if bias is None else acc + bias.view(1, -1, 1, 1), geo.batched)


@_mutant(
    "precision",
    "the Keras TensorFlow backend casting float64 convolution inputs to float32 "
    "(keras-team/keras#10964: \"if dtype(x) == 'float64': x = tf.cast(x, 'float32')\").",
    lambda: _case((2, 3, 6, 6), (4, 3, 3, 3)),
)
def float64_via_float32(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Computes float64 convolutions in float32 and casts the result back to float64."""
    if input.dtype != torch.float64:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    return _conv_in(torch.float32, input, weight, bias, stride, padding, dilation, groups).double()


@_mutant(
    "precision",
    "mixed-precision wrappers that hand back their float32 accumulator (the bug class; no specific "
    "public issue).",
    lambda: _case((2, 3, 6, 6), (4, 3, 3, 3), dtype=torch.float16),
)
def half_returns_float32(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Returns a float32 result for float16 and bfloat16 inputs."""
    if input.dtype not in (torch.float16, torch.bfloat16):
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    return _conv_in(torch.float32, input, weight, bias, stride, padding, dilation, groups)


# =================================================================================================
# backward-only bugs
# =================================================================================================
Grads = tuple[Tensor | None, Tensor | None, Tensor | None]
Flaw = Callable[[Grads, Tensor, Tensor, Tensor, Geometry], Grads]


def _exact_grads(x: Tensor, weight: Tensor, bias: Tensor | None, geo: Geometry, grad: Tensor) -> Grads:
    """The exact gradients of <conv(x, weight) + bias, grad> w.r.t. x, weight and bias."""
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_() for t in (x, weight)]
        b = None if bias is None else bias.detach().requires_grad_()
        out = _conv(leaves[0], leaves[1], b, geo)
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
        return _conv(x, weight, bias, geo)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, bias = ctx.saved_tensors
        grads = ctx.flaw(_exact_grads(x, weight, bias, ctx.geo, grad), x, weight, grad, ctx.geo)
        return (*grads, None, None)


def _flawed(
    flaw: Flaw,
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntPair,
    padding: PaddingArg,
    dilation: IntPair,
    groups: int,
) -> Tensor:
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    return _unbatch(_FlawedBackward.apply(x, weight, bias, geo, flaw), geo.batched)


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


@_mutant(
    "backward",
    "torch.nn.grad.conv2d_weight, wrong with groups > 1 (pytorch/pytorch#51430).",
    lambda: _case((2, 4, 6, 6), (4, 2, 3, 3), groups=2, grad=True),
)
def grad_weight_groups_first_input(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Exact forward; with groups > 1, grad_weight of every group is computed from the first group's input."""
    return _flawed(_flaw_grad_weight_groups, input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "backward",
    "backward-data kernels that support fewer parameters than their forward (the bug class; compare "
    "Zardinality/TF-deformable-conv#16, where two code paths disagreed once dilation was not 1).",
    lambda: _case((2, 3, 9, 9), (4, 3, 3, 3), dilation=2, grad=True),
)
def grad_input_ignores_dilation(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Exact forward; grad_input is a transposed convolution with dilation 1."""
    return _flawed(_flaw_grad_input_dilation, input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "backward",
    "oneDNN's backward-data convolution, incorrect when stride_w > 1, ic > 16 and iw < 17 "
    "(fujitsu/oneDNN#44).",
    lambda: _case((2, 3, 9, 9), (4, 3, 3, 3), stride=2, grad=True),
)
def grad_input_ignores_stride(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Exact forward; grad_input is a transposed convolution with stride 1."""
    return _flawed(_flaw_grad_input_stride, input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "backward",
    "bias gradients reduced the wrong way (snuspl/cruise#800 summed the bias error over the wrong "
    "axis): here averaged over the batch instead of summed.",
    lambda: _case((3, 3, 6, 6), (4, 3, 3, 3), grad=True),
)
def grad_bias_batch_mean(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Exact forward; grad_bias is divided by the batch size (wrong whenever N > 1)."""
    return _flawed(_flaw_grad_bias_mean, input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "backward",
    "torchao's QAT autograd functions, whose backward returned None in the bias slot "
    "(pytorch/ao#4817): the bias silently gets no gradient.",
    lambda: _case((2, 4, 6, 6), (4, 2, 3, 3), groups=2, grad=True),
)
def bias_grad_missing_grouped(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Exact forward; with groups > 1 the backward returns no gradient for the bias."""
    return _flawed(_flaw_bias_grad_missing, input, weight, bias, stride, padding, dilation, groups)


# =================================================================================================
# nondeterminism
# =================================================================================================
_CALLS = itertools.count()


@_mutant(
    "nondeterminism",
    "run-to-run differences from a changing reduction order (pytorch/pytorch#116369: CPU Conv1d "
    "dispatching to different kernels within one run; cuDNN's atomics-based algorithms).",
    lambda: _case((2, 24, 6, 6), (4, 24, 3, 3)),
)
def nondeterministic_channel_chunks(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """For C_in/groups > 8, sums 4-channel partial results in an order that rotates from call to call."""
    per_group = weight.shape[1]
    if per_group <= 8:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    dtype = _compute_dtype(input.dtype)
    xg = F.pad(x, geo.fpad).to(dtype).unflatten(1, (groups, -1))
    starts = list(range(0, per_group, 4))
    turn = next(_CALLS) % len(starts)
    acc = sum(
        _conv(xg[:, :, s : s + 4].flatten(1, 2), weight[:, s : s + 4].to(dtype), None, geo, pads=(0, 0, 0, 0))
        for s in starts[turn:] + starts[:turn]
    )
    assert isinstance(acc, Tensor)
    acc = acc if bias is None else acc + bias.to(dtype).view(1, -1, 1, 1)
    return _unbatch(acc.to(input.dtype), geo.batched)


# =================================================================================================
# input mutation
# =================================================================================================
@_mutant(
    "input-mutation",
    "operators that write into their weight argument (hpi-xnor/BMXNet#30: QFullyConnected quantizes "
    "into the input weight tensor); here a large-kernel path flips the kernel in place and forgets it.",
    lambda: _case((2, 3, 8, 8), (4, 3, 5, 5)),
)
def weight_flipped_in_place(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Correct result, but for kernels of 25+ taps it leaves the caller's weight flipped (a true-convolution path)."""
    if weight.shape[-2] * weight.shape[-1] < 25:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    with torch.no_grad():
        weight.copy_(weight.flip(-2, -1))
    return _base_conv2d(input, weight.flip(-2, -1), bias, stride, padding, dilation, groups)


@_mutant(
    "input-mutation",
    "overflow guards that rescale the caller's tensor instead of a copy (the bug class; compare "
    "hpi-xnor/BMXNet#30 for operators writing into their arguments).",
    lambda: (
        (torch.full((1, 2, 5, 5), 300.0, dtype=torch.float16), torch.ones(2, 2, 3, 3, dtype=torch.float16)),
        {},
    ),
)
def input_scaled_in_place(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Correct float16 result, but when max|input| > 256 it divides the caller's input by 16 in place."""
    if input.dtype != torch.float16 or float(input.detach().abs().max()) <= 256:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    with torch.no_grad():
        input.mul_(1 / 16)
    scaled_bias = None if bias is None else bias / 16
    return _base_conv2d(input, weight, scaled_bias, stride, padding, dilation, groups) * 16


# =================================================================================================
# output buffer reuse
# =================================================================================================
_ARENA: dict[tuple[Any, ...], Tensor] = {}


@_mutant(
    "buffer-reuse",
    "torch_migraphx returning the same preallocated output buffers on every call "
    "(ROCm/torch_migraphx#247: out1 and out2 referencing the same data).",
    lambda: _case((1, 1, 48, 48), (16, 1, 3, 3), padding=1),
)
def cached_output_buffer(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Without autograd, outputs above 32768 elements go into one cached buffer that the next call overwrites."""
    out = _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    if out.numel() <= 32768 or out.requires_grad:
        return out
    key = (tuple(out.shape), out.stride(), out.dtype, out.device)
    return _ARENA.setdefault(key, torch.empty_like(out)).copy_(out)


@_mutant(
    "buffer-reuse",
    "graph rewrites that elide an identity operation and alias its input "
    "(the bug class; compare pytorch/xla#1727 on aliasing inputs with outputs).",
    lambda: (
        (torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0)), torch.eye(3).view(3, 3, 1, 1)),
        {},
    ),
)
def identity_kernel_returns_input(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """For an identity 1x1 weight without bias, returns a view of the input instead of a new tensor."""
    _, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    o, c = weight.shape[:2]
    identity = (
        bias is None
        and groups == 1
        and o == c
        and geo.kernel == (1, 1)
        and geo.stride == (1, 1)
        and geo.fpad == (0, 0, 0, 0)
        and torch.equal(weight.detach().reshape(o, c), torch.eye(o, dtype=weight.dtype, device=weight.device))
    )
    if identity:
        return input.view_as(input)
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


# =================================================================================================
# the rest of the contract: empty and special values, autograd paths, threads, state, input checks
# =================================================================================================
@_mutant(
    "empty-batch",
    "kernels that size their launch grid or workspace from the batch and fail on zero images "
    "(the bug class; F.conv2d returns an empty (0, C_out, H', W') tensor).",
    lambda: _case((0, 2, 5, 5), (3, 2, 3, 3)),
)
def empty_batch_raises(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Raises on a batch of zero images (it divides the work by the batch size)."""
    if input.dim() == 4 and input.shape[0] == 0:
        raise ZeroDivisionError("integer division or modulo by zero (work per image)")
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "special-values",
    "sparse fast paths that skip zero weights, so NaN * 0 is never computed and a NaN or inf "
    "input stops propagating (the bug class; IEEE 754: NaN * 0 = NaN, inf * 0 = NaN).",
    lambda: (
        (
            torch.tensor([[[[float("nan"), 1.0, 2.0]]]], dtype=torch.float64),
            torch.tensor([[[[0.0, 1.0]]]], dtype=torch.float64),
            None,
        ),
        {},
    ),
)
def skips_zero_weights(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Skips the products of zero weights (im2col with the zero taps masked out), so NaN * 0 never happens."""
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    if geo.groups != 1:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    cols = F.unfold(F.pad(x, geo.fpad), geo.kernel, dilation=geo.dilation, stride=geo.stride)
    taps = weight.reshape(weight.shape[0], -1)
    products = taps[None, :, :, None] * cols[:, None]
    products = torch.where(taps[None, :, :, None] == 0, torch.zeros_like(products), products)
    out = products.sum(dim=2).reshape(x.shape[0], weight.shape[0], *geo.out)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return _unbatch(out.to(input.dtype), geo.batched)


@_mutant(
    "special-values",
    "saturating conversions that clamp float16 overflow to 65504 instead of inf "
    "(the bug class of saturate_cast in fused low-precision epilogues).",
    lambda: _case((1, 4, 3, 3), (1, 4, 3, 3), dtype=torch.float16, bias=False),
)
def float16_saturates(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Clamps float16 results to the largest finite float16 (65504) instead of overflowing to inf."""
    if input.dtype != torch.float16:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    wide = _base_conv2d(
        input.float(),
        weight.float(),
        None if bias is None else bias.float(),
        stride,
        padding,
        dilation,
        groups,
    )
    return wide.clamp(-65504.0, 65504.0).half()


class _FrozenWeightLosesInput(torch.autograd.Function):
    """Exact forward; backward drops the input gradient whenever the weight does not require grad."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, geo: Geometry) -> Tensor:
        ctx.save_for_backward(x, weight, bias)
        ctx.geo = geo
        return _conv(x, weight, bias, geo)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, bias = ctx.saved_tensors
        gx, gw, gb = _exact_grads(x, weight, bias, ctx.geo, grad)
        if not ctx.needs_input_grad[1]:
            gx = None  # "only the weights train": the shortcut is wrong for a frozen weight
        return gx, gw, gb, None


@_mutant(
    "autograd-path",
    "custom backward passes that compute the input gradient only alongside the weight gradient, so "
    "freezing the weight (fine-tuning) silently stops every earlier layer (the bug class).",
    lambda: _case((1, 2, 5, 5), (3, 2, 3, 3), grad=True),
)
def frozen_weight_loses_input_grad(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Returns no input gradient when the weight is frozen (requires_grad=False)."""
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    return _unbatch(_FrozenWeightLosesInput.apply(x, weight, bias, geo), geo.batched)


@_mutant(
    "autograd-path",
    "custom autograd Functions whose backward computes exact gradients outside autograd, so gradient "
    "penalties (WGAN-GP), Hessian-vector products and MAML see zero second derivatives (the bug class).",
    lambda: _case((1, 2, 5, 5), (3, 2, 3, 3), grad=True),
)
def detached_double_backward(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Exact first-order gradients, computed detached: the gradients themselves have no gradient."""
    return _flawed(lambda grads, *_: grads, input, weight, bias, stride, padding, dilation, groups)


_WORKSPACE: dict[tuple[Any, ...], Tensor] = {}


@_mutant(
    "thread-safety",
    "module-level scratch buffers shared by every call (the bug class of static workspaces in "
    "hand-written kernels), so two threads calling at once overwrite each other's results.",
    lambda: _case((1, 2, 5, 5), (3, 2, 3, 3)),
)
def shared_workspace(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Writes each result into one module-level workspace per shape, then copies it out after a pause."""
    out = _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    key = (tuple(out.shape), out.dtype, out.device)
    workspace = _WORKSPACE.setdefault(key, torch.empty_like(out))
    with torch.no_grad():
        workspace.copy_(out)
    time.sleep(0.002)  # the window in which another thread's call overwrites the workspace
    return out if out.requires_grad else workspace.clone()


@_mutant(
    "global-state",
    "kernels that switch a global mode for their own speed and leave it switched (the bug class; "
    "compare libraries that call torch.use_deterministic_algorithms or set_flush_denormal on import).",
    lambda: _case((1, 2, 5, 5), (3, 2, 3, 3)),
)
def leaves_deterministic_mode_on(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Turns torch's deterministic-algorithms mode on and leaves it on."""
    torch.use_deterministic_algorithms(True)
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "input-validation",
    "kernels without a shape check that read the first C_in channels of a wider input instead of "
    "raising (the bug class; F.conv2d raises 'expected input to have N channels').",
    lambda: _case((1, 3, 5, 5), (2, 2, 3, 3)),
)
def no_channel_check(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Reads only the channels the weight expects when the input has more, instead of raising."""
    expected = weight.shape[1] * groups if weight.dim() == 4 else 0
    if input.dim() in (3, 4) and input.shape[-3] > expected > 0:
        input = input.narrow(-3, 0, expected)
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "batch-tiling",
    "batched kernels that tile N by 16 and handle the remainder tile wrong (the bug class of "
    "batch-blocked GEMM dispatch; batches past 16 with a remainder).",
    lambda: _case((17, 1, 3, 3), (1, 1, 2, 2)),
)
def batch_tile16_remainder(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Tiles the batch by 16; the remainder tile is computed from the last full tile's images."""
    if input.dim() != 4 or input.shape[0] <= 16 or input.shape[0] % 16 == 0:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    n, full = input.shape[0], input.shape[0] // 16 * 16
    tiles = [
        _base_conv2d(input[i : i + 16], weight, bias, stride, padding, dilation, groups)
        for i in range(0, full, 16)
    ]
    rest = _base_conv2d(input[full - (n - full) : full], weight, bias, stride, padding, dilation, groups)
    return torch.cat([*tiles, rest])


@_mutant(
    "production-fast-path",
    "fast paths selected on production configurations (Winograd for 3x3, stride 1, dilation 1, "
    "groups 1, channels divisible by 4) that compute internally in lower precision (the bug class; "
    "oneDNN fpmath_mode, cuDNN's reduced-precision Winograd).",
    lambda: _case((1, 8, 6, 6), (8, 8, 3, 3), dtype=torch.float32, padding=1),
)
def fast_path_3x3_in_bfloat16(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """For float32 3x3, stride 1, dilation 1, groups 1 and channels divisible by 4, computes in bfloat16."""
    fast = (
        input.dtype == torch.float32
        and weight.dim() == 4
        and tuple(weight.shape[-2:]) == (3, 3)
        and _pair(stride, "stride") == (1, 1)
        and _pair(dilation, "dilation") == (1, 1)
        and groups == 1
        and weight.shape[0] % 4 == 0
        and weight.shape[1] % 4 == 0
    )
    if not fast:
        return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
    return _conv_in(torch.bfloat16, input, weight, bias, stride, padding, dilation, groups).float()


@_mutant(
    "calling-convention",
    "wrappers whose defaults differ from F.conv2d's (a stride of 2 by default, as a downsampling "
    "helper has), which only calls with omitted arguments see (the bug class).",
    lambda: (
        (torch.randn(1, 1, 6, 6, dtype=torch.float64), torch.randn(1, 1, 3, 3, dtype=torch.float64)),
        {},
    ),
)
def stride_two_by_default(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 2,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Has ``stride=2`` as its default instead of F.conv2d's 1."""
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)


@_mutant(
    "calling-convention",
    "wrappers that order their parameters differently from F.conv2d (padding before stride), "
    "which only positional calls see (the bug class; found by operator mutation of a correct kernel).",
    lambda: (
        (
            torch.randn(1, 1, 6, 6, dtype=torch.float64),
            torch.randn(1, 1, 3, 3, dtype=torch.float64),
            None,
            2,
            1,
        ),
        {},
    ),
)
def padding_before_stride(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    padding: PaddingArg = 0,
    stride: IntPair = 1,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Takes ``padding`` before ``stride`` in its positional parameters."""
    return _base_conv2d(input, weight, bias, stride, padding, dilation, groups)
