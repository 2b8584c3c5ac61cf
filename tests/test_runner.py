"""Whatever the target does, the gate ends in a verdict: crashes, exits and hangs are isolated and reported.

Each misbehaving target (``conv2d.zoo.misbehaving``) is verified through the command
line, as a user would, on a few properties: the run exits 1, names what happened and
on which case, writes a complete JSON report, and reports the other properties too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conv2d.gate.cli import main

ROOT = Path(__file__).resolve().parents[1]
MISBEHAVING = "conv2d.zoo.misbehaving"


def _verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, *argv: str
) -> tuple[int, str, dict]:
    report = tmp_path / f"{name}.json"
    code = main(["verify", f"{MISBEHAVING}:{name}", "-q", "--json", str(report), *argv])
    return code, capsys.readouterr().out, json.loads(report.read_text())


def _props(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--property", name)]


def test_a_segfault_is_a_verdict_on_its_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A target that segfaults on grouped convolutions: 'crashed with SIGSEGV' on a grouped case; ungrouped laws still hold."""
    code, out, report = _verify(
        tmp_path,
        capsys,
        "segfaults_on_groups",
        *_props("groups-concat", "stride-subsampling"),
        "--profile",
        "quick",
    )
    assert code == 1 and report["exit_code"] == 1
    status = {r["property"]: r for r in report["results"]}
    crashed = status["groups-concat"]
    assert crashed["status"] == "crashed" and "crashed with SIGSEGV (signal 11)" in crashed["note"]
    assert (
        crashed["failure"]["case_code"].startswith("ConvCase(")
        and "groups=" in crashed["failure"]["case_code"]
    )
    assert "crashed with SIGSEGV" in out and "reproduce:" in out
    assert set(status) == {"groups-concat", "stride-subsampling"}


def test_os_exit_zero_is_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A target that calls os._exit(0) on batches larger than 3 ends the property as 'ended the process with exit status 0'."""
    code, out, report = _verify(tmp_path, capsys, "exits_on_large_batches", *_props("batch-independence"))
    result = report["results"][0]
    assert code == 1 and result["status"] == "crashed"
    assert "ended the process with exit status 0" in result["note"] and "input(" in result["note"]
    assert "verdict: FAIL" in out


def test_system_exit_is_a_failure_of_that_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A target raising SystemExit on a bias fails bias-superposition with the exception named."""
    code, _, report = _verify(
        tmp_path, capsys, "raises_system_exit_on_bias", *_props("bias-superposition", "delta-identity")
    )
    status = {r["property"]: r for r in report["results"]}
    assert code == 1 and status["bias-superposition"]["status"] == "fails"
    message = status["bias-superposition"]["failure"]["message"]
    assert "raised SystemExit" in message
    assert "fresh process" not in message  # checked again alone, the case still fails: no history needed


def test_a_failure_that_needs_earlier_calls_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kernel cache keyed on too little fails; its case, checked again in a fresh worker, holds, and the verdict says so."""
    code, out, report = _verify(tmp_path, capsys, "stale_kernel_cache", *_props("matches-reference"))
    result = report["results"][0]
    assert code == 1 and result["status"] == "fails"
    assert "checked again in a fresh process" in result["failure"]["message"]
    assert result["failure"]["repro"].endswith("the failure needs the calls made before it")
    assert "this case holds in a fresh process" in out


def test_a_hang_in_c_code_is_a_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A target spinning in C (holding the interpreter) on dilated cases: 'timeout' on a dilated case, the worker killed."""
    code, out, report = _verify(
        tmp_path,
        capsys,
        "hangs_in_c_on_dilation",
        *_props("dilation-zero-insert", "stride-subsampling"),
        "--timeout",
        "1",
    )
    status = {r["property"]: r for r in report["results"]}
    hung = status["dilation-zero-insert"]
    assert code == 1 and hung["status"] == "timeout"
    assert "did not return within 1 s" in hung["note"] and "dilation=" in hung["failure"]["case_code"]
    assert status["stride-subsampling"]["status"] in ("holds", "timeout")
    assert "timeout" in out


