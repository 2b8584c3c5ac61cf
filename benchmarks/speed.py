"""Speed of the core's conv2d and corr2d against torch.nn.functional.conv2d on CPU float32.

Every row times the core and F.conv2d on the same tensors in the same run:
after warm-up, the two are called alternately (ours, ref, ours, ref, ...) and
each keeps its median. ``ratio`` is ours / F.conv2d, forward alone and forward
plus backward (gradients of input and weight). The layers are the ResNet-18
shapes at batch 8 plus a depthwise layer, timed single-threaded and with two
threads (or as many as the machine has, if fewer). The targets, for each thread
count: a median ratio of at most 1.5 forward and 2 forward+backward over that
set, and no layer above 3x in either; the report names every layer that misses
them and, for a layer above 3x, shows where the core's time goes (the aten
operators of its forward and backward passes, from torch.profiler). Two more
rows time ``corr2d`` on a 256x256 single-channel image, and the lab's Python
loop as a baseline.

    python benchmarks/speed.py                           # full run
    python benchmarks/speed.py --quick                   # smoke run: batch 2, few repeats
    python benchmarks/speed.py --strategies              # also time every strategy that fits each layer
    python benchmarks/speed.py --write-readme README.md  # also rewrite the README's table

``--strategies`` forces each of the core's strategies that can compute a layer
(through the module constants that steer the choice) and times it against the
automatic choice, so the choice per shape rests on measurements.
``--write-readme`` replaces the text between ``<!-- speed:start -->`` and
``<!-- speed:end -->`` with the report, leaving the rest of the file alone.

Memory: glibc's malloc returns every large block (above its mmap threshold) to the
system when it is freed, so each output of either side is fresh memory that page-faults
in on first touch; on a virtual machine that costs as much as a small convolution and
varies from call to call (compare a run with ``--system-heap``). PyTorch's CPU performance tuning guide recommends a caching
allocator (jemalloc or TCMalloc) for this reason. Unless ``--system-heap`` is given, the
benchmark re-executes itself with glibc told to keep freed memory for reuse
(``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``), the same for both sides, so
the ratios compare the convolutions rather than the page faults; the report says which
heap it ran with.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._readme import has_block, replace_block
from conv2d import conv2d, corr2d
from conv2d._core import tuning
from conv2d.gate.environment import cpu_model
from conv2d.zoo.corr2d import lab_corr2d

HEAP_KEPT = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}
"""glibc settings that keep freed memory for reuse (read by malloc at process start)."""

FORWARD_TARGET = 1.5
BACKWARD_TARGET = 2.0
LAYER_LIMIT = 3.0


@dataclasses.dataclass(frozen=True)
class Layer:
    """One convolution of the ResNet-18-style set (no bias, as in ResNet)."""

    name: str
    c_in: int
    c_out: int
    size: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1


LAYERS = (
    Layer("conv2_x 3x3", 64, 64, 56, 3, padding=1),
    Layer("conv3_x 3x3", 128, 128, 28, 3, padding=1),
    Layer("conv4_x 3x3", 256, 256, 14, 3, padding=1),
    Layer("downsample 1x1/2", 64, 128, 56, 1, stride=2),
    Layer("stem 7x7/2", 3, 64, 224, 7, stride=2, padding=3),
    Layer("depthwise 3x3", 128, 128, 28, 3, padding=1, groups=128),
)

STRATEGIES: dict[str, dict[str, Any]] = {
    "shifted matmul (per-tap products)": {"MIN_TAP_CHANNELS": 0, "IM2COL_WASTE_NUMERATOR": float("inf")},
    "shifted matmul (channels-last im2col)": {"MIN_TAP_CHANNELS": 0, "IM2COL_WASTE_NUMERATOR": -1.0},
    "plane im2col": {"MIN_TAP_CHANNELS": 10**9},
    "shifted multiply-add (frames)": {},
    "same-size shifts": {"SAME_SIZE_SHIFTS": True},
}
"""Constants of conv2d._core.tuning that force each strategy where it applies."""


@dataclasses.dataclass
class Row:
    """One line of the report: milliseconds per call and the ratios."""

    name: str
    shape: str
    ref_ms: tuple[float, float | None]
    ours_ms: tuple[float, float | None]
    in_set: bool = False

    @property
    def ratio_fwd(self) -> float:
        return self.ours_ms[0] / self.ref_ms[0]

    @property
    def ratio_both(self) -> float | None:
        ours, ref = self.ours_ms[1], self.ref_ms[1]
        return None if ours is None or ref is None else ours / ref


def interleaved_medians(
    ours: Callable[[], object], ref: Callable[[], object], repeats: int, warmup: int = 2
) -> tuple[float, float]:
    """Median milliseconds of ``ours`` and ``ref``, timed alternately after ``warmup`` calls of each."""
    for _ in range(warmup):
        ours()
        ref()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((ours, times[0]), (ref, times[1])):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1e3, statistics.median(times[1]) * 1e3


def forward_and_backward(
    fn: Callable[..., torch.Tensor], args: tuple[torch.Tensor, ...], grad_out: torch.Tensor
) -> Callable[[], object]:
    """A call of ``fn(*args)`` followed by the gradients of all ``args``."""
    return lambda: torch.autograd.grad(fn(*args), args, grad_out)


def no_grad(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run without recording for autograd (the forward-only timing)."""

    def run() -> object:
        with torch.no_grad():
            return fn()

    return run


