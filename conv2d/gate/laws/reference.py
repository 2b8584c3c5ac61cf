"""Laws against the exact reference: the output's shape, its values, and its values on large inputs."""

from __future__ import annotations

import torch

from conv2d.gate.case import ConvCase
from conv2d.gate.laws._common import call_checked, overlaps, within_reference
from conv2d.gate.laws.registry import Stage, law
from conv2d.gate.reference import reference
from conv2d.gate.target import Target, Violation

__all__ = ["large_input", "matches_reference", "output_shape"]


@law("output-shape", stage=Stage.REFERENCE, order=10, examples=60)
def output_shape(target: Target, case: ConvCase) -> None:
    """The output has F.conv2d's shape (the output-size formula), the input's dtype and its device."""
    call_checked(target, case, case.materialize())


@law("matches-reference", stage=Stage.REFERENCE, order=20, examples=150)
def matches_reference(target: Target, case: ConvCase) -> None:
    """Every output element is within its rounding bound of F.conv2d computed exactly in float64."""
    args = case.materialize()
    out = call_checked(target, case, args)
    exact = reference(args)
    within_reference(target, case, exact, out, "output vs float64 reference")


@law("large-input", stage=Stage.CONTRACT, order=40, require=("large",), examples=6)
def large_input(target: Target, case: ConvCase) -> None:
    """Inputs of 2**16 elements and more (past narrow-index and size-threshold limits) match the reference.

    Size thresholds also switch allocators: the output must stay intact when the
    target is called again on a problem of the same size.
    """
    args = case.materialize()
    out = call_checked(target, case, args)
    exact = reference(args)
    within_reference(target, case, exact, out, "output vs float64 reference")
    kept = out.detach().clone()
    again = call_checked(target, case, case.replace(seed=case.seed + 1).materialize(), "second output")
    if overlaps(out, again) or not torch.equal(out, kept):
        raise Violation(
            "the first output changed when the target was called again on a problem of the same size: "
            "the target reuses its output buffer for large outputs"
        )
