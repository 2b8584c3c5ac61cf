"""The exact result a target is judged against: F.conv2d in float64 on the CPU.

The reference also returns the *magnitude* ``|x| ⋆ |w| + |b|`` the error bound
scales with, and the same pair for gradients. Inputs are read as the values the
target received (already rounded to the case's dtype), so the only difference
left is the target's own rounding. Computing on the CPU in float64 keeps TF32
and cuDNN algorithm choice out of the reference.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from conv2d.gate.case import Args

__all__ = ["Exact", "ExactGrads", "reference", "reference_grads"]


def _f64(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().to(device="cpu", dtype=torch.float64)


def _conv(args: Args, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    if x.dim() == 2:  # corr2d kind: (H, W) input and (h, w) kernel
        return F.conv2d(x[None, None], w[None, None])[0, 0]
    return F.conv2d(x, w, b, **args.params())  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Exact:
    """The float64 result and its magnitude ``|x| ⋆ |w| + |b|``."""

    value: torch.Tensor
    magnitude: torch.Tensor


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
    return Exact(value, magnitude)


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
    exact = [Exact(v.detach(), m.detach()) for v, m in zip(values, mags, strict=True)]
    return ExactGrads(exact[0], exact[1], exact[2] if b is not None else None)
