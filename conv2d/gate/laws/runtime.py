"""Laws of repeated, concurrent and cross-device calls: determinism, thread safety, CPU-CUDA parity."""

from __future__ import annotations

import functools
import threading

import torch

from conv2d.gate.case import ConvCase
from conv2d.gate.judge import within
from conv2d.gate.laws._common import bound_of, call_checked, f64, twice_bound
from conv2d.gate.laws.registry import Stage, law
from conv2d.gate.reference import reference
from conv2d.gate.target import Target, Violation

__all__ = ["concurrency", "determinism", "device_parity"]


@law("determinism", stage=Stage.RUNTIME, order=10, examples=30, needs=("deterministic",))
def determinism(target: Target, case: ConvCase) -> None:
    """Two calls on equal arguments give bitwise equal results, also for long (split) reductions."""
    variants = [case]
    if case.kind != "corr2d":  # split-K and atomic reductions live in wide channel counts
        variants.append(case.replace(in_channels=case.groups * 33))
    for variant in variants:
        first = target(variant.materialize())
        second = target(variant.materialize())
        if first.shape != second.shape or not torch.equal(first, second):
            differ = int((first != second).sum()) if first.shape == second.shape else first.numel()
            raise Violation(
                f"two calls on equal arguments differ in {differ} of {first.numel()} elements "
                f"(C_in={variant.in_channels}), but should be bitwise equal"
            )


@law(
    "concurrency",
    stage=Stage.RUNTIME,
    order=20,
    kinds=("conv2d", "conv_transpose2d", "conv1d", "conv3d"),
    examples=15,
    needs=("thread_safe",),
)
def concurrency(target: Target, case: ConvCase) -> None:
    """Calls from four threads at once give the results of the same calls made one after another."""
    calls = [case.replace(seed=case.seed + i).materialize() for i in range(4)]
    serial = [f64(call_checked(target, case, a)) for a in calls]
    barrier = threading.Barrier(len(calls))
    results: list[torch.Tensor | BaseException | None] = [None] * len(calls)

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=target.timeout)
            results[i] = f64(call_checked(target, case, calls[i]))
        except BaseException as exc:  # reported below, in this thread
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(4 * target.timeout)
    for i, (alone, together) in enumerate(zip(serial, results, strict=True)):
        if isinstance(together, BaseException):
            raise Violation(f"call {i} of 4 concurrent calls raised {type(together).__name__}: {together}")
        if together is None:
            raise Violation(f"call {i} of 4 concurrent calls did not finish")
        exact = reference(calls[i])
        within(
            together,
            alone,
            functools.partial(twice_bound, target, case, exact),
            f"call {i} of 4 made at once from threads vs the same call alone (declare thread_safe=False if intended)",
            target=target,
            case=case,
        )


@law("device-parity", stage=Stage.RUNTIME, order=30, examples=20, devices=("cpu", "cuda"))
def device_parity(target: Target, case: ConvCase) -> None:
    """CUDA and CPU results agree: each is within its bound of the exact result, so they differ by at most both bounds."""
    cpu_case, cuda_case = case.replace(device="cpu"), case.replace(device="cuda")
    on_cpu = call_checked(target, cpu_case, cpu_case.materialize(), "CPU output")
    on_cuda = call_checked(target, cuda_case, cuda_case.materialize(), "CUDA output")
    exact = reference(cpu_case.materialize())
    within(
        on_cuda,
        f64(on_cpu),
        lambda p: 2 * bound_of(target, case, exact, precision=p),
        "CUDA output vs CPU output",
        target=target,
        case=case,
    )
