"""The grid layout of a convolution's padded input, and the arrangements of the input in it."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from conv2d._core import tuning
from conv2d._validation import Padding4, Pair

__all__ = ["Geometry", "arrange", "arranged_cells", "frame", "geometry", "image_chunks", "unarrange"]


@dataclasses.dataclass(frozen=True)
class Geometry:
    """One convolution's shapes, and the flat grid layout of its padded input.

    Each image (and, for stride > 1, each of the ``sh * sw`` stride phases of it)
    is stored as an ``hq x wq`` grid of cells; output pixel ``(oh, ow)`` sits at
    cell ``oh * wq + ow`` of its image's grid and tap ``t`` reads the cell
    ``offsets[t]`` further on in phase grid ``phases[t]``. With stride 1 the grids
    are frames holding the image at its top-left padding offset, and the zeros
    after one row (or image) double as the padding before the next, so a grid is
    only ``max(pad)`` wider than the image rather than ``sum(pad)``; reads past
    the last image run into ``tail`` zero cells. With stride > 1 each phase grid
    is self-contained and only its first ``span`` cells are computed. Cells
    outside the ``ho x wo`` output are computed too and then dropped.

    ``im2col`` marks an arrangement that holds every tap's input values for
    each output pixel, multiplied in one product; in the channels-last one the
    grid is then exactly the output.
    """

    n: int
    c: int
    h: int
    w: int
    o: int
    groups: int
    kernel: Pair
    stride: Pair
    pads: Padding4
    dilation: Pair
    fmt: torch.memory_format
    ho: int
    wo: int
    hq: int
    wq: int
    phases: tuple[int, ...]
    offsets: tuple[int, ...]
    span: int
    tail: int
    im2col: bool = False


def geometry(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: Pair,
    pads: Padding4,
    dilation: Pair,
    groups: int,
    fmt: torch.memory_format,
) -> Geometry:
    """The grid layout for this call (see :class:`Geometry`)."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    (sh, sw), (dh, dw) = stride, dilation
    pt, pb, pl, pr = pads
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    taps = [(i, j) for i in range(kh) for j in range(kw)]
    shape = (n, c, h, w, o, groups, (kh, kw), stride, pads, dilation, fmt, ho, wo)
    if (sh, sw) == (1, 1):
        hq, wq = max(h + max(pt, pb), ho), max(w + max(pl, pr), wo)
        offsets = tuple(i * dh * wq + j * dw for i, j in taps)
        return Geometry(*shape, hq, wq, (0,) * len(taps), offsets, hq * wq, max(offsets))
    hq, wq = ho + dh * (kh - 1) // sh, wo + dw * (kw - 1) // sw
    phases = tuple(((i * dh) % sh) * sw + (j * dw) % sw for i, j in taps)
    offsets = tuple(((i * dh) // sh) * wq + (j * dw) // sw for i, j in taps)
    return Geometry(*shape, hq, wq, phases, offsets, hq * wq - max(offsets), 0)


def frame(
    x: torch.Tensor, hq: int, wq: int, top: int, left: int, tail: int, channels_last: bool
) -> torch.Tensor:
    """``x`` at offset ``(top, left)`` in zero ``hq x wq`` frames, flattened, with ``tail`` zero cells after."""
    n, c, h, w = x.shape
    cells = n * c * hq * wq
    buf = x.new_empty(cells + tail * (c if channels_last else 1))
    if channels_last:
        grid = buf[:cells].view(n, hq, wq, c).permute(0, 3, 1, 2)
    else:
        grid = buf[:cells].view(n, c, hq, wq)
    buf[cells:].zero_()
    grid[:, :, :top].zero_()
    grid[:, :, top + h :].zero_()
    grid[:, :, top : top + h, :left].zero_()
    grid[:, :, top : top + h, left + w :].zero_()
    grid[:, :, top : top + h, left : left + w] = x
    return buf


def arrange(x: torch.Tensor, geo: Geometry, channels_last: bool) -> torch.Tensor:
    """``x`` laid out in ``geo``'s grids, flattened (cells of C values, or C planes of cells)."""
    (sh, sw), (pt, _, pl, _) = geo.stride, geo.pads
    if (sh, sw) == (1, 1):
        return frame(x, geo.hq, geo.wq, pt, pl, geo.tail, channels_last)
    padded = F.pad(x, (pl, sw * geo.wq - geo.w - pl, pt, sh * geo.hq - geo.h - pt))
    split = padded.reshape(geo.n, geo.c, geo.hq, sh, geo.wq, sw)
    return split.permute((3, 5, 0, 2, 4, 1) if channels_last else (3, 5, 0, 1, 2, 4)).reshape(-1)


def arranged_cells(geo: Geometry) -> int:
    """How many cells (of ``C`` values each) :func:`arrange` lays out for ``geo``."""
    if geo.stride == (1, 1):
        return geo.n * geo.hq * geo.wq + geo.tail
    return geo.stride[0] * geo.stride[1] * geo.n * geo.hq * geo.wq


def unarrange(flat: torch.Tensor, geo: Geometry, channels_last: bool) -> torch.Tensor:
    """The adjoint of :func:`arrange`: the input-shaped tensor (often a view) whose arrangement is ``flat``."""
    n, c, h, w = geo.n, geo.c, geo.h, geo.w
    (sh, sw), (pt, _, pl, _) = geo.stride, geo.pads
    if (sh, sw) == (1, 1):
        cells = flat[: n * c * geo.hq * geo.wq]
        if channels_last:
            frame = cells.view(n, geo.hq, geo.wq, c).permute(0, 3, 1, 2)
        else:
            frame = cells.view(n, c, geo.hq, geo.wq)
        return frame[:, :, pt : pt + h, pl : pl + w]
    if channels_last:
        split = flat.view(sh, sw, n, geo.hq, geo.wq, c).permute(2, 5, 3, 0, 4, 1)
    else:
        split = flat.view(sh, sw, n, c, geo.hq, geo.wq).permute(2, 3, 4, 0, 5, 1)
    padded = split.reshape(n, c, sh * geo.hq, sw * geo.wq)
    return F.pad(padded, (-pl, pl + w - sw * geo.wq, -pt, pt + h - sh * geo.hq))


def image_chunks(geo: Geometry, x: torch.Tensor) -> list[tuple[int, int]]:
    """Image ranges covering the batch: on CPU each range's arrangement stays within ``tuning.CHUNK_BYTES``
    (fresh multi-megabyte buffers cost page faults on every call, small ones are reused); otherwise one range."""
    if x.device.type != "cpu":
        return [(0, geo.n)] if geo.n else []
    if geo.im2col:
        cells = geo.ho * geo.wo * geo.kernel[0] * geo.kernel[1]
    else:
        cells = geo.hq * geo.wq * geo.stride[0] * geo.stride[1]
    step = max(1, tuning.CHUNK_BYTES // (x.element_size() * geo.c * cells))
    return [(n0, min(geo.n, n0 + step)) for n0 in range(0, geo.n, step)]
