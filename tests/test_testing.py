"""assert_conv2d_close passes right results, fails every forward mutant with the gate's message, checks its arguments.

The results judged here come from the host's F.conv2d and from zoo entries, which
may run the host's float16/bfloat16 GEMMs: they are computed in a worker process
(``tests/_isolation.py``), never in the pytest process (``tests/_tripwire.py``), and
a worker the host's torch kills skips the test, naming the signal.
"""

from __future__ import annotations

import re
from typing import Any, cast

import _isolation
import pytest
import torch
import torch.nn.functional as F

from conv2d.gate.capabilities import capabilities_of
from conv2d.gate.case import Args, ConvCase
from conv2d.gate.reference import reference
from conv2d.gate.rejections import rejects
from conv2d.gate.upstream import BUGS
from conv2d.testing import assert_conv2d_close
from conv2d.zoo import CORRECT, MUTANTS, ZooEntry, by_name
from conv2d.zoo.mutants import WITNESSES

CASES = [
    ConvCase(2, 3, 4, 9, 10, (3, 3), bias=True),
    ConvCase(
        1, 4, 6, 8, 7, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2, dtype="float64"
    ),
    ConvCase(None, 3, 6, 7, 7, (3, 3), padding="same", groups=3, bias=True, input_layout="channels_last"),
    ConvCase(3, 2, 2, 6, 6, (2, 2), padding=1, dtype="float16", bias=True, input_layout="strided"),
    ConvCase(2, 4, 4, 8, 9, (1, 3), stride=2, dtype="bfloat16", bias=True, weight_layout="offset"),
]
#: The worst element and its ratio, in the gate's message grammar.
MESSAGE = re.compile(
    r"^output vs float64 reference: (\d+) of (\d+) elements exceed the error bound; "
    r"worst at \((?:\d+, )*\d+\): got \S+, expected \S+, error \S+ = (\S+) x bound \S+"
)
#: A forward result off by more than this, relative to |x| * |w| + |b|, is wrong beyond any rounding.
GROSS = {torch.float64: 1e-10, torch.float32: 1e-3, torch.float16: 1e-2, torch.bfloat16: 1e-2}


def _call(entry: ZooEntry, args: Args) -> torch.Tensor:
    return entry.fn(args.input, args.weight, args.bias, **args.params())


def _kwargs(args: Args) -> dict[str, Any]:
    return {"bias": args.bias, **args.params()}


def _host_output(index: int) -> torch.Tensor:
    """The host's F.conv2d on ``CASES[index]`` (run in the worker process)."""
    args = CASES[index].materialize()
    return F.conv2d(args.input, args.weight, **_kwargs(args))


def _entry_outputs(name: str) -> list[torch.Tensor]:
    """The zoo entry ``name`` on every case (run in the worker process)."""
    entry = by_name(name)
    return [_call(entry, case.materialize()).detach() for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.describe())
def test_f_conv2d_passes(case: ConvCase) -> None:
    """F.conv2d's own output passes on every configuration (none in a known torch bug's region)."""
    args = case.materialize()
    assert not any(bug.affects(args) for bug in BUGS)
    out = _isolation.call(_host_output, CASES.index(case), what=f"the host's F.conv2d on {case.describe()}")
    assert_conv2d_close(out, args.input, args.weight, **_kwargs(args))


@pytest.mark.parametrize("entry", [e for e in CORRECT if e.kind == "conv2d"], ids=lambda e: e.name)
def test_correct_alternatives_pass(entry: ZooEntry) -> None:
    """Every correct zoo alternative passes, at the accumulation precision it declares."""
    accumulation = capabilities_of(entry.fn).accumulation
    outputs = _isolation.call(_entry_outputs, entry.name, what=entry.target)
    for case, out in zip(CASES, outputs, strict=True):
        args = case.materialize()
        assert_conv2d_close(out, args.input, args.weight, **_kwargs(args), accumulation=accumulation)


def _witness(name: str) -> Args:
    (tensors, params) = WITNESSES[name]()
    bias = tensors[2] if len(tensors) > 2 else None
    return Args(tensors[0], tensors[1], bias, **params)


def _witness_output(name: str) -> torch.Tensor:
    """The mutant ``name`` on its witness (run in the worker process: it may call host half GEMMs)."""
    return _call(by_name(name), _witness(name)).detach()


def _forward_deviates(out: torch.Tensor, args: Args) -> bool:
    """Decided with the float64 reference: wrong shape or dtype, or an error no rounding explains."""
    exact = reference(args)
    if out.shape != exact.value.shape or out.dtype != args.input.dtype:
        return True
    got, special = out.detach().double(), ~torch.isfinite(exact.value)
    if bool((special & torch.isfinite(got)).any()):
        return True
    error = torch.where(special, 0.0, (got - exact.value).abs() / (exact.magnitude + 1e-300))
    return float(error.nan_to_num(nan=float("inf")).max()) > GROSS[args.input.dtype]


