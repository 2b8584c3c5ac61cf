"""What the host's torch gets wrong, as data: torch bugs the gate found and host behaviours it must know.

Nothing in the gate or its test suite may assume that the host's ``F.conv2d`` is
right, or even alive. Each entry here is one thing torch's own convolution does
on some hosts, with

* a *region*: a predicate over the arguments of one call of the host's
  convolution (its tensors, their dtype, shapes and strides, and its
  parameters), true wherever the entry can show, whatever the host;
* a *probe*: a few lines of torch, run in a child process (a probe that
  crashes must not crash its caller), that tell whether *this* host has it.

Entries are of two kinds. A *bug* is wrong: a crash or a wrong value. A
*behaviour* is a platform choice the contract tolerates in some dtypes and not
in others (flushing subnormals to zero). When the gate verifies the host's own
convolution, a failure or crash whose calls touched the region of an entry this
host has is labelled with the entry's name and counted apart, so a user sees at
once what is new (:mod:`conv2d.gate.hostcalls` records the regions touched).
The run still fails: known is not fixed.

Probes run once per host: the first caller runs them all, in parallel child
processes, and writes the facts to a file named in ``CONV2D_HOST_FACTS``, which
every process it starts (gate workers, test workers) inherits and reads.

    python scripts/upstream_bugs.py     # probes this host and prints each entry's status
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch

from conv2d.gate.case import Args, as_pair, output_size
from conv2d.gate.vocabulary import DTYPES

__all__ = [
    "BUGS",
    "FACTS_VARIABLE",
    "README_SECTION",
    "UpstreamBug",
    "entry",
    "facts",
    "present",
    "regions_of",
]

#: The environment variable naming the file that holds this host's probed facts.
FACTS_VARIABLE = "CONV2D_HOST_FACTS"
#: Where the README lists these entries.
README_SECTION = "README: Bugs found in real implementations"
_PROBE_TIMEOUT = 120.0
#: Every probe runs after ``import conv2d``, which installs the hostile host where it is asked for.
_PRELUDE = "import conv2d, torch, torch.nn.functional as F\ntorch.manual_seed(0)\n"


@dataclasses.dataclass(frozen=True)
class UpstreamBug:
    """One thing torch's own convolution does wrong (or differently) on some hosts.

    Attributes:
        name: a short identifier.
        summary: what goes wrong, in one sentence.
        reproducer: a few lines of torch that show it.
        found: where it was found (torch version, CPU).
        law: the gate property that catches it.
        region: the region in words, and how it was measured.
        affects: whether one call's arguments lie in the region (true regardless of the host).
        probe: Python source run in a child process after ``import conv2d, torch``; it prints
            ``present`` or ``absent``. For a crash (``crash=True``), the child dying is ``present``.
        crash: the bug kills the process.
        kind: ``"bug"`` or ``"behaviour"`` (a platform choice, such as flushing subnormals).
        op: the torch operator it is in: ``"conv2d"`` or ``"conv_transpose2d"``.
    """

    name: str
    summary: str
    reproducer: str
    found: str
    law: str
    region: str
    affects: Callable[[Args], bool]
    probe: str
    crash: bool = False
    kind: Literal["bug", "behaviour"] = "bug"
    op: Literal["conv2d", "conv_transpose2d"] = "conv2d"

    @property
    def command(self) -> str:
        """The gate command that looks for it."""
        kind = "" if self.op == "conv2d" else f" --kind {self.op}"
        return f"python -m conv2d verify torch.nn.functional:{self.op}{kind} --property {self.law}"


# -- region helpers: each takes one call's arguments as F.conv2d received them -------------------------------
def _dtype(call: Args) -> torch.dtype | None:
    return call.input.dtype if isinstance(call.input, torch.Tensor) else None


def _out_width(call: Args) -> int:
    x, w = call.input, call.weight
    kernel = (int(w.shape[-2]), int(w.shape[-1]))
    return output_size(
        (int(x.shape[-2]), int(x.shape[-1])),
        kernel,
        _pair(call.stride),
        call.padding if isinstance(call.padding, str) else _pair(call.padding),
        _pair(call.dilation),
    )[1]


def _pair(value: object) -> tuple[int, int]:
    if isinstance(value, list | tuple):
        return (int(value[0]), int(value[-1]))
    return as_pair(int(value))  # type: ignore[call-overload]


def _has_subnormals(t: torch.Tensor) -> bool:
    tiny = torch.finfo(t.dtype).tiny
    return bool(((t != 0) & (t.abs() < tiny)).any())


# -- the entries -----------------------------------------------------------------------------------------------
_BF16_STRIDED = UpstreamBug(
    "onednn-bfloat16-strided-width-one",
    "oneDNN's bfloat16 CPU convolution returns wrong values whenever stride > 1 and the output width is 1",
    """\