def test_a_hang_is_paid_for_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A target spinning on every strided case: the first hang costs the full limit, later ones the short limit, one cause.

    Six properties that draw strided cases time out, each on a strided case, under one
    cause; flipped-kernel (stride 1 only) still holds. Paying the full limit in each
    would take six times it (and a fresh worker each); the run takes well under that.
    """
    timeout, strided = (
        10.0,
        ["output-shape", "matches-reference", "gradients", "delta-identity", "padding-forms", "adjoint"],
    )
    start = time.perf_counter()
    code, out, report = _verify(
        tmp_path,
        capsys,
        "spins_on_strides",
        *_props(*strided, "flipped-kernel"),
        "--profile",
        "quick",
        "--timeout",
        f"{timeout:g}",
    )
    seconds = time.perf_counter() - start
    status = {r["property"]: r for r in report["results"]}
    assert code == 1 and status["flipped-kernel"]["status"] == "holds", status["flipped-kernel"]
    hung = [status[name] for name in strided]  # in catalogue order: output-shape hangs first
    assert [r["status"] for r in hung] == ["timeout"] * len(strided)
    assert all("stride=" in r["failure"]["case_code"] for r in hung)
    assert len({r["failure"]["cause"] for r in hung}) == 1
    first, later = hung[0], hung[1:]
    assert f"did not return within the {timeout:g} s time limit" in first["note"]
    assert first["seconds"] >= timeout
    for r in later:
        given = re.search(r"so later calls are given ([0-9.]+) s ", r["note"])
        assert given is not None and float(given[1]) < timeout / 2, r["note"]  # 2 s unless calls were slow
        assert f"did not return within the {given[1]} s time limit" in r["note"]
        assert (
            f"an earlier call (property output-shape) hung past the full {timeout:g} s limit on case "
            f"{first['failure']['case']}" in r["note"]
        )
        assert f"run --property {r['property']} alone" in r["failure"]["message"]
        assert r["seconds"] < timeout / 2 + 1, (r["property"], r["seconds"])
    assert f"one cause, {len(strided)} properties" in out
    assert seconds < 0.6 * len(strided) * timeout, seconds


def test_declining_everything_is_not_verified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A target that raises NotImplementedError on every call fails the run with 'not verified'."""
    code, out, report = _verify(
        tmp_path, capsys, "declines_everything", *_props("output-shape", "matches-reference")
    )
    assert code == 1 and {r["status"] for r in report["results"]} == {"not verified"}
    assert "not verified" in out and "verdict: FAIL" in out


def test_torch_not_implemented_inside_the_target_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """torch raising NotImplementedError inside the kernel, on every call or only with a bias, fails on that case."""
    code, _, report = _verify(tmp_path, capsys, "torch_not_implemented", *_props("output-shape"))
    assert code == 1 and report["results"][0]["status"] == "fails"
    code, _, report = _verify(
        tmp_path, capsys, "torch_not_implemented_with_bias", *_props("matches-reference")
    )
    failure = report["results"][0]["failure"]
    assert code == 1 and report["results"][0]["status"] == "fails" and "bias=True" in failure["case_code"]


def test_a_five_megabyte_message_gives_a_small_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target raising a 5 MB message on float16: one cause reported once, terminal output under 100 kB."""
    code, out, report = _verify(tmp_path, capsys, "huge_message_on_float16", "--profile", "quick")
    assert code == 1 and len(out) < 100_000, len(out)
    assert "more characters cut" in out
    failing = [r for r in report["results"] if r["status"] == "fails"]
    assert len(failing) >= 2 and "one cause," in out
    assert len({r["failure"]["cause"] for r in failing}) == 1


def _busy(seconds: float) -> list[subprocess.Popen]:
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]


def test_same_seed_same_verdict_under_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The verdict (statuses, case counts, counterexample) is the same with both cores busy as idle."""

    def verdict() -> list[tuple]:
        path = tmp_path / "r.json"
        main(
            [
                "verify",
                "conv2d.zoo.mutants:tail_drop_w8",
                "-q",
                "--json",
                str(path),
                *_props("matches-reference", "output-shape", "shift-equivariance"),
            ]
        )
        capsys.readouterr()
        results = json.loads(path.read_text())["results"]
        return [
            (r["property"], r["status"], r["examples"], (r["failure"] or {}).get("case_code"))
            for r in results
        ]

    idle = verdict()
    load = _busy(120)
    try:
        time.sleep(0.5)
        loaded = verdict()
    finally:
        for p in load:
            p.kill()
    assert idle == loaded
    assert any(status == "fails" for _, status, _, _ in idle)
