"""Hypothesis strategies for convolution problems, usable from anyone's tests.

:func:`conv_cases` draws a :class:`~conv2d.gate.case.ConvCase` whose parameters
are consistent by construction (the output is at least 1x1 without filtering).
It draws the *output* size and derives the input size from it, so it can aim at
the places real kernels break: output extents around tile and vector widths
(7-9, 15-17, 31-33, 63-66), a kernel as large as the padded input, stride larger
than the kernel, a remainder in the output-size division, channel counts past 64,
depthwise and grouped convolutions with channel multipliers, batches of 5-10,
unbatched input, every parameter as an unequal pair, "same" with even kernels,
every dtype and memory layout. Everything shrinks toward the simplest case: one
image, one channel, a 1x1 kernel, stride 1, float32, contiguous.

>>> from hypothesis import given
>>> from conv2d.gate.strategies import conv_cases
>>> @given(conv_cases())
... def test_mine(case):
...     args = case.materialize()
...     ...
"""

from __future__ import annotations

import functools
from typing import Any

from conv2d.gate.strategies._base import (
    PRODUCTION_LAYERS,
    REGIMES,
    REQUIREMENTS,
    Layer,
    Regime,
    conv_cases,
    corr2d_cases,
    dtypes_for,
    layouts_for,
)
from conv2d.gate.strategies.spatial import SPATIAL_LAYERS, conv_nd_cases
from conv2d.gate.strategies.transposed import TRANSPOSED_LAYERS, conv_transpose_cases

__all__ = [
    "PRODUCTION_LAYERS",
    "REGIMES",
    "REQUIREMENTS",
    "SPATIAL_LAYERS",
    "TRANSPOSED_LAYERS",
    "Layer",
    "Regime",
    "cases_for",
    "conv_cases",
    "conv_nd_cases",
    "conv_transpose_cases",
    "corr2d_cases",
    "dtypes_for",
    "layouts_for",
]


def cases_for(kind: str) -> Any:
    """The strategy that draws cases for targets of ``kind``."""
    if kind in ("conv1d", "conv3d"):
        return functools.partial(conv_nd_cases, kind=kind)
    return {"corr2d": corr2d_cases, "conv_transpose2d": conv_transpose_cases}.get(kind, conv_cases)
