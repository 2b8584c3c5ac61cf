"""Calls F.conv2d rejects, found by asking F.conv2d: perturb a valid call, keep what torch refuses.

:func:`candidates` perturbs every argument of a valid call in the ways a convolution
can be called wrongly — each parameter zero, negative, of the wrong length or type;
``padding='same'`` with a stride; groups that do not divide the channels; tensors of
the wrong rank, channel count, dtype or size; a bias of the wrong shape or dtype — and
:func:`rejected_calls` keeps exactly those that torch's own ``F.conv2d`` rejects.

Whether torch rejects a call is decided by :func:`rejects` on tiny tensors of the same
structure: the same ranks, channel counts, kernel sizes and parameters, zeros in
float64 on the CPU, batch cut to one and each spatial size cut to the smallest that
keeps the kernel fitting or not fitting as before (meta tensors skip checks, such as
negative padding or a bias of the wrong length, that real kernels make). The decision
is cached per structure. Tensors of mixed dtypes are decided in their own dtypes in a
child interpreter that stays up for further questions (see :func:`rejects`): the tests
forbid a non-float64 host convolution in their own process, even one torch rejects
before computing. ``F.conv2d`` is bound when this module is imported, so a target
that later replaces it cannot change the answers.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import select
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable

import torch

from conv2d.gate.case import Args

__all__ = ["CHILD_TIMEOUT", "candidates", "rejected_calls", "rejects"]

_F_CONV2D: Callable[..., torch.Tensor] = torch.nn.functional.conv2d
#: F.conv1d, F.conv2d and F.conv3d by the number of spatial axes, bound at import too.
_OPS: dict[int, Callable[..., torch.Tensor]] = {
    1: torch.nn.functional.conv1d,
    2: _F_CONV2D,
    3: torch.nn.functional.conv3d,
}
#: Seconds the child interpreter may take to start and answer one question.
CHILD_TIMEOUT = 120.0
#: The child: reads one call structure per line (JSON), answers whether F.conv2d rejects it.
_CHILD = """
import json, sys, warnings
import torch

warnings.simplefilter("ignore")


def thaw(frozen):
    kind, value = frozen
    if kind in ("tuple", "list"):
        items = [thaw(v) for v in value]
        return tuple(items) if kind == "tuple" else items
    return value


def rejects(q, threads, channels_last):
    torch.set_num_threads(threads)
    tensors = []
    for shape, dtype in zip(q["shapes"], q["dtypes"]):
        t = None if shape is None else torch.zeros(*shape, dtype=getattr(torch, dtype), device=q["device"])
        if channels_last and t is not None and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        tensors.append(t)
    try:
        op = getattr(torch.nn.functional, "conv%dd" % q.get("rank", 2))
        op(*tensors, *[thaw(p) for p in q["params"]])
    except Exception:
        return True
    return False


threads = sorted({1, torch.get_num_threads()})
for line in sys.stdin:
    q = json.loads(line)
    verdict = all(rejects(q, n, layout) for n in threads for layout in (False, True))
    print("true" if verdict else "false", flush=True)
