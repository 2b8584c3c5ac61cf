"""Running properties in worker processes, so that whatever the target does ends as a verdict.

A target is someone else's code: it may segfault, abort on a corrupted heap,
call ``os._exit``, or spin forever inside a C function that never gives the
interpreter back. Each property therefore runs in a worker process started with
``multiprocessing``'s ``spawn`` method (never a fork of a process that already
initialised torch's threads or CUDA). The worker tells the parent, over a
``multiprocessing`` pipe, which case it is checking and when it enters and
leaves a call of the target. The parent waits on the pipes and the processes'
sentinels together (``multiprocessing.connection.wait``):

* a worker that dies gives ``crashed`` — "crashed with SIGSEGV (signal 11)" or
  "ended the process with exit status 0" — on the case it was checking, with the
  last lines it wrote to stderr (glibc's ``free(): invalid size``, say);
* a call that does not return within the time limit plus a grace period (the
  worker's own per-call time-out could not fire: native code holds the
  interpreter) gives ``timeout``, and the worker is killed;
* a property that outlives its budget and grace gives ``incomplete``.

A fresh worker then takes the next property, so every other property is still
run and reported. A worker is reused across properties while it stays healthy:
torch is imported once per worker, not once per property. What the target
prints goes to a file per worker, never to the gate's terminal.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from conv2d.gate.case import ConvCase
from conv2d.gate.engine import PROFILES, Failure, PropertyResult, repro_snippet
from conv2d.gate.properties import PROPERTIES
from conv2d.gate.target import Target, bounded

__all__ = ["GRACE", "run_isolated"]

#: Seconds past the per-call time limit before the parent kills a worker stuck in native code
#: (at least this, or a third of the time limit): time for the worker's own time-out to fire first.
GRACE = 2.0
_STDERR_TAIL = 1500


# -- the worker side --------------------------------------------------------------------------------
def _worker(conn: Any, spec: str, kind: str, timeout: float, log: str, capabilities: Any) -> None:
    """Load the target, then run the jobs the parent sends until it sends None."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("CONV2D_WORKER_THREADS", "1"))))
    from conv2d.gate.engine import run_property

    target = Target.load(spec, kind=kind, timeout=timeout)  # type: ignore[arg-type]
    if capabilities is not None:
        target.capabilities = capabilities
    target.on_call = lambda what: conn.send(("call", what) if what is not None else ("return",))
    conn.send(("ready",))
    while True:
        job = conn.recv()
        if job is None:
            return
        name, device, profile, seed = job
        result = run_property(
            PROPERTIES[name],
            target,
            device=device,
            profile=profile,
            seed_value=seed,
            on_case=lambda case: conn.send(("case", case)),
        )
        conn.send(("result", result))
        if target.hung:  # a call still runs in a daemon thread: this worker is spent
            return


# -- the parent side --------------------------------------------------------------------------------
@dataclasses.dataclass
class _Worker:
    process: Any
    conn: Any
    log: str
    job: tuple[str, str, str, int] | None = None
    started: float = 0.0
    case: ConvCase | None = None
    call: str | None = None
    call_started: float = 0.0
    ready: bool = False


def _signal_name(code: int) -> str:
    try:
        return f"{signal.Signals(-code).name} (signal {-code})"
    except ValueError:
        return f"signal {-code}"


def _stderr_tail(log: str) -> str:
    try:
        data = Path(log).read_bytes()
    except OSError:
        return ""
    text = data[-_STDERR_TAIL:].decode("utf-8", "replace").strip()
    if not text:
        return ""
    cut = f" (last {_STDERR_TAIL} of {len(data)} bytes)" if len(data) > _STDERR_TAIL else ""
    return f"\nwhat the target's process wrote to stderr{cut}:\n{text}"


