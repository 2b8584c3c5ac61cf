"""The same-size shifts strategy: stride 1, an output the size of the input, one input channel per output."""

from __future__ import annotations

from typing import Any

import torch

from conv2d._core import tuning
from conv2d._core.autograd import BackwardCall, Gradients, Strategy
from conv2d._core.geometry import Geometry

__all__ = ["SameSizeShifts", "Shifter", "plane_blocks", "same_size_shifts"]


class SameSizeShifts(Strategy):
    """Stride 1 with an output the size of the input, where each output channel reads one input channel.

    Output and input planes then have the same flat layout, so kernel tap ``t``
    (reading ``dy`` rows and ``dx`` columns away) is one multiply-add of the
    input planes shifted by ``dy * W + dx`` cells, over the rows where the read
    stays inside the image, with no padded copy of the input and no cropping of
    the output. A shifted read that runs off the end of a row lands in the
    neighbouring row; it is made to read zero by using, for each ``dx != 0``,
    a copy of the input with the ``|dx|`` columns that no valid read of that
    shift touches set to zero. The input gradient is the same computation on
    the output gradient with the opposite shifts, and the weight gradient one
    batched product per tap. On CPU everything runs over blocks of planes small
    enough to stay in cache, with the masked copies in scratch buffers reused
    from block to block (fresh multi-megabyte buffers cost page faults).
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        _, g, m = taps.shape
        out = x.new_empty(geo.n, g, m, geo.h * geo.w)
        shifter = Shifter(geo, same_size_shifts(geo, adjoint=False), x)
        planes = x.reshape(geo.n, g, geo.h * geo.w)
        for block in plane_blocks(geo, x, tuning.SAME_BLOCK_ELEMS):
            shifter.load(planes, block)
            for mi in range(m):
                part = None if bias is None else bias.view(g, m)[:, mi]
                shifter.correlate(out[:, :, mi], block, taps[:, :, mi], part, accumulate=False)
        return out.view(geo.n, geo.o, geo.h, geo.w).contiguous(memory_format=geo.fmt), []

    @staticmethod
    def backward(call: BackwardCall) -> Gradients:
        x, taps, grad, geo, need_x = call.x, call.taps, call.grad, call.geo, call.need_x
        n_taps, g, m = call.shape
        hw = geo.h * geo.w
        gm = grad.reshape(geo.n, g, m, hw)
        d_x = grad.new_empty(geo.n, g, hw) if need_x else None
        d_taps = grad.new_zeros(n_taps, m, g) if call.need_w else None
        spreader = Shifter(geo, same_size_shifts(geo, adjoint=True), grad) if need_x else None
        gatherer = Shifter(geo, same_size_shifts(geo, adjoint=False), grad) if call.need_w else None
        planes = None if x is None else x.reshape(geo.n, g, hw)
        if d_x is not None:
            assert spreader is not None and taps is not None
            for block in plane_blocks(geo, grad, tuning.SAME_BLOCK_ELEMS):
                for mi in range(m):
                    spreader.load(gm[:, :, mi], block)
                    spreader.correlate(d_x, block, taps[:, :, mi], None, accumulate=mi > 0)
        if d_taps is not None:
            assert gatherer is not None and planes is not None
            for block in plane_blocks(geo, grad, tuning.DOT_BLOCK_ELEMS, per_thread=False):
                gatherer.load(planes, block)
                for mi in range(m):
                    gatherer.dots(d_taps[:, mi], gm[:, :, mi], block)
        if d_x is not None:
            d_x = d_x.view(geo.n, geo.c, geo.h, geo.w).contiguous(memory_format=geo.fmt)
        return d_x, None if d_taps is None else d_taps.transpose(1, 2)


def same_size_shifts(geo: Geometry, adjoint: bool) -> list[tuple[int, int, int]]:
    """``(tap, dy, dx)`` for every tap that reads inside the image: tap ``(i, j)`` reads input pixel
    ``(y + dy, x + dx)`` for output pixel ``(y, x)``; the adjoint reads the other way. Taps with ``dy = 0``
    (which cover every output row) come first."""
    (kh, kw), (dh, dw), (pt, _, pl, _) = geo.kernel, geo.dilation, geo.pads
    sign = -1 if adjoint else 1
    shifts = [(i * kw + j, sign * (i * dh - pt), sign * (j * dw - pl)) for i in range(kh) for j in range(kw)]
    inside = [s for s in shifts if abs(s[1]) < geo.h and abs(s[2]) < geo.w]
    return sorted(inside, key=lambda s: s[1] != 0)


def plane_blocks(
    geo: Geometry, x: torch.Tensor, elems: int, per_thread: bool = True
) -> list[tuple[int, int, int, int]]:
    """``(n0, n1, c0, c1)`` blocks of images and channels covering the planes: on CPU each holds about
    ``elems`` values (per thread if ``per_thread``; whole images while they fit, else channel ranges of
    one image); otherwise one block."""
    n, c, hw = geo.n, geo.c, geo.h * geo.w
    if x.device.type != "cpu":
        return [(0, n, 0, c)] if n else []
    if per_thread:
        elems *= torch.get_num_threads()
    if c * hw <= elems:
        step = elems // (c * hw)
        return [(n0, min(n, n0 + step), 0, c) for n0 in range(0, n, step)]
    step = max(1, elems // hw)
    return [(i, i + 1, c0, min(c, c0 + step)) for i in range(n) for c0 in range(0, c, step)]


class Shifter:
    """Shifted reads of one block of planes at a time, for one list of ``(tap, dy, dx)`` shifts.

    :meth:`load` makes a block's planes readable for every column shift ``dx``:
    shift 0 reads the planes themselves (copied only if a plane is not
    contiguous); for ``dx != 0`` they are copied into a scratch buffer and the
    ``|dx|`` columns that no in-row read of that shift touches are set to zero
    (the last ones for ``dx < 0``, the first ones for ``dx > 0``), between
    ``|dx|`` zero cells before (reads running off the first row) and after (the
    last row). The scratch buffers and the views into them are made once per
    call and reused by every block of the same size.
    """

    def __init__(self, geo: Geometry, shifts: list[tuple[int, int, int]], like: torch.Tensor) -> None:
        self.geo, self.shifts = geo, shifts
        self.columns = sorted({dx for _, _, dx in shifts})
        self.like = like
        self.scratch: dict[int, torch.Tensor] = {}
        self.views: dict[tuple[Any, ...], torch.Tensor] = {}
        self.sources: dict[int, torch.Tensor] = {}
        self.block_views: dict[tuple[Any, ...], torch.Tensor] = {}
        self.scratch_ptrs: set[int] = set()

    def _masked_columns(self, planes: torch.Tensor, dx: int) -> torch.Tensor:
        """The ``|dx|`` columns of ``(n, c, H*W)`` planes that no in-row read of column shift ``dx`` may see."""
        n, c, _ = planes.shape
        grid = planes.view(n, c, self.geo.h, self.geo.w)
        return grid[..., self.geo.w + dx :] if dx < 0 else grid[..., :dx]

    def _scratch_planes(self, dx: int, n: int, c: int) -> torch.Tensor:
        """``(n, c, H*W)`` planes in the scratch buffer for ``dx``, with the zero cells around them."""
        key = ("planes", dx, n, c)
        if key not in self.views:
            hw, pad = self.geo.h * self.geo.w, abs(dx)
            size = n * c * hw
            buf = self.scratch.get(dx)
            if buf is None or buf.numel() < size + 2 * pad:
                buf = self.scratch[dx] = self.like.new_empty(size + 2 * pad)
            buf[:pad].zero_()
            buf[pad + size : size + 2 * pad].zero_()
            self.views[key] = buf[pad : pad + size].view(n, c, hw)
            self.scratch_ptrs.add(self.views[key].data_ptr())
        return self.views[key]

    def load(self, planes: torch.Tensor, block: tuple[int, int, int, int]) -> None:
        """Make the block's planes of ``planes`` (``(N, C, H*W)``) the ones read by the next shifts."""
        n0, n1, c0, c1 = block
        part = planes[n0:n1, c0:c1]
        self.block_views = {}
        for dx in self.columns:
            if dx == 0 and part.stride(-1) == 1:
                self.sources[0] = part
                continue
            view = self._scratch_planes(dx, n1 - n0, c1 - c0)
            view.copy_(part)
            if dx != 0:  # zeroed, not multiplied by a mask: an inf or nan there must not leak
                self._masked_columns(view, dx).zero_()
            self.sources[dx] = view

    def _read(self, dy: int, dx: int) -> torch.Tensor:
        """The loaded planes as read for shift ``(dy, dx)``: ``(n, c, (H - |dy|) * W)``, from row ``max(0, dy)``.

        Reads of the scratch buffers are the same views for every block of one size; reads of the
        planes themselves are made once per block."""
        source = self.sources[dx]
        key = ("read", dy, dx, *source.shape) if dx != 0 or source.data_ptr() in self.scratch_ptrs else None
        local = ("block", dy, dx)
        if key is None:
            if local not in self.block_views:
                self.block_views[local] = self._shifted(source, dy, dx)
            return self.block_views[local]
        if key not in self.views:
            self.views[key] = self._shifted(source, dy, dx)
        return self.views[key]

    def _shifted(self, source: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
        n, c, _ = source.shape
        geo = self.geo
        return source.as_strided(
            (n, c, (geo.h - abs(dy)) * geo.w),
            source.stride(),
            source.storage_offset() + max(0, dy) * geo.w + dx,
        )

    def correlate(
        self,
        out: torch.Tensor,
        block: tuple[int, int, int, int],
        coefs: torch.Tensor,
        bias: torch.Tensor | None,
        accumulate: bool,
    ) -> None:
        """``out[block] (+)= bias + sum over shifts of coefs[tap] * (loaded planes shifted by (dy, dx))``.

        ``out`` is ``(N, C, H*W)``, ``coefs`` ``(T, C)`` and ``bias`` ``(C,)``; the
        first shift with ``dy = 0`` covers every output row and initialises the block.
        """
        n0, n1, c0, c1 = block
        target = out[n0:n1, c0:c1]
        key = ("coefs", coefs.data_ptr(), coefs.stride(), c0, c1)
        if key not in self.views:
            self.views[key] = coefs[:, c0:c1].unsqueeze(-1).unbind(0)  # type: ignore[assignment]
        coef: tuple[torch.Tensor, ...] = self.views[key]  # type: ignore[assignment]
        b = None if bias is None else bias[c0:c1].view(-1, 1)
        fresh = not accumulate
        if fresh and (not self.shifts or self.shifts[0][1] != 0):
            if b is None:
                target.zero_()
            else:
                target.copy_(b.expand(target.shape))
            fresh = False
        rows = self._rows(target)
        for t, dy, dx in self.shifts:
            if not fresh:
                rows[dy].addcmul_(self._read(dy, dx), coef[t])
            elif b is None:
                torch.mul(self._read(dy, dx), coef[t], out=rows[dy])
            else:
                torch.addcmul(b, self._read(dy, dx), coef[t], out=rows[dy])
            fresh = False

    def _rows(self, planes: torch.Tensor) -> dict[int, torch.Tensor]:
        """For each row shift ``dy``: the output rows ``max(0, -dy) .. H - max(0, dy)`` of ``planes`` (``(n, c, H*W)``)."""
        w, h = self.geo.w, self.geo.h
        return {
            dy: planes[..., max(0, -dy) * w : (h - max(0, dy)) * w] for dy in {dy for _, dy, _ in self.shifts}
        }

    def dots(self, total: torch.Tensor, grad: torch.Tensor, block: tuple[int, int, int, int]) -> None:
        """``total[tap, c] += sum over images and pixels of (loaded planes shifted by the tap) * grad``.

        ``total`` is ``(T, C)`` and ``grad`` ``(N, C, H*W)``. With several images
        each tap is one batched matrix product of a channel's ``(n, pixels)``
        shifted planes by its ``(pixels, n)`` gradient planes, in chunks of at
        most ``tuning.DOT_IMAGES`` images, of which only the diagonal is kept (a few
        wasted products buy matrix-product speed); with one image, a vector dot
        product per channel.
        """
        n0, n1, c0, c1 = block
        used = [t for t, _, _ in self.shifts]
        for k0 in range(0, n1 - n0, tuning.DOT_IMAGES):
            k1 = min(n1 - n0, k0 + tuning.DOT_IMAGES)
            rows = self._rows(grad[n0 + k0 : n0 + k1, c0:c1])
            if k1 - k0 == 1:
                for t, dy, dx in self.shifts:
                    total[t, c0:c1] += torch.linalg.vecdot(self._read(dy, dx)[k0], rows[dy][0])
                continue
            prods = grad.new_empty(len(self.shifts), c1 - c0, k1 - k0, k1 - k0)
            for i, (_, dy, dx) in enumerate(self.shifts):
                torch.bmm(self._read(dy, dx)[k0:k1].transpose(0, 1), rows[dy].permute(1, 2, 0), out=prods[i])
            total[used, c0:c1] += prods.diagonal(dim1=2, dim2=3).sum(-1)
