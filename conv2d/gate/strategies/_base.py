"""How conv2d and corr2d problems are drawn: the regimes, the parameters, the shapes (see the package)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection

from hypothesis import assume
from hypothesis import strategies as st

from conv2d.gate.capabilities import Capabilities
from conv2d.gate.case import ConvCase, Pair, ValueMode, resolve_padding
from conv2d.gate.vocabulary import DTYPES, LARGE_ELEMENTS, LAYOUTS, dtype_name

__all__ = [
    "PRODUCTION_LAYERS",
    "REGIMES",
    "REQUIREMENTS",
    "Layer",
    "Regime",
    "conv_cases",
    "corr2d_cases",
    "dtypes_for",
    "layouts_for",
]

#: Constraints a property can ask of the cases it gets.
REQUIREMENTS = frozenset(
    {
        "bias",  # a bias tensor is passed
        "no-bias",
        "batched",  # 4-D input
        "grouped",  # groups > 1
        "strided",  # stride > 1 on some axis
        "unit-stride",  # stride 1 on both axes
        "dilated",  # dilation > 1 on some axis
        "unit-dilation",
        "numeric-padding",  # padding given as an int or a pair
        "padding-string",  # padding given as "same" or "valid"
        "no-padding",  # padding 0 (or "valid")
        "symmetric-padding",  # equal padding on both sides of each axis
        "contiguous",  # every tensor contiguous
        "large",  # inputs of 2**16 .. 2**21 elements
        "float64",  # float64 only (when the target supports it)
    }
)

#: The order dtypes are drawn in: float32, the simplest (where shrinking goes), then the others in
#: :data:`~conv2d.gate.vocabulary.DTYPES` order.
_DTYPE_ORDER: tuple[str, ...] = ("float32", *(name for name in DTYPES if name != "float32"))
#: float32, what production runs, is drawn twice as often as each other dtype.
_DTYPE_WEIGHT = {"float32": 2}
_TILE_EXTENTS = (7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 66)
_CHANNEL_COUNTS = (3, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 63, 64, 65, 70)
_BATCHES = (5, 6, 7, 9, 10)
#: Requirements no corr2d(X, K) case can meet.
_CORR2D_IMPOSSIBLE = frozenset({"bias", "batched", "grouped", "strided", "dilated", "padding-string"})
#: Batches around the tile widths 8, 16 and 32 that batched kernels split N by.
_TILE_BATCHES = (8, 9, 16, 17, 31, 32, 33)
_STRIDED: tuple[int | Pair, ...] = (2, 3, (1, 2), (2, 1), (2, 3))
_DILATED: tuple[int | Pair, ...] = (2, 3, (1, 2), (2, 1), (3, 2))
_VALUES: tuple[ValueMode, ...] = ("uniform", "integer", "biased", "dominant")
#: Input scaled by 2**e and weight by 2**-e: magnitudes up to 1024 and down to 2**-14.
_EXPONENTS = st.one_of(st.just(0), st.sampled_from([8, -8, 4, -4]))


def _exponent(draw: st.DrawFn, values: ValueMode) -> int:
    """The operands' power-of-two scaling; none for "dominant" values, whose large tap would overflow float16."""
    return 0 if values == "dominant" else draw(_EXPONENTS)


def dtypes_for(capabilities: Capabilities) -> list[str]:
    """Dtype names the target supports, simplest (float32) first."""
    names = [dtype_name(d) for d in capabilities.dtypes]
    return [n for n in _DTYPE_ORDER if n in names]


def layouts_for(capabilities: Capabilities) -> list[str]:
    """Case layouts the target supports ("strided" covers sliced, transposed and channel-sliced views)."""
    allowed = set(capabilities.layouts)
    return [name for name, needs in LAYOUTS.items() if needs in allowed]


def _check_requirements(require: Collection[str]) -> None:
    unknown = sorted(set(require) - REQUIREMENTS)
    if unknown:
        raise ValueError(f"require contains {unknown[0]!r}; known requirements are {sorted(REQUIREMENTS)}")


def _extent(limit: int) -> st.SearchStrategy[int]:
    """An output extent, small most of the time, sometimes at a tile edge."""
    edges = [e for e in _TILE_EXTENTS if e <= limit]
    parts = [st.integers(1, min(limit, 6))]
    if edges:
        parts.append(st.sampled_from(edges))
    parts.append(st.integers(1, limit))
    return st.one_of(*parts)


