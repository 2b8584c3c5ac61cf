"""What a failing target computes instead: a catalogue of well-known wrong convolutions.

A failure message says *where* a result is wrong; this package tries to say *what*
it is. Each :class:`Variant` is a wrong convolution found in real code — the
kernel rotated 180°, the strides of H and W swapped, the bias added twice, a
channels_last buffer read as NCHW, inputs rounded to TF32 — computed exactly in
float64 from the call's own arguments. :func:`identify` judges the target's
output against every variant, with the gate's own error bound taken on that
variant's magnitudes (:func:`conv2d.gate.judge.exact_bound`), while it does not fit
the right result. A wrong name is worse than none, and on a small case different
bugs compute the same thing, so a variant is named only when it is the one
candidate left: where several fit, the :class:`Match` is *ambiguous* and lists
them; given the target, the candidates are checked on a second, larger case drawn
from the first (:func:`~conv2d.gate.diagnosis.confirm.second_case`), and only those
the target's output still fits there are kept::

    line = diagnose(actual, case, args, target=target)
    # 'diagnosis: the output equals F.conv2d with the kernel rotated 180° (a convolution,
    #  not a cross-correlation) (variant true-convolution, within 0.0041 x its error bound;
    #  confirmed on input(3, 3, 9, 11) weight(5, 3, 3, 2) +bias stride=1 padding=1 dilation=1 groups=1)'

Gradient variants (:data:`GRADIENT_VARIANTS`, :func:`identify_gradient`) do the
same for ``input.grad``, ``weight.grad`` and ``bias.grad``.

Every variant is computed with torch's convolution operator bound at import
(``torch.ops.aten.convolution.default``), like the reference, so a target that
replaces ``torch.nn.functional`` cannot change what the diagnosis compares with.
Each variant records the bug :class:`~conv2d.gate.vocabulary.Category` it
corresponds to; ``scripts/diagnosis_rate.py`` measures how many of the zoo's
mutants the catalogue names.

The modules, one job each:

* :mod:`~conv2d.gate.diagnosis.problem`: the call in 4-D float64 form (:class:`Problem`,
  :class:`Call`), its exact evaluation, :func:`case_of`;
* :mod:`~conv2d.gate.diagnosis.variant`, :mod:`~conv2d.gate.diagnosis.geometry`,
  :mod:`~conv2d.gate.diagnosis.values`, :mod:`~conv2d.gate.diagnosis.catalogue`: the
  output variants, by family, and :data:`VARIANTS`, all of them in catalogue order;
* :mod:`~conv2d.gate.diagnosis.partial`: outputs wrong on some images, channels, rows or columns;
* :mod:`~conv2d.gate.diagnosis.fitting`: every variant an output fits on one case;
* :mod:`~conv2d.gate.diagnosis.confirm`: the second case, and the candidates that survive it;
* :mod:`~conv2d.gate.diagnosis.identify`: :func:`identify`, :func:`diagnose` and :class:`Match`;
* :mod:`~conv2d.gate.diagnosis.gradients`: the gradient variants;
* :mod:`~conv2d.gate.diagnosis.explain`: the explanation of a final counterexample.
"""

from __future__ import annotations

from conv2d.gate.diagnosis.catalogue import VARIANTS
from conv2d.gate.diagnosis.explain import EXPLAINED_LAWS, explain
from conv2d.gate.diagnosis.gradients import (
    GRADIENT_VARIANTS,
    GradientVariant,
    diagnose_gradient,
    gradient_fits,
    identify_gradient,
)
from conv2d.gate.diagnosis.identify import Match, diagnose, identify, output_fits
from conv2d.gate.diagnosis.partial import PARTIAL_VARIANTS, PartialVariant
from conv2d.gate.diagnosis.problem import MAX_ELEMENTS, Call, Problem, case_of, evaluate
from conv2d.gate.diagnosis.variant import Variant

__all__ = [
    "EXPLAINED_LAWS",
    "GRADIENT_VARIANTS",
    "MAX_ELEMENTS",
    "PARTIAL_VARIANTS",
    "VARIANTS",
    "Call",
    "GradientVariant",
    "Match",
    "PartialVariant",
    "Problem",
    "Variant",
    "case_of",
    "diagnose",
    "diagnose_gradient",
    "evaluate",
    "explain",
    "gradient_fits",
    "identify",
    "identify_gradient",
    "output_fits",
]
