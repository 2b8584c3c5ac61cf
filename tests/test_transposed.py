"""The conv_transpose2d kind: its cases, its float64 reference, its reduction length and its own laws.

The case's geometry is checked against the definition (each input element scattered through
the kernel to ``i * s - p + t * d``), enumerated by hand; the reference against the zoo's
scatter algorithm in float64; each transposed law against the mutant written for it, on
seeds 0, 1 and 2, crash-isolated like every run of a zoo entry.
"""

from __future__ import annotations

import itertools

import _isolation
import pytest
import torch
from hypothesis import given, settings

from conv2d.gate import PROPERTIES, ConvCase, Target
from conv2d.gate.case import transposed_taps
from conv2d.gate.choices import KINDS
from conv2d.gate.hostcalls import call_args
from conv2d.gate.reference import GateError, reference, reference_grads
from conv2d.gate.strategies import cases_for, conv_transpose_cases
from conv2d.gate.upstream import entry, regions_of
from conv2d.zoo import by_name
from conv2d.zoo.transposed import TransposedCall, base_conv_transpose2d


def _case(**changes: object) -> ConvCase:
    base = dict(
        batch=2,
        in_channels=4,
        out_channels=6,
        height=3,
        width=4,
        kernel=(3, 2),
        stride=(2, 3),
        padding=(1, 0),
        output_padding=(1, 2),
        dilation=1,
        groups=2,
        bias=True,
        dtype="float64",
        kind="conv_transpose2d",
    )
    return ConvCase(**{**base, **changes})  # type: ignore[arg-type]


def _reach(
    size: int, kernel: int, stride: int, padding: int, output_padding: int, dilation: int
) -> list[int]:
    """How many (input, tap) products reach each output element of one axis, enumerated from the definition."""
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    counts = [0] * out
    for i, t in itertools.product(range(size), range(kernel)):
        o = i * stride - padding + t * dilation
        if 0 <= o < out:
            counts[o] += 1
    return counts


@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_transposed_taps_is_the_most_products_reaching_an_output(
    kernel: int, stride: int, dilation: int
) -> None:
    """ceil(k * gcd(s, d) / s) is the largest number of taps meeting one output element, over long inputs."""
    taps = transposed_taps(kernel, stride, dilation)
    assert max(_reach(40, kernel, stride, 0, 0, dilation)) == taps
    for size, padding in itertools.product((1, 2, 5), (0, 1)):  # never more, on short or padded inputs
        assert max(_reach(size, kernel, stride, padding, 0, dilation), default=0) <= taps


def test_case_shapes_follow_f_conv_transpose2d() -> None:
    """Weight (C_in, C_out/groups, kh, kw); output (H-1)s - 2p + d(k-1) + op + 1; K = C_in/groups * taps."""
    case = _case()
    assert case.weight_shape == (4, 3, 3, 2)
    assert case.output_shape == (2, 6, (3 - 1) * 2 - 2 + 2 + 1 + 1, (4 - 1) * 3 + 1 + 2 + 1)
    assert case.reduction_length == 2 * transposed_taps(3, 2, 1) * transposed_taps(2, 3, 1)
    args = case.materialize()
    assert args.params() == {
        "stride": (2, 3),
        "padding": (1, 0),
        "output_padding": (1, 2),
        "groups": 2,
        "dilation": 1,
    }
    assert "conv_transpose2d" in case.describe() and "output_padding=(1, 2)" in case.describe()
    assert eval(case.to_code(), {"ConvCase": ConvCase}) == case


def test_reference_matches_an_independent_scatter() -> None:
    """The float64 reference (aten, cross-checked) equals the zoo's scatter algorithm, values and gradients."""
    for changes in (
        {},
        {"batch": None},
        {"dilation": (2, 1), "output_padding": (1, 0)},
        {"groups": 1, "bias": False},
    ):
        case = _case(**changes)
        args = case.materialize()
        leaves = [
            t.detach().clone().requires_grad_() for t in (args.input, args.weight, args.bias) if t is not None
        ]
        call = TransposedCall(*leaves[:2], leaves[2] if len(leaves) > 2 else None, *args.params().values())  # type: ignore[arg-type]
        mine = base_conv_transpose2d(call)
        assert torch.allclose(reference(args).value, mine, rtol=1e-12, atol=1e-12)
        grad = torch.rand(case.output_shape, dtype=torch.float64)
        exact = reference_grads(args, grad)
        got = torch.autograd.grad(mine, leaves, grad)
        assert torch.allclose(exact.input.value, got[0], rtol=1e-12, atol=1e-12)
        assert torch.allclose(exact.weight.value, got[1], rtol=1e-12, atol=1e-12)


