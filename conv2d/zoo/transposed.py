"""conv_transpose2d-kind implementations: F.conv_transpose2d's contract, buggy and correct.

The contract: input ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``, weight
``(C_in, C_out / groups, kh, kw)``, output ``(H - 1) * s - 2 * p + d * (kh - 1) +
output_padding + 1`` rows (and so for columns), each input element scattered through
the kernel to the outputs ``i * s - p + t * d``; ``output_padding`` below
``max(stride, dilation)`` per axis. float16 and bfloat16 are accumulated in float32 and
rounded once.

The mutants wrap their bug around the zoo's correct scatter algorithm
(:func:`base_conv_transpose2d`), never around the host's F.conv_transpose2d, whose own
bugs (torch 2.13 sums float16 kernel taps in float16) would otherwise count as kills.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._common import (
    Conv2dCall,
    IntPair,
    Pair,
    Witness,
    base_conv2d,
    compute_dtype,
    entry,
    pair,
    registrar,
)

__all__ = [
    "WITNESSES",
    "adjoint_conv_transpose2d",
    "axes_swapped_stride_conv_transpose2d",
    "base_conv_transpose2d",
    "bias_before_extension_conv_transpose2d",
    "conv2d_padding_conv_transpose2d",
    "conv2d_weight_layout_conv_transpose2d",
    "core_conv_transpose2d",
    "crop_one_side_conv_transpose2d",
    "empty_batch_raises_conv_transpose2d",
    "float64_then_cast_conv_transpose2d",
    "grad_weight_not_flipped_conv_transpose2d",
    "groups_interleaved_conv_transpose2d",
    "half_taps_in_dtype_conv_transpose2d",
    "kernel_not_flipped_conv_transpose2d",
    "no_output_padding_check_conv_transpose2d",
    "output_padding_first_conv_transpose2d",
    "output_padding_ignored_conv_transpose2d",
    "scatter_conv_transpose2d",
    "stale_cache_conv_transpose2d",
    "weight_flipped_in_place_conv_transpose2d",
    "zero_insert_conv_transpose2d",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("conv_transpose2d")


class TransposedCall(NamedTuple):
    """The arguments of one call with F.conv_transpose2d's signature, in its order."""

    input: Tensor
    weight: Tensor
    bias: Tensor | None
    stride: IntPair
    padding: IntPair
    output_padding: IntPair
    groups: int
    dilation: IntPair


def transposed_signature(body: Callable[[TransposedCall], Tensor]) -> Callable[..., Tensor]:
    """``body`` with F.conv_transpose2d's signature, its arguments gathered in a :class:`TransposedCall`."""

    # F.conv_transpose2d's signature, spelled out once for every entry of this module
    def conv_transpose2d(
        input: Tensor,
        weight: Tensor,
        bias: Tensor | None = None,
        stride: IntPair = 1,
        padding: IntPair = 0,
        output_padding: IntPair = 0,
        groups: int = 1,
        dilation: IntPair = 1,
    ) -> Tensor:
        return body(TransposedCall(input, weight, bias, stride, padding, output_padding, groups, dilation))

    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(conv_transpose2d, attribute, getattr(body, attribute))
    return conv_transpose2d


@dataclasses.dataclass(frozen=True)
class TransposedGeometry:
    """A transposed call's parameters, per axis, and its sizes."""

    kernel: Pair
    stride: Pair
    padding: Pair
    output_padding: Pair
    dilation: Pair
    groups: int
    batched: bool
    #: the output before the padding crops it: ``(H - 1) * s + d * (k - 1) + 1 + output_padding``
    full: Pair
    out: Pair


