"""Meta-tests of the case strategies: consistent, able to reach the rare regions, shrinking small."""

from __future__ import annotations

import pytest
import torch
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from conv2d.gate.capabilities import Capabilities
from conv2d.gate.case import ConvCase, output_size
from conv2d.gate.determinism import seeded_search
from conv2d.gate.strategies import REQUIREMENTS, conv_cases, corr2d_cases

#: Shrinking searches run derandomized: which local minimum a shrink ends in depends on the draws.
SEARCH = settings(max_examples=3000, database=None, deadline=None, derandomize=True)
FIRST = settings(max_examples=3000, database=None, deadline=None, phases=[Phase.generate])


def reachable(strategy: st.SearchStrategy[ConvCase], condition) -> ConvCase:
    """Some drawn case satisfies ``condition`` (fails the test otherwise)."""
    return find(strategy, condition, settings=FIRST)


@given(conv_cases())
def test_cases_are_consistent(case: ConvCase) -> None:
    """Every drawn case has an output of at least 1x1, channels divisible by groups and tensors of the stated shapes."""
    assert min(case.out_spatial) >= 1
    assert case.in_channels % case.groups == 0 and case.out_channels % case.groups == 0
    args = case.materialize()
    assert tuple(args.input.shape) == case.input_shape
    assert tuple(args.weight.shape) == case.weight_shape
    assert args.input.dtype == case.torch_dtype
    assert torch.isfinite(args.input).all() and torch.isfinite(args.weight).all()
    if case.padding == "same":
        assert case.out_spatial == (case.height, case.width)


@given(conv_cases())
def test_output_size_matches_torch(case: ConvCase) -> None:
    """The case's output-size formula agrees with F.conv2d's actual output shape."""
    args = case.materialize()
    out = torch.nn.functional.conv2d(args.input.double(), args.weight.double(), None, **args.params())
    assert tuple(out.shape) == case.output_shape


