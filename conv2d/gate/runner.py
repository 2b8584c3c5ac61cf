"""Running properties in worker processes, so that whatever the target does ends as a verdict.

A target is someone else's code: it may segfault, abort on a corrupted heap,
call ``os._exit``, or spin forever inside a C function that never gives the
interpreter back. Each property therefore runs in a worker process. Workers are
forked by ``multiprocessing``'s fork server: a fresh interpreter that has
imported torch and the gate (this module) and done nothing else, so a worker is
never a fork of a process that already initialised torch's threads or CUDA, nor
of the gate's own process, yet it starts in tens of milliseconds instead of
importing torch again (seconds). A worker checks that CUDA was not initialised
before the fork, and takes the parent's environment as it is when the worker
starts. Where there is no fork server (Windows), workers are ``spawn``
children. The worker tells the parent, over a ``multiprocessing`` pipe, which
case it is checking and when it enters and leaves a call of the target. The
parent waits on the pipes and the processes' sentinels together
(``multiprocessing.connection.wait``):

* a worker that dies gives ``crashed`` — "crashed with SIGSEGV (signal 11)" or
  "ended the process with exit status 0" — on the case it was checking, with the
  last lines it wrote to stderr (glibc's ``free(): invalid size``, say);
* a call that does not return within the time limit plus a grace period (the
  worker's own per-call time-out could not fire: native code holds the
  interpreter) gives ``timeout``, and the worker is killed;
* a property that outlives its budget and grace gives ``incomplete``.

A fresh worker then takes the next property, so every other property is still
run and reported. A worker is reused across properties while it stays healthy:
the target is loaded once per worker, not once per property. What the target
prints goes to a file per worker, never to the gate's terminal.

One hang, paid for once. A target that hangs on some region (every strided
case, say) would otherwise cost the full call limit, and a fresh worker, in
every property that reaches the region. So once a call of the run has not
returned within the user's limit T, each property started after it gives its
calls a shorter limit S, never more than T: the largest of :data:`SHORT_FLOOR`,
:data:`SHORT_MULTIPLE` x the most CPU time a call of the run that returned took,
and :data:`WAIT_MULTIPLE` x the longest such call on the clock. CPU time is what
a call costs whatever else the machine runs: on two shared cores, a double
backward of at most 0.08 s of CPU took 0.67 s on the clock, and ten times that,
paid by every later property, is what S is for avoiding. The clock term keeps
room for a target whose calls wait rather than compute (a device, a lock, a
subprocess). A later call past S is reported ``timeout`` with the same cause as
the first (the report lists the properties under one cause), and its message
says so — "did not return within the S s time limit ...; an earlier call
(property P) hung past the full T s limit on case ..., so later calls are given
S s" — and how to give it the full T: run that property alone. Once a worker has
been lost, or a call runs past S, one spare worker is kept started ahead, so
that replacing a spent worker costs nothing on the critical path (not even
loading the target); a run in which nothing misbehaves never starts one.

A failure is checked once more in a fresh worker (:mod:`conv2d.gate.recheck`).

What the verdict depends on. The cases are the seed's: which cases a property
checks, and so on which case it times out, does not depend on time. Whether a
call times out does, as with any time limit: a call slower than T on this
machine, under this load, is a ``timeout``. After a first time-out, a call
slower than S is one too, and S is measured from this run's own calls, so a
target that is merely slow on some cases (ten times slower than on every case
before them) can be reported ``timeout`` on them where a run at the full T
would have waited them out; the message names S, T and the case, and
``--property NAME`` alone replays the property at the full T. With ``-n`` above
1, which properties start before the first time-out (and so keep the full T)
depends on timing too. A target that hangs gets the same verdict at S as at T:
the same status, on the same case, after the same number of cases that held.

Messages (:mod:`conv2d.gate.messages`). The worker sends the parent
:class:`~conv2d.gate.messages.Ready`, then for each case
:class:`~conv2d.gate.messages.CaseStarted`, around each call of the target
:class:`~conv2d.gate.messages.CallEntered` and
:class:`~conv2d.gate.messages.CallReturned` (with the call's timing, or None for a
call that ended because a call nested in it timed out),
:class:`~conv2d.gate.messages.Regions` (sent before a call of the host's convolution
that lies in the regions of known torch bugs, :mod:`conv2d.gate.hostcalls`, so that a
crash in it is attributed) and :class:`~conv2d.gate.messages.Result`.
:meth:`_Runner._receive` hands each to the method ``_on_<kind>``, so a new kind is
one class and one method. The parent sends an :class:`~conv2d.gate.messages.Assign`
for each property (its :class:`~conv2d.gate.messages.Job` and the per-call time
limit for it) and a :class:`~conv2d.gate.messages.Stop` to stop.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from conv2d.gate import recheck
from conv2d.gate.case import ConvCase
from conv2d.gate.engine import PROFILES, Failure, PropertyResult, repro_snippet, run_property
from conv2d.gate.laws import PROPERTIES
from conv2d.gate.messages import (
    Assign,
    CallEntered,
    CallReturned,
    CaseStarted,
    Job,
    Ready,
    Recheck,
    Rechecked,
    Regions,
    Result,
    Stop,
    WorkerMessage,
)
from conv2d.gate.target import Target, bounded

__all__ = ["GRACE", "SHORT_FLOOR", "SHORT_MULTIPLE", "WAIT_MULTIPLE", "Job", "run_isolated"]

#: Seconds past the per-call time limit before the parent kills a worker stuck in native code
#: (at least this, or a third of the time limit): time for the worker's own time-out to fire first.
GRACE = 2.0
#: After a first time-out, later calls get max(SHORT_FLOOR, SHORT_MULTIPLE x the most CPU seconds a
#: call that returned took, WAIT_MULTIPLE x the most seconds such a call took), never more than the
#: user's limit.
SHORT_FLOOR = 2.0
SHORT_MULTIPLE = 10.0
WAIT_MULTIPLE = 3.0
_STDERR_TAIL = 1500


# -- the worker side --------------------------------------------------------------------------------
def _warm_up(torch: Any) -> None:
    """Pay torch's one-off costs of a process before the target's first call, so that they are not timed as its.

    The first backward of a process starts autograd's engine: 0.7 s on an idle machine, over a second on a
    loaded machine, on a 1x1 case. Timed as the target's call, it would set the run's slowest
    call, and so the shorter limit after a time-out, by a cost no later call pays. The
    convolution is ATen's own, never an entry point that a target or tracer may have replaced.
    """
    conv = torch.ops.aten.convolution.default
    for dtype in (torch.float32, torch.float64):
        x = torch.ones(1, 1, 3, 3, dtype=dtype, requires_grad=True)
        w = torch.ones(1, 1, 2, 2, dtype=dtype, requires_grad=True)
        y = conv(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
        gx, gw = torch.autograd.grad(y, (x, w), torch.ones_like(y), create_graph=True)
        torch.autograd.grad(gx.sum() + gw.sum(), (x, w), allow_unused=True)


def _context() -> Any:
    """Where workers come from: the fork server, with this module (so torch and the gate) imported once."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # no effect once the fork server runs: it has it already
    return context


