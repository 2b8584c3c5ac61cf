"""Every variant an output fits on one case, less those a more specific fit makes redundant.

:func:`output_fits_all` judges an output against every variant of
:data:`~conv2d.gate.diagnosis.catalogue.VARIANTS` (each at the gate's bound taken on
that variant's magnitudes) and every partly wrong variant of
:data:`~conv2d.gate.diagnosis.partial.PARTIAL_VARIANTS`.
On a small case several variants may compute the same result (a kernel with one
row is its own vertical mirror; two images rolled are two images reversed): all of
them fit, and the case alone cannot tell which bug it is. :func:`distinct` keeps
every such fit and drops only a fit whose looser bound merely covers a more
specific one (inputs rounded to TF32 also fit "computed in bfloat16", whose bound
is far wider).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from conv2d.gate.case import Args, ConvCase
from conv2d.gate.diagnosis.catalogue import VARIANTS
from conv2d.gate.diagnosis.partial import partial_matches
from conv2d.gate.diagnosis.problem import Problem, evaluate
from conv2d.gate.diagnosis.variant import Variant
from conv2d.gate.judge import case_bound, exact_bound, fits, transform_length
from conv2d.gate.reference import Exact, reference
from conv2d.gate.tolerance import Precision

if TYPE_CHECKING:
    from conv2d.gate.diagnosis.gradients import GradientVariant

__all__ = [
    "Evaluated",
    "Fit",
    "distinct",
    "evaluated",
    "fit_of",
    "output_fits",
    "output_fits_all",
    "variant_fit",
]


@dataclasses.dataclass(frozen=True)
class Evaluated:
    """A variant computed exactly on one case: its exact result, the bound around it, the dtype it returns."""

    variant: Variant | GradientVariant
    exact: Exact
    allowed: Tensor
    dtype: torch.dtype

    def covers(self, other: Evaluated) -> bool:
        """True when ``other``'s exact value lies within this variant's bound (same shape)."""
        return fits(other.exact.value, self.exact, self.allowed) is not None


@dataclasses.dataclass(frozen=True)
class Fit:
    """A variant an output fits on one case: the variant, the worst ratio to its bound, and how it was computed.

    ``computed`` is ``None`` for a partly wrong variant, which has no whole exact result.
    """

    variant: Variant | GradientVariant
    ratio: float
    computed: Evaluated | None = None


def output_fits(
    actual: Tensor, case: ConvCase, args: Args, contract: Precision, exact: Exact | None = None
) -> bool:
    """True when ``actual`` is the right output: the right dtype and shape, every element within its bound."""
    if actual.dtype != case.torch_dtype:
        return False
    exact = reference(args) if exact is None else exact
    return fits(actual, exact, case_bound(case, exact, contract)) is not None


def evaluated(variant: Variant, case: ConvCase, problem: Problem, contract: Precision) -> Evaluated | None:
    """``variant`` computed exactly on ``problem`` with its bound, or ``None`` where it does not apply."""
    call = variant.compute(problem)
    if call is None:
        return None
    try:
        got = evaluate(problem, call)
    except RuntimeError:  # the variant's parameters leave no output for this call
        return None
    reduction = call.w.shape[1] * call.w.shape[2] * call.w.shape[3]
    allowed = exact_bound(
        got, reduction=reduction, precision=call.precision or contract, transformed=transform_length(case)
    )
    return Evaluated(variant, got, allowed, call.dtype or case.torch_dtype)


def fit_of(actual: Tensor, computed: Evaluated) -> Fit | None:
    """The :class:`Fit` of ``actual`` to a computed variant: its dtype, shape and every element within the bound."""
    if actual.dtype != computed.dtype:
        return None
    ratio = fits(actual, computed.exact, computed.allowed)
    return None if ratio is None else Fit(computed.variant, ratio, computed)


def variant_fit(
    actual: Tensor, variant: Variant, case: ConvCase, problem: Problem, contract: Precision
) -> Fit | None:
    """The :class:`Fit` of ``actual`` to one variant on ``problem``, or ``None``."""
    computed = evaluated(variant, case, problem, contract)
    return None if computed is None else fit_of(actual, computed)


def _looser(fit: Fit, other: Fit) -> bool:
    """True when ``fit``'s bound covers ``other``'s exact value but not the other way round."""
    a, b = fit.computed, other.computed
    if a is None or b is None:
        return False
    return a.covers(b) and not b.covers(a)


def distinct(found: Sequence[Fit]) -> list[Fit]:
    """``found`` without the fits whose looser bound only covers a more specific fit; coincident fits all stay."""
    return [f for f in found if not any(_looser(f, g) for g in found if g is not f)]


def output_fits_all(
    actual: Tensor, case: ConvCase, args: Args, contract: Precision, exact: Exact
) -> list[Fit]:
    """Every variant ``actual`` fits, in catalogue order (see :func:`distinct`), then every partial variant it fits."""
    problem = Problem.of(args)
    whole = [variant_fit(actual, variant, case, problem, contract) for variant in VARIANTS]
    partial = [Fit(v, ratio) for v, ratio in partial_matches(actual, case, problem, contract, exact)]
    return distinct([f for f in whole if f is not None]) + partial
