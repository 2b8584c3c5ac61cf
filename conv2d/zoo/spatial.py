"""conv1d- and conv3d-kind implementations: F.conv1d's and F.conv3d's contracts, buggy and correct.

The contract, with ``r`` spatial axes (1 or 3): input ``(N, C_in, *spatial)`` or unbatched
``(C_in, *spatial)``, weight ``(C_out, C_in / groups, *kernel)``, stride, padding and
dilation an int or an ``r``-tuple (padding also ``"same"``, stride 1 only, or ``"valid"``),
output ``floor((n + 2p - d * (k - 1) - 1) / s) + 1`` per axis. float16 and bfloat16 are
accumulated in float32 and rounded once.

The mutants wrap their bug around the zoo's correct tap-sum algorithm (:func:`tap_sum`),
never around the host's F.conv1d or F.conv3d, whose own bugs would otherwise count as kills.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import (
    HALF,
    Conv2dCall,
    Witness,
    base_conv2d,
    compute_dtype,
    declare,
    entry,
    registrar,
)

__all__ = [
    "WITNESSES",
    "bfloat16_via_float16_conv3d",
    "causal_padding_conv1d",
    "core_conv1d",
    "core_conv3d",
    "depth_dilation_ignored_conv3d",
    "depth_height_swapped_conv3d",
    "depth_kernel_reversed_conv3d",
    "depth_sum_conv3d",
    "fft_conv1d",
    "float64_conv3d",
    "groups_interleaved_conv3d",
    "half_accumulate_conv1d",
    "lifted_conv1d",
    "long_kernel_truncated_conv1d",
    "same_padding_left_conv1d",
    "stride_dilation_swapped_conv1d",
    "strided_same_accepted_conv1d",
    "tail_frames_zero_conv3d",
    "tap_sum_conv1d",
    "tap_sum_conv3d",
    "unbatched_keeps_batch_conv1d",
    "view_not_reshape_conv1d",
    "weight_grad_first_sample_conv3d",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
_CONV1D_WITNESSES, _mutant_conv1d = registrar("conv1d")
_CONV3D_WITNESSES, _mutant_conv3d = registrar("conv3d")


class Call(NamedTuple):
    """The arguments of one call with F.conv1d's or F.conv3d's signature, and its number of spatial axes."""

    input: Tensor
    weight: Tensor
    bias: Tensor | None
    stride: Any
    padding: Any
    dilation: Any
    groups: int
    rank: int


class Geometry(NamedTuple):
    """A call's parameters per axis, resolved: ``pads`` are (before, after) per axis."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    batched: bool


def _axes(value: object, name: str, rank: int, minimum: int) -> tuple[int, ...]:
    """An int or an ``rank``-tuple (a 1-tuple repeats) of ints ``>= minimum``; raises otherwise."""
    given: tuple[Any, ...] = (value,) * rank if not isinstance(value, tuple | list) else tuple(value)
    given = given * rank if len(given) == 1 else given
    if len(given) != rank or not all(isinstance(v, int) and not isinstance(v, bool) for v in given):
        raise RuntimeError(f"{name} must be an int or a tuple of {rank} ints, got {value!r}")
    values = tuple(int(v) for v in given)
    if min(values) < minimum:
        raise RuntimeError(f"{name} must be at least {minimum}, got {value!r}")
    return values


def _check_tensors(c: Call) -> None:
    """Raise where F.conv1d/F.conv3d raise for the tensors' ranks, channels, dtypes and sizes."""
    x, w, b, r = c.input, c.weight, c.bias, c.rank
    if x.dim() not in (r + 1, r + 2) or w.dim() != r + 2:
        raise RuntimeError(f"expected a {r + 1}-D or {r + 2}-D input and a {r + 2}-D weight")
    if not isinstance(c.groups, int) or isinstance(c.groups, bool) or c.groups < 1:
        raise RuntimeError(f"groups must be a positive int, got {c.groups!r}")
    cin, cout = x.shape[-r - 1], w.shape[0]
    if cin % c.groups or cout % c.groups or cout == 0 or w.shape[1] * c.groups != cin:
        raise RuntimeError(
            f"weight {tuple(w.shape)} does not fit input {tuple(x.shape)} with groups={c.groups}"
        )
    if b is not None and tuple(b.shape) != (cout,):
        raise RuntimeError(f"bias must have shape ({cout},), got {tuple(b.shape)}")
    if len({t.dtype for t in (x, w, b) if t is not None}) != 1:
        raise RuntimeError("input, weight and bias must share one dtype")
    if 0 in x.shape[-r:] or 0 in w.shape[2:]:
        raise RuntimeError("empty spatial size")