"""


def _axes(value: object, rank: int = 2) -> tuple[object, ...]:
    """A parameter per spatial axis: ``3`` -> ``(3,) * rank``, ``(2,)`` -> ``(2,) * rank``; other lengths -> Nones."""
    if isinstance(value, tuple | list):
        if len(value) == 1:
            return (value[0],) * rank
        return tuple(value) if len(value) == rank else (None,) * rank
    return (value,) * rank


#: How the candidates name a tuple of one, two, three or four numbers.
_COUNT = {1: "one number", 2: "two numbers", 3: "three numbers", 4: "four numbers"}


def _last_zero(value: object, rank: int, zero: int) -> tuple[object, ...]:
    """The parameter per axis with its last (width) entry replaced by ``zero``."""
    head = _axes(value, rank)[:-1] if not isinstance(value, str) else (0,) * (rank - 1)
    return (*head, zero)


def _parameter_candidates(args: Args, rank: int = 2) -> list[tuple[str, Args]]:
    """Each of stride, padding, dilation: zero, negative, of the wrong length or type."""
    longer = (1,) * (rank + 1)
    out = [
        ("stride 0", args.replace(stride=0)),
        ("a negative stride", args.replace(stride=-1)),
        ("stride 0 along the width", args.replace(stride=_last_zero(args.stride, rank, 0))),
        (f"a stride of {_COUNT[rank + 1]}", args.replace(stride=longer)),
        ("a stride of 1.5, not an integer", args.replace(stride=1.5)),
        ("a stride given as a string", args.replace(stride="1")),
        ("negative padding", args.replace(padding=-1)),
        ("negative padding along the width", args.replace(padding=_last_zero(args.padding, rank, -1))),
        (f"a padding of {_COUNT[rank + 1]}", args.replace(padding=(0,) * (rank + 1))),
        ("the unknown padding string 'full'", args.replace(padding="full")),
        ("padding 'SAME' (torch's strings are lower-case)", args.replace(padding="SAME")),
        ("a padding of 1.5, not an integer", args.replace(padding=1.5)),
        ("padding None", args.replace(padding=None)),
        ("dilation 0", args.replace(dilation=0)),
        ("a negative dilation", args.replace(dilation=-1)),
        ("dilation 0 along the width", args.replace(dilation=_last_zero(args.dilation, rank, 0))),
        (f"a dilation of {_COUNT[rank + 1]}", args.replace(dilation=longer)),
        ("a dilation of 1.5, not an integer", args.replace(dilation=1.5)),
    ]
    if args.padding == "same":
        out.append(("stride 2 with padding='same'", args.replace(stride=2)))
    else:
        out.append(("padding='same' with stride 2", args.replace(padding="same", stride=2)))
    return out


def _groups_candidates(args: Args, rank: int = 2) -> list[tuple[str, Args]]:
    """groups 0, negative, not an integer, not dividing the channels, not matching the weight."""
    g, cin, cout = args.groups, args.input.shape[-rank - 1], args.weight.shape[0]
    out = [
        ("groups=0", args.replace(groups=0)),
        ("negative groups", args.replace(groups=-1)),
        ("groups=1.5, not an integer", args.replace(groups=1.5)),
    ]
    if cin % (g + 1) or cout % (g + 1):
        out.append((f"groups={g + 1}, which does not divide the channels", args.replace(groups=g + 1)))
    other = next((k for k in range(1, cin + 1) if k != g and cin % k == 0 and cout % k == 0), None)
    if other is not None:
        out.append(
            (
                f"groups={other}, which does not match the weight's {args.weight.shape[1]} input channels per group",
                args.replace(groups=other),
            )
        )
    return out


def _input_candidates(args: Args, rank: int = 2) -> list[tuple[str, Args]]:
    """Inputs of the wrong rank, channel count or size, and a kernel larger than the padded input."""
    x, w, g = args.input, args.weight, args.groups
    channel, first = -rank - 1, -rank  # the channel axis and the first spatial axis (the height in 2-D)
    cin = x.shape[channel]
    lower = x.new_zeros(x.shape[first:]) if x.dim() == rank + 2 else x[0]
    out = [
        (f"an input of rank {x.dim() + 1}", args.replace(input=x.unsqueeze(0))),
        (f"an input of rank {lower.dim()}", args.replace(input=lower)),
        (
            f"an input with {cin + g} channels for a weight expecting {cin}",
            args.replace(input=torch.cat([x, x.narrow(channel, 0, g)], dim=channel)),
        ),
        (
            "an input of height 0" if rank > 1 else "an input of length 0",
            args.replace(input=x.narrow(first, 0, 0)),
        ),
        (
            "a kernel larger than the padded input",
            args.replace(
                weight=w.new_zeros(*w.shape[:first], x.shape[first] + 1, *w.shape[first + 1 :]),
                padding=0,
                dilation=1,
            ),
        ),
    ]
    if x.dim() == rank + 1:
        out.append((f"an input of rank {rank + 3}", args.replace(input=x[None, None])))
    if cin > g:
        out.append(
            (
                f"an input with {cin - g} channels for a weight expecting {cin}",
                args.replace(input=x.narrow(channel, 0, cin - g)),
            )
        )
    return out


def _weight_candidates(args: Args, rank: int = 2) -> list[tuple[str, Args]]:
    """Weights of the wrong rank, channel counts or kernel size."""
    w, b, g = args.weight, args.bias, args.groups
    cout = w.shape[0]
    wider = torch.cat([w, w[:1]])
    return [
        (f"a weight of rank {rank + 1}", args.replace(weight=w[:, 0])),
        (f"a weight of rank {rank + 3}", args.replace(weight=w[None])),
        (f"a weight of rank {rank}", args.replace(weight=w[:, 0, 0])),
        ("a weight with 0 output channels", args.replace(weight=w[:0], bias=None if b is None else b[:0])),
        (
            f"a weight with {cout + 1} output channels, not divisible by groups={g}",
            args.replace(weight=wider, bias=None if b is None else torch.cat([b, b[:1]])),
        ),
        (
            f"a weight with {w.shape[1] + 1} input channels per group for an input with {w.shape[1]}",
            args.replace(weight=torch.cat([w, w[:, :1]], dim=1)),
        ),
        (
            "a kernel of height 0" if rank > 1 else "a kernel of length 0",
            args.replace(weight=w.narrow(-rank, 0, 0)),
        ),
    ]


def _bias_and_dtype_candidates(args: Args) -> list[tuple[str, Args]]:
    """A bias of the wrong length, rank or dtype; a weight of another dtype than the input."""
    w, dtype = args.weight, args.input.dtype
    cout = w.shape[0]
    b = args.bias if args.bias is not None else w.new_zeros(cout)
    other = torch.float32 if dtype != torch.float32 else torch.float64
    out = [
        (f"a bias of length {cout + 1} for {cout} output channels", args.replace(bias=torch.cat([b, b[:1]]))),
        ("a bias of rank 2", args.replace(bias=b[:, None])),
        ("a bias of rank 0", args.replace(bias=b[0])),
        (f"a bias of dtype {other} for an input of {dtype}", args.replace(bias=b.to(other))),
        (f"a weight of dtype {other} for an input of {dtype}", args.replace(weight=w.to(other))),
    ]
    if cout > 1:
        out.append(
            (f"a bias of length {cout - 1} for {cout} output channels", args.replace(bias=b[: cout - 1]))
        )
    return out


def candidates(args: Args, rank: int = 2) -> list[tuple[str, Args]]:
    """Perturbations of the valid call ``args`` of a convolution with ``rank`` spatial axes, each with
    what is wrong about it (torch may accept some)."""
    return [
        *_parameter_candidates(args, rank),
        *_groups_candidates(args, rank),
        *_input_candidates(args, rank),
        *_weight_candidates(args, rank),
        *_bias_and_dtype_candidates(args),
    ]


def _frozen(value: object) -> object:
    """A hashable form that keeps the type: ``1``, ``1.0``, ``True`` and ``(1,)`` stay distinct."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    return (type(value).__name__, value)


