"""What a wrong conv1d or conv3d computes instead: the classic variants over one or three axes, in float64.

Each variant is the kind's own convolution with one classic mistake, computed exactly
from the float64 reference (:mod:`conv2d.gate.reference`), with the magnitudes its bound
needs. Where the mistake changes the output size, the variant is cut or extended with
zeros at the end of each axis to the size the call should have (what a kernel that
allocates the right output and fills it wrongly leaves):

* ``axes-swapped-<a>-<b>`` (conv3d): stride, padding and dilation of two axes exchanged
  (NCDHW read as NCHDW, say);
* ``kernel-flipped`` and, for conv3d, ``kernel-flipped-<axis>``: the kernel reversed along
  every axis (a true convolution) or along one;
* ``padding-one-side``: the padding of each axis put all before the data (a causal convolution);
* ``same-odd-before``: ``padding="same"``'s odd element put before the data instead of after;
* ``padding-ignored``: no padding at all;
* ``stride-dilation-swapped``: stride and dilation exchanged;
* ``dilation-ignored-<axis>``: one axis's dilation taken as 1;
* ``groups-interleaved``: each group's input channels taken every ``groups``-th instead of in a block.

A variant is named when the output fits it within its rounding bound, and fits it again
on a second call with other values (:func:`~conv2d.gate.diagnosis.transposed.variant_diagnosis`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.case import Args, ConvCase, as_tuple, output_size, resolve_pads
from conv2d.gate.diagnosis.transposed import TransposedVariant, variant_diagnosis
from conv2d.gate.reference import Exact, reference
from conv2d.gate.tolerance import Precision

__all__ = ["spatial_diagnosis", "spatial_variants"]

_AXES = {1: ("length",), 3: ("depth", "height", "width")}


def _rank(args: Args) -> int:
    return args.weight.dim() - 2


def _sizes(args: Args) -> tuple[int, ...]:
    """The output size per axis the call should have."""
    rank = _rank(args)
    return output_size(
        tuple(args.input.shape[-rank:]),
        tuple(args.weight.shape[2:]),
        args.stride,
        args.padding,
        args.dilation,
    )


def _fitted(exact: Exact, sizes: tuple[int, ...]) -> Exact:
    """``exact`` cut or extended with zeros at the end of each spatial axis to ``sizes``."""

    def fit(t: Tensor) -> Tensor:
        cut: Any = (..., *(slice(0, n) for n in sizes))
        t = t[cut]
        grow = [
            p
            for n, m in zip(reversed(sizes), reversed(t.shape[-len(sizes) :]), strict=True)
            for p in (0, n - m)
        ]
        return F.pad(t, grow)

    return Exact(fit(exact.value), fit(exact.magnitude), exact.scale, None)


def _explicit_pads(args: Args) -> tuple[tuple[int, int], ...]:
    rank = _rank(args)
    return resolve_pads(args.padding, tuple(args.weight.shape[2:]), as_tuple(args.dilation, rank))  # type: ignore[arg-type]


def _padded(before_after: Callable[[tuple[int, int]], tuple[int, int]]) -> Callable[[Args], Exact | None]:
    """A variant padding each axis by ``before_after`` of its (before, after) padding, explicitly."""

    def compute(args: Args) -> Exact | None:
        pads = _explicit_pads(args)
        moved = tuple(before_after(pair) for pair in pads)
        if moved == pads:
            return None
        x = F.pad(args.input, [p for pair in reversed(moved) for p in pair])
        return _fitted(reference(args.replace(input=x, padding=0)), _sizes(args))

    return compute


def _swap(value: object, a: int, b: int, rank: int) -> object:
    if isinstance(value, str):
        return value
    t = list(as_tuple(value, rank))  # type: ignore[arg-type]
    t[a], t[b] = t[b], t[a]
    return tuple(t)


def _axes_swapped(a: int, b: int) -> Callable[[Args], Exact | None]:
    def compute(args: Args) -> Exact | None:
        rank = _rank(args)
        changed = {n: _swap(getattr(args, n), a, b, rank) for n in ("stride", "padding", "dilation")}
        if all(
            as_tuple(getattr(args, n), rank) == changed[n] for n in changed if not isinstance(changed[n], str)
        ):
            return None
        return _fitted(reference(args.replace(**changed)), _sizes(args))

    return compute


def _flipped(axes: tuple[int, ...]) -> Callable[[Args], Exact | None]:
    def compute(args: Args) -> Exact | None:
        return reference(args.replace(weight=args.weight.flip(*(2 + a for a in axes))))

    return compute


def _dilation_one(axis: int) -> Callable[[Args], Exact | None]:
    def compute(args: Args) -> Exact | None:
        rank = _rank(args)
        d = list(as_tuple(args.dilation, rank))  # type: ignore[arg-type]
        if d[axis] == 1:
            return None
        d[axis] = 1
        return _fitted(reference(args.replace(dilation=tuple(d))), _sizes(args))

    return compute


def _interleaved(args: Args) -> Exact | None:
    g, rank = args.groups, _rank(args)
    channels = args.input.shape[-rank - 1]
    if g == 1 or channels == g:
        return None
    x = args.input
    order = torch.arange(channels, device=x.device).reshape(channels // g, g).t().reshape(-1)
    return reference(args.replace(input=x.index_select(-rank - 1, order)))


def _stride_dilation(args: Args) -> Exact | None:
    if args.padding == "same" or args.stride == args.dilation:
        return None
    return _fitted(reference(args.replace(stride=args.dilation, dilation=args.stride)), _sizes(args))


def _per_axis(rank: int, op: str) -> tuple[list[TransposedVariant], ...]:
    """The variants of a conv3d's axes mixed up, and of one axis's kernel flipped or dilation lost."""
    axes = _AXES[rank]
    swapped = [
        TransposedVariant(
            f"axes-swapped-{axes[a]}-{axes[b]}",
            f"the output equals {op} with the {axes[a]} and {axes[b]} entries of stride, padding and "
            "dilation exchanged",
            _axes_swapped(a, b),
        )
        for a, b in itertools.combinations(range(rank), 2)
    ]
    flipped = [
        TransposedVariant(
            f"kernel-flipped-{axes[a]}",
            f"the output equals {op} with the kernel reversed along its {axes[a]}",
            _flipped((a,)),
        )
        for a in range(rank)
        if rank > 1
    ]
    dilation = [
        TransposedVariant(
            f"dilation-ignored-{axes[a]}",
            f"the output equals {op} with dilation 1 along the {axes[a]}",
            _dilation_one(a),
        )
        for a in range(rank)
    ]
    return swapped, flipped, dilation


def spatial_variants(rank: int) -> tuple[TransposedVariant, ...]:
    """The classic wrong conv1d (``rank`` 1) or conv3d (``rank`` 3) variants, in the order a tie is listed."""
    op = f"F.conv{rank}d"
    swapped, flipped, dilation = _per_axis(rank, op)
    every = TransposedVariant(
        "kernel-flipped",
        f"the output equals {op} with the kernel reversed along every axis",
        _flipped(tuple(range(rank))),
    )
    padding = [
        TransposedVariant(
            "padding-one-side",
            f"the output equals {op} with each axis's padding all before the data",
            _padded(lambda p: (p[0] + p[1], 0)),
        ),
        TransposedVariant(
            "same-odd-before",
            f"the output equals {op} with padding='same''s odd element before the data",
            _padded(lambda p: (p[1], p[0])),
        ),
        TransposedVariant(
            "padding-ignored", f"the output equals {op} without padding", _padded(lambda p: (0, 0))
        ),
        TransposedVariant(
            "stride-dilation-swapped",
            f"the output equals {op} with stride and dilation exchanged",
            _stride_dilation,
        ),
    ]
    groups = TransposedVariant(
        "groups-interleaved",
        f"the output equals {op} with each group's input channels interleaved instead of in one block",
        _interleaved,
    )
    return (*swapped, every, *flipped, *padding, *dilation, groups)


def spatial_diagnosis(
    actual: Tensor, case: ConvCase, args: Args, precision: Precision, target: Any = None
) -> str | None:
    """One line naming the classic variant ``actual`` computes instead of the case's conv1d or conv3d, or None."""
    return variant_diagnosis(
        spatial_variants(case.rank), "the output equals", actual, case, args, precision, target
    )