@given(conv_cases())
def test_values_are_bounded_and_subnormal_free(case: ConvCase) -> None:
    """Input and weight values lie within 4 * 2**8 and have no magnitude below 2**-14 (float16's smallest normal) but zero.

    The one exception is the "dominant" mode's first weight tap, 2**(bits + 1) times the
    others: it is finite in the dtype, and every product and output stays finite too.
    """
    args = case.materialize()
    if case.values == "dominant":
        weight = args.weight.double()
        finite = torch.finfo(case.torch_dtype).max
        assert (
            0
            < weight.abs().max()
            <= 2 * 2.0 ** ({"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}[case.dtype] + 1)
        )
        assert weight.abs().max() < finite and args.input.double().abs().max() <= 2
        out = torch.nn.functional.conv2d(args.input.double(), weight, None, **args.params())
        assert out.abs().max() < finite
        return
    for t in (args.input.double(), args.weight.double()):
        assert t.abs().max() <= 4 * 2.0**8
        nonzero = t[t != 0].abs()
        assert nonzero.numel() == 0 or nonzero.min() >= 2.0**-14


@pytest.mark.parametrize(
    ("what", "condition"),
    [
        ("kernel as large as the padded input", lambda c: c.out_spatial == (1, 1) and c.kernel[0] > 1),
        (
            "depthwise with a channel multiplier",
            lambda c: c.groups == c.in_channels > 1 and c.out_channels == 2 * c.groups,
        ),
        (
            "grouped, several channels per group",
            lambda c: c.groups > 1 and c.in_channels // c.groups > 1 and c.out_channels // c.groups > 1,
        ),
        ("stride larger than the kernel", lambda c: isinstance(c.stride, int) and c.stride > max(c.kernel)),
        ("unequal stride pair", lambda c: isinstance(c.stride, tuple) and c.stride[0] != c.stride[1]),
        ("unequal padding pair", lambda c: isinstance(c.padding, tuple) and c.padding[0] != c.padding[1]),
        ("unequal dilation pair", lambda c: isinstance(c.dilation, tuple) and c.dilation[0] != c.dilation[1]),
        ("'same' with an even kernel", lambda c: c.padding == "same" and c.kernel[0] % 2 == 0),
        ("'valid' padding", lambda c: c.padding == "valid"),
        (
            "a remainder in the output-size division",
            lambda c: (
                isinstance(c.stride, int)
                and c.stride > 1
                and c.padding == 0
                and (c.height - c.kernel[0]) % c.stride != 0
            ),
        ),
        (
            "output width past a vector width, not a multiple of it",
            lambda c: c.out_spatial[1] > 16 and c.out_spatial[1] % 8 != 0,
        ),
        ("output width past 64", lambda c: c.out_spatial[1] > 64),
        ("more than 64 input channels", lambda c: c.in_channels > 64),
        ("more than 64 output channels", lambda c: c.out_channels > 64),
        (
            "channel count not a multiple of 8, past 16",
            lambda c: c.in_channels > 16 and c.in_channels % 8 != 0,
        ),
        (
            "batch above 4, not a multiple of 4",
            lambda c: c.batch is not None and c.batch > 4 and c.batch % 4 != 0,
        ),
        ("unbatched input", lambda c: c.batch is None),
        ("channels_last input", lambda c: c.input_layout == "channels_last"),
        ("strided weight view", lambda c: c.weight_layout == "strided"),
        ("transposed input view", lambda c: c.input_layout == "transposed"),
        ("storage offset", lambda c: c.input_layout == "offset"),
        ("bfloat16", lambda c: c.dtype == "bfloat16"),
        ("float16 integer-valued", lambda c: c.dtype == "float16" and c.values == "integer"),
        ("bias", lambda c: c.bias),
        ("input scaled up past 256", lambda c: c.exponent == 8),
        ("biased float64 values", lambda c: c.values == "biased" and c.dtype == "float64"),
    ],
)
def test_rare_regions_are_reachable(what: str, condition) -> None:
    """The default strategy reaches each region where real kernels break."""
    reachable(conv_cases(), condition)


def test_large_requirement_reaches_narrow_index_limits() -> None:
    """``require={'large'}`` draws inputs of at least 2**16 elements."""
    case = reachable(conv_cases(require={"large"}), lambda c: c.materialize().input.numel() >= 2**16)
    assert case.height >= 96


def test_failures_shrink_to_small_cases() -> None:
    """A condition met by any grouped case shrinks to a minimal grouped case: a 1x1 output, float32, contiguous.

    The smallest grouped case is a depthwise 1x1 kernel, or, when shrinking stays in the
    production regime, its smallest depthwise layer (3x3 over 4 to 8 channels).
    """
    with seeded_search():  # as the gate searches: no constant harvested from whatever this process imported
        case = find(conv_cases(), lambda c: c.groups > 1, settings=SEARCH)
    assert case.in_channels == case.groups <= 8 and case.out_channels == case.groups
    assert case.kernel in ((1, 1), (3, 3))
    assert case.out_spatial == (1, 1) and case.dtype == "float32" and case.input_layout == "contiguous"
    # the 1x1 kernel needs no padding; the production depthwise layer is 3x3/1/1 (padding 1)
    assert case.stride == 1 and case.dilation == 1 and not case.bias
    assert case.padding == (0 if case.kernel == (1, 1) else 1)


def test_shrinks_width_to_the_smallest_tail() -> None:
    """A tail condition (width 9..15) shrinks to an output of width 9, not a big image.

    It may shrink within the production regime, whose smallest layer has 4 channels
    (a vector width): still a one-row image with at most 4 channels.
    """
    case = find(conv_cases(), lambda c: 8 < c.out_spatial[1] < 16, settings=SEARCH)
    assert case.out_spatial[1] == 9 and case.in_channels <= 4 and case.out_spatial[0] <= 2
    assert case.batch in (None, 1)


def test_production_layers_and_wide_regimes_are_reachable() -> None:
    """The 7x7/2/3 stem, depthwise 3x3/2, 3x3/1/1 at channel multiples, batches past 32 and reductions past 4096 all occur."""
    reachable(
        conv_cases(), lambda c: c.kernel == (7, 7) and c.stride == 2 and c.padding == 3 and c.in_channels == 3
    )
    reachable(conv_cases(), lambda c: c.groups == c.in_channels > 1 and c.kernel == (3, 3) and c.stride == 2)
    reachable(
        conv_cases(),
        lambda c: (
            c.kernel == (3, 3)
            and c.padding == 1
            and c.stride == 1
            and c.in_channels % 8 == 0
            and c.groups == 1
        ),
    )
    reachable(conv_cases(), lambda c: (c.batch or 0) >= 33)
    reachable(conv_cases(), lambda c: c.reduction_length > 4096)
    reachable(conv_cases(), lambda c: max(c.kernel) >= 9)


@pytest.mark.parametrize(
    "requirement", ["bias", "batched", "grouped", "strided", "dilated", "padding-string"]
)
def test_corr2d_cases_reject_what_they_cannot_meet(requirement: str) -> None:
    """A corr2d case has no bias, batch, groups, stride, dilation or padding string: requiring one is a named error."""
    with pytest.raises(ValueError, match=f"require contains '{requirement}'"):
        find(corr2d_cases(require={requirement}), lambda c: True)


def test_corr2d_cases_honour_large() -> None:
    """``require={'large'}`` gives corr2d images of 2**16 elements and more."""
    case = find(corr2d_cases(require={"large"}), lambda c: True)
    assert case.height * case.width >= 2**16


@pytest.mark.parametrize("requirement", sorted(REQUIREMENTS))
def test_requirements_are_honoured(requirement: str) -> None:
    """Every requirement constrains all drawn cases as documented."""
    checks = {
        "bias": lambda c: c.bias,
        "no-bias": lambda c: not c.bias,
        "batched": lambda c: c.batch is not None,
        "grouped": lambda c: c.groups > 1,
        "strided": lambda c: max(c.stride if isinstance(c.stride, tuple) else (c.stride,)) > 1,
        "unit-stride": lambda c: c.stride == 1,
        "dilated": lambda c: max(c.dilation if isinstance(c.dilation, tuple) else (c.dilation,)) > 1,
        "unit-dilation": lambda c: c.dilation == 1,
        "numeric-padding": lambda c: not isinstance(c.padding, str),
        "padding-string": lambda c: True,
        "no-padding": lambda c: c.padding in (0, "valid"),
        "symmetric-padding": lambda c: c.padding != "same",
        "contiguous": lambda c: c.input_layout == c.weight_layout == c.bias_layout == "contiguous",
        "large": lambda c: c.height >= 96 and c.width >= 96,
        "float64": lambda c: c.dtype == "float64",
    }

    @settings(max_examples=60, database=None, deadline=None)
    @given(conv_cases(require={requirement}))
    def check(case: ConvCase) -> None:
        assert checks[requirement](case), case

    check()


def test_unknown_requirement_is_named() -> None:
    """An unknown requirement raises an error naming it and the known ones."""
    with pytest.raises(ValueError, match=r"'gruoped'.*known requirements"):
        find(conv_cases(require={"gruoped"}), lambda c: True)


@given(
    conv_cases(
        Capabilities(
            dtypes=("float32",),
            layouts=("contiguous",),
            groups=False,
            dilation=False,
            padding=("int",),
            unbatched=False,
            bias=False,
        )
    )
)
def test_capabilities_restrict_cases(case: ConvCase) -> None:
    """Cases never leave the declared capabilities."""
    assert case.dtype == "float32" and case.groups == 1 and case.dilation == 1 and not case.bias
    assert case.batch is not None and not isinstance(case.padding, (tuple, str))
    assert case.input_layout == case.weight_layout == "contiguous"


@given(corr2d_cases())
def test_corr2d_cases_are_two_dimensional(case: ConvCase) -> None:
    """corr2d cases materialise to a 2-D image and a 2-D kernel no larger than it."""
    args = case.materialize()
    assert args.input.dim() == 2 and args.weight.dim() == 2
    assert case.output_shape == output_size((case.height, case.width), case.kernel, 1, 0, 1)


def test_case_prints_as_code_that_rebuilds_it() -> None:
    """``to_code`` gives source that evaluates to an equal case with equal tensors."""
    case = ConvCase(
        batch=None,
        in_channels=4,
        out_channels=2,
        height=5,
        width=6,
        kernel=(2, 3),
        stride=(1, 2),
        padding="valid",
        groups=2,
        bias=True,
        dtype="bfloat16",
        input_layout="offset",
        seed=7,
    )
    again = eval(case.to_code(), {"ConvCase": ConvCase})
    assert again == case
    a, b = case.materialize(), again.materialize()
    assert torch.equal(a.input, b.input) and a.input.storage_offset() == b.input.storage_offset() > 0


@pytest.mark.parametrize(("dtype", "lower"), [("float32", None), ("float64", torch.float32)])
def test_biased_values_round_down_in_lower_precision(dtype: str, lower: torch.dtype | None) -> None:
    """Biased values lose magnitude, never gain it, when rounded to the next-lower precision (TF32 for float32)."""
    case = ConvCase(
        batch=1,
        in_channels=3,
        out_channels=1,
        height=8,
        width=8,
        kernel=(3, 3),
        dtype=dtype,
        values="biased",
        seed=3,
    )
    x = case.materialize().input.double()
    assert (x >= 1).all() and (x < 2).all()
    if dtype == "float32":  # TF32 keeps 10 mantissa bits: emulate by masking the 13 low bits
        rounded = (case.materialize().input.view(torch.int32) & ~0x1FFF).view(torch.float32).double()
        rounded = torch.where(x - rounded >= 2.0**-11, rounded + 2.0**-10, rounded)  # round to nearest
    else:
        assert lower is not None
        rounded = x.to(lower).double()
    assert (rounded < x).all()
