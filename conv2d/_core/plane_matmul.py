"""The plane im2col strategy: few input channels per group, one product per group, channels-first."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from conv2d._core.autograd import BackwardCall, Gradients, Strategy
from conv2d._core.geometry import Geometry, arrange, image_chunks, unarrange

__all__ = ["PlaneMatmul", "plane_columns", "scatter_phases", "scatter_taps"]


def scatter_taps(padded: torch.Tensor, shares: torch.Tensor, geo: Geometry) -> None:
    """``padded[..., window(i, j)] += shares[i, j]`` for every kernel tap, the adjoint of gathering the windows.

    ``padded`` is ``(N, G, Cg, Hp, Wp)`` (any memory layout) and ``shares`` is
    ``(kh, kw, N, G, Cg, Ho, Wo)``.
    """
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (geo.ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (geo.wo - 1) + 1, sw)
            padded[:, :, :, rows, cols] += shares[i, j]


def scatter_phases(shares: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The adjoint of gathering strided windows from the stride phases (see :func:`plane_columns`).

    ``shares`` is ``(kh, kw, N, G, Cg, Ho, Wo)``; each tap's share is added into
    its phase grid at its offset, a window of contiguous rows, and the phase
    grids are then laid back as the input-shaped gradient.
    """
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    g = geo.groups
    flat = shares.new_zeros(sh * sw * geo.n * geo.c * geo.hq * geo.wq)
    phases = flat.view(sh, sw, geo.n, g, geo.c // g, geo.hq, geo.wq)
    for i in range(kh):
        for j in range(kw):
            oi, oj = (i * dh) // sh, (j * dw) // sw
            phase = phases[(i * dh) % sh, (j * dw) % sw]
            phase[..., oi : oi + geo.ho, oj : oj + geo.wo] += shares[i, j]
    return unarrange(flat, geo, channels_last=False)


def plane_columns(x: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """im2col on pixel planes: ``(G, kh * kw * Cg, N * Ho * Wo)``, one kernel tap's windows per row block.

    With stride > 1 the windows are cut from the stride phases of the padded
    input (see :class:`Geometry`), so that every copied run is contiguous; the
    taps reading one phase form a regular grid of window offsets, gathered by a
    single strided copy.
    """
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    pt, pb, pl, pr = geo.pads
    n, c, g = geo.n, geo.c, geo.groups
    if (sh, sw) == (1, 1):
        flat, hq, wq = F.pad(x, (pl, pr, pt, pb)).reshape(-1), geo.h + pt + pb, geo.w + pl + pr
    else:
        flat, hq, wq = arrange(x, geo, channels_last=False), geo.hq, geo.wq
    plane = hq * wq
    cols = x.new_empty(kh, kw, g, c // g, n, geo.ho, geo.wo)
    for a in range(sh):
        rows = [i for i in range(kh) if (i * dh) % sh == a]
        for b in range(sw):
            taps = [j for j in range(kw) if (j * dw) % sw == b]
            if not rows or not taps:
                continue
            i_step = rows[1] - rows[0] if len(rows) > 1 else 1
            j_step = taps[1] - taps[0] if len(taps) > 1 else 1
            start = (a * sw + b) * n * c * plane + (rows[0] * dh) // sh * wq + (taps[0] * dw) // sw
            windows = flat.as_strided(
                (len(rows), len(taps), g, c // g, n, geo.ho, geo.wo),
                (i_step * dh // sh * wq, j_step * dw // sw, c // g * plane, plane, c * plane, wq, 1),
                flat.storage_offset() + start,
            )
            cols[rows[0] : rows[-1] + 1 : i_step, taps[0] : taps[-1] + 1 : j_step] = windows
    return cols.permute(2, 0, 1, 3, 4, 5, 6).reshape(g, kh * kw * (c // g), n * geo.ho * geo.wo)


class PlaneMatmul(Strategy):
    """Convolution with few input channels per group, as im2col on pixel planes and one product per group.

    Everything stays channels-first: the columns are ``(G, K, pixels)`` with
    ``K = kh * kw * Cg`` (tap-major), ``weight`` is ``(G, Og, K)`` in the same
    order, and ``weight @ columns`` is the output with its channels first, so
    neither the input nor the output is transposed through memory. On CPU
    the batch runs in chunks of images, and the columns are rebuilt for the
    backward pass rather than kept.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = x.new_empty(geo.n, geo.o, geo.ho, geo.wo)
        pixels = geo.ho * geo.wo
        for n0, n1 in image_chunks(geo, x):
            sub = dataclasses.replace(geo, n=n1 - n0)
            cols = plane_columns(x[n0:n1], sub)
            if geo.groups == 1:  # one product per image, written straight into the output's planes
                per_image = cols[0].view(-1, sub.n, pixels).transpose(0, 1)
                weight = taps.expand(sub.n, -1, -1)
                target = out[n0:n1].view(sub.n, geo.o, pixels)
                if bias is None:
                    torch.bmm(weight, per_image, out=target)
                else:
                    torch.baddbmm(bias.view(1, -1, 1).expand_as(target), weight, per_image, out=target)
                continue
            prod = torch.bmm(taps, cols).view(geo.o, sub.n, geo.ho, geo.wo)
            if bias is None:
                out[n0:n1] = prod.transpose(0, 1)
            else:
                torch.add(prod.transpose(0, 1), bias.view(1, -1, 1, 1), out=out[n0:n1])
        return out, []

    @staticmethod
    def backward(call: BackwardCall) -> Gradients:
        x, taps, grad, geo, shape = call.x, call.taps, call.grad, call.geo, call.shape
        g, og, _ = shape
        (kh, kw), (pt, pb, pl, pr), cg = geo.kernel, geo.pads, geo.c // g
        d_x = grad.new_empty(geo.n, geo.c, geo.h, geo.w) if call.need_x else None
        d_w = grad.new_zeros(shape) if call.need_w else None
        for n0, n1 in image_chunks(geo, grad):
            sub = dataclasses.replace(geo, n=n1 - n0)
            gm = grad[n0:n1].reshape(n1 - n0, g, og, -1).permute(1, 2, 0, 3).reshape(g, og, -1)
            if d_w is not None:
                assert x is not None
                d_w.baddbmm_(gm, plane_columns(x[n0:n1], sub).transpose(1, 2))
            if d_x is not None:
                assert taps is not None
                shares = torch.bmm(taps.transpose(1, 2), gm).view(g, kh, kw, cg, sub.n, geo.ho, geo.wo)
                shares = shares.permute(1, 2, 4, 0, 3, 5, 6)
                if geo.stride != (1, 1):
                    d_x[n0:n1] = scatter_phases(shares, sub)
                    continue
                padded = grad.new_zeros(sub.n, g, cg, geo.h + pt + pb, geo.w + pl + pr)
                scatter_taps(padded, shares, sub)
                d_x[n0:n1] = padded.view(sub.n, geo.c, geo.h + pt + pb, -1)[
                    :, :, pt : pt + geo.h, pl : pl + geo.w
                ]
        return d_x, d_w
