"""The correct alternatives' algorithms: FFT, Winograd F(m x m, 3 x 3), a direct loop, shifted matmuls.

Each takes ``(x, w, geo)``: the 4-D input before padding, the weight, both in the
compute dtype, and the call's :class:`~conv2d.zoo._common.Geometry`; it returns the
4-D output without bias, in the compute dtype. The im2col algorithm, which every
mutant is built on, lives with the shared helpers (``im2col_algorithm``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.zoo._common import Geometry, Pair, extent, tap_slices

__all__ = [
    "WINOGRAD",
    "WINOGRAD_POINTS",
    "dilate_kernel",
    "fft_algorithm",
    "invert",
    "shifted_matmul_algorithm",
    "slow_loop_algorithm",
    "winograd_algorithm",
    "winograd_block",
    "winograd_matrices",
]


def dilate_kernel(weight: Tensor, dilation: Pair) -> Tensor:
    """The kernel with ``d - 1`` zeros inserted between taps, so that dilation becomes 1."""
    if dilation == (1, 1):
        return weight
    o, c, kh, kw = weight.shape
    ext = extent((kh, kw), dilation)
    dilated = weight.new_zeros(o, c, *ext)
    dilated[:, :, :: dilation[0], :: dilation[1]] = weight
    return dilated


def fft_algorithm(x: Tensor, w: Tensor, geo: Geometry) -> Tensor:
    """Cross-correlation by multiplying spectra (per-group channel sum), then cropping and subsampling."""
    xp = F.pad(x, geo.fpad)
    wd = dilate_kernel(w, geo.dilation)
    (hp, wp), (eh, ew), g = geo.padded, wd.shape[-2:], geo.groups
    size = (hp + eh - 1, wp + ew - 1)
    xf = torch.fft.rfft2(xp, s=size).unflatten(1, (g, -1))
    wf = torch.fft.rfft2(wd, s=size).conj().unflatten(0, (g, -1))
    full = torch.fft.irfft2(torch.einsum("ngcpq,gocpq->ngopq", xf, wf).flatten(1, 2), s=size)
    return full[..., : hp - eh + 1 : geo.stride[0], : wp - ew + 1 : geo.stride[1]]


# -- Winograd -------------------------------------------------------------------------------------
def winograd_matrices(m: int, points: Sequence[Fraction]) -> tuple[list[list[float]], ...]:
    """Toom-Cook matrices ``(A^T, G, B^T)`` of Winograd's F(m, r) for correlation, from ``points`` and infinity.

    With ``n = len(points) + 1 = m + r - 1`` evaluation points, the linear convolution
    ``s = u * g`` of an ``m``-vector and an ``r``-vector is ``C [(E_m u) * (E_r g)]``
    (``E``: evaluation, ``C``: interpolation). Correlation is its transpose, so
    ``y = E_m^T [(E_r g) * (C^T d)]``: ``A^T = E_m^T``, ``G = E_r``, ``B^T = C^T``. Each row
    of ``B^T`` is scaled to integers and the scale moved into ``G``, as Lavin and Gray's
    published matrices do ("Fast Algorithms for Convolutional Neural Networks", 2016).
    """
    n = len(points) + 1
    r = n - m + 1

    def evaluation(size: int) -> list[list[Fraction]]:
        rows = [[p**k for k in range(size)] for p in points]
        return [*rows, [Fraction(int(k == size - 1)) for k in range(size)]]

    vander = evaluation(n)  # evaluation of the degree n-1 product: invert it to interpolate
    inverse = invert(vander)
    b_t = [[inverse[k][j] for k in range(n)] for j in range(n)]  # C^T
    g = evaluation(r)
    for j, row in enumerate(b_t):
        scale = math.lcm(*(x.denominator for x in row))
        b_t[j] = [x * scale for x in row]
        g[j] = [x / scale for x in g[j]]
    a_t = [[evaluation(m)[j][i] for j in range(n)] for i in range(m)]
    return tuple([[float(x) for x in row] for row in mat] for mat in (a_t, g, b_t))


def invert(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact Gauss-Jordan inverse of a small rational matrix."""
    n = len(matrix)
    aug = [[*row, *(Fraction(int(i == j)) for j in range(n))] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if aug[r][col] != 0)
        aug[col], aug[pivot] = aug[pivot], aug[col]
        head = aug[col][col]
        aug[col] = [x / head for x in aug[col]]
        for r in range(n):
            if r != col and aug[r][col] != 0:
                factor = aug[r][col]
                aug[r] = [a - factor * b for a, b in zip(aug[r], aug[col], strict=True)]
    return [row[n:] for row in aug]


