"""Hold-out zoo of ``torch.nn.functional.conv1d`` and ``conv3d`` implementations, kept aside from tuning.

The gate is never tuned on these entries: they measure how it does on bugs of
one- and three-dimensional convolutions it has not seen. Every entry has exactly
``F.conv1d``'s (kind ``"conv1d"``) or ``F.conv3d``'s (kind ``"conv3d"``) signature
and defaults and calls no torch convolution operator, so that a failure comes
only from the entry itself.

The shared base algorithm is a per-kernel-tap sum with implicit padding: for each
tap the input elements it meets (a strided slice, padding excluded, so no product
with a padded zero is ever formed) are contracted over their channels with the
tap's weights (einsum) and added into the output positions they belong to.
float16 and bfloat16 are accumulated in float32, the bias added in float32 and
the result rounded once to the input dtype.

Every buggy entry is that base with one deliberate defect, visible only under the
trigger its docstring names, modelled on a class of bug seen in real convolution
code. The correct alternatives use other algorithms (an FFT along the length in
float64; taps summed before channels; depth slices of 2-D im2col matmuls in
float64) and so round differently.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._entry import ZooEntry, register

__all__ = ["SPATIAL_HOLDOUT"]

_REGISTRY: list[ZooEntry] = []

_HALF = (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------------------
# Argument handling shared by every entry
# ---------------------------------------------------------------------------


def _sizes(value: int | Sequence[int], name: str, rank: int) -> tuple[int, ...]:
    """An int, a 1-sequence or a ``rank``-sequence of ints, as F.conv1d/F.conv3d take it, per axis."""
    if isinstance(value, bool | str | float):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}")
    if isinstance(value, int):
        return (value,) * rank
    try:
        items = tuple(operator.index(v) for v in value)
    except TypeError as error:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}") from error
    if len(items) == 1:
        return items * rank
    if len(items) != rank:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {rank} values")
    return items


@dataclasses.dataclass(frozen=True)
class _Geom:
    """A validated call: the batched input view and every size and parameter, per spatial axis."""

    x: Tensor  # the input as (N, C, *size): a view of the caller's tensor, never written
    unbatched: bool
    N: int
    Co: int
    G: int
    Cg: int  # input channels per group
    Og: int  # output channels per group
    size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]  # (before, after) per axis
    out: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.size)


def _pads(padding, kernel, dilation, stride) -> tuple[tuple[int, int], ...]:
    """(before, after) per axis; 'same' puts the odd element after, as torch does."""
    rank = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * rank
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return tuple((t // 2, t - t // 2) for t in totals)
    pads = _sizes(padding, "padding", rank)
    if min(pads) < 0:
        raise RuntimeError(f"negative padding is not supported, got padding={pads}")
    return tuple((p, p) for p in pads)


def _check_tensors(rank: int, input: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    name = f"conv{rank}d"
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError("input and weight must be tensors")
    if input.dim() not in (rank + 1, rank + 2):
        raise RuntimeError(f"Expected {rank + 1}D (unbatched) or {rank + 2}D (batched) input to {name}")
    if weight.dim() != rank + 2:
        raise RuntimeError(f"weight should have {rank + 2} dimensions, got {list(weight.shape)}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{name} here supports floating-point dtypes only, got {input.dtype}")
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != input.dtype):
        raise RuntimeError("Input type, weight type and bias type should be the same")
    if weight.device != input.device or (bias is not None and bias.device != input.device):
        raise RuntimeError("input, weight and bias must be on the same device")


def _setup(rank, input, weight, bias, stride, padding, dilation, groups) -> _Geom:
    """Check a call as F.conv1d (rank 1) or F.conv3d (rank 3) does and return its geometry."""
    _check_tensors(rank, input, weight, bias)
    if isinstance(groups, bool) or not isinstance(groups, int):
        raise TypeError(f"groups must be an int, got {groups!r}")
    if groups < 1:
        raise RuntimeError(f"non-positive groups is not supported, got groups={groups}")
    s, d = _sizes(stride, "stride", rank), _sizes(dilation, "dilation", rank)
    if min(s) < 1:
        raise RuntimeError(f"non-positive stride is not supported, got stride={s}")
    if min(d) < 1:
        raise RuntimeError(f"non-positive dilation is not supported, got dilation={d}")
    kernel = tuple(weight.shape[2:])
    pads = _pads(padding, kernel, d, s)
    unbatched = input.dim() == rank + 1
    x = input.unsqueeze(0) if unbatched else input
    N, C, size = x.shape[0], x.shape[1], tuple(x.shape[2:])
    Co, Cg = weight.shape[0], weight.shape[1]
    if Co < groups or Co % groups != 0:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0"
        )
    if Cg * groups != C:
        raise RuntimeError(f"Given groups={groups}, expected input to have {Cg * groups} channels, got {C}")
    if min(kernel) < 1:
        raise RuntimeError(f"kernel size should be greater than zero, got {list(kernel)}")
    if min(size) < 1:
        raise RuntimeError(f"Only zero batch or zero channel inputs are supported, got {list(x.shape)}")
    if bias is not None and tuple(bias.shape) != (Co,):
        raise RuntimeError(f"expected bias to be 1-dimensional with {Co} elements, got {list(bias.shape)}")
    padded = [n + b + a for n, (b, a) in zip(size, pads, strict=True)]
    extent = [dd * (k - 1) + 1 for k, dd in zip(kernel, d, strict=True)]
    if any(p < e for p, e in zip(padded, extent, strict=True)):
        raise RuntimeError(f"Kernel size {list(kernel)} can't be greater than padded input size {padded}")
    out = tuple((p - e) // ss + 1 for p, e, ss in zip(padded, extent, s, strict=True))
    return _Geom(x, unbatched, N, Co, groups, Cg, Co // groups, size, kernel, s, d, pads, out)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype an entry accumulates in: float64 for float64, float32 for everything else."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# ---------------------------------------------------------------------------
# The base algorithm: per-tap channel contraction over strided slices, implicit padding
# ---------------------------------------------------------------------------


def _window(tap: Sequence[int], g: _Geom) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """The output slices a tap contributes to and the input slices it reads (padding excluded)."""
    outs, ins = [], []
    for t, s, d, (before, _), n, o in zip(tap, g.stride, g.dilation, g.pads, g.size, g.out, strict=True):
        offset = t * d - before  # output position p reads input position p * s + offset
        lo, hi = max(0, -(offset // s)), min(o - 1, (n - 1 - offset) // s)
        if hi < lo:
            return None
        start = lo * s + offset
        outs.append(slice(lo, hi + 1))
        ins.append(slice(start, start + (hi - lo) * s + 1, s))
    return tuple(outs), tuple(ins)


def _span(tap: int, dilation: int, size: int, stride: int) -> slice:
    """The padded-input positions a tap reads for ``size`` outputs."""
    return slice(tap * dilation, tap * dilation + (size - 1) * stride + 1, stride)


def _at(slices: Sequence[slice | int]) -> Any:
    """The index ``(..., *slices)`` of a tensor's trailing axes."""
    return (..., *slices)