import torch, torch.nn.functional as F
x = torch.randn(1, 1, 15, 4).bfloat16(); w = torch.randn(1, 1, 3, 4).bfloat16()
exact = F.conv2d(x.double(), w.double(), stride=2)
print((F.conv2d(x, w, stride=2).double() - exact).abs().max())  # ~1 where bfloat16 rounding gives ~0.01""",
    "torch 2.13.0 (oneDNN CPU path), Intel Xeon with AVX512 and Intel Xeon with AMX; float16/float32 and "
    "torch.backends.mkldnn.flags(enabled=False) are right",
    "matches-reference",
    "bfloat16, a stride above 1 on either axis, and an output one column wide (146 of 146 small "
    "configurations tried on the Intel Xeon)",
    lambda call: _dtype(call) == torch.bfloat16 and max(_pair(call.stride)) > 1 and _out_width(call) == 1,
    """\
x = torch.randn(1, 1, 15, 4).bfloat16(); w = torch.randn(1, 1, 3, 4).bfloat16()
exact = torch.ops.aten.convolution.default(x.double(), w.double(), None, [2, 2], [0, 0], [1, 1], False, [0, 0], 1)
scale = torch.ops.aten.convolution.default(
    x.double().abs(), w.double().abs(), None, [2, 2], [0, 0], [1, 1], False, [0, 0], 1)
bad = ((F.conv2d(x, w, stride=2).double() - exact).abs() > 8 * 2.0**-8 * scale + 1e-6).any()
print("present" if bad else "absent")""",
)

_HEAP = UpstreamBug(
    "channels-last-one-channel-heap-corruption",
    "a float32 channels_last input with one channel corrupts the heap (free(): invalid size, SIGSEGV)",
    """\
import torch, torch.nn.functional as F
x = torch.randn(3, 1, 184, 129).contiguous(memory_format=torch.channels_last)
w = torch.randn(8, 1, 1, 3)
for _ in range(20):
    F.conv2d(x, w, stride=(2, 1), padding=1)  # free(): invalid size / SIGSEGV, not on every run""",
    "torch 2.13.0 CPU, Intel Xeon with AVX512",
    "large-input",
    "float32, a 4-D input with one channel stored channels_last (its channel stride 1), as reported",
    lambda call: (
        _dtype(call) == torch.float32
        and call.input.dim() == 4
        and call.input.shape[1] == 1
        and call.input.shape[2] * call.input.shape[3] > 1
        and call.input.stride(1) == 1
        and call.input.is_contiguous(memory_format=torch.channels_last)
    ),
    """\
x = torch.randn(3, 1, 184, 129).contiguous(memory_format=torch.channels_last)
w = torch.randn(8, 1, 1, 3)
for _ in range(20):
    F.conv2d(x, w, stride=(2, 1), padding=1)
print("absent")""",
    crash=True,
)