def test_reference_cross_check_catches_a_wrong_transposed_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the bound aten operator computed a transposed convolution wrongly, the second algorithm says so."""
    from conv2d.gate import reference as module

    real = module._CONVOLUTION

    def off(*a: object) -> torch.Tensor:
        return real(*a) + (1.0 if a[6] else 0.0)  # type: ignore[operator]

    monkeypatch.setattr(module, "_CONVOLUTION", off)
    with pytest.raises(GateError, match="disagree"):
        reference(_case().materialize())


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(case=conv_transpose_cases())
def test_drawn_cases_are_valid(case: ConvCase) -> None:
    """Every drawn case has output_padding below max(stride, dilation), a non-empty output and no padding string."""
    assert case.kind == "conv_transpose2d" and not isinstance(case.padding, str)
    s, d, op = (
        tuple(v) if isinstance(v, tuple) else (v, v)
        for v in (case.stride, case.dilation, case.output_padding)
    )
    assert all(op[a] < max(s[a], d[a]) for a in (0, 1))
    assert min(case.out_spatial) >= 1


def test_symmetric_padding_draws_no_output_padding() -> None:
    """Under "symmetric-padding" (the flipped-kernel law's requirement) output_padding is 0."""

    @settings(max_examples=30, deadline=None, derandomize=True, database=None)
    @given(case=conv_transpose_cases(require=("symmetric-padding", "unit-stride")))
    def check(case: ConvCase) -> None:
        assert case.output_padding == 0

    check()


def test_the_kind_has_its_strategy_and_its_laws() -> None:
    """The kind is offered by the front doors, draws its own cases, and runs the laws that apply to it."""
    assert "conv_transpose2d" in KINDS and cases_for("conv_transpose2d") is conv_transpose_cases
    names = {p.name for p in PROPERTIES.values() if "conv_transpose2d" in p.kinds}
    assert {
        "conv2d-adjoint",
        "stride-zero-insert",
        "padding-crop",
        "invalid-transposed-input",
        "tap-accumulation",
    } <= names
    assert not names & {"padding-forms", "stride-subsampling", "shift-equivariance", "invalid-input"}
    target = Target.load(None, kind="conv_transpose2d")
    assert set(target.capabilities.padding) <= {"int", "pair"}


def test_hostcalls_bind_the_transposed_signature() -> None:
    """The tracer binds F.conv_transpose2d's order (output_padding before groups, dilation last)."""
    x, w = torch.zeros(1, 2, 3, 3, dtype=torch.bfloat16), torch.zeros(2, 1, 1, 1, dtype=torch.bfloat16)
    call = call_args((x, w, None, 1, 0, 0, 1, 0), {}, "conv_transpose2d")
    assert call is not None and call.transposed and call.dilation == 0 and call.groups == 1
    assert regions_of(call) == ["transposed-dilation-zero-accepted"]
    plain = call_args((x, w.expand(2, 2, 1, 1)), {"dilation": 0})
    assert plain is not None and not plain.transposed
    assert "transposed-dilation-zero-accepted" not in regions_of(plain)
    assert entry("half-transposed-taps-summed-in-dtype").command.endswith(
        "torch.nn.functional:conv_transpose2d --kind conv_transpose2d --property tap-accumulation"
    )


#: Each transposed mutant, killed by the law written for its region, on every seed.
KILLED_BY = {
    "kernel_not_flipped_conv_transpose2d": "conv2d-adjoint",
    "axes_swapped_stride_conv_transpose2d": "stride-zero-insert",
    "crop_one_side_conv_transpose2d": "padding-crop",
    "no_output_padding_check_conv_transpose2d": "invalid-transposed-input",
    "half_taps_in_dtype_conv_transpose2d": "tap-accumulation",
    "empty_batch_raises_conv_transpose2d": "empty-batch",
    "stale_cache_conv_transpose2d": "matches-reference",
    "groups_interleaved_conv_transpose2d": "groups-concat",
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(KILLED_BY))
def test_each_transposed_bug_is_killed_by_its_law(name: str, seed: int) -> None:
    """The law written for the bug's region finds a counterexample under the default profile."""
    zoo_entry = by_name(name)
    report = _isolation.suite(zoo_entry.target, kind=zoo_entry.kind, seed=seed, only=[KILLED_BY[name]])
    assert [r.status for r in report.results] == ["fails"], report.results[0].note


@pytest.mark.parametrize(
    "law", ["conv2d-adjoint", "stride-zero-insert", "padding-crop", "invalid-transposed-input"]
)
@pytest.mark.parametrize("name", ["zero_insert_conv_transpose2d", "adjoint_conv_transpose2d"])
def test_transposed_laws_hold_on_correct_alternatives(name: str, law: str) -> None:
    """The transposed laws hold on correct alternatives that round differently from the reference."""
    zoo_entry = by_name(name)
    report = _isolation.suite(zoo_entry.target, kind=zoo_entry.kind, seed=1, only=[law])
    assert [r.status for r in report.results] == ["holds"], report.results[0].note


#: Each transposed mutant with a classic variant, and the variant its shrunk counterexample is diagnosed as.
DIAGNOSED_AS = {
    "output_padding_ignored_conv_transpose2d": "output-padding-ignored",
    "output_padding_first_conv_transpose2d": "output-padding-top-left",
    "crop_one_side_conv_transpose2d": "padding-one-side",
    "kernel_not_flipped_conv_transpose2d": "kernel-not-flipped",
    "conv2d_weight_layout_conv_transpose2d": "conv2d-weight-layout",
    "groups_interleaved_conv_transpose2d": "groups-interleaved",
    "axes_swapped_stride_conv_transpose2d": "stride-axes-swapped",
}


@pytest.mark.parametrize("name", sorted(DIAGNOSED_AS))
def test_each_classic_transposed_mistake_is_diagnosed(name: str) -> None:
    """The verdict on a mutant names the variant it computes, confirmed on a second case."""
    zoo_entry = by_name(name)
    report = _isolation.suite(zoo_entry.target, kind=zoo_entry.kind, seed=0, fail_fast=True)
    message = report.failed[0].failure.message
    assert f"(variant {DIAGNOSED_AS[name]}, within" in message, message


def _call(**changes: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, object]]:
    gen = torch.Generator().manual_seed(4)
    x, w, b = (torch.randn(s, generator=gen, dtype=torch.float64) for s in ((2, 4, 5, 5), (4, 3, 3, 3), (6,)))
    return x, w, b, {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2, **changes}


