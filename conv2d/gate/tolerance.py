"""The numerical judgement, in one place.

Every computed element is judged against a bound derived from rounding-error
analysis, not against a fixed ``rtol``/``atol``. For an output element
``y = b + sum_k x_k w_k`` of a convolution with reduction length ``K``
(``C_in / groups * kh * kw``), computed from inputs of unit roundoff ``u_in``
with an accumulator of unit roundoff ``u_acc`` and rounded once to an output
of unit roundoff ``u_out``, the classic dot-product analysis gives::

    |y_hat - y| <= (2 u_in + (K + 1) u_acc) * m + u_out * |y|,    m = |b| + sum_k |x_k| |w_k|

``m`` is the convolution of the absolute values, ``|x| ⋆ |w|`` (plus ``|b|``).
That bound is element-wise and fits direct summation, im2col and Winograd
(whose transforms add a small constant factor). FFT convolution is different:
its error is norm-wise, spread evenly over an output plane, so a tiny output
next to large ones gets a large relative error. The bound therefore adds a
norm-wise floor per output plane::

    c_norm * u_acc * log2(n) * rms(m over the plane)

where ``n`` is the number of spatial points transformed. Each error is reported
as a *ratio to its bound*: a ratio above 1 is a violation.

Precision model per dtype (what F.conv2d promises): float64 and float32
accumulate in their own precision; float16 and bfloat16 inputs are exact
products accumulated in float32 and rounded once to the output dtype (their
gradients may accumulate in the dtype itself, as F.conv2d's do). A target
that declares ``tf32=True`` may round float32 inputs to TF32 (10 mantissa
bits, ``u_in = 2**-11``) and is judged at that precision.
"""

from __future__ import annotations

import dataclasses
import math

import torch

__all__ = [
    "C_ELEMENT",
    "C_NORM",
    "Judgement",
    "Precision",
    "bound",
    "judge",
    "precision_for",
]

#: Safety factor on the element-wise term (covers Winograd-style transform growth).
C_ELEMENT = 2.0
#: Factor on the norm-wise floor (covers FFT-style algorithms).
C_NORM = 8.0

_U = {
    torch.float64: 2.0**-53,
    torch.float32: 2.0**-24,
    torch.float16: 2.0**-11,
    torch.bfloat16: 2.0**-8,
}
_TF32_U = 2.0**-11


@dataclasses.dataclass(frozen=True)
class Precision:
    """Unit roundoffs of the inputs' rounding, the accumulator and the output."""

    name: str
    u_in: float
    u_acc: float
    u_out: float


def precision_for(dtype: torch.dtype, *, tf32: bool = False, backward: bool = False) -> Precision:
    """The precision F.conv2d's contract implies for ``dtype`` (TF32 if declared).

    ``backward=True`` gives the gradients' precision: F.conv2d's own float16 and
    bfloat16 backward accumulates in the dtype itself (its input gradient is off
    by about ``K * u(dtype)``, measured on torch 2.13), so gradients of reduced
    precision are judged with ``u_acc = u(dtype)``.
    """
    if dtype == torch.float64:
        return Precision("float64", 0.0, _U[torch.float64], _U[torch.float64])
    if dtype == torch.float32:
        if tf32:
            return Precision("float32 (tf32 declared)", _TF32_U, _U[torch.float32], _U[torch.float32])
        return Precision("float32", 0.0, _U[torch.float32], _U[torch.float32])
    if dtype in (torch.float16, torch.bfloat16):
        name = str(dtype).removeprefix("torch.")
        if backward:
            return Precision(f"{name} (gradients, {name} accumulation)", 0.0, _U[dtype], _U[dtype])
        return Precision(f"{name} (float32 accumulation)", 0.0, _U[torch.float32], _U[dtype])
    raise ValueError(f"dtype={dtype}; the gate verifies float64, float32, float16 and bfloat16")


def bound(
    expected: torch.Tensor,
    magnitude: torch.Tensor,
    *,
    reduction: int,
    precision: Precision,
    transformed: int,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """The allowed absolute error of each element (float64, same shape as ``expected``).

    Args:
        expected: the exact result (float64 reference).
        magnitude: the same computation on absolute values (``|x| ⋆ |w| + |b|``).
        reduction: K, the number of products summed per element (before the bias).
        precision: see :func:`precision_for`.
        transformed: spatial points an FFT-style algorithm transforms (sets the log factor).
        scale: the norm-wise scale per plane (``sum_c rms(x) * ||w||_1``, broadcastable);
            ``None`` for no norm-wise floor.
    """
    p = precision
    allowed = C_ELEMENT * ((2 * p.u_in + (reduction + 1) * p.u_acc) * magnitude + p.u_out * expected.abs())
    if scale is not None:
        allowed = allowed + C_NORM * p.u_acc * math.log2(max(2, transformed)) * scale
    # An exact zero result from zero magnitude must be exact; keep the bound positive.
    return allowed + torch.finfo(torch.float64).tiny


@dataclasses.dataclass(frozen=True)
class Judgement:
    """How far a computed tensor is from the exact one, as a ratio to the allowed bound."""

    max_ratio: float
    violations: int
    total: int
    worst_index: tuple[int, ...]
    actual: float
    expected: float
    error: float
    allowed: float

    @property
    def holds(self) -> bool:
        return self.violations == 0

    def summary(self) -> str:
        """``3 of 120 elements exceed the bound; worst at (0, 1, 2, 2): got ..., expected ...``."""
        where = ", ".join(str(i) for i in self.worst_index)
        head = (
            f"{self.violations} of {self.total} elements exceed the error bound"
            if self.violations
            else f"all {self.total} elements within the error bound"
        )
        return (
            f"{head}; worst at ({where}): got {self.actual:.9g}, expected {self.expected:.9g}, "
            f"error {self.error:.3g} = {self.max_ratio:.3g} x bound {self.allowed:.3g}"
        )


def judge(actual: torch.Tensor, expected: torch.Tensor, allowed: torch.Tensor) -> Judgement:
    """Compare ``actual`` (any dtype/device) with the exact ``expected`` under ``allowed``.

    Non-finite values where the exact result is finite count as infinite error.
    """
    got = actual.detach().to(device="cpu", dtype=torch.float64)
    error = (got - expected).abs()
    error = torch.where(torch.isfinite(got), error, torch.full_like(error, math.inf))
    ratio = error / allowed
    total = ratio.numel()
    if total == 0:
        return Judgement(0.0, 0, 0, (), 0.0, 0.0, 0.0, 0.0)
    flat = int(torch.argmax(torch.nan_to_num(ratio, nan=math.inf)).item())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), ratio.shape))
    return Judgement(
        max_ratio=float(ratio.reshape(-1)[flat]),
        violations=int((~(ratio <= 1)).sum().item()),
        total=total,
        worst_index=index,
        actual=float(got.reshape(-1)[flat]),
        expected=float(expected.reshape(-1)[flat]),
        error=float(error.reshape(-1)[flat]),
        allowed=float(allowed.reshape(-1)[flat]),
    )
