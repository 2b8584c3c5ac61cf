"""Which regions of the convolution's input space a search reached.

A verdict "holds" says nothing about configurations the search never drew.
:func:`regions` sorts one case into a region per dimension (dtype, layouts,
groups, the form of each parameter, batch, size regime, bias); a
:class:`Coverage` counts the cases per region over a search; and
:func:`unreached` names the configurations a target *declared* (its
:class:`~conv2d.gate.capabilities.Capabilities`) that no case reached::

    coverage = Coverage()
    for case in cases:
        coverage.add(case)
    print(coverage.text())
    print(unreached(coverage, target.capabilities))   # e.g. ['dtype: bfloat16']
"""

from __future__ import annotations

import collections
import math
from typing import Any

from conv2d.gate.capabilities import Capabilities
from conv2d.gate.case import ConvCase
from conv2d.gate.vocabulary import DTYPES, KINDS, LARGE_ELEMENTS, LAYOUTS, dtype_name

__all__ = ["DIMENSIONS", "Coverage", "regions", "unreached"]

#: Every dimension and its regions, in display order.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "kind": KINDS,
    "dtype": tuple(DTYPES),
    "input layout": tuple(LAYOUTS),
    "weight layout": tuple(LAYOUTS),
    "groups": ("plain", "grouped", "depthwise"),
    "stride": ("1", "int", "pair"),
    "dilation": ("1", "int", "pair"),
    "padding": ("zero", "int", "pair", "same", "valid"),
    "kernel": ("1x1", "square", "rectangular"),
    "batch": ("unbatched", "empty", "1", "2-4", "5+"),
    "size": ("tiny", "small", "tile-edge", "large"),
    "bias": ("yes", "no"),
}

#: Output extents around the tile and vector widths real kernels break at.
_TILE_EDGES = frozenset({7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 66})


def _form(value: object) -> str:
    """``1`` -> "1", another int -> "int", a pair -> "pair" (the form the value was passed in)."""
    if isinstance(value, tuple):
        return "pair"
    return "1" if value == 1 else "int"


