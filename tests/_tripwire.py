"""A tripwire: no host torch convolution and no half-precision GEMM inside the pytest process.

The host's torch kernels cannot be trusted, or even assumed alive: on some CPUs
torch 2.13's bfloat16 convolution segfaults, its float32 oneDNN convolution
returns wrong values on a channel slice of a channels_last batch, and its
bfloat16 kernels and GEMMs flush subnormals to zero. A test of *our* code must
pass whatever the host's kernels do, and must never run them in the pytest
process, where a segfault takes the whole run down.

:func:`install` (called by the root ``conftest.py`` when it is imported) replaces

* the convolutions of every kind the gate verifies, ``conv1d``, ``conv2d``,
  ``conv3d`` and ``conv_transpose2d``, as ``torch.nn.functional.<op>`` and
  ``torch.<op>`` (``nn.Conv1d``/``2d``/``3d`` call the functional ones): they raise :class:`HostKernelInTestProcess`
  for a floating CPU tensor argument that is not float64 (the gate's trusted
  reference dtype);
* the matrix products ``torch.matmul``, ``torch.mm``, ``torch.bmm``,
  ``torch.einsum`` and the ``Tensor`` methods ``__matmul__``, ``__rmatmul__``,
  ``matmul``, ``mm``, ``bmm``: they raise for a float16 or bfloat16 CPU tensor
  argument (float32 and float64 products stay allowed).

Tensors on another device (CUDA) pass: the tripwire is about the host's CPU
kernels. Each wrapper keeps the original's name and docstring
(``functools.wraps``), so ``inspect.signature`` answers as it did before.

Only the process that installed the tripwire is affected: a wrapper compares
``os.getpid()`` with the installing process's id and calls the original in any
other process (a ``fork`` child inherits the wrappers but not the tripwire). The
gate's crash-isolating workers are forked from a ``multiprocessing`` fork server, a
fresh interpreter that imports neither ``conftest.py`` nor this module, so they get
torch's own functions (``tests/test_tripwire.py`` checks a spawned child and a fork).

A target run by the gate in-process is called in a worker thread whose
exceptions become verdicts, so a trip could be swallowed and read as "the
mutant was caught". Every trip is therefore also recorded (:func:`trips_since`)
and the root ``conftest.py`` fails the test that tripped, whatever it asserted.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = [
    "HostKernelInTestProcess",
    "expect_trips",
    "install",
    "installed",
    "trip_count",
    "trips_since",
    "uninstall",
]


class HostKernelInTestProcess(Exception):
    """A test ran a host torch convolution (not float64) or a half-precision GEMM inside the pytest process."""


_HALF = (torch.float16, torch.bfloat16)
_LOCK = threading.Lock()
_TRIPS: list[str] = []
_EXPECTING: list[list[str]] = []
_PID: int | None = None
#: (owner, attribute, had its own attribute, original) for every replaced entry point.
_SAVED: list[tuple[Any, str, bool, Any]] = []

_CONVS: tuple[tuple[Any, str, str], ...] = tuple(
    entry
    for op in ("conv1d", "conv2d", "conv3d", "conv_transpose2d")
    for entry in ((torch.nn.functional, op, f"F.{op}"), (torch, op, f"torch.{op}"))
)
_PRODUCTS: tuple[tuple[Any, str, str], ...] = (
    (torch, "matmul", "torch.matmul"),
    (torch, "mm", "torch.mm"),
    (torch, "bmm", "torch.bmm"),
    (torch, "einsum", "torch.einsum"),
    (torch.Tensor, "__matmul__", "Tensor.__matmul__ (a @ b)"),
    (torch.Tensor, "__rmatmul__", "Tensor.__rmatmul__ (a @ b)"),
    (torch.Tensor, "matmul", "Tensor.matmul"),
    (torch.Tensor, "mm", "Tensor.mm"),
    (torch.Tensor, "bmm", "Tensor.bmm"),
)


def _tensors(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[torch.Tensor]:
    """The tensor arguments, including those inside a list or tuple (einsum's operand list)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, list | tuple):
            yield from (v for v in value if isinstance(v, torch.Tensor))


def _forbidden_conv(t: torch.Tensor) -> bool:
    return t.is_floating_point() and t.dtype != torch.float64 and t.device.type == "cpu"


def _forbidden_product(t: torch.Tensor) -> bool:
    return t.dtype in _HALF and t.device.type == "cpu"


def _advice(kind: str) -> str:
    if kind == "conv":
        return (
            "compare with conv2d.gate.reference (float64, contiguous, cross-checked), use project code "
            "that computes half types in float32 (conv2d.functional.conv2d, conv2d.zoo.correct."
            "float64_then_cast), or run it in a crash-isolated worker (run_suite(Target.load(spec), "
            "isolate=True) or a subprocess)"
        )
    return (
        "compute in float32/float64 and cast, or run it in a crash-isolated worker "
        "(run_suite(Target.load(spec), isolate=True) or a subprocess)"
    )


def _wrap(original: Callable[..., Any], label: str, kind: str) -> Callable[..., Any]:
    forbidden = _forbidden_conv if kind == "conv" else _forbidden_product

    @functools.wraps(original)
    def tripwire(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() == _PID:
            bad = next((t for t in _tensors(args, kwargs) if forbidden(t)), None)
            if bad is not None:
                dtype = str(bad.dtype).removeprefix("torch.")
                what = "convolution" if kind == "conv" else "half-precision matrix product"
                message = (
                    f"HostKernelInTestProcess: a test ran torch's {label} on {dtype} inside the pytest "
                    f"process (the host's {what}: it may crash, flush subnormals or compute wrongly); "
                    f"{_advice(kind)}"
                )
                with _LOCK:
                    (_EXPECTING[-1] if _EXPECTING else _TRIPS).append(message)
                raise HostKernelInTestProcess(message)
        return original(*args, **kwargs)

    tripwire.__tripwire_original__ = original  # type: ignore[attr-defined]
    return tripwire


def install() -> None:
    """Replace the entry points in this process (idempotent)."""
    global _PID
    if _SAVED:
        return
    _PID = os.getpid()
    made: dict[
        tuple[int, str], Callable[..., Any]
    ] = {}  # one wrapper per original (F.conv2d is torch.conv2d)
    for entries, kind in ((_CONVS, "conv"), (_PRODUCTS, "product")):
        for owner, attr, label in entries:
            original = getattr(owner, attr)
            own = attr in vars(owner)
            key = (id(original), kind)
            if key not in made:
                made[key] = _wrap(original, label, kind)
            _SAVED.append((owner, attr, own, original))
            setattr(owner, attr, made[key])


def uninstall() -> None:
    """Put torch's own functions back."""
    global _PID
    while _SAVED:
        owner, attr, own, original = _SAVED.pop()
        if own:
            setattr(owner, attr, original)
        else:
            delattr(owner, attr)
    _PID = None


def installed() -> bool:
    """Whether this process has the tripwire on."""
    return bool(_SAVED) and os.getpid() == _PID


def trip_count() -> int:
    """How many trips have been recorded so far (outside :func:`expect_trips`)."""
    return len(_TRIPS)


def trips_since(count: int) -> list[str]:
    """The trips recorded after the first ``count``."""
    with _LOCK:
        return list(_TRIPS[count:])


@contextlib.contextmanager
def expect_trips() -> Iterator[list[str]]:
    """Collect the trips inside the block instead of recording them (for the tripwire's own tests)."""
    box: list[str] = []
    with _LOCK:
        _EXPECTING.append(box)
    try:
        yield box
    finally:
        with _LOCK:
            _EXPECTING.remove(box)
