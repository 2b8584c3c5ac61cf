"""The ``output-layout`` law: a channels_last input gives a channels_last output, as F.conv2d's does."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from conv2d.functional import conv2d
from conv2d.gate.case import ConvCase
from conv2d.gate.laws import PROPERTIES, collect_notes
from conv2d.gate.target import Target, Unsupported, Violation

LAW = PROPERTIES["output-layout"]
CASE = ConvCase(2, 4, 6, 7, 9, (3, 2), stride=(1, 2), padding=1, bias=True, dtype="float64")


def _contiguous_out(*args: Any, **kwargs: Any) -> torch.Tensor:
    return conv2d(*args, **kwargs).contiguous()


def _target(fn: Any, **declared: Any) -> Target:
    if declared:
        fn.__conv2d_capabilities__ = declared
    return Target(fn, fn.__name__)


def test_the_core_keeps_the_layout_and_is_held_to_it() -> None:
    target = Target(conv2d, "conv2d.functional:conv2d")
    assert target.capabilities.preserves_layout
    with collect_notes() as notes:
        LAW.check(target, CASE)
    assert notes == []


def test_a_contiguous_output_is_a_note_by_default() -> None:
    def returns_contiguous(*args: Any, **kwargs: Any) -> torch.Tensor:
        return _contiguous_out(*args, **kwargs)

    with collect_notes() as notes:
        LAW.check(_target(returns_contiguous), CASE)
    assert [n.text for n in notes] == [
        "a channels_last input gives a contiguous output; F.conv2d's output is channels_last "
        "(declare preserves_layout=True to be held to it)"
    ]


def test_a_contiguous_output_fails_a_target_that_declares_it_preserves_layout() -> None:
    def claims_to_preserve(*args: Any, **kwargs: Any) -> torch.Tensor:
        return _contiguous_out(*args, **kwargs)

    with pytest.raises(Violation, match="declares preserves_layout=True"):
        LAW.check(_target(claims_to_preserve, preserves_layout=True), CASE)


def test_an_input_in_both_layouts_at_once_asks_nothing() -> None:
    """One input channel: the input is contiguous and channels_last at once, so no layout is asked of the output."""

    def claims_to_preserve(*args: Any, **kwargs: Any) -> torch.Tensor:
        return _contiguous_out(*args, **kwargs)

    LAW.check(_target(claims_to_preserve, preserves_layout=True), CASE.replace(in_channels=1))


def test_a_target_without_channels_last_is_unsupported() -> None:
    def contiguous_only(*args: Any, **kwargs: Any) -> torch.Tensor:
        return conv2d(*args, **kwargs)

    with pytest.raises(Unsupported, match="channels_last"):
        LAW.check(_target(contiguous_only, layouts=("contiguous",)), CASE)
