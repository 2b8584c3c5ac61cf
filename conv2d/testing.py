"""``assert_conv2d_close`` and ``assert_conv_transpose2d_close``: the gate's judgement of one result, for anyone's unit tests.

It judges a convolution result the way the gate's ``matches-reference`` law
does — against F.conv2d computed exactly in float64 (on the CPU, whatever the
result's device), each element within its own rounding-error bound
(:mod:`conv2d.gate.tolerance`) instead of a fixed ``rtol``/``atol`` — and fails
with the gate's message: how many elements exceed the bound, the worst one and
its ratio to the bound, what the result computes instead when it matches a
well-known wrong convolution (:mod:`conv2d.gate.diagnosis`; with no target to call
on a second case, a variant is named only when it is the one the result fits, and
several that fit are listed as ambiguous), and a map of the wrong elements
(:mod:`conv2d.gate.errormap`)::

    from conv2d.testing import assert_conv2d_close

    out = my_conv2d(x, w, b, stride=2, padding=1)
    assert_conv2d_close(out, x, w, b, stride=2, padding=1)

``assert_conv_transpose2d_close`` does the same for F.conv_transpose2d's arguments, in its order,
and ``assert_conv1d_close`` and ``assert_conv3d_close`` for F.conv1d's and F.conv3d's.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from conv2d import _validation as check
from conv2d.gate.capabilities import SUBNORMALS
from conv2d.gate.case import Args, ConvCase
from conv2d.gate.diagnosis import case_of, diagnose
from conv2d.gate.diagnosis.spatial import spatial_diagnosis
from conv2d.gate.diagnosis.transposed import transposed_diagnosis
from conv2d.gate.errormap import error_map
from conv2d.gate.judge import REJUDGE_BELOW, case_bound, meta_problem, weaker_fit
from conv2d.gate.reference import Exact, reference
from conv2d.gate.tolerance import Judgement, Precision, judge, precision_for
from conv2d.gate.vocabulary import DTYPES, HALF_DTYPES

__all__ = [
    "SubnormalsFlushed",
    "assert_conv1d_close",
    "assert_conv2d_close",
    "assert_conv3d_close",
    "assert_conv_transpose2d_close",
]


#: A helper's diagnosis: one line naming what a wrong result computes, or None.
Diagnosis = Callable[[Tensor, ConvCase, Args, Precision, Exact], "str | None"]


class SubnormalsFlushed(UserWarning):
    """A float16/bfloat16 result had subnormal values flushed to zero (reported, not failed, by default)."""


def _flushed(actual: Tensor, exact: Exact) -> int:
    """How many results are zero where the exact result is a non-zero subnormal of the result's dtype."""
    if not actual.is_floating_point() or actual.shape != exact.value.shape:
        return 0
    tiny = torch.finfo(actual.dtype).tiny
    got = actual.detach().to("cpu", torch.float64)
    return int(((got == 0) & (exact.value != 0) & (exact.value.abs() < tiny)).sum())


_FN = "assert_conv2d_close"
_TFN = "assert_conv_transpose2d_close"
#: The conv1d and conv3d helpers' names, by number of spatial axes.
_NFN = {1: "assert_conv1d_close", 3: "assert_conv3d_close"}
#: Each helper's weight layout, as its errors name it.
_LAYOUTS = {
    _FN: "C_out, C_in / groups, kh, kw",
    _TFN: "C_in, C_out / groups, kh, kw",
    _NFN[1]: "C_out, C_in / groups, k",
    _NFN[3]: "C_out, C_in / groups, kd, kh, kw",
}
#: The spatial axes of an input, as the errors name them.
_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}
_VERIFIED = tuple(DTYPES.values())


def _parameter(name: str, value: object, minimum: int, fn: str = _FN) -> int | tuple[int, int]:
    """``value`` checked as an int or a pair of ints ``>= minimum``, in the form it was given."""
    pair = check.as_pair(fn, name, value, minimum)
    return pair if isinstance(value, tuple | list) else pair[0]


