"""Conv2D's padding modes against nn.Conv2d: same outputs, gradients (to second order), refusals and state dicts.

nn.Conv2d computes in float64 only: the host's convolution in other dtypes is not
trusted (``tests/_tripwire.py``).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from conv2d import Conv2D

MODES = ("zeros", "reflect", "replicate", "circular")


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer configuration and one input shape (sizes may be too small for the padding on purpose)."""

    mode: str
    c_in: int
    c_out: int
    kernel: tuple[int, int]
    stride: int | tuple[int, int]
    padding: int | tuple[int, int] | str
    dilation: int | tuple[int, int]
    groups: int
    bias: bool
    batch: int | None
    size: tuple[int, int]
    seed: int

    def config(self) -> dict[str, Any]:
        """The constructor keywords shared by Conv2D and nn.Conv2d."""
        return {
            "in_channels": self.c_in,
            "out_channels": self.c_out,
            "kernel_size": self.kernel,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "bias": self.bias,
            "padding_mode": self.mode,
            "dtype": torch.float64,
        }

    def pair(self) -> tuple[nn.Conv2d, Conv2D]:
        """An nn.Conv2d with seeded parameters, and a Conv2D holding the same parameters via its state dict."""
        torch.manual_seed(self.seed)
        reference = nn.Conv2d(**self.config())
        layer = Conv2D(**self.config())
        layer.load_state_dict(reference.state_dict(), strict=True)
        return reference, layer

    def input(self) -> torch.Tensor:
        """A float64 input of the drawn shape (unbatched when ``batch`` is None)."""
        gen = torch.Generator().manual_seed(self.seed + 1)
        lead = () if self.batch is None else (self.batch,)
        return torch.randn(*lead, self.c_in, *self.size, generator=gen, dtype=torch.float64)


