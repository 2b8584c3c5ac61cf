"""Hold-out zoo: buggy and correct conv2d / corr2d implementations.

Every buggy entry behaves exactly like ``torch.nn.functional.conv2d`` except
under its trigger, where it reproduces a bug class seen in real convolution
kernels. Every correct entry honours the full ``F.conv2d`` contract without
calling any torch convolution operator, and rounds differently from it.

Run ``python -m benchmarks.holdout.zoo`` from the repository root to show, for
each entry, one concrete input where the bug is visible (or, for a correct
entry, that it matches a float64 reference).
"""

from __future__ import annotations

import dataclasses
import operator
import random
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._entry import ZooEntry, register


def _finite_only(fn):
    """Declare ``ieee=False``: a transform or a compensated sum turns an infinity into NaN, so
    the special-value and overflow laws do not apply (declared after those laws were added)."""
    fn.__conv2d_capabilities__ = {"ieee": False}
    return fn


__all__ = ["HOLDOUT"]

_REGISTRY: list[ZooEntry] = []

_HALF = (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------------------
# Argument handling shared by every entry
# ---------------------------------------------------------------------------


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, bool | str):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    items = tuple(operator.index(v) for v in value)  # a float is refused, as F.conv2d refuses it
    if len(items) == 1:
        return (items[0], items[0])
    if len(items) != 2:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of 2 values")
    return (items[0], items[1])


@dataclasses.dataclass(frozen=True)
class _Spec:
    x: Tensor  # 4-D input (a view of the caller's tensor; never written)
    unbatched: bool
    N: int
    C: int
    H: int
    W: int
    Co: int
    G: int
    Cg: int
    Og: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    pads: tuple[int, int, int, int]  # top, bottom, left, right
    Ho: int
    Wo: int

    @property
    def stride(self) -> tuple[int, int]:
        return (self.sh, self.sw)

    @property
    def dilation(self) -> tuple[int, int]:
        return (self.dh, self.dw)