def _worker(
    conn: Any, spec: str, kind: str, timeout: float, log: str, capabilities: Any, environ: dict[str, str]
) -> None:
    """Load the target, then run the jobs the parent assigns until it sends :class:`Stop`."""
    os.environ.clear()  # the parent's environment now, not the fork server's when it started
    os.environ.update(environ)
    _redirect_output(log)
    import torch

    if getattr(torch.cuda, "_is_in_bad_fork", lambda: False)():
        raise RuntimeError("the fork server initialised CUDA before forking this worker: it cannot use CUDA")
    torch.set_num_threads(max(1, int(os.environ.get("CONV2D_WORKER_THREADS", "1"))))
    _warm_up(torch)
    from conv2d import hostile
    from conv2d.gate import hostcalls

    if hostile.active():  # the parent's environment asks for it, whatever the fork server's was
        hostile.install()
    send = _sender(conn)
    # before the target is loaded: the host's convolution is traced, its known-bug regions sent ahead of each call
    hostcalls.install(on_regions=lambda names: send(Regions(tuple(names))))
    target = Target.load(spec, kind=kind, timeout=timeout)  # type: ignore[arg-type]
    if capabilities is not None:
        target.capabilities = capabilities
    target.on_call = _call_reporter(target, send)
    send(Ready())
    _serve(conn, target, send)


