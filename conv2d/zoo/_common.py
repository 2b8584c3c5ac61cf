"""What the zoo's modules share: F.conv2d's signature, argument handling, registration, witnesses.

* :func:`conv2d_signature` gives a body that takes one :class:`Conv2dCall` the signature
  ``(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)`` of F.conv2d;
* :func:`normalise_args` resolves a call to a 4-D input and its :class:`Geometry`, raising
  where F.conv2d raises;
* :func:`base_conv2d` is the zoo's correct im2col convolution, around which every mutant
  wraps its bug (never the host's F.conv2d, whose own bugs would otherwise count as kills);
* :func:`entry` and :func:`registrar` register an implementation in the zoo's one
  registry (``REGISTRY`` of ``conv2d.zoo._entry``), a mutant with its witness input;
* :func:`case` and :func:`case_with` build witness inputs.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.case import Kind
from conv2d.gate.vocabulary import Category
from conv2d.zoo._entry import REGISTRY, register

__all__ = [
    "HALF",
    "Conv2dCall",
    "Fn",
    "Geometry",
    "IntPair",
    "PaddingArg",
    "Pair",
    "Witness",
    "base_conv2d",
    "case",
    "case_with",
    "channels_last",
    "compute_dtype",
    "conv",
    "conv2d_signature",
    "conv_in",
    "declare",
    "entry",
    "extent",
    "finish",
    "im2col_algorithm",
    "is_channels_last",
    "normalise_args",
    "pair",
    "registrar",
    "run",
    "same_split",
    "tap_slices",
    "unbatch",
]

IntPair = int | Sequence[int]
PaddingArg = int | Sequence[int] | str
Pair = tuple[int, int]
Fn = TypeVar("Fn", bound=Callable[..., Tensor])
#: A zero-argument callable returning ``(args, kwargs)`` on which a mutant deviates.
Witness = Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]

#: The half-precision dtypes, accumulated in float32.
HALF = (torch.float16, torch.bfloat16)


# -- F.conv2d's signature -------------------------------------------------------------------------
class Conv2dCall(NamedTuple):
    """The arguments of one call with F.conv2d's signature, in its order (``*call`` passes them on)."""

    input: Tensor
    weight: Tensor
    bias: Tensor | None
    stride: IntPair
    padding: PaddingArg
    dilation: IntPair
    groups: int

    def normalise(self) -> tuple[Tensor, Geometry]:
        """:func:`normalise_args` of this call."""
        return normalise_args(*self)


def conv2d_signature(body: Callable[[Conv2dCall], Tensor]) -> Callable[..., Tensor]:
    """``body`` with F.conv2d's signature ``(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)``.

    The returned function takes its arguments positionally or by keyword, with F.conv2d's
    defaults, and calls ``body`` with them gathered in a :class:`Conv2dCall`. It carries
    ``body``'s name, qualified name, module and docstring; ``inspect.signature`` shows
    F.conv2d's parameters, in F.conv2d's order, with F.conv2d's defaults.
    """

    # F.conv2d's signature, spelled out here once for every zoo entry that keeps it
    def conv2d(
        input: Tensor,
        weight: Tensor,
        bias: Tensor | None = None,
        stride: IntPair = 1,
        padding: PaddingArg = 0,
        dilation: IntPair = 1,
        groups: int = 1,
    ) -> Tensor:
        return body(Conv2dCall(input, weight, bias, stride, padding, dilation, groups))

    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(conv2d, attribute, getattr(body, attribute))
    return conv2d


# -- registration ---------------------------------------------------------------------------------
def declare(**fields: object) -> Callable[[Fn], Fn]:
    """Attach a capabilities dict (the zoo cannot import the gate's ``declare`` without a cycle)."""

    def apply(fn: Fn) -> Fn:
        fn.__conv2d_capabilities__ = dict(fields)  # type: ignore[attr-defined]
        return fn

    return apply


