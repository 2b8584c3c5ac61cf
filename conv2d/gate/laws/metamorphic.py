"""Metamorphic laws: two calls of the target related by an identity of convolution.

Each law compares two computed results (linearity, a flipped kernel, bias, groups,
batches, padding, strides, dilation, shifts), judged like the reference comparison:
each side may differ from its exact value by its rounding bound, so the two sides may
differ by the sum of their bounds, and by nothing more. These catch what a shared
reference could hide.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from conv2d.gate.case import ConvCase, as_tuple, resolve_pads
from conv2d.gate.judge import within
from conv2d.gate.laws._common import bound_of, call_checked, delta_weight, f64, within_reference
from conv2d.gate.laws.registry import Stage, law
from conv2d.gate.reference import reference
from conv2d.gate.target import Target
from conv2d.gate.tolerance import Precision

__all__ = [
    "batch_independence",
    "bias_superposition",
    "delta_identity",
    "dilation_zero_insert",
    "flipped_kernel",
    "groups_concat",
    "linearity_input",
    "linearity_weight",
    "padding_forms",
    "shift_equivariance",
    "stride_subsampling",
]


def _linear_combination(target: Target, case: ConvCase, vary: str) -> None:
    a, b = 0.5, -2.0  # powers of two: scaling is exact, only the sum rounds
    args = case.materialize()
    other = case.replace(seed=case.seed + 1).materialize()
    first, second = getattr(args, vary), getattr(other, vary)
    mixed = a * first + b * second
    y_mixed = call_checked(target, case, args.replace(**{vary: mixed}), "output of the combination")
    y1 = call_checked(target, case, args, "output")
    y2 = call_checked(target, case, args.replace(**{vary: second}), "output of the second operand")
    exact_mixed = reference(args.replace(**{vary: mixed}))
    exact1 = reference(args)
    exact2 = reference(args.replace(**{vary: second}))
    # what rounding ``mixed`` to the dtype changed, computed exactly
    rounding = f64(mixed) - (a * f64(first) + b * f64(second))
    correction = reference(args.replace(**{vary: rounding})).value
    expected = a * f64(y1) + b * f64(y2) + correction

    def allowed(p: Precision) -> torch.Tensor:
        return (
            bound_of(target, case, exact_mixed, precision=p)
            + abs(a) * bound_of(target, case, exact1, precision=p)
            + abs(b) * bound_of(target, case, exact2, precision=p)
        )

    what = f"conv(a*{vary}1 + b*{vary}2) vs a*conv({vary}1) + b*conv({vary}2)"
    within(y_mixed, expected, allowed, what, target=target, case=case)


@law("linearity-input", stage=Stage.METAMORPHIC, order=10, require=("no-bias",), examples=40)
def linearity_input(target: Target, case: ConvCase) -> None:
    """conv(a*x1 + b*x2, w) = a*conv(x1, w) + b*conv(x2, w)."""
    _linear_combination(target, case, "input")


@law("linearity-weight", stage=Stage.METAMORPHIC, order=20, require=("no-bias",), examples=40)
def linearity_weight(target: Target, case: ConvCase) -> None:
    """conv(x, a*w1 + b*w2) = a*conv(x, w1) + b*conv(x, w2)."""
    _linear_combination(target, case, "weight")


def _flip(t: torch.Tensor, rank: int) -> torch.Tensor:
    """``t`` reversed along its last ``rank`` (spatial) axes: rotated by 180° in 2-D."""
    return t.flip(*range(-rank, 0))


@law(
    "flipped-kernel",
    stage=Stage.METAMORPHIC,
    order=30,
    require=("unit-stride", "symmetric-padding"),
    examples=40,
)
def flipped_kernel(target: Target, case: ConvCase) -> None:
    """Convolution is correlation with the flipped kernel: flipping input and kernel along every spatial axis (by 180° in 2-D) flips the output."""
    args = case.materialize()
    rank = case.rank
    out = call_checked(target, case, args)
    turned = call_checked(
        target,
        case,
        args.replace(input=_flip(args.input, rank), weight=_flip(args.weight, rank)),
        "output of the rotated call",
    )
    exact = reference(args)

    def allowed(p: Precision) -> torch.Tensor:
        # turned[i] and flip(out)[i] both approximate flip(exact)[i]: each within flip(bound)[i]
        return 2 * _flip(bound_of(target, case, exact, precision=p), rank)

    what = (
        "conv(rot180 x, rot180 w) vs rot180 conv(x, w)"
        if rank == 2
        else "conv(flip x, flip w) vs flip conv(x, w)"
    )
    within(turned, _flip(f64(out), rank), allowed, what, target=target, case=case)


@law(
    "bias-superposition",
    stage=Stage.METAMORPHIC,
    order=40,
    kinds=("conv2d", "conv_transpose2d", "conv1d", "conv3d"),
    require=("bias",),
    examples=30,
    needs=("bias",),
)
def bias_superposition(target: Target, case: ConvCase) -> None:
    """conv(x, w, b) = conv(x, w) + b, with b broadcast over batch and space."""
    args = case.materialize()
    assert args.bias is not None
    with_bias = call_checked(target, case, args)
    without = call_checked(target, case, args.replace(bias=None), "output without bias")
    exact_with, exact_without = reference(args), reference(args.replace(bias=None))
    expected = f64(without) + f64(args.bias).view(-1, *(1,) * case.rank)

    def allowed(p: Precision) -> torch.Tensor:
        return bound_of(target, case, exact_with, precision=p) + bound_of(
            target, case, exact_without, precision=p
        )

    within(with_bias, expected, allowed, "conv(x, w, b) vs conv(x, w) + b", target=target, case=case)


@law(
    "groups-concat",
    stage=Stage.METAMORPHIC,
    order=50,
    kinds=("conv2d", "conv_transpose2d", "conv1d", "conv3d"),
    require=("grouped",),
    examples=40,
    needs=("groups",),
)
def groups_concat(target: Target, case: ConvCase) -> None:
    """A grouped convolution is the concatenation of per-group convolutions with groups=1."""
    args = case.materialize()
    out = call_checked(target, case, args)
    g, cin, cout = case.groups, case.in_channels // case.groups, case.out_channels // case.groups
    rows = cin if case.transposed else cout  # the weight's first axis: C_in transposed, C_out otherwise
    parts = []
    for i in range(g):
        part_case = case.replace(in_channels=cin, out_channels=cout, groups=1)
        part_args = args.replace(
            input=args.input.narrow(-case.rank - 1, i * cin, cin),
            weight=args.weight[i * rows : (i + 1) * rows],
            bias=None if args.bias is None else args.bias[i * cout : (i + 1) * cout],
            groups=1,
        )
        parts.append(f64(call_checked(target, part_case, part_args, f"output of group {i}")))
    exact = reference(args)
    within(
        out,
        torch.cat(parts, dim=-case.rank - 1),
        lambda p: 2 * bound_of(target, case, exact, precision=p),
        f"groups={g} output vs concatenated per-group outputs",
        target=target,
        case=case,
    )


@law(
    "batch-independence",
    stage=Stage.METAMORPHIC,
    order=60,
    kinds=("conv2d", "conv_transpose2d", "conv1d", "conv3d"),
    examples=30,
)
def batch_independence(target: Target, case: ConvCase) -> None:
    """Each sample's output depends on that sample alone: a batch equals its samples, one by one and unbatched."""
    args = case.materialize()
    out = call_checked(target, case, args)
    exact = reference(args)
    allowed = 2 * bound_of(target, case, exact)
    if case.batch is None:  # unbatched: compare with the same sample as a batch of one
        one = case.replace(batch=1)
        batched = call_checked(
            target, one, args.replace(input=args.input.unsqueeze(0)), "output of the batch of one"
        )
        within(out, f64(batched)[0], allowed, "unbatched output vs the same input as a batch of one")
        return
    for n in range(case.batch):
        single = call_checked(
            target, case.replace(batch=1), args.replace(input=args.input[n : n + 1]), f"output of sample {n}"
        )
        within(out[n : n + 1], f64(single), allowed[n : n + 1], f"batch output[{n}] vs sample {n} alone")
        if target.capabilities.unbatched:
            alone = call_checked(
                target,
                case.replace(batch=None),
                args.replace(input=args.input[n]),
                f"unbatched output of sample {n}",
            )
            within(out[n], f64(alone), allowed[n], f"batch output[{n}] vs sample {n} as unbatched input")


