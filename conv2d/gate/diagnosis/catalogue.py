"""The catalogue of output variants: every family, in the order they are tried.

The first variant an output fits is the one named, so the order matters: memory
layout first, then the kernel's orientation, per-axis parameters, padding, output
size, ignored parameters, reduction remainders, bias, groups, batch, window
offsets and precision last.
"""

from __future__ import annotations

from conv2d.gate.diagnosis.geometry import IGNORED, ORIENTATION, OUTPUT_SIZE, PADDING, PER_AXIS, WINDOW
from conv2d.gate.diagnosis.values import BATCH, BIAS, GROUPS, LAYOUT, PRECISION, REMAINDERS
from conv2d.gate.diagnosis.variant import Variant

__all__ = ["VARIANTS"]

#: Every output variant, in the order they are tried.
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
