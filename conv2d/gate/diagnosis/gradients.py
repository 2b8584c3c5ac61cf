"""Gradient variants: well-known wrong ``input.grad``, ``weight.grad`` and ``bias.grad``.

:func:`identify_gradient` judges a gradient against every :class:`GradientVariant` of
its argument, as :func:`~conv2d.gate.diagnosis.identify.identify` does for an output
(several that fit make an ambiguous match; given the target, a second case keeps
those that still fit); :func:`diagnose_gradient` says it in one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from conv2d.gate.case import Args, ConvCase, Pair
from conv2d.gate.diagnosis.confirm import Confirmation, as_target, runnable, second_case
from conv2d.gate.diagnosis.fitting import Evaluated, Fit, distinct
from conv2d.gate.diagnosis.identify import Match, decide
from conv2d.gate.diagnosis.problem import CONVOLUTION, MAX_ELEMENTS, PAD, Problem, convolve
from conv2d.gate.diagnosis.variant import Categorised
from conv2d.gate.judge import case_bound, fits
from conv2d.gate.reference import Exact, as_float64, reference_grads
from conv2d.gate.target import Target
from conv2d.gate.tolerance import Precision, precision_for
from conv2d.gate.vocabulary import Category

__all__ = [
    "GRADIENT_VARIANTS",
    "GradientFn",
    "GradientVariant",
    "Which",
    "diagnose_gradient",
    "gradient_fits",
    "identify_gradient",
]

_GRAD = torch.autograd.grad

Which = Literal["input", "weight", "bias"]
#: (problem, x, w, g) -> the wrong gradient in 4-D form (or (O,) for the bias), or None.
GradientFn = Callable[[Problem, Tensor, Tensor, Tensor], Tensor | None]


@dataclasses.dataclass(frozen=True)
class GradientVariant(Categorised):
    """A well-known wrong gradient of one argument, computed from ``(x, w, grad_output)``.

    The computation is linear in each tensor, so applied to their absolute values
    it gives the magnitude its bound scales with.
    """

    name: str
    which: Which
    category: Category
    sentence: str
    compute: GradientFn
    also: tuple[Category, ...] = ()


GRADIENT_VARIANTS: list[GradientVariant] = []


def _gradient(name: str, which: Which, sentence: str) -> Callable[[GradientFn], GradientFn]:
    def add(fn: GradientFn) -> GradientFn:
        GRADIENT_VARIANTS.append(GradientVariant(name, which, Category.BACKWARD, sentence, fn))
        return fn

    return add


def _grad_input(p: Problem, w: Tensor, g: Tensor, stride: Pair, dilation: Pair) -> Tensor:
    """The input gradient by a transposed convolution with the given stride and dilation, fitted to the input."""
    gi = CONVOLUTION(g, w, None, list(stride), [0, 0], list(dilation), True, [0, 0], p.base.groups)
    (hp, wp), (top, _, left, _) = p.padded, p.base.pads
    gi = gi[..., :hp, :wp]
    gi = PAD(gi, [0, wp - gi.shape[-1], 0, hp - gi.shape[-2]], 0.0)
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
        out = convolve(p.call(x=first, b=None), first, leaf, None, None)
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


def gradient_fits(
    which: Which, actual: Tensor, case: ConvCase, args: Args, grad_output: Tensor, contract: Precision
) -> bool:
    """True when ``actual`` is the right gradient of ``which``, every element within its bound."""
    grads = reference_grads(args, grad_output)
    exact = {"input": grads.input, "weight": grads.weight, "bias": grads.bias}[which]
    if exact is None or actual.dtype != case.torch_dtype:
        return False
    allowed = case_bound(case, exact, contract, reduction=case.grad_reduction(which))
    return fits(actual, exact, allowed) is not None


def _gradient_fits(
    which: Which,
    actual: Tensor,
    case: ConvCase,
    problem: Problem,
    g4: Tensor,
    contract: Precision,
    variants: Sequence[GradientVariant] | None = None,
) -> list[Fit]:
    """Every gradient variant of ``which`` (of ``variants``, default all) that ``actual`` fits, at its own bound."""
    x, w = problem.base.x, problem.base.w
    found = []
    for variant in GRADIENT_VARIANTS if variants is None else variants:
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
        allowed = case_bound(case, got, contract, reduction=case.grad_reduction(which))
        ratio = fits(actual, got, allowed)
        if ratio is not None:
            found.append(Fit(variant, ratio, Evaluated(variant, got, allowed, actual.dtype)))
    return distinct(found)


def _grad_output4(problem: Problem, grad_output: Tensor) -> Tensor:
    """The output gradient in float64 4-D form."""
    g = as_float64(grad_output)
    assert g is not None
    return g[None, None] if problem.kind == "corr2d" else (g if problem.batched else g[None])


def _judge_second(
    which: Which, target: Target, second: ConvCase, contract: Precision, found: Sequence[Fit]
) -> Confirmation | None:
    """The candidates the target's gradient on ``second`` fits; ``None`` when that gradient is right."""
    from conv2d.gate.laws import target_grads  # late: the laws may import this package

    args, _, grad_output, grads = target_grads(target, second, second.materialize())
    grad = dict(zip(("input", "weight", "bias"), grads, strict=False)).get(which)
    if grad is None or gradient_fits(which, grad, second, args, grad_output, contract):
        return None
    problem = Problem.of(args)
    g4 = _grad_output4(problem, grad_output)
    variants = [f.variant for f in found if isinstance(f.variant, GradientVariant)]
    kept = _gradient_fits(which, grad, second, problem, g4, contract, variants)
    return Confirmation(second, frozenset(f.variant.name for f in kept))


