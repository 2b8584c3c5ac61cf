"""Laws of IEEE arithmetic: NaN and infinities propagate, overflow gives infinity, subnormals are kept."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch

from conv2d.gate.case import Args, ConvCase, as_tuple, resolve_pads
from conv2d.gate.judge import may_flush
from conv2d.gate.laws._common import call_checked, delta_weight, f64, within_reference
from conv2d.gate.laws.registry import Stage, law, notice
from conv2d.gate.reference import reference, transposed_products
from conv2d.gate.target import Target, Violation
from conv2d.gate.vocabulary import HALF_DTYPES

__all__ = ["dynamic_range", "overflow_to_inf", "special_values", "subnormals_kept"]


def _contiguous(case: ConvCase) -> ConvCase:
    return case.replace(input_layout="contiguous", weight_layout="contiguous", bias_layout="contiguous")


def _plant(t: torch.Tensor, seed: int, values: Sequence[float]) -> torch.Tensor:
    """A copy of ``t`` with ``values`` written at seed-chosen, distinct flat positions."""
    out = t.detach().clone().contiguous()
    flat = out.view(-1)
    for i, v in enumerate(values[: flat.numel()]):
        flat[(seed * (2 * i + 1) + 7 * i) % flat.numel()] = v
    return out


_PAD = torch.ops.aten.constant_pad_nd.default


def _implicit_padding_products(case: ConvCase, args: Args) -> torch.Tensor:
    """The float64 result as a sum of the products of *real* input elements with the kernel.

    Padding is implicit, as in F.conv2d and cuDNN: a padded position contributes no
    product at all, so an infinite weight tap over the padding gives no ``inf * 0``.
    Every product of real elements is formed, so NaN * 0 and inf * 0 inside the input are NaN.
    """
    if case.kind == "corr2d":  # no padding: every product is of real elements
        return reference(args).value
    if case.transposed:  # no padding enters a transposed convolution's products
        return transposed_products(args)
    x, w = f64(args.input), f64(args.weight)
    rank, batched = case.rank, case.batch is not None
    xb = x if batched else x[None]
    stride, dilation = as_tuple(case.stride, rank), as_tuple(case.dilation, rank)
    pads = [p for pair in reversed(resolve_pads(case.padding, case.kernel, dilation)) for p in pair]
    xp, real = _PAD(xb, pads, 0.0), _PAD(torch.ones_like(xb), pads, 0.0) > 0
    n, g, cg, outs = xb.shape[0], case.groups, w.shape[1], case.out_spatial
    xg, rg = xp.reshape(n, g, cg, *xp.shape[2:]), real.reshape(n, g, cg, *xp.shape[2:])
    wg = w.reshape(g, case.out_channels // g, cg, *case.kernel)
    out = torch.zeros(n, g, case.out_channels // g, *outs, dtype=torch.float64)
    for tap in itertools.product(*(range(k) for k in case.kernel)):
        window = (
            ...,
            *(
                slice(t * d, t * d + (o - 1) * s + 1, s)
                for t, d, o, s in zip(tap, dilation, outs, stride, strict=True)
            ),
        )
        at: Any = (..., *tap)
        products = xg[window][:, :, None] * wg[at].reshape(g, -1, cg, *(1,) * rank)[None]
        out = out + torch.where(rg[window][:, :, None], products, torch.zeros_like(products)).sum(dim=3)
    out = out.reshape(n, case.out_channels, *outs)
    if args.bias is not None:
        out = out + f64(args.bias).view(1, -1, *(1,) * rank)
    return out if batched else out[0]


@law("special-values", stage=Stage.IEEE, order=10, examples=30, needs=("ieee",))
def special_values(target: Target, case: ConvCase) -> None:
    """NaN and ±inf in the input, weight or bias propagate as IEEE arithmetic says (NaN·0 = NaN): as in F.conv2d."""
    case = _contiguous(case)
    args = case.materialize()
    where = case.seed % 4  # 0: input, 1: weight, 2: bias, 3: all three
    nan, inf = float("nan"), float("inf")
    x = _plant(args.input, case.seed, (nan, inf, -inf)) if where in (0, 3) else args.input
    w = args.weight
    if where == 0:  # zero taps too: NaN * 0 and inf * 0 are NaN, so skipping zero weights shows
        w = w.detach().clone().contiguous()
        w.view(-1)[case.seed % 2 :: 2] = 0
    if where in (1, 3):
        w = _plant(w, case.seed + 1, (inf,) if where == 1 else (nan,))
    b = args.bias
    if b is not None and where in (2, 3):
        b = _plant(b, case.seed + 2, (nan,))
    special = args.replace(input=x, weight=w, bias=b)
    out = f64(call_checked(target, case, special))
    exact = _implicit_padding_products(case, special).to(case.torch_dtype).to(torch.float64)  # dtype overflow
    padded = reference(special).value.to(case.torch_dtype).to(torch.float64)  # padding multiplied in
    if case.transposed:  # a zero-inserting kernel multiplies a non-finite weight by its inserted zeros
        bad = ~torch.isfinite(f64(w)).flatten(1).all(dim=1)  # per input channel of the transposed weight
        per_group = case.out_channels // case.groups
        spoiled = torch.zeros(case.out_channels, dtype=torch.bool)
        for c in bad.nonzero().flatten().tolist():
            group = c // (case.in_channels // case.groups)
            spoiled[group * per_group : (group + 1) * per_group] = True
        padded = torch.where(spoiled.view(-1, 1, 1), torch.full_like(exact, float("nan")), exact)
    # Padding may be skipped (F.conv2d, cuDNN) or multiplied in (im2col): an infinite weight over
    # the padding gives NaN one way and a finite value the other, and both are right. An infinite
    # result may also come out NaN: blocked kernels multiply it by a zero pad (inf * 0 = NaN).
    nan_out = torch.isnan(out)
    checks = (
        ("NaN", torch.isnan(exact), nan_out),
        ("+inf", torch.isposinf(exact), torch.isposinf(out) | nan_out),
        ("-inf", torch.isneginf(exact), torch.isneginf(out) | nan_out),
        ("finite", torch.isfinite(exact), torch.isfinite(out) | (nan_out & torch.isnan(padded))),
    )
    for what, expected, got in checks:
        wrong = expected & ~got
        if bool(wrong.any()):
            index = tuple(int(i) for i in wrong.nonzero()[0])
            raise Violation(
                f"output{index}={float(out[index])!r}, but should be {float(exact[index])!r}: {int(wrong.sum())} "
                f"elements that should be {what} are not (NaN and infinities in the arguments must propagate, "
                "and nothing else may become non-finite; declare ieee=False for a fast-math kernel)"
            )


def _power_of_two_above(value: float) -> float:
    return 2.0 ** math.ceil(math.log2(value))


@law(
    "overflow-to-inf",
    stage=Stage.IEEE,
    order=20,
    kinds=("conv2d", "conv_transpose2d", "conv1d", "conv3d"),
    require=("no-bias",),
    examples=15,
    needs=("ieee",),
)
def overflow_to_inf(target: Target, case: ConvCase) -> None:
    """A result beyond the dtype's largest finite value is ±inf (IEEE overflow), not saturated to the largest value."""
    case = _contiguous(case)
    args = case.materialize()
    big = _power_of_two_above(math.sqrt(torch.finfo(case.torch_dtype).max))  # big * big overflows
    sign = -1.0 if case.seed % 2 else 1.0
    x = torch.full_like(args.input, big)
    w = torch.full_like(args.weight, sign * big)
    over = args.replace(input=x, weight=w)
    out = f64(call_checked(target, case, over))
    exact = reference(over).value.to(case.torch_dtype).to(torch.float64)
    wrong = (exact != out) & ~(torch.isnan(exact) & torch.isnan(out))
    if bool(wrong.any()):
        index = tuple(int(i) for i in wrong.nonzero()[0])
        raise Violation(
            f"output{index}={float(out[index])!r}, but should be {float(exact[index])!r}: a result past the "
            f"largest finite {case.dtype} overflows to infinity (declare ieee=False for a saturating kernel)"
        )


