"""Independent checks of the core ``conv2d`` against ``torch.nn.functional.conv2d``.

Values and gradients are judged with a rounding-error bound rather than a fixed
tolerance: for an output that sums ``K`` products,
``|ours - ref64| <= 8 * K * u * (|x| ⋆ |w| + |b|) + floor``, where ``ref64`` is
F.conv2d in float64 (on contiguous copies) and ``|x| ⋆ |w|`` is F.conv2d of the
absolute values. torch's own convolution runs only in float64 here: the host's
kernels in other dtypes are not trusted (``tests/_tripwire.py``).

Second derivatives are checked by gradgradcheck in float64 and against F.conv2d's
own second derivatives. The last section records every aten operator the core
dispatches (forward, backward and double backward) and checks that none of
torch's convolution operators is among them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

from conv2d import Conv2D, conv2d, convolve2d, corr2d
from conv2d._core import tuning

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
    ),
]
UNIT_ROUNDOFF = {
    torch.float64: 2.0**-53,
    torch.float32: 2.0**-24,
    torch.float16: 2.0**-11,
    torch.bfloat16: 2.0**-8,
}
STRATEGIES = ("auto", "taps", "im2col", "matmul-only", "shifts")


@contextlib.contextmanager
def forced_strategy(name: str) -> Iterator[None]:
    """Steer the core's strategy choice so every code path runs on small shapes.

    ``taps``: per-tap matrix products, in row blocks of a few rows, one image at
    a time (and same-size shifts one channel of one image per block, weight
    gradients one image per product); ``im2col``: one gathered product, its
    input gradient formed channels-last (and same-size shifts a few whole images
    per block);
    ``matmul-only``: no elementwise strategy, and im2col with its input gradient
    formed as pixel planes, one image at a time; ``shifts``: single-channel
    same-size layers by same-size shifts instead of zero-padded frames.
    """
    table: dict[str, dict[str, Any]] = {
        "auto": {},
        "taps": {
            "MIN_TAP_CHANNELS": 0,
            "IM2COL_WASTE_NUMERATOR": float("inf"),
            "MIN_BLOCK_ROWS": 1,
            "BLOCK_BYTES": 1024,
            "CHUNK_BYTES": 1,
            "DOT_IMAGES": 1,
            "SAME_BLOCK_ELEMS": 1,
            "SAME_SIZE_SHIFTS": True,
        },
        "im2col": {
            "MIN_TAP_CHANNELS": 0,
            "IM2COL_WASTE_NUMERATOR": -1.0,
            "SAME_BLOCK_ELEMS": 200,
            "SAME_SIZE_SHIFTS": True,
        },
        "matmul-only": {"MAX_ELEMENTWISE_MULTIPLIER": 0, "MIN_TAP_CHANNELS": 10**9, "CHUNK_BYTES": 1},
        "shifts": {"SAME_SIZE_SHIFTS": True},
    }
    patches = table[name]
    with mock.patch.multiple(tuning, **patches) if patches else contextlib.nullcontext():
        yield


@dataclasses.dataclass(frozen=True)
class Case:
    """One conv2d call: shapes, parameters in the form passed, and a seed for the data."""

    n: int | None
    c_in: int
    c_out: int
    size: tuple[int, int]
    kernel: tuple[int, int]
    stride: int | tuple[int, int]
    padding: int | tuple[int, int] | str
    dilation: int | tuple[int, int]
    groups: int
    bias: bool
    seed: int

    def tensors(
        self, dtype: torch.dtype, device: str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Input, weight and bias, drawn in float64 and rounded once to ``dtype``."""
        gen = torch.Generator().manual_seed(self.seed)
        lead = () if self.n is None else (self.n,)
        x = torch.randn(*lead, self.c_in, *self.size, generator=gen, dtype=torch.float64)
        w = torch.randn(
            self.c_out, self.c_in // self.groups, *self.kernel, generator=gen, dtype=torch.float64
        )
        b = torch.randn(self.c_out, generator=gen, dtype=torch.float64) if self.bias else None
        return (
            x.to(device=device, dtype=dtype),
            w.to(device=device, dtype=dtype),
            None if b is None else b.to(device=device, dtype=dtype),
        )

    def params(self) -> dict[str, Any]:
        """The keyword parameters beside the tensors."""
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
        }

    @property
    def reduction(self) -> int:
        """K: the number of products summed per output element."""
        return self.c_in // self.groups * self.kernel[0] * self.kernel[1]


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else v


