"""A whole verification run: every applicable property on every requested device."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Sequence

from conv2d.gate.engine import PROFILES, PropertyResult, properties_for, run_property
from conv2d.gate.known import KnownList
from conv2d.gate.properties import PROPERTIES
from conv2d.gate.target import Target

__all__ = ["SuiteReport", "run_suite"]

_FAILING = {"fails", "error", "not run"}


@dataclasses.dataclass
class SuiteReport:
    """Everything a verdict says: target, settings, environment and one result per property and device."""

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

    @property
    def failed(self) -> list[PropertyResult]:
        return [r for r in self.results if r.status in _FAILING]

    @property
    def exit_code(self) -> int:
        """0 when nothing fails (unsupported, skipped and known failures allowed); 1 when a
        property fails or the target hung; 2 when only the gate itself erred."""
        if any(r.status in ("fails", "not run") for r in self.results):
            return 1
        return 2 if self.failed else 0


def _known(result: PropertyResult, xfails: KnownList, warnings: list[str]) -> PropertyResult:
    entry = xfails.match(result.property, result.device)
    if entry is None:
        return result
    if result.status == "fails":
        return dataclasses.replace(
            result, status="xfail", note=f"known failure ({entry.source}): {entry.reason}"
        )
    if result.status == "holds":
        warnings.append(
            f"{result.property}[{result.device}] holds but is listed as a known failure at {entry.source}; remove the entry"
        )
        return dataclasses.replace(
            result, status="xpass", note=f"listed as a known failure at {entry.source}, but holds"
        )
    return result


def _run_one(
    spec: str, kind: str, timeout: float, name: str, device: str, profile: str, seed: int
) -> PropertyResult:
    """Worker entry point: load the target in this process and check one property."""
    target = Target.load(spec, kind=kind, timeout=timeout)  # type: ignore[arg-type]
    return run_property(PROPERTIES[name], target, device=device, profile=profile, seed_value=seed)


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
    on_result: Callable[[PropertyResult], None] | None = None,
) -> SuiteReport:
    """Check every property that applies to ``target`` on each device and collect the verdicts.

    Args:
        workers: processes to spread properties over (needs a target loaded from a
            ``module:function`` string); 1 runs everything in this process.
        fail_fast: stop at the first failing property.
    """
    from conv2d.gate.report import environment  # heavy on CUDA machines; only when running

    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; known profiles are {sorted(PROFILES)}")
    xfails = xfails or KnownList()
    skips = skips or KnownList()
    start = time.perf_counter()
    warnings: list[str] = []
    jobs: list[tuple[str, str]] = []
    results: list[PropertyResult] = []
    for prop in properties_for(target.kind, only):
        for device in devices:
            entry = skips.match(prop.name, device)
            if entry is not None:
                results.append(
                    PropertyResult(
                        prop.name,
                        prop.law,
                        device,
                        "skipped",
                        note=f"skipped ({entry.source}): {entry.reason}",
                    )
                )
                continue
            jobs.append((prop.name, device))

    def finish(result: PropertyResult) -> PropertyResult:
        result = _known(result, xfails, warnings)
        if on_result is not None:
            on_result(result)
        return result

    if workers > 1 and jobs:
        context = multiprocessing.get_context("spawn")  # CUDA-safe
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [
                pool.submit(_run_one, target.name, target.kind, target.timeout, name, device, profile, seed)
                for name, device in jobs
            ]
            for future in futures:
                result = finish(future.result())
                results.append(result)
                if fail_fast and result.status in _FAILING:
                    for rest in futures:
                        rest.cancel()
                    break
    else:
        for name, device in jobs:
            result = finish(
                run_property(PROPERTIES[name], target, device=device, profile=profile, seed_value=seed)
            )
            results.append(result)
            if fail_fast and result.status in _FAILING:
                break
    catalogue = [(p.name, d) for p in properties_for(target.kind) for d in ("cpu", "cuda")]
    for entry in [*xfails.entries, *skips.entries]:
        if not any(entry.matches(name, device) for name, device in catalogue):
            warnings.append(
                f"stale entry {entry.pattern!r} at {entry.source}: it matches no property of the catalogue"
            )
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
    )
