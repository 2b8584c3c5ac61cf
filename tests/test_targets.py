"""A misbehaving target gets a verdict, never a crash: raising, hanging, wrong types, NaN, declining.

The misbehaving targets wrap a correct convolution, the project's core
(``conv2d.functional.conv2d``, float16/bfloat16 computed in float32): the host's
F.conv2d is not run in the pytest process (``tests/_tripwire.py``).
"""

from __future__ import annotations

import time

import pytest
import torch

from conv2d.functional import conv2d as core_conv2d
from conv2d.gate import PROPERTIES, Target, declare, run_property
from conv2d.gate.target import LoadError, load_target


def _verdict(fn, prop: str = "matches-reference", **kwargs):
    return run_property(PROPERTIES[prop], Target(fn, "test:fn", **kwargs), profile="quick")


def test_raising_target_fails_with_the_exception_named() -> None:
    """Any exception other than NotImplementedError is a failure that names it."""

    def boom(*args, **kwargs):
        raise RuntimeError("kernel launch failed")

    result = _verdict(boom)
    assert result.status == "fails" and "raised RuntimeError: kernel launch failed" in result.failure.message


def test_non_tensor_result_fails() -> None:
    """Returning something other than a tensor is a failure saying what was returned."""
    result = _verdict(lambda *a, **k: [1.0], "output-shape")
    assert result.status == "fails" and "returned a list" in result.failure.message


def test_wrong_dtype_fails() -> None:
    """Returning float64 for float32 input fails output-shape with the dtype named."""

    def widen(x, w, b=None, **params):
        return core_conv2d(x.double(), w.double(), None if b is None else b.double(), **params)

    result = _verdict(widen, "output-shape")
    assert result.status == "fails" and "output.dtype=torch.float64, but should be" in result.failure.message


def test_wrong_shape_fails() -> None:
    """Dropping the last output column fails with both shapes shown."""
    result = _verdict(lambda x, w, b=None, **p: core_conv2d(x, w, b, **p)[..., :-1], "output-shape")
    assert result.status == "fails" and "output.shape=" in result.failure.message


def test_nan_output_fails() -> None:
    """A NaN in the output is an infinite error."""

    def nan_corner(x, w, b=None, **params):
        y = core_conv2d(x, w, b, **params).clone()
        y[..., 0, 0] = float("nan")
        return y

    result = _verdict(nan_corner)
    assert result.status == "fails" and "got nan" in result.failure.message


def test_hanging_target_times_out_and_later_properties_are_not_run_in_process() -> None:
    """A call past the time limit is a timeout (its own status, with the call's size); in-process, the target is not called again."""

    def slow(x, w, b=None, **params):
        time.sleep(3)
        return core_conv2d(x, w, b, **params)

    target = Target(slow, "test:slow", timeout=0.2)
    result = run_property(PROPERTIES["output-shape"], target, profile="quick")
    assert result.status == "timeout" and "did not return within the 0.2 s time limit" in result.note
    assert "input elements" in result.note and result.failure is not None
    after = run_property(PROPERTIES["matches-reference"], target, profile="quick")
    assert after.status == "not run" and "did not return" in after.note


def test_not_implemented_everywhere_is_not_verified() -> None:
    """A target that declines every case is 'not verified' (failing the run), with the reason."""

    def decline(*args, **kwargs):
        raise NotImplementedError("only on Tuesdays")

    result = _verdict(decline)
    assert result.status == "not verified" and "only on Tuesdays" in result.note
    assert "only on Tuesdays" in next(iter(result.unsupported))


def test_not_implemented_from_a_torch_operator_is_a_failure() -> None:
    """NotImplementedError raised by a torch operator inside the target is a failure, not a decline."""

    def broken(x, w, b=None, **params):
        y = core_conv2d(x, w, b, **params)
        return y ^ y

    result = _verdict(broken, "output-shape")
    assert result.status == "fails" and result.failure is not None
    assert "NotImplementedError from inside a torch operator" in result.failure.message


def test_not_implemented_only_with_a_bias_fails_on_that_case() -> None:
    """A torch NotImplementedError only on the bias path fails on a case with a bias."""

    def broken_bias(x, w, b=None, **params):
        y = core_conv2d(x, w, None, **params)
        return y if b is None else y & b.view(-1, 1, 1)

    result = _verdict(broken_bias)
    assert result.status == "fails" and result.failure is not None and result.failure.case.bias


def test_a_huge_exception_message_is_cut() -> None:
    """A 5 MB exception message is cut to a bounded length that says how much was cut."""

    def loud(*args, **kwargs):
        raise RuntimeError("x" * 5_000_000)

    result = _verdict(loud, "output-shape")
    assert result.failure is not None and len(result.failure.message) < 3000
    assert "more characters cut, 5000000 in all" in result.failure.message


