"""How F.conv_transpose2d problems are drawn: the conv2d regimes, decoders' layers, an output padding."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from hypothesis import strategies as st

from conv2d.gate.capabilities import Capabilities
from conv2d.gate.case import ConvCase, Pair
from conv2d.gate.strategies._base import (
    REGIMES,
    _check_requirements,
    _draw_batch,
    _draw_channels,
    _draw_geometry,
    _draw_padding,
    _draw_regime,
    _extent,
    _finish_case,
    _large_sizes,
    _pair,
)

__all__ = ["TRANSPOSED_LAYERS", "conv_transpose_cases"]

#: Transposed layers of real decoders: DCGAN's 4x4/2/1, the 3x3/2/1 upsampling that needs
#: output_padding=1 to double the size, U-Net's 2x2/2/0, and a stride-1 3x3/1/1.
TRANSPOSED_LAYERS: tuple[tuple[str, int, int, int, int], ...] = (
    ("4x4/2/1", 4, 2, 1, 0),
    ("3x3/2/1 output_padding=1", 3, 2, 1, 1),
    ("2x2/2/0", 2, 2, 0, 0),
    ("3x3/1/1", 3, 1, 1, 0),
)


def _draw_output_padding(
    draw: st.DrawFn, req: set[str], stride: int | Pair, dilation: int | Pair
) -> int | Pair:
    """An output padding below max(stride, dilation) per axis, as F.conv_transpose2d requires; an
    int or a pair. Zero under "symmetric-padding" (it pads one side only)."""
    if "symmetric-padding" in req:
        return 0
    s, d = _pair(stride), _pair(dilation)
    # under "dilated", below the stride: the zero-inserted kernel's call at dilation 1 must be valid too
    limits = [(s[a] if "dilated" in req else max(s[a], d[a])) - 1 for a in (0, 1)]
    if draw(st.booleans()):
        return (draw(st.integers(0, limits[0])), draw(st.integers(0, limits[1])))
    return draw(st.integers(0, min(limits)))


def _layer_geometry(
    caps: Capabilities, req: set[str], layer: tuple[str, int, int, int, int]
) -> tuple[Pair, int | Pair, int | Pair, int | Pair, int | Pair]:
    """Kernel, stride, padding, dilation and output padding of a decoder's layer."""
    _, k, stride, padding, extra = layer
    if "no-padding" in req or "int" not in caps.padding:
        padding = 0
    return (k, k), stride, padding, 1, 0 if "symmetric-padding" in req else extra


def _geometry(
    draw: st.DrawFn, caps: Capabilities, req: set[str], regime: str
) -> tuple[str, tuple[Pair, int | Pair, int | Pair, int | Pair, int | Pair]]:
    """The regime (a production layer draws the channels of ``channels``) and the call's geometry."""
    if regime == "production":
        layers = [x for x in TRANSPOSED_LAYERS if not ("unit-stride" in req and x[2] > 1)]
        layers = [x for x in layers if not ("strided" in req and x[2] == 1)]
        if layers:
            return "channels", _layer_geometry(caps, req, draw(st.sampled_from(layers)))
        regime = "small"
    padding = _draw_padding(draw, caps, req)
    kernel, stride, dilation = _draw_geometry(draw, caps, req, regime, padding)
    assert not isinstance(padding, str)
    return regime, (kernel, stride, padding, dilation, _draw_output_padding(draw, req, stride, dilation))


# Deliberately the signature of conv_cases: both are drawn the same way, only of another kind.
@st.composite
def conv_transpose_cases(
    draw: st.DrawFn,
    capabilities: Capabilities | None = None,
    *,
    device: str = "cpu",
    require: Collection[str] = (),
) -> ConvCase:
    """F.conv_transpose2d problems within ``capabilities``, on ``device``.

    The same regimes as :func:`~conv2d.gate.strategies.conv_cases` (channels, groups, kernels,
    strides, dilations, batches, dtypes, layouts, values), plus decoders' production layers and
    an ``output_padding`` below max(stride, dilation) per axis. The input size is drawn and the
    padding kept small enough that the output has at least one element.
    """
    caps = capabilities or Capabilities()
    # F.conv_transpose2d takes no padding string
    caps = dataclasses.replace(caps, padding=tuple(p for p in caps.padding if p in ("int", "pair")))
    _check_requirements(require)
    req = set(require)
    if "padding-string" in req:
        raise ValueError("require contains 'padding-string', which F.conv_transpose2d does not take")
    regime, geometry = _geometry(draw, caps, req, _draw_regime(draw, caps, req))
    kernel, stride, padding, dilation, output_padding = geometry
    groups, cin_g, cout_g = _draw_channels(draw, caps, req, regime)
    s, d, p, op = _pair(stride), _pair(dilation), _pair(padding), _pair(output_padding)
    sizes = []
    for a in (0, 1):
        # the smallest input whose output has one element, then a drawn extent beyond it
        low = max(1, -(-(2 * p[a] - d[a] * (kernel[a] - 1) - op[a]) // s[a]) + 1)
        sizes.append(low + draw(_extent(REGIMES[regime].extent)) - 1)
    batch = _draw_batch(draw, caps, req, REGIMES[regime].batches)
    if regime == "large":
        batch, big_h, big_w = _large_sizes(draw, cin_g * groups, sizes[0], sizes[1])
        sizes = [max(sizes[0], big_h // s[0]), max(sizes[1], big_w // s[1])]
    return _finish_case(
        draw,
        caps,
        req,
        device,
        batch=batch,
        in_channels=cin_g * groups,
        out_channels=cout_g * groups,
        height=sizes[0],
        width=sizes[1],
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        kind="conv_transpose2d",
        output_padding=output_padding,
    )
