"""Three gate targets around ``F.conv2d`` that show what TF32 does to float32 results on CUDA.

* :func:`conv2d_default` calls ``F.conv2d`` as is. ``torch.backends.cudnn.allow_tf32``
  defaults to True, so on an Ampere or newer GPU cuDNN may round float32 inputs
  to TF32 (10 mantissa bits), and the float32 error bound is missed.
* :func:`conv2d_tf32_declared` is the same call, declared ``tf32=True``: the gate
  judges its float32 results at TF32 precision.
* :func:`conv2d_no_tf32` runs ``F.conv2d`` with cuDNN's TF32 switched off for the
  call (forward only: a backward pass runs after the call returns, under the
  global flags).

Used by ``scripts/gpu_check.sh``, with ``scripts/`` on ``PYTHONPATH``::

    python -m conv2d verify tf32_targets:conv2d_default --device cuda \\
        --property matches-reference --property device-parity
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from conv2d.gate import declare

__all__ = ["conv2d_default", "conv2d_no_tf32", "conv2d_tf32_declared"]

IntOrPair = int | Sequence[int]
PaddingArg = str | int | Sequence[int]


def conv2d_default(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv2d`` with the process's TF32 settings (cuDNN's default allows TF32)."""
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


@declare(tf32=True)
def conv2d_tf32_declared(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv2d`` as is, declared to round float32 to TF32, so judged at that precision."""
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv2d_no_tf32(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv2d`` with cuDNN enabled and TF32 disallowed for the duration of the call."""
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
