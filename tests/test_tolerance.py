"""The error bound: correct implementations sit inside it in every dtype, and anything past it is caught.

The correct implementations are the zoo's alternatives that compute float16/bfloat16 in
float32 (or everything in float64), so the test judges the bound, not the host: the
host's F.conv2d and its half-precision GEMMs are not run in the pytest process
(``tests/_tripwire.py``); the one zoo kernel here that accumulates in the half dtype
itself is run in a worker process (``tests/_isolation.py``).
"""

from __future__ import annotations

import dataclasses
import math

import _isolation
import pytest
import torch
from hypothesis import given

from conv2d.gate import PROPERTIES, Target, run_property
from conv2d.gate.case import ConvCase
from conv2d.gate.engine import PropertyResult
from conv2d.gate.judge import transform_length as _transformed
from conv2d.gate.reference import reference
from conv2d.gate.strategies import conv_cases
from conv2d.gate.tolerance import HEADROOM, bound, judge, precision_for, transform_factor, weaker_models
from conv2d.zoo import by_name


def _bound(case: ConvCase, exact) -> torch.Tensor:
    return bound(
        exact.value,
        exact.magnitude,
        reduction=case.reduction_length,
        precision=precision_for(case.torch_dtype),
        transformed=_transformed(case),
        scale=exact.scale,
        unbiased=exact.unbiased,
    )


#: Correct alternatives (``conv2d.zoo.correct``) that run no host convolution and no half-precision
#: GEMM: float16/bfloat16 computed in float32 and rounded once (``_run`` with ``_compute_dtype``), or
#: everything in float64. Between them they round as a direct loop, a GEMM, tap-by-tap matmuls,
#: Winograd's F(2, 3), F(4, 3) and F(6, 3) and an FFT do, with the bias before or after the rounding.
WITHIN_BOUND = (
    "float64_then_cast",
    "core",
    "slow_loop",
    "shifted_matmul",
    "winograd",
    "winograd_f4x3",
    "winograd_f6x3",
    "fft",
    "conv_then_bias",
)


@given(conv_cases())
def test_correct_alternatives_are_within_the_bound(case: ConvCase) -> None:
    """Each correct alternative's result is within half its bound in every dtype, layout and configuration.

    The host's own F.conv2d is judged by the gate in its crash-isolated workers, where the
    regions of its known bugs are labelled (``conv2d.gate.upstream``, ``tests/test_upstream.py``).
    """
    args = case.materialize()
    exact = reference(args)
    allowed = _bound(case, exact)
    for name in WITHIN_BOUND:
        out = by_name(name).fn(args.input, args.weight, args.bias, **args.params())
        verdict = judge(out, exact.value, allowed)
        assert verdict.max_ratio <= 0.5, f"{name}: {verdict.summary()}"


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


@pytest.mark.parametrize(("dtype", "threshold"), [("float16", 65520.0), ("bfloat16", 2.0**128 - 2.0**119)])
def test_overflow_to_infinity_is_right_where_the_bound_reaches_it(dtype: str, threshold: float) -> None:
    """An infinity is the rounded result where ``|exact| + bound`` reaches the overflow threshold.

    A float16 gradient of exact value -66509.7 rounds to -inf in F.conv2d (found by the headroom
    search as a false alarm); the same infinity is wrong with the other sign, or where the bound
    stops short of the threshold, and a float64 infinity is wrong where the exact value is finite.
    """
    dt = getattr(torch, dtype)
    expected = torch.tensor([-threshold * 1.01, -threshold * 0.5, threshold * 1.01], dtype=torch.float64)
    allowed = torch.full_like(expected, threshold * 0.01)
    got = torch.tensor([-math.inf, -math.inf, -math.inf], dtype=dt)
    verdict = judge(got, expected, allowed)
    assert verdict.violations == 2 and verdict.max_ratio == math.inf
    assert judge(got[:1], expected[:1], allowed[:1]).holds
    just_short = torch.tensor([-threshold + threshold * 0.011], dtype=torch.float64)
    assert not judge(got[:1], just_short, allowed[:1]).holds
    assert judge(got[:1], just_short - threshold * 0.002, allowed[:1]).holds
    assert not judge(got[:1].double(), expected[:1], allowed[:1]).holds


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
    """Where every product is zero, the bound is only the underflow allowance (a few float32 subnormal spacings):
    any normal nonzero output is a violation."""
    exact = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    allowed = bound(exact, exact, reduction=9, precision=precision_for(torch.float32), transformed=16)
    tiny, u = torch.finfo(torch.float32).tiny, 2.0**-24
    assert (allowed > 0).all() and (allowed <= 2 * 11 * tiny * u * (1 + 1e-12)).all()
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


