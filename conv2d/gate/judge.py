"""Judging one computed result against its exact value: the single place the gate does it.

Every comparison the gate makes — a law against the float64 reference or against
another computed result, a diagnosis variant, ``conv2d.testing.assert_conv2d_close`` —
goes through this module:

* :func:`contract` is the precision a target is held to (F.conv2d's, narrowed by
  the target's declarations), :func:`may_flush` whether subnormals may be flushed;
* :func:`exact_bound` is the rounding-error bound of an exact result
  (:func:`conv2d.gate.tolerance.bound` on its magnitudes), :func:`case_bound` the
  same for a case's own output;
* :func:`meta_problem` / :func:`check_meta` are the shape, dtype and device check;
* :func:`within` raises :class:`~conv2d.gate.target.Violation` past the bound and,
  below :data:`REJUDGE_BELOW` times the bound, names the weaker precision model the
  errors fit (:func:`weaker_fit`); :func:`fits` is the non-raising form diagnosis uses.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import torch

from conv2d.gate.capabilities import Capabilities
from conv2d.gate.case import ConvCase, as_tuple, resolve_pads
from conv2d.gate.reference import Exact
from conv2d.gate.target import Violation
from conv2d.gate.tolerance import Precision, bound, judge, precision_for, weaker_models

__all__ = [
    "REJUDGE_BELOW",
    "Allowed",
    "case_bound",
    "check_meta",
    "contract",
    "exact_bound",
    "fits",
    "may_flush",
    "meta_problem",
    "note_ratio",
    "record_ratios",
    "transform_length",
    "weaker_fit",
    "within",
]

#: A violation by less than this many times the bound is re-judged under the weaker
#: precision models (TF32, half accumulation...), and the message names the one that fits.
REJUDGE_BELOW = 100.0

#: The bound as a function of the precision model (so that a failure can be re-judged).
Allowed = Callable[[Precision], torch.Tensor]


class _Declares(Protocol):
    @property
    def capabilities(self) -> Capabilities: ...


def transform_length(case: ConvCase) -> int:
    """The length of the N-D transform a linear (not circular) FFT convolution of ``case`` needs.

    Per axis, the padded input plus the dilated kernel's extent less one. A transposed
    convolution is the linear convolution of the zero-inserted input, before the padding crops
    it: ``(H - 1) * s + d * (k - 1) + 1 + output_padding`` per axis.
    """
    if case.transposed:
        crop = as_tuple(case.padding, case.rank)  # type: ignore[arg-type]
        return math.prod(out + 2 * p for out, p in zip(case.out_spatial, crop, strict=True))
    dilation = as_tuple(case.dilation, case.rank)
    pads = resolve_pads(case.padding, case.kernel, dilation)
    return math.prod(
        size + sum(pad) + d * (k - 1)
        for size, pad, d, k in zip(case.spatial, pads, dilation, case.kernel, strict=True)
    )


def may_flush(caps: Capabilities, dtype: torch.dtype) -> bool:
    """Whether results below the smallest normal number may be flushed to zero in ``dtype``.

    Half types may flush by default (a platform behaviour: AMX, GPU fast paths), unless the target
    declared ``subnormals="keep"``; every dtype may with ``ieee=False``.
    """
    return not caps.ieee or (dtype in (torch.float16, torch.bfloat16) and caps.subnormals != "keep")


def contract(target: _Declares, case: ConvCase, *, backward: bool = False) -> Precision:
    """The precision ``target`` is held to on ``case``: F.conv2d's contract, narrowed by what it declared."""
    caps = target.capabilities
    return precision_for(
        case.torch_dtype,
        tf32=caps.tf32,
        backward=backward,
        accumulation=caps.accumulation,
        flush=may_flush(caps, case.torch_dtype),
    )


def exact_bound(exact: Exact, *, reduction: int, precision: Precision, transformed: int) -> torch.Tensor:
    """The elementwise bound on the error of a computed ``exact`` (its value, magnitudes and scale)."""
    return bound(
        exact.value,
        exact.magnitude,
        reduction=reduction,
        precision=precision,
        transformed=transformed,
        scale=exact.scale,
        unbiased=exact.unbiased,
    )


def case_bound(
    case: ConvCase, exact: Exact, precision: Precision, *, reduction: int | None = None
) -> torch.Tensor:
    """:func:`exact_bound` for a result of ``case`` (its reduction length unless given, its transform length)."""
    return exact_bound(
        exact,
        reduction=case.reduction_length if reduction is None else reduction,
        precision=precision,
        transformed=transform_length(case),
    )


