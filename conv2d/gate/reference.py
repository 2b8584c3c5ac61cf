"""The exact result a target is judged against: a float64 convolution on the CPU, checked twice.

The reference is computed on **contiguous** float64 copies of the arguments the
target received (already rounded to the case's dtype), so the only difference
left is the target's own rounding, and a layout-specific bug of the host's
torch (torch 2.13's float64 weight gradient is wrong for channels_last
unbatched input with groups > 1) cannot enter it. Every value and gradient is
computed by two independent float64 algorithms — torch's convolution operator
and a shifted sum of per-tap channel contractions — and where they disagree
beyond float64 rounding the gate raises :class:`GateError` naming the case: a
fault of the gate's host, never a failure of the target.

The torch operators used here are bound when this module is imported, from
``torch.ops.aten``, so a target that later replaces ``torch.nn.functional`` or
``torch.conv2d`` cannot change the reference.

The reference also returns what the error bound scales with: the element-wise
*magnitude* ``|x| ⋆ |w| + |b|``, and a norm-wise *scale* per output plane,
``sum_c ||x[n, c]||_2 * ||w[o, c]||_1`` (see :mod:`conv2d.gate.tolerance`), and
the same pair for gradients.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import torch

from conv2d.gate.case import Args, as_tuple, resolve_pads

__all__ = [
    "Exact",
    "ExactGrads",
    "GateError",
    "exact_conv",
    "reference",
    "reference_grads",
    "second_order_scales",
    "transposed_products",
]

_aten = torch.ops.aten
_CONVOLUTION = _aten.convolution.default
_PAD = _aten.constant_pad_nd.default
_EINSUM = _aten.einsum.default
_STACK = _aten.stack.default
_SUM = _aten.sum.dim_IntList
_ABS = _aten.abs.default
_GRAD = torch.autograd.grad
_F64 = torch.float64
_TINY = torch.finfo(torch.float64).tiny
_EPS64 = 2.0**-53


class GateError(Exception):
    """The gate cannot judge a case (its two float64 references disagree): an error of the gate, not the target."""


def as_float64(t: torch.Tensor | None) -> torch.Tensor | None:
    """A contiguous float64 CPU copy (values as the target received them)."""
    if t is None:
        return None
    return t.detach().to(device="cpu", dtype=_F64, memory_format=torch.contiguous_format).clone()


@dataclasses.dataclass(frozen=True)
class _Geometry:
    batched: bool
    pads: tuple[tuple[int, int], ...]  # (before, after) per spatial axis
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    #: output padding per axis of a transposed convolution; None for a convolution
    output_padding: tuple[int, ...] | None = None

    @property
    def rank(self) -> int:
        return len(self.stride)

    def pad_list(self) -> list[int]:
        """The pads in constant_pad_nd's order: the last axis first, before then after."""
        return [p for pair in reversed(self.pads) for p in pair]


def rank_of(w: torch.Tensor) -> int:
    """Spatial axes of a convolution with weight ``w`` (a 2-D corr2d kernel has two)."""
    return w.dim() - 2 if w.dim() > 2 else 2


def _index(*parts: Any) -> Any:
    """``parts`` as one index (a tuple of ellipsis, ints and slices)."""
    return parts


def _geometry(args: Args, x: torch.Tensor, w: torch.Tensor) -> _Geometry:
    rank = rank_of(w)
    if w.dim() == 2:  # corr2d kind: (H, W) input and (h, w) kernel
        return _Geometry(False, ((0, 0), (0, 0)), (1, 1), (1, 1), 1)
    kernel = tuple(w.shape[2:])
    d = as_tuple(args.dilation, rank)  # type: ignore[arg-type]
    batched, stride = x.dim() == rank + 2, as_tuple(args.stride, rank)  # type: ignore[arg-type]
    if args.output_padding is not None:  # transposed: padding crops the output, per axis on both sides
        crop = as_tuple(args.padding, rank)  # type: ignore[arg-type]
        pads = tuple((p, p) for p in crop)
        return _Geometry(batched, pads, stride, d, args.groups, as_tuple(args.output_padding, rank))
    pads = resolve_pads(args.padding, kernel, d)  # type: ignore[arg-type]
    return _Geometry(batched, pads, stride, d, args.groups)