_GRAD64 = UpstreamBug(
    "float64-weight-grad-channels-last-unbatched-groups",
    "the float64 weight gradient is wrong for an unbatched channels_last input with a channels_last "
    "weight and groups > 1",
    """\
import torch, torch.nn.functional as F
x = torch.randn(1, 4, 1, 2, dtype=torch.float64).contiguous(memory_format=torch.channels_last)[0]
w = torch.randn(2, 2, 1, 2, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
g = [t.requires_grad_() for t in (x, w)]
gw = torch.autograd.grad(F.conv2d(x, w, stride=2, groups=2).sum(), w)[0]
gw_ref = torch.autograd.grad(F.conv2d(x.contiguous(), w.contiguous(), stride=2, groups=2).sum(), w)[0]
print((gw - gw_ref).abs().max())  # far from 0""",
    "torch 2.13.0 CPU, Intel Xeon with AVX512 and AMD EPYC",
    "gradients",
    "float64, an unbatched (3-D) input stored channels_last, a channels_last weight and groups > 1 "
    "(84 small configurations; right when either tensor is contiguous)",
    lambda call: (
        _dtype(call) == torch.float64
        and call.input.dim() == 3
        and call.groups > 1
        and call.input.shape[0] > 1
        and call.input.stride(0) == 1
        and call.weight.dim() == 4
        and call.weight.is_contiguous(memory_format=torch.channels_last)
        and not call.weight.is_contiguous()
    ),
    """\
base = torch.randn(1, 4, 1, 2, dtype=torch.float64)
x = base.contiguous(memory_format=torch.channels_last)[0].requires_grad_()
w0 = torch.randn(2, 2, 1, 2, dtype=torch.float64)
w = w0.contiguous(memory_format=torch.channels_last).requires_grad_()
got = torch.autograd.grad(F.conv2d(x, w, stride=2, groups=2).sum(), w)[0]
xc, wc = base[0].clone().requires_grad_(), w0.clone().requires_grad_()
want = torch.autograd.grad(F.conv2d(xc, wc, stride=2, groups=2).sum(), wc)[0]
print("absent" if torch.allclose(got, want, rtol=1e-12, atol=1e-12) else "present")""",
)

_BF16_DILATED = UpstreamBug(
    "bfloat16-dilated-segfault",
    "a bfloat16 convolution with dilation > 1 segfaults, every time, on contiguous inputs",
    """\
import torch, torch.nn.functional as F
x = torch.randn(2, 32, 1, 7, dtype=torch.bfloat16); w = torch.randn(16, 4, 2, 2, dtype=torch.bfloat16)
F.conv2d(x, w, stride=(2, 1), padding=(2, 1), dilation=(3, 1), groups=8)  # SIGSEGV""",
    "torch 2.13.0 CPU, Intel Xeon with AMX (avx512_bf16, amx_bf16, amx_tile, avx512_fp16); also with "
    "groups=1 and with or without a bias; float32, or dilation 1, is fine",
    "matches-reference",
    "bfloat16 with a dilation above 1 on either axis: the reported one-factor facts (groups 1 and 8, "
    "with and without bias crash; float32 and dilation 1 do not). scripts/bisect_torch_bugs.py measures "
    "the boundary on a host that has it",
    lambda call: _dtype(call) == torch.bfloat16 and max(_pair(call.dilation)) > 1,
    """\
x = torch.randn(2, 32, 1, 7, dtype=torch.bfloat16); w = torch.randn(16, 4, 2, 2, dtype=torch.bfloat16)
F.conv2d(x, w, stride=(2, 1), padding=(2, 1), dilation=(3, 1), groups=8)
print("absent")""",
    crash=True,
)


def _nhwc(t: torch.Tensor) -> bool:
    """Whether torch takes its channels_last path for ``t`` (c10's ``is_channels_last_strides_2d``)."""
    if t.dim() != 4 or t.stride(1) == 0:
        return False
    low = 0
    for d in (1, 3, 2, 0):
        if t.shape[d] == 0 or t.stride(d) < low or (d == 0 and low == t.stride(1)):
            return False
        low = t.stride(d) * max(t.shape[d], 1)
    return True


def _slice_region(call: Args) -> bool:
    """The region scripts/bisect_torch_bugs.py measured (AMD EPYC Zen 4, torch 2.13.0): see the entry."""
    x, w = call.input, call.weight
    if (
        x.dim() != 4
        or _dtype(call) not in (torch.float32, torch.bfloat16)
        or not torch.backends.mkldnn.enabled
    ):
        return False
    (n, c, h, _width), (kh, kw) = x.shape, w.shape[-2:]
    (sh, sw), (dh, dw) = _pair(call.stride), _pair(call.dilation)
    if isinstance(call.padding, str):
        return (
            False  # "same" and "valid" never reach the one-column output the region needs with these kernels
        )
    ph, _ = _pair(call.padding)
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    if x.dtype == torch.float32:  # one channel, and torch's rule for sending float32 to oneDNN
        channels = c == 1 and call.groups == 1 and (n > 1 or (kh > 3 and kw > 3) or x.numel() > 20480)
    else:
        channels = c == call.groups and (call.groups == 1 or w.shape[0] != call.groups)
    return (
        channels
        and (_nhwc(x) or _nhwc(w))
        and sh == 1 < sw
        and _out_width(call) == 1
        and oh >= 2
        and kw >= 2
        and dw == 1
        and not (kh == 1 and ph > 0)
    )