def _spatial(size: int, kernel: int, dilation: object, padding: object) -> int:
    """A size at most ``size`` on the same side of the smallest size the dilated kernel fits in."""
    if padding == "same" or padding == "valid":
        pads = 0 if padding == "valid" else None
    else:
        pads = 2 * padding if isinstance(padding, int) and not isinstance(padding, bool) else -1
    if not isinstance(dilation, int) or isinstance(dilation, bool) or pads == -1:
        return size  # a parameter torch refuses anyway: keep the size
    need = 1 if pads is None else dilation * (kernel - 1) + 1 - pads
    return min(size, max(need, 1))


def _shape(args: Args, rank: int) -> tuple[int, ...]:
    """The input's shape cut down: batch at most one, each spatial size as small as keeps its verdict."""
    x, w = args.input, args.weight
    shape = list(x.shape)
    if x.dim() == rank + 2:
        shape[0] = min(shape[0], 1)
    if x.dim() >= rank and w.dim() >= rank:
        dilation = _axes(args.dilation, rank)
        padding = _axes(args.padding, rank) if not isinstance(args.padding, str) else (args.padding,) * rank
        for i, axis in enumerate(range(-rank, 0)):
            shape[axis] = _spatial(shape[axis], w.shape[axis], dilation[i], padding[i])
    return tuple(shape)