def test_assert_conv_transpose2d_close_passes_a_correct_result_and_diagnoses_a_wrong_one() -> None:
    """The helper accepts the exact result rounded to float32 and names the kernel-not-flipped mistake."""
    from conv2d.testing import assert_conv_transpose2d_close

    x, w, b, params = _call()
    exact = base_conv_transpose2d(TransposedCall(x, w, b, 2, 1, 1, 2, 1))
    assert_conv_transpose2d_close(exact.float(), x.float(), w.float(), b.float(), **params)  # type: ignore[arg-type]
    wrong = base_conv_transpose2d(TransposedCall(x, w.flip(-2, -1), b, 2, 1, 1, 2, 1))
    with pytest.raises(AssertionError, match=r"diagnosis: .* \(variant kernel-not-flipped, within"):
        assert_conv_transpose2d_close(wrong, x, w, b, **params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"output_padding": 2}, "output_padding=2 must be smaller than stride=2 or dilation=1"),
        ({"groups": 3}, "groups=3 do not fit"),
        ({"stride": 0}, "stride"),
    ],
)
def test_assert_conv_transpose2d_close_names_a_bad_argument(changes: dict[str, object], words: str) -> None:
    """A malformed argument is a ValueError that names it, its value and the fix."""
    from conv2d.testing import assert_conv_transpose2d_close

    x, w, b, params = _call(**changes)
    out = torch.zeros(2, 6, 10, 10, dtype=torch.float64)
    with pytest.raises(ValueError, match=words):
        assert_conv_transpose2d_close(out, x, w, b, **params)  # type: ignore[arg-type]


def test_a_conv2d_computed_instead_is_diagnosed() -> None:
    """A conv2d of the input with the flipped kernel and the padding passed through is named (its shape differs)."""
    from conv2d.gate.diagnosis.transposed import transposed_diagnosis
    from conv2d.gate.tolerance import precision_for

    case = _case(batch=1, in_channels=2, out_channels=2, height=5, width=5, kernel=(3, 3), stride=1)
    case = case.replace(padding=0, output_padding=0, groups=1, bias=False)
    args = case.materialize()
    wrong = by_name("conv2d_padding_conv_transpose2d").fn(args.input, args.weight, None, **args.params())
    line = transposed_diagnosis(wrong, case, args, precision_for(torch.float64))
    assert line is not None and "(variant conv2d-instead, within" in line
    right = base_conv_transpose2d(TransposedCall(args.input, args.weight, None, 1, 0, 0, 1, 1))
    assert transposed_diagnosis(right, case, args, precision_for(torch.float64)) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dynamic_range_kills_a_bfloat16_kernel_computed_through_float16(seed: int) -> None:
    """The hold-out bug the first hold-out run missed: bfloat16 values past float16's range overflow."""
    spec = "benchmarks.holdout.transposed:bfloat16_via_float16_conv_transpose2d"
    report = _isolation.suite(spec, kind="conv_transpose2d", seed=seed, only=["dynamic-range"])
    assert [r.status for r in report.results] == ["fails"], report.results[0].note
