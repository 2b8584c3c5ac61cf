"""The command line as a user meets it: exit codes, reports, known failures, and parity with the pytest plugin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conv2d.gate.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--profile", "quick", "-q"]
CORE_PROPS = ["--property", "output-shape", "--property", "matches-reference"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_correct_target_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """A correct target exits 0 with a PASS verdict and a row per property."""
    code, out, _ = run(capsys, "conv2d.zoo.correct:im2col", *QUICK, *CORE_PROPS)
    assert code == 0 and "verdict: PASS" in out
    assert "output-shape" in out and "matches-reference" in out


def test_buggy_target_fails_with_a_runnable_repro(capsys: pytest.CaptureFixture[str]) -> None:
    """A buggy target exits 1; the failure shows the case, the error against its bound and a snippet that reproduces it."""
    code, out, _ = run(capsys, "conv2d.zoo.mutants:tail_drop_w8", "--profile", "default", "-q", *CORE_PROPS)
    assert code == 1 and "verdict: FAIL" in out
    assert "x bound" in out and "reproduce:" in out and "--seed 0" in out
    snippet = out.split("reproduce:\n", 1)[1].split("    replay this search")[0]
    code_lines = "\n".join(line[6:] for line in snippet.splitlines())
    from conv2d.gate import Violation

    with pytest.raises(Violation):
        exec(compile(code_lines, "<repro>", "exec"), {})


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:conv", "cannot import module 'no_such_module_xyz'"),
        ("conv2d.zoo.correct:no_such", "has no attribute 'no_such'"),
        ("just_a_name", "not of the form 'package.module:function'"),
    ],
)
def test_load_errors_exit_2(capsys: pytest.CaptureFixture[str], target: str, message: str) -> None:
    """A target that cannot be imported or found gets a clear message and exit code 2."""
    code, _, err = run(capsys, target)
    assert code == 2 and message in err


def test_unknown_property_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Naming a property that does not exist is a usage error naming it."""
    code, _, err = run(capsys, "--property", "linearity")
    assert code == 2 and "unknown property 'linearity'" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_device_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Asking for CUDA where there is none is a usage error, not a silent CPU run."""
    code, _, err = run(capsys, "--device", "cuda")
    assert code == 2 and "no CUDA device" in err


@pytest.mark.parametrize("kind", ["conv2d", "corr2d", "conv_transpose2d", "conv1d", "conv3d"])
def test_list_names_every_property(capsys: pytest.CaptureFixture[str], kind: str) -> None:
    """--list prints each property of the kind with its law, and none of another kind's."""
    from conv2d.gate import PROPERTIES

    code, out, _ = run(capsys, "--list", "--kind", kind)
    assert code == 0
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert listed == {name for name, p in PROPERTIES.items() if kind in p.kinds}


