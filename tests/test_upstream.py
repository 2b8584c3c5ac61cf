"""torch's own bugs are data: a registry of regions and probes, never an assumption about the host.

Nothing here runs the host's convolution in the pytest process. Regions are
predicates over a call's tensors and parameters, checked on tensors alone;
probes run in child processes; the host's F.conv2d is verified only through the
crash-isolating runner, and what it gets wrong on this host is reported (a
warning naming each new failure), not failed: the tests check that every
failure in a registered region the host has is labelled as known.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import _isolation
import pytest
import torch

from conv2d.gate import PROPERTIES, ConvCase, Target, run_suite
from conv2d.gate.case import Args, as_pair
from conv2d.gate.report import known_bugs, render_text
from conv2d.gate.upstream import BUGS, FACTS_VARIABLE, UpstreamBug, _run_probes, entry, facts, regions_of
from conv2d.zoo import by_name

BF16 = "onednn-bfloat16-strided-width-one"
SLICE = "float32-channels-last-slice-wrong-values"


def test_every_entry_names_its_reproducer_probe_region_and_command() -> None:
    """Each entry carries a runnable reproducer and probe (both parse), its region in words and the law that finds it."""
    for bug in BUGS:
        compile(bug.reproducer, bug.name, "exec")
        compile(bug.probe, bug.name, "exec")
        assert bug.law in PROPERTIES and bug.command.endswith(f"--property {bug.law}")
        assert bug.summary and bug.found and bug.region and bug.kind in ("bug", "behaviour")
    assert len({b.name for b in BUGS}) == len(BUGS)


def _call(x: torch.Tensor, w: torch.Tensor, **params: object) -> Args:
    return Args(x, w, None, **params)  # type: ignore[arg-type]


def test_the_bfloat16_strided_region_is_a_one_column_output_under_a_stride() -> None:
    """stride > 1 with a one-column bfloat16 output is in the region; float16, stride 1 or a wider output is not."""
    x, w = torch.zeros(1, 1, 15, 4, dtype=torch.bfloat16), torch.zeros(1, 1, 3, 4, dtype=torch.bfloat16)
    assert BF16 in regions_of(_call(x, w, stride=2))
    assert BF16 not in regions_of(_call(x.half(), w.half(), stride=2))
    assert BF16 not in regions_of(_call(x, w, stride=1))
    assert BF16 not in regions_of(_call(torch.zeros(1, 1, 15, 6, dtype=torch.bfloat16), w, stride=2))


def test_the_channels_last_slice_region_is_the_bisected_one() -> None:
    """The reproducer's one-channel slice of a channels_last batch is in the region; batch 1, stride 1, a
    contiguous copy and float64 are not; the gate's channel_slice layout draws it."""
    parent = torch.zeros(8, 2, 3, 3).contiguous(memory_format=torch.channels_last)
    x, w = parent[:, 1:2], torch.zeros(1, 1, 2, 3)
    assert x.stride() == (18, 1, 6, 2)
    assert SLICE in regions_of(_call(x, w, stride=(1, 2)))
    assert SLICE not in regions_of(_call(x[:1], w, stride=(1, 2)))
    assert SLICE not in regions_of(_call(x, w, stride=1))
    assert SLICE not in regions_of(_call(x.contiguous(), w, stride=(1, 2)))
    assert SLICE not in regions_of(_call(x.double(), w.double(), stride=(1, 2)))
    drawn = ConvCase(2, 1, 1, 3, 3, (2, 3), stride=(1, 2), input_layout="channel_slice").materialize()
    assert SLICE in regions_of(drawn)


def test_regions_of_arguments_the_host_rejects_are_empty() -> None:
    """A malformed call (the invalid-input law makes them) lies in no region instead of raising."""
    assert regions_of(Args(torch.zeros(3), torch.zeros(2), None, stride="x")) == []  # type: ignore[arg-type]


def test_a_probe_that_crashes_stays_in_its_child_process() -> None:
    """A crashing probe is `present` for a crash entry and `crashed (SIGSEGV)` for a wrong-value entry; its caller survives."""
    crash = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    fake = [
        UpstreamBug("crashes", "s", "r", "f", "gradients", "g", lambda c: False, crash, crash=True),
        UpstreamBug("values", "s", "r", "f", "gradients", "g", lambda c: False, crash),
        UpstreamBug("fine", "s", "r", "f", "gradients", "g", lambda c: False, "print('absent')"),
        UpstreamBug("seen", "s", "r", "f", "gradients", "g", lambda c: False, "print('present')"),
    ]
    assert _run_probes(fake) == {
        "crashes": "present",
        "values": "crashed (SIGSEGV)",
        "fine": "absent",
        "seen": "present",
    }


def test_facts_are_probed_once_and_shared_with_child_processes() -> None:
    """facts() names every entry, and a child process reads the same facts from the file it exports."""
    here = facts()
    assert set(here) == {b.name for b in BUGS}
    assert all(
        v in ("present", "absent") or v.startswith(("crashed", "probe failed", "timeout"))
        for v in here.values()
    )
    path = os.environ[FACTS_VARIABLE]
    code = "import json, os; from conv2d.gate.upstream import facts; print(json.dumps(facts()))"
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(child.stdout) == here and os.environ[FACTS_VARIABLE] == path


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_zoo_emulation_of_the_bfloat16_bug_is_killed_on_every_seed(seed: int) -> None:
    """The mutant that computes bfloat16 wrongly for stride > 1 and output width 1 fails on seeds 0, 1 and 2."""
    entry_ = by_name("bfloat16_strided_width_one")  # it runs bfloat16 GEMMs: in the gate's workers only
    report = _isolation.suite(entry_.target, seed=seed, fail_fast=True)
    failure = report.failed[0].failure
    assert failure is not None and failure.case.dtype == "bfloat16"
    assert failure.case.out_spatial[1] == 1 and max(as_pair(failure.case.stride)) > 1


def test_the_host_f_conv2d_gets_a_verdict_with_every_known_bug_labelled() -> None:
    """Verifying the host's F.conv2d (crash-isolated) ends in a verdict in which every failure whose calls
    touched the region of an entry this host has is labelled with it; what is new on this host is reported
    as a warning (data about the host's torch), never as a failure of the project."""
    report = run_suite(Target.load("torch.nn.functional:conv2d"), profile="quick")
    assert report.isolated and report.results
    here = facts()
    text = render_text(report)
    for r in report.failed:
        assert r.failure is not None, r
        assert set(r.failure.known) == {n for n in r.failure.regions if here[n] == "present"}
        for name in r.failure.known:
            assert f"known torch {entry(name).kind} `{name}`" in text
    new = [r for r in report.failed if not known_bugs(r)]
    for r in new:
        warnings.warn(
            f"this host's torch fails {r.property} outside every registered region (a host fact, not a "
            f"project failure): {r.failure.case.describe() if r.failure else r.note}",
            stacklevel=1,
        )
