"""The shifted matmul strategy: a sum of matrix products over a channels-last arrangement of the input."""

from __future__ import annotations

import dataclasses

import torch

from conv2d._core import tuning
from conv2d._core.autograd import BackwardCall, Gradients, Strategy
from conv2d._core.geometry import Geometry, arrange, arranged_cells, frame, image_chunks, unarrange
from conv2d._core.plane_matmul import scatter_taps

__all__ = ["ShiftedMatmul", "blocks", "col2im", "im2col", "product", "row_shifts", "source"]


def im2col(x: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """Every output pixel's receptive field as one row, ordered (group, tap row, tap column, channel)."""
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    pt, pb, pl, pr = geo.pads
    hp, wp = geo.h + pt + pb, geo.w + pl + pr
    padded = frame(x, hp, wp, pt, pl, 0, channels_last=True).view(geo.n, hp, wp, geo.c)
    cols = padded.unfold(1, dh * (kh - 1) + 1, sh).unfold(2, dw * (kw - 1) + 1, sw)[..., ::dh, ::dw]
    cols = cols.reshape(geo.n, geo.ho, geo.wo, geo.groups, geo.c // geo.groups, kh, kw)
    return cols.permute(0, 1, 2, 3, 5, 6, 4).reshape(geo.n * geo.ho * geo.wo, geo.c * kh * kw)


def col2im(taps: torch.Tensor, gm: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The input gradient of a channels-last im2col product, as an input-shaped view.

    ``taps`` is the ``(1, G, K, Og)`` weight of the product and ``gm`` the
    ``(rows, G * Og)`` output gradient: ``gm @ taps^T`` is formed once, and each
    kernel tap's share of it is added into a zero-padded channels-last input
    with one strided add.
    """
    (kh, kw), (pt, pb, pl, pr) = geo.kernel, geo.pads
    n, g, cg, hp, wp = geo.n, geo.groups, geo.c // geo.groups, geo.h + pt + pb, geo.w + pl + pr
    cols = gm.new_empty(gm.shape[0], geo.c * kh * kw)
    product(cols, gm, taps[0].transpose(-1, -2), accumulate=False)
    shares = cols.view(n, geo.ho, geo.wo, g, kh, kw, cg).permute(4, 5, 0, 3, 6, 1, 2)
    padded = gm.new_zeros(n, hp, wp, g, cg).permute(0, 3, 4, 1, 2)
    scatter_taps(padded, shares, geo)
    return padded.reshape(n, geo.c, hp, wp)[:, :, pt : pt + geo.h, pl : pl + geo.w]


class ShiftedMatmul(Strategy):
    """Convolution as a sum of matrix products over a channels-last arrangement of the input.

    The arrangement is a matrix of ``R`` rows (grid cells, or im2col rows) by
    ``G * K`` columns; tap ``t`` reads the contiguous row block starting at
    ``shift[t]``, so ``grid = sum_t src[shift_t : shift_t + valid] @ taps[t]``
    (per group) with ``taps`` of shape ``(T, G, K, Og)``, and no copy per tap.
    The grid is then cropped to the output, the bias added on the way. On CPU
    the batch is processed in chunks of images whose arrangement stays small
    (see :func:`image_chunks`); im2col arrangements are rebuilt for the
    backward pass rather than kept.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = torch.empty(
            (geo.n, geo.o, geo.ho, geo.wo), dtype=x.dtype, device=x.device, memory_format=geo.fmt
        )
        kept = []
        for n0, n1 in image_chunks(geo, x):
            sub = dataclasses.replace(geo, n=n1 - n0)
            src = source(x[n0:n1], sub)
            shifts, valid = row_shifts(sub)
            grid = src.new_empty(sub.n * sub.hq * sub.wq, sub.o)
            grid[valid:].zero_()
            for r0, r1 in blocks(valid, grid, len(shifts)):
                for t, shift in enumerate(shifts):
                    product(grid[r0:r1], src[shift + r0 : shift + r1], taps[t], accumulate=t > 0)
            cropped = grid.view(sub.n, sub.hq, sub.wq, sub.o)[:, : sub.ho, : sub.wo].permute(0, 3, 1, 2)
            if bias is None:
                out[n0:n1] = cropped
            else:
                torch.add(cropped, bias.view(1, -1, 1, 1), out=out[n0:n1])
            if not geo.im2col:
                kept.append(src)
        return out, kept

    @staticmethod
    def backward(call: BackwardCall) -> Gradients:
        x, taps, grad, geo, shape = call.x, call.taps, call.grad, call.geo, call.shape
        _, g, k, og = shape
        d_x = d_taps = None
        if call.need_x:
            d_x = torch.empty(
                (geo.n, geo.c, geo.h, geo.w), dtype=grad.dtype, device=grad.device, memory_format=geo.fmt
            )
        if call.need_w:
            d_taps = grad.new_zeros(shape)
        for i, (n0, n1) in enumerate(image_chunks(geo, grad)):
            sub = dataclasses.replace(geo, n=n1 - n0)
            shifts, valid = row_shifts(sub)
            grid = grad.new_empty(sub.n, sub.hq, sub.wq, sub.o)
            grid[:, sub.ho :].zero_()
            grid[:, : sub.ho, sub.wo :].zero_()
            grid[:, : sub.ho, : sub.wo] = grad[n0:n1].permute(0, 2, 3, 1)
            gm = grid.view(-1, sub.o)[:valid]
            if d_x is not None and geo.im2col:
                assert taps is not None
                d_x[n0:n1] = col2im(taps, gm, sub)
            elif d_x is not None:
                assert taps is not None
                adjoint = taps.transpose(-1, -2)
                d_src = grad.new_empty(arranged_cells(sub), sub.c)
                for r0, r1 in blocks(d_src.shape[0], d_src, len(shifts)):
                    d_src[r0:r1].zero_()
                    for t, shift in enumerate(shifts):
                        q0, q1 = max(0, r0 - shift), min(valid, r1 - shift)
                        if q0 < q1:
                            product(d_src[q0 + shift : q1 + shift], gm[q0:q1], adjoint[t], accumulate=True)
                d_x[n0:n1] = unarrange(d_src.view(-1), sub, channels_last=True)
            if d_taps is not None:
                if call.kept:
                    src = call.kept[i]
                else:
                    assert x is not None
                    src = source(x[n0:n1], sub)
                for t, shift in enumerate(shifts):
                    a = src[shift : shift + valid]
                    if g == 1:
                        d_taps[t, 0].addmm_(a.t(), gm)
                    else:
                        d_taps[t].baddbmm_(
                            a.view(valid, g, k).permute(1, 2, 0), gm.view(valid, g, og).transpose(0, 1)
                        )
        return d_x, d_taps


def source(x: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The matrix the shifted products read: im2col rows, or channels-last grid cells."""
    return im2col(x, geo) if geo.im2col else arrange(x, geo, channels_last=True).view(-1, geo.c)


def product(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, accumulate: bool) -> None:
    """``out = a @ b`` (or ``+=``) per group: ``out`` is ``(rows, G * N)``, ``a`` ``(rows, G * K)``, ``b`` ``(G, K, N)``."""
    g, k, n = b.shape
    if g == 1:
        if accumulate:
            out.addmm_(a, b[0])
        else:
            torch.mm(a, b[0], out=out)
    else:
        rows = out.shape[0]
        grouped = out.view(rows, g, n).transpose(0, 1)
        grouped.baddbmm_(a.view(rows, g, k).transpose(0, 1), b, beta=1 if accumulate else 0)


def blocks(rows: int, out: torch.Tensor, taps: int) -> list[tuple[int, int]]:
    """Row ranges covering ``rows``.

    Single-threaded on CPU, with several taps to accumulate, each range of
    ``out`` fits in the core's L2 cache, so that the accumulation stays in cache
    instead of streaming the whole output once per tap. With several threads
    every extra product is one more synchronisation of the thread pool, which
    costs more than the cache saves (and a great deal when a core is shared),
    so then, as on other devices, the whole range is one block.
    """
    if out.device.type != "cpu" or taps == 1 or torch.get_num_threads() > 1:
        return [(0, rows)]
    step = max(tuning.MIN_BLOCK_ROWS, tuning.BLOCK_BYTES // (out.element_size() * max(1, out.shape[1])))
    return [(r0, min(rows, r0 + step)) for r0 in range(0, rows, step)]


def row_shifts(geo: Geometry) -> tuple[tuple[int, ...], int]:
    """Each tap's first row in the channels-last arrangement, and how many grid rows are computed."""
    cells = geo.hq * geo.wq
    shifts = tuple(p * geo.n * cells + off for p, off in zip(geo.phases, geo.offsets, strict=True))
    return shifts, max(0, (geo.n - 1) * cells + geo.span)
