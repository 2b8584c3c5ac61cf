"""The core's conv_transpose2d, conv1d and conv3d: torch's contracts, to any order, with no convolution operator.

Each is compared with torch's own operator in float64 only (the host's convolution runs
in no other dtype in this process), on random cases drawn by Hypothesis; float16 and
bfloat16 are held to the rounding bound of one final rounding plus a float32 sum.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from test_core import OpRecorder

from conv2d.family import conv1d, conv3d, conv_transpose2d, transposed_output_size

_U = {torch.float32: 2.0**-24, torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}


@st.composite
def transposed_calls(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]:
    """A valid conv_transpose2d call: input shape, weight shape and parameters."""
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True))
    size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    unpadded = [
        transposed_output_size(n, k, s, 0, e, d)
        for n, k, s, e, d in zip(size, kernel, stride, extra, dilation, strict=True)
    ]
    padding = tuple(min(p, (o - 1) // 2) for p, o in zip(padding, unpadded, strict=True))  # a positive output
    params = {
        "stride": stride,
        "padding": padding,
        "output_padding": extra,
        "groups": groups,
        "dilation": dilation,
    }
    return (draw(st.integers(1, 2)), c_in, *size), (c_in, c_out // groups, *kernel), params


def _data(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


@settings(max_examples=80, deadline=None)
@given(call=transposed_calls(), bias=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_conv_transpose2d_matches_torch_in_float64(call: Any, bias: bool, seed: int) -> None:
    """Output, and input/weight gradients, equal F.conv_transpose2d's in float64 to rounding."""
    x_shape, w_shape, params = call
    y, w = _data(x_shape, seed).requires_grad_(), _data(w_shape, seed + 1).requires_grad_()
    b = _data((w_shape[1] * params["groups"],), seed + 2) if bias else None
    ours = conv_transpose2d(y, w, b, **params)
    ref = F.conv_transpose2d(y, w, b, **params)
    assert ours.shape == ref.shape and ours.dtype == torch.float64
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    g = _data(tuple(ref.shape), seed + 3)
    torch.testing.assert_close(torch.autograd.grad(ours, (y, w), g), torch.autograd.grad(ref, (y, w), g))


def test_conv_transpose2d_is_the_adjoint_of_conv2d() -> None:
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>, output_padding choosing x's size among those that fit."""
    w = _data((3, 2, 3, 2), 0)
    y = _data((2, 3, 4, 5), 1)
    for extra in ((0, 0), (1, 1)):
        out = conv_transpose2d(y, w, stride=2, padding=1, output_padding=extra)
        x = _data(tuple(out.shape), 2)
        lhs = (F.conv2d(x, w, stride=2, padding=1) * y).sum()
        assert torch.isclose(lhs, (x * out).sum(), rtol=1e-12)


def test_conv_transpose2d_is_differentiable_twice() -> None:
    """gradcheck and gradgradcheck pass with stride, output_padding and groups."""
    y = _data((1, 4, 3, 4), 0).requires_grad_()
    w = _data((4, 1, 2, 3), 1).requires_grad_()
    fn = lambda a, b: conv_transpose2d(a, b, None, 2, 1, 1, 2, 1)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (y, w)) and torch.autograd.gradgradcheck(fn, (y, w))


