"""A library that replaces ``torch.nn.functional.conv2d`` with its own kernel when it is imported.

It is kept apart from the rest of the zoo (``conv2d.zoo`` does not import it), because
importing it changes torch for the whole process: load it only in a process of its own,
as the gate's runner does (``python -m conv2d verify conv2d.zoo.patching:conv2d``).
Its kernel drops the last output column of every strided convolution, and its
``conv2d`` calls ``F.conv2d``: a reference computed with ``F.conv2d`` would compare
the target with itself and pass it. The gate's reference is bound to ``torch.ops.aten``
before any target is imported, so ``matches-reference`` catches it, and the report
names the replaced entry point.

Bug class: monkey-patching of torch entry points on import (compare libraries that
install "faster" convolution kernels globally).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from conv2d.zoo._common import IntPair, PaddingArg, pair
from conv2d.zoo.correct import im2col

__all__ = ["conv2d"]


def _patched(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    out = im2col(input, weight, bias, stride, padding, dilation, groups)
    if max(pair(stride, "stride")) > 1 and out.shape[-1] > 1:
        out = out.clone()
        out[..., -1] = 0  # the "fast" kernel's missing tail
    return out


F.conv2d = _patched  # type: ignore[assignment]


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """F.conv2d, whatever it has been replaced with."""
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
