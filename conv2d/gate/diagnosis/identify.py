"""Judging an output against the catalogue: the first variant it fits while it does not fit the right result.

:func:`identify` evaluates each variant of :data:`~conv2d.gate.diagnosis.catalogue.VARIANTS`
exactly in float64 and judges the output against it with the gate's own error bound
taken on that variant's magnitudes (:func:`conv2d.gate.judge.exact_bound`); where no
whole-call variant fits, the partly wrong outputs of
:data:`~conv2d.gate.diagnosis.partial.PARTIAL_VARIANTS`. :func:`diagnose` says it in one line.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from torch import Tensor

from conv2d.gate.case import Args, ConvCase
from conv2d.gate.diagnosis.catalogue import VARIANTS
from conv2d.gate.diagnosis.partial import identify_partial
from conv2d.gate.diagnosis.problem import MAX_ELEMENTS, Problem, evaluate
from conv2d.gate.diagnosis.variant import Variant
from conv2d.gate.judge import case_bound, exact_bound, fits, transform_length
from conv2d.gate.reference import Exact, reference
from conv2d.gate.tolerance import Precision, precision_for

if TYPE_CHECKING:
    from conv2d.gate.diagnosis.gradients import GradientVariant

__all__ = ["Match", "diagnose", "identify", "output_fits"]


@dataclasses.dataclass(frozen=True)
class Match:
    """A variant a result fits: which one, how closely, and the line that says so."""

    variant: Variant | GradientVariant
    ratio: float

    @property
    def line(self) -> str:
        """``"diagnosis: the output equals ... (variant NAME, within R x its error bound)"``."""
        return (
            f"diagnosis: {self.variant.sentence} "
            f"(variant {self.variant.name}, within {self.ratio:.2g} x its error bound)"
        )


def output_fits(
    actual: Tensor, case: ConvCase, args: Args, contract: Precision, exact: Exact | None = None
) -> bool:
    """True when ``actual`` is the right output: the right dtype and shape, every element within its bound."""
    if actual.dtype != case.torch_dtype:
        return False
    exact = reference(args) if exact is None else exact
    return fits(actual, exact, case_bound(case, exact, contract)) is not None


def _first_variant(actual: Tensor, case: ConvCase, problem: Problem, contract: Precision) -> Match | None:
    """The first variant of :data:`VARIANTS` that ``actual`` fits, each judged at its own bound."""
    transformed = transform_length(case)
    for variant in VARIANTS:
        call = variant.compute(problem)
        if call is None or actual.dtype != (call.dtype or case.torch_dtype):
            continue
        try:
            got = evaluate(problem, call)
        except RuntimeError:  # the variant's parameters leave no output for this call
            continue
        reduction = call.w.shape[1] * call.w.shape[2] * call.w.shape[3]
        allowed = exact_bound(
            got, reduction=reduction, precision=call.precision or contract, transformed=transformed
        )
        ratio = fits(actual, got, allowed)
        if ratio is not None:
            return Match(variant, ratio)
    return None


def identify(
    actual: Tensor,
    case: ConvCase,
    args: Args,
    *,
    precision: Precision | None = None,
    exact: Exact | None = None,
) -> Match | None:
    """The first variant of :data:`VARIANTS` that ``actual`` fits while it does not fit the right result.

    Args:
        actual: the target's output for ``args`` (any shape, dtype and device).
        case: the case ``args`` was materialised from (its dtype and transform length set the bound).
        args: the tensors exactly as the target received them (layouts matter).
        precision: the precision the target is held to (default: F.conv2d's contract for the dtype).
        exact: the float64 reference of ``args``, when the caller has it already.

    Returns ``None`` when the output is right, when no variant fits, or when the
    input has more than :data:`~conv2d.gate.diagnosis.problem.MAX_ELEMENTS` elements.
    """
    if args.input.numel() > MAX_ELEMENTS:
        return None
    contract = precision or precision_for(case.torch_dtype)
    if output_fits(actual, case, args, contract, exact):
        return None
    problem = Problem.of(args)
    found = _first_variant(actual, case, problem, contract)
    if found is not None:
        return found
    partial = identify_partial(actual, case, problem, contract, reference(args) if exact is None else exact)
    return None if partial is None else Match(*partial)


def diagnose(
    actual: Tensor,
    case: ConvCase,
    args: Args,
    *,
    precision: Precision | None = None,
    exact: Exact | None = None,
) -> str | None:
    """One line naming what ``actual`` computes instead of the convolution, or ``None``; see :func:`identify`."""
    found = identify(actual, case, args, precision=precision, exact=exact)
    return None if found is None else found.line