def _param(draw: st.DrawFn, values: st.SearchStrategy[int]) -> int | Pair:
    """An int, or a pair whose elements may differ."""
    if draw(st.booleans()):
        return (draw(values), draw(values))
    return draw(values)


def _pair(value: int | Pair) -> Pair:
    return (value, value) if isinstance(value, int) else value


@st.composite
def conv_cases(
    draw: st.DrawFn,
    capabilities: Capabilities | None = None,
    *,
    device: str = "cpu",
    require: Collection[str] = (),
) -> ConvCase:
    """Consistent F.conv2d problems within ``capabilities``, on ``device``.

    Args:
        capabilities: what the target supports (default: the whole F.conv2d contract).
        device: ``"cpu"`` or ``"cuda"``.
        require: constraints from :data:`REQUIREMENTS`, e.g. ``{"grouped", "bias"}``.
    """
    caps = capabilities or Capabilities()
    _check_requirements(require)
    req = set(require)
    regime = _draw_regime(draw, caps, req)
    if regime == "production":
        return _production_case(draw, caps, device, req)
    groups, cin_g, cout_g = _draw_channels(draw, caps, req, regime)

    padding = _draw_padding(draw, caps, req)  # first, so that "same" can force stride 1
    kernel, stride, dilation = _draw_geometry(draw, caps, req, regime, padding)
    height, width = _draw_sizes(draw, padding, kernel, stride, dilation, REGIMES[regime].extent)
    batch = _draw_batch(draw, caps, req, REGIMES[regime].batches)
    if regime == "large":
        batch, height, width = _large_sizes(draw, cin_g * groups, height, width)

    # the shape field by field, by name as ConvCase takes it (so too in _production_case): alike in form only
    return _finish_case(
        draw,
        caps,
        req,
        device,
        batch=batch,
        in_channels=cin_g * groups,
        out_channels=cout_g * groups,
        height=height,
        width=width,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )


@dataclasses.dataclass(frozen=True)
class Regime:
    """The limits of one region of the problem space.

    Attributes:
        extent: the largest output extent drawn.
        kernel: the largest kernel extent drawn.
        batches: the batch sizes drawn beside 1-3 (tile widths for the ``wide`` regime).
    """

    extent: int
    kernel: int
    batches: tuple[int, ...]


#: Every regime's limits, in one table. ``production`` draws real network layers instead
#: (:data:`PRODUCTION_LAYERS`), ``large`` 2**16 .. 2**21 input elements.
REGIMES: dict[str, Regime] = {
    "small": Regime(extent=17, kernel=7, batches=_BATCHES),
    "channels": Regime(extent=9, kernel=3, batches=()),
    "spatial": Regime(extent=70, kernel=7, batches=_BATCHES),
    "wide": Regime(extent=4, kernel=3, batches=()),
    "batches": Regime(extent=5, kernel=3, batches=_TILE_BATCHES),
    "big-kernel": Regime(extent=6, kernel=11, batches=()),
    "large": Regime(extent=96, kernel=3, batches=()),
}
#: How often each regime is drawn (``small`` first: it is where shrinking goes).
_REGIME_WEIGHTS = (
    ("small",) * 3
    + ("channels",) * 2
    + ("spatial",) * 2
    + ("production",) * 6
    + ("batches",) * 2
    + ("wide", "big-kernel")
)


@dataclasses.dataclass(frozen=True)
class Layer:
    """A convolution layer as production networks use it, which libraries give their own fast paths."""

    name: str
    kernel: int
    stride: int
    padding: int
    depthwise: bool = False
    stem: bool = False


#: The layers real libraries pick dedicated kernels for (Winograd 3x3, 1x1 GEMM, depthwise, the stem).
PRODUCTION_LAYERS: tuple[Layer, ...] = (
    Layer("3x3/1/1", 3, 1, 1),
    Layer("3x3/1/1", 3, 1, 1),  # three times: the most common layer of all
    Layer("3x3/1/1", 3, 1, 1),
    Layer("3x3/2/1", 3, 2, 1),
    Layer("1x1/1", 1, 1, 0),
    Layer("1x1/2", 1, 2, 0),
    Layer("depthwise 3x3/1/1", 3, 1, 1, depthwise=True),
    Layer("depthwise 3x3/2/1", 3, 2, 1, depthwise=True),
    Layer("stem 7x7/2/3", 7, 2, 3, stem=True),
)


