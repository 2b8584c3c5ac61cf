"""Which regions of known torch bugs the host's convolution was called in while a law was checked.

The gate installs a thin tracer on ``torch.nn.functional.conv2d``,
``torch.conv2d`` and their transposed twins in the processes that run targets, *before* the target is
loaded. Each call of the host's convolution — by a target that *is* torch's
(``torch.nn.functional:conv2d``), or by one that calls it inside (a grouped
kernel slicing its input per group) — is matched against the regions of
:mod:`conv2d.gate.upstream`, and the names it falls in are recorded:

* in every :func:`recording` block open at the time (the engine opens one around
  each check, so a failing case knows which regions its calls touched);
* through the callback given to :func:`install`, *before* the call runs (the
  crash-isolating runner forwards them to its parent, so a call that kills its
  process is still attributed).

The tracer changes nothing else: it calls the function it wraps with the same
arguments, and ``inspect.signature`` sees the original's signature. The gate's
own float64 reference is bound to ``torch.ops.aten`` and never passes through it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from conv2d.gate.case import Args
from conv2d.gate.upstream import regions_of

__all__ = ["call_args", "install", "is_host_kernel", "recording", "traced_target"]

_LOCK = threading.Lock()
_RECORDERS: list[set[str]] = []
_CALLBACK: list[Callable[[list[str]], None]] = []
_MARK = "__conv2d_host_kernel__"
_OWNERS: tuple[tuple[Any, str], ...] = (
    (torch.nn.functional, "conv2d"),
    (torch, "conv2d"),
    (torch.nn.functional, "conv_transpose2d"),
    (torch, "conv_transpose2d"),
)
#: Each traced operator's parameters in order, with their defaults.
_SIGNATURES: dict[str, tuple[tuple[str, Any], ...]] = {
    "conv2d": (
        ("input", None),
        ("weight", None),
        ("bias", None),
        ("stride", 1),
        ("padding", 0),
        ("dilation", 1),
        ("groups", 1),
    ),
    "conv_transpose2d": (
        ("input", None),
        ("weight", None),
        ("bias", None),
        ("stride", 1),
        ("padding", 0),
        ("output_padding", 0),
        ("groups", 1),
        ("dilation", 1),
    ),
}


def call_args(args: tuple[Any, ...], kwargs: dict[str, Any], op: str = "conv2d") -> Args | None:
    """The arguments of F.conv2d (or F.conv_transpose2d, ``op``) as an :class:`Args`, or None when they do not bind."""
    names = [name for name, _ in _SIGNATURES[op]]
    values = dict(_SIGNATURES[op])
    if len(args) > len(names) or set(kwargs) - set(names):
        return None
    values.update(zip(names, args, strict=False))
    values.update(kwargs)
    if not isinstance(values["input"], torch.Tensor) or not isinstance(values["weight"], torch.Tensor):
        return None
    return Args(**values)


def _trace(fn: Callable[..., Any], op: str = "conv2d") -> Callable[..., Any]:
    @functools.wraps(fn)
    def traced(*args: Any, **kwargs: Any) -> Any:
        call = call_args(args, kwargs, op)
        names = regions_of(call) if call is not None else []
        if names:
            with _LOCK:
                for seen in _RECORDERS:
                    seen.update(names)
            for callback in _CALLBACK:
                callback(names)
        return fn(*args, **kwargs)

    setattr(traced, _MARK, True)
    # a builtin's signature comes from its text signature; keep it visible through the wrapper
    with contextlib.suppress(TypeError, ValueError):
        traced.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return traced


def install(on_regions: Callable[[list[str]], None] | None = None) -> None:
    """Trace the host's convolution entry points in this process (idempotent); ``on_regions`` sees each match."""
    with _LOCK:
        wrapped: dict[int, Callable[..., Any]] = {}
        for owner, attr in _OWNERS:
            fn = getattr(owner, attr)
            if getattr(fn, _MARK, False):
                continue
            # F.conv2d and torch.conv2d: one object, one tracer (so too the transposed pair)
            traced = wrapped.setdefault(id(fn), _trace(fn, attr))
            setattr(owner, attr, traced)
        if on_regions is not None:
            _CALLBACK[:] = [on_regions]


def is_host_kernel(fn: object) -> bool:
    """Whether ``fn`` is the host's own convolution (traced or not): ``F.conv2d`` or ``F.conv_transpose2d``."""
    return bool(getattr(fn, _MARK, False)) or any(fn is getattr(owner, attr) for owner, attr in _OWNERS)


@contextlib.contextmanager
def recording() -> Iterator[set[str]]:
    """Collect the region names of every traced call made inside the block, from any thread."""
    seen: set[str] = set()
    with _LOCK:
        _RECORDERS.append(seen)
    try:
        yield seen
    finally:
        with _LOCK:
            _RECORDERS.remove(seen)


@contextlib.contextmanager
def traced_target(target: Any) -> Iterator[None]:
    """Trace the host's convolution for an in-process run of ``target`` (a :class:`~conv2d.gate.target.Target`).

    Installs the tracer for calls made inside the target, and for the block's duration calls a
    target that *is* the untraced host convolution through a tracer too.
    """
    install()
    original = target.fn
    if is_host_kernel(original) and not getattr(original, _MARK, False):
        target.fn = _trace(original, "conv_transpose2d" if target.kind == "conv_transpose2d" else "conv2d")
    try:
        yield
    finally:
        target.fn = original
