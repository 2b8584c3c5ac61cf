"""The diagnosis catalogue names what the zoo's mutants compute, and names nothing for correct results.

Zoo entries that may run the host's float16/bfloat16 GEMMs or F.conv2d are run in a
worker process (``tests/_isolation.py``), never in the pytest process
(``tests/_tripwire.py``); a worker the host's torch kills skips the test, naming the signal.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import _isolation
import pytest
import torch

from conv2d.gate.capabilities import capabilities_of
from conv2d.gate.case import Args, ConvCase
from conv2d.gate.diagnosis import (
    GRADIENT_VARIANTS,
    PARTIAL_VARIANTS,
    VARIANTS,
    case_of,
    diagnose,
    diagnose_gradient,
    identify,
)
from conv2d.gate.tolerance import precision_for
from conv2d.zoo import CORRECT, by_name

#: Mutants the catalogue does not name, and why; a strict list: a mutant that starts being named fails too.
KNOWN_MISSES = {
    "tiled_missing_halo": "zeros in place of each tile's halo: wrong near every tile border, no variant",
    "index_wrap_16bit": "later outputs overwrite earlier ones modulo 2**16: no variant",
}

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

LINE = re.compile(
    r"^diagnosis: (the output|the \w+ gradient) equals .+ "
    r"\(variant [\w-]+, within \S+ x its error bound(; confirmed on (input\(|corr2d ).+)?\)$"
)


def _hit_rate() -> tuple[int, int, list[str]]:
    """``scripts/diagnosis_rate.py``'s hit rate (run in the worker process)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    from diagnosis_rate import hit_rate

    return hit_rate()


def test_hit_rate_on_the_zoo() -> None:
    """Every zoo mutant whose category the catalogue covers is named by a variant of its category, on its witness."""
    hits, total, missed = _isolation.call(_hit_rate, what="the zoo's mutants on their witnesses")
    print(f"diagnosis hit rate: {hits} of {total} mutants ({hits / total:.0%})")
    names = {m.split(" ", 1)[0] for m in missed}
    assert len(missed) == total - hits
    assert names - set(KNOWN_MISSES) == set(), f"newly missed: {missed}"
    assert set(KNOWN_MISSES) - names == set(), "a known miss is now named: remove it from KNOWN_MISSES"
    assert hits / total >= 0.85


def _output(entry_name: str, args: Args) -> torch.Tensor:
    return by_name(entry_name).fn(args.input, args.weight, args.bias, **args.params())


def test_tf32_rounding_is_named_on_values_that_show_it() -> None:
    """Inputs rounded to TF32 are named on biased values, where the rounding adds up past the bound."""
    case = ConvCase(2, 16, 4, 6, 6, (3, 3), values="biased", seed=3)
    args = case.materialize()
    found = identify(_output("tf32_float32", args), case, args)
    assert found is not None and found.variant.name == "inputs-rounded-to-tf32"


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "offset"])
def test_true_convolution_line(layout: str) -> None:
    """A convolution with the kernel rotated 180° gets one line in the diagnosis grammar naming the rotation."""
    case = ConvCase(2, 3, 4, 7, 8, (3, 2), padding=1, bias=True, dtype="float64", input_layout=layout)
    args = case.materialize()
    out = _output("im2col", args.replace(weight=args.weight.flip(-2, -1)))
    line = diagnose(out, case, args)
    assert line is not None and LINE.match(line), line
    assert "kernel rotated 180°" in line and "true-convolution" in line


def test_right_output_is_not_diagnosed_even_when_a_variant_fits() -> None:
    """With a point-symmetric kernel the true convolution equals the right result, and nothing is named."""
    case = ConvCase(1, 2, 3, 6, 6, (3, 3), dtype="float64")
    args = case.materialize()
    symmetric = args.weight + args.weight.flip(-2, -1)
    args = args.replace(weight=symmetric)
    assert diagnose(_output("im2col", args), case, args) is None


def test_unknown_wrong_output_is_not_diagnosed() -> None:
    """An output wrong in a way no variant computes (one element changed) gets no diagnosis."""
    case = ConvCase(2, 3, 4, 7, 7, (3, 3), bias=True, dtype="float64")
    args = case.materialize()
    out = _output("im2col", args).clone()
    out[1, 2, 3, 4] += 1.0
    assert diagnose(out, case, args) is None


