"""Hold-out zoo of ``torch.nn.functional.conv_transpose2d`` implementations, kept aside from tuning.

The gate is never tuned on these entries: they measure how it does on transposed
convolution bugs it has not seen. Every entry has exactly ``F.conv_transpose2d``'s
signature and defaults and calls no torch convolution operator, so that a failure
comes only from the entry itself (the host's own kernels have bugs of their own).

The shared base algorithm is a per-kernel-tap scatter: for each tap ``(i, j)`` the
input is contracted over its channels with the tap's weights, and the result is
added into the uncropped output at rows ``i * dilation + h * stride`` (columns
likewise); the uncropped output is extended by ``output_padding`` at the bottom and
right and cropped by ``padding`` on every side. float16 and bfloat16 are
accumulated in float32, the bias added in float32 and the result rounded once.

Every buggy entry is that base with one deliberate defect, visible only under the
trigger its docstring names, modelled on a class of bug seen in real transposed
convolution code. The correct alternatives use other algorithms (zero insertion
and correlation; col2im with float64 accumulation) and so round differently.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._entry import ZooEntry, register

__all__ = ["TRANSPOSED_HOLDOUT"]

_REGISTRY: list[ZooEntry] = []

_HALF = (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------------------
# Argument handling shared by every entry
# ---------------------------------------------------------------------------


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """An int or a 1- or 2-sequence of ints, as F.conv_transpose2d takes it, as a pair."""
    if isinstance(value, bool | str | float):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    try:
        items = tuple(operator.index(v) for v in value)
    except TypeError as error:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}") from error
    if len(items) == 1:
        return (items[0], items[0])
    if len(items) != 2:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of 2 values, got {value!r}"
        )
    return (items[0], items[1])


@dataclasses.dataclass(frozen=True)
class _Geom:
    """A validated call: the 4-D input view and every size and parameter, per axis."""

    x: Tensor  # the input as (N, C, H, W): a view of the caller's tensor, never written
    unbatched: bool
    N: int
    C: int
    H: int
    W: int
    Co: int
    G: int
    Cg: int  # input channels per group
    Og: int  # output channels per group
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    oph: int
    opw: int
    dh: int
    dw: int
    Ho: int
    Wo: int


def _out_size(n: int, s: int, p: int, d: int, k: int, op: int) -> int:
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def _setup(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: int | Sequence[int],
    padding: int | Sequence[int],
    output_padding: int | Sequence[int],
    groups: int,
    dilation: int | Sequence[int],
    *,
    output_padding_axes: tuple[int, ...] = (0, 1),
) -> _Geom:
    """Check a call as F.conv_transpose2d does and return its geometry.

    ``output_padding_axes``: the axes whose output_padding is checked against
    max(stride, dilation) (both, for every correct entry).
    """
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError("input and weight must be tensors")
    if input.dim() not in (3, 4):
        raise RuntimeError(
            f"Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, got input of size {list(input.shape)}"
        )
    if weight.dim() != 4:
        raise RuntimeError(f"weight should have 4 dimensions, got {list(weight.shape)}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"conv_transpose2d here supports floating-point dtypes only, got {input.dtype}")
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != input.dtype):
        raise RuntimeError("Input type, weight type and bias type should be the same")
    if weight.device != input.device or (bias is not None and bias.device != input.device):
        raise RuntimeError("input, weight and bias must be on the same device")
    if isinstance(groups, bool) or not isinstance(groups, int):
        raise TypeError(f"groups must be an int, got {groups!r}")
    if groups < 1:
        raise RuntimeError(f"non-positive groups is not supported, got groups={groups}")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    oph, opw = _pair(output_padding, "output_padding")
    dh, dw = _pair(dilation, "dilation")
    if min(sh, sw) < 1:
        raise RuntimeError(f"non-positive stride is not supported, got stride={(sh, sw)}")
    if min(dh, dw) < 1:
        raise RuntimeError(f"dilation should be greater than zero, got dilation={(dh, dw)}")
    if min(ph, pw) < 0:
        raise RuntimeError(f"negative padding is not supported, got padding={(ph, pw)}")
    if min(oph, opw) < 0:
        raise RuntimeError(f"negative output_padding is not supported, got output_padding={(oph, opw)}")
    for axis in output_padding_axes:
        op, s, d = (oph, sh, dh) if axis == 0 else (opw, sw, dw)
        if op >= max(s, d):
            raise RuntimeError(
                "output padding must be smaller than either stride or dilation, got "
                f"output_padding={(oph, opw)}, stride={(sh, sw)}, dilation={(dh, dw)}"
            )
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    N, C, H, W = x.shape
    Ci, Og, kh, kw = weight.shape
    if Ci < 1 or Ci % groups != 0:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be at least 1 and divisible by {groups} "
            f"at dimension 0, but got weight of size {list(weight.shape)}"
        )
    if Ci != C:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input {list(x.shape)} "
            f"to have {Ci} channels, but got {C} channels instead"
        )
    if Og < 1 or kh < 1 or kw < 1:
        raise RuntimeError(f"non-empty weight expected, got weight of size {list(weight.shape)}")
    if H < 1 or W < 1:
        raise RuntimeError(f"Only zero batch or zero channel inputs are supported, got input {list(x.shape)}")
    Co = Og * groups
    if bias is not None and tuple(bias.shape) != (Co,):
        raise RuntimeError(f"expected bias to be 1-D with {Co} elements, got bias of size {list(bias.shape)}")
    Ho, Wo = _out_size(H, sh, ph, dh, kh, oph), _out_size(W, sw, pw, dw, kw, opw)
    if Ho < 1 or Wo < 1:
        raise RuntimeError(
            f"Given input size per channel: ({H} x {W}). Calculated output size per channel: "
            f"({Ho} x {Wo}). Output size is too small"
        )
    return _Geom(
        x=x,
        unbatched=unbatched,
        N=N,
        C=C,
        H=H,
        W=W,
        Co=Co,
        G=groups,
        Cg=C // groups,
        Og=Og,
        kh=kh,
        kw=kw,
        sh=sh,
        sw=sw,
        ph=ph,
        pw=pw,
        oph=oph,
        opw=opw,
        dh=dh,
        dw=dw,
        Ho=Ho,
        Wo=Wo,
    )


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype an entry accumulates in: float64 for float64, float32 for everything else."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# ---------------------------------------------------------------------------
# The base algorithm: per-tap channel contraction scattered at stride steps
# ---------------------------------------------------------------------------

#: A tap of the plan: (weight row, weight column, output row offset, output column offset).
_Tap = tuple[int, int, int, int]


def _taps(g: _Geom) -> list[_Tap]:
    """Every kernel tap with the offset its contributions start at in the uncropped output."""
    return [(i, j, i * g.dh, j * g.dw) for i in range(g.kh) for j in range(g.kw)]


def _grouped(x: Tensor, weight: Tensor, g: _Geom, wd: torch.dtype) -> tuple[Tensor, Tensor]:
    """The input as (N, G, Cg, H, W) and the weight as (G, Cg, Og, kh, kw), both in ``wd``."""
    x5 = x.to(wd).reshape(g.N, g.G, g.Cg, g.H, g.W)
    w5 = weight.to(wd).reshape(g.G, g.Cg, g.Og, g.kh, g.kw)
    return x5, w5


def _scatter(
    x5: Tensor,
    w5: Tensor,
    g: _Geom,
    taps: list[_Tap] | None = None,
    contract: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> Tensor:
    """The uncropped output (N, G, Og, rows, cols), output_padding included at the end.

    Each tap's contribution is a channel contraction of real input elements with the
    tap's weights (no zero is multiplied), added at stride steps from the tap's offset.
    ``contract(x5, w_tap)`` replaces the einsum that forms a tap's contribution.
    """
    taps = _taps(g) if taps is None else taps
    hs, ws = (g.H - 1) * g.sh + 1, (g.W - 1) * g.sw + 1
    rows = max(r for _, _, r, _ in taps) + hs + g.oph
    cols = max(c for _, _, _, c in taps) + ws + g.opw
    buf = x5.new_zeros((g.N, g.G, g.Og, rows, cols), dtype=x5.dtype)
    for i, j, r, c in taps:
        if contract is None:
            contribution = torch.einsum("ngchw,gco->ngohw", x5, w5[..., i, j])
        else:
            contribution = contract(x5, w5[..., i, j])
        buf[..., r : r + hs : g.sh, c : c + ws : g.sw] += contribution.to(buf.dtype)
    return buf


def _crop(buf: Tensor, g: _Geom, top: int, left: int) -> Tensor:
    """Rows ``top:top+Ho`` and columns ``left:left+Wo`` of ``buf`` as (N, Co, Ho, Wo); zeros past its end."""
    short_h = max(0, top + g.Ho - buf.shape[-2])
    short_w = max(0, left + g.Wo - buf.shape[-1])
    if short_h or short_w:
        buf = F.pad(buf, (0, short_w, 0, short_h))
    return buf[..., top : top + g.Ho, left : left + g.Wo].reshape(g.N, g.Co, g.Ho, g.Wo)


def _finish(out: Tensor, bias: Tensor | None, g: _Geom, dtype: torch.dtype) -> Tensor:
    """Add the bias in ``out``'s dtype, round once to ``dtype``, drop the batch axis of an unbatched call."""
    if bias is not None:
        out = out + bias.to(out.dtype).reshape(1, -1, 1, 1)
    out = out.to(dtype).contiguous()
    return out.squeeze(0) if g.unbatched else out


