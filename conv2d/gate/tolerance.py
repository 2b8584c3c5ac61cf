"""The numerical judgement, in one place.

Every computed element is judged against a bound derived from rounding-error
analysis, not against a fixed ``rtol``/``atol``. The bound is **twice** the
first-order error bound of the algorithms the gate accepts: the factor 2
(:data:`HEADROOM`) is the required margin, so a correct implementation sits at
no more than half of its bound, on any machine, and anything past the bound
is at least twice what any accepted algorithm can produce.

Element-wise part (direct summation, im2col/GEMM, any summation order).
For an output element ``y = b + sum_k x_k w_k`` with reduction length ``K``
(``C_in / groups * kh * kw``), inputs rounded with unit roundoff ``u_in``
(TF32 or bfloat16 inputs; 0 when the inputs are used as given), products and
sums accumulated with unit roundoff ``u_acc`` and rounded once to the output
dtype (unit roundoff ``u_out``), the dot-product analysis of Higham, *Accuracy
and Stability of Numerical Algorithms* (2nd ed., 2002), §3.1 (eq. 3.5: any
summation order, ``gamma_K = K u / (1 - K u)``) gives, to first order::

    |y_hat - y| <= (2 u_in + (K + 1) u_acc) * m + u_out * |y|,      m = |b| + sum_k |x_k| |w_k|

A target that rounds the convolution to the output dtype and *then* adds the
bias in that dtype (as cuDNN's float16 path does) rounds twice:
``fl(fl(c) + b) = (c (1 + d1) + b)(1 + d2)``, so with a bias the output term is
``u_out * (|y| + |y - b|)``.

Norm-wise part (transform algorithms: FFT and Winograd). An FFT convolution
spreads rounding noise over a whole output plane, so an output that is exactly
zero next to large ones gets an error no element-wise bound allows. For a
transform of length ``n``, Higham's Theorem 24.2 bounds the computed radix-2
FFT by ``||y_hat - y||_2 <= t * eta * ||y||_2`` with ``t = log2 n`` stages and
``eta = mu + gamma_4 (sqrt(2) + mu)`` (``mu``: error of the twiddle factors,
taken as ``u``), i.e. ``eta ~= (1 + 4 sqrt 2) u``. A length that is not a power
of two is done by Bluestein's algorithm with three radix-2 transforms of length
below ``4 n``, so we take ``t(n) = 3 (ceil(log2 n) + 2)`` stages per transform.
Convolving ``x`` (one plane) with ``w`` (one kernel) by ``irfft(rfft(x) *
rfft(w))`` makes three such transforms and one product; with Parseval
(``||F x||_2 = sqrt(n) ||x||_2``), ``||F w||_inf <= ||w||_1`` and Young's
inequality (``||x * w||_2 <= ||x||_2 ||w||_1``) every element's error is at
most the plane's error norm::

    |y_hat - y| <= (3 t(n) eta + u) * S,       S = sum_c ||x[n, c]||_2 ||w[o, c]||_1

with ``S`` summed over the input channels of the output plane (triangle
inequality). Winograd's tile transforms are *not* derived here: F(2x2, 3x3) and
F(4x4, 3x3) measure well within this term, but F(6x6, 3x3), whose transform
amplifies an input value by up to 2**5 per axis, exceeds it on a dominant value
summed over many channels (``tests/test_headroom.py``, a strict xfail). A
Winograd term needs the transform matrices' componentwise bound (Barabasz et
al., ACM TOMS 2020). Gradients use the same two parts: the input gradient
is a convolution of the output gradient with the kernel, the weight gradient a
correlation of two whole planes (``S = sum_n ||x[n, c]||_2 ||g[n, o]||_2`` by
Cauchy-Schwarz).

Underflow. Near zero, rounding error is absolute, not relative: Higham's model
with underflow (§2.1, eq. 2.8) is ``fl(a op b) = (a op b)(1 + d) + e`` with
``|e| <= lambda * u`` under gradual underflow, ``lambda`` the smallest normal
number, and ``|e| <= lambda`` when results below ``lambda`` are flushed to zero.
Each of the ``K + 1`` accumulations adds one such ``e`` in the accumulator's
format and the final rounding one in the output's (two with the bias added
after rounding)::

    + (K + 1) * e_acc + e_out      (2 * e_out with a bias added after rounding)

Flushing is allowed where the target may flush (``subnormals="half-may-flush"``
in float16/bfloat16, the default; every dtype with ``ieee=False``), gradual
underflow is assumed everywhere else. The term matters only for results within
a few ``lambda`` of zero: 6.1e-5 in float16, 1.2e-38 in bfloat16 and float32.

Each error is reported as a *ratio to its bound*: a ratio above 1 is a
violation, and a correct implementation measures at most 0.5.

Precision model per dtype (what F.conv2d promises): float64 and float32
accumulate in their own precision; float16 and bfloat16 inputs are exact
products accumulated in float32 and rounded once to the output dtype (their
gradients may accumulate in the dtype itself, as F.conv2d's do). A target
that declares ``tf32=True`` may round float32 inputs to TF32 (10 mantissa
bits, ``u_in = 2**-11``); one that declares ``accumulation="dtype"`` may
accumulate float16/bfloat16 in the dtype itself (``u_acc = u(dtype)``). Both
are then judged at that precision. :func:`weaker_models` lists the precisions
a failure is re-judged under, so that its message can say which one the
errors fit.
"""