@st.composite
def cases(
    draw: st.DrawFn, max_group_channels: int = 4, max_extra: int = 6, max_batch: int = 3, max_kernel: int = 4
) -> Case:
    """Random conv2d problems covering batching, stride/padding forms, dilation, groups and bias.

    Image sides exceed the smallest valid size by at most ``max_extra``.
    """
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = draw(st.booleans())
    cg = 1 if depthwise else draw(st.integers(1, max_group_channels))
    og = draw(st.integers(1, 4))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    ints = st.integers(1, 3)
    padding = draw(
        st.one_of(
            st.integers(0, 3),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.sampled_from(["same", "valid"]),
        )
    )
    stride = 1 if padding == "same" else draw(st.one_of(ints, st.tuples(ints, ints)))
    dilation = draw(st.one_of(ints, st.tuples(ints, ints)))
    d = _pair(dilation)
    pad = (0, 0) if padding in ("same", "valid") else _pair(padding)  # type: ignore[arg-type]
    size = []
    for axis in range(2):
        span = d[axis] * (kernel[axis] - 1) + 1
        smallest = 1 if padding == "same" else max(1, span - 2 * pad[axis])
        size.append(draw(st.integers(smallest, smallest + max_extra)))
    return Case(
        n=draw(st.one_of(st.none(), st.integers(1, max_batch))),
        c_in=cg * groups,
        c_out=og * groups,
        size=(size[0], size[1]),
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def _reference(
    case: Case, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, grad_out: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """F.conv2d in float64 on the same (rounded) data: value, magnitude ``|x| ⋆ |w| + |b|``, and both for the gradients."""
    leaves = [t.detach().double().contiguous().requires_grad_() for t in (x, w, b) if t is not None]
    abs_leaves = [t.detach().abs().requires_grad_() for t in leaves]
    ref = F.conv2d(leaves[0], leaves[1], leaves[2] if b is not None else None, **case.params())
    mag = F.conv2d(abs_leaves[0], abs_leaves[1], abs_leaves[2] if b is not None else None, **case.params())
    if grad_out is None:
        return ref.detach(), mag.detach(), [], []
    go = grad_out.double()
    grads = list(torch.autograd.grad(ref, leaves, go))
    grad_mags = list(torch.autograd.grad(mag, abs_leaves, go.abs()))
    return ref.detach(), mag.detach(), grads, grad_mags


def assert_within_bound(
    ours: torch.Tensor,
    ref: torch.Tensor,
    mag: torch.Tensor,
    terms: int,
    u: float,
    what: str,
    floor: float = 1e-30,
) -> None:
    """``|ours - ref| <= 8 * terms * u * mag + floor`` element-wise, with the worst ratio in the message."""
    err = (ours.double().cpu() - ref.cpu()).abs()
    bound = 8 * max(terms, 1) * u * mag.cpu() + floor
    ratio = (err / bound).max().item() if err.numel() else 0.0
    assert ratio <= 1.0, (
        f"{what}: error is {ratio:.3g}x the rounding bound (max error {err.max().item():.3g})"
    )


@settings(max_examples=60, deadline=None)
@given(
    case=cases(), dtype=st.sampled_from([torch.float32, torch.float64]), strategy=st.sampled_from(STRATEGIES)
)
def test_conv2d_matches_f_conv2d_within_rounding_bound(case: Case, dtype: torch.dtype, strategy: str) -> None:
    """Outputs and input/weight/bias gradients agree with F.conv2d within the rounding bound, with equal shape and dtype."""
    x, w, b = case.tensors(dtype)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    with forced_strategy(strategy):
        out = conv2d(x, w, b, **case.params())
        assert out.dtype == dtype
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(case.seed + 1), dtype=dtype)
        grads = torch.autograd.grad(out, leaves, grad_out)
    ref, mag, ref_grads, grad_mags = _reference(case, x, w, b, grad_out)
    assert out.shape == ref.shape
    u = UNIT_ROUNDOFF[dtype]
    assert_within_bound(out, ref, mag, case.reduction + 1, u, "output")
    out_pixels = ref.numel() // ref.shape[-3]
    og = case.c_out // case.groups
    terms = [og * case.kernel[0] * case.kernel[1], out_pixels, out_pixels]
    for name, g, rg, gm, k in zip(
        ("input", "weight", "bias"), grads, ref_grads, grad_mags, terms, strict=False
    ):
        assert g.shape == rg.shape and g.dtype == dtype
        assert_within_bound(g, rg, gm, k, u, f"grad of {name}")


@settings(max_examples=40, deadline=None)
@given(case=cases())
def test_output_size_follows_the_formula(case: Case) -> None:
    """Each spatial output size is floor((size + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1."""
    x, w, b = case.tensors(torch.float32)
    out = conv2d(x, w, b, **case.params())
    s, d = _pair(case.stride), _pair(case.dilation)
    for axis in range(2):
        k, size = case.kernel[axis], case.size[axis]
        if case.padding == "same":
            total = d[axis] * (k - 1)
        elif case.padding == "valid":
            total = 0
        else:
            total = 2 * _pair(case.padding)[axis]  # type: ignore[arg-type]
        assert out.shape[-2 + axis] == (size + total - d[axis] * (k - 1) - 1) // s[axis] + 1
    assert out.shape[:-2] == ((case.c_out,) if case.n is None else (case.n, case.c_out))


@settings(max_examples=30, deadline=None)
@given(case=cases(), a=st.integers(-3, 3), c=st.integers(-3, 3), strategy=st.sampled_from(STRATEGIES))
def test_linearity_is_exact_on_integer_data(case: Case, a: int, c: int, strategy: str) -> None:
    """conv2d is linear in the input and in the weight, exactly so on small integers in float32."""
    gen = torch.Generator().manual_seed(case.seed)
    x, w, _ = case.tensors(torch.float32)

    def ints(t: torch.Tensor) -> torch.Tensor:
        return torch.randint(-4, 5, t.shape, generator=gen).float()

    x1, x2, w1, w2 = ints(x), ints(x), ints(w), ints(w)
    with forced_strategy(strategy):
        lhs = conv2d(a * x1 + c * x2, w1, **case.params())
        rhs = a * conv2d(x1, w1, **case.params()) + c * conv2d(x2, w1, **case.params())
        assert torch.equal(lhs, rhs)
        lhs = conv2d(x1, a * w1 + c * w2, **case.params())
        rhs = a * conv2d(x1, w1, **case.params()) + c * conv2d(x1, w2, **case.params())
        assert torch.equal(lhs, rhs)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(
    "case",
    [
        Case(2, 4, 6, (9, 8), (3, 3), 1, 1, 1, 1, True, 1),
        Case(None, 6, 6, (7, 7), (3, 2), (2, 1), "valid", (1, 2), 3, True, 2),
        Case(1, 4, 4, (6, 6), (3, 3), 1, "same", 1, 4, False, 3),
        Case(2, 3, 5, (5, 6), (1, 1), 2, 0, 1, 1, True, 4),
    ],
    ids=["plain", "grouped-strided", "depthwise-same", "pointwise"],
)
def test_low_precision_smoke(case: Case, strategy: str, dtype: torch.dtype) -> None:
    """float16/bfloat16 keep their dtype and agree with a float64 reference within a reduced-precision bound."""
    x, w, b = case.tensors(dtype)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    with forced_strategy(strategy):
        out = conv2d(x, w, b, **case.params())
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(9)).to(dtype)
        grads = torch.autograd.grad(out, leaves, grad_out)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    ref, mag, ref_grads, grad_mags = _reference(case, x, w, b, grad_out)
    u = UNIT_ROUNDOFF[dtype]
    assert_within_bound(out, ref, mag, 1, u, "output", floor=1e-6)
    for g, rg, gm in zip(grads, ref_grads, grad_mags, strict=True):
        assert_within_bound(g, rg, gm, 1, u, "gradient", floor=1e-6)