#: Winograd F(m x m, 3 x 3) by output tile m: F(2, 3) (oneDNN's 2x3), F(4, 3) (cuDNN, oneDNN's 4x3),
#: F(6, 3) (NNPACK's 8x8 tiles), with the interpolation points those libraries use.
WINOGRAD_POINTS: dict[int, tuple[Fraction, ...]] = {
    2: (Fraction(0), Fraction(1), Fraction(-1)),
    4: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2)),
    6: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2)),
}
#: The matrices ``(A^T, G, B^T)`` of F(m x m, 3 x 3) by output tile m.
WINOGRAD = {m: winograd_matrices(m, points) for m, points in WINOGRAD_POINTS.items()}


def winograd_block(x: Tensor, w3: Tensor, groups: int, m: int) -> Tensor:
    """F(m x m, 3 x 3): stride-1 correlation of ``x`` (spatial m*t + 2) with a 3x3 ``w3``, as m x m tiles."""
    at, gm, bt = (torch.tensor(mat, dtype=x.dtype, device=x.device) for mat in WINOGRAD[m])
    t = m + 2
    tiles = x.unfold(2, t, m).unfold(3, t, m)  # (n, c, th, tw, t, t)
    n, c, th, tw = tiles.shape[:4]
    v = (bt @ tiles @ bt.T).reshape(n, groups, c // groups, th, tw, t, t)
    u = (gm @ w3 @ gm.T).reshape(groups, -1, c // groups, t, t)
    prod = torch.einsum("ngcyxij,gocij->ngoyxij", v, u)
    y = at @ prod @ at.T  # (n, g, og, th, tw, m, m)
    return y.permute(0, 1, 2, 3, 5, 4, 6).reshape(n, -1, m * th, m * tw)


def winograd_algorithm(x: Tensor, w: Tensor, geo: Geometry, m: int = 2) -> Tensor:
    """Split the (dilated) kernel into zero-padded 3x3 blocks; each block is F(m, 3) on the shifted input."""
    wd = dilate_kernel(w, geo.dilation)
    (hp, wp), (eh, ew) = geo.padded, wd.shape[-2:]
    bh, bw = -(-eh // 3), -(-ew // 3)
    h1, w1 = hp - eh + 1, wp - ew + 1
    th, tw = -(-h1 // m), -(-w1 // m)
    wd = F.pad(wd, (0, 3 * bw - ew, 0, 3 * bh - eh))
    left, right, top, bottom = geo.fpad
    xp = F.pad(
        x, (left, right + 3 * (bw - 1) + m * tw + 2 - wp, top, bottom + 3 * (bh - 1) + m * th + 2 - hp)
    )
    out = sum(
        winograd_block(
            xp[..., 3 * i : 3 * i + m * th + 2, 3 * j : 3 * j + m * tw + 2],
            wd[..., 3 * i : 3 * i + 3, 3 * j : 3 * j + 3],
            geo.groups,
            m,
        )
        for i in range(bh)
        for j in range(bw)
    )
    assert isinstance(out, Tensor)
    return out[..., : h1 : geo.stride[0], : w1 : geo.stride[1]]


# -- direct algorithms ----------------------------------------------------------------------------
def slow_loop_algorithm(x: Tensor, w: Tensor, geo: Geometry) -> Tensor:
    """One einsum per output pixel (vectorised over batch and channels), stacked."""
    xp = F.pad(x, geo.fpad).unflatten(1, (geo.groups, -1))
    wg = w.unflatten(0, (geo.groups, -1))
    (sh, sw), (dh, dw), (eh, ew), (ho, wo) = geo.stride, geo.dilation, geo.extent, geo.out
    pixels = [
        torch.einsum("ngcuv,gocuv->ngo", xp[..., i * sh : i * sh + eh : dh, j * sw : j * sw + ew : dw], wg)
        for i in range(ho)
        for j in range(wo)
    ]
    return torch.stack(pixels, dim=-1).flatten(1, 2).unflatten(-1, (ho, wo))


def shifted_matmul_algorithm(x: Tensor, w: Tensor, geo: Geometry) -> Tensor:
    """Sum over kernel taps of a 1x1 convolution (a channels-last matmul) of the shifted input."""
    xl = F.pad(x, geo.fpad).permute(0, 2, 3, 1)  # NHWC view
    g = geo.groups
    wl = w.permute(2, 3, 0, 1).unflatten(2, (g, -1))  # (kh, kw, g, og, cg)
    parts = (
        torch.einsum("nhwgc,goc->nhwgo", xl[:, rows, cols, :].unflatten(-1, (g, -1)), wl[u, v])
        for u, v, rows, cols in tap_slices(geo)
    )
    acc = sum(parts)
    assert isinstance(acc, Tensor)
    return acc.flatten(-2).permute(0, 3, 1, 2)
