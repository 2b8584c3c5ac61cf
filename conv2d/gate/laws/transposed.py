"""Laws of the transposed convolution: the adjoint of a convolution, zero insertion, cropping, its contract.

A transposed convolution ``conv_transpose2d(y, w)`` is defined as the adjoint of the
convolution with the same weight, stride, padding, dilation and groups: for every ``x``,
``<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>``. ``output_padding`` picks, among the
input sizes the convolution maps to ``y``'s size, the one the transposed output has; it
must be smaller than the stride or the dilation of its axis.

Its stride inserts ``s - 1`` zeros between input elements: the call equals a stride-1
call on the zero-inserted input, extended by ``output_padding`` zeros at the end. Its
padding crops the output on both sides: the call equals the padding-0 call, cropped.
"""

from __future__ import annotations

import torch

from conv2d.gate.case import Args, ConvCase, as_pair
from conv2d.gate.judge import within
from conv2d.gate.laws._common import bound_of, call_checked, f64, within_reference
from conv2d.gate.laws.api import reject_all
from conv2d.gate.laws.registry import Stage, law
from conv2d.gate.reference import reference
from conv2d.gate.target import Target
from conv2d.gate.tolerance import Precision

__all__ = [
    "conv2d_adjoint",
    "padding_crop",
    "stride_zero_insert",
    "tap_accumulation",
    "transposed_rejections",
]

_EPS64 = torch.finfo(torch.float64).eps


@law("conv2d-adjoint", stage=Stage.METAMORPHIC, order=140, kinds=("conv_transpose2d",), examples=30)
def conv2d_adjoint(target: Target, case: ConvCase) -> None:
    """The transposed convolution is the adjoint of the convolution: <conv2d(x, w), y> = <x, conv_transpose2d(y, w)>."""
    case = case.replace(bias=False)  # the bias is no part of the linear map
    args = case.materialize()
    out = call_checked(target, case, args)
    generator = torch.Generator().manual_seed(case.seed + 29)
    x = torch.rand(case.output_shape, generator=generator, dtype=torch.float64) * 2 - 1
    forward = Args(x, f64(args.weight), None, args.stride, args.padding, args.dilation, args.groups)
    exact_forward = reference(forward)  # the convolution, exactly: an output_padding >= stride adds a row
    y = f64(args.input)
    grow = [exact_forward.value.shape[a] - y.shape[a] for a in (-2, -1)]
    y_wide = torch.nn.functional.pad(y, (0, grow[1], 0, grow[0]))  # the extra rows meet zeros
    lhs = (exact_forward.value * y_wide).sum()
    rhs = (x * f64(out)).sum()
    exact = reference(args)
    slack = (x.abs() * bound_of(target, case, exact)).sum()
    slack = (
        slack + 4 * _EPS64 * (exact_forward.magnitude * y_wide.abs()).sum() + torch.finfo(torch.float64).tiny
    )
    within(
        rhs.reshape(1),
        lhs.reshape(1),
        slack.reshape(1),
        "<x, conv_transpose2d(y, w)> vs <conv2d(x, w), y>",
        target=target,
        case=case,
    )


@law("tap-accumulation", stage=Stage.REFERENCE, order=40, kinds=("conv_transpose2d",), examples=30)
def tap_accumulation(target: Target, case: ConvCase) -> None:
    """Kernel taps are summed at the contract's precision: a stride-1 call where at least nine taps reach each inner output, one tap dominant, is within its bound."""
    kernel = (max(3, case.kernel[0]), max(3, case.kernel[1]))
    dense = case.replace(
        kernel=kernel,
        stride=1,
        dilation=1,
        output_padding=0,
        padding=0,
        values="dominant",
        exponent=0,
        height=max(case.height, 3),
        width=max(case.width, 3),
    )
    args = dense.materialize()
    out = call_checked(target, dense, args)
    within_reference(target, dense, reference(args), out, "output with one dominant tap vs float64 reference")


def _zero_insert(y: torch.Tensor, stride: tuple[int, int], extra: tuple[int, int]) -> torch.Tensor:
    """``y`` with ``s - 1`` zeros between neighbours on each axis and ``extra`` zeros after the last."""
    (sh, sw), (eh, ew) = stride, extra
    h, w = y.shape[-2:]
    out = y.new_zeros(*y.shape[:-2], (h - 1) * sh + 1 + eh, (w - 1) * sw + 1 + ew)
    out[..., : (h - 1) * sh + 1 : sh, : (w - 1) * sw + 1 : sw] = y
    return out


