"""A second case that tells apart what one case cannot: drawn from the case, run through the target once.

A shrunk counterexample is small and often symmetric, and on it a bug the catalogue
does not describe can compute exactly what a catalogued variant computes (padding
one more column on the left of a 1-column input with a 1x2 kernel equals the kernel
rotated 180°). :func:`second_case` draws a larger case of the same family, on which
such coincidences fall apart, and :func:`confirm_output` calls the target on it and
keeps the candidates whose output still fits there.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from conv2d.gate.case import ConvCase, Pair, as_pair, resolve_padding
from conv2d.gate.diagnosis.fitting import Fit, evaluated, output_fits, variant_fit
from conv2d.gate.diagnosis.partial import partial_matches
from conv2d.gate.diagnosis.problem import MAX_ELEMENTS, Problem
from conv2d.gate.diagnosis.variant import Variant
from conv2d.gate.reference import reference
from conv2d.gate.target import Target
from conv2d.gate.tolerance import Precision
from conv2d.gate.vocabulary import Category

if TYPE_CHECKING:
    from conv2d.gate.diagnosis.gradients import GradientVariant

__all__ = [
    "MIN_OUTPUT",
    "TRIALS",
    "Confirmation",
    "as_target",
    "confirm_output",
    "drawn_case",
    "runnable",
    "second_case",
    "short_description",
]

#: The fewest output rows and columns a second case has.
MIN_OUTPUT = 3
#: The most columns, and channels per group, :func:`drawn_case` adds to tell candidates apart.
TRIALS = 16


@dataclasses.dataclass(frozen=True)
class Confirmation:
    """The second case a diagnosis was checked on, and the names of the candidates that still fit there."""

    case: ConvCase
    names: frozenset[str]

    def survivors(self, found: Sequence[Fit]) -> list[Fit]:
        """The fits of ``found`` (judged on the first case) whose variant also fits the second case."""
        return [f for f in found if f.variant.name in self.names]


def short_description(case: ConvCase) -> str:
    """``case``'s shapes and parameters (:meth:`ConvCase.describe` without dtype, device, layouts and values)."""
    return case.describe().split(f" {case.dtype} {case.device} ", 1)[0]


def _grown_kernel(kernel: Pair) -> Pair:
    """A 1x1 kernel stays (a fast path); otherwise every 1 becomes 3 (parity kept) and a square one widens by 2."""
    if kernel == (1, 1):
        return kernel
    kh, kw = (3 if k == 1 else k for k in kernel)
    return (kh, kw + 2) if kh == kw else (kh, kw)


def _unequal(value: Any, trivial: int) -> Any:
    """A per-axis pair made unequal with no ``trivial`` entry where it has one; an int or a trivial pair unchanged.

    ``(2, 2)`` becomes ``(2, 3)``; ``(1, 2)`` (stride 1 on H) becomes ``(3, 2)``, so
    that "the H stride used for both" no longer equals "the stride ignored".
    """
    if not isinstance(value, tuple) or value[0] == value[1] == trivial:
        return value
    h, w = value
    if h == w:
        return (h, w + 1)
    if h == trivial:
        return (w + 1, w)
    return (h, h + 1) if w == trivial else value


def _grown_size(size: int, kernel: int, stride: int, dilation: int, pads: int) -> int:
    """An odd size above ``size + 1`` giving at least :data:`MIN_OUTPUT` outputs along the axis."""
    extent = dilation * (kernel - 1) + 1
    grown = size + 2
    while (grown + pads - extent) // stride + 1 < MIN_OUTPUT:
        grown += 1
    return grown | 1


def second_case(case: ConvCase, variants: Sequence[Variant | GradientVariant] = ()) -> ConvCase:
    """A larger case of ``case``'s family on which variants that coincide on ``case`` differ.

    Same dtype, device, layouts, value mode, channels, groups, bias and parameter
    forms; larger, odd, unequal height and width; a kernel with no axis of 1 and not
    square (a 1x1 kernel stays: it is a fast path of its own); one more image and one
    more output channel where there are several (and no groups); values drawn from a
    seed derived from ``case``. Where a variant of ``variants`` mixes up the axes,
    every parameter given as a pair becomes unequal, with no trivial entry
    (:func:`_unequal`).
    """
    stride, padding, dilation = case.stride, case.padding, case.dilation
    if case.kind == "conv2d" and any(Category.PER_AXIS in v.categories for v in variants):
        stride, dilation, padding = _unequal(stride, 1), _unequal(dilation, 1), _unequal(padding, 0)
    kernel = _grown_kernel((case.kernel[0], case.kernel[1]))
    s, d = as_pair(stride), as_pair(dilation)
    top, bottom, left, right = resolve_padding(padding, kernel, d)
    height = _grown_size(case.height, kernel[0], s[0], d[0], top + bottom)
    width = _grown_size(case.width, kernel[1], s[1], d[1], left + right)
    several_images = case.batch is not None and case.batch >= 2
    several_filters = case.kind == "conv2d" and case.groups == 1 and case.out_channels >= 2
    return case.replace(
        batch=case.batch + 1 if several_images and case.batch is not None else case.batch,
        out_channels=case.out_channels + 1 if several_filters else case.out_channels,
        height=height,
        width=width + 2 if width == height else width,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        seed=zlib.crc32(repr(case).encode()) & 0x7FFFFFFF,
    )


