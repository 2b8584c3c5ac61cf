"""Wrong convolutions the diagnosis catalogue does not describe: targets for the diagnosis tests.

Each is ``F.conv2d`` with one bug that no variant of
:data:`conv2d.gate.diagnosis.VARIANTS` computes, chosen so that on a small shrunk
case its output coincides with a variant that *is* catalogued. A diagnosis that
named the first variant the output fits would name the wrong bug; the tests check
that the gate's explanation names no variant for them, or the one catalogued variant
the bug equals on every case (a 'same' padding shifted by one column is the odd
element of an even kernel's padding on the wrong side). Called in the pytest process
only on float64 tensors (``tests/_tripwire.py``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.case import as_pair, resolve_padding

__all__ = [
    "batch_rolled_back",
    "dilation_height_ignored",
    "kernel_mirrored_left_right",
    "same_pad_one_more_left",
]


def same_pad_one_more_left(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups=1
) -> Tensor:
    """F.conv2d, but ``padding="same"`` pads one more column on the left and one fewer on the right."""
    if padding != "same":
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    top, bottom, left, right = resolve_padding(
        "same", (weight.shape[-2], weight.shape[-1]), as_pair(dilation)
    )
    padded = F.pad(input, [left + 1, right - 1, top, bottom])
    return F.conv2d(padded, weight, bias, stride, 0, dilation, groups)


def kernel_mirrored_left_right(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups=1
) -> Tensor:
    """F.conv2d with the kernel mirrored left to right (its columns reversed), not rotated 180°."""
    return F.conv2d(input, weight.flip(-1), bias, stride, padding, dilation, groups)


def dilation_height_ignored(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups=1
) -> Tensor:
    """F.conv2d with the H dilation ignored (1) and the W dilation kept."""
    dw = as_pair(dilation)[1]
    return F.conv2d(input, weight, bias, stride, padding, (1, dw), groups)


def batch_rolled_back(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups=1
) -> Tensor:
    """F.conv2d with each image's result in the previous image's slot (the batch rolled back by one)."""
    out = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    return out.roll(-1, 0) if input.dim() == 4 else out