def _setup(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: int | Sequence[int],
    padding: str | int | Sequence[int],
    dilation: int | Sequence[int],
    groups: int,
) -> _Spec:
    if input.dim() not in (3, 4):
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv2d, got {input.dim()}D")
    if weight.dim() != 4:
        raise RuntimeError(f"weight should have 4 dimensions, got {weight.dim()}")
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != input.dtype):
        raise RuntimeError("Input type, weight type and bias type should be the same")
    if not isinstance(groups, int) or groups < 1:
        raise RuntimeError("non-positive groups is not supported")
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    N, C, H, W = x.shape
    Co, Cg, kh, kw = weight.shape
    if Cg * groups != C or Co % groups != 0:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{list(x.shape)} "
            f"to have {Cg * groups} channels"
        )
    if Co == 0 or kh == 0 or kw == 0:
        raise RuntimeError(
            f"expected weight to be at least 1 at dimensions 0, 2 and 3, got {list(weight.shape)}"
        )
    if H == 0 or W == 0:
        raise RuntimeError(f"Only zero batch or zero channel inputs are supported, got input {list(x.shape)}")
    if bias is not None and tuple(bias.shape) != (Co,):
        raise RuntimeError(
            f"Given weight of size {list(weight.shape)}, expected bias to be 1-D with {Co} elements"
        )
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    if min(sh, sw) < 1:
        raise RuntimeError("non-positive stride is not supported")
    if min(dh, dw) < 1:
        raise RuntimeError("dilation should be greater than zero")
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if (sh, sw) != (1, 1):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            th, tw = dh * (kh - 1), dw * (kw - 1)
            pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            raise RuntimeError(f"Invalid padding string {padding!r}")
    else:
        ph, pw = _pair(padding, "padding")
        if min(ph, pw) < 0:
            raise RuntimeError("negative padding is not supported")
        pads = (ph, ph, pw, pw)
    Ho = (H + pads[0] + pads[1] - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + pads[2] + pads[3] - dw * (kw - 1) - 1) // sw + 1
    if Ho < 1 or Wo < 1:
        raise RuntimeError("Kernel size can't be greater than actual input size")
    return _Spec(x, unbatched, N, C, H, W, Co, groups, Cg, Co // groups, kh, kw, sh, sw, dh, dw, pads, Ho, Wo)


def _finish(out: Tensor, s: _Spec) -> Tensor:
    return out.squeeze(0) if s.unbatched else out


def _engine(
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    s: _Spec,
    *,
    stride: tuple[int, int] | None = None,
    pads: tuple[int, int, int, int] | None = None,
    dilation: tuple[int, int] | None = None,
    groups: int | None = None,
) -> Tensor:
    """F.conv2d on a 4-D input with explicit (top, bottom, left, right) padding."""
    stride = s.stride if stride is None else stride
    dilation = s.dilation if dilation is None else dilation
    groups = s.G if groups is None else groups
    t, bo, le, r = s.pads if pads is None else pads
    if t == bo and le == r:
        return F.conv2d(x, w, b, stride, (t, le), dilation, groups)
    return F.conv2d(F.pad(x, (le, r, t, bo)), w, b, stride, 0, dilation, groups)


def _reference(input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    return _finish(_engine(s.x, weight, bias, s), s)


def _add_bias(out: Tensor, bias: Tensor | None) -> Tensor:
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _windows(xp: Tensor, s: _Spec) -> Tensor:
    """Strided window view of a padded input: (N, G, Cg, Ho, Wo, kh, kw)."""
    eh, ew = s.dh * (s.kh - 1) + 1, s.dw * (s.kw - 1) + 1
    v = xp.unfold(2, eh, s.sh).unfold(3, ew, s.sw)[:, :, : s.Ho, : s.Wo, :: s.dh, :: s.dw]
    return v.reshape(s.N, s.G, s.Cg, s.Ho, s.Wo, s.kh, s.kw)


def _padded(x: Tensor, s: _Spec) -> Tensor:
    t, b, le, r = s.pads
    return F.pad(x, (le, r, t, b))


_BLOCK_ELEMS = 1 << 22


def _row_blocks(s: _Spec) -> list[tuple[int, int]]:
    """Output-row ranges whose materialised windows stay under ``_BLOCK_ELEMS`` elements."""
    per_row = max(s.N * s.C * s.Wo * s.kh * s.kw, 1)
    rows = max(1, _BLOCK_ELEMS // per_row)
    return [(r0, min(r0 + rows, s.Ho)) for r0 in range(0, s.Ho, rows)]


# ---------------------------------------------------------------------------
# Buggy conv2d implementations
# ---------------------------------------------------------------------------


@register(
    _REGISTRY,
    category=Category.TILE_REMAINDER,
    summary="Output columns are produced 8 at a time; the scalar remainder loop stops one column early.",
    modelled_on="Vectorised micro-kernel remainder loops (XNNPACK/oneDNN-style) with an off-by-one end bound",
)
def tail_tile_width(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Last output column left at zero.

    Bug: the width loop runs full 8-wide tiles, then a 4-wide vector step, then
    a scalar loop whose end bound is ``Wo - 1``. The last column keeps the
    zero it was allocated with.
    Trigger: more than 8 output columns and ``Wo % 8`` in {5, 6, 7}.
    Models: remainder (tail) handling in vectorised micro-kernels.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    out = _engine(s.x, weight, bias, s)
    if s.Wo > 8 and s.Wo % 8 >= 5:
        out = torch.cat([out[..., :-1], torch.zeros_like(out[..., -1:])], dim=-1)
    return _finish(out, s)


@register(
    _REGISTRY,
    category=Category.TILE_REMAINDER,
    summary="Flat input offsets are narrowed to 16 bits, so elements past 65536 alias earlier ones.",
    modelled_on="int32 offset overflow in conv kernels on large tensors (e.g. pytorch/pytorch cuDNN/"
    "depthwise 2**31-element bugs), with the threshold scaled down",
)
def index_wrap_16bit(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Input offsets wrap modulo 2**16.

    Bug: the loader computes the flat element offset into the (contiguous)
    input in a narrow integer type, so element ``g`` is read from ``g mod 2**16``.
    Trigger: an input of more than 65536 elements.
    Models: 32-bit index overflow at a size threshold (the 2**31 limit of many
    GPU conv kernels), scaled down so it is reachable.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    x = s.x
    if x.numel() > 1 << 16:
        idx = torch.arange(x.numel(), device=x.device) & 0xFFFF
        x = x.contiguous().reshape(-1)[idx].reshape(x.shape)
    return _finish(_engine(x, weight, bias, s), s)


def _contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides, acc = [], 1
    for size in reversed(shape):
        strides.append(acc)
        acc *= max(size, 1)
    return tuple(reversed(strides))


@register(
    _REGISTRY,
    category=Category.LAYOUT,
    summary="A channels_last input whose channel count is not a multiple of 4 is read as if it were NCHW.",
    modelled_on="Kernels that use data_ptr() with NCHW index math on NHWC tensors "
    "(pytorch/pytorch channels_last correctness issues in fallback paths)",
)
def channels_last_reorder(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """NHWC memory reinterpreted as NCHW.

    Bug: the fast NHWC path needs ``C % 4 == 0``; the fallback path for
    other channel counts assumes a contiguous NCHW buffer and ignores strides.
    Trigger: a channels_last (not also contiguous) input with ``C % 4 != 0``.
    Models: raw-pointer index arithmetic that ignores the memory format.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    x = s.x
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous() and s.C % 4 != 0:
        x = torch.as_strided(x, x.shape, _contiguous_strides(x.shape), x.storage_offset())
    return _finish(_engine(x, weight, bias, s), s)


@register(
    _REGISTRY,
    category=Category.LAYOUT,
    summary="A contiguous input with a non-zero storage offset is read from the start of its storage.",
    modelled_on="Extensions that take storage().data_ptr() instead of tensor.data_ptr() "
    "(sliced/viewed inputs in custom CUDA ops)",
)
def storage_offset_dropped(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Storage offset ignored for contiguous inputs.

    Bug: the contiguous fast path takes the base pointer of the storage, not
    of the tensor, so a view that starts inside a larger buffer reads the
    wrong elements.
    Trigger: a contiguous input whose ``storage_offset()`` is not 0.
    Models: storage-pointer versus tensor-pointer confusion in custom ops.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    x = s.x
    if x.is_contiguous() and x.storage_offset() != 0:
        x = torch.as_strided(x, x.shape, x.stride(), 0)
    return _finish(_engine(x, weight, bias, s), s)


@register(
    _REGISTRY,
    category=Category.FAST_PATH,
    summary="The 1x1 grouped GEMM fast path advances the input channel offset by output channels per group.",
    modelled_on="Pointwise (1x1) conv lowered to per-group GEMM with a wrong group stride "
    "(grouped-conv offset bugs in XNNPACK/NNPACK-style kernels)",
)
def pointwise_group_offset(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Wrong input-channel offset per group in the 1x1 path.

    Bug: group ``g`` reads input channels from ``g * (O // groups)`` instead of
    ``g * (C // groups)``; channels past the end read as zero.
    Trigger: a 1x1 kernel with groups > 1 and ``O // groups != C // groups``.
    Models: group offset computed from the wrong dimension in a GEMM lowering.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    if not (s.kh == 1 and s.kw == 1 and s.G > 1 and s.Og != s.Cg):
        return _finish(_engine(s.x, weight, bias, s), s)
    x = s.x
    need = (s.G - 1) * s.Og + s.Cg
    if need > s.C:
        x = torch.cat([x, x.new_zeros(s.N, need - s.C, s.H, s.W)], dim=1)
    outs = [
        _engine(x[:, g * s.Og : g * s.Og + s.Cg], weight[g * s.Og : (g + 1) * s.Og], None, s, groups=1)
        for g in range(s.G)
    ]
    return _finish(_add_bias(torch.cat(outs, dim=1), bias), s)


@register(
    _REGISTRY,
    category=Category.GROUPS,
    summary="Depthwise path maps output channel o to input channel o % C instead of o // multiplier.",
    modelled_on="Channel-multiplier ordering mix-ups between TF depthwise [kh,kw,C,M] and PyTorch [C*M,1,kh,kw]",
)
def depthwise_multiplier_order(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Depthwise with channel multiplier reads the wrong input channel.

    Bug: the depthwise kernel assumes outputs are ordered multiplier-major, so
    output channel ``o`` reads input channel ``o % C``.
    Trigger: ``groups == C > 1`` and ``O == M * C`` with ``M > 1``.
    Models: channel-multiplier layout confusion in depthwise conv converters.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    if not (s.G == s.C and s.C > 1 and s.Og > 1):
        return _finish(_engine(s.x, weight, bias, s), s)
    idx = torch.arange(s.Co, device=s.x.device) % s.C
    x = s.x.index_select(1, idx)
    return _finish(_engine(x, weight, bias, s, groups=s.Co), s)


@register(
    _REGISTRY,
    category=Category.PADDING,
    summary="padding='same' puts the odd extra row/column at the top/left instead of the bottom/right.",
    modelled_on="ONNX auto_pad SAME_UPPER vs SAME_LOWER confusion (onnxruntime / tf2onnx / onnx2pytorch issues)",
)
def same_pad_lower(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """'same' padding split the wrong way round.

    Bug: the odd element of the total 'same' padding goes before the data.
    Trigger: ``padding='same'`` with ``dilation * (k - 1)`` odd on some axis.
    Models: SAME_LOWER used where SAME_UPPER (PyTorch's rule) is required.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    pads = s.pads
    if isinstance(padding, str) and padding == "same":
        t, b, le, r = pads
        pads = (b, t, r, le)
    return _finish(_engine(s.x, weight, bias, s, pads=pads), s)


@register(
    _REGISTRY,
    category=Category.PADDING,
    summary="padding='same' with dilation splits the total as dilation*((k-1)//2) before the data.",
    modelled_on="'same' padding derived from the undilated kernel size (Keras/TF-converter style bugs "
    "with dilated even kernels)",
)
def same_pad_dilated_split(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """'same' padding split computed from the undilated kernel.

    Bug: the leading padding is ``d * ((k - 1) // 2)`` and the trailing one
    takes the rest of ``d * (k - 1)``. Equal to PyTorch's rule for odd k or
    for d = 1, different otherwise.
    Trigger: ``padding='same'`` with an even kernel size and dilation > 1 on the same axis.
    Models: 'same' padding formulas that dilate the half-kernel rather than halving the dilated kernel.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    pads = s.pads
    if isinstance(padding, str) and padding == "same":
        th, tw = s.dh * (s.kh - 1), s.dw * (s.kw - 1)
        top, left = s.dh * ((s.kh - 1) // 2), s.dw * ((s.kw - 1) // 2)
        pads = (top, th - top, left, tw - left)
    return _finish(_engine(s.x, weight, bias, s, pads=pads), s)


@register(
    _REGISTRY,
    category=Category.FAST_PATH,
    summary="The separable-row (1 x k) fast path convolves with the flipped kernel.",
    modelled_on="Convolution vs cross-correlation confusion (scipy.signal.convolve2d / cv2.filter2D "
    "used for a deep-learning conv)",
)
def row_kernel_flipped(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Row-filter path computes a true convolution.

    Bug: 1 x k kernels go through a 1-D filtering routine that flips the taps.
    Trigger: ``kh == 1`` and ``kw > 1`` (with an asymmetric kernel row).
    Models: using convolution where deep learning conv2d means cross-correlation.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    w = weight.flip(-1) if (s.kh == 1 and s.kw > 1) else weight
    return _finish(_engine(s.x, w, bias, s), s)


@register(
    _REGISTRY,
    category=Category.BIAS,
    summary="With groups > 1 every group adds the bias of group 0 (bias offset not advanced per group).",
    modelled_on="Per-group bias pointer not offset in grouped conv epilogues",
)
def grouped_bias_offset(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Bias index is group-local.

    Bug: output channel ``o`` gets ``bias[o % (O // groups)]``.
    Trigger: a bias with groups > 1.
    Models: epilogue bias pointer that is not advanced per group.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    if bias is None or s.G == 1:
        return _finish(_engine(s.x, weight, bias, s), s)
    b = bias[torch.arange(s.Co, device=bias.device) % s.Og]
    return _finish(_engine(s.x, weight, b, s), s)


@register(
    _REGISTRY,
    category=Category.BATCH,
    summary="Batches are processed in blocks of 4; the remainder block skips the bias epilogue.",
    modelled_on="Batch-blocked kernels whose remainder path lacks the fused epilogue",
)
def batch_tail_no_bias(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Remainder samples miss the bias.

    Bug: samples beyond the last full block of 4 are computed by a separate
    remainder path that forgets to add the bias.
    Trigger: batch size > 4, not a multiple of 4, with a bias.
    Models: fused epilogue missing in a remainder loop.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    if bias is None or s.N <= 4 or s.N % 4 == 0:
        return _finish(_engine(s.x, weight, bias, s), s)
    main = 4 * (s.N // 4)
    head = _engine(s.x[:main], weight, bias, s)
    tail = _engine(s.x[main:], weight, None, s)
    return _finish(torch.cat([head, tail], dim=0), s)


@register(
    _REGISTRY,
    category=Category.BATCH,
    summary="Unbatched output is squeezed with squeeze() instead of squeeze(0).",
    modelled_on="Wrappers that add a batch dim then call .squeeze() (drops every size-1 dim)",
)
def unbatched_squeeze_all(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Too many dimensions removed for unbatched input.

    Bug: the batch dimension added for a 3-D input is removed with
    ``squeeze()``, which also removes any other dimension of size 1.
    Trigger: a 3-D input with one output channel or a 1-row / 1-column output.
    Models: the classic ``squeeze()`` vs ``squeeze(0)`` mistake.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    out = _engine(s.x, weight, bias, s)
    return out.squeeze() if s.unbatched else out


@register(
    _REGISTRY,
    category=Category.PRECISION,
    summary="float16/bfloat16 products are accumulated sequentially in the input dtype.",
    modelled_on="Half-precision accumulators in hand-written GEMM/conv kernels "
    "(e.g. Triton tutorial kernels with acc in fp16, pytorch/pytorch bf16 CPU accumulation issues)",
)
def half_accumulate_in_dtype(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Low-precision accumulator for half types.

    Bug: for float16 / bfloat16, every product and every partial sum over the
    reduction (C/groups * kh * kw terms) is rounded to the input dtype.
    Trigger: a float16 or bfloat16 input (grows with the reduction length).
    Models: accumulating in the storage dtype instead of float32.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    if input.dtype not in _HALF:
        return _finish(_engine(s.x, weight, bias, s), s)
    xp = _padded(s.x, s)
    w = weight.reshape(s.G, s.Og, s.Cg, s.kh, s.kw)
    acc = xp.new_zeros(s.N, s.G, s.Og, s.Ho, s.Wo)
    for c in range(s.Cg):
        for i in range(s.kh):
            r0 = i * s.dh
            for j in range(s.kw):
                c0 = j * s.dw
                sl = xp[
                    :,
                    c :: s.Cg,
                    r0 : r0 + (s.Ho - 1) * s.sh + 1 : s.sh,
                    c0 : c0 + (s.Wo - 1) * s.sw + 1 : s.sw,
                ]
                acc = acc + w[None, :, :, c, i, j, None, None] * sl[:, :, None]
    out = _add_bias(acc.reshape(s.N, s.Co, s.Ho, s.Wo), bias)
    return _finish(out, s)


def _round_to_tf32(t: Tensor) -> Tensor:
    """Round a float32 tensor to 10 explicit mantissa bits (nearest-even); gradient passes straight through."""
    bits = t.detach().contiguous().view(torch.int32)
    rounded = ((bits + 0x0FFF + ((bits >> 13) & 1)) & ~0x1FFF).view(torch.float32).reshape(t.shape)
    return t + (rounded - t.detach())


@register(
    _REGISTRY,
    category=Category.PRECISION,
    summary="float32 convolutions with a long reduction silently round inputs to TF32.",
    modelled_on="cuDNN/cuBLAS TF32 enabled by default for float32 conv (torch.backends.cudnn.allow_tf32)",
)
def tf32_large_reduction(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Silent TF32 for float32.

    Bug: when the reduction has at least 64 terms, the float32 path picks a
    tensor-core algorithm that rounds input and weight to TF32 (10-bit
    mantissa) without declaring it.
    Trigger: float32 with ``C/groups * kh * kw >= 64``.
    Models: TF32 enabled by default for float32 convolutions.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    x, w = s.x, weight
    if input.dtype == torch.float32 and s.Cg * s.kh * s.kw >= 64:
        x, w = _round_to_tf32(x), _round_to_tf32(w)
    return _finish(_engine(x, w, bias, s), s)


@register(
    _REGISTRY,
    category=Category.DTYPE,
    summary="For half inputs without bias the float32 accumulator is returned uncast.",
    modelled_on="Custom kernels returning their float32 accumulator for fp16/bf16 inputs "
    "(output dtype contract violations in extension ops)",
)
def half_returns_float32(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Wrong output dtype for half inputs.

    Bug: float16 / bfloat16 inputs are computed in float32; the cast back only
    happens in the bias epilogue, so with no bias the output is float32.
    Trigger: a float16 or bfloat16 input with ``bias=None``.
    Models: output dtype taken from the accumulator instead of the input.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    if input.dtype not in _HALF:
        return _finish(_engine(s.x, weight, bias, s), s)
    acc = _engine(s.x.float(), weight.float(), None, s)
    if bias is not None:
        acc = acc.to(bias.dtype) + bias.view(1, -1, 1, 1)
    return _finish(acc, s)


class _ConvNoOutputPadding(torch.autograd.Function):
    """Forward is F.conv2d; grad_input is a transposed conv without output_padding, zero-filled to size."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation, groups, b is not None)
        return F.conv2d(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias = ctx.conf
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = F.conv_transpose2d(grad_out, w, None, stride, padding, 0, groups, dilation)
            gx = F.pad(gx, (0, x.shape[3] - gx.shape[3], 0, x.shape[2] - gx.shape[2]))
        if ctx.needs_input_grad[1]:
            gw = torch.nn.grad.conv2d_weight(x, w.shape, grad_out, stride, padding, dilation, groups)
        if has_bias and ctx.needs_input_grad[2]:
            gb = grad_out.sum((0, 2, 3))
        return gx, gw, gb, None, None, None, None


@register(
    _REGISTRY,
    category=Category.BACKWARD,
    summary="Hand-written backward computes grad_input by transposed conv without output_padding.",
    modelled_on="Custom autograd.Function conv backward omitting output_padding "
    "(common in hand-written conv layers and early framework ports)",
)
def grad_input_no_output_padding(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Forward right, grad_input wrong.

    Bug: grad_input is ``conv_transpose2d`` of grad_output without the
    output_padding that restores the rows/columns the strided forward never
    reached, then zero-filled to the input size; with padding those zero-filled
    positions include real input elements that did receive gradient.
    Trigger: gradients with stride > 1, padding > 0, and
    ``(H + 2p - d(k-1) - 1) % stride != 0`` on the same axis.
    Models: a hand-written conv backward that forgets output_padding.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    t, b, le, r = s.pads
    x = s.x
    if t != b or le != r:
        x = F.pad(x, (le, r, t, b))
        t = le = 0
    out = _ConvNoOutputPadding.apply(x, weight, bias, s.stride, (t, le), s.dilation, s.G)
    return _finish(out, s)


@register(
    _REGISTRY,
    category=Category.INPUT_MUTATION,
    summary="For channels_last inputs the weight is repacked to OHWI order in place, in the caller's tensor.",
    modelled_on="In-place weight prepacking that overwrites module parameters (IPEX/oneDNN prepack style bugs)",
)
def weight_repacked_in_place(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Weight overwritten after the call.

    Bug: the NHWC path repacks the weight into OHWI order and writes it back
    into the caller's weight storage. The returned output is right; the
    weight is not, and a later backward uses the repacked weight.
    Trigger: a channels_last (not also contiguous) input with ``C/groups > 1`` and ``kh * kw > 1``.
    Models: in-place mutation of an input tensor by a kernel.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    out = _engine(s.x, weight, bias, s)
    x = s.x
    if (
        x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
        and s.Cg > 1
        and s.kh * s.kw > 1
    ):
        with torch.no_grad():
            packed = weight.detach().permute(0, 2, 3, 1).reshape(weight.shape).clone()
            weight.data.copy_(packed)
    return _finish(out, s)


_OUTPUT_POOL: OrderedDict[tuple, Tensor] = OrderedDict()


@register(
    _REGISTRY,
    category=Category.BUFFER_REUSE,
    summary="Inference calls return a pooled output buffer reused by the next call of the same shape.",
    modelled_on="Workspace/output arena reuse in inference runtimes (ONNX Runtime memory patterns, "
    "TensorRT output bindings) leaking a shared buffer to the caller",
)
def output_buffer_reuse(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Returned tensor is shared between calls.

    Bug: when no gradient is needed, the result is copied into a cached
    buffer keyed by shape and dtype, and that buffer is returned; the next
    call of the same shape overwrites the previous result.
    Trigger: two calls without autograd that produce the same output shape and dtype.
    Models: output-buffer reuse that aliases results.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    out = _finish(_engine(s.x, weight, bias, s), s)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (input, weight, bias)
    )
    if needs_grad:
        return out
    key = (tuple(out.shape), out.dtype, out.device)
    buf = _OUTPUT_POOL.get(key)
    if buf is None:
        buf = _OUTPUT_POOL[key] = torch.empty_like(out, memory_format=torch.contiguous_format)
        while len(_OUTPUT_POOL) > 32:
            _OUTPUT_POOL.popitem(last=False)
    _OUTPUT_POOL.move_to_end(key)
    buf.copy_(out)
    return buf


@register(
    _REGISTRY,
    category=Category.NONDETERMINISM,
    summary="float32 split-K: per-channel-chunk partial sums are added in arrival (random) order.",
    modelled_on="Nondeterministic atomicAdd split-K reductions (cuDNN nondeterministic algorithms, "
    "torch.use_deterministic_algorithms issues)",
)
def split_k_arrival_order(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Run-to-run different bits.

    Bug: the channel reduction is split into chunks of 2 channels whose
    partial results are added in the order the workers finish, which varies
    between calls. Each result is accurate; two calls differ in the last bits.
    Trigger: float32 with ``C/groups >= 4``.
    Models: atomic split-K accumulation.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    if input.dtype != torch.float32 or s.Cg < 4:
        return _finish(_engine(s.x, weight, bias, s), s)
    parts = []
    for c0 in range(0, s.Cg, 2):
        c1 = min(c0 + 2, s.Cg)
        idx = torch.tensor([g * s.Cg + c for g in range(s.G) for c in range(c0, c1)], device=s.x.device)
        parts.append(_engine(s.x.index_select(1, idx), weight[:, c0:c1], None, s))
    random.SystemRandom().shuffle(parts)
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return _finish(_add_bias(out, bias), s)


@register(
    _REGISTRY,
    category=Category.FAST_PATH,
    summary="When the kernel covers the whole unpadded input, a dot-product fast path forgets the bias.",
    modelled_on="Special-case fast paths (kernel == input, i.e. a fully-connected layer) missing the epilogue",
)
def global_kernel_no_bias(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Bias dropped in the kernel-equals-input fast path.

    Bug: a conv whose kernel equals the input's spatial size, with no padding
    and no dilation, is computed as a GEMM that does not add the bias.
    Trigger: ``(kh, kw) == (H, W)``, zero padding, dilation 1, with a bias.
    Models: fast path for a special shape that skips part of the contract.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    if not ((s.kh, s.kw) == (s.H, s.W) and s.pads == (0, 0, 0, 0) and s.dilation == (1, 1)):
        return _finish(_engine(s.x, weight, bias, s), s)
    wd = _work_dtype(input.dtype)
    x = s.x.to(wd).reshape(s.N, s.G, s.Cg, s.H, s.W)
    w = weight.to(wd).reshape(s.G, s.Og, s.Cg, s.kh, s.kw)
    out = torch.einsum("ngchw,gochw->ngo", x, w).reshape(s.N, s.Co, 1, 1).to(input.dtype)
    return _finish(out, s)


@register(
    _REGISTRY,
    category=Category.FAST_PATH,
    summary="Stride-2 polyphase path misaligns the odd phase when the padded width is odd.",
    modelled_on="Stride-2 specialised (space-to-depth / polyphase) kernels assuming even widths",
)
def stride2_polyphase_odd_width(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Odd-width misalignment in a stride-2 specialisation.

    Bug: for horizontal stride 2 the input is split into even and odd column
    phases; when the padded width is odd the shorter odd phase is aligned by
    padding it at the front instead of the back, shifting the odd taps by one.
    Trigger: horizontal stride 2, horizontal dilation 1, ``kw >= 2`` and odd padded width.
    Models: a stride-2 fast path whose phase split assumes an even width.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    t, b, le, r = s.pads
    if not (s.sw == 2 and s.dw == 1 and s.kw >= 2 and t == b):
        return _finish(_engine(s.x, weight, bias, s), s)
    xp = F.pad(s.x, (le, r, 0, 0))
    wp = xp.shape[-1]
    even, odd = xp[..., 0::2], xp[..., 1::2]
    if wp % 2 == 1:
        odd = F.pad(odd, (1, 0))
    ye = F.conv2d(even, weight[..., 0::2], None, (s.sh, 1), (t, 0), (s.dh, 1), s.G)[..., : s.Wo]
    yo = F.conv2d(odd, weight[..., 1::2], None, (s.sh, 1), (t, 0), (s.dh, 1), s.G)[..., : s.Wo]
    return _finish(_add_bias(ye + yo, bias), s)


@register(
    _REGISTRY,
    category=Category.TILE_REMAINDER,
    summary="Channel loop in blocks of 8: the remainder loop drops the last input channel of each group.",
    modelled_on="Channel-blocked (nChw8c-style) reductions with an off-by-one remainder loop",
)
def channel_block_remainder(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Last input channel of each group ignored.

    Bug: the reduction over input channels runs in blocks of 8 and a
    remainder loop ``for c in range(8 * (Cg // 8), Cg - 1)``.
    Trigger: more than 16 input channels per group, not a multiple of 8.
    Models: channel-blocked kernels with a remainder off-by-one.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    w = weight
    if s.Cg > 16 and s.Cg % 8 != 0:
        mask = torch.ones(s.Cg, dtype=weight.dtype, device=weight.device)
        mask[-1] = 0
        w = weight * mask.view(1, -1, 1, 1)
    return _finish(_engine(s.x, w, bias, s), s)


@register(
    _REGISTRY,
    category=Category.PADDING,
    summary="Dilated kernel's load mask lacks the iw >= 0 test, so left padding reads preceding memory.",
    modelled_on="Triton/CUDA conv kernels with incomplete boundary masks (reading out of bounds "
    "instead of zero padding)",
)
def dilated_mask_lower_bound(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Left padding reads neighbouring memory.

    Bug: the dilated kernel masks loads with ``0 <= ih < H and iw < W``; a
    negative ``iw`` therefore reads the flat (contiguous) input at the
    previous row's tail (or the previous channel / sample), not zero.
    Trigger: horizontal dilation > 1 with left padding > 0.
    Models: incomplete load masks in hand-written GPU kernels.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    t, b, le, r = s.pads
    if not (s.dw > 1 and le > 0):
        return _finish(_engine(s.x, weight, bias, s), s)
    xc = s.x.contiguous()
    flat = xc.reshape(-1)
    dev = xc.device
    base = (torch.arange(s.N * s.C * s.H, device=dev) * s.W).reshape(s.N, s.C, s.H, 1)
    g = base + (torch.arange(le, device=dev) - le)
    left = torch.where(g >= 0, flat[g.clamp(min=0)], torch.zeros((), dtype=xc.dtype, device=dev))
    xp = torch.cat([left, xc, xc.new_zeros(s.N, s.C, s.H, r)], dim=3)
    xp = F.pad(xp, (0, 0, t, b))
    out = F.conv2d(xp, weight, bias, s.stride, 0, s.dilation, s.G)
    return _finish(out, s)


@register(
    _REGISTRY,
    category=Category.PER_AXIS,
    summary="With unequal strides the output row index is scaled by the column stride and vice versa.",
    modelled_on="Per-axis parameter swaps in hand-written kernels (stride_h/stride_w transposed), "
    "masked out-of-range loads returning zero",
)
def swapped_stride_index(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Per-axis strides swapped in the index math.

    Bug: output shape is right, but output (i, j) reads the window at
    ``(i * stride_w, j * stride_h)``; windows past the input are masked to zero.
    Trigger: ``stride[0] != stride[1]``.
    Models: transposed per-axis parameters.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    if s.sh == s.sw:
        return _finish(_engine(s.x, weight, bias, s), s)
    full = _engine(s.x, weight, None, s, stride=(1, 1))
    h1, w1 = full.shape[-2:]
    dev = full.device
    rows = torch.arange(s.Ho, device=dev) * s.sw
    cols = torch.arange(s.Wo, device=dev) * s.sh
    picked = full.index_select(2, rows.clamp(max=h1 - 1)).index_select(3, cols.clamp(max=w1 - 1))
    mask = ((rows < h1)[:, None] & (cols < w1)[None, :]).to(full.dtype)
    return _finish(_add_bias(picked * mask, bias), s)


_PACKED_WEIGHTS: OrderedDict[tuple, Tensor] = OrderedDict()


@register(
    _REGISTRY,
    category=Category.STALE_CACHE,
    summary="Inference weight cache keyed on data_ptr/shape/dtype only: reused memory serves stale weights.",
    modelled_on="Prepacked-weight caches keyed on data pointers (oneDNN/IPEX/XNNPACK delegate weight "
    "caches missing the tensor version)",
)
def weight_cache_by_pointer(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Stale weights after an in-place update or address reuse.

    Bug: without autograd, the weight is packed once and cached under
    ``(data_ptr, shape, stride, dtype)``; the tensor's version is not part of
    the key, so an in-place change, or a new weight allocated at a freed
    address, is served the old values.
    Trigger: a call without autograd whose weight lives at the address of an
    earlier call's weight (same shape and dtype) but holds different values.
    Models: pointer-keyed weight caches.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    needs_grad = torch.is_grad_enabled() and weight.requires_grad
    w = weight
    if not needs_grad:
        key = (weight.data_ptr(), tuple(weight.shape), weight.stride(), weight.dtype, weight.device)
        w = _PACKED_WEIGHTS.get(key)
        if w is None:
            w = _PACKED_WEIGHTS[key] = weight.detach().clone()
            while len(_PACKED_WEIGHTS) > 256:
                _PACKED_WEIGHTS.popitem(last=False)
    return _finish(_engine(s.x, w, bias, s), s)


# ---------------------------------------------------------------------------
# Correct conv2d implementations (no torch convolution operator)
# ---------------------------------------------------------------------------


def _bias_work(bias: Tensor | None, wd: torch.dtype) -> Tensor | None:
    return None if bias is None else bias.to(wd)


@_finite_only
@register(
    _REGISTRY,
    family="fft",
    correct=True,
    summary="Per-group FFT cross-correlation (rfft2 in the working dtype), dilated kernel, strided sampling.",
)
def fft_correlation(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """FFT convolution.

    The padded input and the zero-dilated kernel are transformed with rfft2 at
    the padded size; channels are contracted in the frequency domain, the
    result is transformed back and sampled at the stride. float32 inputs are
    transformed in float32 (complex64), float64 in float64, half types in float32.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    wd = _work_dtype(input.dtype)
    xp = _padded(s.x.to(wd), s)
    hp, wp = xp.shape[-2:]
    if xp.numel() == 0:  # empty batch: nothing to transform
        out = xp.new_zeros(s.N, s.Co, s.Ho, s.Wo) + 0 * weight.to(wd).sum() + 0 * xp.sum()
        return _finish(_add_bias(out, _bias_work(bias, wd)).to(input.dtype), s)
    eh, ew = s.dh * (s.kh - 1) + 1, s.dw * (s.kw - 1) + 1
    wk = weight.new_zeros((s.Co, s.Cg, eh, ew), dtype=wd)
    wk[:, :, :: s.dh, :: s.dw] = weight.to(wd)
    xf = torch.fft.rfft2(xp, s=(hp, wp))
    kf = torch.fft.rfft2(wk, s=(hp, wp))
    wf = xf.shape[-1]
    xf = xf.reshape(s.N, s.G, s.Cg, hp, wf)
    kf = kf.reshape(s.G, s.Og, s.Cg, hp, wf)
    yf = torch.einsum("ngchw,gochw->ngohw", xf, kf.conj())
    y = torch.fft.irfft2(yf, s=(hp, wp))
    y = y[..., : (s.Ho - 1) * s.sh + 1 : s.sh, : (s.Wo - 1) * s.sw + 1 : s.sw]
    out = _add_bias(y.reshape(s.N, s.Co, s.Ho, s.Wo), _bias_work(bias, wd))
    return _finish(out.to(input.dtype), s)


def _einsum_conv(x: Tensor, w: Tensor, s: _Spec) -> Tensor:
    win = _windows(_padded(x, s), s)
    wg = w.reshape(s.G, s.Og, s.Cg, s.kh, s.kw)
    rows = [
        torch.einsum("ngchwij,gocij->ngohw", win[:, :, :, r0:r1], wg).reshape(s.N, s.Co, r1 - r0, s.Wo)
        for r0, r1 in _row_blocks(s)
    ]
    return rows[0] if len(rows) == 1 else torch.cat(rows, dim=2)


_WINO_BT = ((1.0, 0.0, -1.0, 0.0), (0.0, 1.0, 1.0, 0.0), (0.0, -1.0, 1.0, 0.0), (0.0, 1.0, 0.0, -1.0))
_WINO_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))
_WINO_AT = ((1.0, 1.0, 1.0, 0.0), (0.0, 1.0, -1.0, -1.0))


@_finite_only
@register(
    _REGISTRY,
    family="winograd",
    correct=True,
    summary="Winograd F(2x2, 3x3) for 3x3 / stride 1 / dilation 1; strided-window einsum otherwise.",
)
def winograd_f2x3(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Winograd minimal filtering.

    3x3 kernels with unit stride and dilation use F(2x2, 3x3): 4x4 input tiles
    (overlapping by 2) and the kernel are transformed, multiplied pointwise
    with a per-group channel contraction, and transformed back into 2x2
    output tiles. Other configurations use a strided-window einsum. Work is
    done in float32 (float64 for float64 inputs).
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    wd = _work_dtype(input.dtype)
    x, w = s.x.to(wd), weight.to(wd)
    if not ((s.kh, s.kw) == (3, 3) and s.stride == (1, 1) and s.dilation == (1, 1)):
        out = _einsum_conv(x, w, s)
    else:
        th, tw = (s.Ho + 1) // 2, (s.Wo + 1) // 2
        t, b, le, r = s.pads
        xp = F.pad(x, (le, r + 2 * tw - s.Wo, t, b + 2 * th - s.Ho))
        tiles = xp.unfold(2, 4, 2).unfold(3, 4, 2)  # (N, C, th, tw, 4, 4)
        bt = torch.tensor(_WINO_BT, dtype=wd, device=x.device)
        gm = torch.tensor(_WINO_G, dtype=wd, device=x.device)
        at = torch.tensor(_WINO_AT, dtype=wd, device=x.device)
        v = torch.einsum("ij,nctwjk,lk->nctwil", bt, tiles, bt).reshape(s.N, s.G, s.Cg, th, tw, 4, 4)
        u = torch.einsum("ij,ocjk,lk->ocil", gm, w, gm).reshape(s.G, s.Og, s.Cg, 4, 4)
        m = torch.einsum("ngctwil,gocil->ngotwil", v, u)
        y = torch.einsum("ai,ngotwil,bl->ngotwab", at, m, at)
        y = y.permute(0, 1, 2, 3, 5, 4, 6).reshape(s.N, s.Co, 2 * th, 2 * tw)
        out = y[:, :, : s.Ho, : s.Wo]
    out = _add_bias(out, _bias_work(bias, wd))
    return _finish(out.to(input.dtype), s)


@register(
    _REGISTRY,
    family="im2col",
    correct=True,
    summary="im2col + per-block matmul over the reduction (blocks of 16) with a pairwise sum of block results.",
)
def im2col_blocked_pairwise(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Blocked GEMM with pairwise block reduction.

    The reduction dimension (C/groups * kh * kw) of the im2col GEMM is split
    into blocks of 16; each block is a matmul, and the block results are
    summed as a balanced binary tree.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    wd = _work_dtype(input.dtype)
    win = _windows(_padded(s.x.to(wd), s), s)
    wm = weight.to(wd).reshape(s.G, s.Og, -1)
    k = wm.shape[-1]
    rows = []
    for r0, r1 in _row_blocks(s):
        cols = win[:, :, :, r0:r1].permute(0, 1, 2, 5, 6, 3, 4).reshape(s.N, s.G, k, (r1 - r0) * s.Wo)
        parts = [torch.matmul(wm[:, :, k0 : k0 + 16], cols[:, :, k0 : k0 + 16]) for k0 in range(0, k, 16)]
        while len(parts) > 1:
            nxt = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
            if len(parts) % 2:
                nxt.append(parts[-1])
            parts = nxt
        rows.append(parts[0].reshape(s.N, s.Co, r1 - r0, s.Wo))
    out = rows[0] if len(rows) == 1 else torch.cat(rows, dim=2)
    out = _add_bias(out, _bias_work(bias, wd))
    return _finish(out.to(input.dtype), s)


@_finite_only
@register(
    _REGISTRY,
    family="compensated",
    correct=True,
    summary="Tap-major direct convolution: per-tap channel contraction, Kahan-compensated sum over taps.",
)
def kahan_tap_sum(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Direct convolution with compensated summation.

    For every kernel tap (i, j) the strided input slice is contracted with
    ``weight[:, :, i, j]`` over the channels of each group; the per-tap
    results are added with Kahan summation in the working dtype.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    wd = _work_dtype(input.dtype)
    xp = _padded(s.x.to(wd), s)
    w = weight.to(wd).reshape(s.G, s.Og, s.Cg, s.kh, s.kw)
    total: Tensor | None = None
    comp: Tensor | None = None
    for i in range(s.kh):
        r0 = i * s.dh
        for j in range(s.kw):
            c0 = j * s.dw
            sl = xp[:, :, r0 : r0 + (s.Ho - 1) * s.sh + 1 : s.sh, c0 : c0 + (s.Wo - 1) * s.sw + 1 : s.sw]
            sl = sl.reshape(s.N, s.G, s.Cg, s.Ho, s.Wo)
            term = torch.einsum("ngchw,goc->ngohw", sl, w[..., i, j])
            if total is None:
                total, comp = term, torch.zeros_like(term)
            else:
                y = term - comp
                t = total + y
                comp = (t - total) - y
                total = t
    assert total is not None
    out = _add_bias(total.reshape(s.N, s.Co, s.Ho, s.Wo), _bias_work(bias, wd))
    return _finish(out.to(input.dtype), s)


@register(
    _REGISTRY,
    family="higher-precision",
    correct=True,
    summary="Strided-window einsum computed entirely in float64, then cast to the input dtype.",
)
def float64_then_cast(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Compute in float64, round once.

    Every dtype is upcast to float64, convolved with a strided-window einsum,
    the bias added in float64, and the result rounded once to the input dtype.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    out = _einsum_conv(s.x.double(), weight.double(), s)
    out = _add_bias(out, _bias_work(bias, torch.float64))
    return _finish(out.to(input.dtype), s)


@register(
    _REGISTRY,
    family="reordered-reduction",
    correct=True,
    summary="Bias first, then input channels accumulated in reversed chunks of 3 (sequential adds).",
)
def reversed_channel_chunks(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Reduction in a different order.

    The accumulator starts from the bias (or zero); input channels of each
    group are taken in chunks of 3 from the last chunk to the first, each
    chunk contracted with an einsum over (channel, kh, kw) and added to the
    accumulator in the working dtype.
    """
    s = _setup(input, weight, bias, stride, padding, dilation, groups)
    wd = _work_dtype(input.dtype)
    win = _windows(_padded(s.x.to(wd), s), s)
    w = weight.to(wd).reshape(s.G, s.Og, s.Cg, s.kh, s.kw)
    starts = list(range(0, s.Cg, 3))
    rows = []
    for r0, r1 in _row_blocks(s):
        acc = win.new_zeros(s.N, s.G, s.Og, r1 - r0, s.Wo)
        if bias is not None:
            acc = acc + bias.to(wd).reshape(1, s.G, s.Og, 1, 1)
        for c0 in reversed(starts):
            c1 = min(c0 + 3, s.Cg)
            acc = acc + torch.einsum("ngchwij,gocij->ngohw", win[:, :, c0:c1, r0:r1], w[:, :, c0:c1])
        rows.append(acc.reshape(s.N, s.Co, r1 - r0, s.Wo))
    out = rows[0] if len(rows) == 1 else torch.cat(rows, dim=2)
    return _finish(out.to(input.dtype), s)


# ---------------------------------------------------------------------------
# corr2d-kind implementations: corr2d(X, K) on 2-D tensors, 'valid' cross-correlation
# ---------------------------------------------------------------------------


def _corr_check(X: Tensor, K: Tensor) -> tuple[int, int]:
    if X.dim() != 2 or K.dim() != 2:
        raise RuntimeError("corr2d expects 2-D X and K")
    oh, ow = X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1
    if oh < 1 or ow < 1:
        raise RuntimeError("kernel larger than input")
    return oh, ow


def _corr_windows(X: Tensor, K: Tensor) -> Tensor:
    h, w = K.shape
    return X.unfold(0, h, 1).unfold(1, w, 1)  # (oh, ow, h, w)


@register(
    _REGISTRY,
    kind="corr2d",
    category=Category.KERNEL_ORIENTATION,
    summary="Computes a true convolution (kernel flipped in both axes) instead of cross-correlation.",
    modelled_on="Convolution vs cross-correlation confusion (textbook corr2d exercises, scipy.signal.convolve2d)",
)
def corr2d_flipped_kernel(X, K):
    """Kernel flipped.

    Bug: uses ``K.flip(0, 1)``, i.e. mathematical convolution.
    Trigger: any kernel that is not symmetric under a 180-degree rotation.
    Models: convolution / correlation confusion.
    """
    _corr_check(X, K)
    wd = _work_dtype(X.dtype)
    out = (_corr_windows(X.to(wd), K.to(wd)) * K.flip(0, 1).to(wd)).sum((-2, -1))
    return out.to(X.dtype)


@register(
    _REGISTRY,
    kind="corr2d",
    category=Category.DTYPE,
    summary="Output buffer made with torch.zeros((oh, ow)) in the default dtype (float32) for every input.",
    modelled_on="The textbook corr2d's Y = torch.zeros(...) without dtype=X.dtype",
)
def corr2d_default_dtype_buffer(X, K):
    """Result stored in a float32 buffer regardless of input dtype.

    Bug: ``Y = torch.zeros((oh, ow))`` uses the default dtype, so float64
    results are rounded to float32 and half inputs return float32.
    Trigger: any input dtype other than float32.
    Models: output buffer allocated without the input's dtype.
    """
    oh, ow = _corr_check(X, K)
    Y = torch.zeros((oh, ow), device=X.device)
    Y[:] = (_corr_windows(X, K) * K).sum((-2, -1))
    return Y


@register(
    _REGISTRY,
    kind="corr2d",
    category=Category.TILE_REMAINDER,
    summary="Rows are computed in tiles of 4; a partial last tile repeats rows of the previous tile.",
    modelled_on="Row-tiled kernels that write the remainder tile from a stale register block",
)
def corr2d_row_tile_tail(X, K):
    """Stale rows in the remainder tile.

    Bug: the output rows are produced 4 at a time; for a partial last tile
    the kernel stores the previous tile's registers again.
    Trigger: more than 4 output rows, not a multiple of 4.
    Models: remainder-tile handling that reuses stale accumulators.
    """
    oh, _ = _corr_check(X, K)
    wd = _work_dtype(X.dtype)
    Y = (_corr_windows(X.to(wd), K.to(wd)) * K.to(wd)).sum((-2, -1))
    if oh > 4 and oh % 4:
        full = 4 * (oh // 4)
        Y = torch.cat([Y[:full], Y[full - 4 : full - 4 + oh - full]], dim=0)
    return Y.to(X.dtype)


@register(
    _REGISTRY,
    kind="corr2d",
    family="shift-accumulate",
    correct=True,
    summary="Sum over kernel taps of K[i, j] times the shifted input slice (float32 for half inputs).",
)
def corr2d_shift_accumulate(X, K):
    """Tap-by-tap shifted accumulation.

    ``Y = sum_{i,j} K[i, j] * X[i:i+oh, j:j+ow]`` accumulated in row-major
    tap order in the working dtype (float32 for half inputs), then cast.
    """
    oh, ow = _corr_check(X, K)
    wd = _work_dtype(X.dtype)
    Xw, Kw = X.to(wd), K.to(wd)
    Y: Tensor | None = None
    for i in range(K.shape[0]):
        for j in range(K.shape[1]):
            term = Xw[i : i + oh, j : j + ow] * Kw[i, j]
            Y = term if Y is None else Y + term
    assert Y is not None
    return Y.to(X.dtype)


@register(
    _REGISTRY,
    kind="corr2d",
    family="higher-precision",
    correct=True,
    summary="Unfolded windows times K summed in float64, then cast to the input dtype.",
)
def corr2d_unfold_float64(X, K):
    """Window view in float64, one rounding at the end."""
    _corr_check(X, K)
    return (_corr_windows(X.double(), K.double()) * K.double()).sum((-2, -1)).to(X.dtype)


HOLDOUT: tuple[ZooEntry, ...] = tuple(_REGISTRY)


# ---------------------------------------------------------------------------
# Check script: python -m benchmarks.holdout.zoo
# ---------------------------------------------------------------------------


def _r(*shape: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)


def _ref64(x, w, b=None, **kw) -> Tensor:
    return F.conv2d(x.double(), w.double(), None if b is None else b.double(), **kw)


def _err(out: Tensor, ref: Tensor) -> str:
    if out.shape != ref.shape:
        return f"shape {tuple(out.shape)} != expected {tuple(ref.shape)}"
    d = (out.double() - ref).abs().max().item()
    return f"max|diff|={d:.3g} (max|ref|={ref.abs().max().item():.3g}), dtype {out.dtype}"


def _value_demo(fn, x, w, b=None, **kw) -> tuple[bool, str]:
    ref = _ref64(x, w, b, **kw)
    out = fn(x, w, b, **kw)
    if out.dtype != x.dtype:
        return True, f"output dtype {out.dtype} for input dtype {x.dtype}"
    if out.shape != ref.shape:
        return True, _err(out, ref)
    own = F.conv2d(x, w, b, **kw).double()
    bad = (out.double() - ref).abs().max().item()
    base = (own - ref).abs().max().item()
    return bad > 10 * base + 1e-12, f"{_err(out, ref)}; F.conv2d same dtype max|diff|={base:.3g}"


def _demo_grad(fn) -> tuple[bool, str]:
    x, w, b = _r(1, 2, 8, 9, seed=1), _r(3, 2, 3, 3, seed=2), _r(3, seed=3)
    kw = dict(stride=2, padding=1)
    grads = []
    for f in (fn, F.conv2d):
        xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))
        f(xs, ws, bs, **kw).pow(2).sum().backward()
        grads.append((xs.grad, ws.grad, bs.grad))
    dx = (grads[0][0] - grads[1][0]).abs().max().item()
    dw = (grads[0][1] - grads[1][1]).abs().max().item()
    return dx > 1e-9, f"grad_input max|diff|={dx:.3g}, grad_weight max|diff|={dw:.3g}"


def _demo_mutation(fn) -> tuple[bool, str]:
    x = _r(2, 3, 8, 8, seed=1).to(memory_format=torch.channels_last)
    w = _r(4, 3, 3, 3, seed=2)
    w0, x0 = w.clone(), x.clone()
    out = fn(x, w)
    ok_out = (out - _ref64(x0, w0)).abs().max().item()
    changed = (w - w0).abs().max().item()
    return changed > 0 and torch.equal(
        x, x0
    ), f"output max|diff|={ok_out:.3g}; weight changed by {changed:.3g}"


def _demo_reuse(fn) -> tuple[bool, str]:
    w = _r(4, 3, 3, 3, seed=2)
    x1, x2 = _r(2, 3, 8, 8, seed=1), _r(2, 3, 8, 8, seed=5)
    y1 = fn(x1, w)
    y1_copy = y1.clone()
    y2 = fn(x2, w)
    shared = y1.data_ptr() == y2.data_ptr()
    d = (y1 - y1_copy).abs().max().item()
    return (
        shared and d > 0,
        f"second call shares storage with first: {shared}; first result changed by {d:.3g}",
    )


def _demo_nondet(fn) -> tuple[bool, str]:
    x, w = _r(2, 12, 10, 10, dtype=torch.float32, seed=1), _r(6, 12, 3, 3, dtype=torch.float32, seed=2)
    first = fn(x, w)
    for tries in range(1, 51):
        again = fn(x, w)
        if not torch.equal(first, again):
            d = (first - again).abs().max().item()
            return True, f"two calls differ bitwise after {tries} repeat(s), max|diff|={d:.3g}"
    return False, "no difference in 50 repeats"


def _demo_cache(fn) -> tuple[bool, str]:
    x, w = _r(2, 3, 8, 8, seed=1), _r(4, 3, 3, 3, seed=2)
    with torch.no_grad():
        fn(x, w)
        w.mul_(2.0)
        out = fn(x, w)
    return _value_demo(lambda *a, **k: out, x, w)


def _demo_unbatched(fn) -> tuple[bool, str]:
    x, w = _r(2, 8, 8, seed=1), _r(1, 2, 3, 3, seed=2)
    out, ref = fn(x, w), _ref64(x, w)
    return out.shape != ref.shape, _err(out, ref)


def _demo_half_dtype(fn) -> tuple[bool, str]:
    x, w = _r(2, 3, 8, 8, dtype=torch.float16, seed=1), _r(4, 3, 3, 3, dtype=torch.float16, seed=2)
    out = fn(x, w)
    return out.dtype != x.dtype, f"output dtype {out.dtype} for input dtype {x.dtype}"


def _conv_demos() -> dict[str, object]:
    f64 = torch.float64
    bf16 = torch.bfloat16
    f32 = torch.float32
    buf = _r(7 + 2 * 3 * 8 * 8, seed=1)
    offset_x = buf[7:].view(2, 3, 8, 8)
    return {
        "tail_tile_width": lambda f: _value_demo(f, _r(1, 2, 5, 15), _r(3, 2, 3, 3, seed=2)),
        "index_wrap_16bit": lambda f: _value_demo(
            f, _r(2, 16, 48, 48, dtype=f32), _r(4, 16, 3, 3, dtype=f32, seed=2)
        ),
        "channels_last_reorder": lambda f: _value_demo(
            f, _r(2, 3, 8, 8).to(memory_format=torch.channels_last), _r(4, 3, 3, 3, seed=2)
        ),
        "storage_offset_dropped": lambda f: _value_demo(f, offset_x, _r(4, 3, 3, 3, seed=2)),
        "pointwise_group_offset": lambda f: _value_demo(f, _r(2, 4, 6, 6), _r(8, 2, 1, 1, seed=2), groups=2),
        "depthwise_multiplier_order": lambda f: _value_demo(
            f, _r(2, 3, 7, 7), _r(6, 1, 3, 3, seed=2), groups=3
        ),
        "same_pad_lower": lambda f: _value_demo(f, _r(1, 2, 8, 8), _r(3, 2, 4, 4, seed=2), padding="same"),
        "same_pad_dilated_split": lambda f: _value_demo(
            f, _r(1, 2, 8, 8), _r(3, 2, 2, 2, seed=2), padding="same", dilation=2
        ),
        "row_kernel_flipped": lambda f: _value_demo(f, _r(1, 2, 6, 9), _r(3, 2, 1, 5, seed=2)),
        "grouped_bias_offset": lambda f: _value_demo(
            f, _r(1, 2, 6, 6), _r(4, 1, 3, 3, seed=2), _r(4, seed=3), groups=2
        ),
        "batch_tail_no_bias": lambda f: _value_demo(f, _r(5, 2, 6, 6), _r(3, 2, 3, 3, seed=2), _r(3, seed=3)),
        "unbatched_squeeze_all": _demo_unbatched,
        "half_accumulate_in_dtype": lambda f: _value_demo(
            f, _r(2, 32, 10, 10, dtype=bf16), _r(8, 32, 3, 3, dtype=bf16, seed=2)
        ),
        "tf32_large_reduction": lambda f: _value_demo(
            f, _r(2, 16, 12, 12, dtype=f32), _r(8, 16, 3, 3, dtype=f32, seed=2)
        ),
        "half_returns_float32": _demo_half_dtype,
        "grad_input_no_output_padding": _demo_grad,
        "weight_repacked_in_place": _demo_mutation,
        "output_buffer_reuse": _demo_reuse,
        "split_k_arrival_order": _demo_nondet,
        "global_kernel_no_bias": lambda f: _value_demo(
            f, _r(2, 3, 5, 5), _r(4, 3, 5, 5, seed=2), _r(4, seed=3)
        ),
        "stride2_polyphase_odd_width": lambda f: _value_demo(
            f, _r(1, 2, 7, 9), _r(3, 2, 3, 3, seed=2), stride=2
        ),
        "channel_block_remainder": lambda f: _value_demo(f, _r(1, 20, 6, 6), _r(4, 20, 3, 3, seed=2)),
        "dilated_mask_lower_bound": lambda f: _value_demo(
            f, _r(1, 2, 6, 7), _r(3, 2, 3, 3, seed=2), padding=2, dilation=(1, 2)
        ),
        "swapped_stride_index": lambda f: _value_demo(
            f, _r(1, 2, 9, 9, dtype=f64), _r(3, 2, 3, 3, seed=2), stride=(1, 2)
        ),
        "weight_cache_by_pointer": _demo_cache,
    }


def _corr_ref(X: Tensor, K: Tensor) -> Tensor:
    return F.conv2d(X.double()[None, None], K.double()[None, None])[0, 0]


def _corr_demos() -> dict[str, object]:
    def flipped(f):
        X, K = _r(6, 7), _r(2, 3, seed=2)
        out, ref = f(X, K), _corr_ref(X, K)
        return (out - ref).abs().max().item() > 1e-6, _err(out, ref)

    def dtype(f):
        X, K = _r(6, 7), _r(2, 3, seed=2)
        out, ref = f(X, K), _corr_ref(X, K)
        return out.dtype != X.dtype, _err(out, ref)

    def tail(f):
        X, K = _r(9, 6), _r(3, 3, seed=2)
        out, ref = f(X, K), _corr_ref(X, K)
        return (out - ref).abs().max().item() > 1e-6, _err(out, ref)

    return {
        "corr2d_flipped_kernel": flipped,
        "corr2d_default_dtype_buffer": dtype,
        "corr2d_row_tile_tail": tail,
    }


# --- random sweep for the correct entries -----------------------------------


def _random_case(rng: random.Random) -> tuple[Tensor, Tensor, Tensor | None, dict]:
    G = rng.choice([1, 1, 2, 3])
    Cg, Og = rng.randint(1, 5), rng.randint(1, 3)
    kh, kw = rng.randint(1, 5), rng.randint(1, 5)
    dh, dw = rng.choice([1, 1, 2, 3]), rng.choice([1, 1, 2])
    form = rng.choice(["int", "pair", "same", "valid"])
    if form == "same":
        sh = sw = 1
        padding: object = "same"
    else:
        sh, sw = rng.choice([1, 1, 2, 3]), rng.choice([1, 2])
        padding = {
            "int": rng.randint(0, 2),
            "pair": (rng.randint(0, 3), rng.randint(0, 2)),
            "valid": "valid",
        }[form]
    H = dh * (kh - 1) + 1 + rng.randint(0, 9)
    W = dw * (kw - 1) + 1 + rng.randint(0, 9)
    N = rng.randint(1, 3)
    seed = rng.randint(0, 10**6)
    x = _r(N, G * Cg, H, W, seed=seed)
    w = _r(G * Og, Cg, kh, kw, seed=seed + 1)
    b = _r(G * Og, seed=seed + 2) if rng.random() < 0.6 else None
    layout = rng.choice(["contiguous", "channels_last", "strided", "offset", "unbatched"])
    if layout == "channels_last":
        x = x.to(memory_format=torch.channels_last)
        w = w.to(memory_format=torch.channels_last)
    elif layout == "strided":
        x = torch.cat([x, x], dim=-1)[..., ::2]
        w = w.transpose(-1, -2).contiguous().transpose(-1, -2)
    elif layout == "offset":
        big = torch.empty(x.numel() + 3, dtype=x.dtype)
        big[3:] = x.reshape(-1)
        x = big[3:].view(x.shape)
    elif layout == "unbatched":
        x = x[0]
    kw_args = dict(stride=(sh, sw) if sh != sw else sh, padding=padding, dilation=(dh, dw), groups=G)
    return x, w, b, kw_args


def _check_correct(fn, rng: random.Random, n_cases: int) -> tuple[bool, str]:
    worst = 0.0
    for _ in range(n_cases):
        x, w, b, kw = _random_case(rng)
        snap = [t.clone() for t in (x, w) + ((b,) if b is not None else ())]
        ref = F.conv2d(x, w, b, **kw)
        out = fn(x, w, b, **kw)
        if out.shape != ref.shape or out.dtype != ref.dtype:
            return (
                False,
                f"shape/dtype {tuple(out.shape)} {out.dtype} vs {tuple(ref.shape)} {ref.dtype} for {kw}",
            )
        scale = max(ref.abs().max().item(), 1e-300)
        worst = max(worst, (out - ref).abs().max().item() / scale)
        if not all(
            torch.equal(a, c) for a, c in zip((x, w) + ((b,) if b is not None else ()), snap, strict=True)
        ):
            return False, "input modified"
        ptrs = {t.untyped_storage().data_ptr() for t in (x, w, b) if t is not None}
        if out.untyped_storage().data_ptr() in ptrs:
            return False, "output aliases an input"
        if not torch.equal(out, fn(x, w, b, **kw)):
            return False, "nondeterministic"
    # gradients, float64
    grad_worst = 0.0
    for _ in range(8):
        x, w, b, kw = _random_case(rng)
        gs = []
        for f in (fn, F.conv2d):
            ts = [t.detach().clone().requires_grad_() for t in (x, w) + ((b,) if b is not None else ())]
            out = f(ts[0], ts[1], ts[2] if b is not None else None, **kw)
            out.backward(torch.ones_like(out) * 0.5 + out.detach())
            gs.append([t.grad for t in ts])
        for a, c in zip(gs[0], gs[1], strict=True):
            grad_worst = max(grad_worst, ((a - c).abs().max() / c.abs().max().clamp_min(1e-300)).item())
    # half dtypes
    half_worst = {}
    for dt in _HALF:
        x, w, b, kw = _random_case(rng)
        x, w, b = x.to(dt), w.to(dt), None if b is None else b.to(dt)
        out = fn(x, w, b, **kw)
        if out.dtype != dt:
            return False, f"{dt} input gave {out.dtype}"
        ref = _ref64(x, w, b, **kw)
        half_worst[str(dt).removeprefix("torch.")] = (
            out.double() - ref
        ).abs().max().item() / ref.abs().max().item()
    ok = worst <= 1e-10 and grad_worst <= 1e-10
    halves = ", ".join(f"{k} {v:.2g}" for k, v in half_worst.items())
    return (
        ok,
        f"{n_cases} float64 cases max rel err {worst:.2g}; grads {grad_worst:.2g}; half rel err {halves}",
    )


def _float32_stats(fn) -> str:
    rows = []
    for N, C, Co, H, k, G in ((2, 8, 8, 16, 3, 1), (4, 32, 16, 32, 3, 1), (2, 64, 64, 48, 5, 2)):
        x = _r(N, C, H, H, dtype=torch.float32, seed=H)
        w = _r(Co, C // G, k, k, dtype=torch.float32, seed=H + 1)
        b = _r(Co, dtype=torch.float32, seed=H + 2)
        ref = _ref64(x, w, b, padding=1, groups=G)
        out = fn(x, w, b, padding=1, groups=G).double()
        lib = F.conv2d(x, w, b, padding=1, groups=G).double()
        absd = (out - ref).abs().max().item()
        rel = absd / ref.abs().max().item()
        lib_abs = (lib - ref).abs().max().item()
        rows.append(
            f"[N{N} C{C} O{Co} {H}x{H} k{k} g{G}] rel {rel:.2g} abs {absd:.2g} (F.conv2d abs {lib_abs:.2g})"
        )
    return "; ".join(rows)


def _check_corr_correct(fn, rng: random.Random) -> tuple[bool, str]:
    worst = 0.0
    for _ in range(100):
        h, w = rng.randint(1, 5), rng.randint(1, 5)
        X = _r(h + rng.randint(0, 12), w + rng.randint(0, 12), seed=rng.randint(0, 10**6))
        K = _r(h, w, seed=rng.randint(0, 10**6))
        if rng.random() < 0.3:
            X = X.t().contiguous().t()
        ref = _corr_ref(X, K)
        out = fn(X, K)
        worst = max(worst, ((out - ref).abs().max() / ref.abs().max()).item())
    X32, K32 = _r(64, 64, dtype=torch.float32, seed=9), _r(5, 5, dtype=torch.float32, seed=10)
    d32 = (fn(X32, K32).double() - _corr_ref(X32, K32)).abs().max().item()
    dt_ok = all(fn(X.to(dt), K.to(dt)).dtype == dt for dt in _HALF)
    Xg, Kg = _r(8, 9, seed=11).requires_grad_(), _r(3, 2, seed=12).requires_grad_()
    fn(Xg, Kg).sum().backward()
    Xr, Kr = Xg.detach().clone().requires_grad_(), Kg.detach().clone().requires_grad_()
    _corr_ref(Xr, Kr).sum().backward()
    gerr = max((Xg.grad - Xr.grad).abs().max().item(), (Kg.grad - Kr.grad).abs().max().item())
    ok = worst <= 1e-10 and dt_ok and gerr <= 1e-10
    return (
        ok,
        f"100 float64 cases max rel err {worst:.2g}; grad err {gerr:.2g}; float32 64x64 k5 abs err {d32:.2g}",
    )


def _main() -> int:
    import warnings

    warnings.filterwarnings("ignore", message="Using padding='same'")
    torch.set_num_threads(1)
    demos = {**_conv_demos(), **_corr_demos()}
    rng = random.Random(1234)
    failures = 0
    counts: dict[tuple[str, bool], int] = {}
    for e in HOLDOUT:
        counts[(e.kind, e.correct)] = counts.get((e.kind, e.correct), 0) + 1
        if e.correct:
            if e.kind == "conv2d":
                ok, msg = _check_correct(e.fn, rng, 200)
                msg += "\n      float32 vs float64 ref: " + _float32_stats(e.fn)
            else:
                ok, msg = _check_corr_correct(e.fn, rng)
            label = "MATCHES" if ok else "MISMATCH"
        else:
            ok, msg = demos[e.name](e.fn)
            label = "DEVIATES" if ok else "NO-DEVIATION"
        failures += not ok
        print(f"{e.name:32s} {e.kind:6s} {label:12s} {msg}")
    print("counts:", {f"{k}/{'correct' if c else 'buggy'}": v for (k, c), v in sorted(counts.items())})
    print("all checks passed" if failures == 0 else f"{failures} check(s) FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(_main())
