"""How F.conv1d and F.conv3d problems are drawn: the conv2d regimes over one or three spatial axes.

Channels, groups, batches, dtypes, layouts and values are drawn exactly as for conv2d
(:mod:`conv2d.gate.strategies._base`). Per spatial axis the kernel, stride, dilation and
padding are drawn as for one axis of a conv2d, as an int or a tuple with one entry per axis.
A conv3d's axes stay short (its reductions grow with the cube of the kernel); a conv1d's reach
the lengths of audio frames. Production layers are those of sequence and video models.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from hypothesis import strategies as st

from conv2d.gate.capabilities import Capabilities
from conv2d.gate.case import ConvCase, Padding, Sizes, as_tuple, resolve_pads, spatial_rank
from conv2d.gate.strategies._base import (
    REGIMES,
    _check_requirements,
    _draw_batch,
    _draw_channels,
    _draw_regime,
    _extent,
    _finish_case,
    _padding_forms,
)
from conv2d.gate.vocabulary import LARGE_ELEMENTS

__all__ = ["SPATIAL_LAYERS", "conv_nd_cases"]

#: (name, kernel, stride, padding, depthwise) of real sequence (conv1d) and video (conv3d) layers:
#: wav2vec's feature encoder 10/5 and 3/2, a conformer's depthwise 31/1/15, a 3/1/1 and a 1x1;
#: C3D's 3x3x3/1/1, R(2+1)D's spatial (1, 3, 3) and temporal (3, 1, 1) parts, a strided stem.
SPATIAL_LAYERS: dict[int, tuple[tuple[str, Sizes, Sizes, Sizes, bool], ...]] = {
    1: (
        ("10/5/0", (10,), (5,), (0,), False),
        ("3/2/0", (3,), (2,), (0,), False),
        ("3/1/1", (3,), (1,), (1,), False),
        ("1/1/0", (1,), (1,), (0,), False),
        ("depthwise 31/1/15", (31,), (1,), (15,), True),
    ),
    3: (
        ("3x3x3/1/1", (3, 3, 3), (1, 1, 1), (1, 1, 1), False),
        ("1x3x3/1/(0,1,1)", (1, 3, 3), (1, 1, 1), (0, 1, 1), False),
        ("3x1x1/1/(1,0,0)", (3, 1, 1), (1, 1, 1), (1, 0, 0), False),
        ("stem 3x7x7/(1,2,2)/(1,3,3)", (3, 7, 7), (1, 2, 2), (1, 3, 3), False),
        ("1x1x1/1/0", (1, 1, 1), (1, 1, 1), (0, 0, 0), False),
        ("depthwise 3x3x3/1/1", (3, 3, 3), (1, 1, 1), (1, 1, 1), True),
    ),
}
#: The longest extent and kernel per axis of a conv3d (a cube of them is summed per output).
_CUBE_EXTENT, _CUBE_KERNEL = 6, 3
#: The longest conv1d kernel drawn (past the register-tile widths 16 and 32).
_LONG_KERNEL = 40


def _per_axis(draw: st.DrawFn, rank: int, values: st.SearchStrategy[int]) -> int | Sizes:
    """An int, or a tuple with one entry per axis whose entries may differ."""
    if draw(st.booleans()):
        return tuple(draw(values) for _ in range(rank))
    return draw(values)


def _draw_padding(draw: st.DrawFn, caps: Capabilities, req: set[str], rank: int) -> Padding:
    """0, an int, a tuple, "same" or "valid", as declared and required."""
    form = draw(st.sampled_from(_padding_forms(caps, req)))
    if form in ("same", "valid"):
        return form
    return 0 if form == "zero" else _per_axis(draw, rank, st.integers(0, 3))


def _draw_geometry(
    draw: st.DrawFn, caps: Capabilities, req: set[str], rank: int, regime: str, padding: Padding
) -> tuple[Sizes, int | Sizes, int | Sizes]:
    """Kernel, stride and dilation per axis within the regime's kernel limit."""
    max_k = REGIMES[regime].kernel if rank == 1 else min(REGIMES[regime].kernel, _CUBE_KERNEL)
    low = 1
    if (
        regime == "big-kernel" and rank == 1
    ):  # sequence models' long kernels: a conformer's 31, past 16 and 32
        low, max_k = 9, _LONG_KERNEL
    kernel = tuple(draw(st.integers(low, max_k)) for _ in range(rank))
    stride: int | Sizes = 1
    if caps.stride and "unit-stride" not in req:
        stride = _per_axis(draw, rank, st.integers(1, 3))
        if "strided" in req and max(as_tuple(stride, rank)) == 1:
            stride = (1,) * (rank - 1) + (2,)
        if padding == "same":
            stride = 1
    dilation: int | Sizes = 1
    if caps.dilation and "unit-dilation" not in req:
        dilation = _per_axis(draw, rank, st.one_of(st.just(1), st.integers(1, 3)))
        if "dilated" in req and max(as_tuple(dilation, rank)) == 1:
            dilation = (2,) + (1,) * (rank - 1)
    return kernel, stride, dilation