def _partly_wrong(which: str) -> tuple[torch.Tensor, ConvCase, Args]:
    case = ConvCase(4, 3, 5, 7, 9, (3, 3), padding=1, bias=True, dtype="float64", seed=5)
    args = case.materialize()
    out = _output("im2col", args).clone()
    if which == "last image zero":
        out[3] = 0
    elif which == "images shifted":
        out[2:] = out[1:3].clone()
    elif which == "bias missing on the last channels":
        out[:, 3:] -= args.bias[3:].view(-1, 1, 1)
    elif which == "last column zero":
        out[..., -1] = 0
    elif which == "last image noisy":
        out[3] += 0.1 * torch.randn(out[3].shape, generator=torch.Generator().manual_seed(0), dtype=out.dtype)
    return out, case, args


@pytest.mark.parametrize(
    ("which", "variant", "says"),
    [
        ("last image zero", "images-left-zero", "on images 0-2 and zero on image 3"),
        ("images shifted", "images-from-other-images", "image 2 holds the output of image 1"),
        (
            "bias missing on the last channels",
            "bias-missing-on-channels",
            "without the bias on output channels 3-4",
        ),
        ("last column zero", "columns-left-zero", "on output columns 0-7 and zero on output column 8"),
    ],
)
def test_partly_wrong_outputs_name_the_slices(which: str, variant: str, says: str) -> None:
    """An output right on some images, channels or columns and simply wrong on the rest names both parts."""
    out, case, args = _partly_wrong(which)
    line = diagnose(out, case, args)
    assert line is not None and LINE.match(line), line
    assert f"variant {variant}," in line and says in line, line


def test_partly_wrong_output_with_no_pattern_is_not_diagnosed() -> None:
    """One image wrong by noise, not by a known alternative, gets no diagnosis."""
    out, case, args = _partly_wrong("last image noisy")
    assert diagnose(out, case, args) is None


def _cases() -> list[ConvCase]:
    return [
        ConvCase(2, 4, 6, 9, 8, (3, 3), stride=(1, 2), padding=1, groups=2, bias=True, seed=1),
        ConvCase(None, 3, 3, 7, 9, (2, 3), padding="same", dilation=(2, 1), groups=3, seed=2),
        ConvCase(
            3, 5, 2, 8, 8, (3, 1), stride=2, bias=True, dtype="float16", input_layout="channels_last", seed=3
        ),
        ConvCase(1, 2, 4, 6, 7, (3, 3), dilation=2, bias=True, dtype="bfloat16", seed=4),
    ]


def _alternative_outputs(name: str) -> list[torch.Tensor]:
    """The zoo entry ``name`` on every case of ``_cases`` (run in the worker process)."""
    fn = by_name(name).fn
    outputs = []
    for case in _cases():
        args = case.materialize()
        outputs.append(fn(args.input, args.weight, args.bias, **args.params()).detach())
    return outputs


@pytest.mark.parametrize("entry", [e for e in CORRECT if e.kind == "conv2d"], ids=lambda e: e.name)
def test_correct_alternatives_are_not_diagnosed(entry) -> None:
    """A correct alternative's output is right, so no variant is named for it."""
    caps = capabilities_of(entry.fn)
    outputs = _isolation.call(_alternative_outputs, entry.name, what=entry.target)
    for case, out in zip(_cases(), outputs, strict=True):
        args = case.materialize()
        contract = precision_for(case.torch_dtype, accumulation=caps.accumulation)
        assert diagnose(out, case, args, precision=contract) is None, case.describe()


def test_corr2d_alternatives_are_not_diagnosed() -> None:
    """Correct corr2d alternatives on 2-D inputs get no diagnosis."""
    case = ConvCase(None, 1, 1, 9, 8, (3, 2), dtype="float64", kind="corr2d", seed=5)
    args = case.materialize()
    for entry in [e for e in CORRECT if e.kind == "corr2d"]:
        assert diagnose(entry.fn(args.input, args.weight), case, args) is None, entry.name


def test_gradient_diagnosis_names_the_ignored_stride() -> None:
    """An input gradient computed at stride 1 is named as such, in the diagnosis grammar."""
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    out = by_name("grad_input_ignores_stride").fn(x, w, None, stride=2)
    g = torch.randn_like(out)
    grad_input = torch.autograd.grad(out, x, g)[0]
    args = Args(x, w, None, stride=2)
    line = diagnose_gradient("input", grad_input, case_of(args), args, g)
    assert line is not None and LINE.match(line), line
    assert "grad-input-ignores-stride" in line


