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
    "as_tuple",
    "dtype_of",
    "output_size",
    "resolve_padding",
    "resolve_pads",
    "spatial_rank",
    "transposed_size",
]

Pair = tuple[int, int]
Sizes = tuple[int, ...]
ValueMode = Literal["uniform", "integer", "biased", "dominant"]
IntOrPair = int | Sizes
Padding = int | Sizes | str
Kind = Literal["conv2d", "corr2d", "conv_transpose2d", "conv1d", "conv3d"]
#: Spatial dimensions of each kind that does not have two.
_RANKS = {"conv1d": 1, "conv3d": 3}

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


def spatial_rank(kind: str) -> int:
    """How many spatial dimensions a kind's tensors have: 1 for conv1d, 3 for conv3d, 2 otherwise."""
    return _RANKS.get(kind, 2)


def as_tuple(value: IntOrPair, rank: int) -> Sizes:
    """A parameter per spatial axis: ``3`` -> ``(3,) * rank``; a one-element tuple is repeated too."""
    if isinstance(value, int):
        return (value,) * rank
    values = tuple(value)
    return values * rank if len(values) == 1 else values


def as_pair(value: IntOrPair) -> Pair:
    """``3`` -> ``(3, 3)``; a pair is returned unchanged."""
    first, second = as_tuple(value, 2)[:2]
    return (first, second)


