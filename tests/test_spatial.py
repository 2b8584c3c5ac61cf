"""The conv1d and conv3d kinds: N-D cases, reference, laws over one and three axes, zoo, diagnosis.

The gate's cases, reference, bound and laws are written once over the spatial axes; these
tests check that each of them follows F.conv1d's and F.conv3d's contracts (the float64
reference is torch's operator in float64, cross-checked by a second algorithm), that the
laws kill the zoo's conv1d and conv3d bugs and hold on its correct alternatives, and that
the diagnosis names the classic wrong variants, an axis of a conv3d mixed up among them.
"""

from __future__ import annotations

import math

import _isolation
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conv2d.gate import PROPERTIES, ConvCase, Target
from conv2d.gate.case import output_size
from conv2d.gate.choices import KINDS
from conv2d.gate.judge import transform_length
from conv2d.gate.reference import GateError, reference, reference_grads
from conv2d.gate.rejections import rejected_calls
from conv2d.gate.strategies import cases_for
from conv2d.zoo import CORRECT, MUTANTS, by_name
from conv2d.zoo.spatial import WITNESSES, float64_conv3d, tap_sum_conv1d

ND_KINDS = ("conv1d", "conv3d")


def _case(kind: str, **changes: object) -> ConvCase:
    base: dict[str, object] = dict(
        batch=2,
        in_channels=4,
        out_channels=6,
        height=3,
        width=7,
        groups=2,
        bias=True,
        dtype="float64",
        kind=kind,
    )
    if kind == "conv1d":
        base.update(height=1, kernel=(3,), stride=2, padding=(1,), dilation=2)
    else:
        base.update(depth=5, kernel=(2, 3, 2), stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1))
    return ConvCase(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ND_KINDS)
def test_case_shapes_and_reduction_follow_the_contract(kind: str) -> None:
    """Input, weight and output shapes are F.conv1d's / F.conv3d's; K = C_in / groups * prod(kernel)."""
    case = _case(kind)
    args = case.materialize()
    assert tuple(args.input.shape) == case.input_shape and tuple(args.weight.shape) == case.weight_shape
    assert tuple(reference(args).value.shape) == case.output_shape
    assert case.reduction_length == 2 * math.prod(case.kernel)
    assert case.grad_reductions[0] == 3 * math.prod(case.kernel)
    assert case.grad_reductions[1] == 2 * math.prod(case.out_spatial)


def test_a_case_with_the_wrong_number_of_axes_is_refused() -> None:
    """A kernel of the wrong length, a conv1d with a height or a conv2d with a depth is an error naming it."""
    with pytest.raises(ValueError, match=r"kernel=.*conv3d kernel has 3"):
        _case("conv3d", kernel=(3, 3))
    with pytest.raises(ValueError, match=r"height=3.*conv1d"):
        _case("conv1d", height=3)
    with pytest.raises(ValueError, match="depth=2"):
        ConvCase(1, 1, 1, 3, 3, (1, 1), depth=2)


@pytest.mark.parametrize("kind", ND_KINDS)
def test_reference_matches_an_independent_tap_sum(kind: str) -> None:
    """The float64 reference equals the zoo's float64 tap sum, values and gradients."""
    case = _case(kind)
    args = case.materialize()
    other = (tap_sum_conv1d if kind == "conv1d" else float64_conv3d)(
        args.input, args.weight, args.bias, **args.params()
    )
    assert torch.allclose(reference(args).value, other, rtol=0, atol=1e-12)
    grads = reference_grads(args, torch.ones(case.output_shape, dtype=torch.float64))
    assert tuple(grads.weight.value.shape) == case.weight_shape


def test_reference_cross_check_catches_a_wrong_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    """When torch's operator computes a conv3d wrongly, the second algorithm says so: GateError, not a verdict."""
    import conv2d.gate.reference as ref

    real = ref._CONVOLUTION
    monkeypatch.setattr(ref, "_CONVOLUTION", lambda *a: real(*a) * (1 + 1e-9))
    with pytest.raises(GateError, match="references disagree"):
        reference(_case("conv3d").materialize())


@pytest.mark.parametrize("kind", ND_KINDS)
def test_transform_length_is_the_padded_input_plus_the_dilated_kernel(kind: str) -> None:
    """An FFT alternative's transform: per axis, the padded input plus the dilated kernel's extent less one."""
    case = _case(kind, padding=0, stride=1)
    dilation = (2,) if kind == "conv1d" else (2, 1, 1)
    expected = math.prod(n + d * (k - 1) for n, k, d in zip(case.spatial, case.kernel, dilation, strict=True))
    assert transform_length(case) == expected


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(kind=st.sampled_from(ND_KINDS), data=st.data())
def test_drawn_cases_are_valid(kind: str, data: st.DataObject) -> None:
    """Every drawn case has the kind's axes and an output of its computed shape."""
    case = data.draw(cases_for(kind)())
    assert case.kind == kind and len(case.kernel) == case.rank == len(case.spatial)
    assert min(case.out_spatial) >= 1
    assert case.out_spatial == output_size(
        case.spatial, case.kernel, case.stride, case.padding, case.dilation
    )


def test_the_kinds_have_their_strategies_and_their_laws() -> None:
    """The kinds are offered by the front doors and run every conv2d law over their axes (conv1d all
    but output-layout: torch has no channels-last format for 3-D tensors)."""
    assert set(ND_KINDS) <= set(KINDS)
    conv2d_laws = {p.name for p in PROPERTIES.values() if "conv2d" in p.kinds}
    for kind in ND_KINDS:
        expected = conv2d_laws - ({"output-layout"} if kind == "conv1d" else set())
        assert {p.name for p in PROPERTIES.values() if kind in p.kinds} == expected
        assert Target.load(None, kind=kind).name == f"conv2d.family:{kind}"  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ND_KINDS)
