"""What the laws share: the checked call, the tensors of a call, bounds and the gradient set-up.

Laws that relate two computed results (linearity, groups, strides...) are judged
exactly like the reference comparison: each computed tensor may differ from its
exact value by its rounding bound (see :mod:`conv2d.gate.tolerance`), so the two
sides may differ by the sum of their bounds, and by nothing more.
"""

from __future__ import annotations

import functools

import torch

from conv2d.gate.case import Args, ConvCase
from conv2d.gate.judge import case_bound, check_meta, contract, within
from conv2d.gate.reference import Exact
from conv2d.gate.target import Target, Violation
from conv2d.gate.tolerance import Precision

__all__ = [
    "bound_of",
    "call_checked",
    "delta_weight",
    "f64",
    "grad_bound",
    "grad_case",
    "overlaps",
    "tensors",
    "twice_bound",
    "within_reference",
]


def f64(t: torch.Tensor) -> torch.Tensor:
    """``t`` detached, on the CPU, in float64."""
    return t.detach().to(device="cpu", dtype=torch.float64)


def _storage_span(t: torch.Tensor) -> tuple[int, int]:
    start = t.untyped_storage().data_ptr()
    return start, start + t.untyped_storage().nbytes()


def overlaps(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether the storages of ``a`` and ``b`` share memory."""
    (a0, a1), (b0, b1) = _storage_span(a), _storage_span(b)
    return a0 < b1 and b0 < a1 and a1 > a0 and b1 > b0


def tensors(args: Args) -> list[tuple[str, torch.Tensor]]:
    """The tensor arguments of a call, by name."""
    named = (("input", args.input), ("weight", args.weight), ("bias", args.bias))
    return [(name, t) for name, t in named if t is not None]


def call_checked(target: Target, case: ConvCase, args: Args, what: str = "output") -> torch.Tensor:
    """Call the target; check the output's shape, dtype and device, and that it is a fresh tensor."""
    out = target(args)
    check_meta(out, case.output_shape, case, what)
    for name, t in tensors(args):
        if overlaps(out, t):
            raise Violation(f"{what} shares memory with the {name} argument, but should be a fresh tensor")
    return out


def bound_of(
    target: Target,
    case: ConvCase,
    exact: Exact,
    *,
    reduction: int | None = None,
    backward: bool = False,
    precision: Precision | None = None,
) -> torch.Tensor:
    """The bound on a computed result of ``case`` near ``exact``, under ``precision`` (default: the target's contract)."""
    return case_bound(
        case,
        exact,
        precision or contract(target, case, backward=backward),
        reduction=reduction,
    )


def _bound_of_precision(target: Target, case: ConvCase, exact: Exact, precision: Precision) -> torch.Tensor:
    return bound_of(target, case, exact, precision=precision)


def within_reference(target: Target, case: ConvCase, exact: Exact, out: torch.Tensor, what: str) -> float:
    """Raise unless ``out`` is within its bound of the exact result (naming a weaker precision it fits)."""
    return within(
        out,
        exact.value,
        functools.partial(_bound_of_precision, target, case, exact),
        what,
        target=target,
        case=case,
    )


def twice_bound(target: Target, case: ConvCase, exact: Exact, precision: Precision) -> torch.Tensor:
    """The bound on the difference of two computed results, each within its own bound."""
    return 2 * bound_of(target, case, exact, precision=precision)


def grad_bound(
    target: Target, case: ConvCase, exact: Exact, reduction: int, precision: Precision
) -> torch.Tensor:
    """The bound on a computed gradient near ``exact``, each element a sum of ``reduction`` products."""
    return bound_of(target, case, exact, reduction=reduction, precision=precision)


def grad_case(case: ConvCase, args: Args) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Leaves of the call's tensors that require grad, and a seed-drawn output gradient."""
    leaves = [t.detach().requires_grad_() for t in (args.input, args.weight, args.bias) if t is not None]
    generator = torch.Generator().manual_seed(case.seed + 17)
    grad = (torch.rand(case.output_shape, generator=generator, dtype=torch.float64) * 2 - 1).to(
        dtype=case.torch_dtype, device=case.device
    )
    return leaves, grad


def delta_weight(case: ConvCase, args: Args) -> torch.Tensor:
    """A kernel with one tap of 1 per output channel, at a case-chosen position and input channel."""
    weight = torch.zeros_like(args.weight)
    tap, rest = [], case.seed
    for k in case.kernel:  # the seed in mixed radix: (seed % kh, seed // kh % kw) for a 2-D kernel
        tap.append(rest % k)
        rest //= k
    if weight.dim() == 2:
        weight[tuple(tap)] = 1
        return weight
    shift = 0 if case.seed % 2 == 0 else case.seed  # shift 0: the identity when C_out == C_in
    if case.transposed:  # (C_in, C_out/groups, kh, kw): each output channel reads one input channel
        per_in, per_out = weight.shape[0] // case.groups, weight.shape[1]
        for o in range(per_out * case.groups):
            group, within = divmod(o, per_out)
            weight[(group * per_in + (within + shift) % per_in, within, *tap)] = 1
        return weight
    cin = weight.shape[1]
    for o in range(weight.shape[0]):
        weight[(o, (o + shift) % cin, *tap)] = 1
    return weight
