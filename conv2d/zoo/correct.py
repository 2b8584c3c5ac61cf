"""Correct conv2d alternatives that round differently from F.conv2d.

Every alternative implements the whole ``torch.nn.functional.conv2d`` contract
(batched and unbatched input, int/pair/``"same"``/``"valid"`` padding with
PyTorch's even-kernel rule, stride, dilation, groups, optional bias, float64,
float32, float16 and bfloat16, any memory layout, autograd through torch ops,
output dtype = input dtype) without calling a convolution operator. float16 and
bfloat16 are accumulated in float32 and rounded once at the end, as PyTorch's
CPU kernels do; the bias is added before that rounding.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from conv2d.zoo._algorithms import (
    fft_algorithm,
    shifted_matmul_algorithm,
    slow_loop_algorithm,
    winograd_algorithm,
)
from conv2d.zoo._common import (
    Conv2dCall,
    base_conv2d,
    conv2d_signature,
    declare,
    entry,
    im2col_algorithm,
    run,
)

__all__ = [
    "accumulate_in_dtype",
    "conv_then_bias",
    "core",
    "fft",
    "float64_then_cast",
    "im2col",
    "shifted_matmul",
    "slow_loop",
    "winograd",
    "winograd_f4x3",
    "winograd_f6x3",
]


@entry(family="fft", correct=True)
@declare(ieee=False)  # a transform spreads a NaN or an infinity over the whole plane or tile
@conv2d_signature
def fft(c: Conv2dCall) -> Tensor:
    """FFT convolution: rfft2 of input and zero-inserted kernel, per-group spectral product, irfft2, crop, subsample.

    CPU FFTs have no half support, so float16/bfloat16 are computed in float32. Its
    error is norm-wise (spread over an output plane) rather than element-wise.
    """
    return run(fft_algorithm, c)


@entry(family="winograd", correct=True)
@declare(ieee=False)  # a transform spreads a NaN or an infinity over the whole plane or tile
@conv2d_signature
def winograd(c: Conv2dCall) -> Tensor:
    """Winograd F(2x2, 3x3) for any kernel: 3x3 blocks of the zero-inserted kernel, each on the shifted input.

    Stride is a subsampling of the stride-1 result. float32/float64 are computed in
    their own precision, float16/bfloat16 in float32.
    """
    return run(winograd_algorithm, c)


@entry(family="im2col", correct=True)
@conv2d_signature
def im2col(c: Conv2dCall) -> Tensor:
    """F.unfold + one matmul per group, in the input dtype, with the bias folded into the GEMM.

    The matmul of float16/bfloat16 accumulates in float32 and rounds once; the bias is an
    extra row of ones so that it is added before that rounding.
    """
    return base_conv2d(c)


@entry(family="float64", correct=True)
@conv2d_signature
def float64_then_cast(c: Conv2dCall) -> Tensor:
    """im2col computed entirely in float64 (bias included), then cast to the input dtype."""
    return run(im2col_algorithm, c, compute=torch.float64)


@entry(family="direct-loop", correct=True)
@conv2d_signature
def slow_loop(c: Conv2dCall) -> Tensor:
    """A Python loop over output pixels, each an einsum over batch, groups and channels; slow but direct."""
    return run(slow_loop_algorithm, c)


@entry(family="core", correct=True)
@conv2d_signature
def core(c: Conv2dCall) -> Tensor:
    """The project's own core, ``conv2d.functional.conv2d``, called through a thin wrapper."""
    from conv2d import functional

    core_conv2d: Callable[..., Tensor] = functional.conv2d
    return core_conv2d(
        c.input, c.weight, c.bias, stride=c.stride, padding=c.padding, dilation=c.dilation, groups=c.groups
    )


@entry(family="shifted-matmul", correct=True)
@conv2d_signature
def shifted_matmul(c: Conv2dCall) -> Tensor:
    """Sum over kernel taps of shifted 1x1 matmuls on a channels-last view, accumulated tap by tap.

    float16/bfloat16 accumulate in float32 (a half-precision running sum would lose
    the small taps that arrive late).
    """
    return run(shifted_matmul_algorithm, c)


@entry(family="winograd", correct=True)
@declare(ieee=False)  # a transform spreads a NaN or an infinity over the whole plane or tile
@conv2d_signature
def winograd_f4x3(c: Conv2dCall) -> Tensor:
    """Winograd F(4x4, 3x3), the float32 tile of cuDNN and oneDNN, for any kernel (3x3 blocks).

    Its transforms have entries up to 8 and 1/24, so it rounds noticeably worse than
    F(2x2, 3x3); float16/bfloat16 are computed in float32.
    """
    return run(functools.partial(winograd_algorithm, m=4), c)


@entry(family="winograd", correct=True)
@declare(ieee=False)  # a transform spreads a NaN or an infinity over the whole plane or tile
@conv2d_signature
def winograd_f6x3(c: Conv2dCall) -> Tensor:
    """Winograd F(6x6, 3x3), NNPACK's 8x8-tile float32 algorithm (points 0, ±1, ±2, ±1/2), any kernel.

    The largest tile in common use: its error grows fastest of the zoo's algorithms.
    """
    return run(functools.partial(winograd_algorithm, m=6), c)


@entry(family="bias-after-rounding", correct=True)
@conv2d_signature
def conv_then_bias(c: Conv2dCall) -> Tensor:
    """cuDNN's float16 order: the convolution rounded to the input dtype, then the bias added in that dtype.

    Two roundings instead of one; F.conv2d on a GPU computes float16 and bfloat16 this way.
    """
    c.normalise()  # F.conv2d's checks, the bias's included, before the bias is set aside
    out = run(im2col_algorithm, c._replace(bias=None))
    if c.bias is None:
        return out
    return out + c.bias.view(-1, 1, 1)


@entry(family="in-dtype-accumulation", correct=True)
@declare(accumulation="dtype")
@conv2d_signature
def accumulate_in_dtype(c: Conv2dCall) -> Tensor:
    """Tap-by-tap shifted matmuls accumulated in the input dtype itself, as declared (``accumulation="dtype"``).

    The seed lab's loop run on half tensors computes this way: each partial sum is
    rounded to float16/bfloat16. It declares it, so the gate judges it at that precision.
    """
    return run(shifted_matmul_algorithm, c, compute=c.input.dtype)
