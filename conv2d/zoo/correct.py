"""Correct conv2d alternatives that round differently from F.conv2d, and the helpers the zoo shares.

Every alternative implements the whole ``torch.nn.functional.conv2d`` contract
(batched and unbatched input, int/pair/``"same"``/``"valid"`` padding with
PyTorch's even-kernel rule, stride, dilation, groups, optional bias, float64,
float32, float16 and bfloat16, any memory layout, autograd through torch ops,
output dtype = input dtype) without calling a convolution operator. float16 and
bfloat16 are accumulated in float32 and rounded once at the end, as PyTorch's
CPU kernels do; the bias is added before that rounding.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.zoo._entry import ZooEntry, register

__all__ = [
    "accumulate_in_dtype",
    "conv_then_bias",
    "core",
    "fft",
    "float64_then_cast",
    "im2col",
    "shifted_matmul",
    "slow_loop",
    "winograd",
    "winograd_f4x3",
    "winograd_f6x3",
]

IntPair = int | Sequence[int]
PaddingArg = int | Sequence[int] | str
Pair = tuple[int, int]
Fn = TypeVar("Fn", bound=Callable[..., Tensor])

_REGISTRY: list[ZooEntry] = []
_HALF = (torch.float16, torch.bfloat16)


# -- registration ---------------------------------------------------------------------------------
def _declare(**fields: object) -> Callable[[Fn], Fn]:
    """Attach a capabilities dict (the zoo cannot import the gate's ``declare`` without a cycle)."""

    def apply(fn: Fn) -> Fn:
        fn.__conv2d_capabilities__ = dict(fields)  # type: ignore[attr-defined]
        return fn

    return apply


def _entry(
    registry: list[ZooEntry],
    *,
    category: str,
    modelled_on: str = "",
    kind: Literal["conv2d", "corr2d"] = "conv2d",
    correct: bool = False,
) -> Callable[[Fn], Fn]:
    """``register`` with the summary taken from the docstring's first line.

    For a mutant, the bug class and ``modelled_on`` are appended to the docstring, so that
    the docstring and the registry never disagree.
    """

    def apply(fn: Fn) -> Fn:
        doc = inspect.cleandoc(fn.__doc__ or "")
        if modelled_on:
            fn.__doc__ = f"{doc}\n\nBug class: {category}. Modelled on {modelled_on}"
        summary = doc.splitlines()[0] if doc else ""
        register(
            registry, kind=kind, category=category, summary=summary, modelled_on=modelled_on, correct=correct
        )(fn)
        return fn

    return apply


# -- argument handling ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Geometry:
    """A conv2d call's parameters, resolved to explicit per-axis values.

    Attributes:
        kernel: (kh, kw).
        stride, dilation: per-axis pairs.
        pad_h, pad_w: (top, bottom) and (left, right) zero padding.
        groups: the number of groups.
        batched: whether the input had a batch dimension.
        padded: (H, W) of the input after padding.
        out: (H_out, W_out).
    """

    kernel: Pair
    stride: Pair
    dilation: Pair
    pad_h: Pair
    pad_w: Pair
    groups: int
    batched: bool
    padded: Pair
    out: Pair

    @property
    def fpad(self) -> tuple[int, int, int, int]:
        """The padding as ``F.pad`` takes it: (left, right, top, bottom)."""
        return (*self.pad_w, *self.pad_h)

    @property
    def extent(self) -> Pair:
        """The dilated kernel's size, ``d * (k - 1) + 1`` per axis."""
        return _extent(self.kernel, self.dilation)


def _extent(kernel: Pair, dilation: Pair) -> Pair:
    return (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)


def _pair(value: IntPair, name: str) -> Pair:
    """``value`` as a per-axis pair; a single int (or a one-element sequence) applies to both axes."""
    if isinstance(value, int):
        return (value, value)
    items = tuple(int(v) for v in value)
    if len(items) == 1:
        return (items[0], items[0])
    if len(items) != 2:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of 2 values, got {value!r}"
        )
    return (items[0], items[1])