def _taps(g: _Geom) -> Iterable[tuple[int, ...]]:
    return itertools.product(*(range(k) for k in g.kernel))


def _windows(g: _Geom, taps: Iterable[tuple[int, ...]] | None = None) -> Iterator[tuple[Any, Any, Any]]:
    """(tap, output index, input index) of every tap that meets the input, as indices of the trailing axes."""
    for tap in _taps(g) if taps is None else taps:
        window = _window(tap, g)
        if window is not None:
            yield _at(tap), _at(window[0]), _at(window[1])


def _grouped(x: Tensor, weight: Tensor, g: _Geom, wd: torch.dtype) -> tuple[Tensor, Tensor]:
    """The input as (N, G, Cg, *size) and the weight as (G, Og, Cg, *kernel), both in ``wd``."""
    xg = x.to(wd).reshape(g.N, g.G, g.Cg, *g.size)
    wg = weight.to(wd).reshape(g.G, g.Og, g.Cg, *g.kernel)
    return xg, wg


def _tap_sum(xg: Tensor, wg: Tensor, g: _Geom, taps: Iterable[tuple[int, ...]] | None = None) -> Tensor:
    """The output (N, Co, *out) before bias: every tap's channel contraction added where it lands."""
    # an empty sum of each operand is exactly 0 and keeps the output in the graph when no tap lands
    out = xg.new_zeros((g.N, g.G, g.Og, *g.out)) + (xg.flatten()[:0].sum() + wg.flatten()[:0].sum())
    for tap, o_at, i_at in _windows(g, taps):
        out[o_at] += torch.einsum("ngc...,goc->ngo...", xg[i_at], wg[tap])
    return out.reshape(g.N, g.Co, *g.out)


