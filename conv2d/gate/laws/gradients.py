"""Laws of the derivatives: exact gradients, gradients of partly frozen calls, second derivatives, the adjoint."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch

from conv2d.gate.case import Args, ConvCase
from conv2d.gate.judge import note_ratio, within
from conv2d.gate.laws._common import (
    bound_of,
    call_checked,
    f64,
    grad_bound,
    grad_case,
)
from conv2d.gate.laws.registry import Stage, law
from conv2d.gate.reference import Exact, exact_conv, reference, reference_grads, second_order_scales
from conv2d.gate.target import Target, Violation

__all__ = ["adjoint", "double_backward", "gradient_subsets", "gradients", "target_grads"]


def target_grads(target: Target, case: ConvCase, args: Args) -> tuple[Args, torch.Tensor, torch.Tensor, list]:
    """Call the target with input, weight and bias requiring grad and backpropagate a seed-drawn output gradient.

    Raises :class:`Violation` unless the output carries autograd history and every
    argument gets a gradient of its own shape and dtype. Returns the call's arguments
    (the leaves), the output, the output gradient and the gradients.
    """
    leaves, grad_output = grad_case(case, args)
    args = args.replace(input=leaves[0], weight=leaves[1], bias=leaves[2] if args.bias is not None else None)
    with torch.enable_grad():
        out = call_checked(target, case, args)
        if out.grad_fn is None:
            raise Violation(
                "output.grad_fn=None, but should carry autograd history (input and weight require grad); "
                "declare autograd=False if the target does not support autograd"
            )
        grads = target.backward(out, leaves, grad_output)
    names = ("input", "weight", "bias")
    for name, leaf, grad in zip(names, leaves, grads, strict=False):
        if grad is None:
            raise Violation(
                f"{name}.grad=None, but should be a tensor: the output does not depend on {name} through autograd"
            )
        if tuple(grad.shape) != tuple(leaf.shape) or grad.dtype != leaf.dtype:
            raise Violation(
                f"{name}.grad has shape {tuple(grad.shape)} and dtype {grad.dtype}, "
                f"but should have {tuple(leaf.shape)} and {leaf.dtype}"
            )
    return args, out, grad_output, list(grads)


@law("gradients", stage=Stage.REFERENCE, order=30, require=(), examples=40, needs=("autograd",))
def gradients(target: Target, case: ConvCase) -> None:
    """Input, weight and bias gradients are within their rounding bounds of the exact float64 gradients."""
    args = case.materialize()
    args, _, grad_output, grads = target_grads(target, case, args)
    exact = reference_grads(args, grad_output)
    reductions = case.grad_reductions
    pairs = [("input", exact.input), ("weight", exact.weight), ("bias", exact.bias)]
    for (name, ex), grad, k in zip(pairs, grads, reductions, strict=False):
        assert ex is not None
        within(
            grad,
            ex.value,
            functools.partial(grad_bound, target, case, ex, k),
            f"{name}.grad vs float64 reference gradient",
            target=target,
            case=case,
            backward=True,
        )


_SUBSETS = (("input",), ("weight",), ("bias",), ("input", "bias"), ("weight", "bias"), ("input", "weight"))


@law("gradient-subsets", stage=Stage.CONTRACT, order=20, require=(), examples=30, needs=("autograd",))
def gradient_subsets(target: Target, case: ConvCase) -> None:
    """With only some of input, weight and bias requiring grad (a frozen weight, a frozen input), each of those gets its exact gradient."""
    args = case.materialize()
    names = ["input", "weight"] + (["bias"] if args.bias is not None else [])
    subsets = [s for s in _SUBSETS if set(s) <= set(names)]
    wanted = subsets[case.seed % len(subsets)]
    generator = torch.Generator().manual_seed(case.seed + 17)
    grad_output = (torch.rand(case.output_shape, generator=generator, dtype=torch.float64) * 2 - 1).to(
        dtype=case.torch_dtype, device=case.device
    )
    tensors = {n: getattr(args, n).detach().requires_grad_(n in wanted) for n in names}
    call = args.replace(**tensors)
    with torch.enable_grad():
        out = call_checked(target, case, call)
        if out.grad_fn is None:
            raise Violation(
                f"output.grad_fn=None with only {', '.join(wanted)} requiring grad, but should carry autograd history"
            )
        grads = target.backward(out, [tensors[n] for n in wanted], grad_output)
    exact = reference_grads(call, grad_output)
    reductions = dict(zip(("input", "weight", "bias"), case.grad_reductions, strict=True))
    for name, grad in zip(wanted, grads, strict=True):
        if grad is None:
            raise Violation(
                f"{name}.grad=None with only {', '.join(wanted)} requiring grad, but should be a tensor: "
                f"the gradient is lost when the other arguments are frozen"
            )
        ex = getattr(exact, name)
        within(
            grad,
            ex.value,
            functools.partial(grad_bound, target, case, ex, reductions[name]),
            f"{name}.grad (only {', '.join(wanted)} requiring grad) vs float64 reference gradient",
            target=target,
            case=case,
            backward=True,
        )


def _second_order(
    call: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x, w, v, u_x, u_w
) -> list[torch.Tensor]:
    """d/d(x, w) of <d<call(x, w), v>/dx, u_x> + <d<call(x, w), v>/dw, u_w>: the double-backward products."""
    out = call(x, w)
    gx, gw = torch.autograd.grad(out, [x, w], v, create_graph=True)
    inner = (gx * u_x).sum() + (gw * u_w).sum()
    return list(torch.autograd.grad(inner, [x, w], allow_unused=True))


def _target_second_order(
    target: Target, case: ConvCase, args: Args, v: torch.Tensor, u_x: torch.Tensor, u_w: torch.Tensor
) -> list:
    """The target's double-backward products with respect to the input and the weight (None where lost)."""
    x, w = args.input.detach().requires_grad_(), args.weight.detach().requires_grad_()

    def target_call(xx: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
        return call_checked(target, case, args.replace(input=xx, weight=ww))

    with torch.enable_grad():
        return target._run("double backward", lambda: _second_order(target_call, x, w, v, u_x, u_w))


def _exact_second_order(
    args: Args, in64: list[torch.Tensor]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The exact double-backward products of ``in64`` (input, weight, v, u_x, u_w in float64) and their magnitudes."""
    with torch.enable_grad():
        leaves = [in64[0].clone().requires_grad_(), in64[1].clone().requires_grad_()]
        want = _second_order(lambda xx, ww: exact_conv(args, xx, ww), *leaves, *in64[2:])
        mags = _second_order(
            lambda xx, ww: exact_conv(args, xx, ww),
            in64[0].abs().requires_grad_(),
            in64[1].abs().requires_grad_(),
            *(t.abs() for t in in64[2:]),
        )
    return want, mags


@law(
    "double-backward",
    stage=Stage.CONTRACT,
    order=30,
    kinds=("conv2d", "conv_transpose2d", "conv1d", "conv3d"),
    require=("no-bias",),
    examples=20,
    needs=("autograd", "double_backward"),
)
def double_backward(target: Target, case: ConvCase) -> None:
    """Gradients are differentiable: second derivatives (double backward) match the exact float64 ones."""
    args = case.materialize()
    generator = torch.Generator().manual_seed(case.seed + 29)

    def rand(shape: Sequence[int]) -> torch.Tensor:
        return (torch.rand(tuple(shape), generator=generator, dtype=torch.float64) * 2 - 1).to(
            dtype=case.torch_dtype, device=case.device
        )

    v, u_x, u_w = rand(case.output_shape), rand(case.input_shape), rand(case.weight_shape)
    got = _target_second_order(target, case, args, v, u_x, u_w)
    in64 = [f64(t) for t in (args.input, args.weight, v, u_x, u_w)]
    want, mags = _exact_second_order(args, in64)
    # every second-derivative element sums at most all products of v with u_x or u_w
    reduction = math.prod(case.output_shape) * math.prod(case.kernel)
    scales = second_order_scales(v, u_x, u_w, case.groups, case.transposed)
    for name, g, exact, mag, like, scale in zip(
        ("input", "weight"), got, want, mags, in64[:2], scales, strict=True
    ):
        if g is None:
            raise Violation(
                f"the second derivative with respect to {name} is None, but should be a tensor: "
                "the first-order gradients are computed outside autograd (declare double_backward=False if intended)"
            )
        zero = torch.zeros_like(like)
        ex = Exact(zero if exact is None else exact.detach(), zero if mag is None else mag.detach(), scale)
        # judged as the gradients law judges a first derivative (same call of within, another message)
        within(
            g,
            ex.value,
            functools.partial(grad_bound, target, case, ex, reduction),
            f"double backward: d/d{name} of the input and weight gradients vs float64 reference",
            target=target,
            case=case,
            backward=True,
        )


@law("adjoint", stage=Stage.METAMORPHIC, order=120, examples=30, needs=("autograd",))
def adjoint(target: Target, case: ConvCase) -> None:
    """Backward is the adjoint of forward: <conv(x, w) + b, g> = <x, dx> + <b, db> = <w, dw> + <b, db>."""
    args = case.materialize()
    args, out, g, grads = target_grads(target, case, args)
    exact_out = reference(args)
    exact = reference_grads(args, g)
    g64 = f64(g)
    lhs = (f64(out) * g64).sum()
    bias_term = torch.zeros((), dtype=torch.float64)
    bias_slack = torch.zeros((), dtype=torch.float64)
    reductions = case.grad_reductions
    if args.bias is not None and exact.bias is not None:
        bias_term = (f64(args.bias) * f64(grads[2])).sum()
        bias_slack = (
            f64(args.bias).abs() * bound_of(target, case, exact.bias, reduction=reductions[2], backward=True)
        ).sum()
    slack_out = (g64.abs() * bound_of(target, case, exact_out)).sum()
    for name, leaf, grad, ex, k in (
        ("input", args.input, grads[0], exact.input, reductions[0]),
        ("weight", args.weight, grads[1], exact.weight, reductions[1]),
    ):
        rhs = (f64(leaf) * f64(grad)).sum() + bias_term
        slack = (
            slack_out
            + (f64(leaf).abs() * bound_of(target, case, ex, reduction=k, backward=True)).sum()
            + bias_slack
        )
        # the three inner products are sums of many terms, each rounded once in float64
        slack = slack + 4 * torch.finfo(torch.float64).eps * (g64.abs() * exact_out.magnitude).sum()
        note_ratio(float((lhs - rhs).abs() / (slack + torch.finfo(torch.float64).tiny)))
        if not (lhs - rhs).abs() <= slack:
            raise Violation(
                f"<out, g>={float(lhs):.9g}, but <{name}, d{name}> + <b, db>={float(rhs):.9g}; "
                f"difference {float((lhs - rhs).abs()):.3g} exceeds the bound {float(slack):.3g}"
            )