@law(
    "stride-zero-insert",
    stage=Stage.METAMORPHIC,
    order=150,
    kinds=("conv_transpose2d",),
    require=("strided",),
    examples=40,
    needs=("stride",),
)
def stride_zero_insert(target: Target, case: ConvCase) -> None:
    """A strided transposed convolution is the stride-1 one of the input with stride-1 zeros between its elements (and output_padding zeros after)."""
    args = case.materialize()
    out = call_checked(target, case, args)
    stride, extra = as_pair(case.stride), as_pair(case.output_padding)
    inserted = _zero_insert(args.input.detach(), stride, extra)
    dense_case = case.replace(
        height=inserted.shape[-2],
        width=inserted.shape[-1],
        stride=1,
        output_padding=0,
        input_layout="contiguous",
    )
    dense_args = args.replace(input=inserted, stride=1, output_padding=0)
    dense = call_checked(target, dense_case, dense_args, "output of the zero-inserted input at stride 1")
    exact, exact_dense = reference(args), reference(dense_args)

    def allowed(p: Precision) -> torch.Tensor:
        return bound_of(target, case, exact, precision=p) + bound_of(
            target, dense_case, exact_dense, precision=p
        )

    what = f"stride={case.stride!r} output_padding={case.output_padding!r} vs stride 1 on the zero-inserted input"
    within(out, f64(dense), allowed, what, target=target, case=case)


@law(
    "padding-crop",
    stage=Stage.METAMORPHIC,
    order=160,
    kinds=("conv_transpose2d",),
    examples=40,
    needs=("padding",),
)
def padding_crop(target: Target, case: ConvCase) -> None:
    """A transposed convolution's padding crops its output: padding p equals padding 0 with p rows and columns cut from each side."""
    args = case.materialize()
    out = call_checked(target, case, args)
    ph, pw = as_pair(case.padding)  # type: ignore[arg-type]
    wide_case = case.replace(padding=0)
    wide_args = args.replace(padding=0)
    wide = call_checked(target, wide_case, wide_args, "output with padding 0")
    h, w = case.out_spatial
    exact, exact_wide = reference(args), reference(wide_args)

    def allowed(p: Precision) -> torch.Tensor:
        cut = bound_of(target, wide_case, exact_wide, precision=p)[..., ph : ph + h, pw : pw + w]
        return bound_of(target, case, exact, precision=p) + cut

    what = f"padding={case.padding!r} vs padding 0 cropped by {ph} rows and {pw} columns on each side"
    within(out, f64(wide)[..., ph : ph + h, pw : pw + w], allowed, what, target=target, case=case)


def rejected_transposed_calls(case: ConvCase, args: Args) -> list[tuple[str, Args]]:
    """Small changes of a valid F.conv_transpose2d call that F.conv_transpose2d rejects.

    An output_padding not below max(stride, dilation) on one axis (the one the case's seed
    picks) and a negative one; a zero stride, dilation or groups and a negative padding; a
    weight whose first axis does not match the input's channels; a bias of the wrong length.
    """
    axis = case.seed % 2
    s, d, op = as_pair(case.stride), as_pair(case.dilation), list(as_pair(case.output_padding))
    op[axis] = max(s[axis], d[axis])
    too_big = (op[0], op[1])
    rows = args.weight.shape[0] + case.groups
    bad_weight = torch.zeros(rows, *args.weight.shape[1:], dtype=args.weight.dtype, device=args.weight.device)
    bad_bias = torch.zeros(case.out_channels + 1, dtype=args.weight.dtype, device=args.weight.device)
    return [
        (
            f"output_padding={too_big!r} (not below max(stride, dilation) on axis {axis})",
            args.replace(output_padding=too_big),
        ),
        ("output_padding=-1", args.replace(output_padding=-1)),
        ("stride=0", args.replace(stride=0)),
        ("dilation=0", args.replace(dilation=0)),
        ("groups=0", args.replace(groups=0)),
        ("padding=-1", args.replace(padding=-1)),
        (f"a weight of {rows} input channels for {case.in_channels}", args.replace(weight=bad_weight)),
        (
            f"a bias of {case.out_channels + 1} elements for {case.out_channels} outputs",
            args.replace(bias=bad_bias),
        ),
    ]


@law("invalid-transposed-input", stage=Stage.API, order=40, kinds=("conv_transpose2d",), examples=20)
def transposed_rejections(target: Target, case: ConvCase) -> None:
    """Every call F.conv_transpose2d rejects among small changes of a valid call (an output_padding not below max(stride, dilation), a zero stride, dilation or groups, a negative padding or output_padding, a weight or bias of the wrong size) raises an error."""
    reject_all(target, rejected_transposed_calls(case, case.materialize()), "F.conv_transpose2d")