_SLICE = UpstreamBug(
    "float32-channels-last-slice-wrong-values",
    "oneDNN's float32 CPU convolution returns wrong values on a one-channel slice of a channels_last batch "
    "(and bfloat16 with one input channel per group): rows after the first come from stale memory",
    """\
import torch, torch.nn.functional as F
x = torch.randn(8, 2, 3, 3).contiguous(memory_format=torch.channels_last)[:, 1:2]  # strides (18, 1, 6, 2)
w = torch.randn(1, 1, 2, 3)
print((F.conv2d(x, w, stride=(1, 2)) - F.conv2d(x.double().contiguous(), w.double(), stride=(1, 2))).abs().max())
# ~5 on values ~1; right with torch.backends.mkldnn.flags(enabled=False), with batch 1 or with stride 1""",
    "torch 2.13.0 (oneDNN CPU path), Intel Xeon with AMX and AMD EPYC (Zen 4, avx512_bf16); a correct "
    "grouped kernel that slices its input per group and calls F.conv2d inherits it",
    "matches-reference",
    "measured by scripts/bisect_torch_bugs.py (one factor at a time from the reproducer, then 300 random "
    "configurations: no miss; on AMD EPYC Zen 4 58 of 65 in-region configurations showed it, the rest ran "
    "another oneDNN kernel): float32 with one input channel sent to oneDNN (batch above 1, or a kernel above "
    "3x3, or more than 20480 elements), or bfloat16 with one input channel per group (not depthwise); the "
    "input or the weight on torch's channels_last path (channel stride 1: a channel slice of a channels_last "
    "batch, or an NHWC tensor); stride 1 down and above 1 across; one output column and at least two rows; "
    "a kernel at least 2 wide, width dilation 1, and not a one-row kernel with height padding. Every wrong "
    "result came from oneDNN's brg_conv_fwd kernel",
    _slice_region,
    """\
x = torch.randn(8, 2, 3, 3).contiguous(memory_format=torch.channels_last)[:, 1:2]
w = torch.randn(1, 1, 2, 3)
got = F.conv2d(x, w, stride=(1, 2)).double()
exact = torch.ops.aten.convolution.default(
    x.double().contiguous(), w.double(), None, [1, 2], [0, 0], [1, 1], False, [0, 0], 1)
print("present" if (got - exact).abs().max() > 1e-3 else "absent")""",
)


def _flush_entry(dtype: str, found: str, kind: Literal["bug", "behaviour"] = "behaviour") -> UpstreamBug:
    torch_dtype = DTYPES[dtype]
    return UpstreamBug(
        f"{dtype}-subnormals-flushed",
        f"the host's {dtype} convolution flushes subnormal inputs or results to zero",
        f"""\
import torch, torch.nn.functional as F
x = torch.full((1, 1, 1, 1), torch.finfo(torch.{dtype}).tiny / 4, dtype=torch.{dtype})
print(F.conv2d(x, torch.ones(1, 1, 1, 1, dtype=torch.{dtype})))  # 0 where subnormals are flushed""",
        found,
        "subnormals-kept",
        f"{dtype} calls whose input holds a subnormal number",
        lambda call: _dtype(call) == torch_dtype and _has_subnormals(call.input),
        f"""\
x = torch.full((1, 1, 1, 1), torch.finfo(torch.{dtype}).tiny / 4, dtype=torch.{dtype})
y = F.conv2d(x, torch.ones(1, 1, 1, 1, dtype=torch.{dtype}))
print("present" if float(y) == 0 else "absent")""",
        kind=kind,
    )