@pytest.mark.parametrize(
    "case",
    [
        Case(2, 16, 16, (9, 9), (3, 3), 1, 1, 1, 1, True, 0),
        Case(2, 16, 128, (4, 4), (3, 3), 1, 1, 1, 1, True, 1),
        Case(2, 16, 24, (9, 8), (3, 3), 2, 1, 1, 1, True, 2),
        Case(2, 32, 32, (7, 7), (3, 3), 1, "same", 2, 2, False, 3),
        Case(2, 4, 32, (6, 6), (3, 3), 1, 1, 1, 4, True, 4),
        Case(1, 3, 8, (12, 12), (7, 7), 2, 3, 1, 1, True, 5),
    ],
    ids=["taps", "small-image-im2col", "taps-strided", "grouped-dilated", "depthwise-multiplier", "stem"],
)
def test_layer_shapes_pick_each_strategy(case: Case) -> None:
    """Layer shapes that select each strategy on their own agree with F.conv2d in values and gradients."""
    x, w, b = case.tensors(torch.float64)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    out = conv2d(x, w, b, **case.params())
    ref = F.conv2d(x, w, b, **case.params())
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    grad_out = torch.randn_like(ref)
    for ours, theirs in zip(
        torch.autograd.grad(out, leaves, grad_out), torch.autograd.grad(ref, leaves, grad_out), strict=True
    ):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def _layouts(t: torch.Tensor) -> dict[str, torch.Tensor]:
    """``t`` re-laid in memory: channels-last, every other element of a wider buffer, storage offset."""
    wide = torch.full((*t.shape[:-1], 2 * t.shape[-1]), float("nan"), dtype=t.dtype)
    wide[..., ::2] = t
    big = torch.zeros(t.numel() + 7, dtype=t.dtype)
    big[7:] = t.reshape(-1)
    return {
        "channels_last": t.contiguous(memory_format=torch.channels_last),
        "strided": wide[..., ::2],
        "transposed": t.transpose(-1, -2).contiguous().transpose(-1, -2),
        "offset": big[7:].view(t.shape),
    }


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("layout", ["channels_last", "strided", "transposed", "offset"])
def test_memory_layout_does_not_change_the_result(layout: str, strategy: str) -> None:
    """Non-contiguous, channels-last and offset inputs/weights give the same values as contiguous ones."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 9, 7, generator=gen, dtype=torch.float64)
    w = torch.randn(6, 2, 3, 2, generator=gen, dtype=torch.float64)
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    with forced_strategy(strategy):
        expected = conv2d(x, w, b, stride=(1, 2), padding=1, groups=2)
        got = conv2d(_layouts(x)[layout], _layouts(w)[layout], b, stride=(1, 2), padding=1, groups=2)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_channels_last_input_gives_channels_last_output() -> None:
    """Like F.conv2d, a channels-last input yields a channels-last output; a contiguous one a contiguous output."""
    x = torch.randn(2, 8, 6, 6)
    w = torch.randn(4, 8, 3, 3)
    assert conv2d(x, w).is_contiguous()
    assert conv2d(x.contiguous(memory_format=torch.channels_last), w).is_contiguous(
        memory_format=torch.channels_last
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_repeated_calls_are_bitwise_identical(strategy: str) -> None:
    """Two calls on the same arguments give bitwise equal outputs and gradients."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 10, 9, generator=gen, requires_grad=True)
    w = torch.randn(6, 3, 3, 3, generator=gen, requires_grad=True)
    results = []
    with forced_strategy(strategy):
        for _ in range(2):
            out = conv2d(x, w, stride=2, padding=1, groups=2)
            results.append((out, *torch.autograd.grad(out.square().sum(), (x, w))))
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))