@law(
    "padding-forms",
    stage=Stage.METAMORPHIC,
    order=70,
    kinds=("conv2d", "conv1d", "conv3d"),
    examples=40,
    needs=("padding",),
)
def padding_forms(target: Target, case: ConvCase) -> None:
    """Any padding ("same", "valid", an int, a pair) equals zero-padding the input explicitly and using padding=0."""
    args = case.materialize()
    out = call_checked(target, case, args)
    pads = resolve_pads(case.padding, case.kernel, as_tuple(case.dilation, case.rank))
    padded = F.pad(args.input, [p for pair in reversed(pads) for p in pair])
    flat = case.with_spatial(tuple(n + sum(p) for n, p in zip(case.spatial, pads, strict=True)), padding=0)
    explicit = call_checked(
        target, flat, args.replace(input=padded, padding=0), "output with explicit padding"
    )
    exact = reference(args)
    within(
        out,
        f64(explicit),
        lambda p: 2 * bound_of(target, case, exact, precision=p),
        f"padding={case.padding!r} vs explicit zero padding",
        target=target,
        case=case,
    )


@law(
    "stride-subsampling",
    stage=Stage.METAMORPHIC,
    order=80,
    kinds=("conv2d", "conv1d", "conv3d"),
    require=("strided",),
    examples=40,
    needs=("stride",),
)
def stride_subsampling(target: Target, case: ConvCase) -> None:
    """A strided convolution is the stride-1 convolution subsampled every stride rows and columns."""
    args = case.materialize()
    out = call_checked(target, case, args)
    every: Any = (..., *(slice(None, None, s) for s in as_tuple(case.stride, case.rank)))
    dense_case = case.replace(stride=1)
    dense = call_checked(target, dense_case, args.replace(stride=1), "stride-1 output")
    exact, exact_dense = reference(args), reference(args.replace(stride=1))

    def allowed(p: Precision) -> torch.Tensor:
        dense_allowed = bound_of(target, dense_case, exact_dense, precision=p)[every]
        return bound_of(target, case, exact, precision=p) + dense_allowed

    what = f"stride={case.stride!r} vs stride-1 output subsampled"
    within(out, f64(dense)[every], allowed, what, target=target, case=case)


