"""Mutants that break the call's contract: the batch dimension, empty batches, input checks, the signature.

Each departs from F.conv2d only on the calls its bug concerns (a batch size, an
unbatched or empty input, an unchecked argument, a positional call), and there the way
the real bug does; ``WITNESSES`` gives each a small, deterministic such call. The
calling-convention mutants keep a signature of their own, since their bug is in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import (
    Conv2dCall,
    IntPair,
    PaddingArg,
    base_conv2d,
    case,
    conv2d_signature,
    pair,
    registrar,
    unbatch,
)

__all__ = [
    "WITNESSES",
    "batch_chunks_drop_remainder",
    "batch_chunks_misaligned_remainder",
    "batch_tile16_remainder",
    "empty_batch_raises",
    "keywords_drop_positional",
    "no_channel_check",
    "padding_before_stride",
    "squeeze_all_unit_dims",
    "stride_two_by_default",
    "strided_same_accepted",
    "unbatched_keeps_batch_dim",
    "unbatched_read_as_hwc",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("conv2d")
# The mutants below share one form on purpose (@_mutant, @conv2d_signature, a docstring naming
# the bug, a short body around the zoo's correct convolution): each differs only by its own bug.


# -- batch handling -------------------------------------------------------------------------------
def _chunked(input: Tensor, run: Callable[[Tensor, int], Tensor]) -> Tensor:
    """Apply ``run(batched_input, n)`` to the input made 4-D, and undo the batch dim for 3-D input."""
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    return unbatch(run(x, x.shape[0]), batched)


@_mutant(
    Category.BATCH,
    "neon's Conv3D, wrong when batch_size > 32 and batch_size % 32 != 0 (NervanaSystems/neon#361): "
    "a batch loop over full chunks only.",
    lambda: case((5, 3, 6, 6), (4, 3, 3, 3)),
)
@conv2d_signature
def batch_chunks_drop_remainder(c: Conv2dCall) -> Tensor:
    """Processes the batch in chunks of 4 and leaves the last N % 4 samples zero when N > 4."""

    def run(x: Tensor, n: int) -> Tensor:
        stop = max(n // 4, 1) * 4
        out = torch.cat([base_conv2d(c._replace(input=x[s : s + 4])) for s in range(0, stop, 4)])
        return torch.cat([out, out.new_zeros(n - out.shape[0], *out.shape[1:])])

    return _chunked(c.input, run)


@_mutant(
    Category.BATCH,
    "batch-splitting of large convolutions (pytorch/pytorch#31379; a split miscalculation in "
    "ROCm/rocm-libraries#11188): the last chunk is read from a clamped start but written at its own.",
    lambda: case((6, 3, 6, 6), (4, 3, 3, 3)),
)
@conv2d_signature
def batch_chunks_misaligned_remainder(c: Conv2dCall) -> Tensor:
    """Chunks of 4; the last partial chunk reads samples N-4..N-1 but writes them to its own slots."""

    def run(x: Tensor, n: int) -> Tensor:
        parts = []
        for start in range(0, n, 4):
            read = min(start, max(n - 4, 0))
            out = base_conv2d(c._replace(input=x[read : read + 4]))
            parts.append(out[: min(4, n - start)])
        return torch.cat(parts)

    return _chunked(c.input, run)


@_mutant(
    Category.BATCH,
    "HWC/CHW layout confusion at an image boundary (bytecodealliance/wasmtime#4464 feeds NCHW data to "
    "an NHWC model): an unbatched image taken to be stored height-width-channel.",
    lambda: case((3, 6, 7), (4, 3, 3, 3)),
)
@conv2d_signature
def unbatched_read_as_hwc(c: Conv2dCall) -> Tensor:
    """Reinterprets an unbatched (C, H, W) input as HWC data (wrong whenever C > 1)."""
    if c.input.dim() == 3:
        ch, h, w = c.input.shape
        c = c._replace(input=c.input.reshape(h, w, ch).permute(2, 0, 1))
    return base_conv2d(c)


@_mutant(
    Category.BATCH,
    "the unbatched-input convention (add a batch dimension, remove it again) with the removal "
    "forgotten (the bug class; no specific public issue).",
    lambda: case((3, 6, 6), (4, 3, 3, 3)),
)
@conv2d_signature
def unbatched_keeps_batch_dim(c: Conv2dCall) -> Tensor:
    """Returns a (1, C_out, H_out, W_out) tensor for unbatched (C, H, W) input."""
    x = c.input if c.input.dim() == 4 else c.input.unsqueeze(0)
    return base_conv2d(c._replace(input=x))


@_mutant(
    Category.BATCH,
    "argument-less squeeze() collapsing every unit dimension, as fixed in NVIDIA/tacotron2#303 and "
    "NVIDIA/DeepLearningExamples#765 ('when batch size is 1, squeeze collapses the batch dimension').",
    lambda: case((1, 3, 6, 6), (4, 3, 3, 3)),
)
@conv2d_signature
def squeeze_all_unit_dims(c: Conv2dCall) -> Tensor:
    """Removes the batch dimension with squeeze(), which also drops N, C_out, H_out or W_out of size 1."""
    x = c.input if c.input.dim() == 4 else c.input.unsqueeze(0)
    return base_conv2d(c._replace(input=x)).squeeze()


# -- the rest of the contract: empty batches, input checks, batch tiles, the calling convention ---
@_mutant(
    Category.EMPTY_BATCH,
    "kernels that size their launch grid or workspace from the batch and fail on zero images "
    "(the bug class; F.conv2d returns an empty (0, C_out, H', W') tensor).",
    lambda: case((0, 2, 5, 5), (3, 2, 3, 3)),
)
@conv2d_signature
def empty_batch_raises(c: Conv2dCall) -> Tensor:
    """Raises on a batch of zero images (it divides the work by the batch size)."""
    if c.input.dim() == 4 and c.input.shape[0] == 0:
        raise ZeroDivisionError("integer division or modulo by zero (work per image)")
    return base_conv2d(c)


@_mutant(
    Category.INPUT_VALIDATION,
    "kernels without a shape check that read the first C_in channels of a wider input instead of "
    "raising (the bug class; F.conv2d raises 'expected input to have N channels').",
    lambda: case((1, 3, 5, 5), (2, 2, 3, 3)),
)
@conv2d_signature
def no_channel_check(c: Conv2dCall) -> Tensor:
    """Reads only the channels the weight expects when the input has more, instead of raising."""
    expected = c.weight.shape[1] * c.groups if c.weight.dim() == 4 else 0
    if c.input.dim() in (3, 4) and c.input.shape[-3] > expected > 0:
        c = c._replace(input=c.input.narrow(-3, 0, expected))
    return base_conv2d(c)


@_mutant(
    Category.BATCH_TILING,
    "batched kernels that tile N by 16 and handle the remainder tile wrong (the bug class of "
    "batch-blocked GEMM dispatch; batches past 16 with a remainder).",
    lambda: case((17, 1, 3, 3), (1, 1, 2, 2)),
)
@conv2d_signature
def batch_tile16_remainder(c: Conv2dCall) -> Tensor:
    """Tiles the batch by 16; the remainder tile is computed from the last full tile's images."""
    if c.input.dim() != 4 or c.input.shape[0] <= 16 or c.input.shape[0] % 16 == 0:
        return base_conv2d(c)
    n, full = c.input.shape[0], c.input.shape[0] // 16 * 16
    tiles = [base_conv2d(c._replace(input=c.input[i : i + 16])) for i in range(0, full, 16)]
    rest = base_conv2d(c._replace(input=c.input[full - (n - full) : full]))
    return torch.cat([*tiles, rest])


