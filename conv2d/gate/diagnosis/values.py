"""Output variants of values: memory layout, reduction remainders, bias, groups, batch and precision.

Each family is a list of :class:`~conv2d.gate.diagnosis.variant.Variant`, in
catalogue order; :data:`conv2d.gate.diagnosis.catalogue.VARIANTS` puts the
families in order.
"""

from __future__ import annotations

import torch
from torch import Tensor

from conv2d.gate.diagnosis.problem import Call, Problem, is_channels_last
from conv2d.gate.diagnosis.variant import Variant, VariantFn, variant
from conv2d.gate.reference import as_float64
from conv2d.gate.tolerance import Precision, precision_for, unit_roundoff
from conv2d.gate.vocabulary import Category

__all__ = ["BATCH", "BIAS", "GROUPS", "LAYOUT", "PRECISION", "REMAINDERS"]

#: A tensor's memory read with the wrong strides or offset.
LAYOUT: list[Variant] = []
#: A blocked channel loop that drops its remainder.
REMAINDERS: list[Variant] = []
#: The bias missing, doubled or from the wrong channel.
BIAS: list[Variant] = []
#: Groups reading the wrong channels or filters.
GROUPS: list[Variant] = []
#: Images mixed up, or the batch dimension mishandled.
BATCH: list[Variant] = []
#: Inputs rounded, or the result computed or returned, in the wrong precision.
PRECISION: list[Variant] = []


# The variants below share one form on purpose (@variant, a category, a name, a sentence, one function
# returning the wrong output or None): duplicates reports that form, not repeated logic.


# memory layout
def _read_dense(t: Tensor, offset: int | None = None) -> Tensor | None:
    """``t``'s storage read with contiguous strides (from ``offset``, default its own), as float64."""
    strides = [1] * t.dim()
    for i in range(t.dim() - 2, -1, -1):
        strides[i] = strides[i + 1] * t.shape[i + 1]
    start = t.storage_offset() if offset is None else offset
    if start + t.numel() > t.untyped_storage().nbytes() // t.element_size():
        return None
    return as_float64(t.detach().as_strided(t.shape, strides, start))


def _batch4(p: Problem, x: Tensor | None) -> Call | None:
    if x is None or p.kind == "corr2d":
        return None
    return p.call(x=x if p.batched else x[None])


@variant(
    LAYOUT,
    "channels-last-read-as-nchw",
    Category.LAYOUT,
    "the output equals F.conv2d of the channels_last input's memory read as if it were NCHW",
)
def _channels_last_as_nchw(p: Problem) -> Call | None:
    t = p.args.input
    return _batch4(p, _read_dense(t)) if is_channels_last(t) else None


@variant(
    LAYOUT,
    "input-strides-ignored",
    Category.LAYOUT,
    "the output equals F.conv2d of the non-contiguous input's memory read with contiguous strides",
)
def _input_dense(p: Problem) -> Call | None:
    t = p.args.input
    if t.is_contiguous() or is_channels_last(t):
        return None
    return _batch4(p, _read_dense(t))


@variant(
    LAYOUT,
    "input-storage-offset-ignored",
    Category.LAYOUT,
    "the output equals F.conv2d of the input read from the start of its storage (its storage offset ignored)",
)
def _offset_ignored(p: Problem) -> Call | None:
    t = p.args.input
    if t.storage_offset() == 0 or p.kind == "corr2d":
        return None
    return _batch4(p, as_float64(t.detach().as_strided(t.shape, t.stride(), 0)))


@variant(
    LAYOUT,
    "weight-strides-ignored",
    Category.LAYOUT,
    "the output equals F.conv2d with the non-contiguous weight's memory read with contiguous strides",
)
def _weight_dense(p: Problem) -> Call | None:
    t = p.args.weight
    if t.is_contiguous() or p.kind == "corr2d":
        return None
    w = _read_dense(t)
    return None if w is None else p.call(w=w)


# reduction remainders
def _channel_remainder_dropped(block: int) -> VariantFn:
    def compute(p: Problem) -> Call | None:
        cg = p.base.w.shape[1]
        left = cg % block
        if cg <= block or left == 0:
            return None
        w = p.base.w.clone()
        w[:, cg - left :] = 0
        return p.call(w=w)

    return compute


# largest block first: blocks leaving the same remainder give the same output (a 16-wide loop on 20
# channels drops 4, as an 8-wide one would), so both are candidates, and a second case with another
# channel count tells them apart (conv2d.gate.diagnosis.confirm.drawn_case)
for _block in (32, 16, 8, 4):
    variant(
        REMAINDERS,
        f"channel-remainder-dropped-{_block}",
        Category.TILE_REMAINDER,
        f"the output equals F.conv2d with the last (C_in/groups) mod {_block} input channels of each group left "
        f"out of the reduction (a loop over blocks of {_block} channels with no remainder)",
    )(_channel_remainder_dropped(_block))