def meta_problem(
    out: torch.Tensor, shape: Sequence[int], dtype: torch.dtype, device: str, what: str = "output"
) -> str | None:
    """What is wrong with the shape, dtype or device of ``out``, in the gate's message grammar, or None."""
    if tuple(out.shape) != tuple(shape):
        return f"{what}.shape={tuple(out.shape)}, but should be {tuple(shape)}"
    if out.dtype != dtype:
        return f"{what}.dtype={out.dtype}, but should be {dtype} (the input's dtype)"
    if out.device.type != torch.device(device).type:
        return f"{what}.device={out.device}, but should be {device} (the input's device)"
    return None


def check_meta(out: torch.Tensor, shape: Sequence[int], case: ConvCase, what: str) -> None:
    """Raise :class:`Violation` unless ``out`` has ``shape`` and the case's dtype and device."""
    problem = meta_problem(out, shape, case.torch_dtype, case.device, what)
    if problem is not None:
        raise Violation(problem)


def fits(actual: torch.Tensor, exact: Exact, allowed: torch.Tensor) -> float | None:
    """The worst ratio of ``actual`` to the bound when it fits ``exact`` (same shape), else None.

    Where the exact value is not finite (a variant that reads NaN-filled memory),
    the actual value must not be finite either.
    """
    if tuple(actual.shape) != tuple(exact.value.shape):
        return None
    got = actual.detach().to(device="cpu", dtype=torch.float64)
    expected = exact.value
    poisoned = ~torch.isfinite(expected)
    if bool(poisoned.any()):
        if bool(torch.isfinite(got[poisoned]).any()):
            return None
        got, expected, allowed = (
            torch.where(poisoned, torch.ones_like(t), t) for t in (got, expected, allowed)
        )
    verdict = judge(got, expected, allowed)
    return verdict.max_ratio if verdict.holds else None


def weaker_fit(
    actual: torch.Tensor,
    expected: torch.Tensor,
    allowed: Allowed,
    dtype: torch.dtype,
    held_to: Precision,
    backward: bool,
) -> str:
    """One line naming the weaker precision model the errors fit, or ``""`` when none does."""
    for model in weaker_models(dtype, backward=backward):
        verdict = judge(actual, expected, allowed(model.precision))
        if verdict.holds:
            declare = (
                f"declare {model.declare} if intended"
                if model.declare
                else "no declaration accepts it: it is less precise than F.conv2d promises"
            )
            return (
                f"\nthe errors fit {model.name} ({verdict.max_ratio:.2g} x that model's bound); "
                f"F.conv2d's contract is {held_to.name}; {declare}"
            )
    return ""


_RATIOS: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("conv2d_ratios", default=None)


# A context-local collector, alike in form to laws.registry.collect_notes (each collects its own kind).
@contextlib.contextmanager
def record_ratios() -> Iterator[list[float]]:
    """Collect the error-to-bound ratio of every :func:`within` judgement made inside the block.

    The headroom search (``benchmarks/headroom.py``) steers Hypothesis toward the
    largest of them on correct implementations.
    """
    seen: list[float] = []
    token = _RATIOS.set(seen)
    try:
        yield seen
    finally:
        _RATIOS.reset(token)


def note_ratio(ratio: float) -> None:
    """Record ``ratio`` for :func:`record_ratios` (a judgement made outside :func:`within`)."""
    seen = _RATIOS.get()
    if seen is not None:
        seen.append(ratio)


def within(
    actual: torch.Tensor,
    expected: torch.Tensor,
    allowed: torch.Tensor | Allowed,
    what: str,
    *,
    target: _Declares | None = None,
    case: ConvCase | None = None,
    backward: bool = False,
) -> float:
    """Raise :class:`Violation` unless every element of ``actual`` is within ``allowed`` of ``expected``.

    ``allowed`` may be a function of the precision: then a violation by less than
    :data:`REJUDGE_BELOW` times the bound is re-judged under the weaker precision
    models, and the message names the one the errors fit. Returns the worst ratio.
    """
    held_to = None if target is None or case is None else contract(target, case, backward=backward)
    tensor = allowed if isinstance(allowed, torch.Tensor) else allowed(held_to)  # type: ignore[arg-type]
    verdict = judge(actual, expected, tensor)
    note_ratio(verdict.max_ratio)
    if not verdict.holds:
        fit = ""
        if (
            callable(allowed)
            and case is not None
            and held_to is not None
            and verdict.max_ratio < REJUDGE_BELOW
        ):
            fit = weaker_fit(actual, expected, allowed, case.torch_dtype, held_to, backward)
        raise Violation(f"{what}: {verdict.summary()}{fit}")
    return verdict.max_ratio