def test_gradient_diagnosis_rejects_an_unknown_argument() -> None:
    """Asking for the gradient of something other than input, weight or bias names the value and the choices."""
    args = Args(torch.randn(1, 1, 4, 4), torch.randn(1, 1, 2, 2), None)
    with pytest.raises(ValueError, match=r"which='output'; expected 'input', 'weight' or 'bias'"):
        diagnose_gradient("output", torch.zeros(1, 1, 3, 3), case_of(args), args, torch.ones(1, 1, 3, 3))  # type: ignore[arg-type]


def test_catalogue_entries_are_well_formed() -> None:
    """Variant names are unique and every sentence says what the result equals."""
    names = [v.name for v in (*VARIANTS, *GRADIENT_VARIANTS, *PARTIAL_VARIANTS)]
    assert len(names) == len(set(names))
    assert all(v.sentence.startswith("the output equals ") for v in VARIANTS)
    assert all(v.sentence.startswith(f"the {v.which} gradient equals ") for v in GRADIENT_VARIANTS)
    assert len(VARIANTS) >= 30


def test_explained_laws_are_laws() -> None:
    """Every law the explanation covers is a law of the registry."""
    from conv2d.gate.diagnosis import EXPLAINED_LAWS
    from conv2d.gate.diagnosis.explain import explained_laws
    from conv2d.gate.properties import PROPERTIES

    assert explained_laws() == EXPLAINED_LAWS
    assert not EXPLAINED_LAWS - set(PROPERTIES)


def test_explain_a_final_counterexample() -> None:
    """The explanation of a counterexample names the variant and maps the wrong elements; a right target gets none."""
    from conv2d.gate.diagnosis import explain
    from conv2d.gate.target import Target

    case = ConvCase(2, 3, 4, 10, 10, (3, 3), stride=(1, 2), bias=True)
    lines = explain(Target.load("conv2d.zoo.mutants:stride_swapped"), case, "output-shape")
    assert len(lines) == 1 and "strides swapped" in lines[0] and LINE.match(lines[0]), lines
    assert "; confirmed on input(3, 3, 13, 15) weight(5, 3, 3, 5) +bias stride=(3, 2)" in lines[0]
    lines = explain(
        Target.load("conv2d.zoo.mutants:grad_bias_batch_mean"),
        ConvCase(3, 3, 4, 6, 6, (3, 3), bias=True),
        "gradients",
    )
    assert "averaged over the batch" in lines[0] and lines[1].startswith("bias.grad: worst plane")
    assert LINE.match(lines[0]) and "; confirmed on input(4, 3, 9, 11)" in lines[0], lines
    assert explain(Target.load("conv2d.zoo.correct:im2col"), case, "matches-reference") == []
    assert explain(Target.load("conv2d.zoo.mutants:stride_swapped"), case, "determinism") == []


# -- every variant that fits, and a second case to tell them apart -----------------------------------------

#: Bugs the catalogue does not describe (``tests/undescribed_bugs.py``), each on a small case where its
#: output coincides with catalogued variants: what the first-case fit offers first, and what the gate's
#: explanation may name after checking on a second case (``None``: nothing).
UNDESCRIBED = [
    (
        "same_pad_one_more_left",
        ConvCase(1, 1, 1, 1, 1, (1, 2), padding="same"),
        "true-convolution",
        "same-split-reversed",
    ),
    (
        "same_pad_one_more_left",
        ConvCase(1, 2, 3, 1, 1, (3, 2), padding="same"),
        "true-convolution",
        "same-split-reversed",
    ),
    (
        "same_pad_one_more_left",
        ConvCase(None, 1, 1, 1, 1, (1, 1), padding="same"),
        "window-one-column-late",
        None,
    ),
    ("kernel_mirrored_left_right", ConvCase(None, 4, 4, 1, 2, (3, 3), padding=1), "true-convolution", None),
    ("dilation_height_ignored", ConvCase(None, 1, 1, 3, 1, (2, 1), dilation=2), "dilation-ignored", None),
    ("batch_rolled_back", ConvCase(2, 4, 4, 1, 1, (3, 3), padding=1), "batch-reversed", None),
]


def _undescribed(name: str):
    import undescribed_bugs

    return getattr(undescribed_bugs, name)


