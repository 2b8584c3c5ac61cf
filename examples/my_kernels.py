"""A user's im2col convolution, as a kernel repository might write it, and a faster variant.

Both have ``torch.nn.functional.conv2d``'s signature and semantics (batched or
unbatched input; int, pair, ``"same"`` and ``"valid"`` padding; stride,
dilation, groups, bias; float64, float32, float16 and bfloat16; any memory
layout; autograd). Neither calls a convolution operator: the input is zero
padded, unfolded into one column per output pixel (``F.unfold``) and
multiplied by the flattened filters.

* :func:`conv2d_im2col` runs one GEMM per group.
* :func:`conv2d_im2col_fast` replaces the per-group loop with one batched
  GEMM. It carries a bug that the gate finds (see ``examples/README.md``).

Verify them with::

    python -m conv2d verify examples.my_kernels:conv2d_im2col
    python -m conv2d verify examples.my_kernels:conv2d_im2col_fast
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["conv2d_im2col", "conv2d_im2col_fast"]

Pair = tuple[int, int]
IntOrPair = int | Sequence[int]
PaddingArg = str | int | Sequence[int]
Gemm = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def _pair(value: IntOrPair, name: str) -> Pair:
    """``value`` per axis: an int applies to both, a sequence gives (height, width)."""
    if isinstance(value, bool | str):
        raise TypeError(f"{name}={value!r}; expected an int or a pair of ints")
    if isinstance(value, int):
        return (value, value)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise TypeError(f"{name}={value!r}; expected an int or a pair of ints")
    items = tuple(value)
    if len(items) == 1:
        return (items[0], items[0])
    if len(items) != 2:
        raise ValueError(f"{name}={value!r}; expected an int or a pair of ints")
    return (items[0], items[1])


def _pads(padding: PaddingArg, kernel: Pair, dilation: Pair, stride: Pair) -> tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` zero padding, in ``F.pad``'s order.

    ``"same"`` pads ``d * (k - 1)`` in total per axis, the odd element after
    (bottom/right), as PyTorch does for even kernels.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
            return (tw // 2, tw - tw // 2, th // 2, th - th // 2)
        raise ValueError(f"padding={padding!r}; expected 'same', 'valid', an int or a pair")
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding={padding!r}; padding must be non-negative")
    return (pw, pw, ph, ph)


@dataclasses.dataclass(frozen=True)
class _Call:
    """One call, normalised: a 4-D input in the compute dtype and the unfolded geometry."""

    x: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor | None
    batched: bool
    out_size: Pair
    dtype: torch.dtype


def _prepare(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntOrPair,
    padding: PaddingArg,
    dilation: IntOrPair,
    groups: int,
) -> tuple[_Call, Pair, Pair]:
    if input.dim() not in (3, 4):
        raise ValueError(f"input has {input.dim()} dims; expected (C, H, W) or (N, C, H, W)")
    if weight.dim() != 4:
        raise ValueError(f"weight has {weight.dim()} dims; expected (C_out, C_in / groups, kH, kW)")
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    out_channels, in_per_group, kh, kw = weight.shape
    if min(out_channels, kh, kw) < 1:
        raise ValueError(
            f"weight has shape {tuple(weight.shape)}; expected at least one filter of at least 1x1"
        )
    if groups < 1 or x.shape[1] != in_per_group * groups or out_channels % groups:
        raise ValueError(
            f"input has {x.shape[1]} channels and weight {tuple(weight.shape)} with groups={groups}: "
            "expected C_in = weight.shape[1] * groups and C_out divisible by groups"
        )
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"bias has shape {tuple(bias.shape)}; expected ({out_channels},)")
    s, d = _pair(stride, "stride"), _pair(dilation, "dilation")
    left, right, top, bottom = _pads(padding, (kh, kw), d, s)
    # float16 and bfloat16 are multiplied and accumulated in float32, then rounded once
    dtype = input.dtype
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    x = F.pad(x.to(compute), (left, right, top, bottom))
    height, width = x.shape[-2:]
    out_size = (
        (height - d[0] * (kh - 1) - 1) // s[0] + 1,
        (width - d[1] * (kw - 1) - 1) // s[1] + 1,
    )
    if out_size[0] < 1 or out_size[1] < 1:
        raise ValueError(f"the padded input ({height}x{width}) is smaller than the dilated kernel")
    b = None if bias is None else bias.to(compute)
    call = _Call(x, weight.to(compute), b, batched, out_size, dtype)
    return call, s, d


def _gemm_per_group(cols: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
    """``(N, C_in*kH*kW, L)`` columns times the filters, one GEMM per group -> ``(N, C_out, L)``."""
    out_channels = weight.shape[0]
    per_group = out_channels // groups
    k = cols.shape[1] // groups
    flat = weight.reshape(out_channels, k)
    parts = [
        torch.matmul(flat[g * per_group : (g + 1) * per_group], cols[:, g * k : (g + 1) * k])
        for g in range(groups)
    ]
    return parts[0] if groups == 1 else torch.cat(parts, dim=1)


def _gemm_batched(cols: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
    """The same product as one batched GEMM over the groups (a single kernel launch on GPU)."""
    if groups == 1:
        return torch.matmul(weight.reshape(weight.shape[0], -1), cols)
    n, rows, length = cols.shape
    out_channels = weight.shape[0]
    per_group = out_channels // groups
    k = rows // groups
    filters = weight.reshape(per_group, groups, k).transpose(0, 1)  # (groups, per_group, k)
    out = torch.matmul(filters, cols.view(n, groups, k, length))  # (n, groups, per_group, length)
    return out.reshape(n, out_channels, length)


def _conv2d(
    gemm: Gemm,
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntOrPair,
    padding: PaddingArg,
    dilation: IntOrPair,
    groups: int,
) -> torch.Tensor:
    dtypes = {t.dtype for t in (input, weight, bias) if t is not None}
    if len(dtypes) != 1:
        raise TypeError(f"input, weight and bias must share one dtype, got {sorted(map(str, dtypes))}")
    call, s, d = _prepare(input, weight, bias, stride, padding, dilation, groups)
    kernel = (weight.shape[-2], weight.shape[-1])
    cols = F.unfold(call.x, kernel, dilation=d, padding=0, stride=s)  # (N, C_in*kH*kW, L)
    out = gemm(cols, call.weight, groups)
    if call.bias is not None:
        out = out + call.bias[:, None]
    out = out.reshape(out.shape[0], out.shape[1], *call.out_size).to(call.dtype)
    return out if call.batched else out.squeeze(0)


def conv2d_im2col(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution (cross-correlation, like F.conv2d) by im2col and one GEMM per group."""
    return _conv2d(_gemm_per_group, input, weight, bias, stride, padding, dilation, groups)


def conv2d_im2col_fast(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: PaddingArg = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """:func:`conv2d_im2col` with the groups' GEMMs batched into one call."""
    return _conv2d(_gemm_batched, input, weight, bias, stride, padding, dilation, groups)