@pytest.mark.parametrize(
    ("w_shape", "params"),
    [
        ((6, 2, 3, 3), {"padding": 1, "groups": 2}),
        ((4, 1, 1, 2), {"groups": 4}),
        ((8, 1, 3, 3), {"padding": "same", "groups": 4}),
        ((4, 1, 3, 3), {"stride": 2, "padding": 1, "groups": 4}),
        ((6, 4, 7, 7), {"stride": 2, "padding": 3}),
    ],
    ids=["grouped", "depthwise-valid", "depthwise-same", "depthwise-strided", "stem"],
)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_empty_batch(strategy: str, w_shape: tuple[int, ...], params: dict[str, Any]) -> None:
    """A batch of zero images gives an empty output of the right shape, empty gradients, and second derivatives."""
    x = torch.randn(0, 4, 7, 7, requires_grad=True)
    w = torch.randn(w_shape, requires_grad=True)
    with forced_strategy(strategy):
        out = conv2d(x, w, **params)
        assert out.shape == F.conv2d(x.detach().double(), w.detach().double(), **params).shape
        gx, gw = torch.autograd.grad(out.sum(), (x, w), create_graph=True)
        assert gx.shape == x.shape and torch.equal(gw, torch.zeros_like(w))
        (ggw,) = torch.autograd.grad(gw.sum(), w, allow_unused=True)
    assert ggw is None or torch.equal(ggw, torch.zeros_like(w))


