"""Partly wrong outputs: right on some images, output channels, rows or columns, and wrong on the rest.

Kernels that process the batch or the output channels in blocks get one block wrong (a
remainder left unwritten, a last chunk read from a clamped start, a bias staged for the
first 64 channels only). No whole-call variant fits such an output, so
:func:`partial_matches` judges it slice by slice against :data:`PARTIAL_VARIANTS`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import Tensor

from conv2d.gate.case import ConvCase
from conv2d.gate.diagnosis.problem import Problem, evaluate
from conv2d.gate.diagnosis.variant import Variant
from conv2d.gate.judge import case_bound
from conv2d.gate.reference import Exact
from conv2d.gate.tolerance import Precision
from conv2d.gate.vocabulary import Category

__all__ = ["PARTIAL_VARIANTS", "PartialVariant", "identify_partial", "partial_matches"]

Axis = Literal["image", "channel", "row", "column"]
#: The axes an output is judged along, by dimension of its 4-D form.
_AXES: tuple[Axis, ...] = ("image", "channel", "row", "column")


@dataclasses.dataclass(frozen=True)
class PartialVariant:
    """A wrong result confined to some images or output channels: right on the others.

    The output is judged slice by slice: each image, output channel, output row or
    output column (``axis``) fits either the right result or the variant's
    alternative, and at least one slice fits each.

    Attributes:
        name, category: as for :class:`~conv2d.gate.diagnosis.variant.Variant`.
        axis: ``"image"``, ``"channel"``, ``"row"`` or ``"column"``.
        alternative: what the wrong slices equal.
    """

    name: str
    category: Category
    axis: Axis
    alternative: str


PARTIAL_VARIANTS: tuple[PartialVariant, ...] = (
    PartialVariant("images-left-zero", Category.BATCH, "image", "zero"),
    PartialVariant("images-from-other-images", Category.BATCH, "image", "the output of another image"),
    PartialVariant("channels-left-zero", Category.TILE_REMAINDER, "channel", "zero"),
    PartialVariant("rows-left-zero", Category.TILE_REMAINDER, "row", "zero"),
    PartialVariant("columns-left-zero", Category.TILE_REMAINDER, "column", "zero"),
    PartialVariant("bias-missing-on-channels", Category.BIAS, "channel", "F.conv2d without the bias"),
)
_PARTIAL = {v.name: v for v in PARTIAL_VARIANTS}


def _ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 3, 5]`` as ``"0-3, 5"``."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _slices(axis: str, indices: list[int]) -> str:
    noun = "image" if axis == "image" else f"output {axis}"
    return f"{noun}{'s' if len(indices) > 1 else ''} {_ranges(indices)}"


def _slice_ratios(got: Tensor, expected: Tensor, allowed: Tensor, dim: int) -> Tensor:
    """The worst error-to-bound ratio within each index of ``dim`` of 4-D tensors (non-finite: infinite)."""
    error = (got - expected).abs()
    ratio = torch.where(error == 0, torch.zeros_like(error), error / allowed)
    ratio = torch.where(torch.isfinite(got), ratio, torch.full_like(ratio, float("inf")))
    ratio = torch.nan_to_num(ratio, nan=float("inf"))
    return ratio.amax(dim=[d for d in range(4) if d != dim])


def _four(problem: Problem, t: Tensor) -> Tensor:
    """A result of ``problem`` in 4-D form (an unbatched one with a batch dimension of 1)."""
    return t if problem.batched else t[None]


def _partial_match(
    variant: PartialVariant, good: list[int], rest: str, ratio: float
) -> tuple[Variant, float]:
    sentence = f"the output equals F.conv2d on {_slices(variant.axis, good)}{rest}"
    return Variant(variant.name, variant.category, sentence, lambda p: None), ratio


@dataclasses.dataclass(frozen=True)
class _Split:
    """An output judged along one axis: its slices that fit the right result (``good``) and the rest."""

    got: Tensor
    value: Tensor
    allowed: Tensor
    dim: int
    axis: Axis
    good: list[int]
    bad: list[int]
    fit: float

    def ratios(self, expected: Tensor, allowed: Tensor | None = None) -> list[float]:
        """Each slice's worst ratio to ``expected`` (bound: ``allowed``, default the right result's)."""
        bound = self.allowed if allowed is None else allowed
        return _slice_ratios(self.got, expected, bound, self.dim).tolist()


def _split(got: Tensor, value: Tensor, allowed: Tensor, dim: int) -> _Split | None:
    """The output split along ``dim`` into right and wrong slices, or ``None`` unless it has both."""
    right = _slice_ratios(got, value, allowed, dim).tolist()
    good = [i for i, r in enumerate(right) if r <= 1]
    bad = [i for i, r in enumerate(right) if not r <= 1]
    if not good or not bad:
        return None
    fit = max(right[i] for i in good)
    return _Split(got, value, allowed, dim, _AXES[dim], good, bad, fit)


def _left_zero(s: _Split) -> tuple[Variant, float] | None:
    """The wrong slices are zero."""
    as_zero = s.ratios(torch.zeros_like(s.value))
    if not all(as_zero[i] <= 1 for i in s.bad):
        return None
    ratio = max([s.fit] + [as_zero[i] for i in s.bad])
    return _partial_match(
        _PARTIAL[f"{s.axis}s-left-zero"], s.good, f" and zero on {_slices(s.axis, s.bad)}", ratio
    )


def _from_other_images(s: _Split) -> tuple[Variant, float] | None:
    """Each wrong image holds the right output of another image."""
    sources: dict[int, tuple[int, float]] = {}
    for i in s.bad:
        for j in range(s.got.shape[0]):
            r = _slice_ratios(s.got[i : i + 1], s.value[j : j + 1], s.allowed[j : j + 1], 0).item()
            if j != i and r <= 1:
                sources[i] = (j, r)
                break
    if len(sources) != len(s.bad):
        return None
    moved = ", ".join(f"image {i} holds the output of image {j}" for i, (j, _) in sources.items())
    ratio = max([s.fit] + [r for _, r in sources.values()])
    return _partial_match(_PARTIAL["images-from-other-images"], s.good, f", but {moved}", ratio)


def _bias_missing_on(
    s: _Split, case: ConvCase, problem: Problem, contract: Precision
) -> tuple[Variant, float] | None:
    """The wrong output channels equal F.conv2d without the bias."""
    plain = evaluate(problem, problem.call(b=None))
    plain_allowed = _four(problem, case_bound(case, plain, contract))
    as_plain = s.ratios(_four(problem, plain.value), plain_allowed)
    if not all(as_plain[i] <= 1 for i in s.bad):
        return None
    ratio = max([s.fit] + [as_plain[i] for i in s.bad])
    rest = f" and F.conv2d without the bias on {_slices(s.axis, s.bad)}"
    return _partial_match(_PARTIAL["bias-missing-on-channels"], s.good, rest, ratio)


def partial_matches(
    actual: Tensor, case: ConvCase, problem: Problem, contract: Precision, exact: Exact
) -> list[tuple[Variant, float]]:
    """Every :data:`PARTIAL_VARIANTS` entry ``actual`` fits: right on some slices, the alternative on the rest.

    Each entry comes as a :class:`~conv2d.gate.diagnosis.variant.Variant` whose sentence
    names the slices, with the worst ratio to the bound, in the order of the axes.
    """
    if problem.kind != "conv2d" or tuple(actual.shape) != tuple(exact.value.shape):
        return []
    if not bool(torch.isfinite(exact.value).all()):
        return []
    got = _four(problem, actual.detach().to(device="cpu", dtype=torch.float64))
    value = _four(problem, exact.value)
    allowed = _four(problem, case_bound(case, exact, contract))
    found: list[tuple[Variant, float]] = []
    for dim in range(4):
        s = None if got.shape[dim] < 2 else _split(got, value, allowed, dim)
        if s is None:
            continue
        match = _left_zero(s)
        if match is None and s.axis == "image":
            match = _from_other_images(s)
        if match is None and s.axis == "channel" and problem.base.b is not None:
            match = _bias_missing_on(s, case, problem, contract)
        if match is not None:
            found.append(match)
    return found


def identify_partial(
    actual: Tensor, case: ConvCase, problem: Problem, contract: Precision, exact: Exact
) -> tuple[Variant, float] | None:
    """The first of :func:`partial_matches`, or ``None``."""
    found = partial_matches(actual, case, problem, contract, exact)
    return found[0] if found else None