_HALF_TAPS = UpstreamBug(
    "half-transposed-taps-summed-in-dtype",
    "F.conv_transpose2d in float16 on the CPU, and in bfloat16 where it does not take oneDNN (an "
    "output_padding of at least the stride), sums the kernel taps that reach an output element in the "
    "half dtype, so its error grows with the kernel instead of staying within float32 accumulation",
    """\
import torch, torch.nn.functional as F
x = (torch.rand(2, 4, 9, 9) + 1).half(); w = (torch.rand(4, 3, 7, 7) + 1).half()
exact = F.conv_transpose2d(x.double(), w.double())
print(((F.conv_transpose2d(x, w).double() - exact).abs() / exact).max() / 2**-11)  # ~4.5 units of float16 rounding""",
    "torch 2.13.0 CPU (slow_conv_transpose2d, col2im in the dtype), AMD EPYC (Zen 4); bfloat16 through "
    "oneDNN is right, bfloat16 off it (oneDNN disabled, or output_padding >= stride with a dilation) is not",
    "tap-accumulation",
    "float16 transposed convolutions where more than one kernel tap reaches an output element, and bfloat16 "
    "ones with an output_padding of at least the stride on an axis (measured on positive data: float16 "
    "0.96, 2.1, 2.3, 3.4 and 4.5 units of rounding for 1x1, 2x2, 3x3, 5x5 and 7x7 kernels at stride 1; "
    "bfloat16 3.4 to 4.5 units with a 3x3 kernel, dilation 2 and output_padding 1 at stride 1, under 1 "
    "unit otherwise; float32 accumulation keeps under 1)",
    lambda call: (
        call.transposed
        and int(call.weight.shape[-2] * call.weight.shape[-1]) > 1
        and (
            _dtype(call) == torch.float16
            or (
                _dtype(call) == torch.bfloat16
                and any(o >= s for o, s in zip(_pair(call.output_padding), _pair(call.stride), strict=True))
            )
        )
    ),
    """\
x = (torch.rand(2, 4, 9, 9) + 1).half(); w = (torch.rand(4, 3, 7, 7) + 1).half()
exact = torch.ops.aten.convolution.default(x.double(), w.double(), None, [1, 1], [0, 0], [1, 1], True, [0, 0], 1)
err = ((F.conv_transpose2d(x, w).double() - exact).abs() / exact).max() / 2**-11
print("present" if err > 2 else "absent")""",
    op="conv_transpose2d",
)

_DILATION_ZERO = UpstreamBug(
    "transposed-dilation-zero-accepted",
    "F.conv_transpose2d with a 1x1 kernel accepts dilation=0 and returns a tensor in bfloat16, and in float32 "
    "with a batched input or groups > 1, where float16, float64 and the other float32 calls raise "
    "'dilation should be greater than zero'",
    """\
import torch, torch.nn.functional as F
x = torch.rand(8, 1, 1, 1); w = torch.rand(1, 1, 1, 1)
print(F.conv_transpose2d(x, w, dilation=0).shape)  # (8, 1, 1, 1); x[0] (unbatched) raises""",
    "torch 2.13.0 CPU, AMD EPYC (Zen 4); larger kernels are rejected (by oneDNN, with 'could not create a "
    "primitive descriptor' rather than a message about the dilation)",
    "invalid-transposed-input",
    "a zero dilation with a 1x1 kernel, in bfloat16, or in float32 with a 4-D input or groups > 1 (24 "
    "configurations of dtype, batch, groups and kernel measured)",
    lambda call: (
        call.transposed
        and min(_pair(call.dilation)) == 0
        and tuple(call.weight.shape[-2:]) == (1, 1)
        and (
            _dtype(call) == torch.bfloat16
            or (_dtype(call) == torch.float32 and (call.input.dim() == 4 or call.groups > 1))
        )
    ),
    """\
x = torch.rand(8, 1, 1, 1); w = torch.rand(1, 1, 1, 1)
try:
    F.conv_transpose2d(x, w, dilation=0)
    print("present")
except RuntimeError:
    print("absent")""",
    op="conv_transpose2d",
)

BUGS: tuple[UpstreamBug, ...] = (
    _BF16_STRIDED,
    _HEAP,
    _GRAD64,
    _BF16_DILATED,
    _SLICE,
    _HALF_TAPS,
    _DILATION_ZERO,
    _flush_entry(
        "bfloat16",
        "torch 2.13.0 CPU, Intel Xeon with AMX and AMD EPYC (Zen 4, avx512_bf16): bfloat16 kernels and GEMMs "
        "treat denormals as zero; a platform behaviour, noted and not failed in half precision",
    ),
    _flush_entry(
        "float16",
        "GPU fast paths, which commonly flush float16 denormals; a platform behaviour, noted and not failed in half "
        "precision",
    ),
    _flush_entry(
        "float32",
        "kernels built or run with flush-to-zero / denormals-are-zero (torch.set_flush_denormal(True) on x86); "
        "a failure in float32, where the contract keeps subnormals",
    ),
)