def _confirm_gradient(
    which: Which, target: Any, case: ConvCase, contract: Precision, found: Sequence[Fit]
) -> Confirmation | None:
    """The candidates of ``found`` that the target's gradient on :func:`second_case` still fits, or ``None``."""
    try:
        wrapped = as_target(target, case.kind)
        second = second_case(case, [f.variant for f in found])
        return _judge_second(which, wrapped, second, contract, found) if runnable(wrapped, second) else None
    except Exception:  # whatever the second call does, the diagnosis of the first case stands on its own
        return None


def identify_gradient(
    which: Which,
    actual: Tensor,
    case: ConvCase,
    args: Args,
    grad_output: Tensor,
    *,
    precision: Precision | None = None,
    target: Any = None,
) -> Match | None:
    """The gradient variants of ``which`` that ``actual`` fits while it does not fit the right gradient.

    Args:
        which: ``"input"``, ``"weight"`` or ``"bias"``: whose gradient ``actual`` is.
        actual: the target's gradient.
        case, args: as for :func:`~conv2d.gate.diagnosis.identify.identify`.
        grad_output: the output gradient the backward pass was given.
        precision: the gradients' precision (default: F.conv2d's backward contract for the dtype).
        target: as for :func:`~conv2d.gate.diagnosis.identify.identify`: when given, its
            gradients on a second case keep only the candidates they still fit.

    A match with several candidates is :attr:`~conv2d.gate.diagnosis.identify.Match.ambiguous`.
    """
    if which not in ("input", "weight", "bias"):
        raise ValueError(f"which={which!r}; expected 'input', 'weight' or 'bias'")
    if args.input.numel() > MAX_ELEMENTS:
        return None
    contract = precision or precision_for(case.torch_dtype, backward=True)
    if gradient_fits(which, actual, case, args, grad_output, contract):
        return None
    problem = Problem.of(args)
    found = _gradient_fits(which, actual, case, problem, _grad_output4(problem, grad_output), contract)
    if not found:
        return None
    confirmed = None if target is None else _confirm_gradient(which, target, case, contract, found)
    return decide(found, confirmed)


# Deliberately the same parameters as identify_gradient(): diagnose_gradient() is its one-line form.
def diagnose_gradient(
    which: Which,
    actual: Tensor,
    case: ConvCase,
    args: Args,
    grad_output: Tensor,
    *,
    precision: Precision | None = None,
    target: Any = None,
) -> str | None:
    """One line naming what a wrong gradient computes instead, or ``None``; see :func:`identify_gradient`."""
    found = identify_gradient(which, actual, case, args, grad_output, precision=precision, target=target)
    return None if found is None else found.line
