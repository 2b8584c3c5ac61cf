"""Laws of memory and state: layouts do not change results, arguments stay unchanged, outputs are fresh, global state is kept."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from conv2d.gate.case import INPUT_LAYOUTS, ConvCase
from conv2d.gate.judge import within
from conv2d.gate.laws._common import bound_of, call_checked, f64, grad_case, overlaps, tensors
from conv2d.gate.laws.registry import Stage, law, notice
from conv2d.gate.reference import reference
from conv2d.gate.settings import CanaryReport, with_canaries
from conv2d.gate.target import Target, Unsupported, Violation

__all__ = ["input_immutability", "layout_invariance", "no_aliasing", "no_side_effects", "output_layout"]


def _under_canaries(call: Callable[[], object]) -> tuple[CanaryReport, str]:
    """Run ``call`` with every global setting set to its canary; what it changed, and what it raised ("" if nothing).

    Runs in the thread that makes the call (grad mode and autocast are thread-local).
    What the call computes or raises under such settings is other laws' business.
    """
    raised = ""
    with with_canaries() as report:
        try:
            call()
        except Exception as exc:  # the settings it leaves are still compared
            raised = type(exc).__name__
    return report, raised


def _left_changed(what: str, report: CanaryReport, raised: str) -> None:
    """Raise when the call under canaries left a setting changed."""
    if not report.changed:
        return
    during = f" (it raised {raised} under those settings)" if raised else ""
    raise Violation(
        f"{what} changed {len(report.changed)} of torch's global settings and left them changed: "
        f"{'; '.join(report.changed)}{during}. Before the call the gate had set every global setting "
        "torch exposes to an unusual value, so that a call that writes a setting shows even when it "
        "writes the value the setting usually has"
    )


@law("no-side-effects", stage=Stage.CONTRACT, order=10, examples=20)
def no_side_effects(target: Target, case: ConvCase) -> None:
    """A call leaves every global setting torch exposes as it found it, even one it writes to the value it usually has (checked with every setting set to an unusual value first)."""
    args = case.materialize()
    target(args)  # Target checks the usual settings around every call, in the calling thread too
    positional = (
        (args.input, args.weight) if target.kind == "corr2d" else (args.input, args.weight, args.bias)
    )
    params = {} if target.kind == "corr2d" else args.params()
    forward = functools.partial(_under_canaries, lambda: target.fn(*positional, **params))
    _left_changed("the call", *target._run("the call", forward))
    if not target.capabilities.autograd:
        return
    leaves, grad_output = grad_case(case, args)
    with torch.enable_grad():
        out = target(
            args.replace(input=leaves[0], weight=leaves[1], bias=leaves[2] if len(leaves) > 2 else None)
        )
    if out.grad_fn is None:  # no graph to differentiate: the gradients law says so
        return
    backward = functools.partial(
        _under_canaries, lambda: torch.autograd.grad(out, leaves, grad_output, allow_unused=True)
    )
    _left_changed("backward", *target._run("backward", backward))


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


@law(
    "output-layout",
    stage=Stage.CONTRACT,
    order=70,
    kinds=("conv2d", "conv_transpose2d", "conv3d"),  # torch has no channels-last format for 3-D tensors
    require=("batched",),
    examples=20,
    layouts=True,
)
def output_layout(target: Target, case: ConvCase) -> None:
    """The output of a channels_last input is channels_last, as F.conv2d's is (channels_last_3d for conv3d; a note unless the target declares preserves_layout=True)."""
    if "channels_last" not in target.capabilities.layouts:
        raise Unsupported("declared layouts exclude channels_last")
    case = case.replace(input_layout="channels_last")
    args = case.materialize()
    if args.input.is_contiguous():  # one channel or one pixel: both layouts at once, nothing to preserve
        return
    out = call_checked(target, case, args)
    if out.is_contiguous(memory_format=torch.channels_last_3d if case.rank == 3 else torch.channels_last):
        return
    got = "a contiguous output" if out.is_contiguous() else "an output that is not channels_last"
    text = f"a channels_last input gives {got}; F.conv2d's output is channels_last"
    if target.capabilities.preserves_layout:
        raise Violation(f"{text} (strides {out.stride()}), but the target declares preserves_layout=True")
    notice(f"{text} (declare preserves_layout=True to be held to it)")