def normalise(c: Call) -> tuple[Tensor, Geometry]:
    """The input with a batch axis and the call's :class:`Geometry`; raises where F.conv1d/F.conv3d raise."""
    _check_tensors(c)
    r = c.rank
    kernel = tuple(c.weight.shape[2:])
    stride, dilation = _axes(c.stride, "stride", r, 1), _axes(c.dilation, "dilation", r, 1)
    if c.padding in ("same", "valid"):
        if c.padding == "same" and max(stride) > 1:
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) if c.padding == "same" else 0 for k, d in zip(kernel, dilation, strict=True)]
        pads = tuple((t // 2, t - t // 2) for t in totals)
    else:
        pads = tuple((p, p) for p in _axes(c.padding, "padding", r, 0))
    for n, k, d, (a, b) in zip(c.input.shape[-r:], kernel, dilation, pads, strict=True):
        if n + a + b < d * (k - 1) + 1:
            raise RuntimeError("the kernel is larger than the padded input")
    batched = c.input.dim() == r + 2
    return (c.input if batched else c.input[None]), Geometry(kernel, stride, dilation, pads, batched)


def tap_sum(x: Tensor, w: Tensor, geo: Geometry, groups: int) -> Tensor:
    """The convolution of a batched ``x`` as a sum over kernel taps of channel contractions of strided slices."""
    r = len(geo.kernel)
    xp = F.pad(x, [p for pair in reversed(geo.pads) for p in pair])
    n, sizes, o = xp.shape[0], xp.shape[2:], w.shape[0]
    outs = [
        (m - d * (k - 1) - 1) // s + 1
        for m, k, s, d in zip(sizes, geo.kernel, geo.stride, geo.dilation, strict=True)
    ]
    xg = xp.reshape(n, groups, xp.shape[1] // groups, *sizes)
    wg = w.reshape(groups, o // groups, -1, *geo.kernel)
    axes = "xyz"[:r]
    total = x.new_zeros(n, groups, o // groups, *outs)
    for tap in itertools.product(*(range(k) for k in geo.kernel)):
        window = [
            slice(t * d, t * d + (m - 1) * s + 1, s)
            for t, d, m, s in zip(tap, geo.dilation, outs, geo.stride, strict=True)
        ]
        at: Any = (..., *window)
        tap_at: Any = (..., *tap)
        total = total + torch.einsum(f"ngc{axes},goc->ngo{axes}", xg[at], wg[tap_at])
    return total.reshape(n, o, *outs)


def out_sizes(x: Tensor, geo: Geometry) -> list[int]:
    """The output's spatial size for a batched ``x`` under ``geo``."""
    return [
        (m + a + b - d * (k - 1) - 1) // s + 1
        for m, (a, b), k, s, d in zip(
            x.shape[2:], geo.pads, geo.kernel, geo.stride, geo.dilation, strict=True
        )
    ]


def finish(out: Tensor, bias: Tensor | None, geo: Geometry, dtype: torch.dtype) -> Tensor:
    """Add the bias in the compute dtype, round once to ``dtype``, restore the batch convention."""
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, -1, *(1,) * len(geo.kernel))
    out = out.to(dtype)
    return out if geo.batched else out[0]


def base(c: Call) -> Tensor:
    """The zoo's tap-sum algorithm for the call ``c``, accumulated in float32 for half dtypes."""
    return computed(c, *normalise(c))


def computed(c: Call, x: Tensor, geo: Geometry) -> Tensor:
    """The tap sum of the batched ``x`` with ``c``'s weight under ``geo`` (a mutant's own, maybe), rounded once."""
    dtype = compute_dtype(x.dtype)
    return finish(tap_sum(x.to(dtype), c.weight.to(dtype), geo, c.groups), c.bias, geo, x.dtype)


def _signature(rank: int) -> Callable[[Callable[[Call], Tensor]], Callable[..., Tensor]]:
    """``body`` with F.conv1d's (``rank`` 1) or F.conv3d's (``rank`` 3) signature, its arguments in a :class:`Call`."""

    def apply(body: Callable[[Call], Tensor]) -> Callable[..., Tensor]:
        # F.conv1d's and F.conv3d's signature, spelled out once for every entry of this module
        def conv(
            input: Tensor,
            weight: Tensor,
            bias: Tensor | None = None,
            stride: Any = 1,
            padding: Any = 0,
            dilation: Any = 1,
            groups: int = 1,
        ) -> Tensor:
            return body(Call(input, weight, bias, stride, padding, dilation, groups, rank))

        for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(conv, attribute, getattr(body, attribute))
        return conv

    return apply


def _witness(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float64,
    grad: bool = False,
    layout: Callable[[Tensor], Tensor] | None = None,
    **params: Any,
) -> Witness:
    """A witness: random normal tensors of the given shapes (a bias of C_out) and the call's keywords."""

    def witness() -> tuple[tuple[Any, ...], dict[str, Any]]:
        gen = torch.Generator().manual_seed(0)
        x, w, b = (
            torch.randn(s, generator=gen, dtype=torch.float64) for s in (x_shape, w_shape, (w_shape[0],))
        )
        if dtype in HALF:  # positive values: the rounding errors add up
            x, w = x.abs() + 1, w.abs() + 1
        x, w, b = x.to(dtype), w.to(dtype), b.to(dtype)
        x = layout(x) if layout else x
        for t in (x, w, b):
            t.requires_grad_(grad)
        return (x, w, b), params

    return witness


def _spatial_mutant(rank: int) -> Callable[[Category, str, Witness], Callable[..., Callable[..., Tensor]]]:
    """The mutant decorator of conv1d (``rank`` 1) or conv3d (``rank`` 3): registered with its witness,
    given the kind's signature."""
    register = _mutant_conv1d if rank == 1 else _mutant_conv3d

    def mutant(
        category: Category, modelled_on: str, witness: Witness
    ) -> Callable[..., Callable[..., Tensor]]:
        def apply(body: Callable[[Call], Tensor]) -> Callable[..., Tensor]:
            return register(category, modelled_on, witness)(_signature(rank)(body))

        return apply

    return mutant


_conv1d_mutant, _conv3d_mutant = _spatial_mutant(1), _spatial_mutant(3)


# -- conv1d mutants -------------------------------------------------------------------------------
# They share one form on purpose (a docstring naming the bug and its trigger, a body around the
# zoo's tap sum): each differs only by its own bug.
@_conv1d_mutant(
    Category.PADDING,
    "ONNX's auto_pad SAME_LOWER against SAME_UPPER: 'same' padding's odd element put before the sequence",
    _witness((2, 3, 9), (4, 3, 4), padding="same"),
)
def same_padding_left_conv1d(c: Call) -> Tensor:
    """padding='same' with an even kernel puts the odd padding element on the left instead of the right."""
    x, geo = normalise(c)
    if c.padding == "same":
        geo = geo._replace(pads=tuple((after, before) for before, after in geo.pads))
    return computed(c, x, geo)


@_conv1d_mutant(
    Category.PADDING,
    "causal Conv1d wrappers of WaveNet and TCN code, which pad 2p on the left only",
    _witness((2, 3, 9), (4, 3, 3), padding=1),
)
def causal_padding_conv1d(c: Call) -> Tensor:
    """An integer padding p is applied as 2p zeros on the left and none on the right (a causal convolution)."""
    x, geo = normalise(c)
    geo = geo._replace(pads=tuple((before + after, 0) for before, after in geo.pads))
    return computed(c, x, geo)


@_conv1d_mutant(
    Category.PER_AXIS,
    "positional-argument mix-ups of (stride, padding, dilation) in wrappers of F.conv1d",
    _witness((2, 3, 20), (4, 3, 3), stride=2, dilation=3),
)
def stride_dilation_swapped_conv1d(c: Call) -> Tensor:
    """Stride and dilation are exchanged when they differ (the output is cut or zero-extended to the right length)."""
    x, geo = normalise(c)
    return _wrong_geometry(c, x, geo, geo._replace(stride=geo.dilation, dilation=geo.stride))


@_conv1d_mutant(
    Category.BATCH,
    "conv1d's unbatched (C, L) input, added in torch 1.11: wrappers that add a batch axis and keep it",
    _witness((3, 9), (4, 3, 3)),
)
def unbatched_keeps_batch_conv1d(c: Call) -> Tensor:
    """An unbatched (C_in, L) input gives a (1, C_out, L_out) output: the added batch axis is not removed."""
    x, geo = normalise(c)
    return computed(c, x, geo._replace(batched=True))


@_conv1d_mutant(
    Category.LAYOUT,
    "extension kernels that read data_ptr() with contiguous strides without calling .contiguous()",
    _witness((2, 3, 9), (4, 3, 3), layout=lambda t: t.transpose(1, 2).contiguous().transpose(1, 2)),
)
def view_not_reshape_conv1d(c: Call) -> Tensor:
    """A non-contiguous input is read as if its memory were contiguous (the elements come in storage order)."""
    x = c.input
    if not x.is_contiguous():
        strides = [1]
        for size in reversed(x.shape[1:]):
            strides.insert(0, strides[0] * size)
        x = x.as_strided(x.shape, strides, x.storage_offset())
    return base(c._replace(input=x))


@_conv1d_mutant(
    Category.PRECISION,
    "half-precision kernels whose accumulator has the input's dtype (an acc dtype left at fp16)",
    _witness((1, 4, 600), (2, 4, 511), dtype=torch.float16),
)
def half_accumulate_conv1d(c: Call) -> Tensor:
    """float16 and bfloat16 are summed tap by tap in their own dtype instead of float32."""
    x, geo = normalise(c)
    return finish(tap_sum(x, c.weight, geo, c.groups), c.bias, geo, x.dtype)


@_conv1d_mutant(
    Category.SPECIAL_SHAPE_KERNEL,
    "register-blocked depthwise conv1d kernels templated on a largest kernel size (conformer's k=31)",
    _witness((1, 2, 40), (2, 1, 31), groups=2, padding=15),
)
def long_kernel_truncated_conv1d(c: Call) -> Tensor:
    """Kernels longer than 16 taps use only their first 16 taps (the rest are dropped)."""
    if c.weight.shape[-1] > 16:
        w = c.weight.clone()
        w[..., 16:] = 0
        c = c._replace(weight=w)
    return base(c)


@_conv1d_mutant(
    Category.INPUT_VALIDATION,
    "padding='same' with a stride, which TensorFlow accepts and F.conv1d rejects",
    _witness((2, 3, 9), (4, 3, 3), padding="same", stride=2),
)
def strided_same_accepted_conv1d(c: Call) -> Tensor:
    """padding='same' with stride > 1 is accepted (the 'same' padding of stride 1, then strided) instead of rejected."""
    if c.padding == "same":
        x, geo = normalise(c._replace(stride=1))
        return computed(c, x, geo._replace(stride=_axes(c.stride, "stride", c.rank, 1)))
    return base(c)


# -- conv3d mutants -------------------------------------------------------------------------------
@_conv3d_mutant(
    Category.PER_AXIS,
    "NDHWC against NCDHW axis orders (TensorFlow's conv3d strides [1, d, h, w, 1]) read in the wrong order",
    _witness((1, 2, 7, 5, 5), (3, 2, 3, 2, 2), stride=(2, 1, 1), padding=(1, 0, 0)),
)
def depth_height_swapped_conv3d(c: Call) -> Tensor:
    """The depth and height entries of stride, padding and dilation are exchanged (the output cut or zero-extended)."""
    x, geo = normalise(c)

    def swap(t: tuple[Any, ...]) -> tuple[Any, ...]:
        return (t[1], t[0], t[2])

    return _wrong_geometry(
        c, x, geo, geo._replace(stride=swap(geo.stride), dilation=swap(geo.dilation), pads=swap(geo.pads))
    )


@_conv3d_mutant(
    Category.KERNEL_ORIENTATION,
    "conv3d filters ported from libraries that flip them (Theano's conv3d, Caffe) along the temporal axis",
    _witness((1, 2, 5, 4, 4), (3, 2, 3, 2, 2)),
)
def depth_kernel_reversed_conv3d(c: Call) -> Tensor:
    """The kernel's depth taps are read in reverse order (a true convolution along the depth axis only)."""
    return base(c._replace(weight=c.weight.flip(2)))


@_conv3d_mutant(
    Category.PER_AXIS,
    "(2+1)-D kernels that pass the dilation to the per-frame 2-D convolution only",
    _witness((1, 2, 9, 4, 4), (3, 2, 3, 2, 2), dilation=(2, 1, 1)),
)
def depth_dilation_ignored_conv3d(c: Call) -> Tensor:
    """The depth dilation is taken as 1 (the output cut or zero-extended to the right depth)."""
    x, geo = normalise(c)
    return _wrong_geometry(c, x, geo, geo._replace(dilation=(1, *geo.dilation[1:])))


@_conv3d_mutant(
    Category.TILE_REMAINDER,
    "tiled kernels that compute whole tiles of output frames and skip the remainder",
    _witness((1, 2, 8, 3, 3), (2, 2, 2, 2, 2)),
)
def tail_frames_zero_conv3d(c: Call) -> Tensor:
    """With more than 4 output frames, the frames past the last whole tile of 4 are left zero (bias only)."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    out = tap_sum(x.to(dtype), c.weight.to(dtype), geo, c.groups)
    frames = out.shape[2]
    if frames > 4 and frames % 4:
        keep = torch.arange(frames, device=out.device) < frames - frames % 4
        out = out * keep.view(1, 1, -1, 1, 1).to(out.dtype)
    return finish(out, c.bias, geo, x.dtype)


@_conv3d_mutant(
    Category.GROUPS,
    "channel-shuffle confusions: input channel c read by group c % groups instead of c // (C / groups)",
    _witness((1, 4, 3, 3, 3), (4, 2, 2, 2, 2), groups=2),
)
def groups_interleaved_conv3d(c: Call) -> Tensor:
    """Grouped input channels are taken interleaved (channel c in group c % groups) instead of in blocks."""
    if c.groups == 1:
        return base(c)
    r = c.rank
    cin = c.input.shape[-r - 1]
    order = torch.arange(cin).reshape(cin // c.groups, c.groups).t().reshape(-1).to(c.input.device)
    return base(c._replace(input=c.input.index_select(-r - 1, order)))


@_conv3d_mutant(
    Category.BACKWARD,
    "hand-written backward passes that reduce the weight gradient over the first sample only",
    _witness((3, 2, 4, 4, 4), (2, 2, 2, 2, 2), grad=True),
)
def weight_grad_first_sample_conv3d(c: Call) -> Tensor:
    """The forward is exact; the weight gradient is that of the first sample of the batch only."""
    x, geo = normalise(c)
    if x.shape[0] < 2 or not (torch.is_grad_enabled() and c.weight.requires_grad):
        return base(c)
    first = base(c._replace(input=x[:1]))
    rest = base(
        c._replace(input=x[1:].detach() if not geo.batched else c.input[1:], weight=c.weight.detach())
    )
    return torch.cat([first, rest])


@_conv3d_mutant(
    Category.DTYPE,
    "half-precision paths that take float16 as the one low-precision type and convert bfloat16 to it",
    _witness((1, 2, 3, 3, 3), (2, 2, 2, 2, 2), dtype=torch.bfloat16, layout=lambda t: t * 2.0**20),
)
def bfloat16_via_float16_conv3d(c: Call) -> Tensor:
    """bfloat16 is computed through float16 (rounded to float16 on the way in and out): large and small values are lost."""
    if c.input.dtype != torch.bfloat16:
        return base(c)
    bias = None if c.bias is None else c.bias.to(torch.float16)
    half = c._replace(input=c.input.to(torch.float16), weight=c.weight.to(torch.float16), bias=bias)
    return base(half).to(torch.bfloat16)


def _wrong_geometry(c: Call, x: Tensor, geo: Geometry, wrong: Geometry) -> Tensor:
    """The tap sum under the ``wrong`` geometry, cut or zero-extended to the right output size."""
    want = out_sizes(x, geo)
    dtype = compute_dtype(x.dtype)
    if min(out_sizes(x, wrong)) < 1:  # the wrong kernel does not fit: zeros
        out = x.new_zeros(x.shape[0], c.weight.shape[0], *want, dtype=dtype) * c.weight.to(dtype).sum()
    else:
        out = tap_sum(x.to(dtype), c.weight.to(dtype), wrong, c.groups)
    cut: Any = (..., *(slice(0, n) for n in want))
    out = out[cut]
    pads = [p for n, m in zip(reversed(want), reversed(out.shape[2:]), strict=True) for p in (0, n - m)]
    return finish(F.pad(out, pads), c.bias, geo, x.dtype)


# -- correct alternatives -------------------------------------------------------------------------
def _alternative(family: str, rank: int) -> Callable[[Callable[[Call], Tensor]], Callable[..., Tensor]]:
    """Register a correct conv1d (``rank`` 1) or conv3d (``rank`` 3) alternative of the algorithm ``family``."""

    def apply(body: Callable[[Call], Tensor]) -> Callable[..., Tensor]:
        return entry(family=family, kind="conv1d" if rank == 1 else "conv3d", correct=True)(
            _signature(rank)(body)
        )

    return apply


@_alternative("tap-sum", 1)
def tap_sum_conv1d(c: Call) -> Tensor:
    """Per kernel tap, the channel contraction of a strided slice of the padded input, summed over the taps."""
    return base(c)


@_alternative("lift", 1)
def lifted_conv1d(c: Call) -> Tensor:
    """The zoo's im2col conv2d on one-row images with a 1 x k kernel (the sequence as the width)."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    ((left, right),) = geo.pads
    padded = F.pad(x.to(dtype), (left, right))[:, :, None]
    call = Conv2dCall(
        padded, c.weight.to(dtype)[:, :, None], None, (1, geo.stride[0]), 0, (1, geo.dilation[0]), c.groups
    )
    return finish(base_conv2d(call)[:, :, 0], c.bias, geo, x.dtype)


@declare(ieee=False)  # a transform spreads a NaN or an infinity over the whole sequence
@_alternative("fft", 1)
def fft_conv1d(c: Call) -> Tensor:
    """Linear correlation by a real FFT along the sequence in float64, strided afterwards, rounded once."""
    x, geo = normalise(c)
    if x.shape[0] == 0:  # the FFT refuses an empty batch: the empty result of the tap sum
        return base(c)
    ((left, right),) = geo.pads
    (s,), (d,), (k,) = geo.stride, geo.dilation, geo.kernel
    xp = F.pad(x.to(torch.float64), (left, right))
    wide = c.weight.new_zeros(*c.weight.shape[:2], d * (k - 1) + 1, dtype=torch.float64)
    wide[..., ::d] = c.weight.to(torch.float64)
    n, length, span = xp.shape[0], xp.shape[-1], wide.shape[-1]
    size = length + span - 1
    spectrum_x = torch.fft.rfft(xp.reshape(n, c.groups, -1, length), size)
    spectrum_w = torch.fft.rfft(wide.flip(-1).reshape(c.groups, -1, wide.shape[1], span), size)
    full = torch.fft.irfft(torch.einsum("ngcf,gocf->ngof", spectrum_x, spectrum_w), size)
    out = full[..., span - 1 : length : s].reshape(n, -1, (length - span) // s + 1)
    return finish(out, c.bias, geo, x.dtype)


@_alternative("tap-sum", 3)
def tap_sum_conv3d(c: Call) -> Tensor:
    """Per kernel tap, the channel contraction of a strided slice of the padded input, summed over the taps."""
    return base(c)


@_alternative("depth-sum", 3)
def depth_sum_conv3d(c: Call) -> Tensor:
    """The sum over the kernel's depth taps of the zoo's im2col conv2d of strided depth slices, frames in the batch."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    (front, back), (top, bottom), (left, right) = geo.pads
    xp = F.pad(x.to(dtype), (left, right, top, bottom, front, back))
    n, channels, depth = xp.shape[:3]
    kd, sd, dd = geo.kernel[0], geo.stride[0], geo.dilation[0]
    frames = (depth - dd * (kd - 1) - 1) // sd + 1
    total: Tensor | None = None
    for tap in range(kd):
        planes = xp[:, :, tap * dd : tap * dd + (frames - 1) * sd + 1 : sd].transpose(1, 2)
        call = Conv2dCall(
            planes.reshape(n * frames, channels, *xp.shape[3:]),
            c.weight[:, :, tap].to(dtype),
            None,
            geo.stride[1:],
            0,
            geo.dilation[1:],
            c.groups,
        )
        part = base_conv2d(call)
        total = part if total is None else total + part
    assert total is not None
    out = total.reshape(n, frames, *total.shape[1:]).transpose(1, 2)
    return finish(out, c.bias, geo, x.dtype)


@_alternative("float64", 3)
def float64_conv3d(c: Call) -> Tensor:
    """The tap sum in float64 throughout, rounded once to the input's dtype."""
    x, geo = normalise(c)
    return finish(
        tap_sum(x.to(torch.float64), c.weight.to(torch.float64), geo, c.groups), c.bias, geo, x.dtype
    )


@_alternative("core", 1)
def core_conv1d(c: Call) -> Tensor:
    """The project's own core, ``conv2d.family.conv1d``, called through a thin wrapper."""
    from conv2d.family import conv1d as core

    return core(*c[:7])


@_alternative("core", 3)
def core_conv3d(c: Call) -> Tensor:
    """The project's own core, ``conv2d.family.conv3d``, called through a thin wrapper."""
    from conv2d.family import conv3d as core

    return core(*c[:7])


#: Every mutant's witness, conv1d's and conv3d's.
WITNESSES: dict[str, Witness] = {**_CONV1D_WITNESSES, **_CONV3D_WITNESSES}
