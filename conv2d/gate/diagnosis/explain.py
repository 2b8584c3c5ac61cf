"""The explanation of a final counterexample: the diagnosis line, then the error map of the worst plane."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from conv2d.gate.case import Args, ConvCase
from conv2d.gate.diagnosis.gradients import Which, identify_gradient
from conv2d.gate.diagnosis.identify import identify
from conv2d.gate.diagnosis.spatial import spatial_diagnosis
from conv2d.gate.diagnosis.transposed import transposed_diagnosis
from conv2d.gate.judge import case_bound, contract
from conv2d.gate.reference import reference, reference_grads

__all__ = ["EXPLAINED_LAWS", "explain", "explained_laws"]

#: The laws whose failure is a wrong output (or gradient) of the case's own arguments;
#: :func:`explained_laws` checks each against the law registry.
EXPLAINED_LAWS = frozenset({"output-shape", "matches-reference", "large-input", "gradients"})


def explained_laws() -> frozenset[str]:
    """:data:`EXPLAINED_LAWS`, checked against the law registry: a name it does not hold raises.

    Raises:
        LookupError: a name of :data:`EXPLAINED_LAWS` is no law of ``PROPERTIES``.
    """
    from conv2d.gate.laws import PROPERTIES  # late: the laws may import this package

    unknown = EXPLAINED_LAWS - set(PROPERTIES)
    if unknown:
        raise LookupError(f"EXPLAINED_LAWS names {sorted(unknown)}, which the law registry does not hold")
    return EXPLAINED_LAWS


def _explain_output(target: Any, case: ConvCase, args: Args, out: Tensor) -> list[str]:
    """The output's diagnosis, then the error map of its worst plane."""
    from conv2d.gate.errormap import error_map

    held_to = contract(target, case)
    exact = reference(args)
    if case.transposed:  # the family's own variants
        said = transposed_diagnosis(out, case, args, held_to, target)
    elif case.rank != 2:  # conv1d's and conv3d's variants
        said = spatial_diagnosis(out, case, args, held_to, target)
    else:
        found = identify(out, case, args, precision=held_to, exact=exact, target=target)
        said = None if found is None else found.line
    lines = [] if said is None else [said]
    if tuple(out.shape) == tuple(exact.value.shape):
        emap = error_map(out, exact.value, case_bound(case, exact, held_to))
        lines += [emap.text()] if emap.total_violations else []
    return lines


def _explain_gradients(target: Any, case: ConvCase, args: Args, grad_output: Tensor, grads: Any) -> list[str]:
    """The first gradient past its bound: its diagnosis, then the error map of its worst plane."""
    from conv2d.gate.errormap import error_map

    held_to = contract(target, case, backward=True)
    exact_grads = reference_grads(args, grad_output)
    names: tuple[Which, ...] = ("input", "weight", "bias")
    for which, ex, grad in zip(
        names, (exact_grads.input, exact_grads.weight, exact_grads.bias), grads, strict=False
    ):
        if ex is None or grad is None or tuple(grad.shape) != tuple(ex.value.shape):
            continue
        emap = error_map(grad, ex.value, case_bound(case, ex, held_to, reduction=case.grad_reduction(which)))
        if emap.total_violations:
            found = identify_gradient(which, grad, case, args, grad_output, precision=held_to, target=target)
            return ([] if found is None else [found.line]) + [f"{which}.grad: {emap.text()}"]
    return []


def explain(target: Any, case: ConvCase, law: str) -> list[str]:
    """Lines that explain a counterexample of ``law``: the diagnosis, then the error map of the worst plane.

    Calls ``target`` (a :class:`~conv2d.gate.target.Target`) again on the case
    (its gradients for ``law="gradients"``), and once more on a second case drawn
    to tell apart the variants the first one cannot
    (:func:`~conv2d.gate.diagnosis.confirm.second_case`): only a variant its result
    still fits there is named. So it is meant for the final, shrunk counterexample,
    once, not for every failing call during the search.
    Returns ``[]`` for laws outside :data:`EXPLAINED_LAWS`, when the call fails
    in any way, or when nothing more can be said.
    """
    from conv2d.gate.laws import target_grads  # late: the laws may import this package

    if law not in explained_laws() or ((case.transposed or case.rank != 2) and law == "gradients"):
        return []
    args = case.materialize()
    try:
        if law == "gradients":
            args, _, grad_output, grads = target_grads(target, case, args)
        else:
            out = target(args)
    except Exception:  # the law's own message already says what went wrong
        return []
    if law == "gradients":
        return _explain_gradients(target, case, args, grad_output, grads)
    return _explain_output(target, case, args, out)
