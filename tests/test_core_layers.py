"""Independent checks of the core's ``Conv2D`` layer in both of its modes.

nn.Conv2d computes expected values in float64 only: the host's convolution in other
dtypes is not trusted (``tests/_tripwire.py``).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from conv2d import Conv2D, corr2d

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
    ),
]


def edge_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The lab's striped image and its edge map under the [1, -1] kernel."""
    X = torch.ones(6, 8)
    X[:, 2:6] = 0
    return X, corr2d(X, torch.tensor([[1.0, -1.0]]))


def train(layer: Conv2D, X: torch.Tensor, Y: torch.Tensor, steps: int = 40, lr: float = 1e-2) -> list[float]:
    """The lab's training loop (squared error, plain gradient steps); returns the loss per step."""
    losses = []
    for _ in range(steps):
        loss = ((layer(X) - Y) ** 2).sum()
        layer.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in layer.parameters():
                assert p.grad is not None
                p.sub_(lr * p.grad)
        losses.append(loss.item())
    return losses


def test_lab_usage() -> None:
    """Conv2D(kernel_size=(3, 3)) holds a rand weight of that shape and a zero bias, mapping randn(5, 5) to (3, 3)."""
    layer = Conv2D(kernel_size=(3, 3))
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.shape == (3, 3)
    assert layer.weight.min() >= 0 and layer.weight.max() < 1
    assert layer.bias is not None and torch.equal(layer.bias.data, torch.zeros(1))
    x = torch.randn(5, 5)
    y = layer(x)
    assert y.shape == (3, 3)
    torch.testing.assert_close(y, corr2d(x, layer.weight) + layer.bias)


def test_positional_kernel_size() -> None:
    """Conv2D((1, 2)) is the same single-kernel layer as Conv2D(kernel_size=(1, 2))."""
    layer = Conv2D((1, 2))
    assert not layer.multichannel and layer.weight.shape == (1, 2)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_lab_training_learns_the_edge_kernel() -> None:
    """A few gradient steps on the lab's edge example cut the loss and recover the [1, -1] kernel."""
    torch.manual_seed(0)
    X, Y = edge_data()
    layer = Conv2D(kernel_size=(1, 2))
    losses = train(layer, X, Y)
    assert losses[-1] < 1e-2 * losses[0]
    torch.testing.assert_close(layer.weight.detach(), torch.tensor([[1.0, -1.0]]), atol=0.05, rtol=0)


def test_weight_argument_is_the_trained_parameter() -> None:
    """weight= keeps a given Parameter as is, wraps a plain tensor sharing its storage, and training updates it."""
    X, Y = edge_data()
    param = nn.Parameter(torch.tensor([[0.2, 0.3]]))
    layer = Conv2D(weight=param)
    assert layer.weight is param and layer.kernel_size == (1, 2)
    plain = torch.tensor([[0.5, 0.1]])
    other = Conv2D(kernel_size=(1, 2), weight=plain)
    train(layer, X, Y)
    train(other, X, Y)
    torch.testing.assert_close(param.detach(), torch.tensor([[1.0, -1.0]]), atol=0.05, rtol=0)
    torch.testing.assert_close(plain, torch.tensor([[1.0, -1.0]]), atol=0.05, rtol=0)