@pytest.mark.parametrize("entry", [e for e in MUTANTS if e.kind == "conv2d"], ids=lambda e: e.name)
def test_mutant_witnesses(entry: ZooEntry) -> None:
    """A mutant's witness output fails with the worst element and its ratio if its forward result is wrong, else passes."""
    args = _witness(entry.name)
    if rejects(args):  # an invalid call (the input-validation mutants): an argument error, not a verdict
        out = _isolation.call(_witness_output, entry.name, what=f"{entry.target} on its witness")
        with pytest.raises(ValueError, match="assert_conv2d_close"):
            assert_conv2d_close(out, args.input, args.weight, **_kwargs(args))
        return
    try:  # on a witness of its own, in the worker: it may mutate its arguments, judge against a fresh copy
        out = _isolation.call(_witness_output, entry.name, what=f"{entry.target} on its witness")
    except Exception:
        pytest.skip(f"{entry.name} raises on its witness: there is no result to judge")
    if not _forward_deviates(out, args):
        assert_conv2d_close(out.detach(), args.input, args.weight, **_kwargs(args))
        return
    with pytest.raises(AssertionError) as raised:
        assert_conv2d_close(out.detach(), args.input, args.weight, **_kwargs(args), msg=entry.name)
    message = str(raised.value).removeprefix(f"{entry.name}: ")
    if out.shape != reference(args).value.shape:
        assert message.startswith("output.shape="), message
    elif out.dtype != args.input.dtype:
        assert message.startswith("output.dtype="), message
    elif "are finite where the exact result is NaN or infinite" in message:
        assert re.search(r"first at \((?:\d+, )*\d+\): got \S+, expected (nan|-?inf)$", message), message
    else:
        found = MESSAGE.match(message)
        assert found is not None, message
        assert int(found.group(1)) >= 1 and float(found.group(3)) > 1
        assert "worst plane" in message  # the error map


def test_diagnosis_and_error_map_in_the_message() -> None:
    """A rotated kernel fails with the diagnosis line naming the rotation, then the error map."""
    args = ConvCase(2, 3, 4, 8, 8, (3, 3), dtype="float64").materialize()
    wrong = F.conv2d(args.input, args.weight.flip(-2, -1))
    with pytest.raises(AssertionError) as raised:
        assert_conv2d_close(wrong, args.input, args.weight)
    lines = str(raised.value).splitlines()
    assert lines[1].startswith("diagnosis: the output equals F.conv2d with the kernel rotated 180°")
    assert lines[2].startswith("worst plane (")


def test_declared_tf32_is_accepted() -> None:
    """A result from TF32-rounded inputs fails the float32 contract and passes with tf32=True."""
    args = ConvCase(2, 16, 4, 6, 6, (3, 3), values="biased", seed=3).materialize()
    out = MUTANTS[[e.name for e in MUTANTS].index("tf32_float32")].fn(args.input, args.weight)
    with pytest.raises(AssertionError, match="tf32=True"):
        assert_conv2d_close(out, args.input, args.weight)
    assert_conv2d_close(out, args.input, args.weight, tf32=True)


X, W = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: assert_conv2d_close(cast(Any, [1.0]), X, W), TypeError, r"actual must be a torch.Tensor"),
        (
            lambda: assert_conv2d_close(X, cast(Any, X.tolist()), W),
            TypeError,
            r"input must be a torch.Tensor, got list",
        ),
        (
            lambda: assert_conv2d_close(X, X.long(), W),
            TypeError,
            r"input must have a floating-point dtype.*\.float\(\)",
        ),
        (
            lambda: assert_conv2d_close(X, X, W.double()),
            TypeError,
            r"weight has dtype torch.float64 but input",
        ),
        (
            lambda: assert_conv2d_close(X, X[0, 0], W),
            ValueError,
            r"input must be 4-D .* got a 2-D tensor.*unsqueeze",
        ),
        (lambda: assert_conv2d_close(X, X, W[0]), ValueError, r"weight must be 4-D .* got a 3-D tensor"),
        (
            lambda: assert_conv2d_close(X, X, W, groups=2),
            ValueError,
            r"groups=2 does not fit input channels 2",
        ),
        (lambda: assert_conv2d_close(X, X, W, torch.zeros(2)), ValueError, r"bias must have shape \(3,\)"),
        (lambda: assert_conv2d_close(X, X, W, stride=0), ValueError, r"stride must be >= 1, got 0"),
        (
            lambda: assert_conv2d_close(X, X, W, padding="full"),
            ValueError,
            r"padding='full' is not supported",
        ),
        (
            lambda: assert_conv2d_close(X, X, W, padding="same", stride=2),
            ValueError,
            r"'same' requires stride 1",
        ),
        (
            lambda: assert_conv2d_close(X, X, W, tf32=cast(Any, "yes")),
            TypeError,
            r"tf32 must be True or False, got 'yes'",
        ),
        (
            lambda: assert_conv2d_close(X, X, W, accumulation="half"),
            ValueError,
            r"accumulation='half'; expected",
        ),
    ],
)
def test_arguments_are_checked(call, error: type[Exception], message: str) -> None:
    """Malformed arguments raise an error naming the argument, its value and the fix, never an AssertionError."""
    with pytest.raises(error, match=message) as raised:
        call()
    assert "assert_conv2d_close" in str(raised.value)
