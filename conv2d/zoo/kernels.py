"""Mutants whose bug is in a kernel's implementation: tile remainders, size thresholds, fast paths.

Each departs from F.conv2d only on the shapes that reach its faulty path (a remainder,
a size past a threshold, a fast path's configuration), and there the way the real
kernel did; ``WITNESSES`` gives each a small, deterministic call that reaches it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import (
    Conv2dCall,
    base_conv2d,
    case,
    conv,
    conv2d_signature,
    conv_in,
    pair,
    registrar,
    unbatch,
)

__all__ = [
    "WITNESSES",
    "bfloat16_strided_width_one",
    "channel_tail_c16",
    "fast_path_3x3_in_bfloat16",
    "index_wrap_16bit",
    "pointwise_ignores_padding",
    "pointwise_ignores_stride",
    "tail_drop_w8",
    "tiled_missing_halo",
    "whole_input_kernel_drops_bias",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("conv2d")
# The mutants below share one form on purpose (@_mutant, @conv2d_signature, a docstring naming
# the bug, a short body around the zoo's correct convolution): each differs only by its own bug.

_TILE = 32
_WRAP = 1 << 16


# -- tile remainders and size thresholds ----------------------------------------------------------
@_mutant(
    Category.TILE_REMAINDER,
    "ncnn's stride-2 convolution, wrong when the output size was not a multiple of 4 "
    "(Tencent/ncnn#1014); emulated as an 8-wide vector loop without its scalar tail.",
    lambda: case((2, 3, 10, 11), (4, 3, 3, 3)),
)
@conv2d_signature
def tail_drop_w8(c: Conv2dCall) -> Tensor:
    """Leaves the last W_out % 8 output columns zero (the 8-wide vector loop has no tail)."""
    out = base_conv2d(c)
    keep = out.shape[-1] - out.shape[-1] % 8
    return torch.cat([out[..., :keep], torch.zeros_like(out[..., keep:])], dim=-1)


@_mutant(
    Category.TILE_REMAINDER,
    "channel-blocked CPU kernels, e.g. pytorch/pytorch#21597 (MKL-DNN convolution wrong for 6 input "
    "channels, right for 8, 12, 16); emulated as the tail of 16-wide channel blocks dropped.",
    lambda: case((2, 20, 6, 6), (4, 20, 3, 3)),
)
@conv2d_signature
def channel_tail_c16(c: Conv2dCall) -> Tensor:
    """Drops the last (C_in/groups) % 16 input channels from the reduction when C_in/groups > 16."""
    per_group = c.weight.shape[1]
    if per_group <= 16 or per_group % 16 == 0:
        return base_conv2d(c)
    kept = (torch.arange(per_group, device=c.weight.device) < per_group - per_group % 16).to(c.weight.dtype)
    return base_conv2d(c._replace(weight=c.weight * kept.view(1, -1, 1, 1)))


@_mutant(
    Category.TILE_REMAINDER,
    "tiled inference without the halo each tile needs (wolny/pytorch-3dunet#113: 'the current "
    "implementation of the halo is incorrect', causing tiling artefacts).",
    lambda: case((1, 1, 70, 70), (2, 1, 3, 3)),
)
@conv2d_signature
def tiled_missing_halo(c: Conv2dCall) -> Tensor:
    """Above H*W = 4096 computes 32x32 output tiles from their own input rows only, zeros in place of the halo."""
    if c.input.shape[-2] * c.input.shape[-1] <= 4096:
        return base_conv2d(c)
    x, geo = c.normalise()
    xp, (sh, sw), (ho, wo) = F.pad(x, geo.fpad), geo.stride, geo.out
    rows = []
    for r0 in range(0, ho, _TILE):
        rh = min(_TILE, ho - r0)
        tiles = []
        for c0 in range(0, wo, _TILE):
            cw = min(_TILE, wo - c0)
            tile = xp[..., r0 * sh : (r0 + rh) * sh, c0 * sw : (c0 + cw) * sw]
            need = ((rh - 1) * sh + geo.extent[0], (cw - 1) * sw + geo.extent[1])
            tile = F.pad(tile, (0, max(0, need[1] - tile.shape[-1]), 0, max(0, need[0] - tile.shape[-2])))
            tiles.append(
                base_conv2d(Conv2dCall(tile, c.weight, c.bias, geo.stride, 0, geo.dilation, c.groups))[
                    ..., :rh, :cw
                ]
            )
        rows.append(torch.cat(tiles, dim=-1))
    return unbatch(torch.cat(rows, dim=-2), geo.batched)


@_mutant(
    Category.TILE_REMAINDER,
    "narrow-integer index overflow in large convolutions (the 32-bit guard of pytorch/pytorch#80020, "
    "scaled down to a 16-bit index so that it is reachable).",
    lambda: case((1, 1, 64, 64), (20, 1, 3, 3), padding=1),
)
@conv2d_signature
def index_wrap_16bit(c: Conv2dCall) -> Tensor:
    """Writes output element i to i mod 2**16: above 65536 output elements, later ones overwrite earlier ones."""
    out = base_conv2d(c)
    if out.numel() <= _WRAP:
        return out
    flat = out.reshape(-1)
    wrapped = flat[:_WRAP]
    for start in range(_WRAP, flat.numel(), _WRAP):
        segment = flat[start : start + _WRAP]
        wrapped = torch.cat([segment, wrapped[segment.numel() :]])
    return torch.cat([wrapped, flat.new_zeros(flat.numel() - _WRAP)]).view(out.shape)


# -- fast paths and special-shape kernels ---------------------------------------------------------
@_mutant(
    Category.FAST_PATH,
    "darknet's size-1 convolution path, which used the input as its column buffer without checking "
    "the stride (AlexeyAB/darknet#6471); compare majianjia/nnom#84 for CMSIS-NN's 1x1 kernel.",
    lambda: case((2, 3, 8, 8), (4, 3, 1, 1), stride=2),
)
@conv2d_signature
def pointwise_ignores_stride(c: Conv2dCall) -> Tensor:
    """Its 1x1 fast path computes stride 1 and keeps the first H_out x W_out pixels."""
    s = pair(c.stride, "stride")
    if c.weight.shape[-2:] != (1, 1) or s == (1, 1):
        return base_conv2d(c)
    x, geo = c.normalise()
    out = conv(x, c.weight, c.bias, geo, stride=1)[..., : geo.out[0], : geo.out[1]]
    return unbatch(out, geo.batched)


@_mutant(
    Category.FAST_PATH,
    "1x1 fast paths valid only without padding, chosen without checking it (majianjia/nnom#84: "
    "CMSIS-NN's 1x1 kernel requires pad 0 and stride 1).",
    lambda: case((2, 3, 6, 6), (4, 3, 1, 1), padding=1),
)
@conv2d_signature
def pointwise_ignores_padding(c: Conv2dCall) -> Tensor:
    """Its 1x1 fast path ignores padding, so the output lacks the padded border."""
    if c.weight.shape[-2:] != (1, 1) or isinstance(c.padding, str):
        return base_conv2d(c)
    return base_conv2d(c._replace(padding=0))


@_mutant(
    Category.FAST_PATH,
    "TensorFlow's Conv2D shortcut for a filter as large as the input, done as one matmul (the paths "
    "are listed in tensorflow/tensorflow#51132), with the bias handling of Maratyszcza/NNPACK#77.",
    lambda: case((2, 3, 5, 5), (4, 3, 5, 5)),
)
@conv2d_signature
def whole_input_kernel_drops_bias(c: Conv2dCall) -> Tensor:
    """When the (undilated) kernel covers the whole padded input, a single-GEMM path forgets the bias."""
    x, geo = c.normalise()
    if geo.padded != geo.kernel or geo.dilation != (1, 1):
        return base_conv2d(c)
    n, o, g = x.shape[0], c.weight.shape[0], c.groups
    flat = F.pad(x, geo.fpad).reshape(n, g, -1)
    out = torch.einsum("ngk,gok->ngo", flat, c.weight.reshape(g, o // g, -1)).reshape(n, o, 1, 1)
    return unbatch(out, geo.batched)


@_mutant(
    Category.SPECIAL_SHAPE_KERNEL,
    "torch 2.13's oneDNN bfloat16 CPU convolution, which returns wrong values whenever stride > 1 "
    "and the output width is 1 (found by this gate on an Intel Xeon with AVX512; see the README's "
    "'Bugs found in real implementations').",
    lambda: case((1, 1, 15, 4), (1, 1, 3, 4), dtype=torch.bfloat16, stride=2),
)
@conv2d_signature
def bfloat16_strided_width_one(c: Conv2dCall) -> Tensor:
    """In bfloat16 with stride > 1 and a one-column output, reads its window one column to the right."""
    out = base_conv2d(c)
    if c.input.dtype != torch.bfloat16 or max(pair(c.stride, "stride")) == 1 or out.shape[-1] != 1:
        return out
    shifted = F.pad(c.input, (-1, 1))  # the columns one to the left: the window starts a column late
    return base_conv2d(c._replace(input=shifted))


@_mutant(
    Category.PRODUCTION_FAST_PATH,
    "fast paths selected on production configurations (Winograd for 3x3, stride 1, dilation 1, "
    "groups 1, channels divisible by 4) that compute internally in lower precision (the bug class; "
    "oneDNN fpmath_mode, cuDNN's reduced-precision Winograd).",
    lambda: case((1, 8, 6, 6), (8, 8, 3, 3), dtype=torch.float32, padding=1),
)
@conv2d_signature
def fast_path_3x3_in_bfloat16(c: Conv2dCall) -> Tensor:
    """For float32 3x3, stride 1, dilation 1, groups 1 and channels divisible by 4, computes in bfloat16."""
    fast = (
        c.input.dtype == torch.float32
        and c.weight.dim() == 4
        and tuple(c.weight.shape[-2:]) == (3, 3)
        and pair(c.stride, "stride") == (1, 1)
        and pair(c.dilation, "dilation") == (1, 1)
        and c.groups == 1
        and c.weight.shape[0] % 4 == 0
        and c.weight.shape[1] % 4 == 0
    )
    if not fast:
        return base_conv2d(c)
    return conv_in(torch.bfloat16, c).float()
