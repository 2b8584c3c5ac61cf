"""The catalogue of output variants: every family, in catalogue order.

Every variant is tried and every one an output fits is a candidate
(:mod:`~conv2d.gate.diagnosis.identify`); the order only sets how candidates are
listed: memory layout first, then the kernel's orientation, per-axis parameters,
padding, output size, ignored parameters, reduction remainders, bias, groups,
batch, window offsets and precision last.
"""

from __future__ import annotations

from conv2d.gate.diagnosis.geometry import IGNORED, ORIENTATION, OUTPUT_SIZE, PADDING, PER_AXIS, WINDOW
from conv2d.gate.diagnosis.values import BATCH, BIAS, GROUPS, LAYOUT, PRECISION, REMAINDERS
from conv2d.gate.diagnosis.variant import Variant

__all__ = ["VARIANTS"]

#: Every output variant, in catalogue order.
VARIANTS: list[Variant] = [
    *LAYOUT,
    *ORIENTATION,
    *PER_AXIS,
    *PADDING,
    *OUTPUT_SIZE,
    *IGNORED,
    *REMAINDERS,
    *BIAS,
    *GROUPS,
    *BATCH,
    *WINDOW,
    *PRECISION,
]