@settings(max_examples=60, deadline=None)
@given(
    groups=st.integers(1, 2),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    padding=st.sampled_from([0, 1, 2, "same", "valid"]),
    length=st.integers(7, 12),
    unbatched=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_conv1d_matches_torch_in_float64(
    groups: int,
    kernel: int,
    stride: int,
    dilation: int,
    padding: Any,
    length: int,
    unbatched: bool,
    seed: int,
) -> None:
    """conv1d equals F.conv1d in float64, batched or not, with every padding form."""
    stride = 1 if padding == "same" else stride
    x = _data((2 * groups, length) if unbatched else (2, 2 * groups, length), seed)
    w, b = _data((3 * groups, 2, kernel), seed + 1), _data((3 * groups,), seed + 2)
    torch.testing.assert_close(
        conv1d(x, w, b, stride, padding, dilation, groups),
        F.conv1d(x, w, b, stride, padding, dilation, groups),
    )


@settings(max_examples=40, deadline=None)
@given(
    groups=st.integers(1, 2),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    padding=st.sampled_from([0, 1, (1, 0, 2), "same", "valid"]),
    unbatched=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_conv3d_matches_torch_in_float64(
    groups: int, kernel: Any, stride: Any, dilation: Any, padding: Any, unbatched: bool, seed: int
) -> None:
    """conv3d equals F.conv3d in float64, batched or not, with every padding form."""
    stride = 1 if padding == "same" else stride
    shape = (2 * groups, 6, 5, 7)
    x = _data(shape if unbatched else (2, *shape), seed)
    w, b = _data((2 * groups, 2, *kernel), seed + 1), _data((2 * groups,), seed + 2)
    torch.testing.assert_close(
        conv3d(x, w, b, stride, padding, dilation, groups),
        F.conv3d(x, w, b, stride, padding, dilation, groups),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_lower_precision_is_within_one_rounding_of_a_float32_sum(dtype: torch.dtype) -> None:
    """Each op keeps the dtype and stays within (K + 2) u_acc |x||w| + u_out |y| of the float64 result."""
    cases = [
        (
            conv_transpose2d,
            F.conv_transpose2d,
            (2, 4, 5, 6),
            (4, 3, 3, 3),
            {"stride": 2, "output_padding": 1},
            4 * 9,
        ),
        (conv1d, F.conv1d, (2, 4, 11), (3, 4, 5), {"padding": "same"}, 4 * 5),
        (conv3d, F.conv3d, (1, 2, 5, 6, 7), (3, 2, 2, 3, 3), {"stride": (1, 2, 1)}, 2 * 18),
    ]
    for ours, theirs, x_shape, w_shape, params, terms in cases:
        x, w = _data(x_shape, 0, dtype), _data(w_shape, 1, dtype)
        out = ours(x, w, **params)
        assert out.dtype == dtype
        exact = theirs(x.double(), w.double(), **params)
        magnitude = theirs(x.double().abs(), w.double().abs(), **params)
        bound = (terms + 2) * 2.0**-24 * magnitude + _U[dtype] * exact.abs() + 1e-30
        assert ((out.double() - exact).abs() <= bound).all(), ours.__name__


@pytest.mark.parametrize("op", ["conv_transpose2d", "conv1d", "conv3d"])
def test_family_dispatches_no_convolution_operator(op: str) -> None:
    """Forward, backward and double backward run no aten convolution operator."""
    calls = {
        "conv_transpose2d": (
            conv_transpose2d,
            (1, 2, 4, 4),
            (2, 3, 3, 3),
            {"stride": 2, "output_padding": 1},
        ),
        "conv1d": (conv1d, (1, 2, 9), (3, 2, 3), {"padding": 1}),
        "conv3d": (conv3d, (1, 2, 4, 5, 5), (3, 2, 2, 3, 3), {"padding": 1}),
    }
    fn, x_shape, w_shape, params = calls[op]
    x, w = torch.randn(x_shape, requires_grad=True), torch.randn(w_shape, requires_grad=True)
    with OpRecorder() as recorder:
        out = fn(x, w, **params)
        gx, gw = torch.autograd.grad(out.square().sum(), (x, w), create_graph=True)
        torch.autograd.grad((gx.sum() + gw.sum()), (x, w))
    assert recorder.ops and not recorder.forbidden(), recorder.forbidden()


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (
            lambda: conv_transpose2d(torch.ones(1, 2, 3, 3), torch.ones(2, 1, 3, 3), output_padding=1),
            "output_padding",
        ),
        (lambda: conv_transpose2d(torch.ones(1, 2, 3, 3), torch.ones(3, 1, 3, 3)), "weight.shape[0]=3"),
        (lambda: conv_transpose2d(torch.ones(1, 2, 3, 3), torch.ones(2, 1, 3, 3), padding=3), "not positive"),
        (lambda: conv1d(torch.ones(1, 2, 5), torch.ones(3, 2, 3), stride=2, padding="same"), "stride 1"),
        (lambda: conv1d(torch.ones(1, 2, 5), torch.ones(3, 2, 3, 3)), "weight must be 3-D"),
        (lambda: conv3d(torch.ones(1, 2, 3, 3, 3), torch.ones(3, 1, 2, 2, 2)), "weight.shape[1]=1"),
        (lambda: conv3d(torch.ones(1, 2, 3, 3, 3), torch.ones(3, 2, 4, 2, 2)), "spans"),
        (lambda: conv3d(torch.ones(1, 2, 3, 3, 3), torch.ones(3, 2, 2, 2, 2), stride=(1, 2)), "triple"),
    ],
)
def test_bad_calls_name_the_argument(call: Any, fragment: str) -> None:
    """Each refusal is a ValueError or TypeError naming what is wrong."""
    with pytest.raises((ValueError, TypeError), match=None) as caught:
        call()
    assert fragment in str(caught.value)


@pytest.mark.parametrize("groups", [1, 8])
def test_conv_transpose2d_keeps_an_infinite_tap_in_its_channel(groups: int) -> None:
    """An infinite weight tap gives +inf where it meets an input element, and leaves every other output
    channel finite.

    The adjoint of the core's depthwise strategy multiplies its grid's zero padding by every tap, so one
    infinite tap made NaN in the next channel; a non-finite weight now takes the zero-insertion form.
    """
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(8, 1, 1, generator=gen) + 1
    w = torch.rand(8, 8 // groups, 3, 3, generator=gen)
    w[0, 0, 0, 2] = float("inf")
    out = conv_transpose2d(x, w, groups=groups)
    bad = (~torch.isfinite(out)).nonzero().tolist()
    assert bool(torch.isposinf(out[0, 0, 2])) and {c for c, _, _ in bad} == {0}