def _finish(out: Tensor, bias: Tensor | None, g: _Geom, dtype: torch.dtype) -> Tensor:
    """Add the bias in ``out``'s dtype, round once to ``dtype``, drop the batch axis of an unbatched call."""
    if bias is not None:
        out = out + bias.to(out.dtype).reshape(1, -1, *(1,) * g.rank)
    out = out.to(dtype).contiguous()
    return out.squeeze(0) if g.unbatched else out


def _base(input, weight, bias, g: _Geom) -> Tensor:
    xg, wg = _grouped(g.x, weight, g, _work_dtype(input.dtype))
    return _finish(_tap_sum(xg, wg, g), bias, g, input.dtype)


# ---------------------------------------------------------------------------
# Correct implementations
# ---------------------------------------------------------------------------


@register(
    _REGISTRY,
    kind="conv1d",
    family="tap-sum",
    correct=True,
    summary="Per-tap channel contraction (einsum) of strided input slices, padding implicit, summed over taps.",
)
def tap_sum_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The base algorithm for conv1d, without defect."""
    return _base(input, weight, bias, _setup(1, input, weight, bias, stride, padding, dilation, groups))


@register(
    _REGISTRY,
    kind="conv3d",
    family="tap-sum",
    correct=True,
    summary="Per-tap channel contraction (einsum) of strided input slices, padding implicit, summed over taps.",
)
def tap_sum_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The base algorithm for conv3d, without defect."""
    return _base(input, weight, bias, _setup(3, input, weight, bias, stride, padding, dilation, groups))