def _same_split(total: int) -> Pair:
    """PyTorch's ``"same"`` rule: the smaller half before, the extra element after."""
    return (total // 2, total - total // 2)


def _resolve_padding(padding: PaddingArg, kernel: Pair, dilation: Pair, stride: Pair) -> tuple[Pair, Pair]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: {padding!r}; expected 'same' or 'valid'")
        if stride != (1, 1):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        total_h, total_w = (d * (k - 1) for d, k in zip(dilation, kernel, strict=True))
        return _same_split(total_h), _same_split(total_w)
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise RuntimeError(f"negative padding is not supported, got {padding!r}")
    return (ph, ph), (pw, pw)


def _check_shapes(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int) -> None:
    if weight.dim() != 4:
        raise RuntimeError(
            f"weight must be 4-D (out_channels, in_channels/groups, kh, kw), got {tuple(weight.shape)}"
        )
    if groups < 1 or weight.shape[0] % groups:
        raise RuntimeError(f"out_channels={weight.shape[0]} is not divisible by groups={groups}")
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(
            f"expected input with {weight.shape[1] * groups} channels (weight {tuple(weight.shape)}, "
            f"groups={groups}), got input {tuple(x.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise RuntimeError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    dtypes = {t.dtype for t in (x, weight, bias) if t is not None}
    if len(dtypes) != 1:
        raise RuntimeError(f"input, weight and bias must share one dtype, got {sorted(map(str, dtypes))}")


def _normalise_args(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntPair,
    padding: PaddingArg,
    dilation: IntPair,
    groups: int,
) -> tuple[Tensor, Geometry]:
    """The input as a 4-D (batched) tensor, and the call's resolved :class:`Geometry`.

    Raises ``RuntimeError`` for the arguments F.conv2d rejects.
    """
    if input.dim() not in (3, 4):
        raise RuntimeError(f"expected 3-D (unbatched) or 4-D (batched) input, got {tuple(input.shape)}")
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    _check_shapes(x, weight, bias, groups)
    kernel = (weight.shape[2], weight.shape[3])
    s, d = _pair(stride, "stride"), _pair(dilation, "dilation")
    if min(s) < 1 or min(d) < 1:
        raise RuntimeError(
            f"stride and dilation must be positive, got stride={stride!r}, dilation={dilation!r}"
        )
    pad_h, pad_w = _resolve_padding(padding, kernel, d, s)
    padded = (x.shape[2] + sum(pad_h), x.shape[3] + sum(pad_w))
    ext = _extent(kernel, d)
    if padded[0] < ext[0] or padded[1] < ext[1]:
        raise RuntimeError(f"kernel extent {ext} is larger than the padded input {padded}")
    out = ((padded[0] - ext[0]) // s[0] + 1, (padded[1] - ext[1]) // s[1] + 1)
    return x, Geometry(kernel, s, d, pad_h, pad_w, groups, batched, padded, out)


def _unbatch(out: Tensor, batched: bool) -> Tensor:
    """Drop the batch dimension again for an unbatched call."""
    return out if batched else out.squeeze(0)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for float16/bfloat16 (accumulated in float32), else ``dtype`` itself."""
    return torch.float32 if dtype in _HALF else dtype


def _finish(out: Tensor, bias: Tensor | None, geo: Geometry, dtype: torch.dtype) -> Tensor:
    """Add the bias in the compute dtype, round once to ``dtype``, restore the batch convention."""
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, -1, 1, 1)
    return _unbatch(out.to(dtype), geo.batched)


def _tap_slices(geo: Geometry) -> Iterator[tuple[int, int, slice, slice]]:
    """For each kernel tap (u, v): the rows and columns of the padded input it meets."""
    (sh, sw), (dh, dw), (ho, wo) = geo.stride, geo.dilation, geo.out
    for u in range(geo.kernel[0]):
        for v in range(geo.kernel[1]):
            rows = slice(u * dh, u * dh + (ho - 1) * sh + 1, sh)
            cols = slice(v * dw, v * dw + (wo - 1) * sw + 1, sw)
            yield u, v, rows, cols


def _dilate_kernel(weight: Tensor, dilation: Pair) -> Tensor:
    """The kernel with ``d - 1`` zeros inserted between taps, so that dilation becomes 1."""
    if dilation == (1, 1):
        return weight
    o, c, kh, kw = weight.shape
    ext = _extent((kh, kw), dilation)
    dilated = weight.new_zeros(o, c, *ext)
    dilated[:, :, :: dilation[0], :: dilation[1]] = weight
    return dilated


def _run(
    algorithm: Callable[[Tensor, Tensor, Geometry], Tensor],
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntPair,
    padding: PaddingArg,
    dilation: IntPair,
    groups: int,
    *,
    compute: torch.dtype | None = None,
) -> Tensor:
    """Normalise the call, run ``algorithm(x, w, geo)`` in ``compute`` dtype, add bias and round once."""
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    compute = compute or _compute_dtype(input.dtype)
    if x.shape[0] == 0:  # an empty batch: run one zero image so every algorithm sees a real shape, keep none
        out = algorithm(torch.cat([x, x.new_zeros(1, *x.shape[1:])]).to(compute), weight.to(compute), geo)[:0]
    else:
        out = algorithm(x.to(compute), weight.to(compute), geo)
    return _finish(out, bias, geo, input.dtype)


# -- algorithms (x: padded-to-be 4-D input, w: weight, both in the compute dtype) ------------------
def _im2col(x: Tensor, w: Tensor, geo: Geometry, bias: Tensor | None = None) -> Tensor:
    """One GEMM per group over the unfolded patches; a bias is folded in as a row of ones."""
    n, (o, cg, kh, kw), g = x.shape[0], w.shape, geo.groups
    cols = F.unfold(F.pad(x, geo.fpad), geo.kernel, dilation=geo.dilation, stride=geo.stride)
    cols = cols.reshape(n, g, cg * kh * kw, geo.out[0] * geo.out[1])
    mat = w.reshape(g, o // g, cg * kh * kw)
    if bias is not None:
        cols = torch.cat([cols, cols.new_ones(n, g, 1, cols.shape[-1])], dim=2)
        mat = torch.cat([mat, bias.reshape(g, o // g, 1)], dim=2)
    return (mat @ cols).reshape(n, o, *geo.out)


def _fft(x: Tensor, w: Tensor, geo: Geometry) -> Tensor:
    """Cross-correlation by multiplying spectra (per-group channel sum), then cropping and subsampling."""
    xp = F.pad(x, geo.fpad)
    wd = _dilate_kernel(w, geo.dilation)
    (hp, wp), (eh, ew), g = geo.padded, wd.shape[-2:], geo.groups
    size = (hp + eh - 1, wp + ew - 1)
    xf = torch.fft.rfft2(xp, s=size).unflatten(1, (g, -1))
    wf = torch.fft.rfft2(wd, s=size).conj().unflatten(0, (g, -1))
    full = torch.fft.irfft2(torch.einsum("ngcpq,gocpq->ngopq", xf, wf).flatten(1, 2), s=size)
    return full[..., : hp - eh + 1 : geo.stride[0], : wp - ew + 1 : geo.stride[1]]


def _winograd_matrices(m: int, points: Sequence[Fraction]) -> tuple[list[list[float]], ...]:
    """Toom-Cook matrices ``(A^T, G, B^T)`` of Winograd's F(m, r) for correlation, from ``points`` and infinity.

    With ``n = len(points) + 1 = m + r - 1`` evaluation points, the linear convolution
    ``s = u * g`` of an ``m``-vector and an ``r``-vector is ``C [(E_m u) * (E_r g)]``
    (``E``: evaluation, ``C``: interpolation). Correlation is its transpose, so
    ``y = E_m^T [(E_r g) * (C^T d)]``: ``A^T = E_m^T``, ``G = E_r``, ``B^T = C^T``. Each row
    of ``B^T`` is scaled to integers and the scale moved into ``G``, as Lavin and Gray's
    published matrices do ("Fast Algorithms for Convolutional Neural Networks", 2016).
    """
    n = len(points) + 1
    r = n - m + 1

    def evaluation(size: int) -> list[list[Fraction]]:
        rows = [[p**k for k in range(size)] for p in points]
        return [*rows, [Fraction(int(k == size - 1)) for k in range(size)]]

    vander = evaluation(n)  # evaluation of the degree n-1 product: invert it to interpolate
    inverse = _invert(vander)
    b_t = [[inverse[k][j] for k in range(n)] for j in range(n)]  # C^T
    g = evaluation(r)
    for j, row in enumerate(b_t):
        scale = math.lcm(*(x.denominator for x in row))
        b_t[j] = [x * scale for x in row]
        g[j] = [x / scale for x in g[j]]
    a_t = [[evaluation(m)[j][i] for j in range(n)] for i in range(m)]
    return tuple([[float(x) for x in row] for row in mat] for mat in (a_t, g, b_t))


def _invert(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact Gauss-Jordan inverse of a small rational matrix."""
    n = len(matrix)
    aug = [[*row, *(Fraction(int(i == j)) for j in range(n))] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if aug[r][col] != 0)
        aug[col], aug[pivot] = aug[pivot], aug[col]
        head = aug[col][col]
        aug[col] = [x / head for x in aug[col]]
        for r in range(n):
            if r != col and aug[r][col] != 0:
                factor = aug[r][col]
                aug[r] = [a - factor * b for a, b in zip(aug[r], aug[col], strict=True)]
    return [row[n:] for row in aug]


#: Winograd F(m x m, 3 x 3) by output tile m: F(2, 3) (oneDNN's 2x3), F(4, 3) (cuDNN, oneDNN's 4x3),
#: F(6, 3) (NNPACK's 8x8 tiles), with the interpolation points those libraries use.
_WINOGRAD_POINTS: dict[int, tuple[Fraction, ...]] = {
    2: (Fraction(0), Fraction(1), Fraction(-1)),
    4: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2)),
    6: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2)),
}
_WINOGRAD = {m: _winograd_matrices(m, points) for m, points in _WINOGRAD_POINTS.items()}