def _redirect_output(log: str) -> None:
    """Send what this process writes, from Python or from native code, to the file ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _sender(conn: Any) -> Callable[[WorkerMessage], None]:
    """Send messages to the parent one at a time: calls may come from several threads (the concurrency law)."""
    lock = threading.Lock()

    def send(message: WorkerMessage) -> None:
        with lock:
            conn.send(message)

    return send


def _call_reporter(target: Target, send: Callable[[WorkerMessage], None]) -> Callable[[str | None], None]:
    """The target's ``on_call`` hook: tell the parent when a call is entered and when it returns, and its timing."""
    started = threading.local()  # a call is entered and left in the same thread

    def on_call(what: str | None) -> None:
        thread = threading.get_ident()
        if what is not None:
            # the whole worker's CPU time: its other threads wait while a call runs
            started.at = (time.perf_counter(), time.process_time())
            send(CallEntered(what, thread))
        else:
            wall, cpu = started.at
            # untimed: a call that ended because a call nested in it timed out did not return on its own
            timing = None if target.hung else (time.perf_counter() - wall, time.process_time() - cpu)
            send(CallReturned(timing, thread))

    return on_call


def _serve(conn: Any, target: Target, send: Callable[[WorkerMessage], None]) -> None:
    """Run each job the parent assigns and send its result, until told to stop or the worker is spent."""
    while True:
        order: Assign | Recheck | Stop = conn.recv()
        if isinstance(order, Stop):
            return
        if isinstance(order, Recheck):
            target.timeout = order.limit
            send(Rechecked(recheck.outcome(order.property, target, order.case)))
            return  # one check per fresh worker: the next would not be fresh
        job = order.job
        target.timeout = order.limit
        result = run_property(
            PROPERTIES[job.property],
            target,
            device=job.device,
            profile=job.profile,
            seed_value=job.seed,
            on_case=lambda case: send(CaseStarted(case)),
        )
        send(Result(result))
        if target.hung:  # a call still runs in a daemon thread: this worker is spent
            return


# -- the parent side --------------------------------------------------------------------------------
@dataclasses.dataclass
class _Worker:
    process: Any
    conn: Any
    log: str
    job: Job | None = None
    limit: float = 0.0  # the per-call time limit the job was given
    measured: tuple[float, float] = (0.0, 0.0)  # the run's costliest and slowest call when it was given
    started: float = 0.0
    case: ConvCase | None = None
    calls: dict[int, tuple[str, float]] = dataclasses.field(default_factory=dict)  # thread: (what, since)
    regions: set[str] = dataclasses.field(
        default_factory=set
    )  # known-bug regions the case's host calls touched
    ready: bool = False
    rechecked: str | None = None  # what a Recheck found, once the worker answered

    @property
    def call(self) -> str | None:
        """The call entered last and not left yet (what a crash happened during)."""
        return next(reversed(self.calls.values()))[0] if self.calls else None