def _structure(args: Args, rank: int, *, reduced: bool = True) -> tuple[object, ...]:
    """The op's rank, shapes and parameters: all that decides whether it accepts a call of one dtype."""
    bias = None if args.bias is None else tuple(args.bias.shape)
    shape = _shape(args, rank) if reduced else tuple(args.input.shape)
    return (rank, shape, tuple(args.weight.shape), bias, *(_frozen(v) for v in args.params().values()))


@functools.lru_cache(maxsize=4096)
def _rejects_structure(structure: tuple[object, ...]) -> bool:
    rank, shape, weight, bias, *params = structure

    def zeros(s: object) -> torch.Tensor:
        return torch.zeros(*s, dtype=torch.float64)  # type: ignore[misc]

    thaw = [_thawed(p) for p in params]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # padding='same' with an even kernel warns
            _OPS[rank](zeros(shape), zeros(weight), None if bias is None else zeros(bias), *thaw)  # type: ignore[index]
    except Exception:  # every way torch refuses a call is a rejection
        return True
    return False


def _thawed(frozen: object) -> object:
    """The value :func:`_frozen` froze."""
    kind, value = frozen if isinstance(frozen, tuple) else ("", frozen)
    if kind in ("tuple", "list"):
        items = [_thawed(v) for v in value]
        return tuple(items) if kind == "tuple" else items
    return value


class _Child:
    """A child interpreter that answers, one structure at a time, whether F.conv2d rejects it."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.pid = 0
        self.lock = threading.Lock()

    def _started(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None or self.pid != os.getpid():
            self.process = subprocess.Popen(
                [sys.executable, "-c", _CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            self.pid = os.getpid()  # a forked process must not share its parent's pipes
            atexit.register(self.close)
        return self.process

    def close(self) -> None:
        """End the child: it stops when its input closes."""
        process, self.process = self.process, None
        if process is None or self.pid != os.getpid():
            return
        try:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()

    def ask(self, question: str) -> bool | None:
        """The child's answer; ``False`` when it died answering (it got as far as computing: torch
        accepted the call), ``None`` when it gave no answer in time."""
        with self.lock:
            process = self._started()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(question + "\n")
                process.stdin.flush()
            except OSError:
                self.process = None
                return False
            ready, _, _ = select.select([process.stdout], [], [], CHILD_TIMEOUT)
            line = process.stdout.readline() if ready else None
            if line is None:
                process.kill()
                self.process = None
                return None
            if not line:
                self.process = None
                return False
            return bool(json.loads(line))


_CHILD_PROCESS = _Child()


@functools.lru_cache(maxsize=4096)
def _child_rejects(structure: tuple[object, ...], dtypes: tuple[str, str, str], device: str) -> bool | None:
    rank, shape, weight, bias, *params = structure
    question = {
        "rank": rank,
        "shapes": [shape, weight, bias],
        "dtypes": dtypes,
        "device": device,
        "params": params,
    }
    return _CHILD_PROCESS.ask(json.dumps(question))


def _dtype_name(t: torch.Tensor | None) -> str:
    return "none" if t is None else str(t.dtype).removeprefix("torch.")


def rejects(args: Args, rank: int = 2) -> bool:
    """Whether F.conv2d (F.conv1d, F.conv3d for ``rank`` 1, 3) rejects the call ``args``, decided on
    tiny tensors of its structure.

    Tensors of one dtype are decided here in float64. Mixed dtypes are decided in the
    child interpreter, in their own dtypes and full shapes, with one thread and with
    all, contiguous and channels_last: torch accepts some mixtures on some of its
    backends (a float64 bias for float32 input with ``padding='valid'`` is refused by
    oneDNN only), and only a mixture every backend refuses counts as rejected. No
    answer from the child counts as accepted.
    """
    dtypes = (_dtype_name(args.input), _dtype_name(args.weight), _dtype_name(args.bias))
    if len(set(dtypes) - {"none"}) > 1:
        return bool(_child_rejects(_structure(args, rank, reduced=False), dtypes, args.input.device.type))
    return _rejects_structure(_structure(args, rank))


def rejected_calls(args: Args, rank: int = 2) -> list[tuple[str, Args]]:
    """The perturbations of the valid call ``args`` that F.conv2d (F.conv1d, F.conv3d for ``rank`` 1, 3)
    rejects, each with what is wrong about it."""
    return [(what, bad) for what, bad in candidates(args, rank) if rejects(bad, rank)]