def _padding(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return "pair"
    return "zero" if value == 0 else "int"


def _groups(case: ConvCase) -> str:
    if case.groups == 1:
        return "plain"
    return "depthwise" if case.groups == case.in_channels else "grouped"


def _batch(case: ConvCase) -> str:
    if case.batch is None:
        return "unbatched"
    if case.batch == 0:
        return "empty"
    if case.batch == 1:
        return "1"
    return "2-4" if case.batch <= 4 else "5+"


def _size(case: ConvCase) -> str:
    if math.prod(case.input_shape) >= LARGE_ELEMENTS:
        return "large"
    out = case.out_spatial
    if any(extent in _TILE_EDGES for extent in out):
        return "tile-edge"
    return "tiny" if math.prod(out) <= 4 else "small"


def _kernel(case: ConvCase) -> str:
    """ "1x1" (every extent 1), "square" (all extents equal, a conv1d's too) or "rectangular"."""
    if max(case.kernel) == 1:
        return "1x1"
    return "square" if len(set(case.kernel)) == 1 else "rectangular"


def regions(case: ConvCase) -> dict[str, str]:
    """The region of ``case`` in each dimension of :data:`DIMENSIONS`.

    Parameters are sorted by the *form* they were passed in (``stride=1``,
    ``stride=2``, ``stride=(1, 2)``), padding also by kind (zero, int, pair, same,
    valid). Size: ``large`` from 2**16 input elements, ``tile-edge`` when an output
    extent sits at a tile or vector width (7-9, 15-17, 31-33, 63-66), ``tiny`` for
    output planes of at most 4 elements, else ``small``.
    """
    return {
        "kind": case.kind,
        "dtype": case.dtype,
        "input layout": case.input_layout,
        "weight layout": case.weight_layout,
        "groups": _groups(case),
        "stride": _form(case.stride),
        "dilation": _form(case.dilation),
        "padding": _padding(case.padding),
        "kernel": _kernel(case),
        "batch": _batch(case),
        "size": _size(case),
        "bias": "yes" if case.bias else "no",
    }


class Coverage:
    """Counts of cases per region, over one search or many (see :meth:`merge`)."""

    def __init__(self, counts: dict[str, dict[str, int]] | None = None, cases: int = 0) -> None:
        self.counts: dict[str, collections.Counter[str]] = {
            dim: collections.Counter((counts or {}).get(dim, {})) for dim in DIMENSIONS
        }
        self.cases = cases

    def add(self, case: ConvCase) -> None:
        """Count one case in each of its regions."""
        for dim, region in regions(case).items():
            self.counts[dim][region] += 1
        self.cases += 1

    def merge(self, other: Coverage) -> Coverage:
        """A new coverage counting the cases of both."""
        merged = Coverage(cases=self.cases + other.cases)
        for dim in DIMENSIONS:
            merged.counts[dim] = self.counts[dim] + other.counts[dim]
        return merged

    def reached(self, dimension: str, region: str) -> bool:
        """True if some case fell in ``region`` of ``dimension``."""
        if dimension not in DIMENSIONS:
            raise ValueError(f"dimension={dimension!r}; known dimensions are {list(DIMENSIONS)}")
        return self.counts[dimension][region] > 0

    def to_json(self) -> dict[str, Any]:
        """Plain data: ``{"cases": N, "regions": {dimension: {region: count}}}`` (unreached regions count 0)."""
        return {
            "cases": self.cases,
            "regions": {dim: {r: self.counts[dim][r] for r in names} for dim, names in DIMENSIONS.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Coverage:
        """The coverage :meth:`to_json` wrote."""
        return cls(data["regions"], data["cases"])

    def _rows(self) -> list[tuple[str, str]]:
        return [
            (dim, "  ".join(f"{r} {self.counts[dim][r]}" for r in names)) for dim, names in DIMENSIONS.items()
        ]

    def text(self) -> str:
        """A table for a terminal: one line per dimension, each region with its case count."""
        width = max(len(dim) for dim in DIMENSIONS)
        lines = [f"coverage of {self.cases} cases (cases per region; 0: never reached)"]
        lines += [f"  {dim:<{width}}  {cells}" for dim, cells in self._rows()]
        return "\n".join(lines)

    def markdown(self) -> str:
        """The same table in Markdown."""
        lines = [f"coverage of {self.cases} cases", "", "| dimension | cases per region |", "|---|---|"]
        lines += [f"| {dim} | {cells} |" for dim, cells in self._rows()]
        return "\n".join(lines) + "\n"


def unreached(coverage: Coverage, capabilities: Capabilities) -> list[str]:
    """The declared configurations no case reached, as ``"dimension: region"`` lines.

    Checks the dtypes, the layouts (reached by the input or the weight), the
    padding forms, grouped and depthwise groups, stride and dilation as an int
    and as a pair, unbatched input and a bias, each where ``capabilities``
    declares it. Devices are left out: which devices run is the caller's choice,
    not the search's. A coverage of corr2d cases only (``corr2d(X, K)`` has no
    parameters, batch or bias) is checked for dtypes and layouts alone.
    """
    dtypes = [dtype_name(d) for d in capabilities.dtypes]
    missing = [f"dtype: {d}" for d in dtypes if not coverage.reached("dtype", d)]
    layouts = {
        LAYOUTS[r] for dim in ("input layout", "weight layout") for r, n in coverage.counts[dim].items() if n
    }
    missing += [f"layout: {x}" for x in capabilities.layouts if x not in layouts]
    if not coverage.reached("kind", "conv2d") and coverage.reached("kind", "corr2d"):
        return missing
    missing += [f"padding: {p}" for p in capabilities.padding if not coverage.reached("padding", p)]
    wanted = [
        ("groups", ("grouped", "depthwise"), capabilities.groups),
        ("stride", ("int", "pair"), capabilities.stride),
        ("dilation", ("int", "pair"), capabilities.dilation),
        ("batch", ("unbatched",), capabilities.unbatched),
        ("bias", ("yes",), capabilities.bias),
    ]
    for dim, names, declared in wanted:
        missing += [f"{dim}: {r}" for r in names if declared and not coverage.reached(dim, r)]
    return missing