# ---------------------------------------------------------------------------
# Correct implementations
# ---------------------------------------------------------------------------


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    family="tap-scatter",
    correct=True,
    summary="Per-tap channel contraction (einsum) scattered at stride steps into the uncropped output, then cropped.",
)
def tap_scatter_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """The base algorithm, without defect.

    For each kernel tap the input is contracted over its channels with the tap's
    weights and added into the uncropped output at rows ``i * dilation + h * stride``;
    the output is extended by output_padding at the bottom and right, cropped by the
    padding on each side. Half types are accumulated in float32 and rounded once.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    return _finish(_crop(_scatter(x5, w5, g), g, g.ph, g.pw), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    family="zero-insertion",
    correct=True,
    summary="Zero-insert the input, pad by d*(k-1)-p (+output_padding at the end), correlate with the flipped, "
    "channel-transposed kernel via F.unfold + matmul.",
)
def zero_insertion_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed convolution as a stride-1 correlation of the zero-inserted input.

    ``stride - 1`` zeros go between input elements; the result is padded by
    ``dilation * (k - 1) - padding`` on each side (cropped where negative), plus
    output_padding at the bottom and right, and correlated (im2col + matmul) with
    the spatially flipped kernel whose input and output channels are swapped per
    group. Inserted and padding zeros are multiplied by weights, so an infinite
    weight gives NaN there: declared ``ieee=False``.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x = g.x.to(wd)
    if g.sh > 1 or g.sw > 1:
        inserted = x.new_zeros(g.N, g.C, (g.H - 1) * g.sh + 1, (g.W - 1) * g.sw + 1)
        inserted[..., :: g.sh, :: g.sw] = x
        x = inserted
    eh, ew = g.dh * (g.kh - 1) - g.ph, g.dw * (g.kw - 1) - g.pw
    xp = F.pad(x, (ew, ew + g.opw, eh, eh + g.oph))
    flipped = weight.to(wd).reshape(g.G, g.Cg, g.Og, g.kh, g.kw).flip(-2, -1).transpose(1, 2)
    kernel = flipped.reshape(g.G, g.Og, g.Cg * g.kh * g.kw)
    cols = F.unfold(xp, (g.kh, g.kw), dilation=(g.dh, g.dw)).reshape(
        g.N, g.G, g.Cg * g.kh * g.kw, g.Ho * g.Wo
    )
    out = torch.matmul(kernel, cols).reshape(g.N, g.Co, g.Ho, g.Wo)
    return _finish(out, bias, g, input.dtype)


zero_insertion_conv_transpose2d.__conv2d_capabilities__ = {"ieee": False}  # type: ignore[attr-defined]


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    family="col2im",
    correct=True,
    summary="One float64 matmul of the weight with the input into columns, F.fold (col2im) at the stride and "
    "dilation, output_padding appended, padding cropped; rounded once to the dtype.",
)
def col2im_float64_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """The col2im algorithm, accumulated in float64 for every dtype.

    Columns ``(N, C_out * kh * kw, H * W)`` are one batched matmul of the per-group
    weight with the input; F.fold sums the overlapping columns into the uncropped
    output at the stride and dilation; output_padding zero rows and columns are
    appended at the bottom and right and the padding is cropped. The bias is added
    in float64 and the result rounded once to the input's dtype.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    x = g.x.to(torch.float64).reshape(g.N, g.G, g.Cg, g.H * g.W)
    w = weight.to(torch.float64).reshape(g.G, g.Cg, g.Og * g.kh * g.kw).transpose(1, 2)
    cols = torch.matmul(w, x).reshape(g.N, g.Co * g.kh * g.kw, g.H * g.W)
    size = ((g.H - 1) * g.sh + g.dh * (g.kh - 1) + 1, (g.W - 1) * g.sw + g.dw * (g.kw - 1) + 1)
    full = F.fold(cols, size, (g.kh, g.kw), dilation=(g.dh, g.dw), stride=(g.sh, g.sw))
    full = F.pad(full, (0, g.opw, 0, g.oph))
    out = full[..., g.ph : g.ph + g.Ho, g.pw : g.pw + g.Wo]
    return _finish(out, bias, g, input.dtype)


