"""Laws of the calling contract: an empty batch, arguments F.conv2d rejects, and F.conv2d's calling conventions.

The last two take their families from torch itself rather than from a list written here:
the calls F.conv2d rejects are the small changes of a valid call that torch's own
F.conv2d refuses (:mod:`conv2d.gate.rejections`), and the parameters, their order and
their defaults are those of torch's schema for ``aten::conv2d`` (:mod:`conv2d.gate.defaults`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

import torch

from conv2d.gate.case import Args, ConvCase
from conv2d.gate.defaults import (
    DEFAULTS,
    PARAMETERS,
    REQUIRED,
    Call,
    keyword_calls,
    omission_calls,
    same_effect,
    signature_differences,
)
from conv2d.gate.judge import check_meta
from conv2d.gate.laws._common import call_checked, grad_case, within_reference
from conv2d.gate.laws.registry import Stage, law
from conv2d.gate.reference import Exact, reference
from conv2d.gate.rejections import rejected_calls
from conv2d.gate.target import Target, Unsupported, Violation

__all__ = ["calling_conventions", "empty_batch", "invalid_input", "reject_all", "signature_differences"]


@law(
    "empty-batch",
    stage=Stage.API,
    order=10,
    kinds=("conv2d", "conv_transpose2d", "conv1d", "conv3d"),
    require=("batched",),
    examples=12,
)
def empty_batch(target: Target, case: ConvCase) -> None:
    """A batch of zero images gives F.conv2d's empty (0, C_out, H', W') output, dtype and device, and zero gradients."""
    empty = case.replace(batch=0)
    args = empty.materialize()
    out = call_checked(target, empty, args, "output for a batch of 0")
    if not target.capabilities.autograd:
        return
    leaves, grad_output = grad_case(empty, args)
    call = args.replace(input=leaves[0], weight=leaves[1], bias=leaves[2] if args.bias is not None else None)
    with torch.enable_grad():
        out = call_checked(target, empty, call, "output for a batch of 0")
        if out.grad_fn is None:
            raise Violation("output.grad_fn=None for a batch of 0, but should carry autograd history")
        grads = target.backward(out, leaves, grad_output)
    for name, leaf, grad in zip(("input", "weight", "bias"), leaves, grads, strict=False):
        if grad is None or tuple(grad.shape) != tuple(leaf.shape):
            shape = None if grad is None else tuple(grad.shape)
            raise Violation(
                f"{name}.grad={shape} for a batch of 0, but should be zeros of shape {tuple(leaf.shape)}"
            )
        if name != "input" and bool(grad.detach().ne(0).any()):
            raise Violation(f"{name}.grad is nonzero for a batch of 0, but a sum over no images is 0")


def _returned(target: Target, what: str, bad: Args) -> str | None:
    """What the target returned for the call ``bad`` (``None``: it raised, rejecting the call)."""
    try:
        out = target._run(
            f"the call with {what}", lambda: target.fn(bad.input, bad.weight, bad.bias, **bad.params())
        )
    except (Violation, Unsupported):  # the target raised: it rejected the call
        return None
    if isinstance(out, torch.Tensor):
        return f"a tensor of shape {tuple(out.shape)}"
    return f"a {type(out).__name__}"


@law("invalid-input", stage=Stage.API, order=20, kinds=("conv2d", "conv1d", "conv3d"), examples=30)
def invalid_input(target: Target, case: ConvCase) -> None:
    """Every call F.conv2d rejects among small changes of a valid call (a parameter zero, negative, of the wrong length or type; 'same' padding with a stride; groups that do not divide; a tensor of the wrong rank, channels, dtype or size) raises an error."""
    reject_all(target, rejected_calls(case.materialize(), case.rank), f"F.{case.kind}")


def reject_all(target: Target, calls: Iterable[tuple[str, Args]], by: str) -> None:
    """Raise :class:`Violation` naming the first of ``calls`` the target accepted (``by`` rejects them all)."""
    accepted = []
    for what, bad in calls:
        returned = _returned(target, what, bad)
        if returned is not None:
            accepted.append((what, returned))
    if not accepted:
        return
    (what, returned), rest = accepted[0], accepted[1:]
    also = f" (it also accepted {len(rest)} more: {'; '.join(w for w, _ in rest)})" if rest else ""
    raise Violation(
        f"the call with {what} returned {returned}, but should raise an error, as {by} does{also}"
    )


def _signature_note(fn: Callable[..., object]) -> str:
    """How ``fn``'s signature compares with F.conv2d's, for a failure message."""
    differences = signature_differences(fn)
    if differences:
        return "; ".join(differences)
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return "cannot be read"
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return "takes *args or **kwargs: its names and defaults cannot be compared with F.conv2d's"
    return "same as F.conv2d"


def _conventions(args: Args) -> list[Call]:
    """Every way of calling that F.conv2d's signature allows and the law tries, without repeats.

    All positional, all keywords, every default omitted at once, then each default omitted
    in turn and each parameter by keyword in turn (:mod:`conv2d.gate.defaults`).
    """
    values = {"input": args.input, "weight": args.weight, "bias": args.bias, **args.params()}
    given = {k: v for k, v in values.items() if k not in REQUIRED}
    changed = {k: v for k, v in given.items() if not same_effect(k, v, DEFAULTS[k], args)}
    calls = [
        Call("all positional", tuple(values[k] for k in PARAMETERS), {}, args),
        Call("all keywords", (), values, args),
        Call("every default omitted", (args.input, args.weight), changed, args),
        *omission_calls(args),
        *keyword_calls(args),
    ]
    unique: dict[str, Call] = {}
    for call in calls:
        unique.setdefault(call.code(), call)
    return list(unique.values())


def _expected_case(case: ConvCase, expected: Args) -> ConvCase:
    """``case`` with the parameters of the call ``expected`` (whose result a call must give)."""
    return case.replace(
        stride=expected.stride,
        padding=expected.padding,
        dilation=expected.dilation,
        groups=expected.groups,
        bias=expected.bias is not None,
    )


def _check_call(target: Target, case: ConvCase, call: Call, exacts: dict[str, Exact]) -> None:
    """Raise unless calling the target as ``call`` gives the reference result of the call it makes."""
    expected = _expected_case(case, call.expected)
    key = repr((expected.stride, expected.padding, expected.dilation, expected.groups, expected.bias))
    if key not in exacts:
        exacts[key] = reference(call.expected)
    out = target._run(f"the call ({call.what})", lambda: call(target.fn))
    if not isinstance(out, torch.Tensor):
        raise Violation(
            f"the call ({call.what}) returned a {type(out).__name__}, but should return a torch.Tensor"
        )
    check_meta(out, expected.output_shape, expected, f"output ({call.what})")
    within_reference(target, expected, exacts[key], out, f"output ({call.what}) vs float64 reference")


@law("calling-conventions", stage=Stage.API, order=30, kinds=("conv2d", "conv1d", "conv3d"), examples=25)
def calling_conventions(target: Target, case: ConvCase) -> None:
    """Positional arguments, keywords and omitted defaults (each parameter by keyword and each default omitted in turn, as torch's schema states them) give F.conv2d's result for the call they make."""
    args = case.materialize()
    exacts: dict[str, Exact] = {}
    name = getattr(target.fn, "__name__", "conv2d")
    for call in _conventions(args):
        try:
            _check_call(target, case, call, exacts)
        except Violation as exc:
            raise Violation(
                f"{exc}\ncall: {call.code(name)}\nsignature: {_signature_note(target.fn)}"
            ) from exc