@contextlib.contextmanager
def forced(strategy: str) -> Iterator[None]:
    """Steer conv2d.functional's strategy choice to ``strategy`` (a key of :data:`STRATEGIES`)."""
    patches = STRATEGIES[strategy]
    with mock.patch.multiple(tuning, **patches) if patches else contextlib.nullcontext():
        yield


def applicable(layer: Layer) -> list[str]:
    """The strategies that can compute ``layer`` (the 1x1 pointwise path has no alternative)."""
    if layer.kernel == 1 and layer.padding == 0:
        return []
    if layer.c_in == layer.groups and layer.c_out // layer.groups <= tuning.MAX_ELEMENTWISE_MULTIPLIER:
        same = layer.stride == 1 and 2 * layer.padding == layer.kernel - 1
        return (
            ["same-size shifts", "shifted multiply-add (frames)"]
            if same
            else ["shifted multiply-add (frames)"]
        )
    return ["shifted matmul (per-tap products)", "shifted matmul (channels-last im2col)", "plane im2col"]


def layer_tensors(layer: Layer, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input and weight (both requiring grad) and an output gradient for ``layer``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, layer.c_in, layer.size, layer.size, generator=gen, requires_grad=True)
    w = torch.randn(layer.c_out, layer.c_in // layer.groups, layer.kernel, layer.kernel, generator=gen)
    w.requires_grad_()
    with torch.no_grad():
        shape = F.conv2d(x, w, None, layer.stride, layer.padding, 1, layer.groups).shape
    return x, w, torch.randn(shape, generator=gen)


def calls(layer: Layer) -> tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]:
    """The core's and F.conv2d's call for ``layer``."""

    def ours(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return conv2d(a, b, None, layer.stride, layer.padding, 1, layer.groups)

    def ref(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.conv2d(a, b, None, layer.stride, layer.padding, 1, layer.groups)

    return ours, ref


def time_layer(layer: Layer, batch: int, repeats: int) -> Row:
    """conv2d vs F.conv2d on one layer, forward and forward+backward."""
    x, w, grad_out = layer_tensors(layer, batch)
    ours, ref = calls(layer)
    fwd = interleaved_medians(no_grad(lambda: ours(x, w)), no_grad(lambda: ref(x, w)), repeats)
    both = interleaved_medians(
        forward_and_backward(ours, (x, w), grad_out), forward_and_backward(ref, (x, w), grad_out), repeats
    )
    shape = f"{batch}x{layer.c_in}x{layer.size}x{layer.size} -> {layer.c_out}"
    if layer.groups > 1:
        shape += f", groups={layer.groups}"
    return Row(layer.name, shape, (fwd[1], both[1]), (fwd[0], both[0]), in_set=True)


def time_strategies(layer: Layer, batch: int, repeats: int) -> list[str]:
    """Markdown rows: each applicable strategy's forward and forward+backward ratio to F.conv2d on ``layer``."""
    x, w, grad_out = layer_tensors(layer, batch)
    ours, ref = calls(layer)
    lines = []
    for strategy in ["automatic choice", *applicable(layer)]:

        def run(fn: Callable[[], object], strategy: str = strategy) -> Callable[[], object]:
            def inner() -> object:
                with contextlib.nullcontext() if strategy == "automatic choice" else forced(strategy):
                    return fn()

            return inner

        fwd = interleaved_medians(run(no_grad(lambda: ours(x, w))), no_grad(lambda: ref(x, w)), repeats)
        both = interleaved_medians(
            run(forward_and_backward(ours, (x, w), grad_out)),
            forward_and_backward(ref, (x, w), grad_out),
            repeats,
        )
        lines.append(f"| {layer.name} | {strategy} | {fwd[0] / fwd[1]:.2f} | {both[0] / both[1]:.2f} |")
    return lines


def profile_layer(layer: Layer, batch: int, top: int = 6) -> str:
    """Where the core's time goes on ``layer`` (forward + backward): the ``top`` aten operators by self time."""
    x, w, grad_out = layer_tensors(layer, batch)
    ours, _ = calls(layer)
    step = forward_and_backward(ours, (x, w), grad_out)
    for _ in range(2):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            step()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    parts = [
        f"{e.key} {100 * e.self_cpu_time_total / total:.0f}% ({e.count // 5} calls)" for e in events[:top]
    ]
    return ", ".join(parts)


def elementwise_floor(layer: Layer, batch: int, repeats: int) -> str:
    """Why a depthwise layer cannot reach F.conv2d in plain PyTorch, measured: the time of one elementwise
    multiply-add pass over the layer's output (interleaved with F.conv2d's forward) times its taps."""
    x, w, _ = layer_tensors(layer, batch)
    _, ref = calls(layer)
    with torch.no_grad():
        out = ref(x, w)
    acc, src = torch.randn(out.shape).flatten(2), torch.randn(out.shape).flatten(2)
    coef = torch.randn(1, out.shape[1], 1)
    one_pass, ref_ms = interleaved_medians(
        lambda: acc.addcmul_(src, coef), no_grad(lambda: ref(x, w)), repeats
    )
    taps = layer.kernel * layer.kernel
    return (
        f"each output channel reads one input channel, so there is no matrix product to run: plain "
        f"PyTorch needs one elementwise multiply-add pass per kernel tap, and one such pass over this "
        f"layer's output takes {one_pass:.2f} ms, so its {taps} taps alone take {taps * one_pass:.2f} ms, "
        f"{taps * one_pass / ref_ms:.2f}x F.conv2d's whole forward ({ref_ms:.2f} ms), which applies all "
        f"taps in one pass"
    )


def time_corr2d(size: int, repeats: int) -> Row:
    """corr2d vs F.conv2d on one single-channel image with a 3x3 kernel."""
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(size, size, generator=gen, requires_grad=True)
    K = torch.randn(3, 3, generator=gen, requires_grad=True)

    def ref(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.conv2d(a[None, None], b[None, None])[0, 0]

    grad_out = torch.randn(size - 2, size - 2, generator=gen)
    fwd = interleaved_medians(no_grad(lambda: corr2d(X, K)), no_grad(lambda: ref(X, K)), repeats)
    both = interleaved_medians(
        forward_and_backward(corr2d, (X, K), grad_out), forward_and_backward(ref, (X, K), grad_out), repeats
    )
    return Row("corr2d", f"{size}x{size}, 3x3 kernel", (fwd[1], both[1]), (fwd[0], both[0]))


def time_lab_loop(size: int, repeats: int) -> Row:
    """The lab's loop vs F.conv2d, forward only (its backward is one autograd node per pixel)."""
    gen = torch.Generator().manual_seed(2)
    X, K = torch.randn(size, size, generator=gen), torch.randn(3, 3, generator=gen)
    fwd = interleaved_medians(
        no_grad(lambda: lab_corr2d(X, K)),
        no_grad(lambda: F.conv2d(X[None, None], K[None, None])),
        repeats,
        warmup=1,
    )
    return Row(
        "lab loop corr2d", f"{size}x{size}, 3x3 kernel, {repeats} repeats", (fwd[1], None), (fwd[0], None)
    )


class OtherLoad:
    """How busy the CPUs were with other processes while this one ran (Linux /proc/stat; else unknown)."""

    def __init__(self) -> None:
        self.start = self._snapshot()

    @staticmethod
    def _snapshot() -> tuple[float, float, float] | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        busy = sum(fields[:8]) - fields[3] - fields[4]
        own = os.times()
        return sum(fields[:8]) / ticks, busy / ticks, own.user + own.system

    def describe(self) -> str:
        """``"other processes used 3% of the CPUs"`` for the time since construction."""
        end = self._snapshot()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return "load from other processes unknown"
        total = end[0] - self.start[0]
        other = max(0.0, (end[1] - self.start[1]) - (end[2] - self.start[2]))
        return f"other processes used {100 * other / total:.0f}% of the CPUs during the run"


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def report(rows: list[Row], threads: int, profiles: dict[str, str]) -> str:
    """The Markdown table for one thread count, its median row and the targets' verdicts."""
    lines = [
        f"**{threads} thread{'s' if threads > 1 else ''}**",
        "",
        "| layer | shape | F.conv2d ms (fwd / fwd+bwd) | ours ms (fwd / fwd+bwd) | ratio fwd | ratio fwd+bwd |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.shape} | {fmt(r.ref_ms[0])} / {fmt(r.ref_ms[1])} | "
            f"{fmt(r.ours_ms[0])} / {fmt(r.ours_ms[1])} | {fmt(r.ratio_fwd)} | {fmt(r.ratio_both)} |"
        )
    in_set = [r for r in rows if r.in_set]
    median_fwd = statistics.median(r.ratio_fwd for r in in_set)
    median_both = statistics.median(r.ratio_both or 0.0 for r in in_set)
    lines.append(
        f"| **median (ResNet-18 set)** | {len(in_set)} layers | | | **{median_fwd:.2f}** | **{median_both:.2f}** |"
    )
    lines.append("")
    for label, target, median, ratio in (
        ("forward", FORWARD_TARGET, median_fwd, lambda r: r.ratio_fwd),
        ("forward+backward", BACKWARD_TARGET, median_both, lambda r: r.ratio_both or 0.0),
    ):
        over = [f"{r.name} ({ratio(r):.2f}x)" for r in in_set if ratio(r) > LAYER_LIMIT]
        verdict = "meets" if median <= target else "misses"
        lines.append(
            f"- {label}: the median ratio {median:.2f} {verdict} the {target}x target; "
            + (
                f"layers above the {LAYER_LIMIT}x limit: {', '.join(over)}."
                if over
                else f"every layer is within {LAYER_LIMIT}x."
            )
        )
    for name, where in profiles.items():
        lines.append(
            f"- {name} is above {LAYER_LIMIT}x; where the core's time goes (forward+backward, aten "
            f"operators by self time): {where}."
        )
    return "\n".join(lines)


def run_set(batch: int, repeats: int, threads: int) -> tuple[list[Row], dict[str, str]]:
    """The layer set (and the corr2d row) at ``threads`` threads, with a profile of every layer above the limit."""
    torch.set_num_threads(threads)
    rows = [time_layer(layer, batch, repeats) for layer in LAYERS]
    rows.append(time_corr2d(256, repeats))
    profiles = {}
    for layer, row in zip(LAYERS, rows, strict=False):
        if max(row.ratio_fwd, row.ratio_both or 0.0) > LAYER_LIMIT:
            profiles[layer.name] = profile_layer(layer, batch)
            if layer.groups == layer.c_in:
                profiles[layer.name] += f"; {elementwise_floor(layer, batch, repeats)}"
    return rows, profiles


def heap_kept() -> bool:
    """Whether this process runs with :data:`HEAP_KEPT`."""
    return all(os.environ.get(k) == v for k, v in HEAP_KEPT.items())


def heap_description() -> str:
    """How this process's heap treats freed memory (see the module docstring)."""
    if heap_kept():
        return (
            "glibc heap kept for reuse by both sides ("
            + ", ".join(f"{k}={v}" for k, v in HEAP_KEPT.items())
            + ")"
        )
    return "default heap (freed large blocks go back to the system)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: batch 2, 3 repeats, small loop image"
    )
    parser.add_argument(
        "--repeats", type=int, help="timed repeats per measurement (default 15, or 3 with --quick)"
    )
    parser.add_argument(
        "--strategies", action="store_true", help="also time every strategy that can compute each layer"
    )
    parser.add_argument("--write-readme", metavar="PATH", type=Path, help="rewrite the speed block in PATH")
    parser.add_argument(
        "--system-heap",
        action="store_true",
        help="run with glibc's default malloc settings (freed large blocks go back to the system)",
    )
    ns = parser.parse_args(argv)
    if ns.write_readme is not None and not has_block(ns.write_readme, "speed"):
        print(
            f"{ns.write_readme} has no <!-- speed:start --> ... <!-- speed:end --> block to rewrite",
            file=sys.stderr,
        )
        return 1
    repeats = ns.repeats or (3 if ns.quick else 15)
    batch = 2 if ns.quick else 8
    default_threads = torch.get_num_threads()
    load = OtherLoad()
    thread_counts = sorted({1, min(2, os.cpu_count() or 1)})
    sections = [
        f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs); torch {torch.__version__}, float32; "
        f"median of {repeats} interleaved repeats after warm-up, ResNet-18 layers at batch {batch}; "
        f"{heap_description()}."
    ]
    for threads in thread_counts:
        rows, profiles = run_set(batch, repeats, threads)
        if threads == thread_counts[-1]:
            rows.append(time_lab_loop(32 if ns.quick else 256, 1 if ns.quick else 3))
        sections.append(report(rows, threads, profiles))
        print(sections[-1], flush=True)
    if ns.strategies:
        torch.set_num_threads(thread_counts[-1])
        lines = [
            f"**Strategies per layer** ({thread_counts[-1]} threads; ratio to F.conv2d, fwd / fwd+bwd)",
            "",
            "| layer | strategy | ratio fwd | ratio fwd+bwd |",
            "|---|---|---|---|",
        ]
        for layer in LAYERS:
            if applicable(layer):
                lines.extend(time_strategies(layer, batch, repeats))
        sections.append("\n".join(lines))
        print(sections[-1], flush=True)
    torch.set_num_threads(default_threads)
    sections[0] = sections[0][:-1] + f"; {load.describe()}."
    text = "\n\n".join(sections)
    print(f"\n{sections[0]}")
    if ns.write_readme is not None:
        replace_block(ns.write_readme, "speed", text)
    return 0


def keep_heap() -> None:
    """Re-execute this script with :data:`HEAP_KEPT` in the environment (Linux, unless ``--system-heap``)."""
    if sys.platform == "linux" and "--system-heap" not in sys.argv and not heap_kept():
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **HEAP_KEPT})


if __name__ == "__main__":
    keep_heap()
    sys.exit(main())