def _apart(found: Sequence[Fit], case: ConvCase, contract: Precision) -> bool:
    """True when no two whole candidates of ``found`` compute the same result on ``case`` (within their bounds)."""
    variants = [f.variant for f in found if f.computed is not None and isinstance(f.variant, Variant)]
    if len(variants) < 2 or _elements(case) > MAX_ELEMENTS:
        return True
    problem = Problem.of(case.materialize())
    computed = [evaluated(v, case, problem, contract) for v in variants]
    for i, a in enumerate(computed):
        for b in computed[i + 1 :]:
            if a is None and b is None:
                return False  # both equal the right result here
            if a is not None and b is not None and a.covers(b) and b.covers(a):
                return False
    return True


def _trials(second: ConvCase) -> Iterator[ConvCase]:
    """Variations of ``second``, each a little further from it: one column more, then more channels per group."""
    for more in range(1, TRIALS + 1):
        if second.width + more != second.height:
            yield second.replace(width=second.width + more)
        if second.kind == "conv2d":
            yield second.replace(in_channels=second.in_channels + second.groups * more)


def drawn_case(case: ConvCase, found: Sequence[Fit], contract: Precision) -> ConvCase:
    """:func:`second_case` for the candidates ``found``, varied where that is what tells them apart.

    Some candidates coincide on every case of a family (a loop over blocks of 16
    channels and one over blocks of 8 both drop the last 4 of 20; an output-size
    formula off by one on both axes drops the last row and column): where the second
    case does not tell the whole candidates apart, the variations of :func:`_trials`
    are tried, and the first that does is kept.
    """
    second = second_case(case, [f.variant for f in found])
    if _apart(found, second, contract):
        return second
    return next((t for t in _trials(second) if _apart(found, t, contract)), second)


def as_target(target: Any, kind: str) -> Target:
    """``target`` as a :class:`~conv2d.gate.target.Target` (a plain callable is wrapped), so that its failures are verdicts."""
    if isinstance(target, Target):
        return target
    return Target(target, getattr(target, "__name__", "target"), "corr2d" if kind == "corr2d" else "conv2d")


def _elements(case: ConvCase) -> int:
    """The number of input elements of ``case``."""
    elements = 1
    for n in case.input_shape:
        elements *= n
    return elements


def runnable(target: Target, case: ConvCase) -> bool:
    """True when ``case`` is small enough for the diagnosis and for what ``target`` declared."""
    limit = target.capabilities.max_elements
    return _elements(case) <= MAX_ELEMENTS and (limit is None or _elements(case) <= limit)


def _survivors(
    target: Target, second: ConvCase, contract: Precision, found: Sequence[Fit]
) -> Confirmation | None:
    """The candidates the target's output on ``second`` fits; ``None`` when that output is right."""
    args = second.materialize()
    out = target(args)
    exact = reference(args)
    if output_fits(out, second, args, contract, exact):
        return None  # the bug does not show on the second case: it cannot tell the candidates apart
    problem = Problem.of(args)
    names = {
        f.variant.name
        for f in found
        if isinstance(f.variant, Variant)
        and f.computed is not None
        and variant_fit(out, f.variant, second, problem, contract) is not None
    }
    if any(f.computed is None for f in found):
        names |= {v.name for v, _ in partial_matches(out, second, problem, contract, exact)}
    return Confirmation(second, frozenset(names))


def confirm_output(
    target: Any, case: ConvCase, contract: Precision, found: Sequence[Fit]
) -> Confirmation | None:
    """Call ``target`` on :func:`second_case` and keep the candidates of ``found`` its output fits there.

    Returns ``None`` when no second case can be judged: it is too large, the call
    fails in any way (raises, times out, returns no tensor), or its output is right
    there (the bug does not show on it).
    """
    try:
        wrapped = as_target(target, case.kind)
        second = drawn_case(case, found, contract)
        if not runnable(wrapped, second):
            return None
        return _survivors(wrapped, second, contract, found)
    except Exception:  # whatever the second call does, the diagnosis of the first case stands on its own
        return None
