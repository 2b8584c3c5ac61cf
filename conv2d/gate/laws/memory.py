"""Laws of memory and state: layouts do not change results, arguments stay unchanged, outputs are fresh, global state is kept."""

from __future__ import annotations

import torch

from conv2d.gate.case import INPUT_LAYOUTS, ConvCase
from conv2d.gate.judge import within
from conv2d.gate.laws._common import bound_of, call_checked, f64, overlaps, tensors
from conv2d.gate.laws.registry import Stage, law
from conv2d.gate.reference import reference
from conv2d.gate.target import Target, Violation

__all__ = ["input_immutability", "layout_invariance", "no_aliasing", "no_side_effects"]


@law("no-side-effects", stage=Stage.CONTRACT, order=10, examples=20)
def no_side_effects(target: Target, case: ConvCase) -> None:
    """A call leaves torch's global settings (default dtype, grad mode, flush-denormal, deterministic and TF32 flags, threads) as it found them."""
    target(case.materialize())  # Target checks the state around every call, in the calling thread too
    target.backward  # noqa: B018  (the same check guards backward calls)


@law("input-immutability", stage=Stage.CONTRACT, order=50, examples=30)
def input_immutability(target: Target, case: ConvCase) -> None:
    """The call leaves its arguments unchanged: same values, same strides."""
    args = case.materialize()
    before = [(name, t.detach().clone(), t.stride(), t.storage_offset()) for name, t in tensors(args)]
    target(args)
    for (name, now), (_, saved, stride, offset) in zip(tensors(args), before, strict=True):
        if now.stride() != stride or now.storage_offset() != offset:
            raise Violation(f"{name}.stride()={now.stride()}, but should still be {stride} after the call")
        if not torch.equal(now, saved):
            changed = int(torch.ne(now, saved).sum())
            raise Violation(f"{name} was modified by the call: {changed} of {now.numel()} elements changed")


@law("no-aliasing", stage=Stage.CONTRACT, order=60, examples=30)
def no_aliasing(target: Target, case: ConvCase) -> None:
    """The output is a fresh tensor: it shares memory with no argument and is not overwritten by the next call."""
    args = case.materialize()
    out = target(args)
    for name, t in tensors(args):
        if overlaps(out, t):
            raise Violation(f"output shares memory with {name}, but should be a fresh tensor")
    kept = out.detach().clone()
    again = target(case.replace(seed=case.seed + 1).materialize())
    if overlaps(out, again):
        raise Violation(
            "the second call's output shares memory with the first call's output, but should be fresh"
        )
    if not torch.equal(out, kept):
        raise Violation(
            "the first output changed when the target was called again: the target reuses its output buffer"
        )


@law("layout-invariance", stage=Stage.METAMORPHIC, order=130, examples=40, layouts=True)
def layout_invariance(target: Target, case: ConvCase) -> None:
    """The result does not depend on memory layout: channels_last, strided views and offsets give the contiguous result."""
    if case.input_layout == case.weight_layout == "contiguous":
        alternatives = [x for x in INPUT_LAYOUTS if x != "contiguous"]
        usable = [
            x
            for x in alternatives
            if case.replace(input_layout=x).layout_capabilities <= {*target.capabilities.layouts}
        ]
        case = case.replace(input_layout=usable[case.seed % len(usable)])
    args = case.materialize()
    out = call_checked(target, case, args)
    plain_case = case.replace(input_layout="contiguous", weight_layout="contiguous", bias_layout="contiguous")
    plain = call_checked(target, plain_case, plain_case.materialize(), "output for contiguous arguments")
    exact = reference(args)
    within(
        out,
        f64(plain),
        lambda p: 2 * bound_of(target, case, exact, precision=p),
        f"layouts {case.input_layout}/{case.weight_layout} vs contiguous",
        target=target,
        case=case,
    )