def _full(x: torch.Tensor, w: torch.Tensor, geo: _Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and ``w`` with the batch (and, for corr2d, channel) axes they lack."""
    if w.dim() == 2:
        return x[None, None], w[None, None]
    return (x if geo.batched else x[None]), w


def _restore(out: torch.Tensor, w: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    if w.dim() == 2:
        return out[0, 0]
    return out if geo.batched else out[0]


def _conv(geo: _Geometry, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """torch's convolution operator on explicitly padded input (transposed: with its own padding)."""
    xf, wf = _full(x, w, geo)
    zeros = [0] * geo.rank
    if geo.output_padding is not None:
        crop = [before for before, _ in geo.pads]
        out = _CONVOLUTION(
            xf, wf, b, list(geo.stride), crop, list(geo.dilation), True, list(geo.output_padding), geo.groups
        )
        return _restore(out, w, geo)
    padded = _PAD(xf, geo.pad_list(), 0.0)
    out = _CONVOLUTION(padded, wf, b, list(geo.stride), zeros, list(geo.dilation), False, zeros, geo.groups)
    return _restore(out, w, geo)


def _shifted_sum(geo: _Geometry, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """The same convolution as a sum over kernel taps of channel contractions of strided slices."""
    xf, wf = _full(x, w, geo)
    xp = _PAD(xf, geo.pad_list(), 0.0)
    n, sizes = xp.shape[0], tuple(xp.shape[2:])
    o, cg, kernel = wf.shape[0], wf.shape[1], tuple(wf.shape[2:])
    s, d, g = geo.stride, geo.dilation, geo.groups
    outs = [(sizes[a] - d[a] * (kernel[a] - 1) - 1) // s[a] + 1 for a in range(geo.rank)]
    xg = xp.reshape(n, g, cg, *sizes)
    wg = wf.reshape(g, o // g, cg, *kernel)
    axes = "xyz"[: geo.rank]
    equation = f"ngc{axes},goc->ngo{axes}"
    taps = [
        _EINSUM(
            equation,
            [
                xg[
                    (
                        ...,
                        *(
                            slice(t[a] * d[a], t[a] * d[a] + (outs[a] - 1) * s[a] + 1, s[a])
                            for a in range(geo.rank)
                        ),
                    )
                ],
                wg[_index(..., *t)],
            ],
        )
        for t in itertools.product(*(range(k) for k in kernel))
    ]
    out = _SUM(_STACK(taps, 0), [0]).reshape(n, o, *outs)
    if b is not None:
        out = out + b.reshape(1, o, *(1,) * geo.rank)
    return _restore(out, w, geo)


def _scatter_sum(
    geo: _Geometry, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, products: bool = False
) -> torch.Tensor:
    """A transposed convolution as a sum over kernel taps: each tap's channel contraction of the
    whole input, added into the output every stride rows and columns from the tap's offset, then
    cropped by the padding (output padding extends the bottom and right)."""
    x4, w4 = _full(x, w, geo)
    assert geo.output_padding is not None
    n, cin, h, wd = x4.shape
    _, og, kh, kw = w4.shape
    (sh, sw), (dh, dw), g = geo.stride, geo.dilation, geo.groups
    oph, opw = geo.output_padding
    (ph, _), (pw, _) = geo.pads
    full_h, full_w = (h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    xg = x4.reshape(n, g, cin // g, h, wd)
    wg = w4.reshape(g, cin // g, og, kh, kw)
    out = x4.new_zeros(n, g, og, full_h, full_w)
    for u in range(kh):
        for v in range(kw):
            if products:  # every product formed and summed as IEEE says: NaN * 0 and inf * 0 are NaN
                part = (xg[:, :, :, None] * wg[None, :, :, :, u, v, None, None]).sum(dim=2)
            else:
                part = _EINSUM("ngchw,gco->ngohw", [xg, wg[..., u, v]])
            rows, cols = (
                slice(u * dh, u * dh + (h - 1) * sh + 1, sh),
                slice(v * dw, v * dw + (wd - 1) * sw + 1, sw),
            )
            out[..., rows, cols] = out[..., rows, cols] + part
    out = out[..., ph : full_h - ph, pw : full_w - pw].reshape(n, g * og, full_h - 2 * ph, full_w - 2 * pw)
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return _restore(out, w, geo)


def transposed_products(args: Args) -> torch.Tensor:
    """A transposed convolution of ``args`` in float64 from the products of real elements only.

    No inserted zero and no cropped position enters a product, and every product is formed, so
    NaN and infinities propagate exactly as IEEE arithmetic says (the special-values law's exact result).
    """
    x, w, b = as_float64(args.input), as_float64(args.weight), as_float64(args.bias)
    assert x is not None and w is not None
    return _scatter_sum(_geometry(args, x, w), x, w, b, products=True)


def _second(geo: _Geometry):  # type: ignore[no-untyped-def]
    """The independent second algorithm for ``geo``'s kind of convolution."""
    return _shifted_sum if geo.output_padding is None else _scatter_sum


def _cross_check(
    what: str, args: Args, first: torch.Tensor, second: torch.Tensor, mag: torch.Tensor, k: int
) -> None:
    """Raise GateError unless two float64 computations agree within twice float64's dot-product bound."""
    allowed = 2 * ((k + 1) * _EPS64 * mag + _EPS64 * first.abs()) + _TINY
    bad = (first - second).abs() > allowed
    if bool(bad.any()):
        worst = float(((first - second).abs() / allowed).max())
        raise GateError(
            f"the gate's two float64 references disagree on {what} ({int(bad.sum())} elements, "
            f"up to {worst:.3g} x float64 rounding): the host's torch computes this case wrongly, "
            f"so the gate cannot judge it; input{tuple(args.input.shape)} weight{tuple(args.weight.shape)} "
            f"stride={args.stride!r} padding={args.padding!r} dilation={args.dilation!r} groups={args.groups}"
        )


@dataclasses.dataclass(frozen=True)
class Exact:
    """The float64 result, its magnitude ``|x| ⋆ |w| + |b|`` and its norm-wise scale.

    ``scale`` broadcasts against ``value`` (one number per output plane): the
    norm of what a transform-based algorithm mixes into each element of the plane.
    ``unbiased`` is the exact result without the bias (``None`` when there is none).
    """

    value: torch.Tensor
    magnitude: torch.Tensor
    scale: torch.Tensor
    unbiased: torch.Tensor | None = None


def _l2(t: torch.Tensor, rank: int) -> torch.Tensor:
    """The 2-norm over the ``rank`` spatial dims."""
    return t.pow(2).sum(dim=tuple(range(-rank, 0))).sqrt()


def _l1(w: torch.Tensor, rank: int) -> torch.Tensor:
    return _SUM(_ABS(w), list(range(-rank, 0)))


def _planes(t: torch.Tensor) -> torch.Tensor:
    """Per-plane norms as (N, C): unbatched (C,) and corr2d () norms get the missing dims."""
    return t.reshape(-1, t.shape[-1]) if t.dim() >= 1 else t.reshape(1, 1)


def forward_scale(x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    """``sum_c ||x[n, c]||_2 * ||w[o, c]||_1`` per output plane (n, o), broadcastable to the output."""
    return _through_weight(x, w, groups, adjoint=False)


def _grad_input_scale(g: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    """``sum_o ||g[n, o]||_2 * ||w[o, c]||_1`` per input plane (n, c)."""
    return _through_weight(g, w, groups, adjoint=True)


def _through_weight(t: torch.Tensor, w: torch.Tensor, groups: int, adjoint: bool) -> torch.Tensor:
    """The planes' 2-norms of ``t`` carried through the filters' 1-norms of ``w``, group by group.

    Forward, ``t`` is the input and the sum runs over each group's input channels; for the
    adjoint, ``t`` is the output gradient and the sum runs over each group's output channels.
    The result has ``t``'s dims (none for corr2d planes, a missing batch dim kept missing).
    """
    rank = rank_of(w)
    nt, nw = _l2(t, rank), _l1(w, rank)
    if w.dim() == 2:
        return nt * nw
    nt2 = _planes(nt)
    n = nt2.shape[0]
    o, cg = nw.shape
    filters = nw.reshape(groups, o // groups, cg)
    if adjoint:
        per = _EINSUM("ngo,goc->ngc", [nt2.reshape(n, groups, o // groups), filters]).reshape(n, groups * cg)
    else:
        per = _EINSUM("ngc,goc->ngo", [nt2.reshape(n, groups, cg), filters]).reshape(n, o)
    per = per.reshape(*per.shape, *(1,) * rank)
    return per if t.dim() == rank + 2 else per[0]


def _grad_weight_scale(x: torch.Tensor, g: torch.Tensor, groups: int, w: torch.Tensor) -> torch.Tensor:
    """``sum_n ||x[n, c]||_2 * ||g[n, o]||_2`` per filter (o, c) of ``w``: a correlation over whole planes."""
    rank = rank_of(w)
    nx, ng = _l2(x, rank), _l2(g, rank)
    if w.dim() == 2:
        return nx * ng
    nx2, ng2 = _planes(nx), _planes(ng)
    n = nx2.shape[0]
    per_group = _EINSUM("ngc,ngo->goc", [nx2.reshape(n, groups, -1), ng2.reshape(n, groups, -1)])
    return per_group.reshape(-1, per_group.shape[-1]).reshape(-1, per_group.shape[-1], *(1,) * rank)


@dataclasses.dataclass(frozen=True)
class ExactGrads:
    """Float64 gradients of ``<conv(x, w) + b, g>`` and their magnitudes (``None`` for no bias)."""

    input: Exact
    weight: Exact
    bias: Exact | None


def _reduction(w: torch.Tensor, geo: _Geometry) -> int:
    """K, at most: the products summed per output element (C_in / groups * prod(kernel) for a convolution)."""
    taps = math.prod(w.shape[-geo.rank :])
    if geo.output_padding is not None:  # (C_in, C_out / groups, kh, kw)
        return w.shape[0] // geo.groups * taps
    return (w.shape[1] if w.dim() > 2 else 1) * taps


def reference(args: Args) -> Exact:
    """The exact convolution of ``args``, its magnitude and scale, on the CPU in float64, cross-checked."""
    x, w, b = as_float64(args.input), as_float64(args.weight), as_float64(args.bias)
    assert x is not None and w is not None
    geo = _geometry(args, x, w)
    value = _conv(geo, x, w, b)
    magnitude = _conv(geo, _ABS(x), _ABS(w), None if b is None else _ABS(b))
    _cross_check("the output", args, value, _second(geo)(geo, x, w, b), magnitude, _reduction(w, geo))
    unbiased = None if b is None else _conv(geo, x, w, None)
    scale = (
        forward_scale(x, w, geo.groups)
        if geo.output_padding is None
        else _grad_input_scale(x, w, geo.groups)  # the adjoint of the convolution with this weight
    )
    return Exact(value, magnitude, scale, unbiased)


def _grads(
    geo: _Geometry,
    algorithm,
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    g: torch.Tensor,
) -> list[torch.Tensor]:
    leaves = [t.clone().requires_grad_() for t in (x, w, b) if t is not None]
    with torch.enable_grad():
        out = algorithm(geo, leaves[0], leaves[1], leaves[2] if b is not None else None)
        return [t.detach() for t in _GRAD(out, leaves, g)]


def reference_grads(args: Args, grad_output: torch.Tensor) -> ExactGrads:
    """Exact gradients of ``<conv(args), grad_output>`` w.r.t. input, weight and bias, cross-checked."""
    x, w, b = as_float64(args.input), as_float64(args.weight), as_float64(args.bias)
    g = as_float64(grad_output)
    assert x is not None and w is not None and g is not None
    geo = _geometry(args, x, w)
    absb = None if b is None else _ABS(b)
    values = _grads(geo, _conv, x, w, b, g)
    mags = _grads(geo, _conv, _ABS(x), _ABS(w), absb, _ABS(g))
    checks = _grads(geo, _second(geo), x, w, b, g)
    names = ("the input gradient", "the weight gradient", "the bias gradient")
    batch = g.shape[0] if geo.batched else 1
    kernel, rank = math.prod(w.shape[-geo.rank :]), geo.rank
    per_plane = batch * math.prod(g.shape[-rank:])
    if geo.output_padding is None:
        taps = (w.shape[0] // geo.groups if w.dim() > 2 else 1) * kernel
        ks = (taps, per_plane, per_plane)
        scales = [_grad_input_scale(g, w, geo.groups), _grad_weight_scale(x, g, geo.groups, w)]
    else:  # the input gradient of a transposed convolution is the convolution of g with w
        ks = (w.shape[1] * kernel, batch * math.prod(x.shape[-rank:]), per_plane)
        scales = [forward_scale(g, w, geo.groups), _grad_weight_scale(g, x, geo.groups, w)]
    for name, v, c, m, k in zip(names, values, checks, mags, ks, strict=False):
        _cross_check(name, args, v, c, m, k)
    scales.append(
        torch.zeros((), dtype=_F64)
    )  # a bias gradient is a plain sum: no transform mixes planes into it
    exact = [Exact(v, m, s) for v, m, s in zip(values, mags, scales, strict=False)]
    return ExactGrads(exact[0], exact[1], exact[2] if b is not None else None)


def exact_conv(args: Args, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """torch's convolution operator (bound at import) on float64 ``x``, ``w`` with the parameters of ``args``.

    Differentiable twice, so laws of second derivatives have a reference too.
    """
    return _conv(_geometry(args, x, w), x, w, b)


def second_order_scales(
    v: torch.Tensor, u_x: torch.Tensor, u_w: torch.Tensor, groups: int, transposed: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Norm-wise scales of the double-backward products (float64 tensors of the output's, input's and weight's shapes).

    d/dx <grad_w, u_w> is the input gradient of ``v`` through the kernel ``u_w``, and
    d/dw <grad_x, u_x> the weight gradient correlating ``u_x`` with ``v``: each gets the
    scale of that first-order gradient.
    """
    v, u_x, u_w = (t.detach().to("cpu", _F64) for t in (v, u_x, u_w))
    if transposed:  # its input gradient is a convolution; its weight gradient correlates v with u_x
        return forward_scale(v, u_w, groups), _grad_weight_scale(v, u_x, groups, u_w)
    return _grad_input_scale(v, u_w, groups), _grad_weight_scale(u_x, v, groups, u_w)
