"""Laws whose family comes from torch itself: no-side-effects, invalid-input and calling-conventions.

* no-side-effects sets every global setting torch exposes (``conv2d.gate.settings``) to an
  unusual value before a call, so that a call writing a setting shows even when it writes
  the value the gate itself runs with;
* invalid-input checks every call F.conv2d rejects among the small changes of each case
  (``conv2d.gate.rejections``);
* calling-conventions omits each default and passes each parameter by keyword, as torch's
  schema states them (``conv2d.gate.defaults``).

The targets here wrap the project's core (``conv2d.functional.conv2d``), and the cases are
float64: no host convolution runs in the pytest process (``tests/_tripwire.py``).
"""

# The wrong functions below differ from F.conv2d's signature on purpose.
# mypy: disable-error-code="no-untyped-def"

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from conv2d.functional import conv2d as core
from conv2d.gate import PROPERTIES, ConvCase, Target
from conv2d.gate.rejections import rejected_calls
from conv2d.gate.state import global_state
from conv2d.gate.target import Violation

CASES = [
    ConvCase(batch=2, in_channels=2, out_channels=4, height=7, width=7, kernel=(3, 3), stride=2, padding=1, bias=True, dtype="float64", seed=1),
    ConvCase(batch=1, in_channels=3, out_channels=3, height=6, width=5, kernel=(2, 2), dtype="float64", seed=2),
    ConvCase(batch=None, in_channels=4, out_channels=2, height=9, width=8, kernel=(3, 2), dilation=2, groups=2, padding="same", bias=True, dtype="float64", seed=3),
]  # fmt: skip


def _check(law: str, fn: Callable[..., Any], case: ConvCase) -> None:
    PROPERTIES[law].check(Target(fn, getattr(fn, "__name__", "fn")), case)


def _failure(law: str, fn: Callable[..., Any], case: ConvCase) -> str:
    with pytest.raises(Violation) as caught:
        _check(law, fn, case)
    return str(caught.value)


