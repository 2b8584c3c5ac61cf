"""A convolution problem as a value: drawn by the strategies, printed as runnable code.

A :class:`ConvCase` holds every choice that defines one call — shapes, parameters
in the exact form passed (``1`` or ``(1, 1)`` or ``"same"``), dtype, device,
memory layouts and a seed — and :meth:`ConvCase.materialize` turns it into
tensors deterministically, so a printed case reproduces the failure exactly.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import torch

from conv2d.gate.vocabulary import DTYPES, HALF_DTYPES, LAYOUTS

__all__ = [
    "INPUT_LAYOUTS",
    "LAYOUT_CAPABILITY",
    "Args",
    "ConvCase",
    "Pair",
    "ValueMode",
    "as_pair",
    "dtype_of",
    "output_size",
    "resolve_padding",
    "transposed_size",
]

Pair = tuple[int, int]
ValueMode = Literal["uniform", "integer", "biased", "dominant"]
IntOrPair = int | Pair
Padding = int | Pair | str
Kind = Literal["conv2d", "corr2d", "conv_transpose2d"]

#: Memory layouts a case's tensors are drawn in (:data:`conv2d.gate.vocabulary.LAYOUTS`, in draw order).
INPUT_LAYOUTS: tuple[str, ...] = tuple(LAYOUTS)
#: The capability (:data:`conv2d.gate.capabilities.ALL_LAYOUTS`) each layout needs: views are "strided".
LAYOUT_CAPABILITY: dict[str, str] = LAYOUTS
#: Grid spacing on [1, 2) of the precision a buggy kernel might silently drop to.
_LOWER_GRID = {"float32": 2.0**-10, "float64": 2.0**-23}
#: Precision bits (mantissa + 1) per dtype: a product 2**(bits + 1) times the others makes a running
#: sum in that dtype stagnate.
_BITS = {name: 1 - int(math.log2(torch.finfo(dtype).eps)) for name, dtype in DTYPES.items()}


def dtype_of(name: str) -> torch.dtype:
    """The torch dtype called ``name`` (one of :data:`conv2d.gate.vocabulary.DTYPES`)."""
    return DTYPES[name]


def as_pair(value: IntOrPair) -> Pair:
    """``3`` -> ``(3, 3)``; a pair is returned unchanged."""
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def resolve_padding(padding: Padding, kernel: Pair, dilation: Pair) -> tuple[int, int, int, int]:
    """Explicit ``(top, bottom, left, right)`` padding for any padding form.

    ``"same"`` follows PyTorch: total padding ``d * (k - 1)`` per axis, the odd
    element on the bottom/right.
    """
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        out = []
        for k, d in zip(kernel, dilation, strict=True):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return (out[0], out[1], out[2], out[3])
    if isinstance(padding, str):
        raise ValueError(f"padding={padding!r}; expected an int, a pair, 'same' or 'valid'")
    ph, pw = as_pair(padding)
    return (ph, ph, pw, pw)


def output_size(size: Pair, kernel: Pair, stride: IntOrPair, padding: Padding, dilation: IntOrPair) -> Pair:
    """F.conv2d's output spatial size: ``floor((H + pads - d*(k-1) - 1) / s) + 1`` per axis."""
    s, d = as_pair(stride), as_pair(dilation)
    top, bottom, left, right = resolve_padding(padding, kernel, d)
    pads = (top + bottom, left + right)
    return (
        (size[0] + pads[0] - d[0] * (kernel[0] - 1) - 1) // s[0] + 1,
        (size[1] + pads[1] - d[1] * (kernel[1] - 1) - 1) // s[1] + 1,
    )


def transposed_size(
    size: Pair,
    kernel: Pair,
    stride: IntOrPair,
    padding: IntOrPair,
    output_padding: IntOrPair,
    dilation: IntOrPair,
) -> Pair:
    """F.conv_transpose2d's output spatial size: ``(H - 1) * s - 2 * p + d * (k - 1) + output_padding + 1`` per axis."""
    s, p, op, d = as_pair(stride), as_pair(padding), as_pair(output_padding), as_pair(dilation)
    return (
        (size[0] - 1) * s[0] - 2 * p[0] + d[0] * (kernel[0] - 1) + op[0] + 1,
        (size[1] - 1) * s[1] - 2 * p[1] + d[1] * (kernel[1] - 1) + op[1] + 1,
    )


