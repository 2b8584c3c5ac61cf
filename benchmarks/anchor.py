"""The anchor: what PyTorch's own OpInfo samples catch in a conv2d implementation.

The gate's detection power is published next to this baseline. The anchor
checks a target the way PyTorch's ``test_ops`` checks ``torch.nn.functional.conv2d``,
using nothing but the samples of the ``"nn.functional.conv2d"`` entry of
``torch.testing._internal.common_methods_invocations.op_db``.

What it checks
--------------
Samples come from ``opinfo.sample_inputs(device="cpu", dtype=..., requires_grad=...)``
(``sample_inputs_conv2d``), drawn once per dtype under ``torch.manual_seed(0)``
and cached, so every call sees the same tensors. For each sample the target is
called as ``fn(sample.input, *sample.args, **sample.kwargs)``: positional
``weight`` and ``bias`` (``None`` in three of the cases) and the sample's own
keyword arguments, verbatim (``stride``, ``padding`` including ``"same"`` and
``"valid"``, ``dilation``, ``groups``). Half of the samples are unbatched
(3-D input). The result is compared with ``F.conv2d`` on the same arguments and
dtype by ``torch.testing.assert_close`` at its default tolerances
(float32: rtol 1.3e-6, atol 1e-5; float64: rtol 1e-7, atol 1e-7;
float16: rtol 1e-3, atol 1e-5; bfloat16: rtol 1.6e-2, atol 1e-5). No
tolerance override of the OpInfo applies to these CPU checks.

Checks run in this order, each phase over every sample:

1. float32 forward, 2. float32 backward, 3. float64 forward,
4. float64 backward, 5. float16 forward, 6. bfloat16 forward.

float16 and bfloat16 are included because ``opinfo.supported_dtypes("cpu")``
lists them; they are checked forward only. The OpInfo also lists complex64,
complex128 and int64 on CPU; they are left out, as the gate verifies floating
dtypes only. A backward check calls the target on fresh leaf tensors for every
tensor argument (input, weight and, where present, bias), back-propagates a
fixed random ``grad_output`` (seeded, same dtype as the output) and compares
each gradient with ``F.conv2d``'s by ``assert_close`` at default tolerances; a
missing gradient is a failure. This mirrors ``test_ops``' variant and
reference consistency checks on the same samples.

A check fails when the comparison fails or when the target raises any
exception, except :class:`NotImplementedError`, which skips that check.
Each forward comparison is one check; each backward comparison (all gradients
of one sample) is one check.

Default float32 tolerances are tight: a correct float32 FFT convolution
(``torch.fft.rfft2``) is rejected at the first check. Over the 30 float32
samples its outputs differ from ``F.conv2d``'s by up to 6.1e-5 absolute
(worst element 1.9 times the allowed ``atol + rtol * |expected|``), failing
7 of 30 forward and 1 of 30 backward checks, while ``F.conv2d``'s own float32
outputs differ from float64 results by up to 3.3e-5 and the FFT's by up to
4.6e-5. Its float64, float16 and bfloat16 checks all pass.

Sample counts (measured with torch 2.13.0; ``python benchmarks/anchor.py --counts``)::

    kind     dtype     samples  checks (forward + backward)
    conv2d   float32   30       60
    conv2d   float64   30       60
    conv2d   float16   30       30
    conv2d   bfloat16  30       30
    corr2d   float32   28       56
    corr2d   float64   28       56
    corr2d   float16   28       28
    corr2d   bfloat16  28       28

That is 180 checks for ``kind="conv2d"`` and 168 for ``kind="corr2d"``.
``kind="conv_transpose2d"`` uses the samples of ``"nn.functional.conv_transpose2d"`` the same
way, compared with ``F.conv_transpose2d``; ``"conv1d"`` and ``"conv3d"`` those of
``"nn.functional.conv1d"`` and ``"nn.functional.conv3d"``, compared with ``F.conv1d`` and ``F.conv3d``.

corr2d
------
``kind="corr2d"`` targets ``corr2d(X, K)`` on 2-D tensors (valid
cross-correlation, no padding, stride 1). Its cases are the conv2d samples with
one input channel, one output channel, batch 1 (or unbatched), stride 1,
padding 0 (or ``"valid"``), dilation 1, groups 1 and no bias, squeezed to 2-D.
**None of the 30 conv2d samples qualifies**, so the anchor also derives a 2-D
case from every sample by taking ``input[0, 0]`` (``input[0]`` when
unbatched) and ``weight[0, 0]``, wherever the image is at least as large as
the kernel in both dimensions (28 of 30; the two exceptions, the batched and
unbatched forms of one case, have a 4x3 image and a 3x4 kernel). Stride,
padding, dilation, groups and bias of the source sample are dropped. The expected value is ``F.conv2d`` on the tensors unsqueezed to
4-D; the checks, dtypes, tolerances and gradients (w.r.t. ``X`` and ``K``) are
as for conv2d.

Timing
------
``AnchorVerdict.seconds`` counts the checks only: a full run on ``F.conv2d``
(180 checks, none failing) takes 0.06 to 0.11 s on one CPU thread. The
one-time cost of importing PyTorch's test internals and building the cached
cases is reported separately as ``setup_seconds`` (4 to 6 s on the first call
in a process, about 0.2 s for the first call of the other kind, 0 afterwards). Importing those internals has process-wide side effects
(frozen ``torch.backends`` flags, a Hypothesis settings profile, warning
filters, an environment variable); the anchor undoes them, and supplies a
minimal stand-in for the ``expecttest`` module when it is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import json
import os
import sys
import time
import types
import unittest
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F

__all__ = [
    "CHECK_ORDER",
    "AnchorCase",
    "AnchorVerdict",
    "anchor_cases",
    "anchor_sample_counts",
    "anchor_verdict",
    "main",
]

Kind = Literal["conv2d", "corr2d", "conv_transpose2d", "conv1d", "conv3d"]

SEED = 0
"""Seed under which the OpInfo samples and the ``grad_output`` tensors are drawn."""

FORWARD_DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
GRAD_DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float64)

CHECK_ORDER: tuple[tuple[torch.dtype, str], ...] = (
    (torch.float32, "forward"),
    (torch.float32, "backward"),
    (torch.float64, "forward"),
    (torch.float64, "backward"),
    (torch.float16, "forward"),
    (torch.bfloat16, "forward"),
)
"""The phases of a run, in order; each phase covers every case of its dtype."""

MIN_STRICT_CORR2D = 10
"""Below this many strictly 2-D conv2d samples, corr2d cases are also derived from all samples."""

_CONV2D_PARAMS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_FAILURE_CHARS = 400

_RawCase = tuple[int, str, tuple[Any, ...], dict[str, Any]]
"""(sample index, description, positional arguments, keyword arguments) before preparation."""


@dataclasses.dataclass(frozen=True)
class AnchorVerdict:
    """The anchor's judgement of one target.

    Attributes:
        killed: True if any check failed (the implementation was rejected).
        seconds: wall time until the first failing check, or of the whole run if none failed.
        checks: number of checks run until the verdict (skipped checks not included).
        first_failure: short description of the first failing sample and check, ``""`` if none.
        skipped: checks skipped because the target raised :class:`NotImplementedError`.
        failures: failing checks; 1 at most when the run stops at the first failure.
        setup_seconds: time this call spent importing PyTorch's test internals and building
            the cached cases (0 once they are cached).
    """

    killed: bool
    seconds: float
    checks: int
    first_failure: str
    skipped: int = 0
    failures: int = 0
    setup_seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class AnchorCase:
    """One prepared sample: the call to make and what ``F.conv2d`` returns for it.

    Attributes:
        index: position of the source sample in the OpInfo's sample list.
        dtype: the dtype of every tensor in the case.
        description: the sample's shapes and keyword arguments, for reports.
        args: positional arguments (``input, weight, bias`` or ``X, K``); ``None`` entries allowed.
        kwargs: keyword arguments, passed verbatim.
        expected: ``F.conv2d``'s output.
        grad_output: the fixed ``grad_output`` for the backward check, ``None`` if not checked.
        expected_grads: ``F.conv2d``'s gradient per positional argument (``None`` for non-tensors),
            or ``None`` if the backward check is not run for this dtype.
    """

    index: int
    dtype: torch.dtype
    description: str
    args: tuple[torch.Tensor | None, ...]
    kwargs: dict[str, Any]
    expected: torch.Tensor
    grad_output: torch.Tensor | None
    expected_grads: tuple[torch.Tensor | None, ...] | None


_opinfo_cache: dict[str, Any] = {}
_case_cache: dict[tuple[str, torch.dtype], tuple[AnchorCase, ...]] = {}


def _current_hypothesis_profile() -> tuple[Any, str | None]:
    try:
        hypothesis = importlib.import_module("hypothesis")
    except ImportError:
        return None, None
    settings = hypothesis.settings
    getter = getattr(settings, "get_current_profile_name", None)
    name = getter() if callable(getter) else getattr(settings, "_current_profile", None)
    return hypothesis, name


@contextlib.contextmanager
def _contained_import() -> Iterator[None]:
    """Undo the process-wide side effects of importing ``torch.testing._internal``."""
    hypothesis, profile = _current_hypothesis_profile()
    saved_env = dict(os.environ)
    was_frozen = torch.backends.flags_frozen()
    script_function_call = torch._C.ScriptFunction.__call__
    script_method_call = torch._C.ScriptMethod.__call__
    shim: types.ModuleType | None = None
    if importlib.util.find_spec("expecttest") is None:
        shim = types.ModuleType("expecttest")
        shim.TestCase = unittest.TestCase  # type: ignore[attr-defined]
        shim.ACCEPT = False  # type: ignore[attr-defined]
        sys.modules["expecttest"] = shim
    try:
        with warnings.catch_warnings():
            yield
    finally:
        for key in set(os.environ) - set(saved_env):
            del os.environ[key]
        for key, value in saved_env.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        if not was_frozen:
            # The flag lives in the namespace of torch/backends/__init__.py, not on the module object.
            torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True
        torch._C.ScriptFunction.__call__ = script_function_call  # type: ignore[method-assign]
        torch._C.ScriptMethod.__call__ = script_method_call  # type: ignore[method-assign]
        if hypothesis is not None and profile is not None:
            hypothesis.settings.load_profile(profile)
        if shim is not None and sys.modules.get("expecttest") is shim:
            del sys.modules["expecttest"]


def _conv2d_opinfo(name: str = "nn.functional.conv2d") -> Any:
    """The ``op_db`` entry called ``name`` (``nn.functional.conv2d`` by default; imported once, lazily)."""
    if name not in _opinfo_cache:
        with _contained_import():
            from torch.testing._internal.common_methods_invocations import op_db
        matches = [op for op in op_db if op.name == name and op.variant_test_name == ""]
        if len(matches) != 1:
            raise RuntimeError(f"expected one OpInfo for {name}, found {len(matches)}")
        _opinfo_cache[name] = matches[0]
    return _opinfo_cache[name]


def _bind_conv2d(sample: Any) -> dict[str, Any]:
    """The sample's call as F.conv2d's parameter names mapped to values."""
    values = (sample.input, *sample.args)
    bound = dict(zip(_CONV2D_PARAMS, values, strict=False))
    bound.update(sample.kwargs)
    return bound


def _shape(value: torch.Tensor | None) -> str:
    return "None" if value is None else "x".join(str(n) for n in value.shape)


def _fresh(value: Any, requires_grad: bool) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(requires_grad)
    return value


def _is_one(value: Any) -> bool:
    return value == 1 or (isinstance(value, tuple | list) and all(v == 1 for v in value))


def _is_zero_padding(value: Any) -> bool:
    return value in (0, "valid") or (isinstance(value, tuple | list) and all(v == 0 for v in value))


def _corr2d_ref(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x[None, None], k[None, None])[0, 0]


def _raw_conv2d_cases(
    samples: Sequence[Any],
) -> list[_RawCase]:
    raw: list[_RawCase] = []
    for index, sample in enumerate(samples):
        bound = _bind_conv2d(sample)
        args = (sample.input, *sample.args)
        weight, bias = bound["weight"], bound.get("bias")
        extras = ", ".join(f"{k}={v!r}" for k, v in sample.kwargs.items())
        description = f"input {_shape(sample.input)}, weight {_shape(weight)}, bias {_shape(bias)}" + (
            f", {extras}" if extras else ""
        )
        raw.append((index, description, args, dict(sample.kwargs)))
    return raw


def _raw_corr2d_cases(
    samples: Sequence[Any],
) -> list[_RawCase]:
    strict: list[_RawCase] = []
    derived: list[_RawCase] = []
    for index, sample in enumerate(samples):
        bound = _bind_conv2d(sample)
        x, w = bound["input"], bound["weight"]
        image = x[0, 0] if x.dim() == 4 else x[0]
        kernel = w[0, 0]
        is_strict = (
            w.shape[:2] == (1, 1)
            and (x.shape[:2] == (1, 1) if x.dim() == 4 else x.shape[0] == 1)
            and bound.get("bias") is None
            and _is_one(bound.get("stride", 1))
            and _is_zero_padding(bound.get("padding", 0))
            and _is_one(bound.get("dilation", 1))
            and bound.get("groups", 1) == 1
        )
        if is_strict:
            description = f"X {_shape(image)}, K {_shape(kernel)} (sample {index}, squeezed)"
            strict.append((index, description, (image, kernel), {}))
        elif image.shape[0] >= kernel.shape[0] and image.shape[1] >= kernel.shape[1]:
            source = "input[0, 0]" if x.dim() == 4 else "input[0]"
            description = f"X {_shape(image)}, K {_shape(kernel)} (sample {index}: {source}, weight[0, 0])"
            derived.append((index, description, (image, kernel), {}))
    return strict + derived if len(strict) < MIN_STRICT_CORR2D else strict


#: The op whose OpInfo samples anchor each kind, and what its results are compared with.
_REFERENCES: dict[str, Callable[..., torch.Tensor]] = {
    "conv2d": F.conv2d,
    "conv_transpose2d": F.conv_transpose2d,
    "conv1d": F.conv1d,
    "conv3d": F.conv3d,
}


def anchor_cases(kind: Kind = "conv2d", dtype: torch.dtype = torch.float32) -> tuple[AnchorCase, ...]:
    """The prepared cases for ``kind`` and ``dtype``, built once per process and cached."""
    if kind not in _REFERENCES and kind != "corr2d":
        raise ValueError(f"kind must be 'corr2d' or one of {sorted(_REFERENCES)}, not {kind!r}")
    if dtype not in FORWARD_DTYPES:
        raise ValueError(f"dtype must be one of {FORWARD_DTYPES}, not {dtype}")
    key = (kind, dtype)
    if key in _case_cache:
        return _case_cache[key]
    opinfo = _conv2d_opinfo(f"nn.functional.{'conv2d' if kind == 'corr2d' else kind}")
    if dtype not in opinfo.supported_dtypes("cpu"):
        _case_cache[key] = ()
        return ()
    with_grad = dtype in GRAD_DTYPES
    reference: Callable[..., torch.Tensor] = _REFERENCES.get(kind, _corr2d_ref)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        torch.manual_seed(SEED)
        samples = list(opinfo.sample_inputs("cpu", dtype, requires_grad=with_grad))
        raw = _raw_corr2d_cases(samples) if kind == "corr2d" else _raw_conv2d_cases(samples)
        generator = torch.Generator().manual_seed(SEED)
        cases = []
        for index, description, raw_args, kwargs in raw:
            args = tuple(_fresh(a, with_grad) for a in raw_args)
            out = reference(*args, **kwargs)
            grad_output: torch.Tensor | None = None
            expected_grads: tuple[torch.Tensor | None, ...] | None = None
            if with_grad:
                grad_output = torch.randn(out.shape, generator=generator, dtype=torch.float64).to(dtype)
                leaves = [a for a in args if a is not None]
                grads = iter(torch.autograd.grad(out, leaves, grad_output))
                expected_grads = tuple(next(grads).detach() if a is not None else None for a in args)
            cases.append(
                AnchorCase(
                    index=index,
                    dtype=dtype,
                    description=description,
                    args=tuple(a.detach() if a is not None else None for a in args),
                    kwargs=kwargs,
                    expected=out.detach(),
                    grad_output=grad_output,
                    expected_grads=expected_grads,
                )
            )
    _case_cache[key] = tuple(cases)
    return _case_cache[key]


def anchor_sample_counts(kind: Kind = "conv2d") -> dict[str, tuple[int, int]]:
    """Per dtype name: (cases, checks) that a full run of ``kind`` makes."""
    counts: dict[str, tuple[int, int]] = {}
    for dtype in FORWARD_DTYPES:
        n = len(anchor_cases(kind, dtype))
        counts[str(dtype).removeprefix("torch.")] = (n, n * (2 if dtype in GRAD_DTYPES else 1))
    return counts


def _summarize(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = "; ".join(lines) or type(error).__name__
    if not isinstance(error, AssertionError):
        text = f"{type(error).__name__}: {text}"
    return text if len(text) <= _FAILURE_CHARS else text[: _FAILURE_CHARS - 3] + "..."


def _argument_names(kind: Kind, count: int) -> tuple[str, ...]:
    return ("X", "K")[:count] if kind == "corr2d" else ("input", "weight", "bias")[:count]


def _run_check(fn: Callable[..., Any], case: AnchorCase, mode: str, kind: Kind) -> str | None:
    """Run one check; return ``None`` if it passed, ``"skip"`` if skipped, else the failure text."""
    backward = mode == "backward"
    args = tuple(_fresh(a, backward) for a in case.args)
    try:
        out = fn(*args, **case.kwargs)
        if not backward:
            torch.testing.assert_close(out, case.expected)
            return None
        assert case.grad_output is not None and case.expected_grads is not None
        leaves = [a for a in args if isinstance(a, torch.Tensor)]
        grads = iter(torch.autograd.grad(out, leaves, case.grad_output, allow_unused=True))
        names = _argument_names(kind, len(args))
        for name, arg, expected in zip(names, args, case.expected_grads, strict=True):
            if not isinstance(arg, torch.Tensor) or expected is None:
                continue
            grad = next(grads)
            if grad is None:
                return f"no gradient w.r.t. {name}"
            try:
                torch.testing.assert_close(grad, expected)
            except AssertionError as error:
                return f"gradient w.r.t. {name}: {_summarize(error)}"
        return None
    except NotImplementedError:
        return "skip"
    except Exception as error:
        return _summarize(error)


def anchor_verdict(
    fn: Callable[..., Any], *, kind: Kind = "conv2d", stop_at_first: bool = True
) -> AnchorVerdict:
    """Check ``fn`` against PyTorch's OpInfo samples for conv2d and return the verdict.

    Args:
        fn: for ``kind="conv2d"``, a callable with ``F.conv2d``'s signature; for
            ``kind="corr2d"``, a callable ``corr2d(X, K)`` on 2-D tensors.
        kind: ``"conv2d"`` or ``"corr2d"``.
        stop_at_first: stop at the first failing check (the default); otherwise run every
            check and count the failures, still timing the first one.

    Returns:
        The :class:`AnchorVerdict`. Exceptions raised by ``fn`` are failures, except
        :class:`NotImplementedError`, which skips the check.
    """
    setup_start = time.perf_counter()
    phases = [(dtype, mode, anchor_cases(kind, dtype)) for dtype, mode in CHECK_ORDER]
    setup_seconds = time.perf_counter() - setup_start

    checks = skipped = failures = 0
    first_failure = ""
    first_failure_seconds: float | None = None
    start = time.perf_counter()
    for dtype, mode, cases in phases:
        for case in cases:
            outcome = _run_check(fn, case, mode, kind)
            if outcome == "skip":
                skipped += 1
                continue
            checks += 1
            if outcome is None:
                continue
            failures += 1
            if first_failure_seconds is None:
                first_failure_seconds = time.perf_counter() - start
                dtype_name = str(dtype).removeprefix("torch.")
                first_failure = f"{dtype_name} {mode}, sample {case.index} [{case.description}]: {outcome}"
            if stop_at_first:
                break
        if failures and stop_at_first:
            break
    total = time.perf_counter() - start
    return AnchorVerdict(
        killed=failures > 0,
        seconds=first_failure_seconds if first_failure_seconds is not None else total,
        checks=checks,
        first_failure=first_failure,
        skipped=skipped,
        failures=failures,
        setup_seconds=setup_seconds,
    )


def _resolve(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"target must look like 'module.path:attribute', not {target!r}")
    module = importlib.import_module(module_name)
    resolved = functools.reduce(getattr, attribute.split("."), module)
    if not callable(resolved):
        raise TypeError(f"{target} is not callable")
    return resolved  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the anchor's verdict on ``module.path:attribute``; exit 1 if killed."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/anchor.py",
        description="Check a conv2d (or corr2d) implementation against PyTorch's OpInfo samples.",
    )
    parser.add_argument("target", nargs="?", help="the implementation, as 'module.path:attribute'")
    parser.add_argument("--kind", choices=("conv2d", "corr2d"), default="conv2d")
    parser.add_argument(
        "--all", action="store_true", help="run every check instead of stopping at the first failure"
    )
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.add_argument("--counts", action="store_true", help="print the cases and checks per dtype and exit")
    options = parser.parse_args(argv)

    if options.counts:
        for kind in ("conv2d", "corr2d"):
            for dtype_name, (cases, checks) in anchor_sample_counts(kind).items():
                print(f"{kind:8} {dtype_name:9} samples {cases:3}  checks {checks:3}")
        return 0
    if options.target is None:
        parser.error("a target is required unless --counts is given")

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        fn = _resolve(options.target)
    except (ImportError, AttributeError, ValueError, TypeError) as error:
        parser.error(f"cannot load {options.target!r}: {error}")
    verdict = anchor_verdict(fn, kind=options.kind, stop_at_first=not options.all)
    if options.json:
        print(json.dumps({"target": options.target, "kind": options.kind, **dataclasses.asdict(verdict)}))
    else:
        print(f"target         {options.target}")
        print(f"kind           {options.kind}")
        for field in dataclasses.fields(verdict):
            value = getattr(verdict, field.name)
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            print(f"{field.name:14} {shown}")
    return 1 if verdict.killed else 0


if __name__ == "__main__":
    sys.exit(main())
