"""Mutants whose bug is in the call's geometry: output size, padding, and per-axis stride, padding, dilation.

Each departs from F.conv2d only for the output sizes, paddings, strides or dilations
its real bug concerns, and there the way that bug does; ``WITNESSES`` holds, for each,
a small deterministic call with them.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import (
    Conv2dCall,
    base_conv2d,
    case,
    conv,
    conv2d_signature,
    pair,
    registrar,
    same_split,
    unbatch,
)

__all__ = [
    "WITNESSES",
    "ceil_output_size",
    "dilation_h_for_w",
    "dilation_ignored_in_output_size",
    "off_by_one_strided_output",
    "pad_pair_as_fpad_tuple",
    "padding_swapped",
    "same_all_padding_after",
    "same_even_kernel_wrong_side",
    "same_ignores_dilation",
    "stride_h_for_w",
    "stride_swapped",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("conv2d")
# The mutants below share one form on purpose (@_mutant, @conv2d_signature, a docstring naming
# the bug, a short body around the zoo's correct convolution): each differs only by its own bug.


@_mutant(
    Category.OUTPUT_SIZE,
    "PaddlePaddle's cnn_output_size (PaddlePaddle/Paddle#5242), which rounded the output size up "
    "outside caffe mode: output-size formulas that use ceil instead of floor.",
    lambda: case((2, 3, 10, 10), (4, 3, 3, 3), stride=2),
)
@conv2d_signature
def ceil_output_size(c: Conv2dCall) -> Tensor:
    """Rounds the output size up when (H + 2p - d(k-1) - 1) is not a multiple of the stride.

    The extra last row/column is a window that hangs over the edge and reads zeros.
    """
    x, geo = c.normalise()
    extra = [-(geo.padded[a] - geo.extent[a]) % geo.stride[a] for a in (0, 1)]
    left, right, top, bottom = geo.fpad
    return unbatch(
        conv(x, c.weight, c.bias, geo, pads=(left, right + extra[1], top, bottom + extra[0])), geo.batched
    )


@_mutant(
    Category.OUTPUT_SIZE,
    "output-size formula slips such as the mis-stated one in the documentation discussed in "
    "torch/nn#945; here floor((H + 2p - d(k-1)) / s), an off-by-one that only shows with a stride above 1.",
    lambda: case((2, 3, 9, 9), (4, 3, 3, 3), stride=2),
)
@conv2d_signature
def off_by_one_strided_output(c: Conv2dCall) -> Tensor:
    """Computes the output size as floor(L / s) with L = H + 2p - d(k-1), dropping the last row/column.

    It equals the right floor((L - 1) / s) + 1 for stride 1 and whenever L is a multiple of s.
    """
    _, geo = c.normalise()
    rows, cols = ((geo.padded[a] - geo.extent[a] + 1) // geo.stride[a] for a in (0, 1))
    return base_conv2d(c)[..., :rows, :cols]


@_mutant(
    Category.OUTPUT_SIZE,
    "output-size formulas that forget the dilation, as in PaddlePaddle/Paddle#5242 and "
    "webmachinelearning/webnn#222: the size uses k instead of d(k-1)+1.",
    lambda: case((2, 3, 10, 10), (4, 3, 3, 3), dilation=2),
)
@conv2d_signature
def dilation_ignored_in_output_size(c: Conv2dCall) -> Tensor:
    """Sizes the output as if dilation were 1, so dilated calls get extra rows/columns that read zeros."""
    x, geo = c.normalise()
    rows, cols = ((geo.padded[a] - geo.kernel[a]) // geo.stride[a] + 1 for a in (0, 1))
    need = ((rows - 1) * geo.stride[0] + geo.extent[0], (cols - 1) * geo.stride[1] + geo.extent[1])
    left, right, top, bottom = geo.fpad
    pads = (left, right + need[1] - geo.padded[1], top, bottom + need[0] - geo.padded[0])
    return unbatch(conv(x, c.weight, c.bias, geo, pads=pads), geo.batched)


@_mutant(
    Category.PADDING,
    "kornia's compute_padding for even kernels (kornia/kornia#709) and the ONNX SAME_LOWER / "
    "SAME_UPPER split: the odd extra element of 'same' padding put on the wrong side.",
    lambda: case((2, 3, 8, 8), (4, 3, 2, 2), padding="same"),
)
@conv2d_signature
def same_even_kernel_wrong_side(c: Conv2dCall) -> Tensor:
    """Puts the extra element of an odd 'same' padding at the top/left instead of the bottom/right."""
    if c.padding != "same":
        return base_conv2d(c)
    x, geo = c.normalise()
    pads = (geo.pad_w[1], geo.pad_w[0], geo.pad_h[1], geo.pad_h[0])
    return unbatch(conv(x, c.weight, c.bias, geo, pads=pads), geo.batched)


@_mutant(
    Category.PADDING,
    "'same' padding computed from the undilated kernel, as in dmlc/nnvm#308 and "
    "zylo117/Yet-Another-EfficientDet-Pytorch#280 (Conv2dStaticSamePadding ignores dilation).",
    lambda: case((2, 3, 9, 9), (4, 3, 3, 3), padding="same", dilation=2),
)
@conv2d_signature
def same_ignores_dilation(c: Conv2dCall) -> Tensor:
    """Computes 'same' padding from k - 1 instead of d(k - 1), so dilated outputs shrink."""
    if c.padding != "same":
        return base_conv2d(c)
    x, geo = c.normalise()
    (top, bottom), (left, right) = (same_split(k - 1) for k in geo.kernel)
    return unbatch(conv(x, c.weight, c.bias, geo, pads=(left, right, top, bottom)), geo.batched)


@_mutant(
    Category.PADDING,
    "one-sided emulations of 'same' padding, such as the Theano backend in keras-team/keras#1792 "
    "('effectively, we only pad one side').",
    lambda: case((2, 3, 8, 8), (4, 3, 3, 3), padding="same"),
)
@conv2d_signature
def same_all_padding_after(c: Conv2dCall) -> Tensor:
    """Puts all of 'same' padding after the input (bottom/right), shifting the output when d(k-1) >= 2."""
    if c.padding != "same":
        return base_conv2d(c)
    x, geo = c.normalise()
    return unbatch(conv(x, c.weight, c.bias, geo, pads=(0, sum(geo.pad_w), 0, sum(geo.pad_h))), geo.batched)


@_mutant(
    Category.PADDING,
    "F.pad's last-dimension-first argument order: a (pad_h, pad_w) pair handed to F.pad pads the "
    "width by pad_h on the left and pad_w on the right, and the height not at all.",
    lambda: case((2, 3, 8, 8), (4, 3, 3, 3), padding=(1, 2)),
)
@conv2d_signature
def pad_pair_as_fpad_tuple(c: Conv2dCall) -> Tensor:
    """Passes a per-axis padding pair straight to F.pad: one-sided width padding, no height padding."""
    if isinstance(c.padding, str | int):
        return base_conv2d(c)
    ph, pw = pair(c.padding, "padding")
    return base_conv2d(c._replace(input=F.pad(c.input, (ph, pw)), padding=0))


@_mutant(
    Category.PER_AXIS,
    "converters and kernels that assume square strides (starimeL/PytorchConverter#37 asserts "
    "dH == dW): the height stride used for both axes.",
    lambda: case((2, 3, 10, 10), (4, 3, 3, 3), stride=(1, 2)),
)
@conv2d_signature
def stride_h_for_w(c: Conv2dCall) -> Tensor:
    """Uses the height stride for the width too (wrong only when the two strides differ)."""
    sh, _ = pair(c.stride, "stride")
    return base_conv2d(c._replace(stride=(sh, sh)))


@_mutant(
    Category.PER_AXIS,
    "mlpack's convolution layer, which applied strideWidth to rows and strideHeight to columns "
    "(mlpack/mlpack#4050).",
    lambda: case((2, 3, 10, 10), (4, 3, 3, 3), stride=(1, 2)),
)
@conv2d_signature
def stride_swapped(c: Conv2dCall) -> Tensor:
    """Swaps the height and width strides (wrong only when they differ)."""
    sh, sw = pair(c.stride, "stride")
    return base_conv2d(c._replace(stride=(sw, sh)))


@_mutant(
    Category.PER_AXIS,
    "AutoGluon's SamePadding, where pad_width and pad_height were misplaced (autogluon/autogluon#438).",
    lambda: case((2, 3, 8, 8), (4, 3, 3, 3), padding=(0, 2)),
)
@conv2d_signature
def padding_swapped(c: Conv2dCall) -> Tensor:
    """Pads the height by the width's padding and vice versa (wrong only when they differ)."""
    x, geo = c.normalise()
    return unbatch(conv(x, c.weight, c.bias, geo, pads=(*geo.pad_h, *geo.pad_w)), geo.batched)


@_mutant(
    Category.PER_AXIS,
    "per-axis dilation handled like a scalar (mlpack/mlpack#4050 notes the same mix-up for "
    "dilation as for stride): the height dilation used for both axes.",
    lambda: case((2, 3, 10, 10), (4, 3, 3, 3), dilation=(2, 1)),
)
@conv2d_signature
def dilation_h_for_w(c: Conv2dCall) -> Tensor:
    """Uses the height dilation for the width too (wrong only when the two dilations differ)."""
    dh, _ = pair(c.dilation, "dilation")
    return base_conv2d(c._replace(dilation=(dh, dh)))