from __future__ import annotations

import dataclasses
import math

import torch

__all__ = [
    "HEADROOM",
    "Judgement",
    "Precision",
    "PrecisionModel",
    "bound",
    "judge",
    "precision_for",
    "transform_factor",
    "unit_roundoff",
    "weaker_models",
]

#: The required margin: the bound is HEADROOM times the first-order error bound.
HEADROOM = 2.0
#: eta / u of Higham's Theorem 24.2 with twiddle factors accurate to u: 1 + 4 * sqrt(2) (+ O(u)).
_ETA_OVER_U = 1.0 + 4.0 * math.sqrt(2.0)

_U = {
    torch.float64: 2.0**-53,
    torch.float32: 2.0**-24,
    torch.float16: 2.0**-11,
    torch.bfloat16: 2.0**-8,
}
_TF32_U = 2.0**-11
_HALF = (torch.float16, torch.bfloat16)


def unit_roundoff(dtype: torch.dtype) -> float:
    """The unit roundoff of ``dtype`` (half the distance from 1 to the next number)."""
    return _U[dtype]


def transform_factor(n: int) -> float:
    """``(3 t(n) eta + u) / u``: the norm-wise error of an FFT convolution of length ``n``, in units of u.

    ``t(n) = 3 (ceil(log2 n) + 2)`` stages per transform covers radix-2 and
    Bluestein's algorithm for any length (see the module docstring).
    """
    stages = 3 * (math.ceil(math.log2(max(2, n))) + 2)
    return 3 * stages * _ETA_OVER_U + 1


@dataclasses.dataclass(frozen=True)
class Precision:
    """Unit roundoffs of the inputs' rounding, the accumulator and the output."""

    name: str
    u_in: float
    u_acc: float
    u_out: float
    eta_acc: float = 0.0
    eta_out: float = 0.0


def _eta(dtype: torch.dtype, *, flush: bool) -> float:
    """The absolute rounding error near zero in ``dtype``: lambda if flushed to zero, lambda * u if gradual."""
    tiny = torch.finfo(dtype).tiny
    return tiny if flush else tiny * _U[dtype]


def _with_underflow(p: Precision, accumulator: torch.dtype, output: torch.dtype, flush: bool) -> Precision:
    return dataclasses.replace(
        p, eta_acc=_eta(accumulator, flush=flush and accumulator in _HALF), eta_out=_eta(output, flush=flush)
    )


def precision_for(
    dtype: torch.dtype,
    *,
    tf32: bool = False,
    backward: bool = False,
    accumulation: str = "float32",
    flush: bool = False,
) -> Precision:
    """The precision F.conv2d's contract implies for ``dtype`` (TF32 or in-dtype accumulation if declared).

    ``backward=True`` gives the gradients' precision: F.conv2d's own float16 and
    bfloat16 backward accumulates in the dtype itself (its input gradient is off
    by about ``K * u(dtype)``, measured on torch 2.13), so gradients of reduced
    precision are judged with ``u_acc = u(dtype)``. ``accumulation="dtype"`` does
    the same for the forward pass of a target that declares it. ``flush=True`` allows results
    below the smallest normal number to be flushed to zero (see *Underflow* above).
    """
    if accumulation not in ("float32", "dtype"):
        raise ValueError(f"accumulation={accumulation!r}; expected 'float32' or 'dtype'")
    p = _contract(dtype, tf32=tf32, backward=backward, accumulation=accumulation)
    accumulator = dtype if p.u_acc == _U[dtype] else torch.float32
    return _with_underflow(p, accumulator, dtype, flush)