def normalise(c: TransposedCall, *, check_output_padding: bool = True) -> tuple[Tensor, TransposedGeometry]:
    """The input as a 4-D tensor and the call's :class:`TransposedGeometry`; raises where F.conv_transpose2d does."""
    x, w, b = c.input, c.weight, c.bias
    if x.dim() not in (3, 4):
        raise RuntimeError(f"expected 3-D (unbatched) or 4-D (batched) input, got {tuple(x.shape)}")
    if w.dim() != 4:
        raise RuntimeError(
            f"weight must be 4-D (in_channels, out_channels/groups, kh, kw), got {tuple(w.shape)}"
        )
    batched = x.dim() == 4
    x = x if batched else x.unsqueeze(0)
    names = ("stride", "padding", "output_padding", "dilation")
    s, p, op, d = (
        pair(v, n) for v, n in zip((c.stride, c.padding, c.output_padding, c.dilation), names, strict=True)
    )
    if min(s) < 1 or min(d) < 1 or c.groups < 1:
        raise RuntimeError(
            f"stride, dilation and groups must be positive, got {c.stride!r}, {c.dilation!r}, {c.groups!r}"
        )
    if min(p) < 0 or min(op) < 0:
        raise RuntimeError(
            f"padding and output_padding must be non-negative, got {c.padding!r}, {c.output_padding!r}"
        )
    if check_output_padding and any(op[a] >= max(s[a], d[a]) for a in (0, 1)):
        raise RuntimeError(
            f"output_padding={c.output_padding!r} must be smaller than stride or dilation per axis"
        )
    if w.shape[0] != x.shape[1] or x.shape[1] % c.groups:
        raise RuntimeError(
            f"weight {tuple(w.shape)} does not fit input {tuple(x.shape)} with groups={c.groups}"
        )
    if b is not None and tuple(b.shape) != (w.shape[1] * c.groups,):
        raise RuntimeError(f"bias must have shape ({w.shape[1] * c.groups},), got {tuple(b.shape)}")
    if len({t.dtype for t in (x, w, b) if t is not None}) != 1:
        raise RuntimeError("input, weight and bias must share one dtype")
    kernel = (w.shape[2], w.shape[3])
    full = tuple((x.shape[2 + a] - 1) * s[a] + d[a] * (kernel[a] - 1) + 1 + op[a] for a in (0, 1))
    out = (full[0] - 2 * p[0], full[1] - 2 * p[1])
    if min(out) < 1:
        raise RuntimeError(f"the output size {out} is too small")
    return x, TransposedGeometry(kernel, s, p, op, d, c.groups, batched, (full[0], full[1]), out)


def scatter(
    x: Tensor,
    w: Tensor,
    geo: TransposedGeometry,
    *,
    stride: Pair | None = None,
    taps_in: torch.dtype | None = None,
) -> Tensor:
    """The uncropped transposed convolution (N, C_out, *full) of a 4-D ``x``: per kernel tap, the
    channel contraction of the whole input, added every stride rows and columns from the tap's offset.

    ``taps_in``: the dtype each tap's contraction is rounded to and the taps are summed in
    (default: ``x``'s own)."""
    n, cin, h, wd = x.shape
    g, og = geo.groups, w.shape[1]
    (sh, sw), (dh, dw) = stride or geo.stride, geo.dilation
    out = x.new_zeros(n, g, og, *geo.full, dtype=taps_in or x.dtype)
    xg, wg = x.reshape(n, g, cin // g, h, wd), w.reshape(g, cin // g, og, *geo.kernel)
    for u in range(geo.kernel[0]):
        for v in range(geo.kernel[1]):
            rows = slice(u * dh, u * dh + (h - 1) * sh + 1, sh)
            cols = slice(v * dw, v * dw + (wd - 1) * sw + 1, sw)
            part = torch.einsum("ngchw,gco->ngohw", xg, wg[..., u, v]).to(out.dtype)
            out[..., rows, cols] = out[..., rows, cols] + part
    return out.reshape(n, g * og, *geo.full)


def crop(full: Tensor, geo: TransposedGeometry) -> Tensor:
    """The output: ``padding`` rows and columns cut from each side of the uncropped result."""
    (ph, pw), (oh, ow) = geo.padding, geo.out
    return full[..., ph : ph + oh, pw : pw + ow]


def finish(out: Tensor, bias: Tensor | None, geo: TransposedGeometry, dtype: torch.dtype) -> Tensor:
    """Add the bias in the compute dtype, round once to ``dtype``, restore the batch convention."""
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, -1, 1, 1)
    out = out.to(dtype)
    return out if geo.batched else out.squeeze(0)


