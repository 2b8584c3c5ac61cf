"""The examples end to end: the correct im2col kernel passes the gate, the fast one is caught, and
examples/known_failures.txt demotes that failure."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from conv2d.gate.cli import main

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the examples package lives at the repository root
    sys.path.insert(0, str(ROOT))

from examples.my_kernels import conv2d_im2col, conv2d_im2col_fast  # noqa: E402

CORRECT = "examples.my_kernels:conv2d_im2col"
BUGGY = "examples.my_kernels:conv2d_im2col_fast"
KNOWN = str(ROOT / "examples" / "known_failures.txt")
CATCHES_IT = ["--property", "matches-reference", "--profile", "default"]


def _verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    profile = [] if "--profile" in argv else ["--profile", "quick"]
    code = main(["verify", *argv, *profile, "-q"])
    return code, capsys.readouterr().out


def test_correct_kernel_passes_the_gate(capsys: pytest.CaptureFixture[str]) -> None:
    """conv2d_im2col passes every property of the quick profile."""
    code, out = _verify(capsys, CORRECT)
    assert code == 0, out
    assert "verdict: PASS" in out
    assert "matches-reference     holds" in out


def test_buggy_kernel_fails_with_a_repro(capsys: pytest.CaptureFixture[str]) -> None:
    """conv2d_im2col_fast fails matches-reference on a grouped case, with a runnable repro snippet."""
    code, out = _verify(capsys, BUGGY, *CATCHES_IT)
    assert code == 1, out
    assert "matches-reference fails on cpu" in out
    assert "reproduce:" in out
    assert "groups=" in out and "from examples.my_kernels import conv2d_im2col_fast as fn" in out
    assert "verdict: FAIL" in out


def test_known_failures_file_demotes_the_failure(capsys: pytest.CaptureFixture[str]) -> None:
    """With examples/known_failures.txt the buggy kernel's failure is an xfail and the gate exits 0."""
    code, out = _verify(capsys, BUGGY, *CATCHES_IT, "--xfails-file", KNOWN)
    assert code == 0, out
    assert "xfail" in out
    assert "verdict: PASS" in out


class _OpLog(TorchDispatchMode):
    """Records the name of every aten operator called."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops.add(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("fn", [conv2d_im2col, conv2d_im2col_fast])
def test_examples_call_no_convolution_operator(fn: Any) -> None:
    """Neither example reaches an aten operator with "conv" in its name, forward or backward."""
    x = torch.randn(2, 4, 7, 6, requires_grad=True)
    w = torch.randn(6, 2, 3, 2, requires_grad=True)
    b = torch.randn(6, requires_grad=True)
    with _OpLog() as log:
        out = fn(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
        out.sum().backward()
    assert log.ops and not [op for op in log.ops if "conv" in op]
