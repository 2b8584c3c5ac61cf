"""What a failing target computes instead: a catalogue of well-known wrong convolutions.

A failure message says *where* a result is wrong; this module tries to say *what*
it is. Each :class:`Variant` is a wrong convolution found in real code — the
kernel rotated 180°, the strides of H and W swapped, the bias added twice, a
channels_last buffer read as NCHW, inputs rounded to TF32 — computed exactly in
float64 from the call's own arguments. :func:`identify` judges the target's
output against each variant in turn, with the gate's own error bound taken on
that variant's magnitudes (:func:`conv2d.gate.tolerance.bound`), and returns the
first one the output fits while it does not fit the right result::

    line = diagnose(actual, case, args)
    # 'diagnosis: the output equals F.conv2d with the kernel rotated 180° (a convolution,
    #  not a cross-correlation) (variant true-convolution, within 0.0041 x its error bound)'

Gradient variants (:data:`GRADIENT_VARIANTS`, :func:`identify_gradient`) do the
same for ``input.grad``, ``weight.grad`` and ``bias.grad``.

Every variant is computed with torch's convolution operator bound at import
(``torch.ops.aten.convolution.default``), like the reference, so a target that
replaces ``torch.nn.functional`` cannot change what the diagnosis compares with.
Each variant records the zoo bug *category* (``conv2d.zoo``) it corresponds to;
:func:`hit_rate` measures how many of the zoo's mutants the catalogue names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from conv2d.gate.case import Args, ConvCase, Pair, as_pair, resolve_padding
from conv2d.gate.judge import contract as held_to
from conv2d.gate.judge import exact_bound
from conv2d.gate.judge import fits as _fits
from conv2d.gate.judge import transform_length as _transformed
from conv2d.gate.reference import Exact, as_float64, forward_scale, reference, reference_grads
from conv2d.gate.tolerance import Precision, precision_for, unit_roundoff

__all__ = [
    "GRADIENT_VARIANTS",
    "PARTIAL_VARIANTS",
    "VARIANTS",
    "Call",
    "GradientVariant",
    "Match",
    "PartialVariant",
    "Problem",
    "Variant",
    "case_of",
    "diagnose",
    "diagnose_gradient",
    "explain",
    "hit_rate",
    "identify",
    "identify_gradient",
]

_aten = torch.ops.aten
_CONVOLUTION = _aten.convolution.default
_PAD = _aten.constant_pad_nd.default
_GRAD = torch.autograd.grad
_F64 = torch.float64
#: Larger inputs are not diagnosed: each variant is a float64 convolution of its own.
MAX_ELEMENTS = 2**20

Pads = tuple[int, int, int, int]  # top, bottom, left, right


# -- the problem and its variant calls ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Call:
    """One float64 convolution a variant computes: 4-D tensors and explicit parameters.

    Attributes:
        x, w, b: input ``(N, C, H, W)``, weight ``(O, C/groups, kh, kw)`` and bias ``(O,)`` or ``None``.
        pads: zero padding ``(top, bottom, left, right)``; a negative entry crops.
        stride, dilation, groups: the convolution's parameters.
        extra: a tensor of the 4-D output's shape added after the convolution (a misplaced bias).
        crop: keep only the first ``(rows, columns)`` of the output.
        restore: how the 4-D result becomes the output (``None``: the shape of the call's own output).
        precision: the precision the variant is judged at (``None``: the caller's contract).
        dtype: the output dtype the variant produces (``None``: the input's dtype).
    """

    x: Tensor
    w: Tensor
    b: Tensor | None
    pads: Pads
    stride: Pair
    dilation: Pair
    groups: int
    extra: Tensor | None = None
    crop: Pair | None = None
    restore: Callable[[Tensor], Tensor] | None = None
    precision: Precision | None = None
    dtype: torch.dtype | None = None


@dataclasses.dataclass(frozen=True)
class Problem:
    """A call's arguments in the 4-D float64 form the variants start from.

    ``args`` keeps the tensors as the target received them (their memory layout
    matters to the layout variants); ``base`` is the right call.
    """

    args: Args
    base: Call
    kind: Literal["conv2d", "corr2d"]
    batched: bool
    dtype: torch.dtype
    padding: Any

    @classmethod
    def of(cls, args: Args) -> Problem:
        """The problem of one call (``corr2d`` when the input is 2-D)."""
        x, w, b = as_float64(args.input), as_float64(args.weight), as_float64(args.bias)
        assert x is not None and w is not None
        kind: Literal["conv2d", "corr2d"] = "corr2d" if x.dim() == 2 else "conv2d"
        if kind == "corr2d":
            base = Call(x[None, None], w[None, None], None, (0, 0, 0, 0), (1, 1), (1, 1), 1)
            return cls(args, base, kind, False, args.input.dtype, 0)
        kernel = (w.shape[-2], w.shape[-1])
        dilation = as_pair(args.dilation)  # type: ignore[arg-type]
        pads = resolve_padding(args.padding, kernel, dilation)  # type: ignore[arg-type]
        x4 = x if x.dim() == 4 else x[None]
        stride = as_pair(args.stride)  # type: ignore[arg-type]
        base = Call(x4, w, b, pads, stride, dilation, args.groups)
        return cls(args, base, kind, x.dim() == 4, args.input.dtype, args.padding)

    def call(self, **changes: Any) -> Call:
        """The right call with some fields changed."""
        return dataclasses.replace(self.base, **changes)

    def restore(self, out: Tensor) -> Tensor:
        """The 4-D result in the shape of the call's own output."""
        if self.kind == "corr2d":
            return out[0, 0]
        return out if self.batched else out[0]

    @property
    def kernel(self) -> Pair:
        return (self.base.w.shape[-2], self.base.w.shape[-1])

    @property
    def padded(self) -> Pair:
        """The padded input's spatial size."""
        top, bottom, left, right = self.base.pads
        return (self.base.x.shape[-2] + top + bottom, self.base.x.shape[-1] + left + right)

    def extent(self, dilation: Pair | None = None) -> Pair:
        """The dilated kernel's spatial extent ``d * (k - 1) + 1``."""
        d = dilation or self.base.dilation
        return (d[0] * (self.kernel[0] - 1) + 1, d[1] * (self.kernel[1] - 1) + 1)

    @property
    def out(self) -> Pair:
        """The right output's spatial size."""
        (hp, wp), (eh, ew), (sh, sw) = self.padded, self.extent(), self.base.stride
        return ((hp - eh) // sh + 1, (wp - ew) // sw + 1)

    def pads_for(self, dilation: Pair) -> Pads:
        """The padding at another dilation (it changes only for ``padding="same"``)."""
        if self.padding == "same":
            return resolve_padding("same", self.kernel, dilation)
        return self.base.pads


def _run(call: Call, x: Tensor, w: Tensor, b: Tensor | None, extra: Tensor | None) -> Tensor:
    top, bottom, left, right = call.pads
    padded = _PAD(x, [left, right, top, bottom], 0.0)
    out = _CONVOLUTION(
        padded, w, b, list(call.stride), [0, 0], list(call.dilation), False, [0, 0], call.groups
    )
    if extra is not None:
        out = out + extra
    if call.crop is not None:
        out = out[..., : call.crop[0], : call.crop[1]]
    return out


def evaluate(problem: Problem, call: Call) -> Exact:
    """The variant's exact value, magnitude, norm-wise scale and unbiased value, in the output's shape."""
    restore = call.restore or problem.restore
    b_abs = None if call.b is None else call.b.abs()
    e_abs = None if call.extra is None else call.extra.abs()
    value = _run(call, call.x, call.w, call.b, call.extra)
    magnitude = _run(call, call.x.abs(), call.w.abs(), b_abs, e_abs)
    finite = torch.nan_to_num(call.x, nan=0.0, posinf=0.0, neginf=0.0)  # NaN-filled memory read by a variant
    scale = forward_scale(finite, call.w, call.groups).expand_as(value)
    biased = call.b is not None or call.extra is not None
    unbiased = restore(_run(call, call.x, call.w, None, None)) if biased else None
    return Exact(restore(value), restore(magnitude), restore(scale), unbiased)


# -- the catalogue --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Variant:
    """A well-known wrong convolution.

    Attributes:
        name: short kebab-case identifier.
        category: the zoo bug category it corresponds to (``conv2d.zoo``'s ``ZooEntry.category``).
        sentence: what the output equals, as one sentence (``"the output equals ..."``).
        compute: the variant's call for a problem, or ``None`` where it does not apply or equals the right call.
        also: further zoo categories whose bugs produce the same output.
    """

    name: str
    category: str
    sentence: str
    compute: Callable[[Problem], Call | None]
    also: tuple[str, ...] = ()

    @property
    def categories(self) -> tuple[str, ...]:
        return (self.category, *self.also)


VARIANTS: list[Variant] = []


def _variant(
    name: str, category: str, sentence: str, also: tuple[str, ...] = ()
) -> Callable[[Callable[[Problem], Call | None]], Callable[[Problem], Call | None]]:
    def add(fn: Callable[[Problem], Call | None]) -> Callable[[Problem], Call | None]:
        VARIANTS.append(Variant(name, category, sentence, fn, also))
        return fn

    return add


def _swapped(pair: Pair) -> Pair:
    return (pair[1], pair[0])


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


def _is_channels_last(t: Tensor) -> bool:
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _batch4(p: Problem, x: Tensor | None) -> Call | None:
    if x is None or p.kind == "corr2d":
        return None
    return p.call(x=x if p.batched else x[None])


@_variant(
    "channels-last-read-as-nchw",
    "layout",
    "the output equals F.conv2d of the channels_last input's memory read as if it were NCHW",
)
def _channels_last_as_nchw(p: Problem) -> Call | None:
    t = p.args.input
    return _batch4(p, _read_dense(t)) if _is_channels_last(t) else None


@_variant(
    "input-strides-ignored",
    "layout",
    "the output equals F.conv2d of the non-contiguous input's memory read with contiguous strides",
)
def _input_dense(p: Problem) -> Call | None:
    t = p.args.input
    if t.is_contiguous() or _is_channels_last(t):
        return None
    return _batch4(p, _read_dense(t))


@_variant(
    "input-storage-offset-ignored",
    "layout",
    "the output equals F.conv2d of the input read from the start of its storage (its storage offset ignored)",
)
def _offset_ignored(p: Problem) -> Call | None:
    t = p.args.input
    if t.storage_offset() == 0 or p.kind == "corr2d":
        return None
    return _batch4(p, as_float64(t.detach().as_strided(t.shape, t.stride(), 0)))


@_variant(
    "weight-strides-ignored",
    "layout",
    "the output equals F.conv2d with the non-contiguous weight's memory read with contiguous strides",
)
def _weight_dense(p: Problem) -> Call | None:
    t = p.args.weight
    if t.is_contiguous() or p.kind == "corr2d":
        return None
    w = _read_dense(t)
    return None if w is None else p.call(w=w)


# kernel orientation
@_variant(
    "true-convolution",
    "kernel-orientation",
    "the output equals F.conv2d with the kernel rotated 180° (a convolution, not a cross-correlation)",
)
def _true_convolution(p: Problem) -> Call | None:
    turned = p.base.w.flip(-2, -1)
    return None if torch.equal(turned, p.base.w) else p.call(w=turned)


@_variant(
    "kernel-transposed",
    "kernel-orientation",
    "the output equals F.conv2d with the kernel transposed (kh and kw exchanged: weight[..., j, i])",
)
def _kernel_transposed(p: Problem) -> Call | None:
    turned = p.base.w.transpose(-2, -1)
    return None if torch.equal(turned, p.base.w) else p.call(w=turned)


@_variant(
    "kernel-height-for-width",
    "per-axis",
    "the output equals F.conv2d with a square kh x kh kernel (the kernel height used for both axes)",
)
def _square_kernel(p: Problem) -> Call | None:
    kh, kw = p.kernel
    if kh == kw:
        return None
    return p.call(w=_PAD(p.base.w, [0, max(0, kh - kw)], 0.0)[..., :kh])


# per-axis mix-ups
@_variant("stride-swapped", "per-axis", "the output equals F.conv2d with the H and W strides swapped")
def _stride_swapped(p: Problem) -> Call | None:
    s = p.base.stride
    return None if s[0] == s[1] else p.call(stride=_swapped(s))


@_variant(
    "stride-height-for-width", "per-axis", "the output equals F.conv2d with the H stride used for both axes"
)
def _stride_h(p: Problem) -> Call | None:
    s = p.base.stride
    return None if s[0] == s[1] else p.call(stride=(s[0], s[0]))


@_variant(
    "stride-width-for-height", "per-axis", "the output equals F.conv2d with the W stride used for both axes"
)
def _stride_w(p: Problem) -> Call | None:
    s = p.base.stride
    return None if s[0] == s[1] else p.call(stride=(s[1], s[1]))


@_variant("padding-swapped", "per-axis", "the output equals F.conv2d with the H and W paddings swapped")
def _padding_swapped(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return None if (top, bottom) == (left, right) else p.call(pads=(left, right, top, bottom))


def _with_dilation(p: Problem, d: Pair) -> Call:
    return p.call(dilation=d, pads=p.pads_for(d))


@_variant("dilation-swapped", "per-axis", "the output equals F.conv2d with the H and W dilations swapped")
def _dilation_swapped(p: Problem) -> Call | None:
    d = p.base.dilation
    return None if d[0] == d[1] else _with_dilation(p, _swapped(d))


@_variant(
    "dilation-height-for-width",
    "per-axis",
    "the output equals F.conv2d with the H dilation used for both axes",
)
def _dilation_h(p: Problem) -> Call | None:
    d = p.base.dilation
    return None if d[0] == d[1] else _with_dilation(p, (d[0], d[0]))


@_variant(
    "dilation-width-for-height",
    "per-axis",
    "the output equals F.conv2d with the W dilation used for both axes",
)
def _dilation_w(p: Problem) -> Call | None:
    d = p.base.dilation
    return None if d[0] == d[1] else _with_dilation(p, (d[1], d[1]))


# padding conventions
@_variant(
    "same-split-reversed",
    "padding",
    "the output equals F.conv2d with the odd element of each axis's padding on the top/left, not the bottom/right",
)
def _same_reversed(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return None if (top, left) == (bottom, right) else p.call(pads=(bottom, top, right, left))


@_variant(
    "padding-all-after",
    "padding",
    "the output equals F.conv2d with all of the padding after the input (bottom/right, none top/left)",
)
def _padding_after(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return None if top == left == 0 else p.call(pads=(0, top + bottom, 0, left + right))


@_variant(
    "padding-all-before",
    "padding",
    "the output equals F.conv2d with all of the padding before the input (top/left, none bottom/right)",
)
def _padding_before(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return None if bottom == right == 0 else p.call(pads=(top + bottom, 0, left + right, 0))


@_variant(
    "same-ignores-dilation",
    "padding",
    "the output equals F.conv2d with 'same' padding computed from the undilated kernel (k - 1, not d * (k - 1))",
)
def _same_undilated(p: Problem) -> Call | None:
    if p.padding != "same" or p.base.dilation == (1, 1):
        return None
    return p.call(pads=resolve_padding("same", p.kernel, (1, 1)))


@_variant(
    "padding-pair-as-fpad",
    "padding",
    "the output equals F.conv2d with padding=(ph, pw) handed to F.pad: the width padded ph left and pw right, "
    "the height not at all",
)
def _pair_as_fpad(p: Problem) -> Call | None:
    if not isinstance(p.padding, tuple):
        return None
    ph, pw = p.padding
    return p.call(pads=(0, 0, ph, pw))


@_variant(
    "padding-ignored",
    "fast-path",
    "the output equals F.conv2d without the padding (padding=0)",
    also=("padding",),
)
def _padding_ignored(p: Problem) -> Call | None:
    return None if p.base.pads == (0, 0, 0, 0) else p.call(pads=(0, 0, 0, 0))


# output size
@_variant(
    "output-size-ceil",
    "output-size",
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


@_variant(
    "output-size-floor-l-over-s",
    "output-size",
    "the output equals F.conv2d cropped to floor((H + pads - d(k-1)) / s) rows and columns "
    "(an off-by-one output-size formula)",
)
def _floor_l_over_s(p: Problem) -> Call | None:
    (hp, wp), (eh, ew), (sh, sw) = p.padded, p.extent(), p.base.stride
    rows, cols = (hp - eh + 1) // sh, (wp - ew + 1) // sw
    if (rows, cols) == p.out or min(rows, cols) < 1:
        return None
    return p.call(crop=(rows, cols))


@_variant(
    "last-row-and-column-dropped",
    "output-size",
    "the output equals F.conv2d without its last row and last column (an off-by-one loop bound)",
)
def _last_dropped(p: Problem) -> Call | None:
    rows, cols = p.out
    return None if min(rows, cols) < 2 else p.call(crop=(rows - 1, cols - 1))


@_variant(
    "output-size-ignores-dilation",
    "output-size",
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
@_variant(
    "stride-ignored",
    "fast-path",
    "the output equals the stride-1 F.conv2d's first H_out x W_out elements (the stride ignored)",
)
def _stride_ignored_cropped(p: Problem) -> Call | None:
    return None if p.base.stride == (1, 1) else p.call(stride=(1, 1), crop=p.out)


@_variant(
    "stride-ignored-whole",
    "fast-path",
    "the output equals F.conv2d with stride 1 (the stride ignored, the output too large)",
)
def _stride_ignored(p: Problem) -> Call | None:
    return None if p.base.stride == (1, 1) else p.call(stride=(1, 1))


@_variant(
    "dilation-ignored",
    "fast-path",
    "the output equals F.conv2d with dilation 1 (the dilation ignored)",
)
def _dilation_ignored(p: Problem) -> Call | None:
    return None if p.base.dilation == (1, 1) else _with_dilation(p, (1, 1))


# reduction remainders
def _channel_remainder_dropped(block: int) -> Callable[[Problem], Call | None]:
    def compute(p: Problem) -> Call | None:
        cg = p.base.w.shape[1]
        left = cg % block
        if cg <= block or left == 0:
            return None
        w = p.base.w.clone()
        w[:, cg - left :] = 0
        return p.call(w=w)

    return compute


# largest block first: blocks leaving the same remainder give the same output, and the largest is the
# likelier loop (a 16-wide loop on 20 channels drops 4, as an 8-wide one would)
for _block in (32, 16, 8, 4):
    _variant(
        f"channel-remainder-dropped-{_block}",
        "tile-remainder",
        f"the output equals F.conv2d with the last (C_in/groups) mod {_block} input channels of each group left "
        f"out of the reduction (a loop over blocks of {_block} channels with no remainder)",
    )(_channel_remainder_dropped(_block))


# bias
@_variant(
    "bias-missing", "bias", "the output equals F.conv2d without the bias (bias=None)", also=("fast-path",)
)
def _bias_missing(p: Problem) -> Call | None:
    return None if p.base.b is None else p.call(b=None)


@_variant("bias-twice", "bias", "the output equals F.conv2d with the bias added twice")
def _bias_twice(p: Problem) -> Call | None:
    return None if p.base.b is None else p.call(b=2 * p.base.b)


@_variant(
    "bias-of-group-0",
    "bias",
    "the output equals F.conv2d with group 0's bias values used for every group",
)
def _bias_group0(p: Problem) -> Call | None:
    b, g = p.base.b, p.base.groups
    if b is None or g == 1:
        return None
    first = b[: b.shape[0] // g].repeat(g)
    return None if torch.equal(first, b) else p.call(b=first)


@_variant("bias-reversed", "bias", "the output equals F.conv2d with the bias in reversed channel order")
def _bias_reversed(p: Problem) -> Call | None:
    b = p.base.b
    return None if b is None or torch.equal(b.flip(0), b) else p.call(b=b.flip(0))


@_variant(
    "bias-shifted",
    "bias",
    "the output equals F.conv2d with each channel given the previous channel's bias (bias rolled by one)",
)
def _bias_shifted(p: Problem) -> Call | None:
    b = p.base.b
    return None if b is None or torch.equal(b.roll(1), b) else p.call(b=b.roll(1))


@_variant(
    "bias-nchw-index-on-nhwc",
    "bias",
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
@_variant(
    "groups-read-group-0",
    "groups",
    "the output equals F.conv2d with every group reading group 0's input channels",
)
def _groups_first_input(p: Problem) -> Call | None:
    x, g, cg = p.base.x, p.base.groups, p.base.w.shape[1]
    return None if g == 1 else p.call(x=x[:, :cg].repeat(1, g, 1, 1))


@_variant(
    "group-filters-offset",
    "groups",
    "the output equals F.conv2d with group g's filters taken from weight[g : g + C_out/groups], "
    "not weight[g * C_out/groups : ...]",
)
def _group_filters(p: Problem) -> Call | None:
    w, g = p.base.w, p.base.groups
    per = w.shape[0] // g
    if g == 1 or per == 1:
        return None
    return p.call(w=torch.cat([w[i : i + per] for i in range(g)]))


@_variant(
    "depthwise-multiplier-interleaved",
    "groups",
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
@_variant("batch-reversed", "batch", "the output equals F.conv2d of the batch in reversed order")
def _batch_reversed(p: Problem) -> Call | None:
    x = p.base.x
    return None if x.shape[0] == 1 else p.call(x=x.flip(0))


@_variant(
    "batch-rolled",
    "batch",
    "the output equals F.conv2d with each image's result in the next image's slot (the batch rolled by one)",
)
def _batch_rolled(p: Problem) -> Call | None:
    x = p.base.x
    return None if x.shape[0] == 1 else p.call(x=x.roll(1, 0))


@_variant(
    "unbatched-read-as-hwc",
    "batch",
    "the output equals F.conv2d of the unbatched (C, H, W) input's values read as (H, W, C) data",
)
def _unbatched_hwc(p: Problem) -> Call | None:
    if p.batched or p.kind == "corr2d" or p.base.x.shape[1] == 1:
        return None
    _, c, h, w = p.base.x.shape
    return p.call(x=p.base.x.reshape(h, w, c).permute(2, 0, 1)[None])


@_variant(
    "unbatched-keeps-batch-dim",
    "batch",
    "the output equals F.conv2d of the unbatched input with the batch dimension of 1 left in place",
)
def _keeps_batch(p: Problem) -> Call | None:
    return None if p.batched or p.kind == "corr2d" else p.call(restore=lambda out: out)


@_variant(
    "unit-dims-squeezed",
    "batch",
    "the output equals F.conv2d with every dimension of size 1 removed (squeeze() instead of squeeze(0))",
)
def _squeezed(p: Problem) -> Call | None:
    shape = p.restore(torch.empty(p.base.x.shape[0], p.base.w.shape[0], *p.out)).shape
    if 1 not in shape:
        return None
    return p.call(restore=lambda out: p.restore(out).squeeze())


# window offsets
@_variant(
    "window-one-column-late",
    "window-offset",
    "the output equals F.conv2d with every window starting one column to the right",
    also=("special-shape kernel",),
)
def _column_late(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return p.call(pads=(top, bottom, left - 1, right + 1))


@_variant(
    "window-one-row-late",
    "window-offset",
    "the output equals F.conv2d with every window starting one row down",
    also=("special-shape kernel",),
)
def _row_late(p: Problem) -> Call | None:
    top, bottom, left, right = p.base.pads
    return p.call(pads=(top - 1, bottom + 1, left, right))


# precision
def _tf32(t: Tensor) -> Tensor:
    """Float32 values rounded to TF32 (10 mantissa bits, nearest even), as float64."""
    bits = t.to(torch.float32).contiguous().view(torch.int32)
    rounded = (bits + 0xFFF + ((bits >> 13) & 1)) & -8192
    return rounded.view(torch.float32).to(_F64)


def _rounded(t: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return None if t is None else t.to(dtype).to(_F64)


@_variant(
    "inputs-rounded-to-tf32",
    "precision",
    "the output equals F.conv2d of input and weight rounded to TF32 (10 mantissa bits), accumulated in float32",
)
def _inputs_tf32(p: Problem) -> Call | None:
    if p.dtype != torch.float32:
        return None
    return p.call(x=_tf32(p.base.x), w=_tf32(p.base.w))


@_variant(
    "inputs-rounded-to-bfloat16",
    "precision",
    "the output equals F.conv2d of input and weight rounded to bfloat16, accumulated in float32",
)
def _inputs_bf16(p: Problem) -> Call | None:
    if p.dtype != torch.float32:
        return None
    return p.call(x=_rounded(p.base.x, torch.bfloat16), w=_rounded(p.base.w, torch.bfloat16))


@_variant(
    "computed-in-bfloat16",
    "precision",
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


@_variant(
    "computed-in-float32",
    "precision",
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


@_variant(
    "accumulated-in-dtype",
    "precision",
    "the output equals F.conv2d accumulated in the input's own half-precision dtype, not in float32",
)
def _accumulated_in_dtype(p: Problem) -> Call | None:
    if p.dtype not in (torch.float16, torch.bfloat16):
        return None
    return p.call(precision=precision_for(p.dtype, accumulation="dtype"))


@_variant(
    "returned-in-float32",
    "precision",
    "the output equals F.conv2d returned in float32 (the accumulator's dtype), not in the input's dtype",
    also=("dtype",),
)
def _returned_float32(p: Problem) -> Call | None:
    if p.dtype == torch.float32:
        return None
    u32 = unit_roundoff(torch.float32)
    u_in = u32 if p.dtype == torch.float64 else 0.0
    return p.call(dtype=torch.float32, precision=Precision("float32 result", u_in, u32, u32))


# -- partly wrong outputs ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PartialVariant:
    """A wrong result confined to some images or output channels: right on the others.

    Kernels that process the batch or the output channels in blocks get one block wrong (a
    remainder left unwritten, a last chunk read from a clamped start, a bias staged for the
    first 64 channels only). No whole-call variant fits such an output, so it is judged slice
    by slice: each image, output channel, output row or output column (``axis``) fits either
    the right result or the variant's alternative, and at least one slice fits each.

    Attributes:
        name, category: as for :class:`Variant`.
        axis: ``"image"`` or ``"channel"``.
        alternative: what the wrong slices equal.
    """

    name: str
    category: str
    axis: Literal["image", "channel", "row", "column"]
    alternative: str


PARTIAL_VARIANTS: tuple[PartialVariant, ...] = (
    PartialVariant("images-left-zero", "batch", "image", "zero"),
    PartialVariant("images-from-other-images", "batch", "image", "the output of another image"),
    PartialVariant("channels-left-zero", "tile-remainder", "channel", "zero"),
    PartialVariant("rows-left-zero", "tile-remainder", "row", "zero"),
    PartialVariant("columns-left-zero", "tile-remainder", "column", "zero"),
    PartialVariant("bias-missing-on-channels", "bias", "channel", "F.conv2d without the bias"),
)
_PARTIAL = {v.name: v for v in PARTIAL_VARIANTS}


def _ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 3, 5]`` as ``"0-3, 5"``."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _slices(axis: str, indices: list[int]) -> str:
    noun = "image" if axis == "image" else f"output {axis}"
    return f"{noun}{'s' if len(indices) > 1 else ''} {_ranges(indices)}"


def _slice_ratios(got: Tensor, expected: Tensor, allowed: Tensor, dim: int) -> Tensor:
    """The worst error-to-bound ratio within each index of ``dim`` of 4-D tensors (non-finite: infinite)."""
    error = (got - expected).abs()
    ratio = torch.where(error == 0, torch.zeros_like(error), error / allowed)
    ratio = torch.where(torch.isfinite(got), ratio, torch.full_like(ratio, float("inf")))
    ratio = torch.nan_to_num(ratio, nan=float("inf"))
    return ratio.amax(dim=[d for d in range(4) if d != dim])


def _partial_match(variant: PartialVariant, good: list[int], rest: str, ratio: float) -> Match:
    sentence = f"the output equals F.conv2d on {_slices(variant.axis, good)}{rest}"
    return Match(Variant(variant.name, variant.category, sentence, lambda p: None), ratio)


def _identify_partial(
    actual: Tensor, case: ConvCase, problem: Problem, contract: Precision, exact: Exact, transformed: int
) -> Match | None:
    """The :data:`PARTIAL_VARIANTS` entry ``actual`` fits: right on some slices, the alternative on the rest."""
    if problem.kind != "conv2d" or tuple(actual.shape) != tuple(exact.value.shape):
        return None
    if not bool(torch.isfinite(exact.value).all()):
        return None

    def four(t: Tensor) -> Tensor:
        return t if problem.batched else t[None]

    got = four(actual.detach().to(device="cpu", dtype=_F64))
    value = four(exact.value)
    allowed = four(_bound(exact, case.reduction_length, contract, transformed))
    for dim, axis in enumerate(("image", "channel", "row", "column")):
        if got.shape[dim] < 2:
            continue
        right = _slice_ratios(got, value, allowed, dim).tolist()
        good = [i for i, r in enumerate(right) if r <= 1]
        bad = [i for i, r in enumerate(right) if not r <= 1]
        if not good or not bad:
            continue
        fit = max(right[i] for i in good)
        as_zero = _slice_ratios(got, torch.zeros_like(value), allowed, dim).tolist()
        if all(as_zero[i] <= 1 for i in bad):
            name = f"{axis}s-left-zero"
            ratio = max([fit] + [as_zero[i] for i in bad])
            return _partial_match(_PARTIAL[name], good, f" and zero on {_slices(axis, bad)}", ratio)
        if axis == "image":
            sources: dict[int, tuple[int, float]] = {}
            for i in bad:
                for j in range(got.shape[0]):
                    r = _slice_ratios(got[i : i + 1], value[j : j + 1], allowed[j : j + 1], 0).item()
                    if j != i and r <= 1:
                        sources[i] = (j, r)
                        break
            if len(sources) == len(bad):
                moved = ", ".join(f"image {i} holds the output of image {j}" for i, (j, _) in sources.items())
                ratio = max([fit] + [r for _, r in sources.values()])
                return _partial_match(_PARTIAL["images-from-other-images"], good, f", but {moved}", ratio)
        elif axis == "channel" and problem.base.b is not None:
            plain = evaluate(problem, problem.call(b=None))
            plain_allowed = four(_bound(plain, case.reduction_length, contract, transformed))
            as_plain = _slice_ratios(got, four(plain.value), plain_allowed, dim).tolist()
            if all(as_plain[i] <= 1 for i in bad):
                ratio = max([fit] + [as_plain[i] for i in bad])
                rest = f" and F.conv2d without the bias on {_slices(axis, bad)}"
                return _partial_match(_PARTIAL["bias-missing-on-channels"], good, rest, ratio)
    return None


# -- judging a result against the catalogue -------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Match:
    """A variant a result fits: which one, how closely, and the line that says so."""

    variant: Variant | GradientVariant
    ratio: float

    @property
    def line(self) -> str:
        """``"diagnosis: the output equals ... (variant NAME, within R x its error bound)"``."""
        return (
            f"diagnosis: {self.variant.sentence} "
            f"(variant {self.variant.name}, within {self.ratio:.2g} x its error bound)"
        )


def _bound(exact: Exact, reduction: int, precision: Precision, transformed: int) -> Tensor:
    return exact_bound(exact, reduction=reduction, precision=precision, transformed=transformed)


def _output_fits(
    actual: Tensor, case: ConvCase, args: Args, contract: Precision, exact: Exact | None = None
) -> bool:
    """True when ``actual`` is the right output: the right dtype and shape, every element within its bound."""
    if actual.dtype != case.torch_dtype:
        return False
    exact = reference(args) if exact is None else exact
    allowed = _bound(exact, case.reduction_length, contract, _transformed(case))
    return _fits(actual, exact, allowed) is not None


def identify(
    actual: Tensor,
    case: ConvCase,
    args: Args,
    *,
    precision: Precision | None = None,
    exact: Exact | None = None,
) -> Match | None:
    """The first variant of :data:`VARIANTS` that ``actual`` fits while it does not fit the right result.

    Args:
        actual: the target's output for ``args`` (any shape, dtype and device).
        case: the case ``args`` was materialised from (its dtype and transform length set the bound).
        args: the tensors exactly as the target received them (layouts matter).
        precision: the precision the target is held to (default: F.conv2d's contract for the dtype).
        exact: the float64 reference of ``args``, when the caller has it already.

    Returns ``None`` when the output is right, when no variant fits, or when the
    input has more than :data:`MAX_ELEMENTS` elements.
    """
    if args.input.numel() > MAX_ELEMENTS:
        return None
    contract = precision or precision_for(case.torch_dtype)
    transformed = _transformed(case)
    if _output_fits(actual, case, args, contract, exact):
        return None
    problem = Problem.of(args)
    for variant in VARIANTS:
        call = variant.compute(problem)
        if call is None or actual.dtype != (call.dtype or case.torch_dtype):
            continue
        try:
            got = evaluate(problem, call)
        except RuntimeError:  # the variant's parameters leave no output for this call
            continue
        reduction = call.w.shape[1] * call.w.shape[2] * call.w.shape[3]
        ratio = _fits(actual, got, _bound(got, reduction, call.precision or contract, transformed))
        if ratio is not None:
            return Match(variant, ratio)
    return _identify_partial(
        actual, case, problem, contract, reference(args) if exact is None else exact, transformed
    )


def diagnose(
    actual: Tensor,
    case: ConvCase,
    args: Args,
    *,
    precision: Precision | None = None,
    exact: Exact | None = None,
) -> str | None:
    """One line naming what ``actual`` computes instead of the convolution, or ``None``; see :func:`identify`."""
    found = identify(actual, case, args, precision=precision, exact=exact)
    return None if found is None else found.line


# -- gradient variants ----------------------------------------------------------------------------
Which = Literal["input", "weight", "bias"]
#: (problem, x, w, g) -> the wrong gradient in 4-D form (or (O,) for the bias), or None.
GradientFn = Callable[[Problem, Tensor, Tensor, Tensor], Tensor | None]


@dataclasses.dataclass(frozen=True)
class GradientVariant:
    """A well-known wrong gradient of one argument, computed from ``(x, w, grad_output)``.

    The computation is linear in each tensor, so applied to their absolute values
    it gives the magnitude its bound scales with.
    """

    name: str
    which: Which
    category: str
    sentence: str
    compute: GradientFn
    also: tuple[str, ...] = ()

    @property
    def categories(self) -> tuple[str, ...]:
        return (self.category, *self.also)


GRADIENT_VARIANTS: list[GradientVariant] = []


def _gradient(name: str, which: Which, sentence: str) -> Callable[[GradientFn], GradientFn]:
    def add(fn: GradientFn) -> GradientFn:
        GRADIENT_VARIANTS.append(GradientVariant(name, which, "backward", sentence, fn))
        return fn

    return add


def _grad_input(p: Problem, w: Tensor, g: Tensor, stride: Pair, dilation: Pair) -> Tensor:
    """The input gradient by a transposed convolution with the given stride and dilation, fitted to the input."""
    gi = _CONVOLUTION(g, w, None, list(stride), [0, 0], list(dilation), True, [0, 0], p.base.groups)
    (hp, wp), (top, _, left, _) = p.padded, p.base.pads
    gi = gi[..., :hp, :wp]
    gi = _PAD(gi, [0, wp - gi.shape[-1], 0, hp - gi.shape[-2]], 0.0)
    return gi[..., top : top + p.base.x.shape[-2], left : left + p.base.x.shape[-1]]


@_gradient(
    "grad-input-ignores-stride",
    "input",
    "the input gradient equals the transposed convolution of grad_output at stride 1 (the stride ignored)",
)
def _gi_stride(p: Problem, x: Tensor, w: Tensor, g: Tensor) -> Tensor | None:
    if p.base.stride == (1, 1):
        return None
    return _grad_input(p, w, g, (1, 1), p.base.dilation)


@_gradient(
    "grad-input-ignores-dilation",
    "input",
    "the input gradient equals the transposed convolution of grad_output at dilation 1 (the dilation ignored)",
)
def _gi_dilation(p: Problem, x: Tensor, w: Tensor, g: Tensor) -> Tensor | None:
    if p.base.dilation == (1, 1):
        return None
    return _grad_input(p, w, g, p.base.stride, (1, 1))


@_gradient(
    "grad-input-kernel-not-rotated",
    "input",
    "the input gradient equals the transposed convolution of grad_output with the kernel rotated 180°",
)
def _gi_rotated(p: Problem, x: Tensor, w: Tensor, g: Tensor) -> Tensor | None:
    turned = w.flip(-2, -1)
    return None if torch.equal(turned, w) else _grad_input(p, turned, g, p.base.stride, p.base.dilation)


@_gradient(
    "grad-weight-from-group-0",
    "weight",
    "the weight gradient equals every group's gradient computed from group 0's input channels",
)
def _gw_group0(p: Problem, x: Tensor, w: Tensor, g: Tensor) -> Tensor | None:
    groups, cg = p.base.groups, w.shape[1]
    if groups == 1:
        return None
    first = x[:, :cg].repeat(1, groups, 1, 1)
    leaf = w.detach().clone().requires_grad_()
    with torch.enable_grad():
        out = _run(p.call(x=first, b=None), first, leaf, None, None)
        return _GRAD(out, leaf, g)[0].detach()


@_gradient(
    "grad-bias-batch-mean",
    "bias",
    "the bias gradient equals grad_output averaged over the batch instead of summed",
)
def _gb_mean(p: Problem, x: Tensor, w: Tensor, g: Tensor) -> Tensor | None:
    n = g.shape[0]
    return None if n == 1 or p.base.b is None else g.sum(dim=(0, 2, 3)) / n


def _restore_grad(p: Problem, which: Which, grad: Tensor) -> Tensor:
    if which == "bias":
        return grad
    if which == "weight":
        return grad[0, 0] if p.kind == "corr2d" else grad
    return p.restore(grad)


def _grad_reduction(case: ConvCase, which: Which) -> int:
    """Products summed per element of the input, weight or bias gradient."""
    if which == "input":
        return (case.out_channels // case.groups) * case.kernel[0] * case.kernel[1]
    return (case.batch or 1) * case.out_spatial[0] * case.out_spatial[1]


def _gradient_fits(
    which: Which, actual: Tensor, case: ConvCase, args: Args, grad_output: Tensor, contract: Precision
) -> bool:
    """True when ``actual`` is the right gradient of ``which``, every element within its bound."""
    grads = reference_grads(args, grad_output)
    exact = {"input": grads.input, "weight": grads.weight, "bias": grads.bias}[which]
    if exact is None or actual.dtype != case.torch_dtype:
        return False
    allowed = _bound(exact, _grad_reduction(case, which), contract, _transformed(case))
    return _fits(actual, exact, allowed) is not None


def identify_gradient(
    which: Which,
    actual: Tensor,
    case: ConvCase,
    args: Args,
    grad_output: Tensor,
    *,
    precision: Precision | None = None,
) -> Match | None:
    """The first gradient variant of ``which`` that ``actual`` fits while it does not fit the right gradient.

    Args:
        which: ``"input"``, ``"weight"`` or ``"bias"``: whose gradient ``actual`` is.
        actual: the target's gradient.
        case, args: as for :func:`identify`.
        grad_output: the output gradient the backward pass was given.
        precision: the gradients' precision (default: F.conv2d's backward contract for the dtype).
    """
    if which not in ("input", "weight", "bias"):
        raise ValueError(f"which={which!r}; expected 'input', 'weight' or 'bias'")
    if args.input.numel() > MAX_ELEMENTS:
        return None
    contract = precision or precision_for(case.torch_dtype, backward=True)
    transformed = _transformed(case)
    reduction = _grad_reduction(case, which)
    if _gradient_fits(which, actual, case, args, grad_output, contract):
        return None
    problem = Problem.of(args)
    g = as_float64(grad_output)
    assert g is not None
    g4 = g[None, None] if problem.kind == "corr2d" else (g if problem.batched else g[None])
    x, w = problem.base.x, problem.base.w
    for variant in GRADIENT_VARIANTS:
        if variant.which != which:
            continue
        value = variant.compute(problem, x, w, g4)
        if value is None:
            continue
        magnitude = variant.compute(problem, x.abs(), w.abs(), g4.abs())
        assert magnitude is not None
        got = Exact(
            _restore_grad(problem, which, value),
            _restore_grad(problem, which, magnitude),
            value.new_zeros(()),
        )
        ratio = _fits(actual, got, _bound(got, reduction, contract, transformed))
        if ratio is not None:
            return Match(variant, ratio)
    return None


def diagnose_gradient(
    which: Which,
    actual: Tensor,
    case: ConvCase,
    args: Args,
    grad_output: Tensor,
    *,
    precision: Precision | None = None,
) -> str | None:
    """One line naming what a wrong gradient computes instead, or ``None``; see :func:`identify_gradient`."""
    found = identify_gradient(which, actual, case, args, grad_output, precision=precision)
    return None if found is None else found.line


# -- the explanation of a final counterexample ---------------------------------------------------
#: The laws whose failure is a wrong output (or gradient) of the case's own arguments.
EXPLAINED_LAWS = frozenset({"output-shape", "matches-reference", "large-input", "gradients"})


def explain(target: Any, case: ConvCase, law: str) -> list[str]:
    """Lines that explain a counterexample of ``law``: the diagnosis, then the error map of the worst plane.

    Calls ``target`` (a :class:`~conv2d.gate.target.Target`) again on the case
    (its gradients for ``law="gradients"``), so it is meant for the final,
    shrunk counterexample, once, not for every failing call during the search.
    Returns ``[]`` for laws outside :data:`EXPLAINED_LAWS`, when the call fails
    in any way, or when nothing more can be said.
    """
    from conv2d.gate.errormap import error_map
    from conv2d.gate.properties import target_grads  # late: properties may import this module

    if law not in EXPLAINED_LAWS or case.kind not in ("conv2d", "corr2d"):
        return []
    args = case.materialize()
    try:
        if law == "gradients":
            args, _, grad_output, grads = target_grads(target, case, args)
        else:
            out = target(args)
    except Exception:  # the law's own message already says what went wrong
        return []
    transformed = _transformed(case)
    lines: list[str] = []
    if law != "gradients":
        contract = held_to(target, case)
        exact = reference(args)
        found = identify(out, case, args, precision=contract, exact=exact)
        lines += [] if found is None else [found.line]
        if tuple(out.shape) == tuple(exact.value.shape):
            emap = error_map(out, exact.value, _bound(exact, case.reduction_length, contract, transformed))
            lines += [emap.text()] if emap.total_violations else []
        return lines
    contract = held_to(target, case, backward=True)
    exact_grads = reference_grads(args, grad_output)
    names: tuple[Which, ...] = ("input", "weight", "bias")
    for which, ex, grad in zip(
        names, (exact_grads.input, exact_grads.weight, exact_grads.bias), grads, strict=False
    ):
        if ex is None or grad is None or tuple(grad.shape) != tuple(ex.value.shape):
            continue
        emap = error_map(grad, ex.value, _bound(ex, _grad_reduction(case, which), contract, transformed))
        if emap.total_violations:
            found = identify_gradient(which, grad, case, args, grad_output, precision=contract)
            lines += ([] if found is None else [found.line]) + [f"{which}.grad: {emap.text()}"]
            break
    return lines


# -- cases of plain calls, and the catalogue's hit rate on the zoo --------------------------------
def _layout_of(t: Tensor) -> str:
    if t.storage_offset():
        return "offset"
    if t.is_contiguous():
        return "contiguous"
    if _is_channels_last(t):
        return "channels_last"
    return "strided"


def case_of(args: Args) -> ConvCase:
    """The :class:`ConvCase` describing a call's arguments (shapes, parameters, dtype, device, layouts).

    Its ``values`` and ``seed`` are placeholders: the case describes ``args``, it
    does not rebuild them.
    """
    x, w = args.input, args.weight
    if x.dim() == 2:
        return ConvCase(
            None,
            1,
            1,
            x.shape[0],
            x.shape[1],
            (w.shape[0], w.shape[1]),
            dtype=str(x.dtype).removeprefix("torch."),
            device=x.device.type,
            input_layout=_layout_of(x),
            weight_layout=_layout_of(w),
            kind="corr2d",
        )
    return ConvCase(
        batch=x.shape[0] if x.dim() == 4 else None,
        in_channels=x.shape[-3],
        out_channels=w.shape[0],
        height=x.shape[-2],
        width=x.shape[-1],
        kernel=(w.shape[-2], w.shape[-1]),
        stride=args.stride,
        padding=args.padding,
        dilation=args.dilation,
        groups=args.groups,
        bias=args.bias is not None,
        dtype=str(x.dtype).removeprefix("torch."),
        device=x.device.type,
        input_layout=_layout_of(x),
        weight_layout=_layout_of(w),
        bias_layout="contiguous" if args.bias is None else _layout_of(args.bias),
    )


def _witness_args(entry: Any, witness: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]) -> Args:
    tensors, params = witness()
    if entry.kind == "corr2d":
        return Args(tensors[0], tensors[1], None)
    bias = tensors[2] if len(tensors) > 2 else params.pop("bias", None)
    return Args(tensors[0], tensors[1], bias, **params)


def _call_entry(entry: Any, args: Args) -> Tensor:
    if entry.kind == "corr2d":
        return entry.fn(args.input, args.weight)
    return entry.fn(args.input, args.weight, args.bias, **args.params())


def _diagnosed(entry: Any, args: Args) -> tuple[bool, Match | None]:
    """Whether a zoo entry's result on ``args`` is wrong beyond the gate's bound, and what the catalogue names.

    The output is judged first; for witnesses with tensors that require grad, the
    gradients of ``<output, g>`` for a fixed random ``g`` too.
    """
    case = case_of(args)
    contract = precision_for(case.torch_dtype)
    try:
        with torch.enable_grad():
            out = _call_entry(entry, args)
    except Exception:  # a mutant that raises computed nothing to diagnose
        return False, None
    if not _output_fits(out.detach(), case, args, contract):
        return True, identify(out.detach(), case, args)
    names: list[tuple[Which, Tensor | None]] = [
        ("input", args.input),
        ("weight", args.weight),
        ("bias", args.bias),
    ]
    leaves = [(which, t) for which, t in names if t is not None and t.requires_grad]
    if not leaves or not out.requires_grad:
        return False, None
    generator = torch.Generator().manual_seed(17)
    g = (torch.rand(out.shape, generator=generator, dtype=_F64) * 2 - 1).to(out.dtype)
    grads = _GRAD(out, [t for _, t in leaves], g, allow_unused=True)
    backward = precision_for(case.torch_dtype, backward=True)
    deviates = False
    for (which, _), grad in zip(leaves, grads, strict=True):
        if grad is None:  # no gradient at all: the law's own message says so, nothing to compare
            continue
        if not _gradient_fits(which, grad, case, args, g, backward):
            deviates = True
            found = identify_gradient(which, grad, case, args, g)
            if found is not None:
                return True, found
    return deviates, None


def hit_rate() -> tuple[int, int, list[str]]:
    """How many zoo mutants the catalogue names correctly, on each mutant's witness input.

    Counts every mutant (conv2d and corr2d kinds) whose category some variant
    corresponds to and whose witness result the gate rejects (a witness result
    within the gate's bound, a call that raises or a ``None`` gradient has nothing to diagnose); a hit is a diagnosis naming
    a variant of the mutant's category.

    Returns:
        ``(hits, total, missed)``: ``missed`` lists the mutants not named, each as
        ``"name (category): what was named instead"``.
    """
    from conv2d.zoo import MUTANTS
    from conv2d.zoo.corr2d import WITNESSES as CORR2D_WITNESSES
    from conv2d.zoo.mutants import WITNESSES

    catalogue: list[Variant | GradientVariant] = [*VARIANTS, *GRADIENT_VARIANTS]
    covered = {c for v in catalogue for c in v.categories} | {v.category for v in PARTIAL_VARIANTS}
    witnesses = {**WITNESSES, **CORR2D_WITNESSES}
    hits, total, missed = 0, 0, []
    for entry in MUTANTS:
        if entry.category not in covered:
            continue
        deviates, found = _diagnosed(entry, _witness_args(entry, witnesses[entry.name]))
        if not deviates:
            continue
        total += 1
        if found is not None and entry.category in found.variant.categories:
            hits += 1
        else:
            named = "nothing" if found is None else f"variant {found.variant.name}"
            missed.append(f"{entry.name} ({entry.category}): {named}")
    return hits, total, missed
