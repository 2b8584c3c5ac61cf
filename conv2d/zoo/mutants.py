"""Every conv2d mutant of the zoo, under one name: ``conv2d.zoo.mutants:<name>`` loads any of them.

The bugs live in the family modules, each with its own ``WITNESSES``:

* ``conv2d.zoo.geometry`` — output size, padding, per-axis stride, padding and dilation;
* ``conv2d.zoo.channels`` — grouped and depthwise indexing, the bias per channel;
* ``conv2d.zoo.contract`` — the batch dimension, empty batches, input checks, the calling convention;
* ``conv2d.zoo.kernels`` — tile remainders, size thresholds, fast paths, special-shape kernels;
* ``conv2d.zoo.layout`` — strides, storage offsets, channels_last, non-contiguous weights;
* ``conv2d.zoo.precision`` — lower precision, TF32, half accumulators, dtypes, special values;
* ``conv2d.zoo.backward`` — gradients and autograd paths;
* ``conv2d.zoo.runtime`` — nondeterminism, input mutation, buffer reuse, threads, global state.

Every mutant uses the zoo's correct im2col convolution as its kernel (never the
host's ``F.conv2d``, whose own bugs would otherwise count as kills) and is correct
everywhere except in its trigger region, where it behaves the way the real bug does.
:data:`WITNESSES` maps each name to a small, deterministic input on which the bug shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conv2d.zoo import backward, channels, contract, geometry, kernels, layout, precision, runtime
from conv2d.zoo._common import Witness
from conv2d.zoo._entry import REGISTRY

#: The family modules, in the zoo's order.
FAMILIES = (geometry, channels, contract, kernels, layout, precision, backward, runtime)
_FAMILY_NAMES = tuple(family.__name__ for family in FAMILIES)

#: name -> the mutant, built from the registry: a bug added to a family module is here without an edit.
_BY_NAME: dict[str, Callable[..., Any]] = {
    entry.name: entry.fn for entry in REGISTRY if not entry.correct and entry.fn.__module__ in _FAMILY_NAMES
}
#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES: dict[str, Witness] = {name: w for family in FAMILIES for name, w in family.WITNESSES.items()}

__all__ = ["FAMILIES", "WITNESSES", *sorted(_BY_NAME)]


def __getattr__(name: str) -> Callable[..., Any]:
    """``conv2d.zoo.mutants:<name>`` loads the mutant ``name`` from whichever family module defines it."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted([*globals(), *_BY_NAME])
