"""The gate on a CUDA device: the core, F.conv2d with and without TF32, float16 with a bias, CPU/CUDA parity.

Every test here carries the ``cuda`` marker (``conftest.py``) and skips cleanly
without a CUDA device; ``pytest -m cuda`` selects them, and so does the tox ``cuda``
factor.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conv2d.gate import PROPERTIES, Target, declare, run_property

ROOT = Path(__file__).resolve().parents[1]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_cuda_tests_carry_the_marker() -> None:
    """``pytest -m cuda`` selects this file's tests and the CUDA cases of the core's tests, and nothing else."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "cuda",
            "-p",
            "no:randomly",
            str(ROOT / "tests"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert any("test_cuda.py::test_core_matches_the_reference_on_cuda" in i for i in ids), done.stdout[-2000:]
    assert all("test_cuda.py" in i or "cuda" in i for i in ids), [i for i in ids if "cuda" not in i][:5]


@needs_cuda
def test_core_matches_the_reference_on_cuda() -> None:
    """The core passes matches-reference and gradients on CUDA."""
    target = Target.load("conv2d.functional:conv2d")
    for name in ("matches-reference", "gradients"):
        result = run_property(PROPERTIES[name], target, device="cuda", profile="quick")
        assert result.status == "holds", result.failure.message if result.failure else result.note


@needs_cuda
def test_core_cpu_and_cuda_agree() -> None:
    """device-parity holds for the core."""
    result = run_property(
        PROPERTIES["device-parity"], Target.load("conv2d.functional:conv2d"), device="cuda", profile="quick"
    )
    assert result.status == "holds", result.failure.message if result.failure else result.note


def _f_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


@needs_cuda
def test_tf32_is_caught_unless_declared() -> None:
    """On TF32 hardware, F.conv2d in float32 with cuDNN's default allow_tf32 fails the float32 contract and passes once declared."""
    if torch.cuda.get_device_capability() < (8, 0):
        pytest.skip("this GPU has no TF32")
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=True):
        plain = Target(declare(dtypes=("float32",), devices=("cuda",))(_f_conv2d), "F.conv2d")
        assert run_property(PROPERTIES["matches-reference"], plain, device="cuda").status == "fails"
        tf32 = Target(declare(dtypes=("float32",), devices=("cuda",), tf32=True)(_f_conv2d), "F.conv2d")
        assert run_property(PROPERTIES["matches-reference"], tf32, device="cuda").status == "holds"


@needs_cuda
def test_float16_with_bias_on_cudnn_passes() -> None:
    """cuDNN's float16 and bfloat16 convolution with a bias (rounded, then the bias added) passes matches-reference."""
    target = Target(declare(dtypes=("float16", "bfloat16"), devices=("cuda",))(_f_conv2d), "F.conv2d")
    result = run_property(PROPERTIES["matches-reference"], target, device="cuda")
    assert result.status == "holds", result.failure.message if result.failure else result.note
