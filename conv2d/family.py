"""The core's conv family beside ``conv2d``: ``conv_transpose2d``, ``conv1d`` and ``conv3d``.

Each is built from the 2-D core and nothing else, so each inherits its strategies,
its dtype handling (float16/bfloat16 computed in float32, rounded once) and its
differentiability to any order:

* **conv_transpose2d** is the adjoint of conv2d in its input: for ``x`` of the
  transposed convolution's output size, ``<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>``.
  It is computed as exactly that, the input gradient of the core's conv2d (the
  strategies' own adjoint ``D_x``), taken with a graph when ``y`` or ``w`` needs
  gradients, so that its derivatives are convolutions again. A weight holding an
  infinity or NaN takes the zero-insertion form instead (a stride-1 conv2d of the
  zero-inserted input with the flipped kernel), so that it spreads only within its group.
* **conv1d** is conv2d on images one row high, with a ``1 x k`` kernel.
* **conv3d** is a sum over the kernel's depth taps of 2-D convolutions: tap ``t``
  convolves the input slices ``d * stride + t * dilation`` (depth folded into the
  batch) with the kernel slice ``t``. The bias is added once, after the sum.

None of torch's convolution operators is called.
"""

from __future__ import annotations

import torch

from conv2d._core.dispatch import LOW_PRECISION, conv2d_nchw
from conv2d._validation import Pair, as_int, as_tuple, describe, require_floating_tensor, require_match

__all__ = ["conv1d", "conv3d", "conv_transpose2d", "transposed_output_size"]


def transposed_output_size(
    size: int, kernel: int, stride: int, padding: int, output_padding: int, dilation: int
) -> int:
    """``(size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``, per axis."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _pair(values: tuple[int, ...]) -> Pair:
    return (values[0], values[1])


def _tensors(
    fn: str, input: object, weight: object, bias: object, spatial: int, weight_axes: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The tensor arguments of an ``spatial``-D convolution, checked for kind, rank, dtype and device."""
    input = require_floating_tensor(fn, "input", input)
    weight = require_floating_tensor(fn, "weight", weight)
    if input.dim() not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"{fn}: input must be {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched), got {describe(input)}"
        )
    if weight.dim() != spatial + 2:
        raise ValueError(f"{fn}: weight must be {spatial + 2}-D {weight_axes}, got {describe(weight)}")
    require_match(fn, "weight", weight, "input", input)
    if bias is not None:
        bias = require_floating_tensor(fn, "bias", bias)
        require_match(fn, "bias", bias, "input", input)
    if weight.numel() == 0 or input.shape[-spatial - 1] == 0 or 0 in input.shape[-spatial:]:
        raise ValueError(
            f"{fn}: input must have channels and a non-empty image, and weight a non-empty kernel; "
            f"got input {describe(input)} and weight {describe(weight)}"
        )
    return input, weight, bias


def _channels(
    fn: str, in_channels: int, weight: torch.Tensor, bias: torch.Tensor | None, groups: int, out: int
) -> None:
    """Channel counts that fit ``groups``, and a bias of one value per output channel."""
    if in_channels % groups or out % groups:
        raise ValueError(
            f"{fn}: in_channels={in_channels} and out_channels={out} must both be divisible by groups={groups}; "
            f"use a groups value that divides both channel counts"
        )
    if bias is not None and tuple(bias.shape) != (out,):
        raise ValueError(f"{fn}: bias must be 1-D with out_channels={out} elements, got {describe(bias)}")


