"""Bad arguments to the core raise ValueError/TypeError naming the argument, the value and the fix."""

# The cases pass wrongly typed arguments on purpose.
# mypy: disable-error-code="arg-type"

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from conv2d import Conv2D, conv2d, convolve2d, corr2d


def x4(c: int = 4, size: int = 6) -> torch.Tensor:
    return torch.randn(1, c, size, size)


def w4(o: int = 4, c: int = 4, k: int = 3) -> torch.Tensor:
    return torch.randn(o, c, k, k)


CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    # conv2d: ranks and kinds of tensors
    ("input-2d", lambda: conv2d(torch.randn(5, 5), w4()), ValueError,
     r"conv2d: input must be 3-D \(C, H, W\) or 4-D \(N, C, H, W\), got a 2-D tensor of shape \(5, 5\); .*input\[None, None\]"),
    ("input-5d", lambda: conv2d(torch.randn(1, 1, 4, 6, 6), w4()), ValueError, r"input must be 3-D .* got a 5-D tensor of shape \(1, 1, 4, 6, 6\)"),
    ("weight-3d", lambda: conv2d(x4(), torch.randn(4, 3, 3)), ValueError, r"weight must be 4-D .* got a 3-D tensor of shape \(4, 3, 3\)"),
    ("weight-2d", lambda: conv2d(x4(), torch.randn(3, 3)), ValueError, r"weight must be 4-D .* shape \(3, 3\).*weight\[None, None\]"),
    ("input-list", lambda: conv2d([[1.0]], w4()), TypeError, r"input must be a torch.Tensor, got list"),
    ("bias-list", lambda: conv2d(x4(), w4(), [0.0] * 4), TypeError, r"bias must be a torch.Tensor, got list"),
    ("input-int", lambda: conv2d(torch.ones(1, 4, 6, 6, dtype=torch.int64), w4()), TypeError,
     r"input must have a floating-point dtype .* got torch.int64; convert it with input.float\(\)"),
    ("weight-bool", lambda: conv2d(x4(), torch.ones(4, 4, 3, 3, dtype=torch.bool)), TypeError, r"weight must have a floating-point dtype .* got torch.bool"),
    ("input-sparse", lambda: conv2d(x4().to_sparse(), w4()), TypeError, r"input must be a dense \(strided\) tensor, got layout torch.sparse_coo"),
    # conv2d: shapes
    ("kernel-larger", lambda: conv2d(torch.randn(1, 1, 3, 3), torch.randn(1, 1, 5, 5)), ValueError,
     r"kernel of size \(5, 5\) .* spans \(5, 5\), larger than the padded input \(3, 3\)"),
    ("dilated-kernel-larger", lambda: conv2d(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 3, 3), dilation=3), ValueError,
     r"dilation=\(3, 3\) spans \(7, 7\), larger than the padded input \(5, 5\)"),
    ("in-channels-groups", lambda: conv2d(x4(5), w4(4, 2), groups=2), ValueError, r"in_channels=5 \(input.shape\[-3\]\) is not divisible by groups=2"),
    ("out-channels-groups", lambda: conv2d(x4(4), w4(5, 2), groups=2), ValueError, r"out_channels=5 \(weight.shape\[0\]\) is not divisible by groups=2"),
    ("channel-mismatch", lambda: conv2d(x4(4), w4(2, 3)), ValueError,
     r"weight.shape\[1\]=3 does not match input channels 4 / groups=1; expected weight of shape \(2, 4, 3, 3\)"),
    ("bias-shape", lambda: conv2d(x4(), w4(2), torch.zeros(3)), ValueError, r"bias must be 1-D with out_channels=2 elements, got a 1-D tensor of shape \(3,\)"),
    ("bias-2d", lambda: conv2d(x4(), w4(2), torch.zeros(1, 2)), ValueError, r"bias must be 1-D .* shape \(1, 2\)"),
    ("no-out-channels", lambda: conv2d(x4(), torch.randn(0, 4, 3, 3)), ValueError, r"weight must have out_channels >= 1 .* shape \(0, 4, 3, 3\)"),
    ("no-in-channels", lambda: conv2d(torch.randn(1, 0, 5, 5), torch.randn(2, 0, 3, 3)), ValueError, r"input must have at least one channel"),
    ("empty-image", lambda: conv2d(torch.randn(1, 3, 0, 5), torch.randn(2, 3, 1, 1), padding=1), ValueError,
     r"input must have at least one channel and a non-empty image, got a 4-D tensor of shape \(1, 3, 0, 5\)"),
    # conv2d: dtype and device agreement
    ("weight-dtype", lambda: conv2d(x4(), w4().double()), TypeError,
     r"weight has dtype torch.float64 but input has dtype torch.float32; .*weight.to\(input.dtype\)"),
    ("bias-dtype", lambda: conv2d(x4(), w4(), torch.zeros(4, dtype=torch.float16)), TypeError, r"bias has dtype torch.float16 but input has dtype torch.float32"),
    ("weight-device", lambda: conv2d(x4(), w4().to("meta")), ValueError, r"weight is on device meta but input is on device cpu"),
    ("bias-device", lambda: conv2d(x4(), w4(), torch.zeros(4, device="meta")), ValueError, r"bias is on device meta but input is on device cpu"),
    # conv2d: stride, padding, dilation, groups
    ("stride-zero", lambda: conv2d(x4(), w4(), stride=0), ValueError, r"stride must be >= 1, got 0"),
    ("stride-pair-zero", lambda: conv2d(x4(), w4(), stride=(2, 0)), ValueError, r"stride values must be >= 1, got \(2, 0\)"),
    ("dilation-zero", lambda: conv2d(x4(), w4(), dilation=(1, 0)), ValueError, r"dilation values must be >= 1, got \(1, 0\)"),
    ("padding-negative", lambda: conv2d(x4(), w4(), padding=-1), ValueError, r"padding must be >= 0, got -1"),
    ("padding-pair-negative", lambda: conv2d(x4(), w4(), padding=(0, -2)), ValueError, r"padding values must be >= 0, got \(0, -2\)"),
    ("stride-triple", lambda: conv2d(x4(), w4(), stride=(1, 1, 1)), ValueError, r"stride must be an int or a pair .* got 3 values: \(1, 1, 1\)"),
    ("padding-single", lambda: conv2d(x4(), w4(), padding=[1]), ValueError, r"padding must be an int or a pair .* got 1 values: \[1\]"),
    ("padding-unknown", lambda: conv2d(x4(), w4(), padding="full"), ValueError, r"padding='full' is not supported; expected an int, a pair, 'same' or 'valid'"),
    ("same-strided", lambda: conv2d(x4(), w4(), stride=2, padding="same"), ValueError, r"padding='same' requires stride 1, got stride=\(2, 2\)"),
    ("groups-zero", lambda: conv2d(x4(), w4(), groups=0), ValueError, r"groups must be an int >= 1, got 0"),
    ("groups-bool", lambda: conv2d(x4(), w4(), groups=True), TypeError, r"groups must be an int >= 1, got True \(bool\)"),
    ("groups-float", lambda: conv2d(x4(), w4(), groups=2.0), TypeError, r"groups must be an int >= 1, got 2.0 \(float\)"),
    ("stride-float", lambda: conv2d(x4(), w4(), stride=1.5), TypeError, r"stride must be an int or a pair .* got 1.5 \(float\)"),
    ("stride-bool", lambda: conv2d(x4(), w4(), stride=True), TypeError, r"stride must be an int or a pair .* got True \(bool\)"),
    ("dilation-pair-bool", lambda: conv2d(x4(), w4(), dilation=(1, True)), TypeError, r"dilation must be .* got \(1, True\) \(contains True of type bool\)"),
    ("padding-float", lambda: conv2d(x4(), w4(), padding=1.0), TypeError, r"padding must be an int or a pair .* got 1.0 \(float\)"),
    ("padding-none", lambda: conv2d(x4(), w4(), padding=None), TypeError, r"padding must be an int or a pair .* got None \(NoneType\)"),
    # corr2d and convolve2d
    ("corr2d-X-3d", lambda: corr2d(torch.randn(1, 5, 5), torch.randn(2, 2)), ValueError,
     r"corr2d: X must be 2-D \(height, width\), got a 3-D tensor of shape \(1, 5, 5\); use conv2d"),
    ("corr2d-K-1d", lambda: corr2d(torch.randn(5, 5), torch.randn(3)), ValueError, r"corr2d: K must be 2-D .* got a 1-D tensor of shape \(3,\)"),
    ("corr2d-K-larger", lambda: corr2d(torch.randn(3, 5), torch.randn(4, 4)), ValueError,
     r"corr2d: kernel K of shape \(4, 4\) is larger than X of shape \(3, 5\)"),
    ("corr2d-X-int", lambda: corr2d(torch.ones(3, 3, dtype=torch.int64), torch.randn(2, 2)), TypeError, r"corr2d: X must have a floating-point dtype .* torch.int64"),
    ("corr2d-dtype", lambda: corr2d(torch.randn(3, 3), torch.randn(2, 2).double()), TypeError, r"corr2d: K has dtype torch.float64 but X has dtype torch.float32"),
    ("corr2d-device", lambda: corr2d(torch.randn(3, 3), torch.randn(2, 2, device="meta")), ValueError, r"corr2d: K is on device meta but X is on device cpu"),
    ("corr2d-K-empty", lambda: corr2d(torch.randn(3, 3), torch.randn(0, 2)), ValueError, r"corr2d: K must not be empty, got a 2-D tensor of shape \(0, 2\)"),
    ("corr2d-X-tuple", lambda: corr2d((1.0, 2.0), torch.randn(1, 1)), TypeError, r"corr2d: X must be a torch.Tensor, got tuple"),
    ("convolve2d-mode", lambda: convolve2d(torch.randn(3, 3), torch.randn(2, 2), "bogus"), ValueError,
     r"convolve2d: mode='bogus' is not supported; expected 'valid', 'full' or 'same'"),
    ("convolve2d-valid-mixed", lambda: convolve2d(torch.randn(2, 5), torch.randn(3, 3)), ValueError,
     r"in 'valid' mode one input must be at least as large as the other .* X of shape \(2, 5\) and K of shape \(3, 3\)"),
    ("convolve2d-K-3d", lambda: convolve2d(torch.randn(5, 5), torch.randn(1, 2, 2), "same"), ValueError, r"convolve2d: K must be 2-D .* shape \(1, 2, 2\)"),
    # Conv2D
    ("layer-in-only", lambda: Conv2D(3), ValueError, r"Conv2D: got in_channels=3 and out_channels=None; pass both"),
    ("layer-seed-stride", lambda: Conv2D(kernel_size=3, stride=2), ValueError, r"Conv2D: stride=2 needs the multi-channel layer"),
    ("layer-seed-padding", lambda: Conv2D(kernel_size=(2, 2), padding="same"), ValueError, r"Conv2D: padding='same' needs the multi-channel layer"),
    ("layer-nothing", lambda: Conv2D(), ValueError, r"Conv2D: give kernel_size"),
    ("layer-no-kernel", lambda: Conv2D(3, 8), ValueError, r"Conv2D: kernel_size is required with in_channels and out_channels"),
    ("layer-mode-unknown", lambda: Conv2D(2, 4, 3, padding_mode="bogus"), ValueError,
     r"Conv2D: padding_mode='bogus' is unknown; expected one of 'zeros', 'reflect', 'replicate', 'circular'"),
    ("layer-mode-none", lambda: Conv2D(2, 4, 3, padding_mode=None), ValueError, r"Conv2D: padding_mode=None is unknown"),
    ("layer-reflect-too-small", lambda: Conv2D(2, 4, 3, padding=3, padding_mode="reflect")(torch.randn(1, 2, 3, 8)), ValueError,
     r"Conv2D: padding_mode='reflect' needs each padding smaller than the input side it pads, got top padding 3 for an input of height 3 .*use less padding"),
    ("layer-reflect-same", lambda: Conv2D(2, 4, 5, padding="same", padding_mode="reflect")(torch.randn(2, 6, 2)), ValueError,
     r"padding_mode='reflect' needs each padding .* got left padding 2 for an input of width 2 \(a 3-D tensor of shape \(2, 6, 2\)\)"),
    ("layer-circular-too-small", lambda: Conv2D(2, 4, 3, padding=(0, 4), padding_mode="circular")(torch.randn(1, 2, 5, 3)), ValueError,
     r"Conv2D: padding_mode='circular' needs each padding at most the input side it pads, got left padding 4 for an input of width 3"),
    ("layer-replicate-kernel-larger", lambda: Conv2D(1, 1, 5, padding=1, padding_mode="replicate")(torch.randn(1, 1, 2, 2)), ValueError,
     r"Conv2D: the kernel of size \(5, 5\) .* spans \(5, 5\), larger than the padded input \(4, 4\) \(input \(2, 2\) plus padding \(1, 1, 1, 1\)"),
    ("layer-reflect-empty-image", lambda: Conv2D(2, 2, 1, padding=1, padding_mode="reflect")(torch.randn(1, 2, 0, 3)), ValueError,
     r"Conv2D: input must have at least one channel and a non-empty image"),
    ("layer-reflect-input-2d", lambda: Conv2D(2, 2, 3, padding=1, padding_mode="reflect")(torch.randn(5, 5)), ValueError,
     r"conv2d: input must be 3-D \(C, H, W\) or 4-D"),
    ("layer-reflect-input-int", lambda: Conv2D(2, 2, 3, padding=1, padding_mode="circular")(torch.ones(1, 2, 5, 5, dtype=torch.int64)), TypeError,
     r"conv2d: input must have a floating-point dtype"),
    ("layer-seed-reflect", lambda: Conv2D(kernel_size=3, padding_mode="circular"), ValueError, r"padding_mode='circular' needs the multi-channel layer"),
    ("layer-groups", lambda: Conv2D(4, 6, 3, groups=4), ValueError, r"Conv2D: out_channels=6 is not divisible by groups=4"),
    ("layer-same-strided", lambda: Conv2D(2, 2, 3, stride=2, padding="same"), ValueError, r"padding='same' requires stride 1, got stride=\(2, 2\)"),
    ("layer-kernel-mismatch", lambda: Conv2D(kernel_size=(3, 3), weight=torch.rand(2, 2)), ValueError,
     r"Conv2D: kernel_size=\(3, 3\) disagrees with weight's kernel size \(2, 2\)"),
    ("layer-weight-3d", lambda: Conv2D(weight=torch.rand(1, 2, 3)), ValueError, r"Conv2D: weight must be a non-empty 2-D kernel \(h, w\), got a 3-D tensor"),
    ("layer-weight-shape", lambda: Conv2D(4, 6, weight=torch.rand(6, 4, 3, 3), groups=2), ValueError, r"weight must have shape \(6, 2, kH, kW\) .* got a 4-D tensor of shape \(6, 4, 3, 3\)"),
    ("layer-bias-int", lambda: Conv2D(kernel_size=(3, 3), bias=1), TypeError, r"Conv2D: bias must be True or False, got 1 \(int\)"),
    ("layer-in-bool", lambda: Conv2D(True, 2, 3), TypeError, r"Conv2D: in_channels must be an int >= 1, got True \(bool\)"),
    ("layer-kernel-zero", lambda: Conv2D(kernel_size=(3, 0)), ValueError, r"Conv2D: kernel_size values must be >= 1, got \(3, 0\)"),
    ("layer-dtype-mismatch", lambda: Conv2D(weight=torch.rand(2, 2), dtype=torch.float64), ValueError, r"dtype=torch.float64 disagrees with weight's dtype torch.float32"),
    ("layer-forward-channels", lambda: Conv2D(2, 4, 3)(torch.randn(3, 5, 5)), ValueError, r"conv2d: weight.shape\[1\]=2 does not match input channels 3"),
    ("layer-seed-forward-3d", lambda: Conv2D((3, 3))(torch.randn(1, 5, 5)), ValueError, r"corr2d: X must be 2-D .* shape \(1, 5, 5\)"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_raise_clear_errors(
    call: Callable[[], object], error: type[Exception], pattern: str
) -> None:
    """Each bad argument raises the stated error type (never RuntimeError) naming the argument and the value."""
    with pytest.raises(error, match=pattern) as info:
        call()
    assert type(info.value) is error
