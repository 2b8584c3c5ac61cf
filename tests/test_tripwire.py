"""The tripwire of ``conftest.py``: no host convolution and no half-precision GEMM in the pytest process.

Only float64 reaches torch's convolutions here, and float32/float64 its matrix
products; everything else raises before any kernel runs, and a spawned worker
(how the gate isolates targets) gets torch's own functions.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import signal
import sys

import _isolation
import _tripwire
import pytest
import torch
import torch.nn.functional as F

HALF = (torch.float16, torch.bfloat16)


def test_the_tripwire_is_on() -> None:
    """This process has it, and torch's entry points are its wrappers."""
    assert _tripwire.installed()
    assert hasattr(F.conv2d, "__tripwire_original__")
    assert hasattr(torch.Tensor.__matmul__, "__tripwire_original__")


@pytest.mark.parametrize("dtype", [torch.float32, *HALF], ids=str)
@pytest.mark.parametrize(
    "call",
    [
        lambda x, w: F.conv2d(x, w),
        lambda x, w: torch.conv2d(x, w),
        lambda x, w: torch.nn.Conv2d(1, 1, 2, bias=False).to(x.dtype)(x),
        lambda x, w: F.conv_transpose2d(x, w),
        lambda x, w: torch.conv_transpose2d(x, w),
        lambda x, w: F.conv2d(x.double(), w.double(), bias=torch.ones(1, dtype=x.dtype)),
        lambda x, w: F.conv1d(x.flatten(2), w.flatten(2)),
        lambda x, w: torch.nn.Conv1d(1, 1, 2, bias=False).to(x.dtype)(x.flatten(2)),
        lambda x, w: F.conv3d(x[:, :, None], w[:, :, None]),
        lambda x, w: torch.conv3d(x[:, :, None], w[:, :, None]),
    ],
    ids=[
        "F.conv2d",
        "torch.conv2d",
        "nn.Conv2d",
        "F.conv_transpose2d",
        "torch.conv_transpose2d",
        "bias",
        "F.conv1d",
        "nn.Conv1d",
        "F.conv3d",
        "torch.conv3d",
    ],
)
def test_a_convolution_that_is_not_float64_trips(call, dtype: torch.dtype) -> None:
    """Any floating argument that is not float64 raises, naming the function and the dtype."""
    x, w = torch.ones(1, 1, 3, 3, dtype=dtype), torch.ones(1, 1, 2, 2, dtype=dtype)
    with _tripwire.expect_trips() as trips, pytest.raises(_tripwire.HostKernelInTestProcess) as info:
        call(x, w)
    assert "inside the pytest process" in str(info.value) and len(trips) == 1
    assert str(dtype).removeprefix("torch.") in str(info.value)


def test_a_float64_convolution_runs() -> None:
    """float64, the trusted reference dtype, still reaches torch."""
    x, w = torch.ones(1, 1, 3, 3, dtype=torch.float64), torch.ones(1, 1, 2, 2, dtype=torch.float64)
    assert F.conv2d(x, w).sum().item() == 16.0
    assert torch.conv_transpose2d(x, w).shape == (1, 1, 4, 4)
    assert F.conv1d(x.flatten(2), w.flatten(2)).shape == (1, 1, 6) and F.conv3d(
        x[:, :, None], w[:, :, None]
    ).shape == (1, 1, 1, 2, 2)


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: torch.matmul(a, b),
        lambda a, b: torch.mm(a, b),
        lambda a, b: torch.bmm(a[None], b[None]),
        lambda a, b: torch.einsum("ij,jk->ik", a, b),
        lambda a, b: torch.einsum("ij,jk->ik", [a, b]),
        lambda a, b: a @ b,
        lambda a, b: a.matmul(b),
        lambda a, b: a.mm(b),
        lambda a, b: a[None].bmm(b[None]),
    ],
    ids=["matmul", "mm", "bmm", "einsum", "einsum-list", "@", "Tensor.matmul", "Tensor.mm", "Tensor.bmm"],
)
def test_a_half_matrix_product_trips(call, dtype: torch.dtype) -> None:
    """float16/bfloat16 GEMMs raise whichever way they are spelled."""
    a = torch.ones(2, 2, dtype=dtype)
    with _tripwire.expect_trips() as trips, pytest.raises(_tripwire.HostKernelInTestProcess):
        call(a, a)
    assert len(trips) == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_a_float32_or_float64_matrix_product_runs(dtype: torch.dtype) -> None:
    a = torch.ones(2, 2, dtype=dtype)
    for out in (
        a @ a,
        torch.matmul(a, a),
        torch.einsum("ij,jk->ik", a, a),
        a.mm(a),
        torch.bmm(a[None], a[None])[0],
    ):
        assert out.dtype == dtype and out.sum().item() == 8.0


