"""The exact result a target is judged against: F.conv2d in float64 on the CPU.

The reference also returns what the error bound scales with: the element-wise
*magnitude* ``|x| ⋆ |w| + |b|``, and a norm-wise *scale* per output plane — the
size of the rounding noise an FFT-style algorithm spreads over a whole plane,
``sum_c rms(x[n, c]) * ||w[o, c]||_1`` — and the same pair for gradients. Inputs are read as the values the
target received (already rounded to the case's dtype), so the only difference
left is the target's own rounding. Computing on the CPU in float64 keeps TF32
and cuDNN algorithm choice out of the reference.
"""

from __future__ import annotations

import dataclasses
import warnings

import torch
import torch.nn.functional as F

from conv2d.gate.case import Args

__all__ = ["Exact", "ExactGrads", "reference", "reference_grads"]


def _f64(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().to(device="cpu", dtype=torch.float64)


def _conv(args: Args, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    if x.dim() == 2:  # corr2d kind: (H, W) input and (h, w) kernel
        return F.conv2d(x[None, None], w[None, None])[0, 0]
    with warnings.catch_warnings():  # torch's note that "same" with an even kernel pads a copy
        warnings.filterwarnings("ignore", message="Using padding='same'", category=UserWarning)
        return F.conv2d(x, w, b, **args.params())  # type: ignore[call-overload]


@dataclasses.dataclass(frozen=True)
class Exact:
    """The float64 result, its magnitude ``|x| ⋆ |w| + |b|`` and its norm-wise scale.

    ``scale`` broadcasts against ``value`` (one number per output plane): the
    norm of what a transform-based algorithm mixes into each element of the plane.
    """

    value: torch.Tensor
    magnitude: torch.Tensor
    scale: torch.Tensor


def _rms(t: torch.Tensor) -> torch.Tensor:
    """Root mean square over the two spatial dims."""
    return t.pow(2).mean(dim=(-2, -1)).sqrt() if t.numel() else t.sum(dim=(-2, -1))


def _l1(w: torch.Tensor) -> torch.Tensor:
    return w.abs().sum(dim=(-2, -1))


def _unsqueeze2(t: torch.Tensor) -> torch.Tensor:
    return t[..., None, None]


def _forward_scale(x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    """``sum_c rms(x[n, c]) * ||w[o, c]||_1`` per output plane (n, o)."""
    if x.dim() == 2:
        return _rms(x) * _l1(w)
    return F.conv2d(_unsqueeze2(_rms(x)), _unsqueeze2(_l1(w)), groups=groups)


def _grad_input_scale(g: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    """``sum_o rms(g[n, o]) * ||w[o, c]||_1`` per input plane (n, c)."""
    if g.dim() == 2:
        return _rms(g) * _l1(w)
    return F.conv_transpose2d(_unsqueeze2(_rms(g)), _unsqueeze2(_l1(w)), groups=groups)


def _grad_weight_scale(x: torch.Tensor, g: torch.Tensor, groups: int) -> torch.Tensor:
    """``sum_n ||x[n, c]||_2 * ||g[n, o]||_2`` per filter (o, c): a correlation over whole planes."""
    nx, ng = x.pow(2).sum(dim=(-2, -1)).sqrt(), g.pow(2).sum(dim=(-2, -1)).sqrt()
    if x.dim() == 2:
        return nx * ng
    if x.dim() == 3:
        nx, ng = nx[None], ng[None]
    n = nx.shape[0]
    per_group = torch.einsum("ngc,ngo->goc", nx.reshape(n, groups, -1), ng.reshape(n, groups, -1))
    return _unsqueeze2(per_group.reshape(-1, per_group.shape[-1]))


@dataclasses.dataclass(frozen=True)
class ExactGrads:
    """Float64 gradients of ``<conv(x, w) + b, g>`` and their magnitudes (``None`` for no bias)."""

    input: Exact
    weight: Exact
    bias: Exact | None


def reference(args: Args) -> Exact:
    """The exact convolution of ``args`` and its magnitude, on the CPU in float64."""
    x, w, b = _f64(args.input), _f64(args.weight), _f64(args.bias)
    assert x is not None and w is not None
    value = _conv(args, x, w, b)
    magnitude = _conv(args, x.abs(), w.abs(), None if b is None else b.abs())
    return Exact(value, magnitude, _forward_scale(x, w, args.groups))


def _grads(args: Args, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, g: torch.Tensor) -> list:
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    out = _conv(args, x, w, b)
    return list(torch.autograd.grad(out, leaves, g))


def reference_grads(args: Args, grad_output: torch.Tensor) -> ExactGrads:
    """Exact gradients of ``<conv(args), grad_output>`` w.r.t. input, weight and bias."""
    x, w, b = _f64(args.input), _f64(args.weight), _f64(args.bias)
    g = _f64(grad_output)
    assert x is not None and w is not None and g is not None
    values = _grads(args, x.clone(), w.clone(), None if b is None else b.clone(), g)
    mags = _grads(args, x.abs(), w.abs(), None if b is None else b.abs(), g.abs())
    scales = [
        _grad_input_scale(g, w, args.groups),
        _grad_weight_scale(x, g, args.groups),
        torch.zeros(()),  # a bias gradient is a plain sum: no transform mixes planes into it
    ]
    exact = [
        Exact(v.detach(), m.detach(), s.to(torch.float64))
        for v, m, s in zip(values, mags, scales, strict=False)
    ]
    return ExactGrads(exact[0], exact[1], exact[2] if b is not None else None)