# bias
@variant(
    BIAS,
    "bias-missing",
    Category.BIAS,
    "the output equals F.conv2d without the bias (bias=None)",
    also=(Category.FAST_PATH,),
)
def _bias_missing(p: Problem) -> Call | None:
    return None if p.base.b is None else p.call(b=None)


@variant(BIAS, "bias-twice", Category.BIAS, "the output equals F.conv2d with the bias added twice")
def _bias_twice(p: Problem) -> Call | None:
    return None if p.base.b is None else p.call(b=2 * p.base.b)


@variant(
    BIAS,
    "bias-of-group-0",
    Category.BIAS,
    "the output equals F.conv2d with group 0's bias values used for every group",
)
def _bias_group0(p: Problem) -> Call | None:
    b, g = p.base.b, p.base.groups
    if b is None or g == 1:
        return None
    first = b[: b.shape[0] // g].repeat(g)
    return None if torch.equal(first, b) else p.call(b=first)


@variant(
    BIAS, "bias-reversed", Category.BIAS, "the output equals F.conv2d with the bias in reversed channel order"
)
def _bias_reversed(p: Problem) -> Call | None:
    b = p.base.b
    return None if b is None or torch.equal(b.flip(0), b) else p.call(b=b.flip(0))


@variant(
    BIAS,
    "bias-shifted",
    Category.BIAS,
    "the output equals F.conv2d with each channel given the previous channel's bias (bias rolled by one)",
)
def _bias_shifted(p: Problem) -> Call | None:
    b = p.base.b
    return None if b is None or torch.equal(b.roll(1), b) else p.call(b=b.roll(1))


@variant(
    BIAS,
    "bias-nchw-index-on-nhwc",
    Category.BIAS,
    "the output equals F.conv2d with the bias indexed by the NCHW channel of each NHWC buffer slot "
    "(bias[flat_index // (H_out * W_out)])",
)
def _bias_nhwc(p: Problem) -> Call | None:
    b = p.base.b
    rows, cols = p.out
    if b is None or b.shape[0] == 1 or rows * cols == 1:
        return None
    slots = b.repeat_interleave(rows * cols).view(rows, cols, b.shape[0]).permute(2, 0, 1)
    return p.call(b=None, extra=slots[None].contiguous())


# groups
@variant(
    GROUPS,
    "groups-read-group-0",
    Category.GROUPS,
    "the output equals F.conv2d with every group reading group 0's input channels",
)
def _groups_first_input(p: Problem) -> Call | None:
    x, g, cg = p.base.x, p.base.groups, p.base.w.shape[1]
    return None if g == 1 else p.call(x=x[:, :cg].repeat(1, g, 1, 1))


@variant(
    GROUPS,
    "group-filters-offset",
    Category.GROUPS,
    "the output equals F.conv2d with group g's filters taken from weight[g : g + C_out/groups], "
    "not weight[g * C_out/groups : ...]",
)
def _group_filters(p: Problem) -> Call | None:
    w, g = p.base.w, p.base.groups
    per = w.shape[0] // g
    if g == 1 or per == 1:
        return None
    return p.call(w=torch.cat([w[i : i + per] for i in range(g)]))


@variant(
    GROUPS,
    "depthwise-multiplier-interleaved",
    Category.GROUPS,
    "the output equals a depthwise F.conv2d with output channel o reading input channel o % C_in, "
    "not o // multiplier",
)
def _depthwise_interleaved(p: Problem) -> Call | None:
    x, w, g = p.base.x, p.base.w, p.base.groups
    channels, out = x.shape[1], w.shape[0]
    if g == 1 or g != channels or out == channels:
        return None
    return p.call(x=x[:, torch.arange(out) % channels], groups=out)


# batch handling
@variant(BATCH, "batch-reversed", Category.BATCH, "the output equals F.conv2d of the batch in reversed order")
def _batch_reversed(p: Problem) -> Call | None:
    x = p.base.x
    return None if x.shape[0] == 1 else p.call(x=x.flip(0))


@variant(
    BATCH,
    "batch-rolled",
    Category.BATCH,
    "the output equals F.conv2d with each image's result in the next image's slot (the batch rolled by one)",
)
def _batch_rolled(p: Problem) -> Call | None:
    x = p.base.x
    return None if x.shape[0] == 1 else p.call(x=x.roll(1, 0))


@variant(
    BATCH,
    "unbatched-read-as-hwc",
    Category.BATCH,
    "the output equals F.conv2d of the unbatched (C, H, W) input's values read as (H, W, C) data",
)
def _unbatched_hwc(p: Problem) -> Call | None:
    if p.batched or p.kind == "corr2d" or p.base.x.shape[1] == 1:
        return None
    _, c, h, w = p.base.x.shape
    return p.call(x=p.base.x.reshape(h, w, c).permute(2, 0, 1)[None])


@variant(
    BATCH,
    "unbatched-keeps-batch-dim",
    Category.BATCH,
    "the output equals F.conv2d of the unbatched input with the batch dimension of 1 left in place",
)
def _keeps_batch(p: Problem) -> Call | None:
    return None if p.batched or p.kind == "corr2d" else p.call(restore=lambda out: out)


@variant(
    BATCH,
    "unit-dims-squeezed",
    Category.BATCH,
    "the output equals F.conv2d with every dimension of size 1 removed (squeeze() instead of squeeze(0))",
)
def _squeezed(p: Problem) -> Call | None:
    shape = p.restore(torch.empty(p.base.x.shape[0], p.base.w.shape[0], *p.out)).shape
    if 1 not in shape:
        return None
    return p.call(restore=lambda out: p.restore(out).squeeze())


# precision
def _tf32(t: Tensor) -> Tensor:
    """Float32 values rounded to TF32 (10 mantissa bits, nearest even), as float64."""
    bits = t.to(torch.float32).contiguous().view(torch.int32)
    rounded = (bits + 0xFFF + ((bits >> 13) & 1)) & -8192
    return rounded.view(torch.float32).to(torch.float64)


def _rounded(t: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return None if t is None else t.to(dtype).to(torch.float64)


@variant(
    PRECISION,
    "inputs-rounded-to-tf32",
    Category.PRECISION,
    "the output equals F.conv2d of input and weight rounded to TF32 (10 mantissa bits), accumulated in float32",
)
def _inputs_tf32(p: Problem) -> Call | None:
    if p.dtype != torch.float32:
        return None
    return p.call(x=_tf32(p.base.x), w=_tf32(p.base.w))


@variant(
    PRECISION,
    "inputs-rounded-to-bfloat16",
    Category.PRECISION,
    "the output equals F.conv2d of input and weight rounded to bfloat16, accumulated in float32",
)
def _inputs_bf16(p: Problem) -> Call | None:
    if p.dtype != torch.float32:
        return None
    return p.call(x=_rounded(p.base.x, torch.bfloat16), w=_rounded(p.base.w, torch.bfloat16))


@variant(
    PRECISION,
    "computed-in-bfloat16",
    Category.PRECISION,
    "the output equals F.conv2d computed in bfloat16 (inputs, bias and result rounded to bfloat16) and cast back",
)
def _in_bf16(p: Problem) -> Call | None:
    if p.dtype != torch.float32:
        return None
    b = p.base
    return p.call(
        x=_rounded(b.x, torch.bfloat16),
        w=_rounded(b.w, torch.bfloat16),
        b=_rounded(b.b, torch.bfloat16),
        precision=precision_for(torch.bfloat16),
    )


@variant(
    PRECISION,
    "computed-in-float32",
    Category.PRECISION,
    "the output equals F.conv2d computed in float32 (inputs, bias and result rounded to float32) and cast back",
)
def _in_float32(p: Problem) -> Call | None:
    if p.dtype != torch.float64:
        return None
    b = p.base
    return p.call(
        x=_rounded(b.x, torch.float32),
        w=_rounded(b.w, torch.float32),
        b=_rounded(b.b, torch.float32),
        precision=precision_for(torch.float32),
    )


@variant(
    PRECISION,
    "accumulated-in-dtype",
    Category.PRECISION,
    "the output equals F.conv2d accumulated in the input's own half-precision dtype, not in float32",
)
def _accumulated_in_dtype(p: Problem) -> Call | None:
    if p.dtype not in (torch.float16, torch.bfloat16):
        return None
    return p.call(precision=precision_for(p.dtype, accumulation="dtype"))


@variant(
    PRECISION,
    "returned-in-float32",
    Category.PRECISION,
    "the output equals F.conv2d returned in float32 (the accumulator's dtype), not in the input's dtype",
    also=(Category.DTYPE,),
)
def _returned_float32(p: Problem) -> Call | None:
    if p.dtype == torch.float32:
        return None
    u32 = unit_roundoff(torch.float32)
    u_in = u32 if p.dtype == torch.float64 else 0.0
    return p.call(dtype=torch.float32, precision=Precision("float32 result", u_in, u32, u32))