_BY_NAME = {bug.name: bug for bug in BUGS}


def entry(name: str) -> UpstreamBug:
    """The entry called ``name``."""
    if name not in _BY_NAME:
        raise KeyError(f"no upstream entry named {name!r}; known: {sorted(_BY_NAME)}")
    return _BY_NAME[name]


def regions_of(call: Args) -> list[str]:
    """The names of the entries whose region contains this call of the host's convolution."""
    names = []
    op = "conv_transpose2d" if call.transposed else "conv2d"
    for bug in BUGS:
        if bug.op != op:
            continue
        try:
            inside = bug.affects(call)
        except Exception:  # arguments the host itself rejects (the invalid-input law) lie in no region
            inside = False
        if inside:
            names.append(bug.name)
    return names


# -- probing this host -----------------------------------------------------------------------------------------
def _cache_path() -> Path:
    """Where this host's facts are kept: one file per torch build, CPU, interpreter and probe set."""
    named = os.environ.get(FACTS_VARIABLE)
    if named:
        return Path(named)
    from conv2d.gate.environment import cpu_model

    key = json.dumps(
        [
            torch.__version__,
            sys.executable,
            cpu_model(),
            os.environ.get("CONV2D_HOSTILE_HOST", ""),
            [(b.name, b.probe) for b in BUGS],
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"conv2d-host-facts-{digest}.json"


def _status(bug: UpstreamBug, done: subprocess.CompletedProcess[str] | None) -> str:
    if done is None:
        return "timeout"
    words = done.stdout.split()
    if done.returncode == 0 and words and words[-1] in ("present", "absent"):
        return words[-1]
    if done.returncode < 0:
        try:
            how = signal.Signals(-done.returncode).name
        except ValueError:
            how = f"signal {-done.returncode}"
        return "present" if bug.crash else f"crashed ({how})"
    if bug.crash and done.returncode != 0:  # glibc's abort on a corrupted heap, say
        return "present"
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return f"probe failed (exit status {done.returncode}: {tail[:200]})"


_BATCH = """
import contextlib, io, json, sys
for name, code in json.loads(sys.argv[1]):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(code, {"torch": torch, "F": F})
        words = out.getvalue().split() or ["no answer"]
        print(name, words[-1], flush=True)
    except Exception as exc:
        print(name, "error:", type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "", flush=True)
"""


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": ""}
    return subprocess.Popen(
        [sys.executable, "-c", _PRELUDE + code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait(child: subprocess.Popen[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        stdout, stderr = child.communicate(timeout=_PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return None
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def _run_probes(bugs: list[UpstreamBug]) -> dict[str, str]:
    """Run the probes in child processes: one for all those that cannot crash, one for each that can.

    A child that dies anyway takes only its own answers with it: the probes it did not
    answer are run again, each in a child of its own.
    """
    calm = [b for b in bugs if not b.crash]
    batch = _spawn(_BATCH, json.dumps([(b.name, b.probe) for b in calm])) if calm else None
    alone = {b.name: _spawn(b.probe) for b in bugs if b.crash}
    out: dict[str, str] = {}
    if batch is not None:
        done = _wait(batch)
        for line in (done.stdout if done is not None else "").splitlines():
            name, _, status = line.partition(" ")
            if name in {b.name for b in calm}:
                out[name] = status
        for bug in calm:
            if bug.name not in out:
                out[bug.name] = _status(bug, _wait(_spawn(bug.probe)))
    for bug in bugs:
        if bug.crash:
            out[bug.name] = _status(bug, _wait(alone[bug.name]))
    return out


@functools.cache
def facts() -> dict[str, str]:
    """This host's status of every entry: ``present``, ``absent``, or why the probe gave no answer.

    Probed once per host (see the module docstring); the file's name is exported in
    ``CONV2D_HOST_FACTS`` so that child processes read the same facts instead of probing again.
    """
    path = _cache_path()
    known: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(path.read_text())
    missing = [bug for bug in BUGS if bug.name not in known]
    if missing:
        known.update(_run_probes(missing))
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(path)
    os.environ[FACTS_VARIABLE] = str(path)
    return {bug.name: known[bug.name] for bug in BUGS}


def present(name: str) -> bool:
    """Whether this host's torch has the entry called ``name`` (see :func:`facts`)."""
    return facts()[entry(name).name] == "present"
