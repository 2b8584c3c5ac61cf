"""Judging an output against the catalogue: every variant it fits, named only when the case tells it apart.

:func:`identify` judges the output against every variant of
:data:`~conv2d.gate.diagnosis.catalogue.VARIANTS` and every partly wrong variant of
:data:`~conv2d.gate.diagnosis.partial.PARTIAL_VARIANTS`, each at the gate's bound
taken on that variant's magnitudes (:func:`conv2d.gate.judge.exact_bound`). A
variant is named only when it is the one candidate left: where several fit, the
case cannot tell them apart and the match is *ambiguous*, listing them all. Given
the target, :func:`identify` checks the candidates on a second, larger case
(:mod:`~conv2d.gate.diagnosis.confirm`) and keeps only those the target's output
still fits there. :func:`diagnose` says it in one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torch import Tensor

from conv2d.gate.case import Args, ConvCase
from conv2d.gate.diagnosis.confirm import Confirmation, confirm_output, short_description
from conv2d.gate.diagnosis.fitting import Fit, output_fits, output_fits_all
from conv2d.gate.diagnosis.problem import MAX_ELEMENTS
from conv2d.gate.diagnosis.variant import Variant
from conv2d.gate.reference import Exact, reference
from conv2d.gate.tolerance import Precision, precision_for

if TYPE_CHECKING:
    from conv2d.gate.diagnosis.gradients import GradientVariant

__all__ = ["Match", "alternatives", "decide", "diagnose", "identify", "output_fits"]

#: The prefix a sentence's alternatives share when they all change one thing of F.conv2d.
_WITH = "F.conv2d with "


def alternatives(sentences: Sequence[str]) -> str:
    """Several ``"the output equals ..."`` sentences as one: ``"the output equals F.conv2d with A, or with B"``."""
    subject, _, first = sentences[0].partition(" equals ")
    rests = [first] + [s.partition(" equals ")[2] for s in sentences[1:]]
    if all(r.startswith(_WITH) for r in rests):
        rests = [rests[0]] + [r.removeprefix("F.conv2d ") for r in rests[1:]]
    return f"{subject} equals {', or '.join(rests)}"


@dataclasses.dataclass(frozen=True)
class Match:
    """What a result fits: the variant (or the candidates a case cannot tell apart), how closely, the line.

    Attributes:
        variant: the variant named; for an ambiguous match, the first candidate in catalogue order.
        ratio: the worst ratio to the bound on the case judged (of all candidates, when ambiguous).
        candidates: every variant the result fits indistinguishably (one when it is named).
        confirmed_on: the second case the candidates were checked on, as its shapes and parameters.
    """

    variant: Variant | GradientVariant
    ratio: float
    candidates: tuple[Variant | GradientVariant, ...] = ()
    confirmed_on: str | None = None

    @classmethod
    def of(cls, found: Sequence[Fit], confirmed: Confirmation | None = None) -> Match:
        """The match of the fits ``found`` (at least one), checked on ``confirmed``'s case if given."""
        where = None if confirmed is None else short_description(confirmed.case)
        ratio = max(f.ratio for f in found)
        return cls(found[0].variant, ratio, tuple(f.variant for f in found), where)

    @property
    def ambiguous(self) -> bool:
        """True when several candidates fit and none is named."""
        return len(self.candidates) > 1

    @property
    def line(self) -> str:
        """``"diagnosis: the output equals ... (variant NAME, within R x its error bound)"``.

        A confirmed match adds ``"; confirmed on input(...) ..."``; an ambiguous one reads
        ``"diagnosis: ambiguous on this case: the output equals A, or B (variants a, b)"``.
        """
        if self.ambiguous:
            names = ", ".join(v.name for v in self.candidates)
            also = "" if self.confirmed_on is None else f"; all fit on {self.confirmed_on} too"
            said = alternatives([v.sentence for v in self.candidates])
            return f"diagnosis: ambiguous on this case: {said} (variants {names}{also})"
        confirmed = "" if self.confirmed_on is None else f"; confirmed on {self.confirmed_on}"
        return (
            f"diagnosis: {self.variant.sentence} "
            f"(variant {self.variant.name}, within {self.ratio:.2g} x its error bound{confirmed})"
        )


def decide(found: Sequence[Fit], confirmed: Confirmation | None) -> Match | None:
    """The match of the candidates ``found``: only those that survive ``confirmed``'s case, if one was run."""
    if confirmed is not None:
        found = confirmed.survivors(found)
    return Match.of(found, confirmed) if found else None


def identify(
    actual: Tensor,
    case: ConvCase,
    args: Args,
    *,
    precision: Precision | None = None,
    exact: Exact | None = None,
    target: Any = None,
) -> Match | None:
    """What ``actual`` computes instead of the convolution: the variant it fits, or the candidates it fits.

    Args:
        actual: the target's output for ``args`` (any shape, dtype and device).
        case: the case ``args`` was materialised from (its dtype and transform length set the bound).
        args: the tensors exactly as the target received them (layouts matter).
        precision: the precision the target is held to (default: F.conv2d's contract for the dtype).
        exact: the float64 reference of ``args``, when the caller has it already.
        target: the implementation that computed ``actual`` (a
            :class:`~conv2d.gate.target.Target` or a callable): when given, it is called once
            more, on :func:`~conv2d.gate.diagnosis.confirm.second_case`, and only the candidates
            its output fits there are kept (if its output there is right, or the call fails,
            the first case's candidates stand).

    Returns ``None`` when the output is right, when no variant fits (or none survives
    the second case), or when the input has more than
    :data:`~conv2d.gate.diagnosis.problem.MAX_ELEMENTS` elements. A match with several
    candidates is :attr:`Match.ambiguous`.
    """
    if args.input.numel() > MAX_ELEMENTS:
        return None
    contract = precision or precision_for(case.torch_dtype)
    exact = reference(args) if exact is None else exact
    if output_fits(actual, case, args, contract, exact):
        return None
    found = output_fits_all(actual, case, args, contract, exact)
    if not found:
        return None
    confirmed = None if target is None else confirm_output(target, case, contract, found)
    return decide(found, confirmed)


# Deliberately the same parameters as identify(): diagnose() is its one-line form.
def diagnose(
    actual: Tensor,
    case: ConvCase,
    args: Args,
    *,
    precision: Precision | None = None,
    exact: Exact | None = None,
    target: Any = None,
) -> str | None:
    """One line naming what ``actual`` computes instead of the convolution, or ``None``; see :func:`identify`."""
    found = identify(actual, case, args, precision=precision, exact=exact, target=target)
    return None if found is None else found.line
