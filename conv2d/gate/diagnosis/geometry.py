"""Output variants of geometry: the kernel's orientation, per-axis parameters, padding, output size, windows.

Each family is a list of :class:`~conv2d.gate.diagnosis.variant.Variant`, in
catalogue order; :data:`conv2d.gate.diagnosis.catalogue.VARIANTS` puts the
families in order.
"""

from __future__ import annotations

import torch

from conv2d.gate.case import Pair, resolve_padding
from conv2d.gate.diagnosis.problem import PAD, Call, Problem
from conv2d.gate.diagnosis.variant import Variant, variant
from conv2d.gate.vocabulary import Category

__all__ = ["IGNORED", "ORIENTATION", "OUTPUT_SIZE", "PADDING", "PER_AXIS", "WINDOW"]

#: The kernel rotated or transposed, or its height used for both axes.
ORIENTATION: list[Variant] = []
#: H and W parameters swapped, or one axis's used for both.
PER_AXIS: list[Variant] = []
#: Padding split or placed the wrong way.
PADDING: list[Variant] = []
#: The output-size formula wrong.
OUTPUT_SIZE: list[Variant] = []
#: Stride or dilation ignored.
IGNORED: list[Variant] = []
#: Every window read one row or column late.
WINDOW: list[Variant] = []


def _swapped(pair: Pair) -> Pair:
    return (pair[1], pair[0])


# The variants below share one form on purpose (@variant, a category, a name, a sentence, one function
# returning the wrong call or None): duplicates reports that form, not repeated logic.


# kernel orientation
@variant(
    ORIENTATION,
    "true-convolution",
    Category.KERNEL_ORIENTATION,
    "the output equals F.conv2d with the kernel rotated 180° (a convolution, not a cross-correlation)",
)
def _true_convolution(p: Problem) -> Call | None:
    turned = p.base.w.flip(-2, -1)
    return None if torch.equal(turned, p.base.w) else p.call(w=turned)


@variant(
    ORIENTATION,
    "kernel-transposed",
    Category.KERNEL_ORIENTATION,
    "the output equals F.conv2d with the kernel transposed (kh and kw exchanged: weight[..., j, i])",
)
def _kernel_transposed(p: Problem) -> Call | None:
    turned = p.base.w.transpose(-2, -1)
    return None if torch.equal(turned, p.base.w) else p.call(w=turned)


@variant(
    ORIENTATION,
    "kernel-height-for-width",
    Category.PER_AXIS,
    "the output equals F.conv2d with a square kh x kh kernel (the kernel height used for both axes)",
)
def _square_kernel(p: Problem) -> Call | None:
    kh, kw = p.kernel
    if kh == kw:
        return None
    return p.call(w=PAD(p.base.w, [0, max(0, kh - kw)], 0.0)[..., :kh])


# per-axis mix-ups
@variant(
    PER_AXIS,
    "stride-swapped",
    Category.PER_AXIS,
    "the output equals F.conv2d with the H and W strides swapped",
)
def _stride_swapped(p: Problem) -> Call | None:
    s = p.base.stride
    return None if s[0] == s[1] else p.call(stride=_swapped(s))


@variant(
    PER_AXIS,
    "stride-height-for-width",
    Category.PER_AXIS,
    "the output equals F.conv2d with the H stride used for both axes",
)
def _stride_h(p: Problem) -> Call | None:
    s = p.base.stride
    return None if s[0] == s[1] else p.call(stride=(s[0], s[0]))


@variant(
    PER_AXIS,
    "stride-width-for-height",
    Category.PER_AXIS,
    "the output equals F.conv2d with the W stride used for both axes",
)
def _stride_w(p: Problem) -> Call | None:
    s = p.base.stride
    return None if s[0] == s[1] else p.call(stride=(s[1], s[1]))


