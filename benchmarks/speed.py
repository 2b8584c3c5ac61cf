"""Speed of the core's conv2d and corr2d against torch.nn.functional.conv2d on CPU float32.

Every row times the core and F.conv2d on the same tensors in the same run:
after warm-up, the two are called alternately (ours, ref, ours, ref, ...) and
each keeps its median. ``ratio`` is ours / F.conv2d, forward alone and forward
plus backward (gradients of input, weight and bias). The layers are the
ResNet-18 shapes at batch 8 plus a depthwise layer; the targets are a median
ratio of at most 1.5 forward and 2.5 forward+backward over that set, and the
report names every layer that misses them. Two more rows time ``corr2d`` on a
256x256 single-channel image, and the lab's Python loop as a baseline.

    python benchmarks/speed.py                           # full run
    python benchmarks/speed.py --quick                   # smoke run: batch 2, few repeats
    python benchmarks/speed.py --write-readme README.md  # also rewrite the README's table

``--write-readme`` replaces the text between ``<!-- speed:start -->`` and
``<!-- speed:end -->`` with the report, leaving the rest of the file alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._readme import has_block, replace_block
from conv2d import conv2d, corr2d
from conv2d.gate.report import cpu_model
from conv2d.zoo.corr2d import lab_corr2d

FORWARD_TARGET = 1.5
BACKWARD_TARGET = 2.5


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


def time_layer(layer: Layer, batch: int, repeats: int) -> Row:
    """conv2d vs F.conv2d on one layer, forward and forward+backward."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, layer.c_in, layer.size, layer.size, generator=gen, requires_grad=True)
    w = torch.randn(layer.c_out, layer.c_in // layer.groups, layer.kernel, layer.kernel, generator=gen)
    w.requires_grad_()

    def ours(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return conv2d(a, b, None, layer.stride, layer.padding, 1, layer.groups)

    def ref(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.conv2d(a, b, None, layer.stride, layer.padding, 1, layer.groups)

    grad_out = torch.randn(ref(x, w).shape, generator=gen)
    fwd = interleaved_medians(no_grad(lambda: ours(x, w)), no_grad(lambda: ref(x, w)), repeats)
    both = interleaved_medians(
        forward_and_backward(ours, (x, w), grad_out), forward_and_backward(ref, (x, w), grad_out), repeats
    )
    shape = f"{batch}x{layer.c_in}x{layer.size}x{layer.size} -> {layer.c_out}"
    if layer.groups > 1:
        shape += f", groups={layer.groups}"
    return Row(layer.name, shape, (fwd[1], both[1]), (fwd[0], both[0]), in_set=True)


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


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def report(rows: list[Row]) -> str:
    """The Markdown table, the median row, the environment line and the targets' verdicts."""
    lines = [
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
    lines.append(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {cpu_model()}; "
        f"median of interleaved repeats after warm-up."
    )
    lines.append("")
    for label, target, median, ratio in (
        ("forward", FORWARD_TARGET, median_fwd, lambda r: r.ratio_fwd),
        ("forward+backward", BACKWARD_TARGET, median_both, lambda r: r.ratio_both or 0.0),
    ):
        missing = [f"{r.name} ({ratio(r):.2f}x)" for r in in_set if ratio(r) > target]
        verdict = "meets" if median <= target else "misses"
        lines.append(
            f"- {label}: the median ratio {median:.2f} {verdict} the {target}x target; "
            + (
                f"layers above {target}x: {', '.join(missing)}."
                if missing
                else f"every layer is within {target}x."
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: batch 2, 3 repeats, small loop image"
    )
    parser.add_argument(
        "--repeats", type=int, help="timed repeats per measurement (default 15, or 3 with --quick)"
    )
    parser.add_argument("--write-readme", metavar="PATH", type=Path, help="rewrite the speed block in PATH")
    ns = parser.parse_args(argv)
    if ns.write_readme is not None and not has_block(ns.write_readme, "speed"):
        print(
            f"{ns.write_readme} has no <!-- speed:start --> ... <!-- speed:end --> block to rewrite",
            file=sys.stderr,
        )
        return 1
    repeats = ns.repeats or (3 if ns.quick else 15)
    batch = 2 if ns.quick else 8
    rows = [time_layer(layer, batch, repeats) for layer in LAYERS]
    rows.append(time_corr2d(256, repeats))
    rows.append(time_lab_loop(32 if ns.quick else 256, 1 if ns.quick else 3))
    text = report(rows)
    print(text)
    if ns.write_readme is not None:
        replace_block(ns.write_readme, "speed", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