def transposed_taps(kernel: int, stride: int, dilation: int) -> int:
    """The most kernel taps of one axis that reach one output element of a transposed convolution.

    Output ``o`` receives tap ``t`` from input ``i`` when ``o = i * s - p + t * d``, so the
    taps reaching ``o`` are those with ``t * d = o + p (mod s)``: an arithmetic progression
    with step ``s / gcd(s, d)``, of at most ``ceil(k * gcd(s, d) / s)`` members.
    """
    return -(-kernel * math.gcd(stride, dilation) // stride)


@dataclasses.dataclass(frozen=True)
class Args:
    """The tensors and parameters of one call, ready to pass to a target."""

    input: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor | None
    stride: IntOrPair = 1
    padding: Padding = 0
    dilation: IntOrPair = 1
    groups: int = 1
    #: set for a transposed convolution (0 or more), ``None`` for every other kind
    output_padding: IntOrPair | None = None

    @property
    def transposed(self) -> bool:
        return self.output_padding is not None

    def params(self) -> dict[str, object]:
        """The keyword parameters beside the tensors (``output_padding`` for a transposed convolution)."""
        if self.output_padding is not None:  # F.conv_transpose2d's order
            return {
                "stride": self.stride,
                "padding": self.padding,
                "output_padding": self.output_padding,
                "groups": self.groups,
                "dilation": self.dilation,
            }
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
        }

    def replace(self, **changes: object) -> Args:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _layout(base: torch.Tensor, layout: str, generator_offset: int) -> torch.Tensor:
    """``base`` (contiguous) re-laid in memory as ``layout``; values are unchanged."""
    if layout == "contiguous":
        return base
    if layout == "channels_last":
        if base.dim() == 4:
            return base.contiguous(memory_format=torch.channels_last)
        if base.dim() == 3:  # (C, H, W) stored as H, W, C
            return base.permute(1, 2, 0).contiguous().permute(2, 0, 1)
        return base.t().contiguous().t() if base.dim() == 2 else base
    if layout == "strided":  # every other element of a wider buffer along the last dim
        wide = torch.zeros(*base.shape[:-1], 2 * base.shape[-1], dtype=base.dtype, device=base.device)
        wide[..., ::2] = base
        wide[..., 1::2] = float("nan")  # poison: reading the gaps shows up as NaN
        return wide[..., ::2]
    if layout == "transposed":  # last two dims stored column-major
        if base.dim() < 2:
            return _layout(base, "strided", generator_offset)
        return base.transpose(-1, -2).contiguous().transpose(-1, -2)
    if layout == "channel_slice":  # channels [start, start + C) of a wider channels_last tensor
        if base.dim() not in (3, 4):
            return _layout(base, "strided", generator_offset)
        start = 1 + generator_offset % 2
        channels = base.shape[-3]
        spatial = base.shape[-2:]
        parent = torch.full(
            (*base.shape[:-3], *spatial, channels + start + 1),
            float("nan"),
            dtype=base.dtype,
            device=base.device,
        )  # stored with channels innermost (channels_last), the other channels poisoned with NaN
        view = parent.movedim(-1, -3)[..., start : start + channels, :, :]
        view.copy_(base)
        return view
    if layout == "offset":  # a view that starts inside a larger buffer
        offset = 1 + generator_offset % 7
        flat = torch.full((base.numel() + offset,), float("nan"), dtype=base.dtype, device=base.device)
        flat[offset:] = base.reshape(-1)
        return flat[offset:].view(base.shape)
    raise ValueError(f"layout={layout!r}; expected one of {INPUT_LAYOUTS}")