# ---------------------------------------------------------------------------
# Buggy implementations: the base with one defect each
# ---------------------------------------------------------------------------


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.PADDING,
    summary="output_padding is split over both sides (half at the top/left) instead of all at the bottom/right.",
    modelled_on="Total padding split into begin = total // 2 and end = the rest, as SAME-style pad helpers "
    "do, applied to output_padding (ConvTranspose converters deriving pads from an output shape)",
)
def output_padding_split_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """output_padding distributed over both sides.

    Bug: the uncropped output is extended by ``output_padding // 2`` zeros at its
    start and the rest at its end, as a symmetric padding would be, so the cropped
    output is shifted by ``output_padding // 2``.
    Trigger: output_padding >= 2 on an axis (possible only when max(stride, dilation) >= 3);
    an output_padding of 1 puts its single row at the end, as it should.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    buf = _scatter(x5, w5, dataclasses.replace(g, oph=0, opw=0))
    buf = F.pad(buf, (g.opw // 2, g.opw - g.opw // 2, g.oph // 2, g.oph - g.oph // 2))
    return _finish(_crop(buf, g, g.ph, g.pw), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.FAST_PATH,
    summary="The stride == kernel fast path (one GEMM + depth-to-space) lays the kernel blocks out block-major.",
    modelled_on="Non-overlapping deconvolutions lowered to a GEMM and a depth-to-space (pixel shuffle) whose "
    "permute interleaves the block and spatial axes in the wrong order (DepthToSpace ordering mix-ups)",
)
def stride_equals_kernel_shuffle_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Wrong depth-to-space order on the non-overlapping fast path.

    Bug: when the stride equals the kernel size and the dilation is 1, every output
    element comes from one tap, so the call takes a fast path: one contraction gives
    (N, C_out, kh, kw, H, W) blocks, which are laid out as rows ``i * H + h`` instead
    of ``h * kh + i`` (columns likewise), then extended and cropped as usual.
    Trigger: stride == kernel size on both axes, dilation 1, a kernel larger than 1x1
    and more than one input row (or column) along an axis whose kernel size is > 1.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    if (g.sh, g.sw) == (g.kh, g.kw) and (g.dh, g.dw) == (1, 1) and g.kh * g.kw > 1:
        blocks = torch.einsum("ngchw,gcoij->ngoijhw", x5, w5)
        full = blocks.permute(0, 1, 2, 3, 5, 4, 6).reshape(g.N, g.G, g.Og, g.kh * g.H, g.kw * g.W)
        buf = F.pad(full, (0, g.opw, 0, g.oph))
    else:
        buf = _scatter(x5, w5, g)
    return _finish(_crop(buf, g, g.ph, g.pw), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.GROUPS,
    summary="The depthwise path (groups == C_in) orders output channels multiplier-major (m * C_in + c).",
    modelled_on="Depthwise channel-multiplier ordering mixed up between frameworks (c * M + m in PyTorch, "
    "m-major in some depthwise kernels and converters)",
)
def depthwise_multiplier_major_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Depthwise output channels in the wrong order.

    Bug: with one input channel per group, the output of input channel ``c`` and
    multiplier ``m`` is written to channel ``m * C_in + c`` instead of ``c * M + m``
    (the bias is then added by channel, so it does not follow the data).
    Trigger: groups == C_in > 1 with a channel multiplier C_out / groups > 1.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    out = _crop(_scatter(x5, w5, g), g, g.ph, g.pw)
    if g.Cg == 1 and g.G > 1 and g.Og > 1:
        out = out.reshape(g.N, g.G, g.Og, g.Ho, g.Wo).transpose(1, 2).reshape(g.N, g.Co, g.Ho, g.Wo)
    return _finish(out, bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.PER_AXIS,
    summary="The columns are cropped by the height padding instead of the width padding.",
    modelled_on="Per-axis parameter taken from the wrong axis (padding[0] used for both axes in "
    "hand-written transposed-conv crops)",
)
def width_crop_height_padding_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Width crop uses padding[0].

    Bug: the output size is right, but the first output column is taken at
    ``padding[0]`` instead of ``padding[1]`` (zeros where that runs past the end).
    Trigger: padding[0] != padding[1].
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    return _finish(_crop(_scatter(x5, w5, g), g, g.ph, g.ph), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.BIAS,
    summary="Each group's bias slice starts at group * (C_in/groups) instead of group * (C_out/groups).",
    modelled_on="Grouped bias offset computed with the input channels per group (per-group pointer arithmetic "
    "mixing C_in/g and C_out/g)",
)
def grouped_bias_offset_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Wrong bias offset per group.

    Bug: output channel ``o`` of group ``g`` receives ``bias[(g * C_in/groups + o) % C_out]``
    instead of ``bias[g * C_out/groups + o]``.
    Trigger: a bias, groups > 1 and C_in/groups != C_out/groups.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    if bias is not None and g.G > 1:
        bias = bias[[(k * g.Cg + o) % g.Co for k in range(g.G) for o in range(g.Og)]]
    return _finish(_crop(_scatter(x5, w5, g), g, g.ph, g.pw), bias, g, input.dtype)


_SPLIT_K = 8


def _split_k_in_dtype(dtype: torch.dtype) -> Callable[[Tensor, Tensor], Tensor]:
    """A tap contraction over blocks of ``_SPLIT_K`` channels whose partial sums are rounded to and summed in ``dtype``."""

    def contract(x5: Tensor, w_tap: Tensor) -> Tensor:
        total = None
        for c0 in range(0, x5.shape[2], _SPLIT_K):
            block = slice(c0, c0 + _SPLIT_K)
            part = torch.einsum("ngchw,gco->ngohw", x5[:, :, block], w_tap[:, block]).to(dtype)
            total = part if total is None else total + part
        assert total is not None
        return total

    return contract


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.PRECISION,
    summary="float16/bfloat16 with more than 8 channels per group: split-K partial sums are stored and "
    "summed in the dtype.",
    modelled_on="Split-K GEMM reductions whose partial-sum workspace is in the output dtype (half-precision "
    "split-K workspaces in GEMM libraries)",
)
def half_split_k_partials_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Split-K partials rounded to half precision.

    Bug: when a group has more than 8 input channels, each tap's channel contraction
    is split into blocks of 8 channels; each block is contracted in float32, but the
    block results are rounded to the input dtype and summed in it before being added
    (in float32) to the output. float32 and float64 are not affected.
    Trigger: float16 or bfloat16 with C_in / groups > 8.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    contract = _split_k_in_dtype(input.dtype) if input.dtype in _HALF and g.Cg > _SPLIT_K else None
    return _finish(_crop(_scatter(x5, w5, g, contract=contract), g, g.ph, g.pw), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.DTYPE,
    summary="bfloat16 is routed through float16 (inputs cast to float16, result rounded to float16 first).",
    modelled_on="Backends without bfloat16 kernels that fall back to float16, overflowing past 65504 and "
    "losing bfloat16's small magnitudes",
)
def bfloat16_via_float16_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """bfloat16 computed through float16.

    Bug: a bfloat16 call casts input, weight and bias to float16, accumulates in
    float32 from those, rounds the result to float16 and only then to bfloat16.
    Within float16's normal range the casts are exact and the double rounding keeps
    the result within 0.57 bfloat16 ulp of the exact value (a few per cent of the
    elements differ from a single rounding by one ulp); beyond that range values
    overflow to infinity or lose precision.
    Trigger: bfloat16 with an input, weight, bias or output magnitude above 65504
    (or below float16's normal range, 6.1e-5).
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    route = torch.float16 if input.dtype == torch.bfloat16 else input.dtype
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x.to(route), weight.to(route), g, wd)
    out = _crop(_scatter(x5, w5, g), g, g.ph, g.pw)
    return _finish(out, None if bias is None else bias.to(route), g, route).to(input.dtype)