# Deliberately F.conv2d's signature spelled out, but for the default stride: the bug is in it.
@_mutant(
    Category.CALLING_CONVENTION,
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
    return base_conv2d(Conv2dCall(input, weight, bias, stride, padding, dilation, groups))


# Deliberately F.conv2d's signature spelled out, but for the order of padding and stride: the bug is in it.
@_mutant(
    Category.CALLING_CONVENTION,
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
    return base_conv2d(Conv2dCall(input, weight, bias, stride, padding, dilation, groups))


def _tensorflow_same(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding of one axis: the output is ceil(size / stride), the extra element after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


@_mutant(
    Category.INPUT_VALIDATION,
    "ports of TensorFlow's padding='SAME', which works with any stride (an output of ceil(H / stride)); "
    "F.conv2d raises 'padding='same' is not supported for strided convolutions' (the bug class).",
    lambda: case((1, 1, 6, 6), (1, 1, 3, 3), stride=2, padding="same"),
)
@conv2d_signature
def strided_same_accepted(c: Conv2dCall) -> Tensor:
    """Pads a strided padding='same' call the TensorFlow way instead of raising, as F.conv2d does."""
    stride, dilation = pair(c.stride, "stride"), pair(c.dilation, "dilation")
    if c.padding != "same" or stride == (1, 1) or c.weight.dim() != 4:
        return base_conv2d(c)
    top, bottom = _tensorflow_same(c.input.shape[-2], c.weight.shape[-2], stride[0], dilation[0])
    left, right = _tensorflow_same(c.input.shape[-1], c.weight.shape[-1], stride[1], dilation[1])
    padded = torch.nn.functional.pad(c.input, (left, right, top, bottom))
    return base_conv2d(c._replace(input=padded, padding=0))


_PARAMETERS = ("stride", "padding", "dilation", "groups")


# Deliberately *args/**kwargs after the bias: the bug is in how it forwards them.
@_mutant(
    Category.CALLING_CONVENTION,
    "hand-written *args/**kwargs forwarding that merges the keywords over the defaults and drops the "
    "parameters passed positionally whenever a keyword is given (the bug class), which only calls "
    "mixing positional parameters and keywords see.",
    lambda: ((*case((1, 1, 6, 6), (1, 1, 3, 3), bias=False)[0], 2), {"padding": 1}),
)
def keywords_drop_positional(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, *args: Any, **kwargs: Any
) -> Tensor:
    """Given any keyword, forgets the stride, padding, dilation and groups passed positionally (they take their defaults)."""
    named: dict[str, Any] = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    named.update(kwargs if kwargs else dict(zip(_PARAMETERS, args, strict=False)))
    return base_conv2d(Conv2dCall(input, weight, bias, **named))
