"""A whole verification run: every applicable property on every requested device."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from conv2d.gate import hostcalls, upstream
from conv2d.gate.engine import FAILING, PROFILES, PropertyResult, properties_for, run_property
from conv2d.gate.known import KnownList, KnownPolicy
from conv2d.gate.laws import PROPERTIES
from conv2d.gate.messages import Job
from conv2d.gate.target import Target
from conv2d.gate.vocabulary import DEVICES

__all__ = ["SuiteReport", "run_suite", "with_host_facts"]


@dataclasses.dataclass
class SuiteReport:
    """Everything a verdict says: target, settings, environment and one result per property and device.

    ``accept_incomplete`` lets ``incomplete`` results (a time guard reached) pass the run.
    """

    target: str
    kind: str
    capabilities: dict
    profile: str
    seed: int
    devices: list[str]
    environment: dict
    results: list[PropertyResult]
    seconds: float
    warnings: list[str] = dataclasses.field(default_factory=list)
    isolated: bool = False
    accept_incomplete: bool = False

    @property
    def failed(self) -> list[PropertyResult]:
        accepted = {"incomplete"} if self.accept_incomplete else set()
        return [r for r in self.results if r.status in FAILING - accepted]

    @property
    def exit_code(self) -> int:
        """0 when nothing fails (unsupported, skipped and known failures allowed); 1 when the target
        fails, crashes, times out, is incomplete or not verified; 2 when only the gate itself erred."""
        if any(r.status != "error" for r in self.failed):
            return 1
        return 2 if self.failed else 0


def with_host_facts(result: PropertyResult) -> PropertyResult:
    """``result`` with what this host's torch is known to do: the known bugs a failure's calls touched
    (:mod:`conv2d.gate.upstream`, probed once per host), and "as this host's F.conv2d does" on a note
    of a behaviour the host has. The status is unchanged: a known torch bug still fails the run."""
    failure = result.failure
    if failure is not None and failure.regions:
        known = tuple(name for name in failure.regions if upstream.present(name))
        result = dataclasses.replace(result, failure=dataclasses.replace(failure, known=known))
    if any(n.behaviour for n in result.notes):
        notes = tuple(
            dataclasses.replace(n, text=f"{n.text}, as this host's F.conv2d does")
            if n.behaviour and upstream.present(n.behaviour)
            else n
            for n in result.notes
        )
        result = dataclasses.replace(result, notes=notes)
    return result


def run_suite(
    target: Target,
    *,
    devices: Sequence[str] = ("cpu",),
    profile: str = "default",
    seed: int = 0,
    only: Sequence[str] | None = None,
    fail_fast: bool = False,
    xfails: KnownList | None = None,
    skips: KnownList | None = None,
    workers: int = 1,
    isolate: bool | None = None,
    accept_incomplete: bool = False,
    on_result: Callable[[PropertyResult], None] | None = None,
) -> SuiteReport:
    """Check every property that applies to ``target`` on each device and collect the verdicts.

    Args:
        workers: worker processes to spread properties over (isolated runs only).
        isolate: run the target in worker processes (see :mod:`conv2d.gate.runner`), so that a
            crash, ``os._exit`` or a hang in native code is a verdict; the default isolates
            every target loaded from a ``module:function`` spec.
        fail_fast: stop at the first failing property.
        accept_incomplete: a property stopped by its time guard does not fail the run.
    """
    from conv2d.gate.environment import environment  # heavy on CUDA machines; only when running

    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; known profiles are {sorted(PROFILES)}")
    isolate = target.spec is not None if isolate is None else isolate
    known = KnownPolicy(xfails, skips)
    start = time.perf_counter()
    warnings: list[str] = []
    results, jobs = _plan(target, devices, profile, seed, only, known)

    def finish(result: PropertyResult) -> bool:
        result = known.settle(with_host_facts(result), warnings)
        results.append(result)
        if on_result is not None:
            on_result(result)
        return fail_fast and result.status in FAILING

    _run_jobs(target, jobs, isolate=isolate, workers=workers, finish=finish)
    warnings += _warnings(target, known)
    order = {name: i for i, name in enumerate(PROPERTIES)}
    results.sort(key=lambda r: (order[r.property], devices.index(r.device) if r.device in devices else 0))
    return SuiteReport(
        target=target.name,
        kind=target.kind,
        capabilities=target.capabilities.describe(),
        profile=profile,
        seed=seed,
        devices=list(devices),
        environment=environment(),
        results=results,
        seconds=time.perf_counter() - start,
        warnings=warnings,
        isolated=isolate,
        accept_incomplete=accept_incomplete,
    )


def _plan(
    target: Target,
    devices: Sequence[str],
    profile: str,
    seed: int,
    only: Sequence[str] | None,
    known: KnownPolicy,
) -> tuple[list[PropertyResult], list[Job]]:
    """The ``skipped`` results of the properties the skips list names, and a job for every other one."""
    skipped: list[PropertyResult] = []
    jobs: list[Job] = []
    for prop in properties_for(target.kind, only):
        for device in devices:
            result = known.skipped(prop.name, prop.law, device)
            if result is not None:
                skipped.append(result)
            else:
                jobs.append(Job(prop.name, device, profile, seed))
    return skipped, jobs


def _run_jobs(
    target: Target,
    jobs: Sequence[Job],
    *,
    isolate: bool,
    workers: int,
    finish: Callable[[PropertyResult], bool],
) -> None:
    """Run the jobs, in worker processes or in this one, handing each result to ``finish`` (True: stop)."""
    if isolate:
        from conv2d.gate.runner import run_isolated

        run_isolated(target, jobs, workers=workers, on_result=finish)
        return
    with hostcalls.traced_target(target):
        for job in jobs:
            result = run_property(
                PROPERTIES[job.property], target, device=job.device, profile=job.profile, seed_value=job.seed
            )
            if finish(result):
                break


def _warnings(target: Target, known: KnownPolicy) -> list[str]:
    """The stale entries of the known-failures and skips lists, and the functions importing the target replaced."""
    catalogue = [(p.name, d) for p in properties_for(target.kind) for d in DEVICES]
    return known.stale(catalogue) + [
        f"importing the target replaced {name}: the gate's reference is bound to torch.ops.aten and is "
        "unaffected, but any other code in this process now calls the replacement"
        for name in target.replaced
    ]