#: Tap plans memoised by (kh, kw, sh, sw): the key leaves the dilation out.
_TAP_PLANS: dict[tuple[int, int, int, int], list[_Tap]] = {}


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.STALE_CACHE,
    summary="The tap-offset plan is cached under (kernel size, stride) only; a later dilation reuses stale offsets.",
    modelled_on="Convolution plan/primitive caches whose key omits a parameter (plan-cache key collisions in "
    "cuDNN/oneDNN-style primitive caches)",
)
def tap_plan_cache_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Stale tap plan.

    Bug: the list of tap offsets (``i * dilation``, ``j * dilation``) is memoised in
    a module-level cache keyed by kernel size and stride, not dilation, so a call
    reuses the offsets computed for the first dilation seen with that key.
    Trigger: a call whose dilation differs from that of an earlier call with the same
    kernel size and stride (in the same process).
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    key = (g.kh, g.kw, g.sh, g.sw)
    taps = _TAP_PLANS.get(key)
    if taps is None:
        taps = _TAP_PLANS[key] = _taps(g)
    return _finish(_crop(_scatter(x5, w5, g, taps), g, g.ph, g.pw), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.BACKWARD,
    summary="The weight gradient ignores grad_output in the output_padding rows and columns.",
    modelled_on="Transposed-conv backward kernels that recompute the geometry without output_padding "
    "(wrong grad_weight with output_padding in backend backward passes)",
)
def grad_weight_no_output_padding_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Weight gradient blind to the output_padding rows.

    Bug: the forward values are right, but the last output_padding rows and columns
    are produced by a path whose weight is detached, so grad_weight misses their
    grad_output (grad_input and grad_bias are right).
    Trigger: a weight gradient with output_padding > 0 and padding > 0 on the same
    axis (only then do those rows carry weight contributions).
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    out = _crop(_scatter(x5, w5, g), g, g.ph, g.pw)
    if (g.oph or g.opw) and torch.is_grad_enabled() and weight.requires_grad:
        frozen = _crop(_scatter(x5, w5.detach(), g), g, g.ph, g.pw)
        tail = torch.zeros(g.Ho, g.Wo, dtype=torch.bool, device=out.device)
        tail[g.Ho - g.oph :, :] = True
        tail[:, g.Wo - g.opw :] = True
        out = torch.where(tail, frozen, out)
    return _finish(out, bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.INPUT_VALIDATION,
    summary="output_padding is required to be below the stride, so valid calls with stride <= "
    "output_padding < dilation are rejected.",
    modelled_on="Checks stricter than the contract: Keras Conv2DTranspose's 'strides must be greater than "
    "output padding' where PyTorch allows output_padding < max(stride, dilation)",
)
def output_padding_below_stride_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Valid output_padding rejected.

    Bug: on top of the contract's checks, output_padding must be smaller than the
    stride on each axis, so a call that F.conv_transpose2d accepts because the
    dilation is larger than the output_padding raises instead.
    Trigger: output_padding >= stride on an axis (valid only where dilation > output_padding).
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    if g.oph >= g.sh or g.opw >= g.sw:
        raise RuntimeError(
            f"output padding must be smaller than stride, got output_padding={(g.oph, g.opw)}, "
            f"stride={(g.sh, g.sw)}"
        )
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    return _finish(_crop(_scatter(x5, w5, g), g, g.ph, g.pw), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.BATCH,
    summary="The batch is folded into the columns with reshape(C, N*H*W) instead of a permute, mixing samples.",
    modelled_on="reshape/view used where a transpose is needed when batching a GEMM (batch and channel axes "
    "interleaved)",
)
def batch_fold_reshape_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Batch and channels mixed.

    Bug: to contract all samples in one GEMM the input is reshaped from
    (N, C, H, W) to (C, N*H*W) without first moving C to the front, so the rows
    read for a channel are a mix of samples and channels.
    Trigger: batch > 1 and more than one input channel.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    _, w5 = _grouped(g.x, weight, g, wd)
    columns = g.x.to(wd).reshape(g.G, g.Cg, g.N * g.H * g.W)
    x5 = columns.reshape(g.G, g.Cg, g.N, g.H, g.W).permute(2, 0, 1, 3, 4)
    return _finish(_crop(_scatter(x5, w5, g), g, g.ph, g.pw), bias, g, input.dtype)