def _dilate(weight: torch.Tensor, dilation: tuple[int, ...]) -> torch.Tensor:
    """The kernel with ``d - 1`` zeros inserted between neighbouring taps along each spatial axis."""
    rank = len(dilation)
    kernel = weight.shape[-rank:]
    out = weight.new_zeros(
        *weight.shape[:-rank], *(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    )
    inserted: Any = (..., *(slice(None, None, d) for d in dilation))
    out[inserted] = weight
    return out


@law(
    "dilation-zero-insert",
    stage=Stage.METAMORPHIC,
    order=90,
    kinds=("conv2d", "conv_transpose2d", "conv1d", "conv3d"),
    require=("dilated",),
    examples=40,
    needs=("dilation",),
)
def dilation_zero_insert(target: Target, case: ConvCase) -> None:
    """A dilated kernel equals the kernel with dilation-1 zeros inserted between its taps, at dilation 1."""
    args = case.materialize()
    out = call_checked(target, case, args)
    wide = _dilate(args.weight, as_tuple(case.dilation, case.rank))
    wide_case = case.replace(kernel=tuple(wide.shape[-case.rank :]), dilation=1)
    plain = call_checked(
        target, wide_case, args.replace(weight=wide, dilation=1), "output with the zero-inserted kernel"
    )
    exact, exact_wide = reference(args), reference(args.replace(weight=wide, dilation=1))

    def allowed(p: Precision) -> torch.Tensor:
        return bound_of(target, case, exact, precision=p) + bound_of(
            target, wide_case, exact_wide, precision=p
        )

    what = f"dilation={case.dilation!r} vs zero-inserted kernel"
    within(out, f64(plain), allowed, what, target=target, case=case)


@law("delta-identity", stage=Stage.METAMORPHIC, order=100, examples=30)
def delta_identity(target: Target, case: ConvCase) -> None:
    """A kernel with a single tap of 1 copies the (padded, strided, dilated) input: conv(x, δ) = shifted x."""
    args = case.materialize()
    args = args.replace(weight=delta_weight(case, args))
    out = call_checked(target, case, args)
    exact = reference(args)
    within_reference(target, case, exact, out, "output for a single-tap kernel vs the shifted input")


@law(
    "shift-equivariance",
    stage=Stage.METAMORPHIC,
    order=110,
    kinds=("conv2d", "corr2d", "conv1d", "conv3d"),
    require=("no-padding",),
    examples=30,
)
def shift_equivariance(target: Target, case: ConvCase) -> None:
    """Cropping whole strides off the input's top-left crops the same number of rows and columns off the output."""
    outs = case.out_spatial
    if max(outs) == 1:  # nothing to crop: the law reduces to a well-formed output
        call_checked(target, case, case.materialize())
        return
    crops = [(case.seed // 7**axis) % n for axis, n in enumerate(outs)]  # (seed % H, seed // 7 % W) in 2-D
    if not any(crops):
        crops[next(axis for axis, n in enumerate(outs) if n > 1)] = 1
    strides = as_tuple(case.stride, case.rank)
    args = case.materialize()
    out = call_checked(target, case, args)
    cropped = case.with_spatial(
        tuple(n - c * s for n, c, s in zip(case.spatial, crops, strides, strict=True))
    )
    tail: Any = (..., *(slice(c, None) for c in crops))
    start: Any = (..., *(slice(c * s, None) for c, s in zip(crops, strides, strict=True)))
    shifted = call_checked(
        target,
        cropped,
        args.replace(input=args.input[start]),
        "output of the cropped input",
    )
    exact = reference(args)
    within(
        out[tail],
        f64(shifted),
        lambda p: 2 * bound_of(target, case, exact, precision=p)[tail],
        f"output[..., {', '.join(f'{c}:' for c in crops)}] vs output of input[..., "
        f"{', '.join(f'{c * s}:' for c, s in zip(crops, strides, strict=True))}]",
        target=target,
        case=case,
    )