def test_rejected_calls_are_those_torch_rejects(kind: str) -> None:
    """Each perturbation of a valid call that the kind's op refuses is found, named per axis count."""
    case = _case(kind)
    found = dict(rejected_calls(case.materialize(), case.rank))
    assert "stride 0" in found and "a negative dilation" in found
    assert f"a weight of rank {case.rank + 1}" in found and f"a weight of rank {case.rank + 3}" in found
    assert f"a stride of {('two', 'three', 'four')[case.rank - 1]} numbers" in found


SPATIAL_MUTANTS = [e for e in MUTANTS if e.kind in ND_KINDS]
SPATIAL_CORRECT = [e for e in CORRECT if e.kind in ND_KINDS]


def test_the_zoo_holds_the_new_kinds() -> None:
    """At least 15 conv1d and conv3d bugs with a witness each, and correct alternatives of both kinds."""
    assert len(SPATIAL_MUTANTS) >= 15 and set(WITNESSES) == {e.name for e in SPATIAL_MUTANTS}
    assert {e.kind for e in SPATIAL_CORRECT} == set(ND_KINDS) and len(SPATIAL_CORRECT) >= 6


@pytest.mark.parametrize("entry", SPATIAL_CORRECT, ids=lambda e: e.name)
def test_correct_alternatives_match_the_reference(entry: object) -> None:
    """Each correct alternative computes the float64 reference in float64 (groups, stride, dilation, bias)."""
    case = _case(entry.kind)  # type: ignore[attr-defined]
    args = case.materialize()
    out = entry.fn(args.input, args.weight, args.bias, **args.params())  # type: ignore[attr-defined]
    assert torch.allclose(out, reference(args).value, rtol=0, atol=1e-11)


#: Each mutant, and a law that kills it under the default profile on every seed.
KILLED_BY = {
    "same_padding_left_conv1d": "matches-reference",
    "causal_padding_conv1d": "matches-reference",
    "stride_dilation_swapped_conv1d": "matches-reference",
    "unbatched_keeps_batch_conv1d": "output-shape",
    "view_not_reshape_conv1d": "layout-invariance",
    "half_accumulate_conv1d": "matches-reference",
    "long_kernel_truncated_conv1d": "matches-reference",
    "strided_same_accepted_conv1d": "invalid-input",
    "depth_height_swapped_conv3d": "matches-reference",
    "depth_kernel_reversed_conv3d": "matches-reference",
    "depth_dilation_ignored_conv3d": "dilation-zero-insert",
    "tail_frames_zero_conv3d": "matches-reference",
    "groups_interleaved_conv3d": "groups-concat",
    "weight_grad_first_sample_conv3d": "gradients",
    "bfloat16_via_float16_conv3d": "dynamic-range",
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(KILLED_BY))
def test_each_spatial_bug_is_killed_by_its_law(name: str, seed: int) -> None:
    """The law written for the bug's region finds a counterexample under the default profile."""
    zoo_entry = by_name(name)
    report = _isolation.suite(zoo_entry.target, kind=zoo_entry.kind, seed=seed, only=[KILLED_BY[name]])
    assert [r.status for r in report.results] == ["fails"], report.results[0].note


@pytest.mark.parametrize(
    "law",
    ["flipped-kernel", "shift-equivariance", "padding-forms", "stride-subsampling", "dilation-zero-insert"],
)
@pytest.mark.parametrize("name", ["fft_conv1d", "depth_sum_conv3d"])
def test_laws_over_the_axes_hold_on_correct_alternatives(name: str, law: str) -> None:
    """The metamorphic laws, written once over the axes, hold on correct alternatives that round differently."""
    zoo_entry = by_name(name)
    report = _isolation.suite(zoo_entry.target, kind=zoo_entry.kind, seed=1, only=[law])
    assert [r.status for r in report.results] == ["holds"], report.results[0].note


#: Mutants with a classic variant, and the variant the shrunk counterexample is diagnosed as.
DIAGNOSED_AS = {
    "causal_padding_conv1d": "padding-one-side",
    "same_padding_left_conv1d": "same-odd-before",
    "depth_dilation_ignored_conv3d": "dilation-ignored-depth",
    "groups_interleaved_conv3d": "groups-interleaved",
}


@pytest.mark.parametrize("name", sorted(DIAGNOSED_AS))
def test_each_classic_mistake_is_diagnosed(name: str) -> None:
    """The verdict on a mutant names the variant it computes."""
    zoo_entry = by_name(name)
    report = _isolation.suite(zoo_entry.target, kind=zoo_entry.kind, seed=0, fail_fast=True)
    message = report.failed[0].failure.message
    assert f"variant {DIAGNOSED_AS[name]}" in message or (
        "variants " in message and DIAGNOSED_AS[name] in message
    ), message


def test_an_axis_of_a_conv3d_mixed_up_is_diagnosed() -> None:
    """A conv3d whose depth and height parameters are exchanged is named as such on a case that shows it."""
    from conv2d.gate.diagnosis.spatial import spatial_diagnosis
    from conv2d.gate.judge import contract

    case = _case(
        "conv3d",
        groups=1,
        in_channels=2,
        out_channels=3,
        depth=7,
        height=5,
        width=5,
        kernel=(3, 2, 2),
        stride=(2, 1, 1),
        padding=(1, 0, 0),
        dilation=1,
        bias=False,
    )
    args = case.materialize()
    target = Target.load("conv2d.zoo.spatial:depth_height_swapped_conv3d", kind="conv3d")
    line = spatial_diagnosis(target(args), case, args, contract(target, case), target)
    assert line is not None and "axes-swapped-depth-height" in line, line