def test_json_and_markdown_reports(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--json writes the verdict, environment and counterexample; --markdown a table for a CI summary."""
    report, summary = tmp_path / "r.json", tmp_path / "s.md"
    code, _, _ = run(
        capsys,
        "conv2d.zoo.mutants:tail_drop_w8",
        "-q",
        *CORE_PROPS,
        "--json",
        str(report),
        "--markdown",
        str(summary),
    )
    data = json.loads(report.read_text())
    assert code == 1 and data["verdict"] == "fail" and data["exit_code"] == 1
    assert data["environment"]["torch"] == torch.__version__ and "tf32" in data["environment"]
    failing = [r for r in data["results"] if r["status"] == "fails"]
    assert failing and "ConvCase(" in failing[0]["failure"]["case_code"]
    text = summary.read_text()
    assert "| property |" in text and "❌" in text and "```python" in text


def test_xfails_demote_and_stale_entries_warn(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A known failure becomes xfail (exit 0); an entry that matches nothing is reported stale."""
    known = tmp_path / "xfails.txt"
    known.write_text("matches-reference  # tail columns, fixed in the next release\nno-such-*  # left over\n")
    code, out, _ = run(
        capsys, "conv2d.zoo.mutants:tail_drop_w8", "-q", *CORE_PROPS, "--xfails-file", str(known)
    )
    assert code == 0 and "xfail" in out
    assert "stale entry 'no-such-*'" in out


def test_xfail_that_holds_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A known failure that starts to hold is reported as xpass with a request to remove the entry."""
    known = tmp_path / "xfails.txt"
    known.write_text("output-shape[cpu]  # believed broken\n")
    code, out, _ = run(capsys, "conv2d.zoo.correct:im2col", *QUICK, *CORE_PROPS, "--xfails-file", str(known))
    assert code == 0 and "xpass" in out and "remove the entry" in out


def test_known_failure_without_reason_is_rejected(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Every known-failure line needs a reason; a bare pattern is a usage error naming the line."""
    known = tmp_path / "xfails.txt"
    known.write_text("gradients\n")
    code, _, err = run(capsys, "--xfails-file", str(known))
    assert code == 2 and "xfails.txt:1" in err and "has no reason" in err


def test_skips_file_skips(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A skips entry keeps the property from running and says why."""
    skips = tmp_path / "skips.txt"
    skips.write_text("matches-reference  # too slow on this runner\n")
    code, out, _ = run(
        capsys, "conv2d.zoo.mutants:tail_drop_w8", "-q", *CORE_PROPS, "--skips-file", str(skips)
    )
    assert code == 0 and "too slow on this runner" in out


def test_fail_fast_stops_at_the_first_failure(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--fail-fast reports the first failing property and runs no further ones."""
    report = tmp_path / "r.json"
    code, _, _ = run(
        capsys, "conv2d.zoo.mutants:ceil_output_size", "-q", "--fail-fast", "--json", str(report)
    )
    statuses = [r["status"] for r in json.loads(report.read_text())["results"]]
    assert code == 1 and statuses[-1] == "fails" and len(statuses) < 10


def test_lab_corr2d_is_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    """The lab's loop corr2d, verified as a corr2d target, fails for not keeping the input's dtype."""
    code, out, _ = run(
        capsys, "conv2d.zoo.corr2d:lab_corr2d", "--kind", "corr2d", "-q", "--property", "output-shape"
    )
    assert code == 1 and "output.dtype=torch.float32, but should be torch.float64" in out


def test_builtin_core_is_the_default_target(capsys: pytest.CaptureFixture[str]) -> None:
    """With no target the built-in core is verified."""
    code, out, _ = run(capsys, *QUICK, *CORE_PROPS)
    assert code == 0 and "conv2d.functional:conv2d" in out


def _plugin_statuses(tmp_path: Path, target: str, props: list[str]) -> dict[str, str]:
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--conv-impl",
        target,
        "-n",
        "2",
        "-rA",
        "-q",
        "--rootdir",
        str(tmp_path),
    ]
    for p in props:
        args += ["--conv-property", p]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    outcome = {"PASSED": "holds", "FAILED": "fails", "SKIPPED": "skipped", "ERROR": "error"}
    statuses = {}
    for line in done.stdout.splitlines():
        found = re.match(r"^(PASSED|FAILED|SKIPPED|ERROR) .*::([\w-]+)\[cpu\]", line)
        if found:
            statuses[found.group(2)] = outcome[found.group(1)]
    return statuses


def test_cli_and_pytest_plugin_agree(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`pytest --conv-impl T -n 2` and `python -m conv2d verify T` give the same verdict per property."""
    props = ["output-shape", "matches-reference", "gradients", "batch-independence"]
    target = "conv2d.zoo.mutants:grad_bias_batch_mean"
    report = tmp_path / "r.json"
    args = [a for p in props for a in ("--property", p)]
    main(["verify", target, "-q", "--json", str(report), *args])
    capsys.readouterr()
    cli = {r["property"]: r["status"] for r in json.loads(report.read_text())["results"]}
    assert _plugin_statuses(tmp_path, target, props) == cli
    assert cli["gradients"] == "fails" and cli["output-shape"] == "holds"


def test_workers_give_the_same_verdict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Spreading properties over two processes changes nothing in the verdict."""
    props = [a for p in ("output-shape", "matches-reference", "determinism") for a in ("--property", p)]
    one, two = tmp_path / "1.json", tmp_path / "2.json"
    main(["verify", "conv2d.zoo.mutants:bias_ignored_above_64", "-q", *props, "--json", str(one)])
    main(["verify", "conv2d.zoo.mutants:bias_ignored_above_64", "-q", *props, "-n", "2", "--json", str(two)])
    capsys.readouterr()

    def strip(p):
        return [
            (r["property"], r["status"], r["failure"] and r["failure"]["case_code"])
            for r in json.loads(p.read_text())["results"]
        ]

    assert strip(one) == strip(two)


def test_a_conv3d_bug_is_reported_with_its_kind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A conv3d target's failure carries its kind in the JSON report and its repro, with its three axes."""
    report = tmp_path / "r.json"
    code, out, _ = run(
        capsys,
        "conv2d.zoo.spatial:depth_height_swapped_conv3d",
        "--kind",
        "conv3d",
        "--property",
        "matches-reference",
        "--json",
        str(report),
        "-q",
    )
    data = json.loads(report.read_text())
    assert code == 1 and data["kind"] == "conv3d" and data["verdict"] == "fail"
    assert "kind='conv3d'" in out and "depth=" in out
