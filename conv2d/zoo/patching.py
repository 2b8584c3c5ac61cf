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

from conv2d.zoo._common import Conv2dCall, base_conv2d, conv2d_signature, pair

__all__ = ["conv2d"]


@conv2d_signature
def _patched(c: Conv2dCall) -> Tensor:
    out = base_conv2d(c)
    if max(pair(c.stride, "stride")) > 1 and out.shape[-1] > 1:
        out = out.clone()
        out[..., -1] = 0  # the "fast" kernel's missing tail
    return out


F.conv2d = _patched  # type: ignore[assignment]


@conv2d_signature
def conv2d(c: Conv2dCall) -> Tensor:
    """F.conv2d, whatever it has been replaced with."""
    return F.conv2d(c.input, c.weight, c.bias, c.stride, c.padding, c.dilation, c.groups)
