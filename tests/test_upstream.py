"""torch's own bugs are data: the gate catches each where the host has it, and passes torch elsewhere.

Nothing here assumes the host's F.conv2d is right. Each known upstream bug has a
probe (``conv2d.gate.upstream``) that tells whether this host's torch has it; a
test checks that the gate catches it where present, the zoo emulates the bfloat16
one so that catching it is checked on every machine, and F.conv2d outside the
known-bad regions must pass.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conv2d.gate import PROPERTIES, ConvCase, Target, declare, run_property, run_suite
from conv2d.gate.case import as_pair, output_size
from conv2d.gate.upstream import BUGS, affecting, present
from conv2d.zoo import by_name

BF16 = "onednn-bfloat16-strided-width-one"


def test_every_bug_names_its_reproducer_and_command() -> None:
    """Each entry carries a runnable reproducer (it parses) and the gate command that finds it."""
    for bug in BUGS:
        compile(bug.reproducer, bug.name, "exec")
        assert bug.law in PROPERTIES and bug.command.endswith(f"--property {bug.law}")
        assert bug.summary and bug.found


def test_region_predicates_select_their_configurations() -> None:
    """The bfloat16 bug's region is stride > 1 with a one-column output in bfloat16, and nothing else."""
    bug = next(b for b in BUGS if b.name == BF16)
    inside = ConvCase(
        batch=1, in_channels=1, out_channels=1, height=15, width=4, kernel=(3, 4), stride=2, dtype="bfloat16"
    )
    assert inside.out_spatial[1] == 1 and bug.affects(inside)
    assert not bug.affects(inside.replace(dtype="float16"))
    assert not bug.affects(inside.replace(stride=1, width=4))
    assert not bug.affects(inside.replace(width=6))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_zoo_emulation_of_the_bfloat16_bug_is_killed_on_every_seed(seed: int) -> None:
    """The mutant that computes bfloat16 wrongly for stride > 1 and output width 1 fails on seeds 0, 1 and 2."""
    entry = by_name("bfloat16_strided_width_one")
    report = run_suite(Target(entry.fn, entry.target), seed=seed, fail_fast=True)
    failure = report.failed[0].failure
    assert failure is not None and failure.case.dtype == "bfloat16"
    assert failure.case.out_spatial[1] == 1 and max(as_pair(failure.case.stride)) > 1


def test_the_gate_catches_the_real_bfloat16_bug_where_present() -> None:
    """On a host whose torch has the bfloat16 bug, verifying F.conv2d fails on a bfloat16 case in its region."""
    if not present(BF16):
        pytest.skip("this host's torch computes bfloat16 with stride > 1 and output width 1 correctly")
    result = run_property(
        PROPERTIES["matches-reference"], Target(declare(dtypes=("bfloat16",))(_wrapped()), "F.conv2d")
    )
    assert result.status == "fails" and result.failure is not None
    assert next(b for b in BUGS if b.name == BF16).affects(result.failure.case)


def _wrapped():
    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)

    return conv2d


def _case_of(input: torch.Tensor, weight: torch.Tensor, stride, padding, dilation, groups) -> ConvCase:
    """The case a call describes, as far as the upstream regions need it."""
    batched = input.dim() == 4
    layout = (
        "channels_last"
        if batched and input.is_contiguous(memory_format=torch.channels_last) and not input.is_contiguous()
        else "contiguous"
    )
    if not batched and input.dim() == 3 and input.stride()[0] == 1 and input.shape[0] > 1:
        layout = "channels_last"
    wlayout = (
        "channels_last"
        if weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
        else "contiguous"
    )
    return ConvCase(
        batch=input.shape[0] if batched else None,
        in_channels=input.shape[-3],
        out_channels=weight.shape[0],
        height=input.shape[-2],
        width=input.shape[-1],
        kernel=(weight.shape[-2], weight.shape[-1]),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        dtype=str(input.dtype).removeprefix("torch."),
        input_layout=layout,
        weight_layout=wlayout,
    )


def host_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d, declining (NotImplementedError) the configurations this host's torch is known to get wrong."""
    case = _case_of(input, weight, stride, padding, dilation, groups)
    bugs = affecting(case)
    if bugs:
        raise NotImplementedError(f"this host's torch has {bugs[0].name}")
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def test_case_of_recovers_the_output_size() -> None:
    """The wrapper's case reconstruction gives F.conv2d's output size (so the regions it tests are the right ones)."""
    x, w = torch.zeros(2, 3, 15, 4), torch.zeros(6, 3, 3, 4)
    case = _case_of(x, w, 2, 1, 1, 1)
    assert (
        case.out_spatial
        == output_size((15, 4), (3, 4), 2, 1, 1)
        == tuple(F.conv2d(x, w, stride=2, padding=1).shape[-2:])
    )


def test_f_conv2d_passes_outside_the_known_bad_regions() -> None:
    """The host's F.conv2d passes the whole catalogue once the configurations of its known bugs are declined."""
    report = run_suite(Target(host_conv2d, "tests.test_upstream:host_conv2d"))
    failures = [(r.property, r.failure.message if r.failure else r.note) for r in report.failed]
    assert not failures, failures