@variant(
    PER_AXIS,
    "padding-swapped",
    Category.PER_AXIS,
    "the output equals F.conv2d with the H and W paddings swapped",
)
def _padding_swapped(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return None if (top, bottom) == (left, right) else p.call(pads=(left, right, top, bottom))


def _with_dilation(p: Problem, d: Pair) -> Call:
    return p.call(dilation=d, pads=p.pads_for(d))


@variant(
    PER_AXIS,
    "dilation-swapped",
    Category.PER_AXIS,
    "the output equals F.conv2d with the H and W dilations swapped",
)
def _dilation_swapped(p: Problem) -> Call | None:
    d = p.base.dilation
    return None if d[0] == d[1] else _with_dilation(p, _swapped(d))


@variant(
    PER_AXIS,
    "dilation-height-for-width",
    Category.PER_AXIS,
    "the output equals F.conv2d with the H dilation used for both axes",
)
def _dilation_h(p: Problem) -> Call | None:
    d = p.base.dilation
    return None if d[0] == d[1] else _with_dilation(p, (d[0], d[0]))


@variant(
    PER_AXIS,
    "dilation-width-for-height",
    Category.PER_AXIS,
    "the output equals F.conv2d with the W dilation used for both axes",
)
def _dilation_w(p: Problem) -> Call | None:
    d = p.base.dilation
    return None if d[0] == d[1] else _with_dilation(p, (d[1], d[1]))


# padding conventions
@variant(
    PADDING,
    "same-split-reversed",
    Category.PADDING,
    "the output equals F.conv2d with the odd element of each axis's padding on the top/left, not the bottom/right",
)
def _same_reversed(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return None if (top, left) == (bottom, right) else p.call(pads=(bottom, top, right, left))


@variant(
    PADDING,
    "padding-all-after",
    Category.PADDING,
    "the output equals F.conv2d with all of the padding after the input (bottom/right, none top/left)",
)
def _padding_after(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return None if top == left == 0 else p.call(pads=(0, top + bottom, 0, left + right))


@variant(
    PADDING,
    "padding-all-before",
    Category.PADDING,
    "the output equals F.conv2d with all of the padding before the input (top/left, none bottom/right)",
)
def _padding_before(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return None if bottom == right == 0 else p.call(pads=(top + bottom, 0, left + right, 0))


@variant(
    PADDING,
    "same-ignores-dilation",
    Category.PADDING,
    "the output equals F.conv2d with 'same' padding computed from the undilated kernel (k - 1, not d * (k - 1))",
)
def _same_undilated(p: Problem) -> Call | None:
    if p.padding != "same" or p.base.dilation == (1, 1):
        return None
    return p.call(pads=resolve_padding("same", p.kernel, (1, 1)))


@variant(
    PADDING,
    "padding-pair-as-fpad",
    Category.PADDING,
    "the output equals F.conv2d with padding=(ph, pw) handed to F.pad: the width padded ph left and pw right, "
    "the height not at all",
)
def _pair_as_fpad(p: Problem) -> Call | None:
    if not isinstance(p.padding, tuple):
        return None
    ph, pw = p.padding
    return p.call(pads=(0, 0, ph, pw))


@variant(
    PADDING,
    "padding-ignored",
    Category.FAST_PATH,
    "the output equals F.conv2d without the padding (padding=0)",
    also=(Category.PADDING,),
)
def _padding_ignored(p: Problem) -> Call | None:
    return None if p.base.pads == (0, 0, 0, 0) else p.call(pads=(0, 0, 0, 0))


# output size
@variant(
    OUTPUT_SIZE,
    "output-size-ceil",
    Category.OUTPUT_SIZE,
    "the output equals F.conv2d with the output size rounded up (ceil): an extra last row/column "
    "from a window hanging over the edge",
)
def _ceil(p: Problem) -> Call | None:
    (hp, wp), (eh, ew), (sh, sw) = p.padded, p.extent(), p.base.stride
    extra_h, extra_w = -(hp - eh) % sh, -(wp - ew) % sw
    if extra_h == extra_w == 0:
        return None
    top, bottom, left, right = p.base.pads
    return p.call(pads=(top, bottom + extra_h, left, right + extra_w))


@variant(
    OUTPUT_SIZE,
    "output-size-floor-l-over-s",
    Category.OUTPUT_SIZE,
    "the output equals F.conv2d cropped to floor((H + pads - d(k-1)) / s) rows and columns "
    "(an off-by-one output-size formula)",
)
def _floor_l_over_s(p: Problem) -> Call | None:
    (hp, wp), (eh, ew), (sh, sw) = p.padded, p.extent(), p.base.stride
    rows, cols = (hp - eh + 1) // sh, (wp - ew + 1) // sw
    if (rows, cols) == p.out or min(rows, cols) < 1:
        return None
    return p.call(crop=(rows, cols))


@variant(
    OUTPUT_SIZE,
    "last-row-and-column-dropped",
    Category.OUTPUT_SIZE,
    "the output equals F.conv2d without its last row and last column (an off-by-one loop bound)",
)
def _last_dropped(p: Problem) -> Call | None:
    rows, cols = p.out
    return None if min(rows, cols) < 2 else p.call(crop=(rows - 1, cols - 1))


@variant(
    OUTPUT_SIZE,
    "output-size-ignores-dilation",
    Category.OUTPUT_SIZE,
    "the output equals F.conv2d sized as if dilation were 1 (the extra rows/columns read zeros)",
)
def _size_undilated(p: Problem) -> Call | None:
    if p.base.dilation == (1, 1):
        return None
    (hp, wp), (kh, kw), (sh, sw) = p.padded, p.kernel, p.base.stride
    (eh, ew) = p.extent()
    rows, cols = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    top, bottom, left, right = p.base.pads
    need_h, need_w = (rows - 1) * sh + eh, (cols - 1) * sw + ew
    return p.call(pads=(top, bottom + max(0, need_h - hp), left, right + max(0, need_w - wp)))


# parameters ignored
@variant(
    IGNORED,
    "stride-ignored",
    Category.FAST_PATH,
    "the output equals the stride-1 F.conv2d's first H_out x W_out elements (the stride ignored)",
)
def _stride_ignored_cropped(p: Problem) -> Call | None:
    return None if p.base.stride == (1, 1) else p.call(stride=(1, 1), crop=p.out)


@variant(
    IGNORED,
    "stride-ignored-whole",
    Category.FAST_PATH,
    "the output equals F.conv2d with stride 1 (the stride ignored, the output too large)",
)
def _stride_ignored(p: Problem) -> Call | None:
    return None if p.base.stride == (1, 1) else p.call(stride=(1, 1))


@variant(
    IGNORED,
    "dilation-ignored",
    Category.FAST_PATH,
    "the output equals F.conv2d with dilation 1 (the dilation ignored)",
)
def _dilation_ignored(p: Problem) -> Call | None:
    return None if p.base.dilation == (1, 1) else _with_dilation(p, (1, 1))


# window offsets
@variant(
    WINDOW,
    "window-one-column-late",
    Category.SPECIAL_SHAPE_KERNEL,
    "the output equals F.conv2d with every window starting one column to the right",
)
def _column_late(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return p.call(pads=(top, bottom, left - 1, right + 1))


@variant(
    WINDOW,
    "window-one-row-late",
    Category.SPECIAL_SHAPE_KERNEL,
    "the output equals F.conv2d with every window starting one row down",
)
def _row_late(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return p.call(pads=(top - 1, bottom + 1, left, right))