def _draw_sizes(
    draw: st.DrawFn, padding: Padding, kernel: Sizes, stride: int | Sizes, dilation: int | Sizes, limit: int
) -> Sizes:
    """The input's spatial size, derived from an output extent drawn per axis (so every case is valid)."""
    rank = len(kernel)
    s, d = as_tuple(stride, rank), as_tuple(dilation, rank)
    sizes = []
    for axis, pads in enumerate(resolve_pads(padding, kernel, d)):
        out = draw(_extent(limit))
        if padding == "same":
            sizes.append(out)
            continue
        remainder = draw(st.integers(0, s[axis] - 1)) if s[axis] > 1 else 0
        size = (out - 1) * s[axis] + d[axis] * (kernel[axis] - 1) + 1 - sum(pads) + remainder
        sizes.append(max(size, 1 + remainder))
    return tuple(sizes)


def _layer(draw: st.DrawFn, caps: Capabilities, req: set[str], rank: int) -> dict[str, object] | None:
    """A production layer's geometry and channels, or None when the requirements rule all out."""
    layers = list(SPATIAL_LAYERS[rank])
    if req & {"dilated", "padding-string"} or ("int" not in caps.padding and "pair" not in caps.padding):
        return None
    layers = [x for x in layers if not ("strided" in req and max(x[2]) == 1)]
    layers = [x for x in layers if not (("unit-stride" in req or not caps.stride) and max(x[2]) > 1)]
    layers = [x for x in layers if not ("no-padding" in req and max(x[3]) > 0)]
    if "grouped" in req:  # the depthwise layers only
        layers = [x for x in layers if x[4]]
    elif not caps.groups:
        layers = [x for x in layers if not x[4]]
    if not layers:
        return None
    _, kernel, stride, padding, depthwise = draw(st.sampled_from(layers))
    channels = draw(st.sampled_from([8, 16, 32, 33]))
    cin, cout, groups = (
        (channels, channels, channels) if depthwise else (channels, draw(st.sampled_from([8, 17])), 1)
    )
    limit = 9 if rank == 1 else 4
    sizes = tuple(
        max(1, (draw(_extent(limit)) - 1) * s + k - 2 * p)
        for k, s, p in zip(kernel, stride, padding, strict=True)
    )
    return {
        "in_channels": cin,
        "out_channels": cout,
        "groups": groups,
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": 1,
        "sizes": sizes,
    }


def _large(draw: st.DrawFn, channels: int, rank: int) -> tuple[int, Sizes]:
    """Batch and spatial size for 2**16 and more input elements."""
    batch = draw(st.integers(1, 2))
    if rank == 1:
        length = -(-LARGE_ELEMENTS // (batch * channels)) + draw(st.integers(0, 4096))
        return batch, (length,)
    edge = math.ceil((LARGE_ELEMENTS / (batch * channels)) ** (1 / 3)) + draw(st.integers(0, 6))
    return batch, (edge, edge + draw(st.integers(0, 3)), edge + draw(st.integers(0, 3)))


# Deliberately the signature of conv_cases: all are drawn the same way, only of another kind.
@st.composite
def conv_nd_cases(
    draw: st.DrawFn,
    capabilities: Capabilities | None = None,
    *,
    device: str = "cpu",
    require: Collection[str] = (),
    kind: str = "conv1d",
) -> ConvCase:
    """F.conv1d (``kind="conv1d"``) or F.conv3d (``kind="conv3d"``) problems within ``capabilities``."""
    rank = spatial_rank(kind)
    if rank == 2:
        raise ValueError(f"kind={kind!r}; conv_nd_cases draws 'conv1d' or 'conv3d' cases")
    caps = capabilities or Capabilities()
    _check_requirements(require)
    req = set(require)
    regime = _draw_regime(draw, caps, req)
    layer = _layer(draw, caps, req, rank) if regime == "production" else None
    if layer is None:
        regime = "small" if regime == "production" else regime
        groups, cin_g, cout_g = _draw_channels(draw, caps, req, regime)
        padding = _draw_padding(draw, caps, req, rank)
        kernel, stride, dilation = _draw_geometry(draw, caps, req, rank, regime, padding)
        limit = REGIMES[regime].extent if rank == 1 else min(REGIMES[regime].extent, _CUBE_EXTENT)
        layer = {
            "in_channels": cin_g * groups,
            "out_channels": cout_g * groups,
            "groups": groups,
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "sizes": _draw_sizes(draw, padding, kernel, stride, dilation, limit),
        }
    batch = _draw_batch(draw, caps, req, REGIMES.get(regime, REGIMES["channels"]).batches)
    sizes = layer.pop("sizes")
    assert isinstance(sizes, tuple)
    if regime == "large":
        batch, big = _large(draw, int(layer["in_channels"]), rank)  # type: ignore[call-overload]
        sizes = tuple(max(a, b) for a, b in zip(sizes, big, strict=True))
    full = (1,) * (3 - rank) + sizes
    return _finish_case(
        draw, caps, req, device, batch=batch, depth=full[0], height=full[1], width=full[2], kind=kind, **layer
    )