def conv_transpose2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> torch.Tensor:
    """Transposed 2-D convolution with the contract of ``torch.nn.functional.conv_transpose2d``.

    Args:
        input: ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``.
        weight: ``(C_in, C_out / groups, kH, kW)``: conv2d's weight for the map it transposes.
        bias: ``(C_out,)`` or ``None``.
        stride, padding, dilation: an int or a pair; stride and dilation ``>= 1``, padding ``>= 0``.
        output_padding: an int or a pair ``>= 0``, each smaller than the stride or the
            dilation of its axis; it adds that many rows (columns) at the bottom (right).
        groups: an int ``>= 1`` dividing ``C_in`` and ``C_out``.

    Returns:
        ``(N, C_out, H_out, W_out)`` with ``H_out = (H - 1) * stride - 2 * padding +
        dilation * (kH - 1) + output_padding + 1``, the dtype, device and memory format of
        ``input``. Differentiable in ``input``, ``weight`` and ``bias`` to any order.
    """
    fn = "conv_transpose2d"
    input, weight, bias = _tensors(fn, input, weight, bias, 2, "(in_channels, out_channels / groups, kH, kW)")
    stride_ = as_tuple(fn, "stride", stride, 1, 2)
    padding_ = as_tuple(fn, "padding", padding, 0, 2)
    extra = as_tuple(fn, "output_padding", output_padding, 0, 2)
    dilation_ = as_tuple(fn, "dilation", dilation, 1, 2)
    groups_ = as_int(fn, "groups", groups, minimum=1)
    c_in = input.shape[-3]
    if weight.shape[0] != c_in:
        raise ValueError(
            f"{fn}: weight.shape[0]={weight.shape[0]} must equal the input channels {c_in}; "
            f"the transposed weight is (in_channels, out_channels / groups, kH, kW)"
        )
    _channels(fn, c_in, weight, bias, groups_, weight.shape[1] * groups_)
    size = _transposed_size(
        fn, tuple(input.shape[-2:]), tuple(weight.shape[2:]), stride_, padding_, extra, dilation_
    )
    if input.dim() == 3:
        return _transposed(input[None], weight, bias, stride_, padding_, dilation_, groups_, size)[0]
    return _transposed(input, weight, bias, stride_, padding_, dilation_, groups_, size)


