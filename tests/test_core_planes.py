"""Independent checks of the core's single-plane ``corr2d`` and ``convolve2d``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conv2d import convolve2d, corr2d

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
    ),
]


def lab_corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """The classic lab loop, kept verbatim as the specification (float64 output for comparison)."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1), dtype=torch.float64)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y


@st.composite
def planes(draw: st.DrawFn, kernel_fits: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """A float64 image and kernel (kernel no larger than the image when ``kernel_fits``)."""
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if kernel_fits:
        H, W = draw(st.integers(h, h + 7)), draw(st.integers(w, w + 7))
    else:
        H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    return torch.randn(H, W, generator=gen, dtype=torch.float64), torch.randn(
        h, w, generator=gen, dtype=torch.float64
    )


@settings(max_examples=40, deadline=None)
@given(pair=planes())
def test_corr2d_matches_lab_loop_and_scipy(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """corr2d equals the lab's loop and scipy.signal.correlate2d(mode='valid') in float64."""
    X, K = pair
    got = corr2d(X, K)
    torch.testing.assert_close(got, lab_corr2d(X, K), rtol=1e-12, atol=1e-12)
    expected = scipy.signal.correlate2d(X.numpy(), K.numpy(), mode="valid")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(pair=planes(kernel_fits=False), mode=st.sampled_from(["valid", "full", "same"]))
def test_convolve2d_matches_scipy(pair: tuple[torch.Tensor, torch.Tensor], mode: str) -> None:
    """convolve2d equals scipy.signal.convolve2d in every mode, raising ValueError exactly where scipy does."""
    X, K = pair
    try:
        expected = scipy.signal.convolve2d(X.numpy(), K.numpy(), mode=mode)
    except ValueError:
        with pytest.raises(ValueError, match="at least as large as the other"):
            convolve2d(X, K, mode)
        return
    got = convolve2d(X, K, mode)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", [(2, 2), (4, 3), (1, 4), (2, 5)])
def test_convolve2d_same_with_even_kernels_matches_scipy(kernel: tuple[int, int]) -> None:
    """In 'same' mode with even kernel sizes the extra element is placed exactly as scipy places it."""
    X = torch.arange(42, dtype=torch.float64).reshape(6, 7)
    K = torch.arange(1, kernel[0] * kernel[1] + 1, dtype=torch.float64).reshape(kernel)
    expected = scipy.signal.convolve2d(X.numpy(), K.numpy(), mode="same")
    np.testing.assert_array_equal(convolve2d(X, K, "same").numpy(), expected)


def test_convolve2d_valid_swaps_when_kernel_is_larger() -> None:
    """In 'valid' mode a kernel larger than the image in both dimensions swaps roles, as scipy does."""
    X = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    K = torch.arange(20, dtype=torch.float64).reshape(4, 5)
    expected = scipy.signal.convolve2d(X.numpy(), K.numpy(), mode="valid")
    assert expected.shape == (3, 3)
    np.testing.assert_array_equal(convolve2d(X, K).numpy(), expected)


@settings(max_examples=40, deadline=None)
@given(pair=planes())
def test_flipped_kernel_equivalence(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """corr2d(X, K) equals convolve2d(X, K.flip(0, 1)) exactly, on float32 integer data."""
    X, K = (torch.round(4 * t).float() for t in pair)
    assert torch.equal(corr2d(X, K), convolve2d(X, K.flip(0, 1)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_dtype_and_device_are_kept(device: str, dtype: torch.dtype) -> None:
    """corr2d and convolve2d return X's dtype and device in every mode."""
    X = torch.randn(6, 5, device=device).to(dtype)
    K = torch.randn(2, 3, device=device).to(dtype)
    outputs = [corr2d(X, K)] + [convolve2d(X, K, mode) for mode in ("valid", "full", "same")]
    assert all(y.dtype == dtype and y.device == X.device for y in outputs)
    assert [tuple(y.shape) for y in outputs] == [(5, 3), (5, 3), (7, 7), (6, 5)]


def test_corr2d_gradcheck() -> None:
    """Finite differences confirm corr2d's gradients in X and K (float64)."""
    X = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    K = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(corr2d, (X, K))


@pytest.mark.parametrize("mode", ["valid", "full", "same"])
def test_convolve2d_gradcheck(mode: str) -> None:
    """Finite differences confirm convolve2d's gradients in X and K for every mode (float64)."""
    X = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    K = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: convolve2d(a, b, mode), (X, K))


def test_corr2d_reproduces_the_lab_edge_example() -> None:
    """The lab's [1, -1] kernel marks the black/white edges of the striped image with +1 and -1."""
    X = torch.ones(6, 8)
    X[:, 2:6] = 0
    Y = corr2d(X, torch.tensor([[1.0, -1.0]]))
    expected = torch.zeros(6, 7)
    expected[:, 1], expected[:, 5] = 1, -1
    assert torch.equal(Y, expected)
    assert torch.equal(corr2d(X.t(), torch.tensor([[1.0, -1.0]])), torch.zeros(8, 5))