def _checked_args(
    actual: object,
    input: object,
    weight: object,
    bias: object,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    tf32: object,
    accumulation: object,
) -> Args:
    """The call as :class:`Args`, every argument checked (errors name the argument, its value and a fix)."""
    x, w, b = _checked_tensors(actual, input, weight, bias)
    g = _checked_groups(x, w, b, groups)
    s, d = _parameter("stride", stride, minimum=1), _parameter("dilation", dilation, minimum=1)
    kernel, s2, d2 = (
        (w.shape[-2], w.shape[-1]),
        check.as_pair(_FN, "stride", s, 1),
        check.as_pair(_FN, "dilation", d, 1),
    )
    pads = check.resolve_padding(_FN, padding, kernel, d2, s2)
    check.check_padding_mode_fits(_FN, "zeros", pads, x, kernel, d2)
    p = padding if isinstance(padding, str) else _parameter("padding", padding, minimum=0)
    _check_options(tf32, accumulation)
    return Args(x, w, b, s, p, d, g)


def _checked_tensors(
    actual: object, input: object, weight: object, bias: object, fn: str = _FN, rank: int = 2
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``input``, ``weight`` and ``bias`` checked for kind, dtype, device and rank (``actual`` for kind)."""
    if not isinstance(actual, Tensor):
        raise TypeError(
            f"{fn}: actual must be a torch.Tensor (the result to judge), got {type(actual).__name__} {actual!r:.80}"
        )
    x = check.require_floating_tensor(fn, "input", input)
    w = check.require_floating_tensor(fn, "weight", weight)
    b = None if bias is None else check.require_floating_tensor(fn, "bias", bias)
    if x.dtype not in _VERIFIED:
        raise TypeError(
            f"{fn}: input has dtype {x.dtype}; the gate verifies {_VERIFIED}; convert with input.float()"
        )
    check.require_match(fn, "weight", w, "input", x)
    if b is not None:
        check.require_match(fn, "bias", b, "input", x)
    if x.dim() not in (rank + 1, rank + 2):
        raise ValueError(
            f"{fn}: input must be {rank + 2}-D (N, C, {_SPATIAL[rank]}) or {rank + 1}-D (C, {_SPATIAL[rank]}), "
            f"got {check.describe(x)}; add the missing dimensions with input.unsqueeze(0)"
        )
    if w.dim() != rank + 2:
        raise ValueError(
            f"{fn}: weight must be {rank + 2}-D ({_LAYOUTS[fn]}), got {check.describe(w)}; "
            f"reshape it, e.g. weight.view({_LAYOUTS[fn].replace(' / ', ' // ')})"
        )
    return x, w, b


def _checked_groups(
    x: Tensor, w: Tensor, b: Tensor | None, groups: object, fn: str = _FN, rank: int = 2
) -> int:
    """``groups`` checked against the channel counts, and the bias against the output channels."""
    g = check.as_int(fn, "groups", groups, minimum=1)
    channels, out_channels = x.shape[-rank - 1], w.shape[0]
    if channels % g or out_channels % g or w.shape[1] * g != channels:
        raise ValueError(
            f"{fn}: groups={g} does not fit input channels {channels}, weight {tuple(w.shape)}: "
            f"both channel counts must divide by groups and weight.shape[1] * groups must equal {channels}; "
            "pass the groups the result was computed with"
        )
    if b is not None and tuple(b.shape) != (out_channels,):
        raise ValueError(
            f"{fn}: bias must have shape ({out_channels},) (one value per output channel), "
            f"got {check.describe(b)}; pass bias=None for no bias"
        )
    return g


def _check_options(tf32: object, accumulation: object, fn: str = _FN) -> None:
    """The precision options: ``tf32`` a bool, ``accumulation`` one of the two models."""
    if not isinstance(tf32, bool):
        raise TypeError(
            f"{fn}: tf32 must be True or False, got {tf32!r}; pass tf32=True if float32 inputs may be rounded to TF32"
        )
    if accumulation not in ("float32", "dtype"):
        raise ValueError(
            f"{fn}: accumulation={accumulation!r}; expected 'float32' (F.conv2d's contract) "
            "or 'dtype' (float16/bfloat16 accumulated in the dtype itself)"
        )


def _special_values(actual: Tensor, exact: Exact) -> str | None:
    """Where the exact result is NaN or infinite (NaN or inf among the arguments), ``actual`` must not be finite."""
    got = actual.detach().to(device="cpu", dtype=torch.float64)
    wrong = ~torch.isfinite(exact.value) & torch.isfinite(got)
    if not bool(wrong.any()):
        return None
    first = tuple(int(i) for i in wrong.nonzero()[0])
    where = ", ".join(str(i) for i in first)
    return (
        f"output vs float64 reference: {int(wrong.sum())} of {wrong.numel()} elements are finite where the "
        f"exact result is NaN or infinite (NaN or inf in the arguments propagate); first at ({where}): "
        f"got {float(got[first]):.9g}, expected {float(exact.value[first])}"
    )


def _finite_part(actual: Tensor, exact: Exact) -> Tensor:
    """``actual`` with 0 where the exact result is not finite (those elements are checked by :func:`_special_values`)."""
    got = actual.detach().to(device="cpu", dtype=torch.float64)
    return torch.where(torch.isfinite(exact.value), got, torch.zeros_like(got))


def _allowed(case: ConvCase, exact: Exact, precision: Precision) -> Tensor:
    return case_bound(case, exact, precision)


def assert_conv2d_close(
    actual: Tensor,
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    *,
    tf32: bool = False,
    accumulation: str = "float32",
    subnormals: str = "half-may-flush",
    msg: str | None = None,
) -> None:
    """Raise AssertionError unless ``actual`` is F.conv2d of the arguments within the gate's error bound.

    Args:
        actual: the result to judge (any device; the reference is computed on the CPU).
        input, weight, bias, stride, padding, dilation, groups: the arguments ``actual``
            was computed from, as F.conv2d takes them.
        tf32: float32 inputs may have been rounded to TF32 (judged at that precision).
        accumulation: ``"float32"`` (F.conv2d's contract for float16/bfloat16) or ``"dtype"``
            (accumulated in the half-precision dtype itself).
        subnormals: ``"half-may-flush"`` (the default, as the gate's): float16/bfloat16
            subnormal results flushed to zero are a platform behaviour (AMX, GPU fast paths),
            reported with a :class:`SubnormalsFlushed` warning, not failed; ``"keep"`` fails them.
            float32 and float64 subnormals must be kept either way.
        msg: a prefix for the failure message.

    Raises:
        AssertionError: the result has the wrong shape, dtype or device, or some element
            is past its bound; the message names the worst element and its ratio to the bound,
            and adds a diagnosis line and an error map where it can.
        TypeError, ValueError: an argument is malformed (the message names it and the fix).
    """
    args = _checked_args(actual, input, weight, bias, stride, padding, dilation, groups, tf32, accumulation)
    _check_subnormals(subnormals)
    _judge_call(actual, case_of(args), args, tf32, accumulation, subnormals, msg, _conv2d_diagnosis)


def _conv2d_diagnosis(
    actual: Tensor, case: ConvCase, args: Args, contract: Precision, exact: Exact
) -> str | None:
    return diagnose(actual, case, args, precision=contract, exact=exact)


def _transposed_diagnosis(
    actual: Tensor, case: ConvCase, args: Args, contract: Precision, exact: Exact
) -> str | None:
    return transposed_diagnosis(actual, case, args, contract)


def _judge_call(
    actual: Tensor,
    case: ConvCase,
    args: Args,
    tf32: bool,
    accumulation: str,
    subnormals: str,
    msg: str | None,
    diagnosis: Diagnosis,
) -> None:
    """Judge ``actual`` against the exact result of ``args`` (the two helpers' shared verdict)."""
    may_flush = case.torch_dtype in HALF_DTYPES and subnormals != "keep"
    contract = precision_for(case.torch_dtype, tf32=tf32, accumulation=accumulation, flush=may_flush)
    exact = reference(args)
    prefix = f"{msg}: " if msg else ""
    problem = _meta_or_special(actual, case, args, contract, exact, diagnosis)
    if problem is not None:
        raise AssertionError(prefix + problem)
    allowed = _allowed(case, exact, contract)
    verdict = judge(_finite_part(actual, exact), torch.nan_to_num(exact.value), allowed.nan_to_num(1.0))
    flushed = _flushed(actual, exact)
    if flushed and may_flush:
        warnings.warn(
            f"{flushed} {case.dtype} subnormal results were flushed to zero: a platform behaviour in half "
            "precision, reported and not failed (pass subnormals='keep' to require gradual underflow)",
            SubnormalsFlushed,
            stacklevel=3,
        )
    if verdict.holds:
        return
    note = "" if not flushed or may_flush else _flushed_note(flushed)
    raise AssertionError(
        _failure(actual, case, args, exact, contract, allowed, verdict, prefix, note, diagnosis)
    )


def assert_conv_transpose2d_close(
    actual: Tensor,
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
    *,
    tf32: bool = False,
    accumulation: str = "float32",
    subnormals: str = "half-may-flush",
    msg: str | None = None,
) -> None:
    """Raise AssertionError unless ``actual`` is F.conv_transpose2d of the arguments within the gate's error bound.

    The arguments are F.conv_transpose2d's, in its order (``weight`` is ``(C_in, C_out / groups,
    kh, kw)``); the options and the message are :func:`assert_conv2d_close`'s, the diagnosis
    names the transposed convolution's classic mistakes (:mod:`conv2d.gate.diagnosis.transposed`).

    Raises:
        AssertionError: a wrong shape, dtype or device, or an element past its bound.
        TypeError, ValueError: an argument is malformed (the message names it and the fix).
    """
    x, w, b = _checked_tensors(actual, input, weight, bias, _TFN)
    g = check.as_int(_TFN, "groups", groups, minimum=1)
    if (
        w.shape[0] != x.shape[-3]
        or x.shape[-3] % g
        or (b is not None and tuple(b.shape) != (w.shape[1] * g,))
    ):
        raise ValueError(
            f"{_TFN}: input {check.describe(x)}, weight {check.describe(w)}, bias "
            f"{None if b is None else check.describe(b)} and groups={g} do not fit: weight.shape[0] must be the "
            f"input's channels, divisible by groups, and the bias one value per output channel "
            f"(weight.shape[1] * groups); pass the arguments the result was computed with"
        )
    s, d = _parameter("stride", stride, 1, _TFN), _parameter("dilation", dilation, 1, _TFN)
    p, op = _parameter("padding", padding, 0, _TFN), _parameter("output_padding", output_padding, 0, _TFN)
    s2, d2, op2 = (
        check.as_pair(_TFN, n, v, 0) for n, v in (("stride", s), ("dilation", d), ("output_padding", op))
    )
    for axis in (0, 1):
        if op2[axis] >= max(s2[axis], d2[axis]):
            raise ValueError(
                f"{_TFN}: output_padding={output_padding!r} must be smaller than stride={stride!r} or "
                f"dilation={dilation!r} on each axis; pass the output_padding the result was computed with"
            )
    _check_options(tf32, accumulation, _TFN)
    _check_subnormals(subnormals, _TFN)
    args = Args(x, w, b, s, p, d, g, op)
    case = dataclasses.replace(
        case_of(args.replace(output_padding=None)), kind="conv_transpose2d", output_padding=op
    )
    case = dataclasses.replace(case, out_channels=w.shape[1] * g)
    if min(case.out_spatial) < 1:
        raise ValueError(f"{_TFN}: the arguments give an empty output {case.out_spatial}; check padding")
    _judge_call(actual, case, args, tf32, accumulation, subnormals, msg, _transposed_diagnosis)


def assert_conv1d_close(
    actual: Tensor,
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    *,
    tf32: bool = False,
    accumulation: str = "float32",
    subnormals: str = "half-may-flush",
    msg: str | None = None,
) -> None:
    """Raise AssertionError unless ``actual`` is F.conv1d of the arguments within the gate's error bound.

    The arguments are F.conv1d's (input ``(N, C_in, L)`` or ``(C_in, L)``, weight ``(C_out,
    C_in / groups, k)``); the options and the message are :func:`assert_conv2d_close`'s, the
    diagnosis names conv1d's classic mistakes (:mod:`conv2d.gate.diagnosis.spatial`).
    """
    params = (stride, padding, dilation, groups, tf32, accumulation, subnormals, msg)
    _assert_spatial(1, actual, input, weight, bias, *params)


def assert_conv3d_close(
    actual: Tensor,
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, int, int] | str = 0,
    dilation: int | tuple[int, int, int] = 1,
    groups: int = 1,
    *,
    tf32: bool = False,
    accumulation: str = "float32",
    subnormals: str = "half-may-flush",
    msg: str | None = None,
) -> None:
    """Raise AssertionError unless ``actual`` is F.conv3d of the arguments within the gate's error bound.

    The arguments are F.conv3d's (input ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``, weight
    ``(C_out, C_in / groups, kd, kh, kw)``); the options and the message are
    :func:`assert_conv2d_close`'s, the diagnosis names conv3d's classic mistakes, an axis mixed
    up among them (:mod:`conv2d.gate.diagnosis.spatial`).
    """
    params = (stride, padding, dilation, groups, tf32, accumulation, subnormals, msg)
    _assert_spatial(3, actual, input, weight, bias, *params)


def _assert_spatial(
    rank: int,
    actual: object,
    input: object,
    weight: object,
    bias: object,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    tf32: bool,
    accumulation: str,
    subnormals: str,
    msg: str | None,
) -> None:
    """The conv1d and conv3d helpers: every argument checked, then the shared verdict."""
    fn = _NFN[rank]
    x, w, b = _checked_tensors(actual, input, weight, bias, fn, rank)
    g = _checked_groups(x, w, b, groups, fn, rank)
    s3, d3 = check.as_tuple(fn, "stride", stride, 1, rank), check.as_tuple(fn, "dilation", dilation, 1, rank)
    if isinstance(padding, str) and (padding not in ("same", "valid") or (padding == "same" and max(s3) > 1)):
        raise ValueError(
            f"{fn}: padding={padding!r} with stride={stride!r}; expected an int, a tuple, 'valid', or 'same' "
            "with stride 1; pass the padding the result was computed with"
        )
    p = padding if isinstance(padding, str) else check.as_tuple(fn, "padding", padding, 0, rank)
    args = Args(
        x,
        w,
        b,
        stride if isinstance(stride, int) else s3,
        p if isinstance(p, str) or not isinstance(padding, int) else padding,
        dilation if isinstance(dilation, int) else d3,
        g,
    )
    case = case_of(args)
    if min(case.out_spatial) < 1:
        raise ValueError(
            f"{fn}: the kernel {tuple(w.shape[2:])} with dilation={dilation!r} does not fit the padded input "
            f"{tuple(x.shape[-rank:])} (padding={padding!r}); pass the arguments the result was computed with"
        )
    _check_options(tf32, accumulation, fn)
    _check_subnormals(subnormals, fn)
    _judge_call(actual, case, args, tf32, accumulation, subnormals, msg, _spatial_diagnosis)  # type: ignore[arg-type]


def _spatial_diagnosis(
    actual: Tensor, case: ConvCase, args: Args, contract: Precision, exact: Exact
) -> str | None:
    return spatial_diagnosis(actual, case, args, contract)


def _check_subnormals(subnormals: object, fn: str = _FN) -> None:
    """``subnormals`` must name one of the gate's subnormal policies."""
    if subnormals not in SUBNORMALS:
        raise ValueError(
            f"{fn}: subnormals={subnormals!r}; expected one of {SUBNORMALS} ('half-may-flush': float16/"
            "bfloat16 subnormals may be flushed to zero, with a warning; 'keep': gradual underflow required)"
        )


def _meta_or_special(
    actual: Tensor, case: ConvCase, args: Args, contract: Precision, exact: Exact, diagnosis: Diagnosis
) -> str | None:
    """What fails before any bound: a wrong shape, dtype or device (with a diagnosis), or finite special values."""
    meta = meta_problem(actual, case.output_shape, case.torch_dtype, case.device)
    if meta is not None:
        found = diagnosis(actual, case, args, contract, exact)
        return meta + ("" if found is None else f"\n{found}")
    return _special_values(actual, exact)


def _flushed_note(flushed: int) -> str:
    """The verdict's note on subnormal results flushed to zero where they must be kept."""
    return f"; {flushed} subnormal results were flushed to zero (flush-to-zero or denormals-are-zero)"


def _failure(
    actual: Tensor,
    case: ConvCase,
    args: Args,
    exact: Exact,
    contract: Precision,
    allowed: Tensor,
    verdict: Judgement,
    prefix: str,
    verdict_note: str,
    diagnosis: Diagnosis,
) -> str:
    """The failure message: the verdict (and the weaker precision the errors fit), a diagnosis, an error map."""
    fit = ""
    if verdict.max_ratio < REJUDGE_BELOW:
        fit = weaker_fit(
            actual, exact.value, lambda p: _allowed(case, exact, p), case.torch_dtype, contract, False
        )
    found = diagnosis(actual, case, args, contract, exact)
    lines = [f"{prefix}output vs float64 reference: {verdict.summary()}{verdict_note}{fit}"]
    if found is not None:
        lines.append(found)
    lines.append(error_map(actual, exact.value, allowed).text())
    return "\n".join(lines)
