"""Mutants whose bug is in the channels: grouped and depthwise indexing, and the bias per output channel.

Each departs from F.conv2d only on the grouped, depthwise or biased calls its real bug
concerns, and there the way that bug does; its entry in ``WITNESSES`` is a small,
deterministic call of that kind.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import (
    Conv2dCall,
    base_conv2d,
    case,
    case_with,
    channels_last,
    conv,
    conv2d_signature,
    is_channels_last,
    registrar,
    unbatch,
)

__all__ = [
    "WITNESSES",
    "bias_first_group_reused",
    "bias_ignored_above_64",
    "bias_twice_split_k",
    "bias_wrong_axis_channels_last",
    "depthwise_multiplier_interleaved",
    "group_input_offset_not_advanced",
    "group_weight_slice",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("conv2d")
# The mutants below share one form on purpose (@_mutant, @conv2d_signature, a docstring naming
# the bug, a short body around the zoo's correct convolution): each differs only by its own bug.


def _channel_view(bias: Tensor) -> Tensor:
    """``bias`` shaped to broadcast over (N, C, H, W) and (C, H, W) outputs."""
    return bias.view(-1, 1, 1)


# -- grouped and depthwise indexing ---------------------------------------------------------------
@_mutant(
    Category.GROUPS,
    "PyTorch's depthwise 3x3 Winograd kernel, which assumed groups == in_channels == out_channels "
    "(fixed in pytorch/pytorch#60460 for #60176).",
    lambda: case((2, 3, 8, 8), (6, 1, 3, 3), groups=3),
)
@conv2d_signature
def depthwise_multiplier_interleaved(c: Conv2dCall) -> Tensor:
    """With a depthwise multiplier m > 1, feeds output channel o from input channel o % C, not o // m."""
    channels, out_channels = c.weight.shape[1] * c.groups, c.weight.shape[0]
    if c.groups == 1 or c.groups != channels or out_channels == channels:
        return base_conv2d(c)
    x, geo = c.normalise()
    source = torch.arange(out_channels, device=x.device) % channels
    out = base_conv2d(
        Conv2dCall(F.pad(x[:, source], geo.fpad), c.weight, c.bias, geo.stride, 0, geo.dilation, out_channels)
    )
    return unbatch(out, geo.batched)


@_mutant(
    Category.GROUPS,
    "grouped convolutions with wrong per-group results (pytorch/pytorch#19912: wrong on CPU for 4 in / "
    "16 out channels, 2 groups); emulated as group g's weight slice starting at g, not g * out/groups.",
    lambda: case((2, 4, 8, 8), (6, 2, 3, 3), groups=2),
)
@conv2d_signature
def group_weight_slice(c: Conv2dCall) -> Tensor:
    """Takes group g's filters from weight[g : g + out/groups] (wrong when groups > 1 and out/groups > 1)."""
    per_group = c.weight.shape[0] // c.groups
    if c.groups == 1 or per_group == 1:
        return base_conv2d(c)
    shifted = torch.cat([c.weight[g : g + per_group] for g in range(c.groups)])
    return base_conv2d(c._replace(weight=shifted))


@_mutant(
    Category.GROUPS,
    "per-group offset arithmetic in im2col convolutions (questioned for Caffe in BVLC/caffe#4134); "
    "emulated as an input-channel offset advanced per group only in the depthwise path.",
    lambda: case((2, 4, 8, 8), (4, 2, 3, 3), groups=2),
)
@conv2d_signature
def group_input_offset_not_advanced(c: Conv2dCall) -> Tensor:
    """For 1 < groups < in_channels every group reads the first group's input channels."""
    per_group = c.weight.shape[1]
    if c.groups == 1 or per_group == 1:
        return base_conv2d(c)
    x, geo = c.normalise()
    return unbatch(conv(x[:, :per_group].repeat(1, c.groups, 1, 1), c.weight, c.bias, geo), geo.batched)


# -- bias -----------------------------------------------------------------------------------------
@_mutant(
    Category.BIAS,
    "double bias handling between a framework and its kernel library, as in Maratyszcza/NNPACK#77 "
    "(Darknet adds its own bias, so NNPACK must not): a split-K epilogue that adds the bias again.",
    lambda: case((2, 32, 6, 6), (4, 32, 3, 3)),
)
@conv2d_signature
def bias_twice_split_k(c: Conv2dCall) -> Tensor:
    """Adds the bias twice when the reduction length C_in/groups * kh * kw exceeds 256 (the split-K path)."""
    out = base_conv2d(c)
    if c.bias is None or c.weight[0].numel() <= 256:
        return out
    return out + _channel_view(c.bias)


@_mutant(
    Category.BIAS,
    "rten's grouped ConvTranspose (robertknight/rten#1408), where every group used the bias values of "
    "the first group; compare OAID/Tengine#5 (bias step for group convolution).",
    lambda: case((2, 4, 8, 8), (4, 2, 3, 3), groups=2),
)
@conv2d_signature
def bias_first_group_reused(c: Conv2dCall) -> Tensor:
    """Indexes the bias by the channel's position within its group, so every group gets group 0's bias."""
    if c.bias is None or c.groups == 1:
        return base_conv2d(c)
    return base_conv2d(c._replace(bias=c.bias[: c.weight.shape[0] // c.groups].repeat(c.groups)))


@_mutant(
    Category.BIAS,
    "kernels that stage the bias in a fixed-size block of output channels (the bug class; no specific "
    "public issue): channels past the block get no bias.",
    lambda: case((1, 2, 5, 5), (70, 2, 3, 3)),
)
@conv2d_signature
def bias_ignored_above_64(c: Conv2dCall) -> Tensor:
    """Adds no bias to output channels 64 and above."""
    if c.bias is not None and c.bias.shape[0] > 64:
        c = c._replace(bias=torch.cat([c.bias[:64], torch.zeros_like(c.bias[64:])]))
    return base_conv2d(c)


@_mutant(
    Category.BIAS,
    "onnx2c's convolution, whose bias was indexed along the wrong dimension (kraiskil/onnx2c#7): here "
    "the NHWC path indexes the bias as if its output were NCHW.",
    case_with(channels_last, x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
@conv2d_signature
def bias_wrong_axis_channels_last(c: Conv2dCall) -> Tensor:
    """For channels_last input, adds bias[flat_index // (H*W)] to the NHWC buffer, the NCHW channel of each slot."""
    if c.bias is None or not is_channels_last(c.input):
        return base_conv2d(c)
    out = base_conv2d(c._replace(bias=None))
    n, o, h, w = out.shape
    nhwc = out.permute(0, 2, 3, 1).reshape(n, -1) + c.bias.repeat_interleave(h * w)
    return nhwc.view(n, h, w, o).permute(0, 3, 1, 2)