@pytest.mark.parametrize(
    "case",
    [
        Case(2, 4, 4, (6, 7), (3, 3), 1, 1, 1, 4, True, 0),
        Case(1, 3, 6, (7, 5), (2, 3), 1, "same", (2, 1), 3, False, 1),
        Case(2, 6, 4, (7, 7), (3, 3), 2, 1, 1, 2, True, 2),
        Case(1, 2, 3, (6, 6), (3, 3), 1, 0, 1, 1, True, 3),
    ],
    ids=["depthwise-same", "depthwise-multiplier-dilated", "grouped-strided", "plain"],
)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_non_finite_inputs_propagate_like_f_conv2d(case: Case, strategy: str) -> None:
    """inf and nan in the input reach exactly the outputs whose windows hold them, as with F.conv2d (float64)."""
    x, w, b = case.tensors(torch.float64)
    flat = x.view(-1)
    gen = torch.Generator().manual_seed(case.seed)
    spots = torch.randperm(flat.numel(), generator=gen)[:3]
    flat[spots[0]], flat[spots[1]], flat[spots[2]] = float("inf"), float("-inf"), float("nan")
    with forced_strategy(strategy):
        got = conv2d(x, w, b, **case.params())
    expected = F.conv2d(x, w, b, **case.params())
    assert torch.equal(got.isnan(), expected.isnan()) and torch.equal(got.isposinf(), expected.isposinf())
    finite = expected.isfinite()
    torch.testing.assert_close(got[finite], expected[finite], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "case",
    [
        Case(2, 4, 6, (6, 5), (3, 2), (2, 1), (1, 2), (2, 1), 2, True, 0),
        Case(None, 3, 3, (5, 6), (2, 3), 1, "same", (1, 2), 3, True, 1),
        Case(1, 2, 4, (7, 6), (3, 3), 3, 2, 1, 2, True, 2),
        Case(2, 1, 1, (6, 5), (3, 4), 1, "valid", 1, 1, True, 3),
        Case(1, 4, 2, (5, 5), (1, 1), (2, 3), 0, 1, 1, True, 4),
        Case(1, 2, 3, (4, 4), (1, 1), 1, 1, 1, 1, False, 5),
    ],
    ids=[
        "grouped-strided-dilated",
        "depthwise-same-dilated",
        "stride3",
        "single-channel",
        "pointwise",
        "1x1-padded",
    ],
)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gradcheck(case: Case, strategy: str) -> None:
    """Finite differences confirm conv2d's gradients in float64 on small shapes, for every strategy."""
    x, w, b = case.tensors(torch.float64)
    leaves = tuple(t.requires_grad_() for t in (x, w, b) if t is not None)

    def fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        return conv2d(x, w, b, **case.params())

    with forced_strategy(strategy):
        assert torch.autograd.gradcheck(fn, leaves)


