"""The catalogue of laws: each law a convolution must obey, as a short checked function.

Every law takes a :class:`~conv2d.gate.target.Target` and a
:class:`~conv2d.gate.case.ConvCase` and raises
:class:`~conv2d.gate.target.Violation` when it does not hold. They are plain
functions, usable outside pytest and outside Hypothesis::

    from conv2d.gate import PROPERTIES, ConvCase, Target
    PROPERTIES["matches-reference"].check(Target.load("mypkg.conv:conv2d"), ConvCase(...))

The laws live one family per module (:mod:`~conv2d.gate.laws.reference`,
:mod:`~conv2d.gate.laws.api`, :mod:`~conv2d.gate.laws.ieee`,
:mod:`~conv2d.gate.laws.memory`, :mod:`~conv2d.gate.laws.gradients`,
:mod:`~conv2d.gate.laws.metamorphic`, :mod:`~conv2d.gate.laws.runtime`,
:mod:`~conv2d.gate.laws.transposed`); each
registers itself with :func:`~conv2d.gate.laws.registry.law`, which places it in
the run order by its stage and its order within the stage. Importing this package
registers them all.
"""

from __future__ import annotations

from conv2d.gate.laws import api, gradients, ieee, memory, metamorphic, reference, runtime, transposed
from conv2d.gate.laws.api import signature_differences
from conv2d.gate.laws.gradients import target_grads
from conv2d.gate.laws.registry import (
    PROPERTIES,
    Check,
    Note,
    Property,
    Stage,
    applicable,
    collect_notes,
    law,
    notice,
)

# Deliberately repeats the registry's names: the package's public face re-exports them.
__all__ = [
    "PROPERTIES",
    "Check",
    "Note",
    "Property",
    "Stage",
    "api",
    "applicable",
    "collect_notes",
    "gradients",
    "ieee",
    "law",
    "memory",
    "metamorphic",
    "notice",
    "reference",
    "runtime",
    "signature_differences",
    "target_grads",
    "transposed",
]
