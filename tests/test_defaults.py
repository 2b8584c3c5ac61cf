"""conv2d.gate.defaults: the schema's signature, and calls that expose wrong defaults and broken keywords."""

# The wrong functions below differ from F.conv2d's signature on purpose.
# mypy: disable-error-code="arg-type"

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from conv2d.functional import conv2d
from conv2d.gate.case import Args, ConvCase
from conv2d.gate.defaults import (
    DEFAULTS,
    PARAMETERS,
    REQUIRED,
    SCHEMA_DEFAULTS,
    Call,
    keyword_calls,
    omission_calls,
    same_effect,
    signature_differences,
)

CASES = [
    ConvCase(batch=2, in_channels=2, out_channels=4, height=7, width=7, kernel=(3, 3), stride=2, padding=1, bias=True, dtype="float64"),
    ConvCase(batch=1, in_channels=3, out_channels=3, height=6, width=6, kernel=(2, 2), dtype="float64"),
    ConvCase(batch=None, in_channels=4, out_channels=2, height=9, width=8, kernel=(3, 2), dilation=2, groups=2, padding="same", bias=True, dtype="float64"),
]  # fmt: skip


def _expected(args: Args) -> torch.Tensor:
    return F.conv2d(args.input, args.weight, args.bias, *args.params().values())  # type: ignore[call-overload]


def _exposed(fn: Callable[..., object], calls: list[Call]) -> list[str]:
    """The calls on which ``fn`` raises or differs from F.conv2d's result for the expected arguments."""
    out = []
    for call in calls:
        try:
            got = call(fn)
        except Exception as exc:
            out.append(f"{call.what}: raised {type(exc).__name__}")
            continue
        want = _expected(call.expected)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or not torch.allclose(got, want):
            out.append(f"{call.what}: wrong result")
    return out


def _all_calls(args: Args) -> list[Call]:
    return [*omission_calls(args), *keyword_calls(args)]


def test_the_signature_comes_from_the_schema() -> None:
    assert PARAMETERS == ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    assert REQUIRED == ("input", "weight")
    assert SCHEMA_DEFAULTS == {
        "bias": None,
        "stride": [1, 1],
        "padding": [0, 0],
        "dilation": [1, 1],
        "groups": 1,
    }
    assert DEFAULTS == {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    assert list(inspect.signature(conv2d).parameters) == list(PARAMETERS)


def test_same_effect_knows_equivalent_forms() -> None:
    args = CASES[1].materialize()
    assert same_effect("stride", 1, (1, 1))
    assert same_effect("padding", "valid", 0)
    assert same_effect("padding", (0,), 0)
    assert not same_effect("padding", "same", 0, args)  # a 2x2 kernel: 'same' pads one side
    one_by_one = args.replace(weight=args.weight[..., :1, :1])
    assert same_effect("padding", "same", 0, one_by_one)
    assert not same_effect("dilation", 2, 1)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.describe()[:60])
def test_a_correct_function_passes_every_call(case: ConvCase) -> None:
    args = case.materialize()
    calls = _all_calls(args)
    assert len(keyword_calls(args)) == len(PARAMETERS)
    assert _exposed(conv2d, calls) == []
    assert signature_differences(conv2d) == []


def test_omissions_leave_out_what_f_conv2d_rejects() -> None:
    grouped = CASES[2].materialize()
    names = [call.what.split()[0] for call in omission_calls(grouped)]
    assert "groups" not in names  # groups=1 does not fit a weight made for groups=2
    assert {"bias", "stride", "padding", "dilation"} <= set(names)
    changed = [call.what.split()[0] for call in omission_calls(grouped, only_changed=True)]
    assert set(changed) == {"bias", "padding", "dilation"}


def test_the_calls_say_what_they_pass() -> None:
    args = CASES[0].materialize()
    by_what = {call.what.split()[0]: call for call in omission_calls(args)}
    assert by_what["stride"].code() == "conv2d(input, weight, bias=bias, padding=1, dilation=1, groups=1)"
    assert by_what["stride"].expected.stride == 1
    last = keyword_calls(args)[-1]
    assert last.code() == "conv2d(input, weight, bias, 2, 1, 1, groups=1)"


def wrong_dilation(input, weight, bias=None, stride=1, padding=0, dilation=2, groups=1):  # type: ignore[no-untyped-def]
    return conv2d(input, weight, bias, stride, padding, dilation, groups)


def wrong_padding(input, weight, bias=None, stride=1, padding=1, dilation=1, groups=1):  # type: ignore[no-untyped-def]
    return conv2d(input, weight, bias, stride, padding, dilation, groups)


def wrong_groups(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=2):  # type: ignore[no-untyped-def]
    return conv2d(input, weight, bias, stride, padding, dilation, groups)


def renamed_keyword(input, weight, bias=None, stride=1, pad=0, dilation=1, groups=1):  # type: ignore[no-untyped-def]
    return conv2d(input, weight, bias, stride, pad, dilation, groups)


def keywords_ignored(input, weight, bias=None, *params, **ignored):  # type: ignore[no-untyped-def]
    return conv2d(input, weight, bias, *params)


def positional_only(input, weight, /, bias=None, stride=1, padding=0, dilation=1, groups=1):  # type: ignore[no-untyped-def]
    return conv2d(input, weight, bias, stride, padding, dilation, groups)


@pytest.mark.parametrize(
    ("fn", "exposing", "blind"),
    [
        (wrong_dilation, "dilation omitted", ()),
        (wrong_padding, "padding omitted", ()),
        (wrong_groups, "groups omitted", (2,)),  # groups=2 is that case's own value: no call tells them apart
        (renamed_keyword, "padding by keyword", ()),
        (keywords_ignored, "stride by keyword", (1,)),  # every value of that case is the default
        (positional_only, "input by keyword", ()),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_wrong_functions_are_exposed(
    fn: Callable[..., object], exposing: str, blind: tuple[int, ...]
) -> None:
    """Each case exposes each wrong function unless no call can (``blind``); the call named
    ``exposing`` is among those that do on the first case."""
    for i, case in enumerate(CASES):
        exposed = _exposed(fn, _all_calls(case.materialize()))
        assert bool(exposed) != (i in blind), f"{fn.__name__} on {case.describe()}: {exposed}"
    exposed = _exposed(fn, _all_calls(CASES[0].materialize()))
    assert any(line.startswith(exposing) for line in exposed), exposed


def test_signature_differences_name_the_wrong_default_and_name() -> None:
    assert signature_differences(wrong_dilation) == ["default dilation=2, but F.conv2d's is 1"]
    assert any("parameters are" in line for line in signature_differences(renamed_keyword))
    assert signature_differences(keywords_ignored) == []  # *args/**kwargs: nothing to compare