def test_bias_added_after_rounding_is_within_the_bound() -> None:
    """With a bias, rounding the convolution and then adding the bias in the dtype (two roundings) is allowed."""
    conv = torch.tensor([1.0 + 2.0**-11], dtype=torch.float64)  # a tie: rounds to 1 in float16
    bias = torch.tensor([-1.0], dtype=torch.float64)
    exact, unbiased = conv + bias, conv
    two_roundings = (conv.half() + bias.half()).double()  # = 0: an error of 2**-11 where |y| = 2**-11
    assert float(two_roundings) == 0.0
    p = precision_for(torch.float16)
    mag = conv.abs() + bias.abs()
    with_bias = bound(exact, mag, reduction=1, precision=p, transformed=1, unbiased=unbiased)
    without = bound(exact, mag, reduction=1, precision=p, transformed=1)
    assert judge(two_roundings, exact, with_bias).max_ratio <= 1 / HEADROOM
    assert not judge(two_roundings, exact, without).holds  # one rounding's bound would cry wolf
    assert not judge(exact + 1.01 * with_bias, exact, with_bias).holds


def test_transform_factor_follows_the_stated_analysis() -> None:
    """(3 t(n) eta + u)/u with t(n) = 3 (ceil(log2 n) + 2) stages and eta = (1 + 4 sqrt 2) u."""
    eta = 1 + 4 * math.sqrt(2)
    assert transform_factor(1024) == pytest.approx(3 * 3 * (10 + 2) * eta + 1)
    assert transform_factor(1000) == transform_factor(1024) < transform_factor(1025)
    assert transform_factor(1) == transform_factor(2)


def test_weaker_models_cover_each_dtype() -> None:
    """TF32 and bfloat16 inputs for float32, in-dtype accumulation for half dtypes, float32 for float64."""
    names = {d: [m.name for m in weaker_models(d)] for d in (torch.float32, torch.float16, torch.float64)}
    assert any("TF32" in n for n in names[torch.float32]) and any(
        "bfloat16" in n for n in names[torch.float32]
    )
    assert names[torch.float16] == ["accumulation in float16"]
    assert names[torch.float64] == ["a float32 computation"]
    assert weaker_models(torch.float16, backward=True) == []


def _undeclared(fn):
    def conv2d(*args, **kwargs):
        return fn(*args, **kwargs)

    return conv2d


def _in_dtype_verdict(declared: bool, dtypes: tuple[str, ...]) -> PropertyResult:
    """matches-reference of the zoo's accumulate_in_dtype, as declared or not (run in the worker process:
    it runs the host's float16/bfloat16 GEMMs)."""
    entry = by_name("accumulate_in_dtype")
    target = Target(entry.fn, entry.target) if declared else Target(_undeclared(entry.fn), "tests:in_dtype")
    if declared:
        assert target.capabilities.accumulation == "dtype"
    target.capabilities = dataclasses.replace(
        target.capabilities, dtypes=tuple(getattr(torch, d) for d in dtypes)
    )
    return run_property(PROPERTIES["matches-reference"], target)


def test_in_dtype_accumulation_fails_by_default_and_names_its_model() -> None:
    """Accumulating float16 in float16 breaks F.conv2d's contract; the message says the errors fit that model."""
    result = _isolation.call(_in_dtype_verdict, False, ("float16",), what="accumulate_in_dtype, undeclared")
    assert result.status == "fails" and result.failure is not None
    assert "the errors fit accumulation in float16" in result.failure.message
    assert "declare accumulation='dtype' if intended" in result.failure.message


def test_in_dtype_accumulation_passes_once_declared() -> None:
    """The same kernel, declaring accumulation='dtype', passes the reference comparison in float16 and bfloat16."""
    result = _isolation.call(
        _in_dtype_verdict, True, ("float16", "bfloat16"), what="accumulate_in_dtype, declared"
    )
    assert result.status == "holds", result.failure.message if result.failure else result.note