@pytest.mark.parametrize("law", ["no-side-effects", "invalid-input", "calling-conventions"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.describe()[:50])
def test_the_core_passes(law: str, case: ConvCase) -> None:
    _check(law, core, case)


# -- no-side-effects ------------------------------------------------------------------------------
def resets_default_dtype(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    torch.set_default_dtype(torch.float32)  # the value the gate runs with
    return core(input, weight, bias, stride, padding, dilation, groups)


_USUAL_OPT_EINSUM = torch.backends.opt_einsum.enabled


def writes_opt_einsum(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    torch.backends.opt_einsum.enabled = _USUAL_OPT_EINSUM  # a backend flag outside the per-call check's list
    return core(input, weight, bias, stride, padding, dilation, groups)


class _ResetsInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        torch.set_flush_denormal(False)  # the value it usually has: invisible before/after
        return grad


def resets_in_backward(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return core(_ResetsInBackward.apply(input), weight, bias, stride, padding, dilation, groups)


def fails_under_float64_default(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if torch.get_default_dtype() == torch.float64:
        raise RuntimeError("this target assumes float32 as the default dtype")
    return core(input, weight, bias, stride, padding, dilation, groups)


def test_a_write_of_the_gates_own_value_fails_no_side_effects() -> None:
    before, args = global_state(), CASES[0].materialize()
    resets_default_dtype(args.input, args.weight, args.bias, **args.params())  # no change before/after
    assert global_state() == before
    message = _failure("no-side-effects", resets_default_dtype, CASES[0])
    assert "torch.set_default_dtype: torch.float64 -> torch.float32" in message
    assert "the gate had set every global setting torch exposes to an unusual value" in message
    assert torch.get_default_dtype() == torch.float32


def test_a_backend_flag_outside_the_per_call_list_fails_no_side_effects() -> None:
    message = _failure("no-side-effects", writes_opt_einsum, CASES[1])
    assert f"torch.backends.opt_einsum.enabled: {not _USUAL_OPT_EINSUM} -> {_USUAL_OPT_EINSUM}" in message
    assert torch.backends.opt_einsum.enabled is _USUAL_OPT_EINSUM  # put back to the value it had


def test_settings_written_in_backward_fail_no_side_effects() -> None:
    message = _failure("no-side-effects", resets_in_backward, CASES[0])
    assert message.startswith("backward changed 1 of torch's global settings")
    assert "torch.set_flush_denormal: True -> False" in message


def test_a_call_that_fails_under_unusual_settings_but_changes_none_passes() -> None:
    """What a call computes under the canaries is other laws' business; only what it leaves is judged."""
    _check("no-side-effects", fails_under_float64_default, CASES[1])


def test_an_unreadable_setting_is_reported_and_not_a_crash() -> None:
    """After the newer TF32 setting, torch refuses to read the legacy flags: the per-call check says so."""

    def mixes_tf32_apis(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        return core(input, weight, bias, stride, padding, dilation, groups)

    before, precision = global_state(), torch.backends.cuda.matmul.fp32_precision
    try:
        with pytest.raises(Violation, match="changed torch's global state") as caught:
            Target(mixes_tf32_apis, "mixes_tf32_apis")(CASES[1].materialize())
        assert "<unreadable: RuntimeError" in str(caught.value)
        assert global_state() == before
    finally:
        torch.backends.cuda.matmul.fp32_precision = precision


# -- invalid-input --------------------------------------------------------------------------------
def accepts_everything(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    try:
        return core(input, weight, bias, stride, padding, dilation, groups)
    except Exception:
        return torch.zeros(1, dtype=torch.float64)


def _lenient(fix: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[..., torch.Tensor]:
    """The core with one of F.conv2d's checks replaced by a guess at what was meant."""

    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        call = fix(dict(stride=stride, padding=padding, dilation=dilation, groups=groups))
        return core(input, weight, bias, **call)

    return conv2d


def _abs_stride(p: dict[str, Any]) -> dict[str, Any]:
    s = p["stride"]
    return {**p, "stride": abs(s) if isinstance(s, int) else s}


def _dilation_zero_as_one(p: dict[str, Any]) -> dict[str, Any]:
    d = p["dilation"]
    return {**p, "dilation": tuple(max(v, 1) for v in d) if isinstance(d, tuple) else max(d, 1)}


def _groups_zero_as_one(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "groups": p["groups"] or 1}


def _same_ignores_stride(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "padding": 0 if p["padding"] == "same" and p["stride"] != 1 else p["padding"]}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.describe()[:50])
def test_every_rejected_call_is_checked_on_every_case(case: ConvCase) -> None:
    """A target that accepts everything is told every call of the case it should have refused."""
    message = _failure("invalid-input", accepts_everything, case)
    kinds = [what for what, _ in rejected_calls(case.materialize())]
    assert len(kinds) >= 30
    assert message.startswith(f"the call with {kinds[0]} returned a tensor of shape (1,), but should raise")
    assert f"it also accepted {len(kinds) - 1} more" in message
    assert all(what in message for what in kinds)


@pytest.mark.parametrize(
    ("fix", "kind"),
    [
        (_abs_stride, "a negative stride"),
        (_dilation_zero_as_one, "dilation 0"),
        (_groups_zero_as_one, "groups=0"),
        (_same_ignores_stride, "padding='same' with stride 2"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_a_target_accepting_one_kind_of_rejected_call_fails(
    fix: Callable[[dict[str, Any]], dict[str, Any]], kind: str
) -> None:
    """Each kind is found on a case that has it, kinds the hand-written list of invalid calls lacked included."""
    message = _failure("invalid-input", _lenient(fix), CASES[1])
    assert message.startswith(f"the call with {kind} returned a tensor of shape")
    assert ", but should raise an error, as F.conv2d does" in message


# -- calling-conventions --------------------------------------------------------------------------
def dilation_two_by_default(input, weight, bias=None, stride=1, padding=0, dilation=2, groups=1):
    return core(input, weight, bias, stride, padding, dilation, groups)


def padding_one_by_default(input, weight, bias=None, stride=1, padding=1, dilation=1, groups=1):
    return core(input, weight, bias, stride, padding, dilation, groups)


def keywords_drop_positional(input, weight, bias=None, *args, **kwargs):
    named = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    named.update(kwargs if kwargs else dict(zip(named, args, strict=False)))
    return core(input, weight, bias, **named)


@pytest.mark.parametrize("case", [CASES[0], CASES[2]], ids=lambda c: c.describe()[:50])
def test_a_wrong_default_fails_on_a_case_with_a_bias_and_other_values(case: ConvCase) -> None:
    """The default is tested by omitting it, though the case has a bias and another dilation or padding."""
    message = _failure("calling-conventions", dilation_two_by_default, case)
    assert ("every default omitted" if case.dilation == 1 else "dilation omitted (default 1)") in message
    assert "\ncall: dilation_two_by_default(input, weight, bias=bias, " in message
    assert message.endswith("\nsignature: default dilation=2, but F.conv2d's is 1")


def test_a_wrong_padding_default_names_the_omitted_call() -> None:
    message = _failure("calling-conventions", padding_one_by_default, CASES[0])
    assert "padding omitted (default 0)" in message
    assert "signature: default padding=1, but F.conv2d's is 0" in message


def test_positional_parameters_lost_beside_a_keyword_fail() -> None:
    """All positional and all keywords work; a keyword after positional parameters does not."""
    message = _failure("calling-conventions", keywords_drop_positional, CASES[0])
    assert "by keyword" in message
    assert "\ncall: keywords_drop_positional(input, weight, bias, 2" in message
    assert "signature: takes *args or **kwargs" in message