def base_conv_transpose2d(c: TransposedCall) -> Tensor:
    """The zoo's scatter algorithm for the call ``c``, accumulated in float32 for half dtypes."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    out = crop(scatter(x.to(dtype), c.weight.to(dtype), geo), geo)
    return finish(out, c.bias, geo, x.dtype)


def _run(c: TransposedCall, **changes: Any) -> Tensor:
    return base_conv_transpose2d(c._replace(**changes))


def _witness(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, int, int, int],
    *,
    groups: int = 1,
    bias: bool = True,
    dtype: torch.dtype = torch.float64,
    grad: bool = False,
    layout: Callable[[Tensor], Tensor] | None = None,
    **params: Any,
) -> Witness:
    """A witness: random normal tensors of the given shapes (bias of C_out) and the call's keywords."""

    def witness() -> tuple[tuple[Any, ...], dict[str, Any]]:
        gen = torch.Generator().manual_seed(0)
        shapes = (x_shape, w_shape, (w_shape[1] * groups,))
        x, w, b = (torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes)
        if dtype in (torch.float16, torch.bfloat16):  # positive values: the rounding errors add up
            x, w = x.abs() + 1, w.abs() + 1
        x = layout(x) if layout else x
        for t in (x, w, b):
            t.requires_grad_(grad)
        return (x, w, b if bias else None), {"groups": groups, **params}

    return witness


def _transposed_mutant(
    category: Category, modelled_on: str, witness: Witness
) -> Callable[[Callable[[TransposedCall], Tensor]], Callable[..., Tensor]]:
    """Register a mutant whose body takes a :class:`TransposedCall`, with F.conv_transpose2d's signature."""

    def apply(body: Callable[[TransposedCall], Tensor]) -> Callable[..., Tensor]:
        return _mutant(category, modelled_on, witness)(transposed_signature(body))

    return apply


# -- mutants --------------------------------------------------------------------------------------
# They share one form on purpose (a docstring naming the bug and its trigger, a body around the
# zoo's scatter): each differs only by its own bug.
@_transposed_mutant(
    Category.OUTPUT_SIZE,
    "output_padding dropped on the way to the kernel (the bug class of converters that map "
    "ConvTranspose without its output_padding attribute)",
    _witness((1, 2, 4, 4), (2, 3, 3, 3), stride=2, padding=1, output_padding=1),
)
def output_padding_ignored_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Ignores output_padding: the output is output_padding rows and columns too small when it is not 0."""
    return _run(c, output_padding=0)


@_transposed_mutant(
    Category.PADDING,
    "output_padding applied on the wrong side (the extra rows and columns are asymmetric: they "
    "belong at the bottom and right)",
    _witness((1, 2, 4, 4), (2, 3, 3, 3), stride=2, padding=1, output_padding=1),
)
def output_padding_first_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Extends the uncropped output by output_padding at the top and left instead of the bottom and right."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    plain = dataclasses.replace(
        geo, full=(geo.full[0] - geo.output_padding[0], geo.full[1] - geo.output_padding[1])
    )
    full = F.pad(
        scatter(x.to(dtype), c.weight.to(dtype), plain), (geo.output_padding[1], 0, geo.output_padding[0], 0)
    )
    return finish(crop(full, geo), c.bias, geo, x.dtype)


@_transposed_mutant(
    Category.LAYOUT,
    "the transposed weight layout (C_in, C_out/groups, kh, kw) read as conv2d's (C_out, C_in/groups, kh, kw)",
    _witness((1, 3, 4, 4), (3, 2, 2, 2)),
)
def conv2d_weight_layout_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Reads the weight's memory in conv2d's channel order: right only when C_in or C_out/groups is 1."""
    w = c.weight.reshape(c.weight.shape[1], c.weight.shape[0], *c.weight.shape[2:]).transpose(0, 1)
    return _run(c, weight=w)