@pytest.mark.parametrize(("name", "case", "first", "named"), UNDESCRIBED, ids=[u[0] for u in UNDESCRIBED])
def test_undescribed_bug_is_not_named_after_a_coincidence(
    name: str, case: ConvCase, first: str, named
) -> None:
    """A bug the catalogue lacks, coinciding on a small case with a catalogued variant, is not named as that variant.

    On the case itself, the first variant the output fits is the wrong one (what a first-match
    diagnosis named); the explanation calls the target on a second case, where that variant no
    longer fits, and names only a variant that still does.
    """
    from conv2d.gate.diagnosis import explain
    from conv2d.gate.target import Target

    case = case.replace(dtype="float64")
    args = case.materialize()
    out = _undescribed(name)(args.input, args.weight, args.bias, **args.params())
    on_the_case = identify(out, case, args)
    assert on_the_case is not None and on_the_case.candidates[0].name == first
    lines = explain(Target.load(f"undescribed_bugs:{name}"), case, "matches-reference")
    said = [line for line in lines if line.startswith("diagnosis:")]
    assert f"variant {first}," not in " ".join(said) and f"variant {first})" not in " ".join(said)
    if named is None:
        assert said == [], said
    else:
        assert len(said) == 1 and LINE.match(said[0]) and f"variant {named}," in said[0], said
        assert "; confirmed on input(" in said[0]


def test_same_padding_shifted_left_is_not_a_rotated_kernel() -> None:
    """'same' padding with one more column on the left is never explained as the kernel rotated 180°."""
    from conv2d.gate.diagnosis import explain
    from conv2d.gate.target import Target

    target = Target.load("undescribed_bugs:same_pad_one_more_left")
    for kernel in [(1, 2), (3, 2), (1, 1), (1, 3), (2, 2), (3, 3)]:
        for height, width in [(1, 1), (1, 2), (2, 1), (3, 4)]:
            case = ConvCase(1, 2, 2, height, width, kernel, padding="same", dtype="float64", seed=height)
            text = "\n".join(explain(target, case, "matches-reference"))
            assert "rotated 180°" not in text and "true-convolution" not in text, (case.describe(), text)


def test_coinciding_variants_make_an_ambiguous_match() -> None:
    """Two images reversed are two images rolled by one: both are candidates, neither is named, the line lists both."""
    case = ConvCase(2, 3, 4, 5, 6, (3, 3), padding=1, bias=True, dtype="float64", seed=4)
    args = case.materialize()
    out = _output("im2col", args.replace(input=args.input.flip(0)))
    found = identify(out, case, args)
    assert found is not None and found.ambiguous
    assert [v.name for v in found.candidates] == ["batch-reversed", "batch-rolled"]
    assert found.line == (
        "diagnosis: ambiguous on this case: the output equals F.conv2d of the batch in reversed order, or "
        "F.conv2d with each image's result in the next image's slot (the batch rolled by one) "
        "(variants batch-reversed, batch-rolled)"
    )


def test_alternatives_share_the_words_they_have_in_common() -> None:
    """Sentences that all change one thing of F.conv2d are joined as 'F.conv2d with A, or with B'."""
    from conv2d.gate.diagnosis.identify import alternatives

    said = alternatives(["the output equals F.conv2d with A", "the output equals F.conv2d with B"])
    assert said == "the output equals F.conv2d with A, or with B"
    said = alternatives(["the output equals F.conv2d with A", "the output equals the stride-1 F.conv2d's B"])
    assert said == "the output equals F.conv2d with A, or the stride-1 F.conv2d's B"