class _Runner:
    def __init__(self, target: Target, timeout: float, workers: int) -> None:
        assert target.spec is not None
        self.target = target
        self.timeout = timeout
        self.size = max(1, workers)
        self.context = multiprocessing.get_context("spawn")
        self.logs = tempfile.mkdtemp(prefix="conv2d-workers-")
        self.pool: list[_Worker] = []
        self.count = 0

    def _start(self) -> _Worker:
        parent, child = self.context.Pipe()
        self.count += 1
        log = os.path.join(self.logs, f"worker-{self.count}.log")
        process = self.context.Process(
            target=_worker,
            args=(child, self.target.spec, self.target.kind, self.timeout, log, self.target.capabilities),
            daemon=True,
            name=f"conv2d-worker-{self.count}",
        )
        process.start()
        child.close()
        worker = _Worker(process, parent, log)
        self.pool.append(worker)
        return worker

    def _retire(self, worker: _Worker, *, kill: bool) -> None:
        if kill and worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        worker.conn.close()
        self.pool.remove(worker)

    def _verdict(self, worker: _Worker, status: str, what: str) -> PropertyResult:
        assert worker.job is not None
        name, device, _, _ = worker.job
        prop = PROPERTIES[name]
        seconds = time.perf_counter() - worker.started
        failure = None
        note = what
        if worker.case is not None:
            case = worker.case
            note = f"{what} on case {case.describe()}"
            failure = Failure(
                case=case,
                message=bounded(note + _stderr_tail(worker.log)),
                repro=repro_snippet(self.target, prop, case),
                blob=None,
                cause=what,
            )
        return PropertyResult(name, prop.law, device, status, seconds=seconds, note=note, failure=failure)  # type: ignore[arg-type]

    def run(
        self, jobs: Sequence[tuple[str, str, str, int]], on_result: Callable[[PropertyResult], bool]
    ) -> None:
        """Run every job; ``on_result`` returns True to stop early (fail-fast)."""
        pending = list(jobs)
        stop = False
        try:
            while (pending and not stop) or any(w.job is not None for w in self.pool):
                while not stop and pending and len(self.pool) < min(self.size, len(pending) + self._busy()):
                    self._start()
                for worker in self.pool:
                    if worker.ready and worker.job is None and pending and not stop:
                        job = pending.pop(0)
                        worker.job, worker.started, worker.case, worker.call = (
                            job,
                            time.perf_counter(),
                            None,
                            None,
                        )
                        worker.conn.send(job)
                idle = [w for w in self.pool if w.job is None and w.ready and (stop or not pending)]
                for worker in idle:
                    worker.conn.send(None)
                    self._retire(worker, kill=False)
                if not self.pool:
                    break
                waitables = [w.conn for w in self.pool] + [w.process.sentinel for w in self.pool]
                multiprocessing.connection.wait(waitables, timeout=0.5)
                for worker in list(self.pool):
                    result = self._poll(worker)
                    if result is not None and on_result(result):
                        stop = True
        finally:
            for worker in list(self.pool):
                if worker.process.is_alive():
                    worker.process.kill()
                self._retire(worker, kill=True)

    def _busy(self) -> int:
        return sum(1 for w in self.pool if w.job is not None)

    def _poll(self, worker: _Worker) -> PropertyResult | None:
        """Read what the worker said; return a finished job's result (or its crash/timeout verdict)."""
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                kind = message[0]
                if kind == "ready":
                    worker.ready = True
                elif kind == "case":
                    worker.case = message[1]
                elif kind == "call":
                    worker.call, worker.call_started = message[1], time.perf_counter()
                elif kind == "return":
                    worker.call = None
                elif kind == "result":
                    result: PropertyResult = message[1]
                    worker.job = None
                    if result.status in ("timeout", "not run"):  # a call still runs inside: replace it
                        self._retire(worker, kill=True)
                    return result
        except (EOFError, OSError):
            pass
        now = time.perf_counter()
        if not worker.process.is_alive():
            code = worker.process.exitcode
            if worker.job is None:
                self._retire(worker, kill=False)
                if not worker.ready:
                    raise RuntimeError(
                        f"a worker process could not start (exit status {code}){_stderr_tail(worker.log)}"
                    )
                return None
            during = f" during {worker.call}" if worker.call else ""
            what = (
                f"crashed with {_signal_name(code)}{during}"
                if code is not None and code < 0
                else f"ended the process with exit status {code}{during}"
            )
            verdict = self._verdict(worker, "crashed", what)
            self._retire(worker, kill=False)
            return verdict
        grace = max(GRACE, self.timeout / 3)
        if (
            worker.job is not None
            and worker.call is not None
            and now - worker.call_started > self.timeout + grace
        ):
            what = (
                f"timeout: {worker.call} did not return within {self.timeout:g} s "
                "(and could not be interrupted: native code holds the interpreter)"
            )
            verdict = self._verdict(worker, "timeout", what)
            self._retire(worker, kill=True)
            return verdict
        if worker.job is not None:
            profile = PROFILES[worker.job[2]]
            limit = profile.budget + profile.shrink_budget + self.timeout + 2 * grace
            if now - worker.started > limit:
                verdict = self._verdict(worker, "incomplete", f"the property ran past its {limit:g} s guard")
                self._retire(worker, kill=True)
                return verdict
        return None


def run_isolated(
    target: Target,
    jobs: Sequence[tuple[str, str, str, int]],
    *,
    workers: int = 1,
    on_result: Callable[[PropertyResult], bool],
) -> None:
    """Run ``(property, device, profile, seed)`` jobs in worker processes; report each result to ``on_result``.

    ``target`` must have been loaded from a spec (``Target.load``): each worker loads it again.
    """
    if target.spec is None:
        raise ValueError(
            f"target {target.name!r} was not loaded from a 'module:function' spec, so worker processes "
            "cannot load it; use Target.load(spec) or run in-process (isolate=False)"
        )
    _Runner(target, target.timeout, workers).run(jobs, on_result)
