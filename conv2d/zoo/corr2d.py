"""corr2d-kind implementations: ``corr2d(X, K)`` on 2-D tensors, buggy and correct.

The contract: ``Y[i, j] = sum_{a, b} X[i + a, j + b] * K[a, b]`` of shape
``(H - h + 1, W - w + 1)``, in X's dtype and on X's device, differentiable.
The mutants use a correct kernel (``_corr``) and wrap their bug around it,
except ``lab_corr2d``, which is the lab's original loop verbatim.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.vocabulary import Category
from conv2d.zoo._algorithms import fft_algorithm
from conv2d.zoo._common import (
    Fn,
    Witness,
    compute_dtype,
    declare,
    entry,
    im2col_algorithm,
    normalise_args,
    registrar,
)

__all__ = [
    "WITNESSES",
    "core_corr2d",
    "dtype_not_kept_corr2d",
    "fft_corr2d",
    "flipped_kernel_corr2d",
    "inplace_flip_corr2d",
    "lab_corr2d",
    "loop_corr2d",
    "off_by_one_corr2d",
    "square_kernel_corr2d",
    "transposed_kernel_corr2d",
    "unfold_corr2d",
]

#: name -> a zero-argument callable returning ``(args, kwargs)`` on which the mutant deviates.
WITNESSES, _mutant = registrar("corr2d")


def _alternative(family: str) -> Callable[[Fn], Fn]:
    """Register a correct corr2d alternative of the algorithm ``family``."""
    return entry(family=family, kind="corr2d", correct=True)


def _pair(
    x_shape: tuple[int, int], k_shape: tuple[int, int], *, dtype: torch.dtype = torch.float64, seed: int = 0
) -> Witness:
    """A witness: random normal X and K of the given shapes."""

    def witness() -> tuple[tuple[Any, ...], dict[str, Any]]:
        gen = torch.Generator().manual_seed(seed)
        x, k = (torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in (x_shape, k_shape))
        return (x, k), {}

    return witness


def _corr(X: Tensor, K: Tensor) -> Tensor:
    """The correct cross-correlation, through F.conv2d."""
    return F.conv2d(X[None, None], K[None, None])[0, 0]


# -- mutants --------------------------------------------------------------------------------------
# They share one form on purpose (@_mutant, a docstring naming the bug, a body around ``_corr``):
# each differs only by its own bug.
@_mutant(
    Category.DTYPE,
    "the corr2d of Dive into Deep Learning ('Convolutions for Images'), whose output is allocated "
    "with torch.zeros defaults.",
    _pair((6, 7), (2, 3)),
)
def lab_corr2d(X, K):
    """Returns float32 on the CPU whatever X's dtype and device (the lab's original loop, verbatim).

    Correct for float32 CPU input; any other dtype is computed into, and returned as, float32.
    """
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
    return Y


@_mutant(
    Category.OUTPUT_SIZE,
    "output-size off-by-one errors in hand-written loops (the bug class; compare the mis-stated "
    "formula in torch/nn#945).",
    _pair((6, 7), (2, 3)),
)
def off_by_one_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """Returns (H - h, W - w) outputs, dropping the last row and column."""
    return _corr(X, K)[:-1, :-1]


@_mutant(
    Category.KERNEL_ORIENTATION,
    "the convolution/cross-correlation confusion (true convolution flips the kernel; deep-learning "
    "'convolution' does not), e.g. a corr2d built on scipy.signal.convolve2d.",
    _pair((6, 7), (2, 3)),
)
def flipped_kernel_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """Computes a true convolution (kernel rotated 180 degrees); wrong unless K is point-symmetric."""
    return _corr(X, K.flip(0, 1))


@_mutant(
    Category.KERNEL_ORIENTATION,
    "row/column index mix-ups in kernels (mlpack/mlpack#3376: rotating an MxN kernel into an NxM matrix).",
    _pair((6, 7), (3, 3)),
)
def transposed_kernel_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """Indexes the kernel as K[b, a]; wrong unless K is symmetric (and of the wrong shape if not square)."""
    return _corr(X, K.T)


@_mutant(
    Category.PER_AXIS,
    "square-kernel assumptions in hand-written convolutions (mlpack/mlpack#3376: simple networks failed "
    "for non-square kernels).",
    _pair((6, 7), (2, 3)),
)
def square_kernel_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """Uses the kernel height for both axes: an h x h window, the kernel cropped or zero-padded to h x h."""
    h, w = K.shape
    square = F.pad(K, (0, max(0, h - w)))[:, :h]
    return _corr(X, square)


@_mutant(
    Category.DTYPE,
    "output buffers allocated with the default dtype (the bug class of the lab's loop), here keeping "
    "the device but not the dtype.",
    _pair((6, 7), (2, 3)),
)
def dtype_not_kept_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """Returns the default dtype (float32) whatever X's dtype; correct for float32."""
    return _corr(X, K).to(torch.get_default_dtype())


@_mutant(
    Category.INPUT_MUTATION,
    "operators that write into their arguments (hpi-xnor/BMXNet#30); here the kernel is flipped in "
    "place to reuse a true-convolution routine, and never flipped back.",
    _pair((6, 7), (2, 3)),
)
def inplace_flip_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """Correct values, but leaves the caller's K rotated by 180 degrees."""
    with torch.no_grad():
        K.copy_(K.flip(0, 1))
    return _corr(X, K.flip(0, 1))


# -- correct alternatives -------------------------------------------------------------------------
@_alternative("core")
def core_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """The project's own core, ``conv2d.functional.corr2d``, called through a thin wrapper."""
    from conv2d.functional import corr2d as core

    return core(X, K)


@_alternative("direct-loop")
def loop_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """The lab's loop done right: products summed in float32 or wider, result in X's dtype and on X's device."""
    h, w = K.shape
    dtype = compute_dtype(X.dtype)
    x, k = X.to(dtype), K.to(dtype)
    rows = [
        torch.stack([(x[i : i + h, j : j + w] * k).sum() for j in range(X.shape[1] - w + 1)])
        for i in range(X.shape[0] - h + 1)
    ]
    return torch.stack(rows).to(X.dtype)


def _via_conv2d(algorithm: Callable[..., Tensor], X: Tensor, K: Tensor) -> Tensor:
    """Run a conv2d alternative's algorithm on X, K viewed as one-channel images."""
    dtype = compute_dtype(X.dtype)
    x, geo = normalise_args(X[None, None].to(dtype), K[None, None].to(dtype), None, 1, 0, 1, 1)
    return algorithm(x, K[None, None].to(dtype), geo)[0, 0].to(X.dtype)


@_alternative("fft")
@declare(ieee=False)  # the transform spreads a NaN or an infinity over the whole image
def fft_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """FFT cross-correlation (rfft2, spectral product with the conjugate kernel, irfft2, crop)."""
    return _via_conv2d(fft_algorithm, X, K)


@_alternative("im2col")
def unfold_corr2d(X: Tensor, K: Tensor) -> Tensor:
    """F.unfold of all h x w windows and one matrix-vector product."""
    return _via_conv2d(im2col_algorithm, X, K)