def _second_order(
    fn: Callable[..., torch.Tensor],
    leaves: list[torch.Tensor],
    grad_out: torch.Tensor,
    probe: list[torch.Tensor],
) -> list[torch.Tensor]:
    """Second derivatives of ``fn``: the gradient, in every leaf and in ``grad_out``, of
    ``sum_i <d fn / d leaf_i (grad_out), probe_i>`` (a Hessian-vector product, as a gradient penalty needs)."""
    go = grad_out.detach().requires_grad_()
    grads = torch.autograd.grad(fn(*leaves), leaves, go, create_graph=True)
    scalar = sum((g * p).sum() for g, p in zip(grads, probe, strict=True))
    assert isinstance(scalar, torch.Tensor)
    found = torch.autograd.grad(scalar, [*leaves, go], allow_unused=True)
    return [torch.zeros_like(t) if d is None else d for t, d in zip([*leaves, go], found, strict=True)]


@settings(max_examples=60, deadline=None)
@given(case=cases(), strategy=st.sampled_from(STRATEGIES))
def test_second_derivatives_match_f_conv2d(case: Case, strategy: str) -> None:
    """Hessian-vector products through conv2d, in the input, weight, bias and output gradient, equal F.conv2d's in float64."""
    x, w, b = case.tensors(torch.float64)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
    gen = torch.Generator().manual_seed(case.seed + 2)
    probe = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in leaves]

    def ours(*args: torch.Tensor) -> torch.Tensor:
        return conv2d(args[0], args[1], args[2] if b is not None else None, **case.params())

    def ref(*args: torch.Tensor) -> torch.Tensor:
        return F.conv2d(args[0], args[1], args[2] if b is not None else None, **case.params())

    grad_out = torch.randn(ref(*leaves).shape, generator=gen, dtype=torch.float64)
    with forced_strategy(strategy):
        got = _second_order(ours, leaves, grad_out, probe)
    expected = _second_order(ref, leaves, grad_out, probe)
    names = [*["input", "weight", "bias"][: len(leaves)], "grad_output"]
    for name, g, e in zip(names, got, expected, strict=True):
        err = (g - e).abs().max().item() if g.numel() else 0.0
        assert torch.allclose(g, e, rtol=1e-10, atol=1e-10), f"{name}: max difference {err:.3g}"


@settings(max_examples=60, deadline=None)
@given(
    case=cases(max_group_channels=2, max_extra=3, max_batch=2, max_kernel=3),
    strategy=st.sampled_from(STRATEGIES),
)
def test_gradgradcheck_on_random_configurations(case: Case, strategy: str) -> None:
    """torch.autograd.gradgradcheck (random-projection mode) holds in float64 for random configurations of every parameter."""
    x, w, b = case.tensors(torch.float64)
    leaves = tuple(t.requires_grad_() for t in (x, w, b) if t is not None)

    def fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        return conv2d(x, w, b, **case.params())

    with forced_strategy(strategy):
        assert torch.autograd.gradgradcheck(fn, leaves, fast_mode=True)