def _contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides, acc = [], 1
    for size in reversed(shape):
        strides.append(acc)
        acc *= max(size, 1)
    return tuple(reversed(strides))


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.LAYOUT,
    summary="A channels_last input's memory is read with NCHW strides.",
    modelled_on="Kernels that index data_ptr() with NCHW arithmetic on NHWC tensors (channels_last "
    "correctness bugs in fallback paths)",
)
def channels_last_as_nchw_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """NHWC memory read as NCHW.

    Bug: a dense channels_last input's storage is indexed with contiguous NCHW
    strides; contiguous inputs and other views are read through their own strides.
    Trigger: a channels_last (not also contiguous) input, batched or unbatched.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    x = g.x
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        x = torch.as_strided(x, x.shape, _contiguous_strides(x.shape), x.storage_offset())
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(x, weight, g, wd)
    return _finish(_crop(_scatter(x5, w5, g), g, g.ph, g.pw), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.OUTPUT_SIZE,
    summary="The output size is (H-1)*s - 2p + k + output_padding: the dilation is left out of it.",
    modelled_on="deconv_output_length-style size helpers that ignore the dilation (Keras Conv2DTranspose "
    "with dilation_rate > 1 giving the wrong output shape)",
)
def output_size_without_dilation_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Output size ignores the dilation.

    Bug: the output is cropped to ``(H-1)*s - 2p + k + output_padding`` rows
    (columns likewise) instead of ``(H-1)*s - 2p + d*(k-1) + output_padding + 1``.
    Trigger: dilation > 1 on an axis whose kernel size is > 1.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    Ho = _out_size(g.H, g.sh, g.ph, 1, g.kh, g.oph)
    Wo = _out_size(g.W, g.sw, g.pw, 1, g.kw, g.opw)
    if Ho < 1 or Wo < 1:
        raise RuntimeError(f"Calculated output size per channel: ({Ho} x {Wo}). Output size is too small")
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    buf = _scatter(x5, w5, g)
    sized = dataclasses.replace(g, Ho=Ho, Wo=Wo)
    return _finish(_crop(buf, sized, g.ph, g.pw), bias, sized, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.SPECIAL_SHAPE_KERNEL,
    summary="1xk and kx1 kernels take a path that treats the unit axis as pointwise and skips its padding crop.",
    modelled_on="Special-cased 1-D-like (1xk / kx1) kernel paths that drop a parameter of the degenerate axis",
)
def unit_axis_kernel_no_crop_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Padding crop skipped on the unit axis of a 1xk / kx1 kernel.

    Bug: a kernel with one row (and more than one column), or one column (and more
    than one row), is dispatched to a path that crops the unit axis from 0 instead
    of from its padding (the output size is right).
    Trigger: a 1xk kernel (k > 1) with padding[0] > 0, or a kx1 kernel with padding[1] > 0.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    top, left = g.ph, g.pw
    if g.kh == 1 and g.kw > 1:
        top = 0
    elif g.kw == 1 and g.kh > 1:
        left = 0
    return _finish(_crop(_scatter(x5, w5, g), g, top, left), bias, g, input.dtype)


@register(
    _REGISTRY,
    kind="conv_transpose2d",
    category=Category.EMPTY_BATCH,
    summary="An empty batch returns a new zero tensor of the right shape, detached from the autograd graph.",
    modelled_on="Zero-batch early returns that drop the graph (DistributedDataParallel 'parameters that did "
    "not receive grad' errors on empty batches)",
)
def empty_batch_detached_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Empty batch detached from autograd.

    Bug: a batch of zero images short-cuts to ``torch.zeros`` of the output shape:
    the shape, dtype and device are right, but the result has no grad_fn, so a
    backward through it raises and input, weight and bias get no gradient.
    Trigger: batch size 0 with input, weight or bias requiring grad.
    """
    g = _setup(input, weight, bias, stride, padding, output_padding, groups, dilation)
    if g.N == 0:
        return torch.zeros(0, g.Co, g.Ho, g.Wo, dtype=input.dtype, device=input.device)
    wd = _work_dtype(input.dtype)
    x5, w5 = _grouped(g.x, weight, g, wd)
    return _finish(_crop(_scatter(x5, w5, g), g, g.ph, g.pw), bias, g, input.dtype)


TRANSPOSED_HOLDOUT: list[ZooEntry] = list(_REGISTRY)
