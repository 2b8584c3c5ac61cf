"""A misbehaving target gets a verdict, never a crash: raising, hanging, wrong types, NaN, declining."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

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
        return F.conv2d(x.double(), w.double(), None if b is None else b.double(), **params)

    result = _verdict(widen, "output-shape")
    assert result.status == "fails" and "output.dtype=torch.float64, but should be" in result.failure.message


def test_wrong_shape_fails() -> None:
    """Dropping the last output column fails with both shapes shown."""
    result = _verdict(lambda x, w, b=None, **p: F.conv2d(x, w, b, **p)[..., :-1], "output-shape")
    assert result.status == "fails" and "output.shape=" in result.failure.message


def test_nan_output_fails() -> None:
    """A NaN in the output is an infinite error."""

    def nan_corner(x, w, b=None, **params):
        y = F.conv2d(x, w, b, **params).clone()
        y[..., 0, 0] = float("nan")
        return y

    result = _verdict(nan_corner)
    assert result.status == "fails" and "got nan" in result.failure.message


def test_hanging_target_fails_and_later_properties_are_not_run() -> None:
    """A call past the time limit fails the property; the target is then not called again."""

    def slow(x, w, b=None, **params):
        time.sleep(3)
        return F.conv2d(x, w, b, **params)

    target = Target(slow, "test:slow", timeout=0.2)
    result = run_property(PROPERTIES["output-shape"], target, profile="quick")
    assert result.status == "fails" and "did not return within" in result.failure.message
    after = run_property(PROPERTIES["matches-reference"], target, profile="quick")
    assert after.status == "not run" and "hung" in after.note


def test_not_implemented_everywhere_is_unsupported() -> None:
    """A target that declines every case is reported unsupported, not failing."""

    def decline(*args, **kwargs):
        raise NotImplementedError("only on Tuesdays")

    result = _verdict(decline)
    assert result.status == "unsupported" and "only on Tuesdays" in next(iter(result.unsupported))


def test_partly_unsupported_is_counted_not_hidden() -> None:
    """Declining float16 still checks the rest, and the declined cases are counted in the result."""

    def no_half(x, w, b=None, **params):
        if x.dtype == torch.float16:
            raise NotImplementedError("float16")
        return F.conv2d(x, w, b, **params)

    result = _verdict(no_half)
    assert result.status == "holds" and result.examples > 0 and sum(result.unsupported.values()) > 0


def test_declared_capabilities_bound_the_cases() -> None:
    """A target declaring float32/contiguous/no groups is only called within that."""

    @declare(dtypes=("float32",), layouts=("contiguous",), groups=False)
    def strict(x, w, b=None, **params):
        assert x.dtype == torch.float32 and x.is_contiguous() and params["groups"] == 1
        return F.conv2d(x, w, b, **params)

    assert _verdict(strict).status == "holds"
    assert _verdict(strict, "groups-concat").status == "unsupported"


def test_undeclared_non_differentiable_target_fails_gradients() -> None:
    """A detached output without autograd=False declared fails the gradients property."""
    result = _verdict(lambda x, w, b=None, **p: F.conv2d(x, w, b, **p).detach(), "gradients")
    assert result.status == "fails" and "grad_fn=None" in result.failure.message


def test_declared_non_differentiable_target_is_unsupported_for_gradients() -> None:
    """Declaring autograd=False turns the gradient properties into unsupported."""

    @declare(autograd=False)
    def forward_only(x, w, b=None, **params):
        return F.conv2d(x, w, b, **params).detach()

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