@pytest.mark.parametrize(
    "case",
    [
        Case(1, 2, 2, (4, 3), (2, 2), 1, 1, 1, 1, True, 0),
        Case(1, 2, 2, (5, 4), (3, 2), (2, 1), (1, 0), (1, 2), 2, True, 1),
        Case(None, 2, 2, (4, 4), (3, 3), 1, "same", 1, 2, True, 2),
        Case(2, 1, 2, (3, 4), (2, 2), 1, "valid", 1, 1, False, 3),
        Case(1, 2, 1, (3, 3), (1, 1), 1, 1, 1, 1, True, 4),
    ],
    ids=["plain", "strided-dilated-grouped", "depthwise-same-unbatched", "single-channel", "1x1-padded"],
)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gradgradcheck(case: Case, strategy: str) -> None:
    """Full gradgradcheck (every element by finite differences) holds in float64 on tiny shapes, for every strategy."""
    x, w, b = case.tensors(torch.float64)
    leaves = tuple(t.requires_grad_() for t in (x, w, b) if t is not None)

    def fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        return conv2d(x, w, b, **case.params())

    with forced_strategy(strategy):
        assert torch.autograd.gradgradcheck(fn, leaves)


def test_double_backward_pointwise() -> None:
    """Unpadded 1x1 convolutions (plain autograd) have correct second derivatives too."""
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 2, 1, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda a, b: conv2d(a, b, stride=2, groups=2), (x, w))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_third_derivative(strategy: str) -> None:
    """Differentiating three times (the gradient of a second derivative) agrees with F.conv2d."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)

    def third(fn: Callable[..., torch.Tensor]) -> list[torch.Tensor]:
        (gx,) = torch.autograd.grad(fn(x, w, padding=1, groups=2).square().sum(), x, create_graph=True)
        (gw,) = torch.autograd.grad(gx.square().sum(), w, create_graph=True)
        return list(torch.autograd.grad(gw.square().sum(), (x, w)))

    with forced_strategy(strategy):
        got = third(conv2d)
    for g, e in zip(got, third(F.conv2d), strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_dtype_and_device_are_kept(device: str, dtype: torch.dtype) -> None:
    """The output has the input's dtype and device, batched and unbatched (its shape: F.conv2d's in float64)."""
    x = torch.randn(2, 4, 6, 6, device=device).to(dtype)
    w = torch.randn(4, 2, 3, 3, device=device).to(dtype)
    for inp in (x, x[0]):
        out = conv2d(inp, w, torch.zeros(4, device=device, dtype=dtype), padding="same", groups=2)
        zero = torch.zeros(4, dtype=torch.float64)
        ref = F.conv2d(inp.cpu().double(), w.cpu().double(), zero, padding="same", groups=2)
        assert (out.shape, out.dtype, out.device) == (ref.shape, dtype, inp.device)


FORBIDDEN = ("conv", "cudnn", "mkldnn")


class OpRecorder(TorchDispatchMode):
    """Records the name of every aten operator dispatched while active, and where its results live."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []
        self.result_devices: set[str] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops.append(str(func))
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.result_devices.add(t.device.type)
        return out

    def forbidden(self) -> list[str]:
        return [op for op in self.ops if any(word in op.lower() for word in FORBIDDEN)]


def record(fn: Callable[[], torch.Tensor], leaves: list[torch.Tensor]) -> OpRecorder:
    """Run ``fn``, a backward pass building a graph, and a backward pass through that (double backward)
    under an :class:`OpRecorder`."""
    with OpRecorder() as recorder:
        out = fn()
        grads = torch.autograd.grad(out, leaves, torch.randn_like(out), create_graph=True)
        penalty = sum(g.square().sum() for g in grads if g.requires_grad)
        assert isinstance(penalty, torch.Tensor)
        torch.autograd.grad(penalty, leaves, allow_unused=True)
    return recorder