def _draw_padding(draw: st.DrawFn, caps: Capabilities, req: set[str]) -> int | Pair | str:
    """A padding in one of the declared forms the requirements allow: 0, an int, a pair, "same" or "valid"."""
    form = draw(st.sampled_from(_padding_forms(caps, req)))
    if form == "zero":
        return 0
    if form == "int":
        return draw(st.integers(0, 3))
    if form == "pair":
        return (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    return form


def _padding_forms(caps: Capabilities, req: set[str]) -> list[str]:
    """The padding forms the capabilities declare and the requirements allow, "zero" first."""
    forms = ["zero"]
    if "no-padding" not in req:
        forms += [f for f in ("int", "pair") if f in caps.padding]
        if "same" in caps.padding and not req & {"symmetric-padding", "strided"}:
            forms.append("same")
    if "valid" in caps.padding:
        forms.append("valid")
    if "numeric-padding" in req:
        forms = [f for f in forms if f in ("zero", "int", "pair")]
    if "padding-string" in req:
        forms = [f for f in forms if f in ("same", "valid")] or forms
    return forms


def _draw_geometry(
    draw: st.DrawFn, caps: Capabilities, req: set[str], regime: str, padding: int | Pair | str
) -> tuple[Pair, int | Pair, int | Pair]:
    """Kernel, stride and dilation within the regime's kernel limit."""
    max_k = REGIMES[regime].kernel
    if regime == "wide":  # 3x3 makes the wide channel counts reductions past 1024 and 4096
        kernel = (3, 3)
    else:
        kernel = (draw(st.integers(9 if regime == "big-kernel" else 1, max_k)), draw(st.integers(1, max_k)))
    stride: int | Pair = 1
    if caps.stride and "unit-stride" not in req:
        # drawn for "same" too (then set to 1), so that every padding form draws the same
        # sequence and a counterexample can shrink from "same" to zero padding
        stride = _param(draw, st.one_of(st.integers(1, 2), st.integers(1, 4)))
        if "strided" in req and max(_pair(stride)) == 1:
            stride = draw(st.sampled_from(_STRIDED))
        if padding == "same":
            stride = 1
    dilation: int | Pair = 1
    if caps.dilation and "unit-dilation" not in req:
        dilation = _param(draw, st.one_of(st.just(1), st.integers(1, 3)))
        if "dilated" in req and max(_pair(dilation)) == 1:
            dilation = draw(st.sampled_from(_DILATED))
    return kernel, stride, dilation


def _draw_sizes(
    draw: st.DrawFn,
    padding: int | Pair | str,
    kernel: Pair,
    stride: int | Pair,
    dilation: int | Pair,
    limit: int,
) -> tuple[int, int]:
    """The input's height and width, derived from an output extent drawn per axis (so every case is valid)."""
    s, d = _pair(stride), _pair(dilation)
    top, bottom, left, right = resolve_padding(padding, kernel, d)
    sizes = []
    for axis, pads in ((0, top + bottom), (1, left + right)):
        span = d[axis] * (kernel[axis] - 1) + 1
        if padding == "same":
            sizes.append(draw(_extent(limit)))
            continue
        # a single output row/column under a stride > 1 is its own kernel edge (torch 2.13's
        # oneDNN bfloat16 path computes it wrongly): drawn half the time
        out = 1 if s[axis] > 1 and draw(st.booleans()) else draw(_extent(limit))
        remainder = draw(st.integers(0, s[axis] - 1)) if s[axis] > 1 else 0
        size = (out - 1) * s[axis] + span - pads + remainder
        if size < 1:  # padding larger than needed: smallest input with this output
            size = 1 + remainder
        sizes.append(size)
    return sizes[0], sizes[1]


def _large_sizes(draw: st.DrawFn, channels: int, height: int, width: int) -> tuple[int, int, int]:
    """Batch, height and width for 2**16 to about 2**21 input elements (the output about as large)."""
    batch = draw(st.integers(1, 4))
    height = draw(st.sampled_from([96, 128, 181, 256, 300])) + height % 7
    width = draw(st.sampled_from([96, 128, 181, 256, 300])) + width % 5
    while batch > 1 and batch * channels * height * width > 3 * 2**20:
        batch -= 1
    while batch * channels * height * width < LARGE_ELEMENTS:
        batch += 1
    return batch, height, width


def _draw_regime(draw: st.DrawFn, caps: Capabilities, req: set[str]) -> str:
    if "large" in req:
        if caps.max_elements is not None and caps.max_elements < LARGE_ELEMENTS:
            raise ValueError(
                f"require={{'large'}} needs inputs of 2**{LARGE_ELEMENTS.bit_length() - 1} elements, "
                f"above the declared max_elements={caps.max_elements}"
            )
        return "large"
    weights = [r for r in _REGIME_WEIGHTS if r != "production" or _production_layers(caps, req)]
    return draw(st.sampled_from(weights))


def _production_layers(caps: Capabilities, req: set[str]) -> list[Layer]:
    """The production layers that the capabilities and requirements allow."""
    if req & {"dilated", "padding-string"}:
        return []
    allowed = list(PRODUCTION_LAYERS)
    if "int" not in caps.padding:
        allowed = [x for x in allowed if x.padding == 0]
    if "grouped" in req:
        allowed = [x for x in allowed if x.depthwise]
    if not caps.groups:
        allowed = [x for x in allowed if not x.depthwise]
    if "strided" in req:
        allowed = [x for x in allowed if x.stride > 1]
    if "unit-stride" in req or not caps.stride:
        allowed = [x for x in allowed if x.stride == 1]
    if "no-padding" in req:
        allowed = [x for x in allowed if x.padding == 0]
    return allowed


def _channel_count(draw: st.DrawFn) -> int:
    """A multiple of 4, 8, 16 or 32 (vector and tile widths), or one off it."""
    base = draw(st.sampled_from([4, 8, 16, 32])) * draw(st.integers(1, 2))
    return max(1, base + draw(st.sampled_from([0, 0, 0, 0, 0, 0, 1, -1])))


def _production_case(draw: st.DrawFn, caps: Capabilities, device: str, req: set[str]) -> ConvCase:
    """A production layer: its kernel, stride and padding, channel counts at vector widths, a small image."""
    layer = draw(st.sampled_from(_production_layers(caps, req)))
    if layer.depthwise:
        channels = _channel_count(draw)
        cin, cout, groups = channels, channels * draw(st.sampled_from([1, 1, 2])), channels
    else:
        cin = 3 if layer.stem else _channel_count(draw)
        cout, groups = _channel_count(draw), 1
    sizes = []
    for _ in range(2):
        out = 1 if layer.stride > 1 and draw(st.booleans()) else draw(_extent(9))
        sizes.append(
            max(
                1,
                (out - 1) * layer.stride
                + layer.kernel
                - 2 * layer.padding
                + draw(st.integers(0, layer.stride - 1)),
            )
        )
    return _finish_case(
        draw,
        caps,
        req,
        device,
        batch=_draw_batch(draw, caps, req, ()),
        in_channels=cin,
        out_channels=cout,
        height=sizes[0],
        width=sizes[1],
        kernel=(layer.kernel, layer.kernel),
        stride=layer.stride,
        padding=layer.padding,
        dilation=1,
        groups=groups,
    )


def _draw_channels(draw: st.DrawFn, caps: Capabilities, req: set[str], regime: str) -> tuple[int, int, int]:
    """(groups, input channels per group, output channels per group) for the regime."""
    if regime == "large" or not caps.groups:
        group_kind = "one"
    elif "grouped" in req:
        group_kind = draw(st.sampled_from(["grouped", "depthwise"]))
    else:
        group_kind = draw(st.sampled_from(["one", "grouped", "depthwise"]))
    if regime == "wide" and group_kind == "one":  # past 128 channels: reductions past 1024 and 4096 (3x3)
        return 1, draw(st.sampled_from([129, 130, 200, 115, 456, 520])), draw(st.integers(1, 3))
    wide = regime in ("channels", "wide")  # "batches" keeps the few channels of "small"
    per_group = st.one_of(st.sampled_from(_CHANNEL_COUNTS), st.integers(1, 80)) if wide else st.integers(1, 4)
    if group_kind == "one":
        limit = st.integers(1, 8) if regime == "large" else per_group
        return 1, draw(limit), draw(limit)
    if group_kind == "grouped":
        groups = draw(st.integers(2, 4) if not wide else st.sampled_from([2, 3, 4, 8]))
        return (
            groups,
            draw(st.integers(1, 3) if not wide else st.integers(1, 9)),
            draw(st.integers(1, 3) if not wide else st.integers(1, 9)),
        )
    low = 2 if "grouped" in req else 1  # depthwise, with a channel multiplier
    groups = draw(st.integers(low, 6) if not wide else st.sampled_from([8, 16, 17, 32, 33, 64, 65, 129]))
    return groups, 1, draw(st.sampled_from([1, 2, 3]))


def _draw_batch(draw: st.DrawFn, caps: Capabilities, req: set[str], batches: tuple[int, ...]) -> int | None:
    if "batched" not in req and caps.unbatched and draw(st.integers(0, 6)) == 0:
        return None
    if batches == _TILE_BATCHES:
        return draw(st.sampled_from(batches))
    if batches:
        return draw(st.one_of(st.integers(1, 3), st.sampled_from(batches)))
    return draw(st.integers(1, 2))


def _dtypes_and_layouts(caps: Capabilities, req: Collection[str]) -> tuple[list[str], list[str]]:
    """The dtypes and the layouts a case may be drawn in, within the capabilities and the requirements."""
    dtypes = dtypes_for(caps)
    if "float64" in req and "float64" in dtypes:
        dtypes = ["float64"]
    layouts = ["contiguous"] if "contiguous" in req else layouts_for(caps)
    return dtypes, layouts


def _finish_case(
    draw: st.DrawFn, caps: Capabilities, req: set[str], device: str, **shape: object
) -> ConvCase:
    """Draw bias, dtype, layouts and values for a case of the given shape, within the capabilities."""
    if "bias" in req:
        bias = True
    elif "no-bias" in req or not caps.bias:
        bias = False
    else:
        bias = draw(st.booleans())
    dtypes, layouts = _dtypes_and_layouts(caps, req)
    values = draw(st.sampled_from(_VALUES))
    case = ConvCase(
        **shape,  # type: ignore[arg-type]
        bias=bias,
        dtype=draw(st.sampled_from([d for d in dtypes for _ in range(_DTYPE_WEIGHT.get(d, 1))])),
        device=device,
        input_layout=draw(st.sampled_from(layouts)),
        weight_layout=draw(st.sampled_from(layouts)),
        bias_layout=draw(st.sampled_from([x for x in layouts if x in ("contiguous", "strided", "offset")])),
        values=values,
        exponent=_exponent(draw, values),
        seed=draw(st.integers(0, 2**31 - 1)),
    )
    if caps.max_elements is not None:  # the declared largest problem: stay below it
        assume(math.prod(case.input_shape) <= caps.max_elements)
    return case


# Deliberately the signature of conv_cases: both are drawn the same way, only of another kind.
@st.composite
def corr2d_cases(
    draw: st.DrawFn,
    capabilities: Capabilities | None = None,
    *,
    device: str = "cpu",
    require: Collection[str] = (),
) -> ConvCase:
    """Problems for a seed-style ``corr2d(X, K)``: a 2-D image and a 2-D kernel.

    A corr2d has no bias, batch, groups, stride, dilation or padding string: requiring
    one of those is an error naming it. Every other requirement is honoured (``large``
    draws images of 2**16 elements and more).
    """
    caps = capabilities or Capabilities()
    _check_requirements(require)
    impossible = sorted(set(require) & _CORR2D_IMPOSSIBLE)
    if impossible:
        raise ValueError(
            f"require contains {impossible[0]!r}, which a corr2d(X, K) case cannot meet "
            f"(it has no bias, batch, groups, stride, dilation or padding string)"
        )
    kernel = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    out_h, out_w = draw(_extent(33)), draw(_extent(33))
    if "large" in require:
        out_h, out_w = (
            draw(st.sampled_from([256, 300])) + out_h % 7,
            draw(st.sampled_from([256, 300])) + out_w % 5,
        )
    dtypes, layouts = _dtypes_and_layouts(caps, require)
    values = draw(st.sampled_from(_VALUES))
    return ConvCase(
        batch=None,
        in_channels=1,
        out_channels=1,
        height=out_h + kernel[0] - 1,
        width=out_w + kernel[1] - 1,
        kernel=kernel,
        dtype=draw(st.sampled_from(dtypes)),
        device=device,
        input_layout=draw(st.sampled_from(layouts)),
        weight_layout=draw(st.sampled_from(layouts)),
        values=values,
        exponent=_exponent(draw, values),
        seed=draw(st.integers(0, 2**31 - 1)),
        kind="corr2d",
    )
