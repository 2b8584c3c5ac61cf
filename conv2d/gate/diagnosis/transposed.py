"""What a wrong transposed convolution computes instead: the family's classic variants, in float64.

Each variant is F.conv_transpose2d with one classic mistake, computed exactly from the float64
reference (:mod:`conv2d.gate.reference`), with the magnitudes its bound needs:

* ``output-padding-ignored``: the output without its ``output_padding`` rows and columns;
* ``output-padding-top-left``: the extra rows and columns added at the top and left;
* ``padding-one-side``: ``2 * padding`` cropped from the top and left only;
* ``kernel-not-flipped``: the kernel rotated by 180 degrees (a zero-insertion kernel that forgot the flip);
* ``conv2d-weight-layout``: the ``(C_in, C_out/groups)`` weight read as conv2d's ``(C_out, C_in/groups)``;
* ``groups-interleaved``: each group's input channels taken every ``groups``-th instead of in a block;
* ``stride-axes-swapped``: the stride pair swapped in the scatter;
* ``conv2d-instead``: at stride 1, the conv2d of the input with the flipped kernel, its padding passed through.

A variant is named when the output fits it within its rounding bound, and fits it again
when the target is called on a second case (same geometry, other values); several that fit
are listed as ambiguous. The line reads like the conv2d diagnosis's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.case import Args, ConvCase, as_pair, transposed_size
from conv2d.gate.judge import case_bound
from conv2d.gate.reference import Exact, reference
from conv2d.gate.tolerance import Precision, judge

__all__ = ["TRANSPOSED_VARIANTS", "TransposedVariant", "transposed_diagnosis", "variant_diagnosis"]


@dataclasses.dataclass(frozen=True)
class TransposedVariant:
    """A classic wrong transposed convolution: its name, what it computes, and how (``None``: not on this call)."""

    name: str
    sentence: str
    compute: Callable[[Args], Exact | None]


def _cropped(exact: Exact, rows: tuple[int, int], cols: tuple[int, int], before: tuple[int, int]) -> Exact:
    """``exact`` extended by ``before`` zero rows and columns at the top-left, then cut to ``rows`` x ``cols``."""

    def cut(t: Tensor) -> Tensor:
        t = F.pad(t, (before[1], 0, before[0], 0))
        t = F.pad(t, (0, max(0, cols[1] - t.shape[-1]), 0, max(0, rows[1] - t.shape[-2])))
        return t[..., rows[0] : rows[1], cols[0] : cols[1]]

    return Exact(cut(exact.value), cut(exact.magnitude), exact.scale, None)


def _sizes(args: Args) -> tuple[tuple[int, int], tuple[int, int]]:
    """(padding, output size) per axis of a transposed call."""
    padding, extra = as_pair(args.padding), as_pair(args.output_padding)  # type: ignore[arg-type]
    image, kernel = args.input.shape[-2:], args.weight.shape[-2:]
    stride, dilation = as_pair(args.stride), as_pair(args.dilation)  # type: ignore[arg-type]
    rows, cols = transposed_size(
        (image[0], image[1]), (kernel[0], kernel[1]), stride, padding, extra, dilation
    )
    return padding, (rows, cols)


def _op_ignored(args: Args) -> Exact | None:
    if as_pair(args.output_padding) == (0, 0):  # type: ignore[arg-type]
        return None
    return reference(args.replace(output_padding=0))


def _op_top_left(args: Args) -> Exact | None:
    op = as_pair(args.output_padding)  # type: ignore[arg-type]
    if op == (0, 0):
        return None
    (ph, pw), (h, w) = _sizes(args)
    plain = reference(args.replace(padding=0, output_padding=0))
    return _cropped(plain, (ph, ph + h), (pw, pw + w), op)


def _one_side(args: Args) -> Exact | None:
    (ph, pw), (h, w) = _sizes(args)
    if (ph, pw) == (0, 0):
        return None
    full = reference(args.replace(padding=0))
    return _cropped(full, (2 * ph, 2 * ph + h), (2 * pw, 2 * pw + w), (0, 0))


def _flipped(args: Args) -> Exact | None:
    return reference(args.replace(weight=args.weight.flip(-2, -1)))


def _weight_layout(args: Args) -> Exact | None:
    w = args.weight
    if w.shape[0] == 1 or w.shape[1] == 1:
        return None
    return reference(args.replace(weight=w.reshape(w.shape[1], w.shape[0], *w.shape[2:]).transpose(0, 1)))


def _interleaved(args: Args) -> Exact | None:
    w, g = args.weight, args.groups
    if g == 1 or w.shape[0] == g:
        return None
    return reference(
        args.replace(weight=w.reshape(w.shape[0] // g, g, *w.shape[1:]).transpose(0, 1).reshape(w.shape))
    )


def _stride_swapped(args: Args) -> Exact | None:
    s = as_pair(args.stride)  # type: ignore[arg-type]
    op = as_pair(args.output_padding)  # type: ignore[arg-type]
    if s[0] == s[1] or any(o >= t for o, t in zip(op, (s[1], s[0]), strict=True)):
        return None
    (ph, pw), (h, w) = _sizes(args)
    full = reference(args.replace(stride=(s[1], s[0]), padding=0))
    return _cropped(full, (ph, ph + h), (pw, pw + w), (0, 0))


def _conv2d_instead(args: Args) -> Exact | None:
    if as_pair(args.stride) != (1, 1):  # type: ignore[arg-type]
        return None
    w, g = args.weight, args.groups
    flipped = w.flip(-2, -1).reshape(g, w.shape[0] // g, *w.shape[1:]).transpose(1, 2)
    weight = flipped.reshape(-1, w.shape[0] // g, *w.shape[2:])
    return reference(Args(args.input, weight, args.bias, 1, args.padding, args.dilation, g))


_TRANSPOSE = "the output equals F.conv_transpose2d"
#: The variants, in the order a tie is listed.
TRANSPOSED_VARIANTS: tuple[TransposedVariant, ...] = (
    TransposedVariant("output-padding-ignored", f"{_TRANSPOSE} without its output_padding", _op_ignored),
    TransposedVariant(
        "output-padding-top-left", f"{_TRANSPOSE} with output_padding added at the top and left", _op_top_left
    ),
    TransposedVariant(
        "padding-one-side", f"{_TRANSPOSE} with 2 * padding cropped from the top and left only", _one_side
    ),
    TransposedVariant("kernel-not-flipped", f"{_TRANSPOSE} with the kernel rotated 180°", _flipped),
    TransposedVariant(
        "conv2d-weight-layout",
        f"{_TRANSPOSE} with the weight read as conv2d's (C_out, C_in/groups, kh, kw)",
        _weight_layout,
    ),
    TransposedVariant(
        "groups-interleaved",
        f"{_TRANSPOSE} with each group's input channels interleaved instead of in one block",
        _interleaved,
    ),
    TransposedVariant("stride-axes-swapped", f"{_TRANSPOSE} with the stride pair swapped", _stride_swapped),
    TransposedVariant(
        "conv2d-instead",
        "the output equals F.conv2d with the flipped, transposed kernel and the padding passed through "
        "(not d * (k - 1) - padding)",
        _conv2d_instead,
    ),
)


def _fits(
    actual: Tensor, case: ConvCase, args: Args, precision: Precision, variants: Sequence[TransposedVariant]
) -> list[tuple[TransposedVariant, float]]:
    """The ``variants`` that ``actual`` fits within their bounds on ``args``, with the worst ratio of each."""
    found = []
    for variant in variants:
        try:
            exact = variant.compute(args)
        except RuntimeError:  # the variant has no result here (a kernel larger than its input)
            continue
        if exact is None or tuple(exact.value.shape) != tuple(actual.shape):
            continue
        verdict = judge(actual, exact.value, case_bound(case, exact, precision))
        if verdict.holds:
            found.append((variant, verdict.max_ratio))
    return found


def _second_call(target: Any, case: ConvCase) -> tuple[ConvCase, Args, Tensor] | None:
    """The target on the same geometry with other values, or None when that call fails."""
    other = case.replace(seed=case.seed + 101, values="uniform", exponent=0)
    args = other.materialize()
    try:
        return other, args, target(args)
    except Exception:  # the law's own message says what went wrong with the first call
        return None


def transposed_diagnosis(
    actual: Tensor, case: ConvCase, args: Args, precision: Precision, target: Any = None
) -> str | None:
    """One line naming the classic variant ``actual`` computes instead of the transposed convolution, or None."""
    return variant_diagnosis(TRANSPOSED_VARIANTS, _TRANSPOSE, actual, case, args, precision, target)


def variant_diagnosis(
    variants: Sequence[TransposedVariant],
    prefix: str,
    actual: Tensor,
    case: ConvCase,
    args: Args,
    precision: Precision,
    target: Any = None,
) -> str | None:
    """One line naming the one of ``variants`` that ``actual`` computes (confirmed on a second call), or None.

    ``prefix`` is what every variant's sentence starts with: a tie names it once.
    """
    found = _fits(actual.detach(), case, args, precision, variants)
    if not found:
        return None
    confirmed = ""
    if target is not None:
        second = _second_call(target, case)
        if second is not None:
            other, other_args, again = second
            kept = {v.name for v, _ in _fits(again.detach(), other, other_args, precision, variants)}
            if kept & {v.name for v, _ in found}:
                found = [(v, r) for v, r in found if v.name in kept]
                confirmed = f"; confirmed on input{tuple(other_args.input.shape)} with other values"
    return _line(found, confirmed, prefix)


def _line(found: Sequence[tuple[TransposedVariant, float]], confirmed: str, prefix: str) -> str:
    if len(found) > 1:
        names = ", ".join(v.name for v, _ in found)
        said = ", or ".join(
            v.sentence.removeprefix(prefix + " ") if i else v.sentence for i, (v, _) in enumerate(found)
        )
        return f"diagnosis: ambiguous on this case: {said} (variants {names})"
    variant, ratio = found[0]
    return f"diagnosis: {variant.sentence} (variant {variant.name}, within {ratio:.2g} x its error bound{confirmed})"