def _winograd_block(x: Tensor, w3: Tensor, groups: int, m: int) -> Tensor:
    """F(m x m, 3 x 3): stride-1 correlation of ``x`` (spatial m*t + 2) with a 3x3 ``w3``, as m x m tiles."""
    at, gm, bt = (torch.tensor(mat, dtype=x.dtype, device=x.device) for mat in _WINOGRAD[m])
    t = m + 2
    tiles = x.unfold(2, t, m).unfold(3, t, m)  # (n, c, th, tw, t, t)
    n, c, th, tw = tiles.shape[:4]
    v = (bt @ tiles @ bt.T).reshape(n, groups, c // groups, th, tw, t, t)
    u = (gm @ w3 @ gm.T).reshape(groups, -1, c // groups, t, t)
    prod = torch.einsum("ngcyxij,gocij->ngoyxij", v, u)
    y = at @ prod @ at.T  # (n, g, og, th, tw, m, m)
    return y.permute(0, 1, 2, 3, 5, 4, 6).reshape(n, -1, m * th, m * tw)


def _winograd(x: Tensor, w: Tensor, geo: Geometry, m: int = 2) -> Tensor:
    """Split the (dilated) kernel into zero-padded 3x3 blocks; each block is F(m, 3) on the shifted input."""
    wd = _dilate_kernel(w, geo.dilation)
    (hp, wp), (eh, ew) = geo.padded, wd.shape[-2:]
    bh, bw = -(-eh // 3), -(-ew // 3)
    h1, w1 = hp - eh + 1, wp - ew + 1
    th, tw = -(-h1 // m), -(-w1 // m)
    wd = F.pad(wd, (0, 3 * bw - ew, 0, 3 * bh - eh))
    left, right, top, bottom = geo.fpad
    xp = F.pad(
        x, (left, right + 3 * (bw - 1) + m * tw + 2 - wp, top, bottom + 3 * (bh - 1) + m * th + 2 - hp)
    )
    out = sum(
        _winograd_block(
            xp[..., 3 * i : 3 * i + m * th + 2, 3 * j : 3 * j + m * tw + 2],
            wd[..., 3 * i : 3 * i + 3, 3 * j : 3 * j + 3],
            geo.groups,
            m,
        )
        for i in range(bh)
        for j in range(bw)
    )
    assert isinstance(out, Tensor)
    return out[..., : h1 : geo.stride[0], : w1 : geo.stride[1]]


def _slow_loop(x: Tensor, w: Tensor, geo: Geometry) -> Tensor:
    """One einsum per output pixel (vectorised over batch and channels), stacked."""
    xp = F.pad(x, geo.fpad).unflatten(1, (geo.groups, -1))
    wg = w.unflatten(0, (geo.groups, -1))
    (sh, sw), (dh, dw), (eh, ew), (ho, wo) = geo.stride, geo.dilation, geo.extent, geo.out
    pixels = [
        torch.einsum("ngcuv,gocuv->ngo", xp[..., i * sh : i * sh + eh : dh, j * sw : j * sw + ew : dw], wg)
        for i in range(ho)
        for j in range(wo)
    ]
    return torch.stack(pixels, dim=-1).flatten(1, 2).unflatten(-1, (ho, wo))


def _shifted_matmul(x: Tensor, w: Tensor, geo: Geometry) -> Tensor:
    """Sum over kernel taps of a 1x1 convolution (a channels-last matmul) of the shifted input."""
    xl = F.pad(x, geo.fpad).permute(0, 2, 3, 1)  # NHWC view
    g = geo.groups
    wl = w.permute(2, 3, 0, 1).unflatten(2, (g, -1))  # (kh, kw, g, og, cg)
    parts = (
        torch.einsum("nhwgc,goc->nhwgo", xl[:, rows, cols, :].unflatten(-1, (g, -1)), wl[u, v])
        for u, v, rows, cols in _tap_slices(geo)
    )
    acc = sum(parts)
    assert isinstance(acc, Tensor)
    return acc.flatten(-2).permute(0, 3, 1, 2)


# -- the registered alternatives ------------------------------------------------------------------
@_entry(_REGISTRY, category="fft", correct=True)
@_declare(ieee=False)  # a transform spreads a NaN or an infinity over the whole plane or tile
def fft(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """FFT convolution: rfft2 of input and zero-inserted kernel, per-group spectral product, irfft2, crop, subsample.

    CPU FFTs have no half support, so float16/bfloat16 are computed in float32. Its
    error is norm-wise (spread over an output plane) rather than element-wise.
    """
    return _run(_fft, input, weight, bias, stride, padding, dilation, groups)


@_entry(_REGISTRY, category="winograd", correct=True)
@_declare(ieee=False)  # a transform spreads a NaN or an infinity over the whole plane or tile
def winograd(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Winograd F(2x2, 3x3) for any kernel: 3x3 blocks of the zero-inserted kernel, each on the shifted input.

    Stride is a subsampling of the stride-1 result. float32/float64 are computed in
    their own precision, float16/bfloat16 in float32.
    """
    return _run(_winograd, input, weight, bias, stride, padding, dilation, groups)


@_entry(_REGISTRY, category="im2col", correct=True)
def im2col(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """F.unfold + one matmul per group, in the input dtype, with the bias folded into the GEMM.

    The matmul of float16/bfloat16 accumulates in float32 and rounds once; the bias is an
    extra row of ones so that it is added before that rounding.
    """
    x, geo = _normalise_args(input, weight, bias, stride, padding, dilation, groups)
    return _unbatch(_im2col(x, weight, geo, bias), geo.batched)


@_entry(_REGISTRY, category="float64", correct=True)
def float64_then_cast(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """im2col computed entirely in float64 (bias included), then cast to the input dtype."""
    return _run(_im2col, input, weight, bias, stride, padding, dilation, groups, compute=torch.float64)


@_entry(_REGISTRY, category="direct-loop", correct=True)
def slow_loop(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """A Python loop over output pixels, each an einsum over batch, groups and channels; slow but direct."""
    return _run(_slow_loop, input, weight, bias, stride, padding, dilation, groups)


@_entry(_REGISTRY, category="core", correct=True)
def core(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """The project's own core, ``conv2d.functional.conv2d``, called through a thin wrapper."""
    from conv2d import functional

    core_conv2d: Callable[..., Tensor] = functional.conv2d
    return core_conv2d(input, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


@_entry(_REGISTRY, category="shifted-matmul", correct=True)
def shifted_matmul(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Sum over kernel taps of shifted 1x1 matmuls on a channels-last view, accumulated tap by tap.

    float16/bfloat16 accumulate in float32 (a half-precision running sum would lose
    the small taps that arrive late).
    """
    return _run(_shifted_matmul, input, weight, bias, stride, padding, dilation, groups)


@_entry(_REGISTRY, category="winograd", correct=True)
@_declare(ieee=False)  # a transform spreads a NaN or an infinity over the whole plane or tile
def winograd_f4x3(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Winograd F(4x4, 3x3), the float32 tile of cuDNN and oneDNN, for any kernel (3x3 blocks).

    Its transforms have entries up to 8 and 1/24, so it rounds noticeably worse than
    F(2x2, 3x3); float16/bfloat16 are computed in float32.
    """
    return _run(functools.partial(_winograd, m=4), input, weight, bias, stride, padding, dilation, groups)


@_entry(_REGISTRY, category="winograd", correct=True)
@_declare(ieee=False)  # a transform spreads a NaN or an infinity over the whole plane or tile
def winograd_f6x3(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Winograd F(6x6, 3x3), NNPACK's 8x8-tile float32 algorithm (points 0, ±1, ±2, ±1/2), any kernel.

    The largest tile in common use: its error grows fastest of the zoo's algorithms.
    """
    return _run(functools.partial(_winograd, m=6), input, weight, bias, stride, padding, dilation, groups)


@_entry(_REGISTRY, category="bias-after-rounding", correct=True)
def conv_then_bias(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """cuDNN's float16 order: the convolution rounded to the input dtype, then the bias added in that dtype.

    Two roundings instead of one; F.conv2d on a GPU computes float16 and bfloat16 this way.
    """
    out = _run(_im2col, input, weight, None, stride, padding, dilation, groups)
    if bias is None:
        return out
    return out + bias.view(-1, 1, 1)


@_entry(_REGISTRY, category="in-dtype-accumulation", correct=True)
@_declare(accumulation="dtype")
def accumulate_in_dtype(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: PaddingArg = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Tap-by-tap shifted matmuls accumulated in the input dtype itself, as declared (``accumulation="dtype"``).

    The seed lab's loop run on half tensors computes this way: each partial sum is
    rounded to float16/bfloat16. It declares it, so the gate judges it at that precision.
    """
    return _run(_shifted_matmul, input, weight, bias, stride, padding, dilation, groups, compute=input.dtype)