def test_declines_name_what_the_declined_cases_shared() -> None:
    """Declining every case with a bias is reported with its count and 'with a bias' as the common feature."""

    def no_bias(x, w, b=None, **params):
        if b is not None:
            raise NotImplementedError("no bias")
        return core_conv2d(x, w, None, **params)

    result = _verdict(no_bias)
    assert result.status == "holds" and result.unsupported
    reason = next(iter(result.unsupported))
    assert "with a bias" in result.declined[reason] and "e.g. input" in result.declined[reason]


def test_partly_unsupported_is_counted_not_hidden() -> None:
    """Declining float16 still checks the rest, and the declined cases are counted in the result."""

    def no_half(x, w, b=None, **params):
        if x.dtype == torch.float16:
            raise NotImplementedError("float16")
        return core_conv2d(x, w, b, **params)

    result = _verdict(no_half)
    assert result.status == "holds" and result.examples > 0 and sum(result.unsupported.values()) > 0


def test_declared_capabilities_bound_the_cases() -> None:
    """A target declaring float32/contiguous/no groups is only called within that."""

    @declare(dtypes=("float32",), layouts=("contiguous",), groups=False)
    def strict(x, w, b=None, **params):
        assert x.dtype == torch.float32 and x.is_contiguous() and params["groups"] == 1
        return core_conv2d(x, w, b, **params)

    assert _verdict(strict).status == "holds"
    assert _verdict(strict, "groups-concat").status == "unsupported"


def test_undeclared_non_differentiable_target_fails_gradients() -> None:
    """A detached output without autograd=False declared fails the gradients property."""
    result = _verdict(lambda x, w, b=None, **p: core_conv2d(x, w, b, **p).detach(), "gradients")
    assert result.status == "fails" and "grad_fn=None" in result.failure.message


def test_declared_non_differentiable_target_is_unsupported_for_gradients() -> None:
    """Declaring autograd=False turns the gradient properties into unsupported."""

    @declare(autograd=False)
    def forward_only(x, w, b=None, **params):
        return core_conv2d(x, w, b, **params).detach()

    assert _verdict(forward_only, "gradients").status == "unsupported"
    assert _verdict(forward_only, "adjoint").status == "unsupported"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "not of the form"),
        ("no_such_module_xyz:fn", "cannot import module 'no_such_module_xyz'"),
        ("torch.nn.functional:no_such_fn", "has no attribute 'no_such_fn'"),
        ("torch:__version__", "not a callable"),
    ],
)
def test_load_errors_are_clear(spec: str, message: str) -> None:
    """A target that cannot be imported or found gets a message naming what is wrong."""
    with pytest.raises(LoadError, match=message):
        load_target(spec)


def test_unknown_capability_is_named() -> None:
    """Declaring an unknown capability names it and lists the known ones."""
    with pytest.raises(ValueError, match="unknown capability 'dtype'"):
        declare(dtype="float32")


def test_slow_target_is_incomplete_not_failing() -> None:
    """A slow but correct target that reaches the time guard is 'incomplete' with the count checked, never 'fails'."""
    from conv2d.gate.engine import GateProfile

    def slow(x, w, b=None, **params):
        time.sleep(0.05)
        return core_conv2d(x, w, b, **params)

    tight = GateProfile("tight", 1.0, 0.5, 50, 5.0, "a half-second guard")
    result = run_property(PROPERTIES["matches-reference"], Target(slow, "test:slow"), profile=tight)
    assert result.status == "incomplete" and "time guard" in result.note
    assert 0 < result.examples < 150 and result.failure is None


def test_declared_max_elements_bounds_the_search() -> None:
    """A target declaring max_elements is never called on a larger input, and large-input becomes unsupported."""
    seen: list[int] = []

    @declare(max_elements=2000)
    def small_only(x, w, b=None, **params):
        seen.append(x.numel())
        return core_conv2d(x, w, b, **params)

    assert _verdict(small_only).status == "holds" and seen and max(seen) <= 2000
    assert _verdict(small_only, "large-input").status == "unsupported"


def test_repro_of_a_dotted_attribute_imports_its_first_segment_then_resolves_it() -> None:
    """A target 'pkg.mod:Class.method' gets a repro that imports Class and takes .method, and it runs."""
    from conv2d.gate.case import ConvCase
    from conv2d.gate.engine import repro_snippet

    target = Target.load("torch:nn.functional.conv2d")
    case = ConvCase(batch=1, in_channels=2, out_channels=3, height=4, width=5, kernel=(2, 2), dtype="float64")
    snippet = repro_snippet(target, PROPERTIES["matches-reference"], case)
    assert "from torch import nn\nfn = nn.functional.conv2d" in snippet
    scope: dict = {}
    exec(snippet, scope)
    assert tuple(scope["out"].shape) == (1, 3, 3, 4)
