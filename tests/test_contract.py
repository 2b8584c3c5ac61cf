"""The rest of F.conv2d's contract: each bug outside finite, first-order, single-threaded use is caught on every seed.

One or more zoo mutants per region (an empty batch, NaN and inf propagation, float16
overflow, a frozen weight, double backward, threads, global state, input checks, batch
tiles, a production fast path, defaults, parameter order, keywords beside positional
parameters), each killed by the law written for it, under the default profile, on seeds 0, 1 and 2. Each run is crash-isolated
(the gate's worker processes): several mutants run the host's float16/bfloat16 GEMMs,
which must not run in the pytest process; a worker the host's torch kills with a
signal skips the test, naming the signal. The mutant that patches
``torch.nn.functional.conv2d`` on import runs in a process of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import _isolation
import pytest

from conv2d.gate import PROPERTIES
from conv2d.gate.laws import signature_differences
from conv2d.zoo import by_name

ROOT = Path(__file__).resolve().parents[1]

KILLED_BY = {
    "empty_batch_raises": "empty-batch",
    "skips_zero_weights": "special-values",
    "float16_saturates": "overflow-to-inf",
    "frozen_weight_loses_input_grad": "gradient-subsets",
    "detached_double_backward": "double-backward",
    "shared_workspace": "concurrency",
    "leaves_deterministic_mode_on": "no-side-effects",
    "resets_default_dtype": "no-side-effects",
    "no_channel_check": "invalid-input",
    "strided_same_accepted": "invalid-input",
    "batch_tile16_remainder": "matches-reference",
    "fast_path_3x3_in_bfloat16": "matches-reference",
    "stride_two_by_default": "calling-conventions",
    "padding_before_stride": "calling-conventions",
    "keywords_drop_positional": "calling-conventions",
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(KILLED_BY))
def test_each_contract_bug_is_killed_by_its_law_on_every_seed(name: str, seed: int) -> None:
    """The law written for the bug's region finds a counterexample under the default profile."""
    entry = by_name(name)
    report = _isolation.suite(entry.target, kind=entry.kind, seed=seed, only=[KILLED_BY[name]])
    assert [r.status for r in report.results] == ["fails"], report.results[0].note


def test_the_catalogue_names_a_law_for_every_region() -> None:
    """Every law this file relies on is in the catalogue, and each new mutant is in the zoo."""
    assert set(KILLED_BY.values()) <= set(PROPERTIES)
    for name in KILLED_BY:
        assert by_name(name).correct is False


def test_signature_differences_name_order_and_defaults() -> None:
    """A swapped parameter order and a changed default are both named; F.conv2d's own signature has none."""
    assert any("parameters are" in d for d in signature_differences(by_name("padding_before_stride").fn))
    assert signature_differences(by_name("stride_two_by_default").fn) == [
        "default stride=2, but F.conv2d's is 1"
    ]
    assert signature_differences(by_name("im2col").fn) == []


def test_a_target_that_patches_f_conv2d_is_caught_and_named(tmp_path: Path) -> None:
    """Replacing F.conv2d on import fools no reference: matches-reference fails, and the report names the patch."""
    report = tmp_path / "patched.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "conv2d",
            "verify",
            "conv2d.zoo.patching:conv2d",
            "--property",
            "matches-reference",
            "-q",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    data = json.loads(report.read_text())
    assert done.returncode == 1 and data["results"][0]["status"] == "fails"
    assert any("replaced torch.nn.functional.conv2d" in w for w in data["warnings"])
