"""Mutants whose bug is in reading memory: strides, storage offsets, channels_last, non-contiguous weights.

Each really reads memory with the wrong strides, and only for the layouts its bug
concerns; ``WITNESSES`` maps each name to a small, deterministic input laid out so
that the bug shows.
"""

from __future__ import annotations

import torch
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import (
    Conv2dCall,
    base_conv2d,
    case_with,
    channels_last,
    conv2d_signature,
    is_channels_last,
    registrar,
)

__all__ = [
    "WITNESSES",
    "channels_last_read_as_nchw",
    "storage_offset_ignored",
    "strided_view_as_contiguous",
    "weight_assumed_contiguous",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("conv2d")
# The mutants below share one form on purpose (@_mutant, @conv2d_signature, a docstring naming
# the bug, a short body around the zoo's correct convolution): each differs only by its own bug.


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


@_mutant(
    Category.LAYOUT,
    "kernels that index every buffer as dense (NVIDIA/cutlass#1323: a stride ignored; "
    "ggml-org/llama.cpp#28503: conv2d kernels assumed contiguity).",
    case_with(_strided_view, x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
@conv2d_signature
def strided_view_as_contiguous(c: Conv2dCall) -> Tensor:
    """Reads a non-contiguous input view (other than channels_last) with contiguous strides."""
    if not c.input.is_contiguous() and not is_channels_last(c.input):
        c = c._replace(input=_read_as_contiguous(c.input))
    return base_conv2d(c)


@_mutant(
    Category.LAYOUT,
    "oneDNN reading from the start of the storage for views with a non-zero storage offset "
    "(pytorch/pytorch#179042); compare nntile/nntile#464.",
    case_with(_offset_view, x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
@conv2d_signature
def storage_offset_ignored(c: Conv2dCall) -> Tensor:
    """Reads the input from the start of its storage, ignoring its storage offset."""
    if c.input.storage_offset():
        c = c._replace(input=c.input.as_strided(c.input.shape, c.input.stride(), 0))
    return base_conv2d(c)


@_mutant(
    Category.LAYOUT,
    "NHWC/NCHW mix-ups between a framework and its kernels (tenstorrent/tt-metal#21463: 'we were "
    "passing NCHW format, when NHWC was expected'); compare pytorch/pytorch#82060.",
    case_with(channels_last, x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
@conv2d_signature
def channels_last_read_as_nchw(c: Conv2dCall) -> Tensor:
    """Reads a channels_last input's memory as if it were NCHW."""
    if is_channels_last(c.input):
        c = c._replace(input=_read_as_contiguous(c.input))
    return base_conv2d(c)


@_mutant(
    Category.LAYOUT,
    "PyTorch's THNN convolution, wrong for non-contiguous weights (pytorch/pytorch#1246).",
    case_with(make_weight=lambda w: w.transpose(2, 3), x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3)),
)
@conv2d_signature
def weight_assumed_contiguous(c: Conv2dCall) -> Tensor:
    """Reads a non-contiguous weight (views, channels_last) with contiguous strides."""
    if not c.weight.is_contiguous():
        c = c._replace(weight=_read_as_contiguous(c.weight))
    return base_conv2d(c)