CONFIGS = [
    {"in_channels": 3, "out_channels": 8, "kernel_size": 3},
    {"in_channels": 4, "out_channels": 6, "kernel_size": (3, 2), "stride": 2, "padding": 1, "groups": 2},
    {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": "same", "groups": 4, "bias": False},
    {"in_channels": 2, "out_channels": 5, "kernel_size": (2, 4), "padding": "same", "dilation": (2, 1)},
    {"in_channels": 6, "out_channels": 3, "kernel_size": 1, "stride": (1, 2), "bias": False},
    {"in_channels": 3, "out_channels": 6, "kernel_size": 2, "padding": "valid", "dilation": 2, "groups": 3},
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_state_dict_parity_with_nn_conv2d(config: dict[str, object]) -> None:
    """An nn.Conv2d state dict loads strictly into Conv2D (and back), and both compute the same output."""
    reference = nn.Conv2d(**config)  # type: ignore[arg-type]
    layer = Conv2D(**config)  # type: ignore[arg-type]
    assert {k: v.shape for k, v in layer.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    layer.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, reference.in_channels, 9, 8)
    exact = copy.deepcopy(reference).double()  # the same parameters, computed in float64
    torch.testing.assert_close(layer(x), exact(x.double()).float())
    torch.testing.assert_close(layer(x[0]), exact(x[0].double()).float())
    Conv2D(**config).load_state_dict(layer.state_dict(), strict=True)  # type: ignore[arg-type]
    reference.load_state_dict(layer.state_dict(), strict=True)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_initialisation_is_nn_conv2d_s(config: dict[str, object]) -> None:
    """With the same seed Conv2D draws exactly nn.Conv2d's parameters (kaiming_uniform a=sqrt(5), bias bound)."""
    torch.manual_seed(123)
    reference = nn.Conv2d(**config)  # type: ignore[arg-type]
    torch.manual_seed(123)
    layer = Conv2D(**config)  # type: ignore[arg-type]
    for (name, mine), (ref_name, theirs) in zip(
        layer.named_parameters(), reference.named_parameters(), strict=True
    ):
        assert name == ref_name and torch.equal(mine, theirs)


def test_initialisation_bounds() -> None:
    """Weights and bias are uniform within ±1/sqrt(fan_in), filling that range."""
    layer = Conv2D(16, 64, 3, groups=2)
    bound = 1 / math.sqrt(8 * 3 * 3)
    assert layer.bias is not None
    for p in (layer.weight, layer.bias):
        assert p.abs().max() <= bound
        assert p.abs().max() > 0.9 * bound
    assert abs(layer.weight.mean().item()) < 0.05 * bound


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_factory_arguments(device: str, dtype: torch.dtype) -> None:
    """device= and dtype= place the parameters, in both modes."""
    for layer in (
        Conv2D(kernel_size=(2, 2), device=device, dtype=dtype),
        Conv2D(2, 3, 3, device=device, dtype=dtype),
    ):
        for p in layer.parameters():
            assert p.device.type == device and p.dtype == dtype


def test_multichannel_weight_argument() -> None:
    """A multi-channel layer built from weight= uses that tensor and infers the kernel size."""
    w = torch.randn(6, 2, 3, 2)
    layer = Conv2D(4, 6, weight=w, groups=2, padding=1)
    assert layer.kernel_size == (3, 2)
    x = torch.randn(1, 4, 5, 5)
    assert layer.bias is not None
    exact = nn.functional.conv2d(x.double(), w.double(), layer.bias.double(), padding=1, groups=2)
    torch.testing.assert_close(layer(x), exact.float())


def test_extra_repr() -> None:
    """repr shows the settings that differ from the defaults, like nn.Conv2d's."""
    assert repr(Conv2D(kernel_size=(3, 3))) == "Conv2D(kernel_size=(3, 3), bias=True)"
    layer = Conv2D(4, 6, 3, stride=2, padding=1, dilation=2, groups=2, bias=False)
    assert repr(layer) == (
        "Conv2D(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), groups=2, bias=False)"
    )
    assert "padding='same'" in repr(Conv2D(2, 2, 3, padding="same"))


def _critic(layer_type: type[nn.Module]) -> nn.Sequential:
    """A small critic of 3x3, strided, depthwise and reflect-padded convolutions, seeded identically for both types."""
    torch.manual_seed(7)
    return nn.Sequential(
        layer_type(3, 8, 3, padding=1),  # type: ignore[call-arg]
        nn.Tanh(),
        layer_type(8, 8, 3, stride=2, padding=1, groups=8, padding_mode="reflect"),  # type: ignore[call-arg]
        nn.Tanh(),
        layer_type(8, 1, (2, 3), dilation=(2, 1), padding="same", padding_mode="circular"),  # type: ignore[call-arg]
    ).double()


def test_wgan_gp_gradient_penalty_matches_nn_conv2d() -> None:
    """A WGAN-GP penalty, (||d critic / d x|| - 1)^2, trains the parameters with exactly nn.Conv2d's gradients."""
    ours, theirs = _critic(Conv2D), _critic(nn.Conv2d)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64)

    def penalty_grads(critic: nn.Module) -> list[torch.Tensor]:
        inp = x.clone().requires_grad_()
        (gx,) = torch.autograd.grad(critic(inp).sum(), inp, create_graph=True)
        penalty = ((gx.flatten(1).norm(dim=1) - 1) ** 2).mean()
        params = list(critic.parameters())
        grads = torch.autograd.grad(penalty, params, allow_unused=True)  # the last bias does not move d/dx
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]

    for mine, reference in zip(penalty_grads(ours), penalty_grads(theirs), strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)


def test_maml_inner_step_matches_nn_conv2d() -> None:
    """Differentiating through one inner gradient step (MAML) gives nn.Conv2d's meta-gradient."""
    ours, theirs = _critic(Conv2D), _critic(nn.Conv2d)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x, y = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.randn(2, 1, 4, 4, dtype=torch.float64)

    def meta_grads(model: nn.Module) -> list[torch.Tensor]:
        params: dict[str, torch.Tensor] = dict(model.named_parameters())
        inner = ((torch.func.functional_call(model, params, (x,)) - y) ** 2).mean()
        steps = torch.autograd.grad(inner, list(params.values()), create_graph=True)
        adapted = {k: p - 0.1 * s for (k, p), s in zip(params.items(), steps, strict=True)}
        outer = ((torch.func.functional_call(model, adapted, (x,)) - y) ** 2).mean()
        return list(torch.autograd.grad(outer, list(params.values())))

    for mine, reference in zip(meta_grads(ours), meta_grads(theirs), strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)