@register(
    _REGISTRY,
    kind="conv1d",
    family="fft",
    correct=True,
    summary="Linear (zero-padded, not circular) FFT correlation along the length in float64, cropped and "
    "strided; rounded once.",
)
def fft_float64_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv1d as a product of spectra, in float64 for every dtype.

    The input is zero-padded explicitly; the kernel is dilated (zeros between taps)
    and reversed. Both are transformed with an rfft of length ``L_padded + extent - 1``,
    so the product's inverse is the full linear convolution, with no wrap-around;
    the channels are contracted per group in the frequency domain. The valid part
    is cropped, taken at the stride, the bias added in float64 and the result
    rounded once. A NaN or infinity spreads over a whole row: declared ``ieee=False``.
    """
    g = _setup(1, input, weight, bias, stride, padding, dilation, groups)
    if g.N == 0:  # an empty batch has nothing to transform (and oneMKL's FFT rejects it)
        return _base(input, weight, bias, g)
    ((before, after),), (s,), (d,), (k,), (lo,) = g.pads, g.stride, g.dilation, g.kernel, g.out
    x = F.pad(g.x.to(torch.float64), (before, after))
    extent = d * (k - 1) + 1
    dilated = x.new_zeros((g.Co, g.Cg, extent))
    dilated[..., ::d] = weight.to(torch.float64)
    n = x.shape[-1] + extent - 1
    spectrum_x = torch.fft.rfft(x.reshape(g.N, g.G, g.Cg, x.shape[-1]), n=n)
    spectrum_w = torch.fft.rfft(dilated.flip(-1).reshape(g.G, g.Og, g.Cg, extent), n=n)
    full = torch.fft.irfft(torch.einsum("ngcf,gocf->ngof", spectrum_x, spectrum_w), n=n)
    out = full[..., extent - 1 : extent - 1 + (lo - 1) * s + 1 : s].reshape(g.N, g.Co, lo)
    return _finish(out, bias, g, input.dtype)


fft_float64_conv1d.__conv2d_capabilities__ = {"ieee": False}  # type: ignore[attr-defined]


@register(
    _REGISTRY,
    kind="conv1d",
    family="tap-major",
    correct=True,
    summary="Elementwise products summed over the taps first (per channel), then over the channels.",
)
def tap_major_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Taps first, channels last.

    For each tap the products of the strided input slice with the tap's weights are
    formed per (output channel, input channel) pair, padding implicit, and added
    into a per-channel accumulator (N, G, Og, Cg, L_out); the accumulator is summed
    over the input channels at the end. Accumulated in float32 for half types.
    """
    g = _setup(1, input, weight, bias, stride, padding, dilation, groups)
    xg, wg = _grouped(g.x, weight, g, _work_dtype(input.dtype))
    acc = xg.new_zeros((g.N, g.G, g.Og, g.Cg, *g.out))
    for tap, o_at, i_at in _windows(g):
        acc[o_at] += xg[:, :, None][i_at] * wg[tap].reshape(1, g.G, g.Og, g.Cg, *(1,) * g.rank)
    return _finish(acc.sum(dim=3).reshape(g.N, g.Co, *g.out), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv3d",
    family="im2col",
    correct=True,
    summary="A sum over depth taps of 2-D im2col matmuls on the zero-padded input, in float64; rounded once.",
)
def depth_slice_im2col_float64_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv3d as depth slices of 2-D convolutions, in float64 for every dtype.

    The input is zero-padded explicitly. For each depth tap the (kh, kw) windows of
    the depth-strided planes it reads are stacked into columns (N, G, Cg*kh*kw,
    D_out*H_out*W_out) and multiplied by that depth tap's 2-D kernels; the depth
    taps' results are summed, the bias added in float64 and the result rounded once.
    Padded zeros are multiplied by weights (inf * 0 = NaN): declared ``ieee=False``.
    """
    g = _setup(3, input, weight, bias, stride, padding, dilation, groups)
    (sd, sh, sw), (dd, dh, dw), (kd, kh, kw), (do, ho, wo) = g.stride, g.dilation, g.kernel, g.out
    flat = [p for pair in reversed(g.pads) for p in pair]
    x = F.pad(g.x.to(torch.float64), flat)
    w = weight.to(torch.float64).reshape(g.G, g.Og, g.Cg, kd, kh * kw)
    out = x.new_zeros((g.N, g.G, g.Og, do * ho * wo))
    for i in range(kd):
        planes = x[:, :, _span(i, dd, do, sd)]
        windows = [
            planes[..., _span(j, dh, ho, sh), _span(m, dw, wo, sw)] for j in range(kh) for m in range(kw)
        ]
        columns = torch.stack(windows, dim=2).reshape(g.N, g.G, g.Cg * kh * kw, do * ho * wo)
        out = out + torch.matmul(w[:, :, :, i].reshape(g.G, g.Og, g.Cg * kh * kw), columns)
    return _finish(out.reshape(g.N, g.Co, do, ho, wo), bias, g, input.dtype)


depth_slice_im2col_float64_conv3d.__conv2d_capabilities__ = {"ieee": False}  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------
# Buggy conv1d implementations: the base with one defect each
# ---------------------------------------------------------------------------


@register(
    _REGISTRY,
    kind="conv1d",
    category=Category.PADDING,
    summary="padding='same' with an odd total puts the extra zero on the left (SAME_LOWER) instead of the right.",
    modelled_on="ONNX auto_pad SAME_LOWER vs SAME_UPPER confusion in exporters/converters mapping PyTorch's "
    "'same' (extra padding at the end)",
)
def same_pad_lower_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """'same' padding split with the odd element first.

    Bug: the total 'same' padding ``d * (k - 1)`` is split as ``(total - total // 2,
    total // 2)``, so the output (of the right length) is shifted one position.
    Trigger: padding='same' with an odd ``dilation * (kernel - 1)`` (an even kernel, odd dilation).
    """
    g = _setup(1, input, weight, bias, stride, padding, dilation, groups)
    if padding == "same":
        g = dataclasses.replace(g, pads=tuple((a, b) for b, a in g.pads))
    return _base(input, weight, bias, g)


_TILE = 8


@register(
    _REGISTRY,
    kind="conv1d",
    category=Category.TILE_REMAINDER,
    summary="The scalar tail (the last L_out % 8 outputs) ignores the dilation; the 8-wide main loop is right.",
    modelled_on="Vectorised kernels whose remainder loop is a separately written scalar path that misses a "
    "parameter of the main loop (SIMD tail-handling bugs)",
)
def dilated_tail_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Remainder outputs computed without dilation.

    Bug: the outputs are produced in tiles of 8; the outputs past the last full tile
    (all of them when L_out < 8) read the taps at a dilation of 1.
    Trigger: dilation > 1, kernel > 1 and L_out not a multiple of 8.
    """
    g = _setup(1, input, weight, bias, stride, padding, dilation, groups)
    xg, wg = _grouped(g.x, weight, g, _work_dtype(input.dtype))
    out = _tap_sum(xg, wg, g)
    main = g.out[0] // _TILE * _TILE
    if main < g.out[0]:
        tail = _tap_sum(xg, wg, dataclasses.replace(g, dilation=(1,)))
        out = torch.cat([out[..., :main], tail[..., main:]], dim=-1)
    return _finish(out, bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv1d",
    category=Category.BATCH,
    summary="An unbatched result is squeezed with squeeze() rather than squeeze(0), dropping size-1 axes.",
    modelled_on="out.squeeze() used to undo an unsqueeze(0) for unbatched input (shape bugs when another "
    "axis has size 1, common in hand-written nn.Module forwards)",
)
def unbatched_squeeze_all_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Unbatched output squeezed on every axis.

    Bug: the values are right, but for a 2-D (C_in, L) input the batch axis is
    removed with ``squeeze()``, which also removes the channel or length axis when
    it has size 1. Batched calls are unaffected.
    Trigger: unbatched input with C_out == 1 or L_out == 1.
    """
    g = _setup(1, input, weight, bias, stride, padding, dilation, groups)
    out = _base(input, weight, bias, dataclasses.replace(g, unbatched=False))
    return out.squeeze() if g.unbatched else out


@register(
    _REGISTRY,
    kind="conv1d",
    category=Category.OUTPUT_SIZE,
    summary="The output length is rounded up (ceil) rather than down; the extra last window is partial.",
    modelled_on="ceil_mode-style output-size formulas (pooling ceil_mode, TF/Caffe ceil rounding) used for a "
    "convolution",
)
def ceil_output_length_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Output length computed with ceiling division.

    Bug: L_out = ceil((L + pads - extent) / stride) + 1, so when the stride does not
    divide the span one extra output is produced from a window that runs past the
    right padding (its missing taps read as zeros).
    Trigger: stride > 1 with (L + pads - dilation*(k-1) - 1) not divisible by the stride.
    """
    g = _setup(1, input, weight, bias, stride, padding, dilation, groups)
    span = g.size[0] + sum(g.pads[0]) - g.dilation[0] * (g.kernel[0] - 1) - 1
    g = dataclasses.replace(g, out=(-(-span // g.stride[0]) + 1,))
    return _base(input, weight, bias, g)


# ---------------------------------------------------------------------------
# Buggy conv3d implementations: the base with one defect each
# ---------------------------------------------------------------------------


@register(
    _REGISTRY,
    kind="conv3d",
    category=Category.LAYOUT,
    summary="A channels-innermost (NDHWC / channels_last_3d) input's memory is read with NCDHW strides.",
    modelled_on="Kernels that index data_ptr() with NCDHW arithmetic on NDHWC tensors (channels_last_3d "
    "correctness bugs in fallback paths)",
)
def ndhwc_as_ncdhw_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """NDHWC memory read as NCDHW.

    Bug: an input stored densely with channels innermost is indexed through
    contiguous NCDHW strides; contiguous inputs and other views are read correctly.
    Trigger: a dense channels-innermost (channels_last_3d) input that is not also
    contiguous, batched or unbatched, with more than one channel.
    """
    g = _setup(3, input, weight, bias, stride, padding, dilation, groups)
    x = g.x
    if x.permute(0, 2, 3, 4, 1).is_contiguous() and not x.is_contiguous():
        strides = [math.prod(max(n, 1) for n in x.shape[a + 1 :]) for a in range(5)]
        x = torch.as_strided(x, x.shape, strides, x.storage_offset())
    xg, wg = _grouped(x, weight, g, _work_dtype(input.dtype))
    return _finish(_tap_sum(xg, wg, g), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv3d",
    category=Category.PER_AXIS,
    summary="The taps are placed at dilation[0] on every axis; the output size uses the right per-axis dilation.",
    modelled_on="3-D ports of 2-D kernels reading one parameter for all axes (dilation[0] used for D, H and W)",
)
def depth_dilation_everywhere_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Depth dilation used on every axis.

    Bug: the output size is right, but the tap offsets on the height and width axes
    use the depth dilation; taps that then fall outside the input add nothing.
    Trigger: dilation[1] or dilation[2] != dilation[0] on an axis whose kernel size is > 1.
    """
    g = _setup(3, input, weight, bias, stride, padding, dilation, groups)
    xg, wg = _grouped(g.x, weight, g, _work_dtype(input.dtype))
    out = _tap_sum(xg, wg, dataclasses.replace(g, dilation=(g.dilation[0],) * 3))
    return _finish(out, bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv3d",
    category=Category.GROUPS,
    summary="Input channels are assigned to groups round-robin (channel c to group c % groups), not in blocks.",
    modelled_on="Group split done with reshape(N, C/groups, groups, ...) instead of (N, groups, C/groups, ...) "
    "(channel-shuffle-style axis order confusion)",
)
def interleaved_groups_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Groups taken from interleaved channels.

    Bug: group ``k`` reads input channels ``k, k + groups, k + 2*groups, ...``
    instead of ``k*Cg ... (k+1)*Cg - 1``.
    Trigger: groups > 1 with more than one input channel per group (not depthwise).
    """
    g = _setup(3, input, weight, bias, stride, padding, dilation, groups)
    wd = _work_dtype(input.dtype)
    _, wg = _grouped(g.x, weight, g, wd)
    xg = g.x.to(wd).reshape(g.N, g.Cg, g.G, *g.size).transpose(1, 2)
    return _finish(_tap_sum(xg, wg, g), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv3d",
    category=Category.PRECISION,
    summary="float16/bfloat16: each depth tap's 2-D result is rounded to the dtype and the depth taps summed "
    "in the dtype.",
    modelled_on="conv3d lowered to a loop of half-precision conv2d calls over the depth taps whose outputs are "
    "accumulated in the half dtype (fp16 accumulators across a decomposed reduction)",
)
def half_depth_partials_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Depth partial sums accumulated in half precision.

    Bug: for float16 and bfloat16 each depth tap's sum over (kh, kw) taps and
    channels is formed in float32 but rounded to the input dtype, and the depth taps
    are summed in that dtype; the bias is then added in float32. float32 and float64
    are not affected.
    Trigger: float16 or bfloat16 with kernel depth > 1.
    """
    g = _setup(3, input, weight, bias, stride, padding, dilation, groups)
    if input.dtype not in _HALF or g.kernel[0] == 1:
        return _base(input, weight, bias, g)
    xg, wg = _grouped(g.x, weight, g, torch.float32)
    total = None
    for i in range(g.kernel[0]):
        taps = [t for t in _taps(g) if t[0] == i]
        part = _tap_sum(xg, wg, g, taps).to(input.dtype)
        total = part if total is None else total + part
    assert total is not None
    return _finish(total.to(torch.float32), bias, g, input.dtype)


class _LastSampleBiasGrad(torch.autograd.Function):
    """The bias broadcast to the output's shape; its gradient keeps only the last sample's sum."""

    @staticmethod
    def forward(ctx, bias: Tensor, shape: tuple[int, ...]) -> Tensor:  # type: ignore[override]
        return bias.reshape(1, -1, *(1,) * (len(shape) - 2)).expand(shape).clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        # each sample's per-channel sum is stored (=) into grad_bias, not added (+=): the last one wins
        return grad[-1:].sum(dim=(0, *range(2, grad.dim()))), None


@register(
    _REGISTRY,
    kind="conv3d",
    category=Category.BACKWARD,
    summary="grad_bias is the last sample's sum over D, H, W only (per-sample sums stored, not accumulated).",
    modelled_on="Bias-gradient reduction kernels that write each sample's partial sum with = instead of += "
    "(last-writer-wins grad_bias over the batch)",
)
def bias_grad_last_sample_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Bias gradient of the last sample only.

    Bug: the forward values and grad_input/grad_weight are right, but the bias is
    added through a custom autograd.Function whose backward reduces grad_output over
    the spatial axes of the last sample only.
    Trigger: a bias gradient with a batch of more than one sample.
    """
    g = _setup(3, input, weight, bias, stride, padding, dilation, groups)
    wd = _work_dtype(input.dtype)
    xg, wg = _grouped(g.x, weight, g, wd)
    out = _tap_sum(xg, wg, g)
    if bias is not None:
        out = out + _LastSampleBiasGrad.apply(bias.to(wd), tuple(out.shape))
    return _finish(out, None, g, input.dtype)


SPATIAL_HOLDOUT: tuple[ZooEntry, ...] = tuple(_REGISTRY)
