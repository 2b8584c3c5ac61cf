"""Bugs the gate found in torch itself, as data: what each looks like, where it shows, and a probe.

Nothing in the gate or its test suite may assume that the host's ``F.conv2d`` is
right. Each entry here is a torch bug the gate found, with its minimal
reproducer, a predicate saying which cases it affects, and a probe that tells
whether *this* host's torch has it (measured on first use, never inferred from
the CPU's name). Tests that judge torch's own convolution use them to check two
things separately: that the gate *catches* the bug where it is present, and that
everything else torch computes passes.

    python scripts/upstream_bugs.py     # probes this host and prints each bug's status
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
from collections.abc import Callable

import torch

from conv2d.gate.case import ConvCase, as_pair

__all__ = ["BUGS", "UpstreamBug", "affecting", "present"]


@dataclasses.dataclass(frozen=True)
class UpstreamBug:
    """One bug of torch's own convolution.

    Attributes:
        name: a short identifier.
        summary: what goes wrong, in one sentence.
        reproducer: a few lines of torch that show it.
        found: where it was found (torch version, CPU).
        law: the gate property that catches it.
        affects: whether a case lies in the bug's region (true regardless of the host).
        probe: whether this host's torch has the bug (runs the reproducer).
    """

    name: str
    summary: str
    reproducer: str
    found: str
    law: str
    affects: Callable[[ConvCase], bool]
    probe: Callable[[], bool]

    @property
    def command(self) -> str:
        """The gate command that looks for it."""
        return f"python -m conv2d verify torch.nn.functional:conv2d --property {self.law}"


_BF16_REPRO = """\
import torch, torch.nn.functional as F
x = torch.randn(1, 1, 15, 4).bfloat16(); w = torch.randn(1, 1, 3, 4).bfloat16()
exact = F.conv2d(x.double(), w.double(), stride=2)
print((F.conv2d(x, w, stride=2).double() - exact).abs().max())  # ~1 where bfloat16 rounding gives ~0.01"""


def _bf16_affects(case: ConvCase) -> bool:
    return case.dtype == "bfloat16" and max(as_pair(case.stride)) > 1 and case.out_spatial[1] == 1


def _bf16_probe() -> bool:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 15, 4, generator=generator).bfloat16()
    w = torch.randn(1, 1, 3, 4, generator=generator).bfloat16()
    exact = torch.ops.aten.convolution.default(
        x.double(), w.double(), None, [2, 2], [0, 0], [1, 1], False, [0, 0], 1
    )
    got = torch.nn.functional.conv2d(x, w, stride=2).double()
    scale = torch.ops.aten.convolution.default(
        x.double().abs(), w.double().abs(), None, [2, 2], [0, 0], [1, 1], False, [0, 0], 1
    )
    return bool(((got - exact).abs() > 8 * 2.0**-8 * scale + 1e-6).any())


_HEAP_REPRO = """\
import torch, torch.nn.functional as F
x = torch.randn(3, 1, 184, 129).contiguous(memory_format=torch.channels_last)
w = torch.randn(8, 1, 1, 3)
for _ in range(20):
    F.conv2d(x, w, stride=(2, 1), padding=1)  # free(): invalid size / SIGSEGV, not on every run"""


def _heap_affects(case: ConvCase) -> bool:
    return case.dtype == "float32" and case.in_channels == 1 and case.input_layout == "channels_last"


def _heap_probe() -> bool:
    """Run the reproducer in a child process: a crash (or a hang) there means the host has the bug."""
    try:
        done = subprocess.run([sys.executable, "-c", _HEAP_REPRO], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return True
    return done.returncode != 0


_GRAD_REPRO = """\
import torch, torch.nn.functional as F
x = torch.randn(1, 4, 1, 2, dtype=torch.float64).contiguous(memory_format=torch.channels_last)[0]
w = torch.randn(2, 2, 1, 2, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
g = [t.requires_grad_() for t in (x, w)]
gw = torch.autograd.grad(F.conv2d(x, w, stride=2, groups=2).sum(), w)[0]
gw_ref = torch.autograd.grad(F.conv2d(x.contiguous(), w.contiguous(), stride=2, groups=2).sum(), w)[0]
print((gw - gw_ref).abs().max())  # far from 0"""


def _grad_affects(case: ConvCase) -> bool:
    return (
        case.dtype == "float64"
        and case.batch is None
        and case.groups > 1
        and case.input_layout == "channels_last"
        and case.weight_layout == "channels_last"
    )


def _grad_probe() -> bool:
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(1, 4, 1, 2, generator=generator, dtype=torch.float64)
    x = base.contiguous(memory_format=torch.channels_last)[0].requires_grad_()
    w0 = torch.randn(2, 2, 1, 2, generator=generator, dtype=torch.float64)
    w = w0.contiguous(memory_format=torch.channels_last).requires_grad_()
    got = torch.autograd.grad(torch.nn.functional.conv2d(x, w, stride=2, groups=2).sum(), w)[0]
    xc, wc = base[0].clone().requires_grad_(), w0.clone().requires_grad_()
    want = torch.autograd.grad(torch.nn.functional.conv2d(xc, wc, stride=2, groups=2).sum(), wc)[0]
    return not torch.allclose(got, want, rtol=1e-12, atol=1e-12)


BUGS: tuple[UpstreamBug, ...] = (
    UpstreamBug(
        "onednn-bfloat16-strided-width-one",
        "oneDNN's bfloat16 CPU convolution returns wrong values whenever stride > 1 and the output width is 1",
        _BF16_REPRO,
        "torch 2.13.0 (oneDNN CPU path), Intel Xeon with AVX512; float16/float32 and "
        "torch.backends.mkldnn.flags(enabled=False) are right",
        "matches-reference",
        _bf16_affects,
        _bf16_probe,
    ),
    UpstreamBug(
        "channels-last-one-channel-heap-corruption",
        "a float32 channels_last input with one channel corrupts the heap (free(): invalid size, SIGSEGV)",
        _HEAP_REPRO,
        "torch 2.13.0 CPU, Intel Xeon with AVX512",
        "large-input",
        _heap_affects,
        _heap_probe,
    ),
    UpstreamBug(
        "float64-weight-grad-channels-last-unbatched-groups",
        "the float64 weight gradient is wrong for an unbatched channels_last input with a channels_last "
        "weight and groups > 1",
        _GRAD_REPRO,
        "torch 2.13.0 CPU, Intel Xeon with AVX512 and AMD EPYC",
        "gradients",
        _grad_affects,
        _grad_probe,
    ),
)


@functools.cache
def present(name: str) -> bool:
    """Whether this host's torch has the bug called ``name`` (probed once per process)."""
    bug = next((b for b in BUGS if b.name == name), None)
    if bug is None:
        raise KeyError(f"no upstream bug named {name!r}; known: {[b.name for b in BUGS]}")
    return bug.probe()


def affecting(case: ConvCase) -> list[UpstreamBug]:
    """The bugs of this host's torch whose region contains ``case`` (probing only when the region matches)."""
    return [bug for bug in BUGS if bug.affects(case) and present(bug.name)]