@dataclasses.dataclass(frozen=True)
class _Hang:
    """The run's first call that did not return within the full limit."""

    property: str
    case: str
    limit: float
    cause: str


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
        self.context = _context()
        self.logs = tempfile.mkdtemp(prefix="conv2d-workers-")
        self.pool: list[_Worker] = []
        self.count = 0
        self.slowest = 0.0  # the longest call of the run that returned, on the worker's clock
        self.costliest = 0.0  # the most CPU seconds a call of the run that returned took
        self.hang: _Hang | None = None  # the first call that hung past the full limit
        self.spare = False  # keep one worker started ahead (once workers have been seen to get spent)
        self.rechecked: set[str] = set()  # the causes of failure already checked again in a fresh worker

    # -- limits ----------------------------------------------------------------------------------
    def _short_limit(self) -> float:
        return min(
            self.timeout,
            max(SHORT_FLOOR, SHORT_MULTIPLE * self.costliest, WAIT_MULTIPLE * self.slowest),
        )

    def _limit(self) -> float:
        """The per-call time limit a job dispatched now is given."""
        return self.timeout if self.hang is None else self._short_limit()

    # -- workers ---------------------------------------------------------------------------------
    def _start(self) -> _Worker:
        parent, child = self.context.Pipe()
        self.count += 1
        log = os.path.join(self.logs, f"worker-{self.count}.log")
        process = self.context.Process(
            target=_worker,
            args=(
                child,
                self.target.spec,
                self.target.kind,
                self.timeout,
                log,
                self.target.capabilities,
                dict(os.environ),
            ),
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

    def _lost(self, worker: _Worker) -> None:
        """Kill a worker that cannot take another job; keep a spare started ahead from now on."""
        self.spare = True
        self._retire(worker, kill=True)

    # -- verdicts --------------------------------------------------------------------------------
    def _verdict(self, worker: _Worker, status: str, what: str) -> PropertyResult:
        assert worker.job is not None
        name, device = worker.job.property, worker.job.device
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
                regions=tuple(sorted(worker.regions)),
            )
        return PropertyResult(name, prop.law, device, status, seconds=seconds, note=note, failure=failure)  # type: ignore[arg-type]

    def _timed_out(self, worker: _Worker, result: PropertyResult) -> PropertyResult:
        """Record the run's first time-out; give a later one the first one's cause and say which limit it had."""
        failure = result.failure
        if self.hang is None:
            if worker.limit >= self.timeout:
                case = failure.case.describe() if failure is not None else "(no case recorded)"
                self.hang = _Hang(
                    result.property, case, self.timeout, (failure and failure.cause) or "timeout"
                )
            return result
        if failure is not None:
            failure = dataclasses.replace(failure, cause=self.hang.cause)
        if worker.limit >= self.timeout:  # it was given the full limit (it started before the first hang)
            return dataclasses.replace(result, failure=failure)
        why = (
            f"; an earlier call (property {self.hang.property}) hung past the full {self.hang.limit:g} s "
            f"limit on case {self.hang.case}, so later calls are given {worker.limit:g} s (the largest of "
            f"{SHORT_FLOOR:g} s, {SHORT_MULTIPLE:g} x the most CPU time a call that returned took and "
            f"{WAIT_MULTIPLE:g} x the longest such call, when this property started: "
            f"{worker.measured[0]:.2g} s CPU, {worker.measured[1]:.2g} s); run --property "
            f"{result.property} alone to give its calls the full {self.timeout:g} s"
        )
        if failure is not None:
            first, newline, rest = failure.message.partition("\n")  # before any stderr the worker left
            failure = dataclasses.replace(failure, message=bounded(f"{first}{why}{newline}{rest}"))
        return dataclasses.replace(result, note=f"{result.note}{why}", failure=failure)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job], on_result: Callable[[PropertyResult], bool]) -> None:
        """Run every job; ``on_result`` returns True to stop early (fail-fast)."""
        pending = list(jobs)
        stop = False
        try:
            while (pending and not stop) or any(w.job is not None for w in self.pool):
                wanted = min(self.size + int(self.spare), len(pending) + self._busy())
                while not stop and pending and len(self.pool) < wanted:
                    self._start()
                free = [w for w in self.pool if w.ready and w.job is None]
                for worker in free[
                    : max(0, self.size - self._busy())
                ]:  # a spare waits for a lost worker's place
                    if pending and not stop:
                        self._dispatch(worker, pending.pop(0))
                idle = [w for w in self.pool if w.job is None and w.ready and (stop or not pending)]
                for worker in idle:
                    worker.conn.send(Stop())
                    self._retire(worker, kill=False)
                if not self.pool:
                    break
                waitables = [w.conn for w in self.pool] + [w.process.sentinel for w in self.pool]
                multiprocessing.connection.wait(waitables, timeout=0.5)
                for worker in list(self.pool):
                    result = self._poll(worker)
                    if result is not None and on_result(self._confirmed(result)):
                        stop = True
        finally:
            for worker in list(self.pool):
                if worker.process.is_alive():
                    worker.process.kill()
                self._retire(worker, kill=True)
            shutil.rmtree(self.logs, ignore_errors=True)  # the workers' stderr logs, read by now

    # -- a failure checked again in a fresh process -----------------------------------------------
    def _confirmed(self, result: PropertyResult) -> PropertyResult:
        """``result``, its failure marked when its case holds in a fresh worker (once per cause)."""
        cause = recheck.cause(result)
        if cause is None or cause in self.rechecked:
            return result
        self.rechecked.add(cause)
        assert result.failure is not None
        held = self._recheck(result.property, result.failure.case) == "holds"
        return recheck.marked(result) if held else result

    def _recheck(self, name: str, case: ConvCase) -> str | None:
        """Check ``name`` once on ``case`` in a worker started for it: its outcome, or None when it gave none."""
        worker, limit, sent = self._start(), self._limit(), False
        deadline = time.perf_counter() + recheck.START + limit + max(GRACE, limit / 3)
        try:  # the worker leaves once it has answered: its pipe may end right after the answer
            while worker.rechecked is None and time.perf_counter() < deadline:
                multiprocessing.connection.wait([worker.conn, worker.process.sentinel], timeout=0.5)
                while worker.rechecked is None and worker.conn.poll():
                    self._receive(worker, worker.conn.recv())
                if worker.ready and not sent:
                    worker.conn.send(Recheck(name, case, limit))
                    sent = True
                elif not worker.process.is_alive():
                    break
        except (EOFError, OSError):
            pass
        finally:
            self._retire(worker, kill=True)
        return worker.rechecked

    def _dispatch(self, worker: _Worker, job: Job) -> None:
        worker.job, worker.limit, worker.started = job, self._limit(), time.perf_counter()
        worker.measured = (self.costliest, self.slowest)
        worker.case, worker.calls = None, {}
        worker.conn.send(Assign(job, worker.limit))

    def _busy(self) -> int:
        return sum(1 for w in self.pool if w.job is not None)

    # -- what the workers say --------------------------------------------------------------------
    def _receive(self, worker: _Worker, message: WorkerMessage) -> PropertyResult | None:
        """Dispatch a worker's message to ``_on_<kind>``; a finished job's result comes back."""
        kind = getattr(message, "kind", None)
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            raise RuntimeError(f"a worker sent a message of unknown kind {kind!r}")
        result: PropertyResult | None = handler(worker, message)
        return result

    def _on_ready(self, worker: _Worker, message: Ready) -> None:
        worker.ready = True

    def _on_case(self, worker: _Worker, message: CaseStarted) -> None:
        worker.case = message.case
        worker.regions = set()

    def _on_regions(self, worker: _Worker, message: Regions) -> None:
        worker.regions.update(message.names)

    def _on_call(self, worker: _Worker, message: CallEntered) -> None:
        worker.calls[message.thread] = (message.what, time.perf_counter())

    def _on_return(self, worker: _Worker, message: CallReturned) -> None:
        worker.calls.pop(message.thread, None)
        timing = message.timing
        if timing is not None:
            self.slowest, self.costliest = max(self.slowest, timing[0]), max(self.costliest, timing[1])

    def _on_rechecked(self, worker: _Worker, message: Rechecked) -> None:
        worker.rechecked = message.outcome

    def _on_result(self, worker: _Worker, message: Result) -> PropertyResult:
        result = message.result
        worker.job = None
        if result.status in ("timeout", "not run"):  # a call still runs inside: replace it
            self._lost(worker)
        if result.status == "timeout":
            result = self._timed_out(worker, result)
        return result

    def _poll(self, worker: _Worker) -> PropertyResult | None:
        """Read what the worker said; return a finished job's result (or its crash/timeout verdict)."""
        try:
            while worker.conn.poll():
                result = self._receive(worker, worker.conn.recv())
                if result is not None:
                    return result
        except (EOFError, OSError):
            pass
        now = time.perf_counter()
        if not worker.process.is_alive():
            code = worker.process.exitcode
            if worker.job is None:  # it left on its own after a result (a call of it still ran): spent
                self.spare = self.spare or worker.ready
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
            self._lost(worker)
            return verdict
        if worker.job is None:
            return None
        oldest = min(worker.calls.values(), key=lambda call: call[1], default=None)
        if oldest is not None and now - oldest[1] > self._short_limit():
            self.spare = True  # a call already runs long: have its replacement ready if it hangs
        grace = max(GRACE, worker.limit / 3)
        if oldest is not None and now - oldest[1] > worker.limit + grace:
            what = (
                f"timeout: {oldest[0]} did not return within {worker.limit:g} s "
                "(and could not be interrupted: native code holds the interpreter)"
            )
            verdict = self._timed_out(worker, self._verdict(worker, "timeout", what))
            self._lost(worker)
            return verdict
        profile = PROFILES[worker.job.profile]
        limit = profile.budget + profile.shrink_budget + self.timeout + 2 * max(GRACE, self.timeout / 3)
        if now - worker.started > limit:
            verdict = self._verdict(worker, "incomplete", f"the property ran past its {limit:g} s guard")
            self._lost(worker)
            return verdict
        return None


def run_isolated(
    target: Target,
    jobs: Sequence[Job],
    *,
    workers: int = 1,
    on_result: Callable[[PropertyResult], bool],
) -> None:
    """Run the jobs in worker processes; report each result to ``on_result``.

    ``target`` must have been loaded from a spec (``Target.load``): each worker loads it again.
    """
    if target.spec is None:
        raise ValueError(
            f"target {target.name!r} was not loaded from a 'module:function' spec, so worker processes "
            "cannot load it; use Target.load(spec) or run in-process (isolate=False)"
        )
    _Runner(target, target.timeout, workers).run(jobs, on_result)
