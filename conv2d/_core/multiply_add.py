"""The shifted multiply-add strategy: each output channel reads one input channel, from zero-padded frames."""

from __future__ import annotations

import torch

from conv2d._core.autograd import BackwardCall, Gradients, Strategy
from conv2d._core.geometry import Geometry, arrange, unarrange

__all__ = ["ShiftedMultiplyAdd", "plane_shifts", "planes"]


class ShiftedMultiplyAdd(Strategy):
    """Convolution where each output channel reads one input channel (depthwise, single-channel).

    The input is arranged channels-first (one flat plane of grid cells per image
    and channel) and every kernel tap is one multiply-add of a shifted view of
    those planes: ``out[b, g, m] = bias + sum_t plane[b, g] shifted by t * taps[t, g, m]``,
    with ``taps`` of shape ``(T, G, M)`` for ``M`` output channels per group.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor | None, geo: Geometry
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        src = arrange(x, geo, channels_last=False)
        n_taps, g, m = taps.shape
        length = geo.hq * geo.wq
        out = torch.empty(
            (geo.n, geo.o, geo.ho, geo.wo), dtype=x.dtype, device=x.device, memory_format=geo.fmt
        )
        final = out.unflatten(1, (g, m))
        shifts = plane_shifts(geo)
        # every tap but the last accumulates over the planes of grid cells; the last one reads the
        # accumulator cropped to the output and writes the output itself (no separate cropping copy)
        before = None if bias is None else bias.view(1, g, m, 1, 1)
        if n_taps > 1:
            grid = src.new_empty(geo.n, g, m, length)
            grid[..., geo.span :].zero_()
            acc = grid[..., : geo.span]
            for t, shift in enumerate(shifts[:-1]):
                a = planes(src, shift, geo).unsqueeze(2)
                coef = taps[t].view(1, g, m, 1)
                if t > 0:
                    acc.addcmul_(a, coef)
                elif bias is None:
                    torch.mul(a, coef, out=acc)
                else:
                    torch.addcmul(bias.view(1, g, m, 1), a, coef, out=acc)
            before = grid.view(geo.n, g, m, geo.hq, geo.wq)[..., : geo.ho, : geo.wo]
        cells = (geo.n, geo.c, geo.ho, geo.wo)
        last = src.as_strided(cells, (geo.c * length, length, geo.wq, 1), src.storage_offset() + shifts[-1])
        coef = taps[-1].view(1, g, m, 1, 1)
        if before is None:
            torch.mul(last.unsqueeze(2), coef, out=final)
        else:
            torch.addcmul(before, last.unsqueeze(2), coef, out=final)
        return out, [src]

    @staticmethod
    def backward(call: BackwardCall) -> Gradients:
        x, taps, grad, geo, shape = call.x, call.taps, call.grad, call.geo, call.shape
        _, g, m = shape
        grid = grad.new_empty(geo.n, geo.o, geo.hq, geo.wq)
        grid[:, :, geo.ho :].zero_()
        grid[:, :, : geo.ho, geo.wo :].zero_()
        grid[:, :, : geo.ho, : geo.wo] = grad
        gm = grid.view(geo.n, g, m, geo.hq * geo.wq)[..., : geo.span]
        d_x = d_taps = None
        if call.need_x:
            assert taps is not None
            d_src = grad.new_zeros(geo.stride[0] * geo.stride[1] * geo.n * geo.c * geo.hq * geo.wq + geo.tail)
            for t, shift in enumerate(plane_shifts(geo)):
                target = planes(d_src, shift, geo)
                if m == 1:
                    target.addcmul_(gm[:, :, 0], taps[t].view(1, g, 1))
                else:
                    target.add_((gm * taps[t].view(1, g, m, 1)).sum(2))
            d_x = unarrange(d_src, geo, channels_last=False).contiguous(memory_format=geo.fmt)
        if call.need_w:
            if call.kept:
                src = call.kept[0]
            else:
                assert x is not None
                src = arrange(x, geo, channels_last=False)
            d_taps = grad.new_empty(shape)
            for t, shift in enumerate(plane_shifts(geo)):
                torch.sum(torch.linalg.vecdot(planes(src, shift, geo).unsqueeze(2), gm), dim=0, out=d_taps[t])
        return d_x, d_taps


def plane_shifts(geo: Geometry) -> tuple[int, ...]:
    """Each tap's start in the channels-first flat arrangement: its phase block plus its offset."""
    block = geo.n * geo.c * geo.hq * geo.wq
    return tuple(p * block + off for p, off in zip(geo.phases, geo.offsets, strict=True))


def planes(flat: torch.Tensor, shift: int, geo: Geometry) -> torch.Tensor:
    """The ``(N, C, span)`` view of ``flat``'s planes of grid cells, ``shift`` cells on."""
    length = geo.hq * geo.wq
    return flat.as_strided(
        (geo.n, geo.c, geo.span), (geo.c * length, length, 1), flat.storage_offset() + shift
    )