def test_wrappers_keep_the_originals_signatures() -> None:
    """functools.wraps: names, docstrings, and inspect.signature where torch's function has one."""
    assert F.conv2d.__name__ == "conv2d" and F.conv2d.__doc__ == F.conv2d.__tripwire_original__.__doc__
    assert inspect.signature(torch.einsum) == inspect.signature(torch.einsum.__tripwire_original__)
    assert inspect.signature(torch.Tensor.__rmatmul__) == inspect.signature(
        torch.Tensor.__rmatmul__.__tripwire_original__
    )


def _child_view(queue) -> None:  # runs in a spawned interpreter
    import torch

    queue.put(
        {
            "conftest": "conftest" in sys.modules,
            # this module imports _tripwire, so the child has it, but nothing installs it there
            "tripwire": "_tripwire" in sys.modules and sys.modules["_tripwire"].installed(),
            "wrapped": any(
                hasattr(f, "__tripwire_original__")
                for f in (torch.nn.functional.conv2d, torch.conv2d, torch.matmul, torch.Tensor.__matmul__)
            ),
        }
    )


def test_spawned_workers_have_no_tripwire() -> None:
    """A multiprocessing spawn child, as the gate's runner starts, does not import conftest: no tripwire there."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child_view, args=(queue,))
    child.start()
    try:
        seen = queue.get(timeout=120)
    finally:
        child.join(30)
    assert seen == {"conftest": False, "tripwire": False, "wrapped": False}


# -- the worker process of tests/_isolation.py ------------------------------------------------------------
def _half_matmul(n: int) -> torch.Tensor:  # runs in the worker
    a = torch.ones(n, n, dtype=torch.bfloat16)
    return a @ a


def _die(signum: int) -> None:  # runs in the worker
    os.kill(os.getpid(), signum)


def _exit(status: int) -> None:  # runs in the worker
    os._exit(status)


def _raise() -> None:  # runs in the worker
    raise ValueError("from the worker")


def test_the_worker_runs_what_the_tripwire_forbids_here() -> None:
    """A half-precision GEMM runs in the worker (no tripwire there) and its result comes back."""
    out = _isolation.call(_half_matmul, 3)
    assert out.dtype == torch.bfloat16 and out.tolist() == [[3.0] * 3] * 3


def test_a_worker_killed_by_a_signal_skips_the_test_as_a_host_fact() -> None:
    """SIGSEGV in the worker is a visible skip naming the signal and the call, then a fresh worker serves."""
    with pytest.raises(
        pytest.skip.Exception, match=r"host torch crashed \(SIGSEGV\) in the probe: a host fact"
    ):
        _isolation.call(_die, int(signal.SIGSEGV), what="the probe")
    assert _isolation.call(_half_matmul, 2).shape == (2, 2)


def test_a_worker_that_exits_or_raises_fails() -> None:
    """An exit without a signal fails the test; an exception is raised again here with the worker's traceback."""
    with pytest.raises(pytest.fail.Exception, match="ended with exit status 3"):
        _isolation.call(_exit, 3)
    with pytest.raises(ValueError, match="from the worker") as raised:
        _isolation.call(_raise)
    assert any("raised in the worker process" in note for note in raised.value.__notes__)


def test_a_gate_worker_killed_by_a_signal_skips_the_test_as_a_host_fact() -> None:
    """_isolation.suite: a property whose gate worker died of SIGSEGV skips the test, naming signal and property."""
    with pytest.raises(
        pytest.skip.Exception, match=r"host torch crashed \(SIGSEGV\) in .*segfaults_on_groups"
    ):
        _isolation.suite(
            "conv2d.zoo.misbehaving:segfaults_on_groups", profile="quick", only=["groups-concat"]
        )
