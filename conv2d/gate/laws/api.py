"""Laws of the calling contract: an empty batch, arguments F.conv2d rejects, and F.conv2d's calling conventions."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from conv2d.gate.case import Args, ConvCase
from conv2d.gate.judge import check_meta
from conv2d.gate.laws._common import call_checked, grad_case, within_reference
from conv2d.gate.laws.registry import Stage, law
from conv2d.gate.reference import reference
from conv2d.gate.target import Target, Unsupported, Violation

__all__ = ["calling_conventions", "empty_batch", "invalid_input", "signature_differences"]


@law("empty-batch", stage=Stage.API, order=10, kinds=("conv2d",), require=("batched",), examples=12)
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


def _invalid_variants(case: ConvCase, args: Args) -> list[tuple[str, Args]]:
    """Calls that F.conv2d rejects, each with what is wrong about it."""
    x, w = args.input, args.weight
    cin = x.shape[-3]
    other = torch.float32 if case.torch_dtype != torch.float32 else torch.float64
    kh, kw = case.kernel
    out = [
        (
            f"an input with {cin + case.groups} channels for a weight expecting {cin}",
            args.replace(input=torch.cat([x, x.narrow(-3, 0, case.groups)], dim=-3)),
        ),
        ("a weight of rank 3", args.replace(weight=w[:, 0])),
        (f"a weight of dtype {other} for an input of {case.torch_dtype}", args.replace(weight=w.to(other))),
        ("negative padding", args.replace(padding=-1)),
        ("stride 0", args.replace(stride=0, padding=0 if args.padding == "same" else args.padding)),
        (
            "a kernel larger than the padded input",
            args.replace(
                weight=torch.zeros(
                    *w.shape[:-2], x.shape[-2] + 2 * 8 + kh, kw, dtype=w.dtype, device=w.device
                ),
                padding=0,
                dilation=1,
            ),
        ),
    ]
    if case.out_channels % (case.groups + 1) or cin % (case.groups + 1):
        out.append(
            (
                f"groups={case.groups + 1}, which does not divide the channels",
                args.replace(groups=case.groups + 1),
            )
        )
    return out


@law("invalid-input", stage=Stage.API, order=20, kinds=("conv2d",), examples=30)
def invalid_input(target: Target, case: ConvCase) -> None:
    """Arguments F.conv2d rejects (channel mismatch, bad groups, weight rank, dtype mismatch, negative padding, stride 0, kernel too large) raise an error."""
    args = case.materialize()
    variants = _invalid_variants(case, args)
    what, bad = variants[case.seed % len(variants)]
    try:
        out = target(bad)
    except (Violation, Unsupported):  # the target raised: it rejected the call
        return
    raise Violation(
        f"the call with {what} returned a tensor of shape {tuple(out.shape)}, but should raise an error, as F.conv2d does"
    )


_F_CONV2D_PARAMETERS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


_F_CONV2D_DEFAULTS = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}


def signature_differences(fn: Callable[..., object]) -> list[str]:
    """How ``fn``'s signature differs from F.conv2d's in names, order and defaults (empty when it does not, or cannot be read)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return []
    names = [p.name for p in params]
    out = []
    if names[: len(_F_CONV2D_PARAMETERS)] != list(_F_CONV2D_PARAMETERS):
        out.append(f"parameters are {names}, but F.conv2d's are {list(_F_CONV2D_PARAMETERS)}")
    for p in params:
        if (
            p.name in _F_CONV2D_DEFAULTS
            and p.default is not inspect.Parameter.empty
            and p.default != _F_CONV2D_DEFAULTS[p.name]
        ):
            out.append(f"default {p.name}={p.default!r}, but F.conv2d's is {_F_CONV2D_DEFAULTS[p.name]!r}")
    return out


@law("calling-conventions", stage=Stage.API, order=30, kinds=("conv2d",), examples=25)
def calling_conventions(target: Target, case: ConvCase) -> None:
    """Positional arguments, keywords and omitted defaults all call the same convolution as F.conv2d's signature says."""
    args = case.materialize()
    exact = reference(args)
    p = args.params()
    forms: list[tuple[str, Callable[[], object]]] = [
        (
            "all positional",
            lambda: target.fn(
                args.input, args.weight, args.bias, p["stride"], p["padding"], p["dilation"], p["groups"]
            ),
        ),
        ("all keywords", lambda: target.fn(input=args.input, weight=args.weight, bias=args.bias, **p)),
    ]
    omitted = {k: v for k, v in p.items() if v != _F_CONV2D_DEFAULTS[k]}
    if args.bias is None:
        forms.append(("defaults omitted", lambda: target.fn(args.input, args.weight, **omitted)))
    for name, call in forms:
        try:
            out = target._run(f"the call ({name})", call)
            if not isinstance(out, torch.Tensor):
                raise Violation(
                    f"the call ({name}) returned a {type(out).__name__}, but should return a torch.Tensor"
                )
            check_meta(out, case.output_shape, case, f"output ({name})")
            within_reference(target, case, exact, out, f"output ({name}) vs float64 reference")
        except Violation as exc:
            differences = signature_differences(target.fn)
            raise Violation(f"{exc}\nsignature: {'; '.join(differences) or 'same as F.conv2d'}") from exc