def test_recorder_detects_torch_convolution() -> None:
    """The recorder sees F.conv2d's convolution operators, so the checks below can fail."""
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    recorder = record(lambda: F.conv2d(x, w), [x, w])
    assert recorder.forbidden(), recorder.ops


CALLS = {
    "plain": ((2, 8, 9, 9), (6, 8, 3, 3), {"padding": 1}),
    "strided-dilated": (
        (2, 8, 11, 10),
        (6, 8, 3, 2),
        {"stride": (2, 3), "dilation": (2, 1), "padding": (1, 2)},
    ),
    "grouped": ((1, 6, 7, 7), (9, 2, 3, 3), {"groups": 3, "padding": "same"}),
    "depthwise": ((2, 4, 8, 8), (8, 1, 3, 3), {"groups": 4, "stride": 2}),
    "pointwise": ((2, 8, 6, 6), (4, 8, 1, 1), {"stride": 2}),
    "unbatched": ((3, 6, 6), (2, 3, 2, 2), {"padding": "valid"}),
    "depthwise-same": ((2, 4, 7, 6), (8, 1, 3, 3), {"groups": 4, "padding": "same", "dilation": (1, 2)}),
    "stem": ((1, 3, 12, 12), (8, 3, 7, 7), {"stride": 2, "padding": 3}),
}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", list(CALLS))
def test_conv2d_dispatches_no_convolution_operator(name: str, strategy: str) -> None:
    """conv2d's forward, backward and double backward run no aten operator named conv/cudnn/mkldnn, and nothing leaves the device."""
    x_shape, w_shape, params = CALLS[name]
    x = torch.randn(x_shape, requires_grad=True)
    w = torch.randn(w_shape, requires_grad=True)
    b = torch.randn(w_shape[0], requires_grad=True)
    with forced_strategy(strategy):
        recorder = record(lambda: conv2d(x, w, b, **params), [x, w, b])  # type: ignore[arg-type]
    assert recorder.ops and not recorder.forbidden()
    assert "aten._local_scalar_dense.default" not in recorder.ops
    assert recorder.result_devices == {"cpu"}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_dispatches_no_convolution_operator(dtype: torch.dtype) -> None:
    """The float16/bfloat16 route (computed in float32) runs no convolution operator either, to second order."""
    x = torch.randn(1, 4, 6, 6).to(dtype).requires_grad_()
    w = torch.randn(4, 4, 3, 3).to(dtype).requires_grad_()
    recorder = record(lambda: conv2d(x, w, padding=1), [x, w])
    assert recorder.ops and not recorder.forbidden()


@pytest.mark.parametrize("mode", ["valid", "full", "same"])
def test_planes_dispatch_no_convolution_operator(mode: str) -> None:
    """corr2d and convolve2d, forward, backward and double backward, run no convolution operator."""
    X = torch.randn(7, 6, requires_grad=True)
    K = torch.randn(3, 2, requires_grad=True)
    for fn in (lambda: corr2d(X, K), lambda: convolve2d(X, K, mode)):
        recorder = record(fn, [X, K])
        assert recorder.ops and not recorder.forbidden()


def test_layer_dispatches_no_convolution_operator() -> None:
    """Conv2D in both modes and every padding mode, to second order, runs no convolution operator."""
    layers = [(Conv2D(kernel_size=(2, 3)), torch.randn(5, 6))]
    for mode in ("zeros", "reflect", "replicate", "circular"):
        layers.append((Conv2D(4, 6, 3, padding="same", groups=2, padding_mode=mode), torch.randn(2, 4, 7, 7)))
    for layer, x in layers:
        x.requires_grad_()
        recorder = record(functools.partial(layer, x), [x, *layer.parameters()])
        assert recorder.ops and not recorder.forbidden()