@dataclasses.dataclass(frozen=True)
class ConvCase:
    """One convolution problem, fully determined and reproducible.

    ``kind="corr2d"`` cases are single-channel, unbatched and unparametrised:
    they materialise to 2-D ``X`` and ``K``. ``kind="conv_transpose2d"`` cases are
    F.conv_transpose2d problems: ``in_channels`` and ``height``/``width`` are its input's,
    the weight is ``(C_in, C_out / groups, kh, kw)`` and ``output_padding`` is passed. ``exponent`` scales the input by
    ``2**exponent`` and the weight by ``2**-exponent``: every product keeps its
    value, but the operands reach large and small magnitudes.
    """

    batch: int | None
    in_channels: int
    out_channels: int
    height: int
    width: int
    kernel: Pair
    stride: IntOrPair = 1
    padding: Padding = 0
    dilation: IntOrPair = 1
    groups: int = 1
    bias: bool = False
    dtype: str = "float32"
    device: str = "cpu"
    input_layout: str = "contiguous"
    weight_layout: str = "contiguous"
    bias_layout: str = "contiguous"
    values: ValueMode = "uniform"
    exponent: int = 0
    seed: int = 0
    kind: Kind = "conv2d"
    output_padding: IntOrPair = 0

    @property
    def transposed(self) -> bool:
        return self.kind == "conv_transpose2d"

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.kind == "corr2d":
            return (self.height, self.width)
        chw = (self.in_channels, self.height, self.width)
        return chw if self.batch is None else (self.batch, *chw)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.kind == "corr2d":
            return self.kernel
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def out_spatial(self) -> Pair:
        if self.transposed:
            assert not isinstance(self.padding, str)
            return transposed_size(
                (self.height, self.width),
                self.kernel,
                self.stride,
                self.padding,
                self.output_padding,
                self.dilation,
            )
        return output_size((self.height, self.width), self.kernel, self.stride, self.padding, self.dilation)

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.kind == "corr2d":
            return self.out_spatial
        spatial = self.out_spatial
        co = (self.out_channels, *spatial)
        return co if self.batch is None else (self.batch, *co)

    @property
    def reduction_length(self) -> int:
        """K: the most products summed into one output element.

        C_in / groups * kh * kw for a convolution. For a transposed convolution only the taps
        that meet an input element reach an output element: C_in / groups * prod over the axes
        of ``ceil(k * gcd(s, d) / s)`` (:func:`transposed_taps`).
        """
        if self.transposed:
            s, d = as_pair(self.stride), as_pair(self.dilation)
            taps = [transposed_taps(k, s[a], d[a]) for a, k in enumerate(self.kernel)]
            return (self.in_channels // self.groups) * taps[0] * taps[1]
        return (self.in_channels // self.groups) * self.kernel[0] * self.kernel[1]

    @property
    def grad_reductions(self) -> tuple[int, int, int]:
        """Products summed per element of grad_input, grad_weight and grad_bias.

        grad_input sums C_out/groups * kh * kw products; grad_weight and grad_bias sum one
        product per batch item and output position, N * H_out * W_out. A transposed
        convolution's input gradient is a convolution (C_out/groups * kh * kw products) and
        its weight gradient sums one product per input position, N * H * W.
        """
        out_h, out_w = self.out_spatial
        per_plane = (self.batch or 1) * out_h * out_w
        taps = (self.out_channels // self.groups) * self.kernel[0] * self.kernel[1]
        if self.transposed:
            return taps, (self.batch or 1) * self.height * self.width, per_plane
        return taps, per_plane, per_plane

    def grad_reduction(self, which: str) -> int:
        """:attr:`grad_reductions` of one gradient, ``which`` being ``"input"``, ``"weight"`` or ``"bias"``."""
        return self.grad_reductions[("input", "weight", "bias").index(which)]

    @property
    def layout_capabilities(self) -> set[str]:
        """The capability names the chosen layouts need."""
        layouts = {self.input_layout, self.weight_layout}
        if self.bias:
            layouts.add(self.bias_layout)
        return {LAYOUT_CAPABILITY[name] for name in layouts}

    def replace(self, **changes: object) -> ConvCase:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def _values(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        if self.values == "integer":
            # small integers: every product and partial sum is exact while sums stay small
            low, high = (-2, 3) if self.torch_dtype in HALF_DTYPES else (-4, 5)
            return torch.randint(low, high, shape, generator=generator).to(torch.float64)
        if self.values == "biased":
            return self._biased(shape, generator)
        if self.values == "dominant":
            return 1 + torch.rand(shape, generator=generator, dtype=torch.float64)
        x = torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1
        # bounded and subnormal-free in every dtype: no magnitude below 2**-6 except exact zeros
        return torch.where(x.abs() < 2.0**-6, torch.zeros_like(x), x)

    def _biased(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Positive values in [1, 2) just below the midpoint of the next-lower precision's grid.

        Rounding them to that precision (TF32 or bfloat16 for float32 data, float32
        for float64 data) always rounds down, so a silent precision reduction adds
        up over the whole reduction instead of averaging out: the error grows like
        K * u(lower) and stands far above the bound K * u(dtype) at any K.
        """
        x = 1 + torch.rand(shape, generator=generator, dtype=torch.float64)
        step = _LOWER_GRID.get(self.dtype)
        if step is None:  # float16/bfloat16 data are exact products: positive values bias the accumulation
            return x
        return torch.floor((x - 1) / step) * step + 1 + 0.499 * step

    def _dominant(self, weight: torch.Tensor) -> torch.Tensor:
        """The first tap of every filter scaled by ``2**(bits + 1)`` of the dtype (an exact power of two).

        With positive data in [1, 2), every later product then falls below half the
        spacing of the running sum: accumulated in the dtype itself, the sum stagnates
        and the error grows like K * u(dtype) * |y|, while a float32 accumulator (F.conv2d's
        contract for float16/bfloat16) stays exact to within u * |y|. A transposed case's
        taps other than the first are scaled down by the same factor instead.
        """
        scaled = weight.clone()
        if self.transposed:
            # a transposed kernel may sum each tap over the channels first and then the taps (col2im):
            # every tap but the first is scaled down instead, so that a whole tap's partial sum falls
            # below half the spacing of the first tap's (the output stays of the data's size)
            rest = torch.ones_like(scaled, dtype=torch.bool)
            rest[:, :, 0, 0] = False
            return torch.where(rest, scaled * 2.0 ** -(_BITS[self.dtype] + 1), scaled)
        first: tuple[Any, ...] = (..., 0, 0) if scaled.dim() == 2 else (slice(None), 0, 0, 0)
        scaled[first] = scaled[first] * 2.0 ** (_BITS[self.dtype] + 1)
        return scaled

    def materialize(self, device: str | None = None) -> Args:
        """The tensors of this case, rounded to its dtype, on its device, in its layouts."""
        generator = torch.Generator().manual_seed(self.seed)
        dtype = self.torch_dtype
        target_device = device or self.device

        def make(shape: tuple[int, ...], layout: str, index: int) -> torch.Tensor:
            base = self._values(shape, generator).to(dtype=dtype, device=target_device)
            return _layout(base, layout, self.seed + index)

        x = make(self.input_shape, self.input_layout, 0)
        w = make(self.weight_shape, self.weight_layout, 1)
        if self.values == "dominant":
            w = _layout(self._dominant(w.contiguous()), self.weight_layout, self.seed + 1)
        if self.exponent:  # power-of-two scaling is exact in every dtype
            x, w = x * 2.0**self.exponent, w * 2.0**-self.exponent
            x = _layout(x.contiguous(), self.input_layout, self.seed)
            w = _layout(w.contiguous(), self.weight_layout, self.seed + 1)
        b = make((self.out_channels,), self.bias_layout, 2) if self.bias else None
        if self.kind == "corr2d":
            return Args(x, w, None)
        if self.transposed:
            return Args(x, w, b, self.stride, self.padding, self.dilation, self.groups, self.output_padding)
        return Args(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def describe(self) -> str:
        """A one-line human summary: shapes, parameters, dtype, layouts."""
        if self.kind == "corr2d":
            head = f"corr2d X{self.input_shape} K{self.kernel}"
        else:
            head = (
                f"input{self.input_shape} weight{self.weight_shape}"
                f"{' +bias' if self.bias else ''} stride={self.stride!r} padding={self.padding!r}"
                f"{f' output_padding={self.output_padding!r}' if self.transposed else ''}"
                f" dilation={self.dilation!r} groups={self.groups}"
            )
            if self.transposed:
                head = f"conv_transpose2d {head}"
        layouts = f"layouts={self.input_layout}/{self.weight_layout}"
        scaled = f" scaled 2**{self.exponent}/2**{-self.exponent}" if self.exponent else ""
        return f"{head} {self.dtype} {self.device} {layouts} values={self.values}{scaled}"

    def to_code(self) -> str:
        """Python source that rebuilds this exact case."""
        fields = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
            or f.name in ("batch", "in_channels", "out_channels", "height", "width", "kernel")
        )
        return f"ConvCase({fields})"