def _transposed_size(
    fn: str,
    image: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    extra: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    """The output size of a transposed convolution, refusing an output_padding or a size torch refuses."""
    for axis, (op, s, d) in enumerate(zip(extra, stride, dilation, strict=True)):
        if op >= s and op >= d:
            raise ValueError(
                f"{fn}: output_padding={extra} must be smaller than either stride={stride} or "
                f"dilation={dilation} in each axis (axis {axis} has {op}); use a smaller output_padding"
            )
    size = tuple(
        transposed_output_size(n, k, s, p, op, d)
        for n, k, s, p, op, d in zip(image, kernel, stride, padding, extra, dilation, strict=True)
    )
    if min(size) < 1:
        raise ValueError(
            f"{fn}: the output size {size} is not positive (input {image}, kernel {kernel}, stride={stride}, "
            f"padding={padding}, output_padding={extra}, dilation={dilation}); use less padding"
        )
    return size


def _transposed(
    y: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    size: tuple[int, ...],
) -> torch.Tensor:
    """The input gradient of the core's conv2d of an ``size`` image, at output gradient ``y``."""
    channels_last = (
        y.dim() == 4 and not y.is_contiguous() and y.is_contiguous(memory_format=torch.channels_last)
    )
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    wide = torch.float32 if y.dtype in LOW_PRECISION else y.dtype
    if not bool(torch.isfinite(weight).all()):
        # the strategies' adjoints multiply their grids' zero padding by every tap, and an infinite
        # tap times zero is NaN in cells no product reaches: zero insertion keeps it in its group
        out = _zero_inserted(
            y.to(wide), weight.to(wide), stride, padding, dilation, groups, size, channels_last
        )
        if bias is not None:
            out = out + bias.to(wide).view(1, -1, 1, 1)
        return out.to(y.dtype).contiguous(memory_format=fmt)
    n, c_out = y.shape[0], weight.shape[1] * groups
    x = torch.zeros((n, c_out, *size), dtype=wide, device=y.device).contiguous(memory_format=fmt)
    x.requires_grad_(True)
    pads = (padding[0], padding[0], padding[1], padding[1])
    graph = torch.is_grad_enabled() and (y.requires_grad or weight.requires_grad)
    with torch.enable_grad():
        out = conv2d_nchw(
            x, weight.to(wide), None, _pair(stride), pads, _pair(dilation), groups, channels_last
        )
        # an output_padding as large as the stride reaches one more conv2d output row: y does not cover it
        grad = torch.nn.functional.pad(
            y.to(wide), (0, out.shape[3] - y.shape[3], 0, out.shape[2] - y.shape[2])
        )
        (result,) = torch.autograd.grad(out, x, grad.contiguous(memory_format=fmt), create_graph=graph)
    if bias is not None:
        result = result + bias.to(wide).view(1, -1, 1, 1)
    return result.to(y.dtype).contiguous(memory_format=fmt)


def _zero_inserted(
    y: torch.Tensor,
    weight: torch.Tensor,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    size: tuple[int, ...],
    channels_last: bool,
) -> torch.Tensor:
    """The transposed convolution as the stride-1 conv2d of the zero-inserted input with the flipped,
    channel-transposed kernel (padding ``d * (k - 1) - p`` per side, a crop where negative)."""
    (sh, sw), (kh, kw) = _pair(stride), (weight.shape[2], weight.shape[3])
    h, w = y.shape[2], y.shape[3]
    inserted = y.new_zeros(y.shape[0], y.shape[1], (h - 1) * sh + 1, (w - 1) * sw + 1)
    inserted[..., ::sh, ::sw] = y
    top, left = dilation[0] * (kh - 1) - padding[0], dilation[1] * (kw - 1) - padding[1]
    bottom = size[0] + dilation[0] * (kh - 1) - inserted.shape[2] - top
    right = size[1] + dilation[1] * (kw - 1) - inserted.shape[3] - left
    padded = torch.nn.functional.pad(inserted, (left, right, top, bottom))  # negative: a crop
    c_in = weight.shape[0]
    flipped = weight.flip(2, 3).reshape(groups, c_in // groups, -1, kh, kw).transpose(1, 2)
    kernel = flipped.reshape(-1, c_in // groups, kh, kw)
    return conv2d_nchw(padded, kernel, None, (1, 1), (0, 0, 0, 0), _pair(dilation), groups, channels_last)


def conv1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """1-D convolution with the contract of ``torch.nn.functional.conv1d``: conv2d on one-row images.

    ``input`` is ``(N, C_in, L)`` or ``(C_in, L)``, ``weight`` ``(C_out, C_in / groups, k)``;
    ``padding`` is an int, a 1-tuple, ``"valid"`` or ``"same"`` (stride 1 only).
    """
    fn = "conv1d"
    input, weight, bias = _tensors(fn, input, weight, bias, 1, "(out_channels, in_channels / groups, k)")
    (s,) = as_tuple(fn, "stride", stride, 1, 1)
    (d,) = as_tuple(fn, "dilation", dilation, 1, 1)
    groups_ = as_int(fn, "groups", groups, minimum=1)
    _check_grouped(fn, input.shape[-2], weight, bias, groups_)
    k = weight.shape[2]
    left, right = _padding(fn, padding, (k,), (d,), (s,), 1)[0]
    if input.shape[-1] + left + right < d * (k - 1) + 1:
        raise ValueError(
            f"{fn}: the kernel of size {k} with dilation={d} spans {d * (k - 1) + 1}, longer than the padded "
            f"input ({input.shape[-1]} plus padding={padding!r}); use a smaller kernel or more padding"
        )
    x = input[None] if input.dim() == 2 else input
    out = conv2d_nchw(
        x[:, :, None], weight[:, :, None], bias, (1, s), (0, 0, left, right), (1, d), groups_, False
    )
    out = out[:, :, 0]
    return out[0] if input.dim() == 2 else out


def conv3d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, int, int] | str = 0,
    dilation: int | tuple[int, int, int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """3-D convolution with the contract of ``torch.nn.functional.conv3d``: a sum of 2-D convolutions.

    ``input`` is ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``, ``weight``
    ``(C_out, C_in / groups, kD, kH, kW)``; ``padding`` is an int, a triple, ``"valid"``
    or ``"same"`` (stride 1 only). float16/bfloat16 are summed in float32 and rounded once.
    """
    fn = "conv3d"
    input, weight, bias = _tensors(
        fn, input, weight, bias, 3, "(out_channels, in_channels / groups, kD, kH, kW)"
    )
    stride_ = as_tuple(fn, "stride", stride, 1, 3)
    dilation_ = as_tuple(fn, "dilation", dilation, 1, 3)
    groups_ = as_int(fn, "groups", groups, minimum=1)
    _check_grouped(fn, input.shape[-4], weight, bias, groups_)
    kernel = tuple(weight.shape[2:])
    pads = _padding(fn, padding, kernel, dilation_, stride_, 3)
    spans = [d * (k - 1) + 1 for d, k in zip(dilation_, kernel, strict=True)]
    padded = [n + a + b for n, (a, b) in zip(input.shape[-3:], pads, strict=True)]
    if any(span > room for span, room in zip(spans, padded, strict=True)):
        raise ValueError(
            f"{fn}: the kernel of size {kernel} with dilation={dilation_} spans {tuple(spans)}, larger than the "
            f"padded input {tuple(padded)} (input {tuple(input.shape[-3:])} plus padding={padding!r}); "
            f"use a smaller kernel or dilation, or more padding"
        )
    x = input[None] if input.dim() == 4 else input
    out = _depth_sum(x, weight, bias, stride_, pads, dilation_, groups_)
    return out[0] if input.dim() == 4 else out


def _depth_sum(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, ...],
    pads: list[tuple[int, int]],
    dilation: tuple[int, ...],
    groups: int,
) -> torch.Tensor:
    """conv3d as the sum over depth taps of 2-D convolutions of strided depth slices (depth in the batch)."""
    dtype = x.dtype
    if dtype in LOW_PRECISION:
        x, weight = x.float(), weight.float()
        bias = None if bias is None else bias.float()
    (front, back), (top, bottom), (left, right) = pads
    x = torch.nn.functional.pad(x, (0, 0, 0, 0, front, back))
    n, c, depth = x.shape[:3]
    kd = weight.shape[2]
    d_out = (depth - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    total: torch.Tensor | None = None
    for tap in range(kd):
        start = tap * dilation[0]
        slices = x[:, :, start : start + (d_out - 1) * stride[0] + 1 : stride[0]]
        planes = slices.transpose(1, 2).reshape(n * d_out, c, *x.shape[3:])
        part = conv2d_nchw(
            planes,
            weight[:, :, tap],
            None,
            _pair(stride[1:]),
            (top, bottom, left, right),
            _pair(dilation[1:]),
            groups,
            False,
        )
        total = part if total is None else total + part
    assert total is not None
    out = total.reshape(n, d_out, *total.shape[1:]).transpose(1, 2)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1, 1)
    return out.contiguous().to(dtype)


def _check_grouped(
    fn: str, in_channels: int, weight: torch.Tensor, bias: torch.Tensor | None, groups: int
) -> None:
    """conv1d/conv3d's channels: divisible by ``groups``, and the weight's input channels per group."""
    _channels(fn, in_channels, weight, bias, groups, weight.shape[0])
    if weight.shape[1] * groups != in_channels:
        raise ValueError(
            f"{fn}: weight.shape[1]={weight.shape[1]} does not match input channels {in_channels} / "
            f"groups={groups}; expected {in_channels // groups}"
        )


def _padding(
    fn: str,
    padding: object,
    kernel: tuple[int, ...],
    dilation: tuple[int, ...],
    stride: tuple[int, ...],
    n: int,
) -> list[tuple[int, int]]:
    """(before, after) per axis for an int, an ``n``-tuple, ``"valid"`` or ``"same"`` (the odd element after)."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{fn}: padding='same' requires stride 1, got stride={stride}; pass explicit integer padding"
                )
            totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
            return [(t // 2, t - t // 2) for t in totals]
        raise ValueError(
            f"{fn}: padding={padding!r} is not supported; expected an int, a tuple, 'same' or 'valid'"
        )
    return [(p, p) for p in as_tuple(fn, "padding", padding, 0, n)]
