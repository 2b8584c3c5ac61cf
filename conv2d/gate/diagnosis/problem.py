"""The problem a diagnosis starts from: a call's arguments in 4-D float64 form, and its exact evaluation.

A :class:`Problem` holds the call's arguments as the target received them and the
right :class:`Call`; every variant is another :class:`Call`, which :func:`evaluate`
computes exactly in float64. :func:`case_of` describes a plain call as a
:class:`~conv2d.gate.case.ConvCase`.

The convolution is torch's operator bound at import (``torch.ops.aten.convolution.default``),
like the reference, so a target that replaces ``torch.nn.functional`` cannot change
what the diagnosis compares with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from conv2d.gate.case import Args, ConvCase, Pair, as_pair, resolve_padding
from conv2d.gate.reference import Exact, as_float64, forward_scale
from conv2d.gate.tolerance import Precision

__all__ = [
    "CONVOLUTION",
    "MAX_ELEMENTS",
    "PAD",
    "Call",
    "Pads",
    "Problem",
    "case_of",
    "convolve",
    "evaluate",
    "is_channels_last",
    "layout_of",
]

#: torch's convolution operator, bound at import.
CONVOLUTION = torch.ops.aten.convolution.default
#: torch's constant padding operator (a negative width crops), bound at import.
PAD = torch.ops.aten.constant_pad_nd.default
#: Larger inputs are not diagnosed: each variant is a float64 convolution of its own.
MAX_ELEMENTS = 2**20

Pads = tuple[int, int, int, int]  # top, bottom, left, right


@dataclasses.dataclass(frozen=True)
class Call:
    """One float64 convolution a variant computes: 4-D tensors and explicit parameters.

    Attributes:
        x, w, b: input ``(N, C, H, W)``, weight ``(O, C/groups, kh, kw)`` and bias ``(O,)`` or ``None``.
        pads: zero padding ``(top, bottom, left, right)``; a negative entry crops.
        stride, dilation, groups: the convolution's parameters.
        extra: a tensor of the 4-D output's shape added after the convolution (a misplaced bias).
        crop: keep only the first ``(rows, columns)`` of the output.
        restore: how the 4-D result becomes the output (``None``: the shape of the call's own output).
        precision: the precision the variant is judged at (``None``: the caller's contract).
        dtype: the output dtype the variant produces (``None``: the input's dtype).
    """

    x: Tensor
    w: Tensor
    b: Tensor | None
    pads: Pads
    stride: Pair
    dilation: Pair
    groups: int
    extra: Tensor | None = None
    crop: Pair | None = None
    restore: Callable[[Tensor], Tensor] | None = None
    precision: Precision | None = None
    dtype: torch.dtype | None = None


@dataclasses.dataclass(frozen=True)
class Problem:
    """A call's arguments in the 4-D float64 form the variants start from.

    ``args`` keeps the tensors as the target received them (their memory layout
    matters to the layout variants); ``base`` is the right call.
    """

    args: Args
    base: Call
    kind: Literal["conv2d", "corr2d"]
    batched: bool
    dtype: torch.dtype
    padding: Any

    @classmethod
    def of(cls, args: Args) -> Problem:
        """The problem of one call (``corr2d`` when the input is 2-D)."""
        x, w, b = as_float64(args.input), as_float64(args.weight), as_float64(args.bias)
        assert x is not None and w is not None
        kind: Literal["conv2d", "corr2d"] = "corr2d" if x.dim() == 2 else "conv2d"
        if kind == "corr2d":
            base = Call(x[None, None], w[None, None], None, (0, 0, 0, 0), (1, 1), (1, 1), 1)
            return cls(args, base, kind, False, args.input.dtype, 0)
        kernel = (w.shape[-2], w.shape[-1])
        dilation = as_pair(args.dilation)  # type: ignore[arg-type]
        pads = resolve_padding(args.padding, kernel, dilation)  # type: ignore[arg-type]
        x4 = x if x.dim() == 4 else x[None]
        stride = as_pair(args.stride)  # type: ignore[arg-type]
        base = Call(x4, w, b, pads, stride, dilation, args.groups)
        return cls(args, base, kind, x.dim() == 4, args.input.dtype, args.padding)

    def call(self, **changes: Any) -> Call:
        """The right call with some fields changed."""
        return dataclasses.replace(self.base, **changes)

    def restore(self, out: Tensor) -> Tensor:
        """The 4-D result in the shape of the call's own output."""
        if self.kind == "corr2d":
            return out[0, 0]
        return out if self.batched else out[0]

    @property
    def kernel(self) -> Pair:
        """The kernel's spatial size ``(kh, kw)``."""
        return (self.base.w.shape[-2], self.base.w.shape[-1])

    @property
    def padded(self) -> Pair:
        """The padded input's spatial size."""
        top, bottom, left, right = self.base.pads
        return (self.base.x.shape[-2] + top + bottom, self.base.x.shape[-1] + left + right)

    def extent(self, dilation: Pair | None = None) -> Pair:
        """The dilated kernel's spatial extent ``d * (k - 1) + 1``."""
        d = dilation or self.base.dilation
        return (d[0] * (self.kernel[0] - 1) + 1, d[1] * (self.kernel[1] - 1) + 1)

    @property
    def out(self) -> Pair:
        """The right output's spatial size."""
        (hp, wp), (eh, ew), (sh, sw) = self.padded, self.extent(), self.base.stride
        return ((hp - eh) // sh + 1, (wp - ew) // sw + 1)

    def pads_for(self, dilation: Pair) -> Pads:
        """The padding at another dilation (it changes only for ``padding="same"``)."""
        if self.padding == "same":
            return resolve_padding("same", self.kernel, dilation)
        return self.base.pads


def convolve(call: Call, x: Tensor, w: Tensor, b: Tensor | None, extra: Tensor | None) -> Tensor:
    """``call``'s convolution (its padding, parameters, extra term and crop) of ``x``, ``w`` and ``b``."""
    top, bottom, left, right = call.pads
    padded = PAD(x, [left, right, top, bottom], 0.0)
    out = CONVOLUTION(
        padded, w, b, list(call.stride), [0, 0], list(call.dilation), False, [0, 0], call.groups
    )
    if extra is not None:
        out = out + extra
    if call.crop is not None:
        out = out[..., : call.crop[0], : call.crop[1]]
    return out


def evaluate(problem: Problem, call: Call) -> Exact:
    """The variant's exact value, magnitude, norm-wise scale and unbiased value, in the output's shape."""
    restore = call.restore or problem.restore
    b_abs = None if call.b is None else call.b.abs()
    e_abs = None if call.extra is None else call.extra.abs()
    value = convolve(call, call.x, call.w, call.b, call.extra)
    magnitude = convolve(call, call.x.abs(), call.w.abs(), b_abs, e_abs)
    finite = torch.nan_to_num(call.x, nan=0.0, posinf=0.0, neginf=0.0)  # NaN-filled memory read by a variant
    scale = forward_scale(finite, call.w, call.groups).expand_as(value)
    biased = call.b is not None or call.extra is not None
    unbiased = restore(convolve(call, call.x, call.w, None, None)) if biased else None
    return Exact(restore(value), restore(magnitude), restore(scale), unbiased)


def is_channels_last(t: Tensor) -> bool:
    """True for a 4-D tensor in channels_last memory format that is not also contiguous."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def layout_of(t: Tensor) -> str:
    """The :class:`ConvCase` layout name of a tensor: offset, contiguous, channels_last or strided."""
    if t.storage_offset():
        return "offset"
    if t.is_contiguous():
        return "contiguous"
    if is_channels_last(t):
        return "channels_last"
    return "strided"


def case_of(args: Args) -> ConvCase:
    """The :class:`ConvCase` describing a call's arguments (shapes, parameters, dtype, device, layouts).

    Its ``values`` and ``seed`` are placeholders: the case describes ``args``, it
    does not rebuild them.
    """
    x, w = args.input, args.weight
    if w.dim() == 2:
        return ConvCase(
            None,
            1,
            1,
            x.shape[0],
            x.shape[1],
            (w.shape[0], w.shape[1]),
            dtype=str(x.dtype).removeprefix("torch."),
            device=x.device.type,
            input_layout=layout_of(x),
            weight_layout=layout_of(w),
            kind="corr2d",
        )
    rank = w.dim() - 2
    full = (1,) * (3 - rank) + tuple(x.shape[-rank:])
    return ConvCase(
        batch=x.shape[0] if x.dim() == rank + 2 else None,
        in_channels=x.shape[-rank - 1],
        out_channels=w.shape[0],
        depth=full[0],
        height=full[1],
        width=full[2],
        kernel=tuple(w.shape[2:]),
        kind={1: "conv1d", 3: "conv3d"}.get(rank, "conv2d"),  # type: ignore[arg-type]
        stride=args.stride,
        padding=args.padding,
        dilation=args.dilation,
        groups=args.groups,
        bias=args.bias is not None,
        dtype=str(x.dtype).removeprefix("torch."),
        device=x.device.type,
        input_layout=layout_of(x),
        weight_layout=layout_of(w),
        bias_layout="contiguous" if args.bias is None else layout_of(args.bias),
    )