@law(
    "subnormals-kept",
    stage=Stage.IEEE,
    order=30,
    kinds=("conv2d", "conv_transpose2d", "conv1d", "conv3d"),
    require=("no-bias",),
    examples=15,
    needs=("ieee",),
)
def subnormals_kept(target: Target, case: ConvCase) -> None:
    """Subnormal inputs give subnormal outputs: a single-tap kernel copies them exactly, nothing is flushed to zero (float16/bfloat16 may flush unless subnormals="keep" is declared: a note, not a failure)."""
    case = _contiguous(case)
    args = case.materialize()
    tiny = torch.finfo(case.torch_dtype).tiny
    generator = torch.Generator().manual_seed(case.seed)
    steps = torch.randint(1, 8, args.input.shape, generator=generator).to(torch.float64)
    x = (steps * tiny / 8).to(case.torch_dtype)  # k/8 of the smallest normal: exact subnormals
    sub = args.replace(input=x, weight=delta_weight(case, args))
    out = call_checked(target, case, sub)
    exact = reference(sub)
    flushed = (out.detach().to("cpu", torch.float64) == 0) & (exact.value != 0)
    if bool(flushed.any()):
        if not may_flush(target.capabilities, case.torch_dtype):
            keep = " or subnormals='half-may-flush'" if case.torch_dtype in HALF_DTYPES else ""
            raise Violation(
                f"{int(flushed.sum())} of {flushed.numel()} subnormal results were flushed to zero "
                f"(denormals-are-zero or flush-to-zero mode); declare ieee=False{keep} if intended"
            )
        notice(
            f"{case.dtype} subnormals are flushed to zero (a platform behaviour in half precision: "
            "reported, not failed; declare subnormals='keep' to be held to gradual underflow)",
            behaviour=f"{case.dtype}-subnormals-flushed",
        )
    within_reference(target, case, exact, out, "subnormal output")


#: The power of two a dynamic-range case scales its operands by: far beyond float16's range
#: (largest 65504, smallest normal 2**-14), well inside bfloat16's, float32's and float64's.
_RANGE_EXPONENT = 40


@law("dynamic-range", stage=Stage.IEEE, order=40, examples=15)
def dynamic_range(target: Target, case: ConvCase) -> None:
    """Operands far from 1 in a wide dtype (input times 2**±40, weight times 2**∓40, the products unchanged) are computed in that dtype's range: no narrower type overflows or underflows them."""
    if case.torch_dtype == torch.float16:  # its whole range is drawn already
        return
    exponent = _RANGE_EXPONENT if case.seed % 2 == 0 else -_RANGE_EXPONENT
    scaled = case.replace(exponent=exponent)
    args = scaled.materialize()
    out = call_checked(target, scaled, args)
    within_reference(
        target,
        scaled,
        reference(args),
        out,
        f"output with the input scaled by 2**{exponent} vs float64 reference",
    )
