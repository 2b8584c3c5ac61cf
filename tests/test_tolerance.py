"""The error bound: F.conv2d itself sits inside it in every dtype, and anything past it is caught."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

from conv2d.gate.case import ConvCase
from conv2d.gate.reference import reference
from conv2d.gate.strategies import conv_cases
from conv2d.gate.tolerance import bound, judge, precision_for


def _bound(case: ConvCase, exact) -> torch.Tensor:
    return bound(
        exact.value,
        exact.magnitude,
        reduction=case.reduction_length,
        precision=precision_for(case.torch_dtype),
        transformed=case.height * case.width,
        scale=exact.scale,
    )


@given(conv_cases())
def test_torch_conv2d_is_within_the_bound(case: ConvCase) -> None:
    """F.conv2d's own result is within half its bound in every dtype, layout and configuration."""
    args = case.materialize()
    out = F.conv2d(args.input, args.weight, args.bias, **args.params())
    exact = reference(args)
    verdict = judge(out, exact.value, _bound(case, exact))
    assert verdict.max_ratio <= 0.5, verdict.summary()


def _simple_case(dtype: str = "float32") -> tuple[ConvCase, torch.Tensor, torch.Tensor]:
    case = ConvCase(
        batch=2,
        in_channels=3,
        out_channels=4,
        height=9,
        width=9,
        kernel=(3, 3),
        bias=True,
        dtype=dtype,
        seed=1,
    )
    args = case.materialize()
    exact = reference(args)
    return case, exact.value, _bound(case, exact)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_an_error_just_past_the_bound_is_caught(dtype: str) -> None:
    """An error of 1.01 bound in one element is a violation; 0.99 bound is not."""
    _, exact, allowed = _simple_case(dtype)
    for factor, holds in ((0.99, True), (1.01, False)):
        perturbed = exact.clone()
        perturbed[1, 2, 3, 4] += factor * allowed[1, 2, 3, 4]
        verdict = judge(perturbed, exact, allowed)
        assert verdict.holds is holds
        if not holds:
            assert verdict.worst_index == (1, 2, 3, 4) and verdict.violations == 1
            assert verdict.max_ratio == pytest.approx(1.01, rel=1e-3)


def test_non_finite_values_are_infinitely_wrong() -> None:
    """NaN or inf where the exact result is finite counts as an infinite error."""
    _, exact, allowed = _simple_case()
    for bad in (math.nan, math.inf):
        out = exact.clone()
        out[0, 0, 0, 0] = bad
        verdict = judge(out, exact, allowed)
        assert not verdict.holds and verdict.max_ratio == math.inf and verdict.worst_index == (0, 0, 0, 0)


def test_summary_speaks_the_message_grammar() -> None:
    """The summary names the count, the worst element, what it got, what it should be and the ratio to the bound."""
    _, exact, allowed = _simple_case()
    out = exact.clone()
    out[0, 1, 2, 3] += 1.0
    text = judge(out, exact, allowed).summary()
    assert text.startswith("1 of 392 elements exceed the error bound; worst at (0, 1, 2, 3): got ")
    assert "expected" in text and "x bound" in text


def test_precision_model() -> None:
    """float16/bfloat16 forward accumulates in float32; their gradients in the dtype; TF32 rounds float32 inputs."""
    assert precision_for(torch.float32).u_acc == 2.0**-24 and precision_for(torch.float32).u_in == 0
    assert precision_for(torch.float32, tf32=True).u_in == 2.0**-11
    assert precision_for(torch.float16).u_acc == 2.0**-24 and precision_for(torch.float16).u_out == 2.0**-11
    assert precision_for(torch.bfloat16, backward=True).u_acc == 2.0**-8
    assert precision_for(torch.float64).u_acc == 2.0**-53
    with pytest.raises(ValueError, match=r"dtype=torch\.int32"):
        precision_for(torch.int32)


def test_zero_magnitude_requires_exact_zero() -> None:
    """Where every product is zero, the bound is (practically) zero: any nonzero output is a violation."""
    exact = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    allowed = bound(exact, exact, reduction=9, precision=precision_for(torch.float32), transformed=16)
    assert (allowed > 0).all() and (allowed < 1e-300).all()
    assert not judge(torch.full((1, 1, 2, 2), 1e-30), exact, allowed).holds


def test_normwise_floor_follows_the_plane_scale() -> None:
    """An output that reads only zeros still gets a floor from its plane's norm-wise scale (FFT noise)."""
    case = ConvCase(
        batch=None,
        in_channels=1,
        out_channels=1,
        height=1,
        width=1,
        kernel=(1, 1),
        stride=2,
        padding=1,
        seed=0,
    )
    exact = reference(case.materialize())
    assert (exact.magnitude == 0).all() and (exact.scale > 0).all()
    allowed = _bound(case, exact)
    assert (allowed > 1e-8 * exact.scale).all()
    assert not judge(torch.full_like(exact.value, 1e-3), exact.value, allowed).holds
