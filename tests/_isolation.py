"""Running code that calls the host's torch kernels out of the pytest process.

Some tests' subject calls torch's own convolution or its half-precision GEMMs:
the anchor benchmark (which compares with ``F.conv2d``), zoo entries built on
``F.conv2d`` or on float16/bfloat16 matrix products. The tripwire
(``tests/_tripwire.py``) forbids those inside the pytest process, because the
host's kernels may crash it. :func:`call` runs a module-level function in a
worker process instead: a fresh interpreter started with ``multiprocessing``'s
*spawn* method (as the gate's own workers are), which imports neither
``conftest.py`` nor the tripwire's installation, and so runs torch's own kernels.

The worker is kept and reused (torch is imported once per pytest process, not
per call). The function, its arguments and its result travel by ``pickle``
(tensors keep their values, dtypes, shapes and strides); an exception it
raises is raised again here, with the worker's traceback as a note.

A worker killed by a signal (the host's torch segfaulting, aborting on a
corrupted heap) is a fact about the host, not a failure of the project: the
test is *skipped*, visibly, with the signal and what was running in the reason.
A worker that exits otherwise, or does not answer within the time limit, fails
the test.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import re
import signal
import traceback
from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["WorkerError", "call", "host_crash_reason", "suite"]

#: Seconds one call may take before the worker is killed and the test fails.
TIMEOUT = 600.0


class WorkerError(Exception):
    """An exception in the worker that could not be sent back as itself."""


def host_crash_reason(code: int, what: str) -> str:
    """The skip reason for a process that the host's torch killed with signal ``-code``."""
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"host torch crashed ({name}) in {what}: a host fact, not a project failure"


def _serve(conn: Any) -> None:  # the worker's main loop (runs in the spawned interpreter)
    import torch

    torch.set_num_threads(1)
    while True:
        try:
            job = conn.recv_bytes()
        except EOFError:
            return
        try:
            fn, args, kwargs = pickle.loads(job)
            reply = ("ok", pickle.dumps(fn(*args, **kwargs)))
        except BaseException as exc:  # everything goes back to the test
            text = traceback.format_exc()
            try:
                reply = ("error", pickle.dumps(exc), text)
            except Exception:
                reply = ("error", pickle.dumps(WorkerError(f"{type(exc).__name__}: {exc}")), text)
        conn.send_bytes(pickle.dumps(reply))


class _Worker:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True, name="tests-host-kernels")
        self.process.start()
        child.close()
        self.pid = os.getpid()

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)
        self.conn.close()


_WORKER: _Worker | None = None


def _worker() -> _Worker:
    global _WORKER
    if _WORKER is None or _WORKER.pid != os.getpid() or not _WORKER.process.is_alive():
        _WORKER = _Worker()
    return _WORKER


def call(
    fn: Callable[..., Any], *args: Any, what: str | None = None, timeout: float = TIMEOUT, **kwargs: Any
) -> Any:
    """``fn(*args, **kwargs)`` run in the worker process; its result, or its exception raised here.

    ``fn`` must be picklable by reference (a module-level function). ``what`` names the
    call in a skip or failure message (default: the function's name); ``timeout`` is in
    seconds. Neither is passed on to ``fn``.
    """
    global _WORKER
    what = what or f"{fn.__module__}.{fn.__qualname__}"
    worker = _worker()
    worker.conn.send_bytes(pickle.dumps((fn, args, kwargs)))
    ready = multiprocessing.connection.wait([worker.conn, worker.process.sentinel], timeout)
    if worker.conn in ready:
        try:
            reply = pickle.loads(worker.conn.recv_bytes())
        except EOFError:
            reply = None
    else:
        reply = None
    if reply is None:
        if not ready:
            worker.stop()
            _WORKER = None
            pytest.fail(f"{what} did not return within {timeout:g} s in the worker process (killed)")
        worker.process.join(10)
        code = worker.process.exitcode
        worker.stop()
        _WORKER = None
        if code is not None and code < 0:
            pytest.skip(host_crash_reason(code, what))
        pytest.fail(f"the worker process running {what} ended with exit status {code}")
    if reply[0] == "ok":
        return pickle.loads(reply[1])
    try:
        exc = pickle.loads(reply[1])
    except Exception:
        exc = WorkerError(reply[2].strip().splitlines()[-1])
    exc.add_note(f"raised in the worker process running {what}:\n{reply[2]}")
    raise exc


#: How the gate's runner reports a worker killed by a signal: "crashed with SIGSEGV (signal 11) ...".
_SIGNAL = re.compile(r"crashed with [^\n]*?signal (\d+)")


def suite(spec: str, *, kind: str = "conv2d", **kwargs: Any) -> Any:
    """``run_suite`` of the target ``spec`` in the gate's crash-isolating worker processes.

    A property whose worker the host's torch killed with a signal skips the test (a host
    fact); every other verdict, ``crashed`` without a signal included, is the report's.
    """
    from conv2d.gate import Target, run_suite

    report = run_suite(Target.load(spec, kind=kind), isolate=True, **kwargs)  # type: ignore[arg-type]
    for result in report.results:
        found = _SIGNAL.search(result.note or "") if result.status == "crashed" else None
        if found is not None:
            pytest.skip(host_crash_reason(-int(found.group(1)), f"{spec}, property {result.property}"))
    return report
