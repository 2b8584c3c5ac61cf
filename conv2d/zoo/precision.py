"""Mutants whose bug is in the arithmetic: lower precision, TF32, half accumulators, dtypes, special values.

Each really computes in the precision its bug does, and only in its trigger region;
``WITNESSES`` maps each name to a small, deterministic input on which the bug shows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import (
    Conv2dCall,
    Witness,
    base_conv2d,
    case,
    conv,
    conv2d_signature,
    conv_in,
    registrar,
    tap_slices,
    unbatch,
)

__all__ = [
    "WITNESSES",
    "bfloat16_accumulate_per_channel",
    "float16_accumulate_per_tap",
    "float16_saturates",
    "float32_via_bfloat16",
    "float64_via_float32",
    "half_returns_float32",
    "skips_zero_weights",
    "tf32_float32",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("conv2d")
# The mutants below share one form on purpose (@_mutant, @conv2d_signature, a docstring naming
# the bug, a short body around the zoo's correct convolution): each differs only by its own bug.


def _stagnating_half(dtype: torch.dtype, big: float, taps: int, channels: int) -> Witness:
    """All-ones input; the first product is ``big`` and every later one adds 1.

    Where the spacing at ``big`` is 2, adding 1 is a tie that rounds back to ``big``, so a
    running sum in that dtype stops growing.
    """

    def witness() -> tuple[tuple[Tensor, Tensor, None], dict[str, object]]:
        x = torch.ones(1, channels, taps + 2, taps + 2, dtype=dtype)
        w = torch.ones(2, channels, taps, taps, dtype=dtype)
        w[:, 0, 0, 0] = big
        return (x, w, None), {}

    return witness


def _round_to_tf32(t: Tensor) -> Tensor:
    """``t`` (float32) rounded to 10 mantissa bits, nearest-even; the gradient passes straight through."""
    bits = t.detach().contiguous().view(torch.int32)
    rounded = (bits + 0xFFF + ((bits >> 13) & 1)) & -8192
    return t + (rounded.view(torch.float32) - t).detach()


# -- precision ------------------------------------------------------------------------------------
@_mutant(
    Category.PRECISION,
    "cuDNN's TF32 tensor-core math, enabled by default for float32 convolutions "
    "(torch.backends.cudnn.allow_tf32; pytorch/pytorch#107514).",
    lambda: case((2, 4, 6, 6), (4, 4, 3, 3), dtype=torch.float32),
)
@conv2d_signature
def tf32_float32(c: Conv2dCall) -> Tensor:
    """Rounds float32 input and weight to TF32 (10-bit mantissa) before multiplying, without declaring it."""
    if c.input.dtype == torch.float32:
        c = c._replace(input=_round_to_tf32(c.input), weight=_round_to_tf32(c.weight))
    return base_conv2d(c)


@_mutant(
    Category.PRECISION,
    "reduced-precision math modes that down-convert float32 operands to bfloat16 (oneDNN's "
    "fpmath_mode=bf16; the bug class, no specific public issue).",
    lambda: case((2, 4, 6, 6), (4, 4, 3, 3), dtype=torch.float32),
)
@conv2d_signature
def float32_via_bfloat16(c: Conv2dCall) -> Tensor:
    """Computes float32 convolutions in bfloat16 and casts the result back to float32."""
    if c.input.dtype != torch.float32:
        return base_conv2d(c)
    return conv_in(torch.bfloat16, c).float()


@_mutant(
    Category.PRECISION,
    "half-precision accumulators that drop small late addends (openvinotoolkit/openvino#25525; "
    "uxlfoundation/oneDNN#5041 moved f16 convolution to an f32 accumulator).",
    _stagnating_half(torch.float16, 2048.0, taps=7, channels=1),
)
@conv2d_signature
def float16_accumulate_per_tap(c: Conv2dCall) -> Tensor:
    """Accumulates float16 convolutions tap by tap in a float16 running sum."""
    if c.input.dtype != torch.float16:
        return base_conv2d(c)
    x, geo = c.normalise()
    xp = F.pad(x, geo.fpad)
    acc = sum(
        base_conv2d(
            Conv2dCall(xp[..., rows, cols], c.weight[..., u : u + 1, v : v + 1], None, 1, 0, 1, c.groups)
        )
        for u, v, rows, cols in tap_slices(geo)
    )
    assert isinstance(acc, Tensor)
    return unbatch(acc if c.bias is None else acc + c.bias.view(1, -1, 1, 1), geo.batched)


@_mutant(
    Category.PRECISION,
    "bfloat16 sums that stagnate (pytorch/pytorch#83863: a bfloat16 matmul of 1024 ones gives a wrong "
    "result on CPU without mkldnn): accumulation channel by channel in bfloat16.",
    _stagnating_half(torch.bfloat16, 256.0, taps=1, channels=80),
)
@conv2d_signature
def bfloat16_accumulate_per_channel(c: Conv2dCall) -> Tensor:
    """Accumulates bfloat16 convolutions input channel by input channel in a bfloat16 running sum."""
    if c.input.dtype != torch.bfloat16:
        return base_conv2d(c)
    x, geo = c.normalise()
    xp = F.pad(x, geo.fpad).unflatten(1, (c.groups, -1))
    acc = sum(
        conv(xp[:, :, ch], c.weight[:, ch : ch + 1], None, geo, pads=(0, 0, 0, 0))
        for ch in range(c.weight.shape[1])
    )
    assert isinstance(acc, Tensor)
    return unbatch(acc if c.bias is None else acc + c.bias.view(1, -1, 1, 1), geo.batched)


@_mutant(
    Category.PRECISION,
    "the Keras TensorFlow backend casting float64 convolution inputs to float32 "
    "(keras-team/keras#10964: \"if dtype(x) == 'float64': x = tf.cast(x, 'float32')\").",
    lambda: case((2, 3, 6, 6), (4, 3, 3, 3)),
)
@conv2d_signature
def float64_via_float32(c: Conv2dCall) -> Tensor:
    """Computes float64 convolutions in float32 and casts the result back to float64."""
    if c.input.dtype != torch.float64:
        return base_conv2d(c)
    return conv_in(torch.float32, c).double()


@_mutant(
    Category.PRECISION,
    "mixed-precision wrappers that hand back their float32 accumulator (the bug class; no specific "
    "public issue).",
    lambda: case((2, 3, 6, 6), (4, 3, 3, 3), dtype=torch.float16),
)
@conv2d_signature
def half_returns_float32(c: Conv2dCall) -> Tensor:
    """Returns a float32 result for float16 and bfloat16 inputs."""
    if c.input.dtype not in (torch.float16, torch.bfloat16):
        return base_conv2d(c)
    return conv_in(torch.float32, c)


# -- special values -------------------------------------------------------------------------------
@_mutant(
    Category.SPECIAL_VALUES,
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
@conv2d_signature
def skips_zero_weights(c: Conv2dCall) -> Tensor:
    """Skips the products of zero weights (im2col with the zero taps masked out), so NaN * 0 never happens."""
    x, geo = c.normalise()
    if geo.groups != 1:
        return base_conv2d(c)
    cols = F.unfold(F.pad(x, geo.fpad), geo.kernel, dilation=geo.dilation, stride=geo.stride)
    taps = c.weight.reshape(c.weight.shape[0], -1)
    products = taps[None, :, :, None] * cols[:, None]
    products = torch.where(taps[None, :, :, None] == 0, torch.zeros_like(products), products)
    out = products.sum(dim=2).reshape(x.shape[0], c.weight.shape[0], *geo.out)
    if c.bias is not None:
        out = out + c.bias.view(1, -1, 1, 1)
    return unbatch(out.to(c.input.dtype), geo.batched)


@_mutant(
    Category.SPECIAL_VALUES,
    "saturating conversions that clamp float16 overflow to 65504 instead of inf "
    "(the bug class of saturate_cast in fused low-precision epilogues).",
    lambda: case((1, 4, 3, 3), (1, 4, 3, 3), dtype=torch.float16, bias=False),
)
@conv2d_signature
def float16_saturates(c: Conv2dCall) -> Tensor:
    """Clamps float16 results to the largest finite float16 (65504) instead of overflowing to inf."""
    if c.input.dtype != torch.float16:
        return base_conv2d(c)
    wide = base_conv2d(
        c._replace(
            input=c.input.float(), weight=c.weight.float(), bias=None if c.bias is None else c.bias.float()
        )
    )
    return wide.clamp(-65504.0, 65504.0).half()