def entry(
    *,
    category: Category | None = None,
    family: str = "",
    modelled_on: str = "",
    kind: Kind = "conv2d",
    correct: bool = False,
) -> Callable[[Fn], Fn]:
    """``register`` in the zoo's registry, with the summary taken from the docstring's first line.

    A bug gives its ``category``, a correct alternative its algorithm ``family``. For a
    mutant, the bug class and ``modelled_on`` are appended to the docstring, so that the
    docstring and the registry never disagree.
    """

    def apply(fn: Fn) -> Fn:
        doc = inspect.cleandoc(fn.__doc__ or "")
        if modelled_on:
            fn.__doc__ = f"{doc}\n\nBug class: {category}. Modelled on {modelled_on}"
        summary = doc.splitlines()[0] if doc else ""
        # every field passed on by name, as register takes it: alike in form only to other keyword calls
        register(
            REGISTRY,
            kind=kind,
            category=category,
            family=family,
            summary=summary,
            modelled_on=modelled_on,
            correct=correct,
        )(fn)
        return fn

    return apply


def registrar(
    kind: Kind,
) -> tuple[dict[str, Witness], Callable[[Category, str, Witness], Callable[[Fn], Fn]]]:
    """A module's witness table, and its mutants' decorator factory ``(category, modelled_on, witness)``.

    Each function it decorates is registered as a mutant of ``kind``, its witness filed in the table
    under its name.
    """
    witnesses: dict[str, Witness] = {}

    def mutant(category: Category, modelled_on: str, witness: Witness) -> Callable[[Fn], Fn]:
        def apply(fn: Fn) -> Fn:
            witnesses[fn.__name__] = witness
            return entry(category=category, modelled_on=modelled_on, kind=kind)(fn)

        return apply

    return witnesses, mutant


# -- argument handling ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Geometry:
    """A conv2d call's parameters, resolved to explicit per-axis values.

    Attributes:
        kernel: (kh, kw).
        stride, dilation: per-axis pairs.
        pad_h, pad_w: (top, bottom) and (left, right) zero padding.
        groups: the number of groups.
        batched: whether the input had a batch dimension.
        padded: (H, W) of the input after padding.
        out: (H_out, W_out).
    """

    kernel: Pair
    stride: Pair
    dilation: Pair
    pad_h: Pair
    pad_w: Pair
    groups: int
    batched: bool
    padded: Pair
    out: Pair

    @property
    def fpad(self) -> tuple[int, int, int, int]:
        """The padding as ``F.pad`` takes it: (left, right, top, bottom)."""
        return (*self.pad_w, *self.pad_h)

    @property
    def extent(self) -> Pair:
        """The dilated kernel's size, ``d * (k - 1) + 1`` per axis."""
        return extent(self.kernel, self.dilation)


def extent(kernel: Pair, dilation: Pair) -> Pair:
    """The size of ``kernel`` dilated by ``dilation``, ``d * (k - 1) + 1`` per axis."""
    return (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)


def pair(value: IntPair, name: str) -> Pair:
    """``value`` as a per-axis pair; a single int (or a one-element sequence) applies to both axes.

    Raises ``TypeError`` for what F.conv2d refuses as integers: a string, a bool, a float in a sequence.
    """
    if isinstance(value, str | bool):
        raise TypeError(f"expected {name} to be integers, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    items = tuple(operator.index(v) for v in value)  # a float refused, as F.conv2d refuses it
    if len(items) == 1:
        return (items[0], items[0])
    if len(items) != 2:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of 2 values, got {value!r}"
        )
    return (items[0], items[1])