def _rotating(beyond: int | None = None, then: str = "right"):
    """A convolution with the kernel rotated 180°; on inputs wider than ``beyond``: right, raising or hanging."""
    from conv2d.gate.diagnosis.problem import CONVOLUTION, PAD

    calls = []

    def fn(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        calls.append(tuple(input.shape))
        wide = beyond is not None and input.shape[-1] > beyond
        if wide and then == "raises":
            raise RuntimeError("no kernel for this width")
        if wide and then == "hangs":
            time.sleep(1.0)
        turned = weight if wide else weight.flip(-2, -1)
        x = PAD(input, [padding, padding, padding, padding], 0.0)
        return CONVOLUTION(x, turned, bias, [stride] * 2, [0, 0], [1, 1], False, [0, 0], groups)

    return fn, calls


@pytest.mark.parametrize("then", ["wrong", "right", "raises", "hangs"])
def test_second_case_confirms_or_leaves_the_first_cases_match(then: str) -> None:
    """A second case that shows the bug confirms the match; one that cannot be judged leaves the first case's match.

    The target is called exactly once more, through a Target, so that its failure there (an
    exception, a time-out) is caught.
    """
    from conv2d.gate.target import Target

    fn, calls = _rotating(None if then == "wrong" else 7, then)
    case = ConvCase(2, 3, 4, 6, 7, (3, 2), padding=1, bias=True, dtype="float64", seed=2)
    args = case.materialize()
    target = Target(fn, "rotating", timeout=0.2)
    found = identify(fn(args.input, args.weight, args.bias, padding=1), case, args, target=target)
    assert found is not None and found.variant.name == "true-convolution" and not found.ambiguous
    assert len(calls) == 2 and calls[1][-1] > 7
    confirmed = then == "wrong"
    assert (found.confirmed_on is not None) == confirmed
    assert ("; confirmed on input(" in found.line) == confirmed and LINE.match(found.line), found.line


def test_partial_and_whole_variants_are_all_candidates() -> None:
    """Three images reversed leave the middle one right: the whole and the partial variant both fit, so neither is named."""
    case = ConvCase(3, 2, 2, 4, 5, (3, 3), padding=1, dtype="float64", seed=4)
    args = case.materialize()
    found = identify(_output("im2col", args.replace(input=args.input.flip(0))), case, args)
    assert found is not None and found.ambiguous
    assert [v.name for v in found.candidates] == ["batch-reversed", "images-from-other-images"]


def test_second_case_is_larger_asymmetric_and_of_the_same_family() -> None:
    """Larger, odd, unequal sizes; a kernel with no unit axis and not square; the same dtype, layouts and forms."""
    from conv2d.gate.diagnosis.confirm import second_case
    from conv2d.gate.diagnosis.geometry import PER_AXIS

    case = ConvCase(
        2,
        4,
        6,
        3,
        3,
        (1, 3),
        stride=(2, 2),
        padding=(1, 1),
        groups=2,
        bias=True,
        dtype="float16",
        input_layout="channels_last",
        values="integer",
        seed=9,
    )
    second = second_case(case)
    assert second == second_case(case)  # deterministic
    assert (second.height, second.width) != (case.height, case.width)
    assert second.height > case.height and second.width > case.width and second.height != second.width
    assert second.height % 2 == 1 and second.width % 2 == 1
    assert second.kernel == (3, 5) and second.seed != case.seed and second.batch == 3
    for field in (
        "dtype",
        "device",
        "input_layout",
        "weight_layout",
        "values",
        "groups",
        "bias",
        "in_channels",
    ):
        assert getattr(second, field) == getattr(case, field), field
    assert (second.stride, second.padding) == ((2, 2), (1, 1))  # no per-axis candidate: the parameters stay
    per_axis = second_case(case, PER_AXIS)
    assert per_axis.stride == (2, 3) and per_axis.padding == (1, 2)
    assert second_case(case.replace(kernel=(1, 1))).kernel == (1, 1)  # a 1x1 kernel is a fast path of its own
    assert second_case(case.replace(stride=(1, 2)), PER_AXIS).stride == (3, 2)


def test_second_case_is_varied_until_the_candidates_differ() -> None:
    """Blocks of 16 and of 8 channels both drop the last 4 of 20: the second case takes a channel count that does not."""
    from conv2d.gate.diagnosis.confirm import drawn_case
    from conv2d.gate.diagnosis.fitting import output_fits_all
    from conv2d.gate.reference import reference

    case = ConvCase(1, 20, 2, 4, 5, (3, 3), dtype="float64", seed=1)
    args = case.materialize()
    kept = args.weight.clone()
    kept[:, 16:] = 0
    out = _output("im2col", args.replace(weight=kept))
    contract = precision_for(torch.float64)
    found = output_fits_all(out, case, args, contract, reference(args))
    assert [f.variant.name for f in found] == ["channel-remainder-dropped-16", "channel-remainder-dropped-8"]
    drawn = drawn_case(case, found, contract)
    assert drawn.in_channels % 16 != drawn.in_channels % 8


def test_explain_calls_the_target_at_most_once_more() -> None:
    """The explanation of a failing output calls the target twice at most: the case, and one second case."""
    from conv2d.gate.diagnosis import explain
    from conv2d.gate.target import Target

    fn, calls = _rotating()
    case = ConvCase(1, 2, 3, 5, 6, (3, 2), padding=1, dtype="float64")
    lines = explain(Target(fn, "rotating"), case, "matches-reference")
    assert len(calls) == 2 and "; confirmed on input(" in lines[0], lines