def _contract(dtype: torch.dtype, *, tf32: bool, backward: bool, accumulation: str) -> Precision:
    if dtype == torch.float64:
        return Precision("float64", 0.0, _U[torch.float64], _U[torch.float64])
    if dtype == torch.float32:
        if tf32:
            return Precision("float32 (tf32 declared)", _TF32_U, _U[torch.float32], _U[torch.float32])
        return Precision("float32", 0.0, _U[torch.float32], _U[torch.float32])
    if dtype in _HALF:
        name = str(dtype).removeprefix("torch.")
        if backward:
            return Precision(f"{name} (gradients, {name} accumulation)", 0.0, _U[dtype], _U[dtype])
        if accumulation == "dtype":
            return Precision(f"{name} ({name} accumulation declared)", 0.0, _U[dtype], _U[dtype])
        return Precision(f"{name} (float32 accumulation)", 0.0, _U[torch.float32], _U[dtype])
    raise ValueError(f"dtype={dtype}; the gate verifies float64, float32, float16 and bfloat16")


@dataclasses.dataclass(frozen=True)
class PrecisionModel:
    """A weaker precision a failing result may fit, and what a target declares to be judged by it.

    Attributes:
        name: what the model computes, e.g. ``"inputs rounded to TF32"``.
        precision: the precision it implies.
        declare: the declaration that accepts it (``""`` when none does).
    """

    name: str
    precision: Precision
    declare: str


def weaker_models(dtype: torch.dtype, *, backward: bool = False) -> list[PrecisionModel]:
    """The precision models, weaker than F.conv2d's contract for ``dtype``, a failure is re-judged under."""
    u32, u = _U[torch.float32], _U[dtype]
    models: list[PrecisionModel] = []
    # one PrecisionModel per weaker model, alike by design: each names its model, precision and declaration
    if dtype == torch.float32:
        models.append(
            PrecisionModel(
                "inputs rounded to TF32 (10 mantissa bits)",
                Precision("tf32 inputs", _TF32_U, u32, u32),
                "tf32=True",
            )
        )
        models.append(
            PrecisionModel(
                "inputs rounded to bfloat16",
                Precision("bfloat16 inputs", _U[torch.bfloat16], u32, u32),
                "",
            )
        )
    if dtype in _HALF and not backward:
        models.append(
            PrecisionModel(
                f"accumulation in {str(dtype).removeprefix('torch.')}",
                Precision("in-dtype accumulation", 0.0, u, u),
                "accumulation='dtype'",
            )
        )
    if dtype == torch.float64:
        models.append(
            PrecisionModel(
                "a float32 computation",
                Precision("float32 for float64", u32, u32, u32),
                "dtypes without float64",
            )
        )
    return models


def bound(
    expected: torch.Tensor,
    magnitude: torch.Tensor,
    *,
    reduction: int,
    precision: Precision,
    transformed: int,
    scale: torch.Tensor | None = None,
    unbiased: torch.Tensor | None = None,
) -> torch.Tensor:
    """The allowed absolute error of each element (float64, same shape as ``expected``).

    Args:
        expected: the exact result (float64 reference).
        magnitude: the same computation on absolute values (``|x| ⋆ |w| + |b|``).
        reduction: K, the number of products summed per element (before the bias).
        precision: see :func:`precision_for`.
        transformed: the length of the transform an FFT-style algorithm would use.
        scale: the norm-wise scale per plane (``sum_c ||x||_2 * ||w||_1``, broadcastable);
            ``None`` for no norm-wise part.
        unbiased: the exact result without the bias (``None`` without a bias); allows
            the bias to be added after the convolution was rounded.
    """
    p = precision
    output = expected.abs() if unbiased is None else expected.abs() + unbiased.abs()
    first = (2 * p.u_in + (reduction + 1) * p.u_acc) * magnitude + p.u_out * output
    first = first + (reduction + 1) * p.eta_acc + (p.eta_out if unbiased is None else 2 * p.eta_out)
    if scale is not None:
        first = first + transform_factor(transformed) * p.u_acc * scale
    # An exact zero result from zero magnitude and scale must be exact; keep the bound positive.
    return HEADROOM * first + torch.finfo(torch.float64).tiny


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

    Non-finite values where the exact result is finite count as infinite error, except an
    infinity of the exact result's sign where the bound reaches the dtype's overflow threshold:
    a result allowed to be that large rounds to infinity (IEEE 754 round-to-nearest overflows at
    ``max + ulp(max) / 2``, 65520 in float16), as F.conv2d's float16 gradients do.
    """
    got = actual.detach().to(device="cpu", dtype=torch.float64)
    error = (got - expected).abs()
    overflowed = torch.isinf(got) & (torch.sign(got) == torch.sign(expected))
    if actual.is_floating_point() and actual.dtype != torch.float64:
        info = torch.finfo(actual.dtype)
        threshold = info.max + info.eps / 2 * info.max / (2 - info.eps)
        overflowed &= expected.abs() + allowed >= threshold
    else:
        overflowed &= torch.isinf(expected)
    error = torch.where(overflowed, torch.zeros_like(error), error)
    error = torch.where(torch.isfinite(got) | overflowed, error, torch.full_like(error, math.inf))
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