def same_split(total: int) -> Pair:
    """PyTorch's ``"same"`` rule: the smaller half before, the extra element after."""
    return (total // 2, total - total // 2)


def _resolve_padding(padding: PaddingArg, kernel: Pair, dilation: Pair, stride: Pair) -> tuple[Pair, Pair]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: {padding!r}; expected 'same' or 'valid'")
        if stride != (1, 1):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        total_h, total_w = (d * (k - 1) for d, k in zip(dilation, kernel, strict=True))
        return same_split(total_h), same_split(total_w)
    ph, pw = pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise RuntimeError(f"negative padding is not supported, got {padding!r}")
    return (ph, ph), (pw, pw)


def _check_shapes(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int) -> None:
    if weight.dim() != 4:
        raise RuntimeError(
            f"weight must be 4-D (out_channels, in_channels/groups, kh, kw), got {tuple(weight.shape)}"
        )
    if weight.shape[0] == 0 or min(weight.shape[2:]) == 0:
        raise RuntimeError(f"expected a weight with output channels and a kernel, got {tuple(weight.shape)}")
    if min(x.shape[2:]) == 0:
        raise RuntimeError(
            f"only an input of zero images or zero channels may be empty, got {tuple(x.shape)}"
        )
    if groups < 1 or weight.shape[0] % groups:
        raise RuntimeError(f"out_channels={weight.shape[0]} is not divisible by groups={groups}")
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(
            f"expected input with {weight.shape[1] * groups} channels (weight {tuple(weight.shape)}, "
            f"groups={groups}), got input {tuple(x.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise RuntimeError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    dtypes = {t.dtype for t in (x, weight, bias) if t is not None}
    if len(dtypes) != 1:
        raise RuntimeError(f"input, weight and bias must share one dtype, got {sorted(map(str, dtypes))}")


def normalise_args(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntPair,
    padding: PaddingArg,
    dilation: IntPair,
    groups: int,
) -> tuple[Tensor, Geometry]:
    """The input as a 4-D (batched) tensor, and the call's resolved :class:`Geometry`.

    Raises ``RuntimeError`` for the arguments F.conv2d rejects.
    """
    if input.dim() not in (3, 4):
        raise RuntimeError(f"expected 3-D (unbatched) or 4-D (batched) input, got {tuple(input.shape)}")
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    _check_shapes(x, weight, bias, groups)
    kernel = (weight.shape[2], weight.shape[3])
    s, d = pair(stride, "stride"), pair(dilation, "dilation")
    if min(s) < 1 or min(d) < 1:
        raise RuntimeError(
            f"stride and dilation must be positive, got stride={stride!r}, dilation={dilation!r}"
        )
    pad_h, pad_w = _resolve_padding(padding, kernel, d, s)
    padded = (x.shape[2] + sum(pad_h), x.shape[3] + sum(pad_w))
    ext = extent(kernel, d)
    if padded[0] < ext[0] or padded[1] < ext[1]:
        raise RuntimeError(f"kernel extent {ext} is larger than the padded input {padded}")
    out = ((padded[0] - ext[0]) // s[0] + 1, (padded[1] - ext[1]) // s[1] + 1)
    return x, Geometry(kernel, s, d, pad_h, pad_w, groups, batched, padded, out)


def unbatch(out: Tensor, batched: bool) -> Tensor:
    """Drop the batch dimension again for an unbatched call."""
    return out if batched else out.squeeze(0)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for float16/bfloat16 (accumulated in float32), else ``dtype`` itself."""
    return torch.float32 if dtype in HALF else dtype


def finish(out: Tensor, bias: Tensor | None, geo: Geometry, dtype: torch.dtype) -> Tensor:
    """Add the bias in the compute dtype, round once to ``dtype``, restore the batch convention."""
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, -1, 1, 1)
    return unbatch(out.to(dtype), geo.batched)


def tap_slices(geo: Geometry) -> Iterator[tuple[int, int, slice, slice]]:
    """For each kernel tap (u, v): the rows and columns of the padded input it meets."""
    (sh, sw), (dh, dw), (ho, wo) = geo.stride, geo.dilation, geo.out
    for u in range(geo.kernel[0]):
        for v in range(geo.kernel[1]):
            rows = slice(u * dh, u * dh + (ho - 1) * sh + 1, sh)
            cols = slice(v * dw, v * dw + (wo - 1) * sw + 1, sw)
            yield u, v, rows, cols


def run(
    algorithm: Callable[[Tensor, Tensor, Geometry], Tensor],
    c: Conv2dCall,
    *,
    compute: torch.dtype | None = None,
) -> Tensor:
    """Normalise the call, run ``algorithm(x, w, geo)`` in ``compute`` dtype, add bias and round once."""
    x, geo = c.normalise()
    compute = compute or compute_dtype(c.input.dtype)
    if x.shape[0] == 0:  # an empty batch: run one zero image so every algorithm sees a real shape, keep none
        out = algorithm(torch.cat([x, x.new_zeros(1, *x.shape[1:])]).to(compute), c.weight.to(compute), geo)[
            :0
        ]
    else:
        out = algorithm(x.to(compute), c.weight.to(compute), geo)
    return finish(out, c.bias, geo, c.input.dtype)


# -- the im2col convolution every mutant is built on ----------------------------------------------
def im2col_algorithm(x: Tensor, w: Tensor, geo: Geometry, bias: Tensor | None = None) -> Tensor:
    """One GEMM per group over the unfolded patches; a bias is folded in as a row of ones."""
    n, (o, cg, kh, kw), g = x.shape[0], w.shape, geo.groups
    cols = F.unfold(F.pad(x, geo.fpad), geo.kernel, dilation=geo.dilation, stride=geo.stride)
    cols = cols.reshape(n, g, cg * kh * kw, geo.out[0] * geo.out[1])
    mat = w.reshape(g, o // g, cg * kh * kw)
    if bias is not None:
        cols = torch.cat([cols, cols.new_ones(n, g, 1, cols.shape[-1])], dim=2)
        mat = torch.cat([mat, bias.reshape(g, o // g, 1)], dim=2)
    return (mat @ cols).reshape(n, o, *geo.out)


def base_conv2d(c: Conv2dCall) -> Tensor:
    """The zoo's im2col convolution of the call ``c`` in the input dtype, bias folded into the GEMM."""
    x, geo = c.normalise()
    return unbatch(im2col_algorithm(x, c.weight, geo, c.bias), geo.batched)


def conv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    geo: Geometry,
    *,
    pads: tuple[int, int, int, int] | None = None,
    stride: tuple[int, int] | int | None = None,
) -> Tensor:
    """The zoo's correct im2col convolution of the 4-D ``x`` with explicit zero padding (``geo``'s unless ``pads`` is given)."""
    padded = F.pad(x, geo.fpad if pads is None else pads)
    return base_conv2d(
        Conv2dCall(
            padded, weight, bias, geo.stride if stride is None else stride, 0, geo.dilation, geo.groups
        )
    )


def conv_in(dtype: torch.dtype, c: Conv2dCall) -> Tensor:
    """The call with every tensor argument cast to ``dtype`` (the result stays in ``dtype``)."""
    low_bias = None if c.bias is None else c.bias.to(dtype)
    return base_conv2d(c._replace(input=c.input.to(dtype), weight=c.weight.to(dtype), bias=low_bias))


def is_channels_last(t: Tensor) -> bool:
    """True for a 4-D tensor stored NHWC (and not also plain contiguous)."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


# -- witnesses ------------------------------------------------------------------------------------
def case(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    *,
    bias: bool = True,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    grad: bool = False,
    **params: Any,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Random normal input, weight and (optionally) bias of the given shapes, and the call's keywords."""
    gen = torch.Generator().manual_seed(seed)
    x, w = (torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in (x_shape, w_shape))
    b = torch.randn(w_shape[0], generator=gen, dtype=torch.float64).to(dtype) if bias else None
    if grad:
        for t in (x, w, b):
            if t is not None:
                t.requires_grad_()
    return (x, w, b), params


def case_with(
    make_input: Callable[[Tensor], Tensor] | None = None,
    make_weight: Callable[[Tensor], Tensor] | None = None,
    **kwargs: Any,
) -> Witness:
    """A witness whose input and/or weight are re-laid in memory (values unchanged)."""

    def witness() -> tuple[tuple[Any, ...], dict[str, Any]]:
        (x, w, b), params = case(**kwargs)
        x = make_input(x) if make_input else x
        w = make_weight(w) if make_weight else w
        return (x, w, b), params

    return witness


def channels_last(t: Tensor) -> Tensor:
    """``t`` stored NHWC (channels_last), values unchanged."""
    return t.contiguous(memory_format=torch.channels_last)