@st.composite
def layers(draw: st.DrawFn) -> Layer:
    """Random layers of every padding mode; image sides from 1 up, so some are too small for reflect/circular."""
    groups = draw(st.sampled_from([1, 1, 2]))
    ints = st.integers(1, 2)
    padding = draw(
        st.one_of(
            st.integers(0, 3),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.sampled_from(["same", "valid"]),
        )
    )
    return Layer(
        mode=draw(st.sampled_from(MODES)),
        c_in=groups * draw(st.integers(1, 2)),
        c_out=groups * draw(st.integers(1, 2)),
        kernel=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        stride=1 if padding == "same" else draw(st.one_of(ints, st.tuples(ints, ints))),
        padding=padding,
        dilation=draw(st.one_of(ints, st.tuples(ints, ints))),
        groups=groups,
        bias=draw(st.booleans()),
        batch=draw(st.one_of(st.none(), st.integers(1, 2))),
        size=(draw(st.integers(1, 7)), draw(st.integers(1, 7))),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def _refusal(layer: nn.Module, x: torch.Tensor) -> Exception | None:
    """The exception ``layer(x)`` raises, or None."""
    try:
        layer(x)
    except (RuntimeError, ValueError) as exc:
        return exc
    return None


@settings(max_examples=150, deadline=None)
@given(spec=layers())
def test_conv2d_layer_matches_nn_conv2d_in_every_padding_mode(spec: Layer) -> None:
    """Output and input/weight/bias gradients equal nn.Conv2d's, and an input nn.Conv2d refuses is refused with a ValueError."""
    reference, layer = spec.pair()
    x = spec.input()
    if _refusal(reference, x) is not None:
        with pytest.raises(ValueError, match=r"Conv2D: |conv2d: "):
            layer(x)
        return
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    expected, got = reference(x_ref), layer(x_ours)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    grad_out = torch.randn(
        expected.shape, generator=torch.Generator().manual_seed(spec.seed), dtype=torch.float64
    )
    ref_grads = torch.autograd.grad(expected, [x_ref, *reference.parameters()], grad_out)
    our_grads = torch.autograd.grad(got, [x_ours, *layer.parameters()], grad_out)
    for theirs, ours in zip(ref_grads, our_grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(spec=layers())
def test_gradient_penalty_matches_nn_conv2d_in_every_padding_mode(spec: Layer) -> None:
    """A gradient penalty (squared norm of d output / d input) has nn.Conv2d's parameter and input gradients."""
    reference, layer = spec.pair()
    x = spec.input()
    if _refusal(reference, x) is not None:
        return

    def penalty_grads(module: nn.Module) -> list[torch.Tensor]:
        inp = x.clone().requires_grad_()
        out = module(inp)
        (gx,) = torch.autograd.grad(out.square().sum(), inp, create_graph=True)
        weights = [p for p in module.parameters() if p.dim() > 1]
        return list(torch.autograd.grad(gx.square().sum(), [inp, *weights]))

    for ours, theirs in zip(penalty_grads(layer), penalty_grads(reference), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_gradgradcheck_through_padding_modes(mode: str) -> None:
    """gradgradcheck holds in float64 for a strided, dilated, grouped layer in each padding mode."""
    layer = Conv2D(2, 2, (3, 2), stride=(2, 1), padding=(2, 1), dilation=(1, 2), groups=2, padding_mode=mode)
    layer = layer.double()
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    w, b = layer.weight, layer.bias
    assert b is not None

    def fn(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, {"weight": w, "bias": b}, (x,))

    assert torch.autograd.gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_parity_in_every_padding_mode(mode: str) -> None:
    """State dicts hold just weight and bias in every mode and load strictly both ways between Conv2D and nn.Conv2d."""
    config = {
        "in_channels": 4,
        "out_channels": 6,
        "kernel_size": 3,
        "padding": "same",
        "groups": 2,
        "padding_mode": mode,
    }
    reference, layer = nn.Conv2d(**config), Conv2D(**config)  # type: ignore[arg-type]
    assert list(layer.state_dict()) == list(reference.state_dict()) == ["weight", "bias"]
    layer.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(layer.state_dict(), strict=True)
    x = torch.randn(2, 4, 5, 6)
    exact = copy.deepcopy(reference).double()  # the same parameters, computed in float64
    torch.testing.assert_close(layer(x), exact(x.double()).float())
    assert layer.padding_mode == reference.padding_mode == mode


def test_circular_padding_wraps_in_nn_conv2d_order() -> None:
    """Circular padding wraps the last rows/columns to the front and the first ones to the back, as nn.Conv2d does."""
    x = torch.arange(12, dtype=torch.float64).reshape(1, 1, 3, 4)
    weight = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    weight[0, 0, 0, 0] = 1.0  # the top-left tap reads the pixel one up and one left of the centre
    layer = Conv2D(1, 1, 3, padding=1, bias=False, padding_mode="circular", weight=weight)
    expected = torch.roll(x, shifts=(1, 1), dims=(2, 3))
    assert torch.equal(layer(x), expected)


@pytest.mark.parametrize(
    ("mode", "size", "padding", "fits"),
    [
        ("reflect", (3, 5), 2, True),
        ("reflect", (3, 5), 3, False),
        ("reflect", (5, 2), (0, 2), False),
        ("circular", (3, 5), 3, True),
        ("circular", (3, 5), 4, False),
        ("replicate", (1, 1), 3, True),
    ],
)
def test_padding_limits_match_nn_conv2d(mode: str, size: tuple[int, int], padding: Any, fits: bool) -> None:
    """Reflect needs padding below the input size and circular at most the size, exactly where nn.Conv2d draws the line."""
    config = {
        "in_channels": 1,
        "out_channels": 1,
        "kernel_size": 1,
        "padding": padding,
        "padding_mode": mode,
        "dtype": torch.float64,
    }
    x = torch.randn(1, 1, *size, dtype=torch.float64)
    assert (_refusal(nn.Conv2d(**config), x) is None) == fits  # type: ignore[arg-type]
    if fits:
        assert Conv2D(**config)(x).shape == nn.Conv2d(**config)(x).shape  # type: ignore[arg-type]
    else:
        with pytest.raises(ValueError, match=rf"padding_mode='{mode}' needs each padding"):
            Conv2D(**config)(x)  # type: ignore[arg-type]


def test_repr_names_the_padding_mode() -> None:
    """repr shows a non-default padding mode, like nn.Conv2d's, and omits the default."""
    assert "padding_mode='reflect'" in repr(Conv2D(2, 2, 3, padding=1, padding_mode="reflect"))
    assert "padding_mode" not in repr(Conv2D(2, 2, 3, padding=1))
