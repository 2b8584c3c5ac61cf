"""The strategy choice: a validated 4-D convolution handed to the strategy that computes it best."""

from __future__ import annotations

import dataclasses

import torch

from conv2d._core import tuning
from conv2d._core.autograd import Conv
from conv2d._core.geometry import geometry
from conv2d._core.multiply_add import ShiftedMultiplyAdd
from conv2d._core.plane_matmul import PlaneMatmul
from conv2d._core.same_size import SameSizeShifts
from conv2d._core.shifted_matmul import ShiftedMatmul
from conv2d._validation import Padding4, Pair

__all__ = ["LOW_PRECISION", "conv2d_nchw", "pointwise"]

#: The dtypes computed in float32 and rounded once at the end.
LOW_PRECISION = (torch.float16, torch.bfloat16)


def conv2d_nchw(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Pair,
    pads: Padding4,
    dilation: Pair,
    groups: int,
    channels_last: bool,
) -> torch.Tensor:
    """Validated 4-D convolution: picks a strategy and returns the output in the requested layout."""
    if x.dtype in LOW_PRECISION:
        wide_bias = None if bias is None else bias.float()
        out = conv2d_nchw(x.float(), weight.float(), wide_bias, stride, pads, dilation, groups, channels_last)
        return out.to(x.dtype)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    o, cg, kh, kw = weight.shape
    og = o // groups
    if kh == 1 and kw == 1 and pads == (0, 0, 0, 0):
        return pointwise(x, weight, bias, stride, groups, channels_last).contiguous(memory_format=fmt)
    geo = geometry(x, weight, stride, pads, dilation, groups, fmt)
    if cg == 1 and og <= tuning.MAX_ELEMENTWISE_MULTIPLIER:
        taps = weight.reshape(groups, og, kh * kw).permute(2, 0, 1).contiguous()
        if tuning.SAME_SIZE_SHIFTS and stride == (1, 1) and (geo.ho, geo.wo) == (geo.h, geo.w):
            return Conv.apply(x, taps, bias, geo, SameSizeShifts)
        return Conv.apply(x, taps, bias, geo, ShiftedMultiplyAdd)
    if kh * kw > 1 and cg < tuning.MIN_TAP_CHANNELS:
        geo = dataclasses.replace(geo, fmt=torch.contiguous_format, im2col=True)
        wmat = weight.reshape(groups, og, cg, kh * kw).transpose(2, 3).reshape(groups, og, kh * kw * cg)
        out = Conv.apply(x, wmat, bias, geo, PlaneMatmul)
        return out.contiguous(memory_format=fmt)
    waste = geo.hq * geo.wq / (geo.ho * geo.wo) - 1
    if kh * kw > 1 and waste > tuning.IM2COL_WASTE_NUMERATOR / og:
        geo = dataclasses.replace(
            geo, hq=geo.ho, wq=geo.wo, phases=(0,), offsets=(0,), span=geo.ho * geo.wo, tail=0, im2col=True
        )
        taps = (
            weight.reshape(groups, og, cg, kh, kw).permute(0, 3, 4, 2, 1).reshape(1, groups, kh * kw * cg, og)
        )
    else:
        taps = weight.reshape(groups, og, cg, kh * kw).permute(3, 0, 2, 1)
    return Conv.apply(x, taps.contiguous(), bias, geo, ShiftedMatmul)


def pointwise(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Pair,
    groups: int,
    channels_last: bool,
) -> torch.Tensor:
    """1x1 kernel, no padding: a matrix product over channels at every (strided) pixel."""
    xs = x if stride == (1, 1) else x[:, :, :: stride[0], :: stride[1]]
    n, c, ho, wo = xs.shape
    o = weight.shape[0]
    if channels_last and groups == 1:
        rows = xs.permute(0, 2, 3, 1).reshape(n * ho * wo, c)
        wmat = weight.reshape(o, c).t()
        flat = rows @ wmat if bias is None else torch.addmm(bias, rows, wmat)
        return flat.view(n, ho, wo, o).permute(0, 3, 1, 2)
    og, cg = o // groups, c // groups
    cols = xs.reshape(n * groups, cg, ho * wo)
    wmat = weight.reshape(1, groups, og, cg).expand(n, groups, og, cg).reshape(n * groups, og, cg)
    if bias is None:
        prod = torch.bmm(wmat, cols)
    else:
        shift = bias.reshape(1, groups, og, 1).expand(n, groups, og, 1).reshape(n * groups, og, 1)
        prod = torch.baddbmm(shift, wmat, cols)
    return prod.view(n, o, ho, wo)