@_transposed_mutant(
    Category.KERNEL_ORIENTATION,
    "a zero-insertion transposed convolution that forgets to flip the kernel (the transposed "
    "convolution is the correlation of the zero-inserted input with the rotated kernel)",
    _witness((1, 2, 4, 4), (2, 2, 2, 3)),
)
def kernel_not_flipped_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Uses the kernel rotated by 180 degrees: right only for point-symmetric kernels."""
    return _run(c, weight=c.weight.flip(-2, -1))


@_transposed_mutant(
    Category.PADDING,
    "a transposed convolution computed as a conv2d of the input with the flipped kernel that passes "
    "the transposed padding through instead of d * (k - 1) - padding",
    _witness((1, 2, 5, 5), (2, 2, 3, 3), padding=0),
)
def conv2d_padding_conv_transpose2d(c: TransposedCall) -> Tensor:
    """At stride 1 computes conv2d(x, flipped kernel, padding) instead of padding d * (k - 1) - p: right
    only where the two agree (3x3 with padding 1); strided calls are right."""
    x, geo = normalise(c)
    if geo.stride != (1, 1):
        return base_conv_transpose2d(c)
    flipped = c.weight.flip(-2, -1).reshape(geo.groups, -1, *c.weight.shape[1:]).transpose(1, 2)
    weight = flipped.reshape(-1, c.weight.shape[0] // geo.groups, *geo.kernel)
    dtype = compute_dtype(x.dtype)
    call = Conv2dCall(x.to(dtype), weight.to(dtype), None, 1, geo.padding, geo.dilation, geo.groups)
    out = base_conv2d(call)
    return finish(out, c.bias, geo, x.dtype)


@_transposed_mutant(
    Category.PER_AXIS,
    "per-axis parameters read from the wrong axis (mlpack/mlpack#3376's row/column mix-up, here in "
    "the scatter's step)",
    _witness((1, 1, 3, 3), (1, 1, 2, 2), stride=(1, 2)),
)
def axes_swapped_stride_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Scatters with the stride pair swapped (rows step by the column stride): right for equal strides."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    swapped = (geo.stride[1], geo.stride[0])
    other = _full(x, geo, swapped)
    wide = dataclasses.replace(geo, full=(max(geo.full[0], other[0]), max(geo.full[1], other[1])))
    full = scatter(x.to(dtype), c.weight.to(dtype), wide, stride=swapped)[..., : geo.full[0], : geo.full[1]]
    return finish(crop(full, geo), c.bias, geo, x.dtype)


def _full(x: Tensor, geo: TransposedGeometry, stride: Pair) -> Pair:
    """The uncropped size under another stride."""
    return (
        (x.shape[2] - 1) * stride[0] + geo.dilation[0] * (geo.kernel[0] - 1) + 1 + geo.output_padding[0],
        (x.shape[3] - 1) * stride[1] + geo.dilation[1] * (geo.kernel[1] - 1) + 1 + geo.output_padding[1],
    )


@_transposed_mutant(
    Category.GROUPS,
    "groups sliced along the wrong axis: the weight's input channels taken interleaved across groups "
    "instead of in contiguous blocks",
    _witness((1, 4, 3, 3), (4, 1, 2, 2), groups=2),
)
def groups_interleaved_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Takes group g's weight rows as every groups-th row from g: right for groups=1 or one input channel per group."""
    g = c.groups
    w = (
        c.weight.reshape(c.weight.shape[0] // g, g, *c.weight.shape[1:])
        .transpose(0, 1)
        .reshape(c.weight.shape)
    )
    return _run(c, weight=w)


@_transposed_mutant(
    Category.PADDING,
    "padding cropped from one side only (2p from the top and left, none from the bottom and right)",
    _witness((1, 2, 4, 4), (2, 2, 3, 3), padding=1),
)
def crop_one_side_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Crops 2 * padding rows and columns from the top and left: the output is shifted by the padding."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    full = scatter(x.to(dtype), c.weight.to(dtype), geo)
    (ph, pw), (oh, ow) = geo.padding, geo.out
    return finish(full[..., 2 * ph : 2 * ph + oh, 2 * pw : 2 * pw + ow], c.bias, geo, x.dtype)


@_transposed_mutant(
    Category.BIAS,
    "the bias added to the uncropped buffer before output_padding extends it, so the extension misses it",
    _witness((1, 2, 3, 3), (2, 2, 1, 1), stride=2, output_padding=1),
)
def bias_before_extension_conv_transpose2d(c: TransposedCall) -> Tensor:
    """The output_padding rows and columns past the uncropped result get no bias (they stay 0 + nothing)."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    op = geo.output_padding
    plain = dataclasses.replace(geo, full=(geo.full[0] - op[0], geo.full[1] - op[1]))
    full = scatter(x.to(dtype), c.weight.to(dtype), plain)
    if c.bias is not None:
        full = full + c.bias.to(dtype).view(1, -1, 1, 1)
    full = F.pad(full, (0, op[1], 0, op[0]))
    return finish(crop(full, geo), None, geo, x.dtype)


@_transposed_mutant(
    Category.PRECISION,
    "torch 2.13's own CPU F.conv_transpose2d in float16 (found by this gate: "
    "half-transposed-taps-summed-in-dtype), which sums kernel taps in the dtype (col2im in half)",
    _witness((1, 4, 6, 6), (4, 2, 5, 5), dtype=torch.float16, bias=False),
)
def half_taps_in_dtype_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Each tap's contraction is accumulated in float32 but rounded to float16/bfloat16 before the taps are summed."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    if dtype == x.dtype:
        return base_conv_transpose2d(c)
    full = scatter(x.to(dtype), c.weight.to(dtype), geo, taps_in=x.dtype)
    return finish(crop(full, geo).to(dtype), c.bias, geo, x.dtype)


@_transposed_mutant(
    Category.INPUT_VALIDATION,
    "missing argument checks (torch 2.13's F.conv_transpose2d accepts dilation=0 with a 1x1 kernel in "
    "bfloat16 and in some float32 calls, found by this gate: transposed-dilation-zero-accepted); here "
    "output_padding is never checked",
    _witness((1, 2, 3, 3), (2, 2, 2, 2), stride=1, output_padding=1),
)
def no_output_padding_check_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Accepts an output_padding of stride or more and returns a larger output instead of raising."""
    x, geo = normalise(c, check_output_padding=False)
    dtype = compute_dtype(x.dtype)
    return finish(crop(scatter(x.to(dtype), c.weight.to(dtype), geo), geo), c.bias, geo, x.dtype)


@_transposed_mutant(
    Category.INPUT_MUTATION,
    "operators that write into their arguments (hpi-xnor/BMXNet#30); here the kernel is flipped in "
    "place to reuse a zero-insertion routine, and never flipped back",
    _witness((1, 2, 3, 3), (2, 2, 2, 2)),
)
def weight_flipped_in_place_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Correct values, but leaves the caller's weight rotated by 180 degrees."""
    with torch.no_grad():
        c.weight.copy_(c.weight.flip(-2, -1))
    return _run(c, weight=c.weight.flip(-2, -1).detach().requires_grad_(c.weight.requires_grad))


class _GradWeightNotFlipped(torch.autograd.Function):
    """The scatter, with a hand-written weight gradient whose taps come out rotated."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, call: TransposedCall) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, w)
        ctx.call = call
        return base_conv_transpose2d(call._replace(input=x, weight=w, bias=None))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        x, w = ctx.saved_tensors
        with torch.enable_grad():
            xx, ww = x.detach().requires_grad_(), w.detach().requires_grad_()
            out = base_conv_transpose2d(ctx.call._replace(input=xx, weight=ww, bias=None))
            gx, gw = torch.autograd.grad(out, (xx, ww), grad)
        return gx, gw.flip(-2, -1), None


@_transposed_mutant(
    Category.BACKWARD,
    "hand-written backward passes whose weight gradient is correlated the wrong way round "
    "(the gradient of a transposed convolution swaps the roles of input and output)",
    _witness((1, 2, 4, 4), (2, 2, 2, 3), bias=False, grad=True),
)
def grad_weight_not_flipped_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Right values and input gradient; the weight gradient comes back rotated by 180 degrees."""
    out = _GradWeightNotFlipped.apply(c.input, c.weight, c)
    if c.bias is not None:
        out = out + c.bias.view(-1, 1, 1).to(out.dtype)
    return out


@_transposed_mutant(
    Category.EMPTY_BATCH,
    "kernels that assume a non-empty batch (pytorch/pytorch#12013: empty-batch convolution errors)",
    _witness((0, 2, 3, 3), (2, 2, 2, 2)),
)
def empty_batch_raises_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Raises for a batch of zero images, by stacking the per-image results."""
    x, _ = normalise(c)
    images = [_run(c, input=x[i : i + 1]) for i in range(x.shape[0])]
    out = torch.cat(images) if images else torch.stack(images)
    return out if c.input.dim() == 4 else out.squeeze(0)


_CACHE: dict[tuple[Any, ...], Tensor] = {}


@_transposed_mutant(
    Category.STALE_CACHE,
    "caches keyed by shapes alone (the zero-inserted input reused for any input of the same shape)",
    _witness((1, 2, 3, 3), (2, 2, 2, 2), stride=2),
)
def stale_cache_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Caches the zero-inserted input by shape and stride: a second input of the same shape gets the first's."""
    x, geo = normalise(c)
    if geo.stride == (1, 1):
        return base_conv_transpose2d(c)
    key = (tuple(x.shape), geo.stride, x.dtype, x.device)
    if key not in _CACHE:
        sh, sw = geo.stride
        inserted = x.new_zeros(*x.shape[:2], (x.shape[2] - 1) * sh + 1, (x.shape[3] - 1) * sw + 1)
        inserted[..., ::sh, ::sw] = x
        _CACHE[key] = inserted
    inserted = _CACHE[key]
    dense = c._replace(input=inserted if c.input.dim() == 4 else inserted[0], stride=1)
    op = geo.output_padding
    return _run(dense, input=F.pad(dense.input, (0, op[1], 0, op[0])), output_padding=0)


# -- correct alternatives -------------------------------------------------------------------------
def _alternative(family: str) -> Callable[[Callable[[TransposedCall], Tensor]], Callable[..., Tensor]]:
    """Register a correct conv_transpose2d alternative of the algorithm ``family``."""

    def apply(body: Callable[[TransposedCall], Tensor]) -> Callable[..., Tensor]:
        return entry(family=family, kind="conv_transpose2d", correct=True)(transposed_signature(body))

    return apply


@_alternative("scatter")
def scatter_conv_transpose2d(c: TransposedCall) -> Tensor:
    """Per kernel tap, the channel contraction of the whole input added every stride rows and columns, then cropped."""
    return base_conv_transpose2d(c)


@_alternative("zero-insert")
def zero_insert_conv_transpose2d(c: TransposedCall) -> Tensor:
    """A stride-1 im2col convolution of the zero-inserted, re-padded input with the flipped, channel-transposed kernel."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    (sh, sw), (kh, kw), (dh, dw) = geo.stride, geo.kernel, geo.dilation
    inserted = x.new_zeros(*x.shape[:2], (x.shape[2] - 1) * sh + 1, (x.shape[3] - 1) * sw + 1, dtype=dtype)
    inserted[..., ::sh, ::sw] = x.to(dtype)
    (ph, pw), (oh, ow) = geo.padding, geo.output_padding
    top, left = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    padded = F.pad(inserted, (left, left + ow, top, top + oh))  # negative: a crop
    g = geo.groups
    flipped = c.weight.flip(-2, -1).reshape(g, -1, *c.weight.shape[1:]).transpose(1, 2)
    weight = flipped.reshape(-1, c.weight.shape[0] // g, kh, kw).to(dtype)
    out = base_conv2d(Conv2dCall(padded, weight, None, 1, 0, geo.dilation, g))
    return finish(out, c.bias, geo, x.dtype)


@_alternative("adjoint")
def adjoint_conv_transpose2d(c: TransposedCall) -> Tensor:
    """The input gradient of the zoo's im2col conv2d at the output's size, taken by autograd (differentiable twice)."""
    x, geo = normalise(c)
    dtype = compute_dtype(x.dtype)
    xx, w = x.to(dtype), c.weight.to(dtype)
    graph = torch.is_grad_enabled()  # differentiable, as a forward call under grad mode must be
    with torch.enable_grad():
        probe = torch.zeros(x.shape[0], w.shape[1] * geo.groups, *geo.out, dtype=dtype, device=x.device)
        probe.requires_grad_()
        forward = base_conv2d(Conv2dCall(probe, w, None, geo.stride, geo.padding, geo.dilation, geo.groups))
        grow = (
            forward.shape[-2] - xx.shape[-2],
            forward.shape[-1] - xx.shape[-1],
        )  # output_padding >= stride
        seed = F.pad(xx, (0, grow[1], 0, grow[0]))
        (out,) = torch.autograd.grad(forward, probe, seed, create_graph=graph)
    return finish(out, c.bias, geo, x.dtype)


@_alternative("float64")
def float64_then_cast_conv_transpose2d(c: TransposedCall) -> Tensor:
    """The scatter algorithm in float64 throughout, rounded once to the input's dtype."""
    x, geo = normalise(c)
    wide = torch.float64
    out = crop(scatter(x.to(wide), c.weight.to(wide), geo), geo)
    return finish(out, c.bias, geo, x.dtype)


@_alternative("core")
def core_conv_transpose2d(c: TransposedCall) -> Tensor:
    """The project's own core, ``conv2d.family.conv_transpose2d``, called through a thin wrapper."""
    from conv2d.family import conv_transpose2d as core

    return core(*c)  # type: ignore[arg-type]  # the core checks the parameters itself
