"""The library adapters translate faithfully, so the conformance table blames libraries, not adapters.

Each adapter whose library is installed is compared, in float64, with the core on calls
that exercise its translation: stride, padding forms, dilation, groups and bias for the
conv2d, conv1d and conv3d adapters, output_padding and the transposed weight for the
conv_transpose2d ones, the valid crop for the corr2d ones. Libraries that are not installed
skip (the project's own environment has scipy; ``benchmarks/libraries.py`` installs the
rest into a separate one).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest
import torch

from benchmarks import library_adapters as adapters
from conv2d import conv2d, corr2d
from conv2d.family import conv1d, conv3d, conv_transpose2d

_CONV_CALLS = [
    {"stride": (2, 1), "padding": 1, "dilation": (1, 2), "groups": 2},
    {"stride": 1, "padding": "same", "dilation": 1, "groups": 1},
    {"stride": 2, "padding": "valid", "dilation": 2, "groups": 2},
]


def _needs(module: str) -> Any:
    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"{module} is not installed")


@pytest.mark.parametrize(
    "adapter",
    [
        pytest.param(adapters.jax_conv2d, marks=_needs("jax"), id="jax"),
        pytest.param(adapters.onnxruntime_conv2d, marks=_needs("onnxruntime"), id="onnxruntime"),
        pytest.param(adapters.torch_without_onednn, id="torch-oneDNN-off"),
        pytest.param(adapters.torch_channels_last, id="torch-channels-last"),
    ],
)
@pytest.mark.parametrize("params", _CONV_CALLS, ids=["strided", "same", "valid"])
def test_conv2d_adapters_match_the_core(adapter: Callable[..., torch.Tensor], params: dict[str, Any]) -> None:
    """Each conv2d adapter's output equals the core's on a grouped, biased call (float32 for ONNX Runtime)."""
    dtype = torch.float32 if adapter is adapters.onnxruntime_conv2d else torch.float64
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 9, 8, generator=generator, dtype=torch.float64)
    w = torch.randn(6, 4 // params["groups"], 3, 2, generator=generator, dtype=torch.float64)
    b = torch.randn(6, generator=generator, dtype=torch.float64)
    if adapter is adapters.onnxruntime_conv2d and params["padding"] == "same":
        params = {
            **params,
            "dilation": 1,
        }  # ONNX Runtime refuses dilation with SAME_UPPER: the table shows it
    if adapter is adapters.jax_conv2d:
        b = None  # lax's convolution takes no bias; the adapter declares none
    out = adapter(x.to(dtype), w.to(dtype), None if b is None else b.to(dtype), **params)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), conv2d(x, w, b, **params), rtol=1e-5, atol=1e-5)


_RANKED = {1: conv1d, 2: conv2d, 3: conv3d}


@pytest.mark.parametrize(
    ("adapter", "rank"),
    [
        pytest.param(adapters.jax_conv1d, 1, marks=_needs("jax"), id="jax-1d"),
        pytest.param(adapters.jax_conv3d, 3, marks=_needs("jax"), id="jax-3d"),
        pytest.param(adapters.onnxruntime_conv1d, 1, marks=_needs("onnxruntime"), id="onnxruntime-1d"),
        pytest.param(adapters.onnxruntime_conv3d, 3, marks=_needs("onnxruntime"), id="onnxruntime-3d"),
        pytest.param(adapters.tinygrad_conv2d, 1, marks=_needs("tinygrad"), id="tinygrad-1d"),
        pytest.param(adapters.tinygrad_conv2d, 2, marks=_needs("tinygrad"), id="tinygrad-2d"),
        pytest.param(adapters.tinygrad_conv2d, 3, marks=_needs("tinygrad"), id="tinygrad-3d"),
    ],
)
@pytest.mark.parametrize("strided", [False, True], ids=["unit-stride", "strided"])
def test_ranked_adapters_match_the_core(
    adapter: Callable[..., torch.Tensor], rank: int, strided: bool
) -> None:
    """The conv1d/conv3d (and tinygrad's conv2d) adapters equal the core's on a grouped, dilated, padded call."""
    dtype = torch.float64 if adapter in (adapters.jax_conv1d, adapters.jax_conv3d) else torch.float32
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, *(7, 8, 6)[:rank], generator=generator, dtype=torch.float64)
    w = torch.randn(6, 2, *(3, 2, 2)[:rank], generator=generator, dtype=torch.float64)
    b = None if adapter in (adapters.jax_conv1d, adapters.jax_conv3d) else torch.randn(6, generator=generator)
    params: dict[str, Any] = {
        "stride": 2 if strided else 1,
        "padding": 1,
        "dilation": (2, 1, 1)[:rank],
        "groups": 2,
    }
    if rank == 1:
        params["dilation"] = 2
    b = None if b is None else b.double()
    out = adapter(x.to(dtype), w.to(dtype), None if b is None else b.to(dtype), **params)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), _RANKED[rank](x, w, b, **params), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "adapter",
    [
        pytest.param(adapters.jax_conv_transpose2d, marks=_needs("jax"), id="jax"),
        pytest.param(adapters.onnxruntime_conv_transpose2d, marks=_needs("onnxruntime"), id="onnxruntime"),
        pytest.param(adapters.tinygrad_conv_transpose2d, marks=_needs("tinygrad"), id="tinygrad"),
    ],
)
@pytest.mark.parametrize(
    "params",
    [
        {"stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2), "groups": 2, "dilation": 1},
        {"stride": (2, 1), "padding": 2, "output_padding": (1, 0), "groups": 1, "dilation": (2, 3)},
        {"stride": 2, "padding": 3, "output_padding": 0, "groups": 2, "dilation": 1},
        {"stride": 1, "padding": 1, "output_padding": (1, 0), "groups": 1, "dilation": (2, 1)},
    ],
    ids=["output-padding", "dilated", "padding-past-kernel", "output-padding-below-dilation"],
)
def test_transposed_adapters_match_the_core(
    adapter: Callable[..., torch.Tensor], params: dict[str, Any]
) -> None:
    """Each conv_transpose2d adapter equals the core's: the weight's axes, output_padding's side, groups."""
    dtype = torch.float64 if adapter is adapters.jax_conv_transpose2d else torch.float32
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 5, 4, generator=generator, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 2, generator=generator, dtype=torch.float64)  # (C_in, C_out / groups, kH, kW)
    b = (
        None
        if adapter is adapters.jax_conv_transpose2d
        else torch.randn(3 * params["groups"], generator=generator)
    )
    b = None if b is None else b.double()
    args = (x.to(dtype), w.to(dtype), None if b is None else b.to(dtype))
    if adapter is adapters.onnxruntime_conv_transpose2d and params["stride"] == 1:
        # F.conv_transpose2d takes output_padding < max(stride, dilation); ONNX Runtime wants it
        # below the stride: a refusal the conformance table shows, not the adapter's.
        with pytest.raises(Exception, match="output_padding"):
            adapter(*args, **params)
        return
    out = adapter(*args, **params)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), conv_transpose2d(x, w, b, **params), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "adapter",
    [
        pytest.param(adapters.opencv_filter2d, marks=_needs("cv2"), id="opencv"),
        pytest.param(adapters.scipy_correlate2d, marks=_needs("scipy"), id="scipy.signal"),
        pytest.param(adapters.scipy_ndimage_correlate, marks=_needs("scipy"), id="scipy.ndimage"),
    ],
)
@pytest.mark.parametrize("kernel", [(1, 1), (4, 3), (3, 4), (9, 7)])
def test_corr2d_adapters_crop_the_valid_part(
    adapter: Callable[..., torch.Tensor], kernel: tuple[int, int]
) -> None:
    """Each corr2d adapter equals the core's corr2d, even and odd kernels, up to the whole image."""
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(9, 7, generator=generator, dtype=torch.float64)
    K = torch.randn(*kernel, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(adapter(X, K), corr2d(X, K))


def test_every_adapter_is_listed_with_its_kind() -> None:
    """ADAPTERS names a loadable target of the right kind for each library."""
    for target, kind, _ in adapters.ADAPTERS.values():
        module, _, name = target.partition(":")
        assert kind in ("conv2d", "corr2d", "conv_transpose2d", "conv1d", "conv3d") and name
        if module == adapters.__name__:
            assert callable(getattr(adapters, name))