def resolve_pads(padding: Padding, kernel: Sizes, dilation: Sizes) -> tuple[Pair, ...]:
    """Explicit ``(before, after)`` padding per spatial axis for any padding form.

    ``"same"`` follows PyTorch: total padding ``d * (k - 1)`` per axis, the odd
    element after (bottom/right).
    """
    if padding == "valid":
        return ((0, 0),) * len(kernel)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return tuple((total // 2, total - total // 2) for total in totals)
    if isinstance(padding, str):
        raise ValueError(f"padding={padding!r}; expected an int, a tuple, 'same' or 'valid'")
    return tuple((p, p) for p in as_tuple(padding, len(kernel)))


def resolve_padding(padding: Padding, kernel: Sizes, dilation: Sizes) -> tuple[int, int, int, int]:
    """Explicit ``(top, bottom, left, right)`` padding of a 2-D convolution (:func:`resolve_pads`)."""
    (top, bottom), (left, right) = resolve_pads(padding, kernel, dilation)
    return (top, bottom, left, right)


def output_size(
    size: Sizes, kernel: Sizes, stride: IntOrPair, padding: Padding, dilation: IntOrPair
) -> Sizes:
    """F.conv{1,2,3}d's output spatial size: ``floor((H + pads - d*(k-1) - 1) / s) + 1`` per axis."""
    rank = len(size)
    s, d = as_tuple(stride, rank), as_tuple(dilation, rank)
    pads = resolve_pads(padding, kernel, d)
    return tuple((size[a] + sum(pads[a]) - d[a] * (kernel[a] - 1) - 1) // s[a] + 1 for a in range(rank))


def transposed_size(
    size: Sizes,
    kernel: Sizes,
    stride: IntOrPair,
    padding: IntOrPair,
    output_padding: IntOrPair,
    dilation: IntOrPair,
) -> Sizes:
    """F.conv_transpose2d's output spatial size: ``(H - 1) * s - 2 * p + d * (k - 1) + output_padding + 1`` per axis."""
    rank = len(size)
    s, p, op, d = (as_tuple(v, rank) for v in (stride, padding, output_padding, dilation))
    return tuple((size[a] - 1) * s[a] - 2 * p[a] + d[a] * (kernel[a] - 1) + op[a] + 1 for a in range(rank))


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


def _channels_innermost(base: torch.Tensor, rank: int) -> torch.Tensor:
    """``base`` stored with its channel axis (the one before the ``rank`` spatial axes) innermost."""
    channel = base.dim() - rank - 1
    if channel < 0:
        return base.t().contiguous().t() if base.dim() == 2 else base
    order = [a for a in range(base.dim()) if a != channel] + [channel]
    return base.permute(order).contiguous().permute([order.index(a) for a in range(base.dim())])


def _layout(base: torch.Tensor, layout: str, generator_offset: int, rank: int = 2) -> torch.Tensor:
    """``base`` (contiguous) re-laid in memory as ``layout``; values are unchanged.

    ``rank`` is the number of spatial axes (the channel axis comes before them).
    """
    if layout == "contiguous":
        return base
    if layout == "channels_last" and rank != 2:  # channels_last_3d for a batched conv3d tensor
        return _channels_innermost(base, rank)
    if layout == "channel_slice" and rank != 2:
        return _channel_slice(base, generator_offset, rank)
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
            return _layout(base, "strided", generator_offset, rank)
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


def _channel_slice(base: torch.Tensor, generator_offset: int, rank: int) -> torch.Tensor:
    """Channels ``[start, start + C)`` of a wider tensor stored channels innermost, the others NaN."""
    channel = base.dim() - rank - 1
    if channel < 0:
        return _layout(base, "strided", generator_offset, rank)
    start = 1 + generator_offset % 2
    shape = list(base.shape)
    channels = shape.pop(channel)
    parent = torch.full((*shape, channels + start + 1), float("nan"), dtype=base.dtype, device=base.device)
    view = parent.movedim(-1, channel).narrow(channel, start, channels)
    view.copy_(base)
    return view


@dataclasses.dataclass(frozen=True)
class ConvCase:
    """One convolution problem, fully determined and reproducible.

    ``kind="corr2d"`` cases are single-channel, unbatched and unparametrised:
    they materialise to 2-D ``X`` and ``K``. ``kind="conv_transpose2d"`` cases are
    F.conv_transpose2d problems: ``in_channels`` and ``height``/``width`` are its input's,
    the weight is ``(C_in, C_out / groups, kh, kw)`` and ``output_padding`` is passed. ``kind="conv1d"``
    cases have one spatial axis (``width``; ``height`` is 1) and ``kind="conv3d"`` cases three
    (``depth``, ``height``, ``width``): ``kernel`` and tuple parameters have one entry per spatial axis.
    ``exponent`` scales the input by
    ``2**exponent`` and the weight by ``2**-exponent``: every product keeps its
    value, but the operands reach large and small magnitudes.
    """

    batch: int | None
    in_channels: int
    out_channels: int
    height: int
    width: int
    kernel: Sizes
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
    #: the input's depth (conv3d only)
    depth: int = 1

    def __post_init__(self) -> None:
        rank = spatial_rank(self.kind)
        if len(self.kernel) != rank:
            raise ValueError(f"kernel={self.kernel!r}: a {self.kind} kernel has {rank} spatial size(s)")
        if rank == 1 and self.height != 1:
            raise ValueError(
                f"height={self.height}: a conv1d case has one spatial axis (width); pass height=1"
            )
        if rank != 3 and self.depth != 1:
            raise ValueError(f"depth={self.depth}: only a conv3d case has a depth; leave it at 1")

    @property
    def transposed(self) -> bool:
        return self.kind == "conv_transpose2d"

    @property
    def rank(self) -> int:
        """The number of spatial axes: 1 (conv1d), 2 or 3 (conv3d)."""
        return spatial_rank(self.kind)

    @property
    def spatial(self) -> Sizes:
        """The input's spatial size: ``(W,)``, ``(H, W)`` or ``(D, H, W)``."""
        full = (self.depth, self.height, self.width)
        return full[3 - self.rank :]

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.kind == "corr2d":
            return (self.height, self.width)
        chw = (self.in_channels, *self.spatial)
        return chw if self.batch is None else (self.batch, *chw)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.kind == "corr2d":
            return self.kernel
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def out_spatial(self) -> Sizes:
        if self.transposed:
            assert not isinstance(self.padding, str)
            return transposed_size(
                self.spatial,
                self.kernel,
                self.stride,
                self.padding,
                self.output_padding,
                self.dilation,
            )
        return output_size(self.spatial, self.kernel, self.stride, self.padding, self.dilation)

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

        C_in / groups * prod(kernel) for a convolution. For a transposed convolution only the taps
        that meet an input element reach an output element: C_in / groups * prod over the axes
        of ``ceil(k * gcd(s, d) / s)`` (:func:`transposed_taps`).
        """
        if self.transposed:
            s, d = as_tuple(self.stride, self.rank), as_tuple(self.dilation, self.rank)
            taps = [transposed_taps(k, s[a], d[a]) for a, k in enumerate(self.kernel)]
            return (self.in_channels // self.groups) * math.prod(taps)
        return (self.in_channels // self.groups) * math.prod(self.kernel)

    @property
    def grad_reductions(self) -> tuple[int, int, int]:
        """Products summed per element of grad_input, grad_weight and grad_bias.

        grad_input sums C_out/groups * kh * kw products; grad_weight and grad_bias sum one
        product per batch item and output position, N * H_out * W_out. A transposed
        convolution's input gradient is a convolution (C_out/groups * kh * kw products) and
        its weight gradient sums one product per input position, N * H * W.
        """
        per_plane = (self.batch or 1) * math.prod(self.out_spatial)
        taps = (self.out_channels // self.groups) * math.prod(self.kernel)
        if self.transposed:
            return taps, (self.batch or 1) * math.prod(self.spatial), per_plane
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

    def with_spatial(self, sizes: Sizes, **changes: object) -> ConvCase:
        """A copy whose input has the spatial size ``sizes`` (one entry per spatial axis)."""
        full = (1,) * (3 - self.rank) + tuple(sizes)
        if self.rank == 2:
            return self.replace(height=full[1], width=full[2], **changes)
        return self.replace(depth=full[0], height=full[1], width=full[2], **changes)

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
            corner: Any = (slice(None), slice(None), *(0,) * self.rank)
            rest[corner] = False
            return torch.where(rest, scaled * 2.0 ** -(_BITS[self.dtype] + 1), scaled)
        first: tuple[Any, ...] = (..., 0, 0) if scaled.dim() == 2 else (slice(None), *(0,) * (self.rank + 1))
        scaled[first] = scaled[first] * 2.0 ** (_BITS[self.dtype] + 1)
        return scaled

    def materialize(self, device: str | None = None) -> Args:
        """The tensors of this case, rounded to its dtype, on its device, in its layouts."""
        generator = torch.Generator().manual_seed(self.seed)
        dtype = self.torch_dtype
        target_device = device or self.device

        def make(shape: tuple[int, ...], layout: str, index: int) -> torch.Tensor:
            base = self._values(shape, generator).to(dtype=dtype, device=target_device)
            return _layout(base, layout, self.seed + index, self.rank)

        x = make(self.input_shape, self.input_layout, 0)
        w = make(self.weight_shape, self.weight_layout, 1)
        if self.values == "dominant":
            w = _layout(self._dominant(w.contiguous()), self.weight_layout, self.seed + 1, self.rank)
        if self.exponent:  # power-of-two scaling is exact in every dtype
            x, w = x * 2.0**self.exponent, w * 2.0**-self.exponent
            x = _layout(x.contiguous(), self.input_layout, self.seed, self.rank)
            w = _layout(w.contiguous(), self.weight_layout, self.seed + 1, self.rank)
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
            if self.kind != "conv2d":
                head = f"{self.kind} {head}"
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
            or (f.name == "depth" and self.rank == 3)
        )
        return f"ConvCase({fields})"
