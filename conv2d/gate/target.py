"""The implementation under test: loading it, and calling it so that misbehaviour is a verdict.

A :class:`Target` wraps a callable. Every call runs in a worker thread with a
time limit, and whatever the callable does — raise, hang, return a list —
becomes either a :class:`Violation` (a failure of the property being checked)
or :class:`Unsupported` (it raised ``NotImplementedError``), never a crash of
the gate.
"""

from __future__ import annotations

import dataclasses
import importlib
import linecache
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from conv2d.gate.capabilities import Capabilities, capabilities_of
from conv2d.gate.case import Args, Kind
from conv2d.gate.state import changes, global_state, restore

__all__ = [
    "BUILTIN_TARGETS",
    "DEFAULT_TIMEOUT",
    "MESSAGE_LIMIT",
    "CallTimeout",
    "LoadError",
    "Target",
    "Unsupported",
    "Violation",
    "bounded",
    "load_target",
]

#: Seconds one call (forward or backward) of a target may take.
DEFAULT_TIMEOUT = 30.0

#: What ``verify`` checks when no target is named: the project's own core.
BUILTIN_TARGETS: dict[str, str] = {
    "conv2d": "conv2d.functional:conv2d",
    "corr2d": "conv2d.functional:corr2d",
    "conv_transpose2d": "conv2d.family:conv_transpose2d",
    "conv1d": "conv2d.family:conv1d",
    "conv3d": "conv2d.family:conv3d",
}


#: Longest message the gate keeps from a target (an exception, printed output); the rest is cut.
MESSAGE_LIMIT = 2000


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} ... [{len(text) - limit} more characters cut, {len(text)} in all]"


class Violation(AssertionError):
    """A property does not hold; the message says what was observed and what was expected."""


class Unsupported(Exception):
    """The target declined the configuration (it raised ``NotImplementedError`` itself)."""


class LoadError(Exception):
    """The target could not be imported or found."""


class CallTimeout(Exception):
    """A call of the target did not return within the time limit (slow is not wrong: its own status)."""


def _raised_by_target(exc: BaseException) -> bool:
    """True when the innermost frame of ``exc`` is a ``raise`` statement outside torch's own package.

    ``NotImplementedError`` is how a target declines a configuration. The same
    exception coming out of a torch operator the target called (``"bitwise_xor_cpu"
    not implemented for 'Float'``) is a defect of the target, not a decline.
    """
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    if filename.startswith(_TORCH_DIR):
        return False
    line = linecache.getline(filename, tb.tb_lineno).strip()
    return line.startswith("raise")


_TORCH_DIR = str(Path(torch.__file__).resolve().parent)


def load_target(spec: str) -> Callable[..., Any]:
    """Resolve ``"package.module:attribute"`` (the attribute may be dotted) to a callable.

    The current directory is importable, as it is for ``python -m``.
    """
    module_name, sep, attribute = spec.partition(":")
    return _resolve(spec, module_name, sep, attribute)


#: torch's convolution entry points a target's import must leave alone.
_ENTRY_POINTS: tuple[tuple[str, Any, str], ...] = (
    ("torch.nn.functional.conv2d", torch.nn.functional, "conv2d"),
    ("torch.conv2d", torch, "conv2d"),
    ("torch.nn.functional.conv_transpose2d", torch.nn.functional, "conv_transpose2d"),
    ("torch.nn.Conv2d.forward", torch.nn.Conv2d, "forward"),
    ("torch.nn.functional.unfold", torch.nn.functional, "unfold"),
)


def replaced_entry_points(before: dict[str, Any]) -> list[str]:
    """The entry points whose object differs from the snapshot ``before`` (see :func:`entry_points`)."""
    return [name for name, owner, attr in _ENTRY_POINTS if getattr(owner, attr, None) is not before.get(name)]


def entry_points() -> dict[str, Any]:
    """A snapshot of torch's convolution entry points, to compare after importing a target."""
    return {name: getattr(owner, attr, None) for name, owner, attr in _ENTRY_POINTS}


def _resolve(spec: str, module_name: str, sep: str, attribute: str) -> Callable[..., Any]:
    if not sep or not module_name or not attribute:
        raise LoadError(f"target {spec!r} is not of the form 'package.module:function'")
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may fail in any way while importing
        raise LoadError(
            f"cannot import module {module_name!r} for target {spec!r}: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LoadError(
                f"module {module_name!r} has no attribute {attribute!r} (target {spec!r})"
            ) from None
    if not callable(obj):
        raise LoadError(f"target {spec!r} is a {type(obj).__name__}, not a callable")
    return obj


@dataclasses.dataclass
class Target:
    """A callable under test, with its kind, declared capabilities and a per-call time limit.

    Attributes:
        fn: the callable.
        name: how reports name it (``"module:function"``).
        kind: ``"conv2d"`` for F.conv2d's signature, ``"corr2d"`` for ``corr2d(X, K)``,
            ``"conv_transpose2d"`` for F.conv_transpose2d's, ``"conv1d"`` and ``"conv3d"`` for F.conv1d's
            and F.conv3d's.
        timeout: seconds one call (forward or backward) may take before it counts as timed out.
        spec: the ``"module:attribute"`` it was loaded from (``None`` for a callable given
            directly): a target with a spec can be run in worker processes.
        on_call: called with a description before every call of the target and with
            ``None`` after it returns (the crash-isolating runner reports calls with it).
        replaced: torch convolution entry points that importing the target replaced.
    """

    fn: Callable[..., Any]
    name: str
    kind: Kind = "conv2d"
    timeout: float = DEFAULT_TIMEOUT
    spec: str | None = None
    capabilities: Capabilities = dataclasses.field(init=False)
    hung: str | None = dataclasses.field(default=None, init=False)
    on_call: Callable[[str | None], None] | None = dataclasses.field(default=None, init=False, repr=False)
    replaced: list[str] = dataclasses.field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.capabilities = capabilities_of(self.fn)
        if self.kind == "corr2d":
            # a corr2d has no stride, padding, dilation, groups, bias or batch to claim
            self.capabilities = dataclasses.replace(
                self.capabilities,
                stride=False,
                dilation=False,
                groups=False,
                bias=False,
                unbatched=False,
                padding=(),
            )
        if self.kind == "conv_transpose2d":  # F.conv_transpose2d takes no padding string
            self.capabilities = dataclasses.replace(
                self.capabilities, padding=tuple(p for p in self.capabilities.padding if p in ("int", "pair"))
            )

    @classmethod
    def load(cls, spec: str | None, *, kind: Kind = "conv2d", timeout: float = DEFAULT_TIMEOUT) -> Target:
        """Load ``spec`` (``None`` for the built-in core of this kind), noting torch entry points its import replaced."""
        spec = spec or BUILTIN_TARGETS[kind]
        before = entry_points()
        target = cls(load_target(spec), spec, kind, timeout, spec)
        target.replaced = replaced_entry_points(before)
        return target

    # -- calling -----------------------------------------------------------------------------
    def _run(self, what: str, thunk: Callable[[], Any]) -> Any:
        """Run ``thunk`` in a worker thread; turn exceptions and time-outs into verdicts."""
        if self.hung:
            raise CallTimeout(f"not called: an earlier call did not return ({self.hung})")
        box: dict[str, Any] = {}
        grad_enabled = torch.is_grad_enabled()

        def work() -> None:
            try:
                with torch.set_grad_enabled(grad_enabled):
                    before = global_state()
                    try:
                        box["value"] = thunk()
                    finally:
                        after = global_state()
                        if after != before:
                            box["state"] = changes(before, after)
                            restore(before)
            except BaseException as exc:  # everything the target raises is data for the verdict
                box["error"] = exc

        if self.on_call is not None:
            self.on_call(what)
        worker = threading.Thread(target=work, name=f"conv2d-target-{what}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            self.hung = f"{what} did not return within {self.timeout:g} s"
            raise CallTimeout(f"{what} did not return within the {self.timeout:g} s time limit")
        if self.on_call is not None:
            self.on_call(None)
        if "state" in box:
            raise Violation(
                f"{what} changed torch's global state and left it changed: {'; '.join(box['state'])}"
            )
        if "error" in box:
            exc = box["error"]
            if isinstance(exc, Violation | Unsupported | CallTimeout):  # a nested call's verdict: keep it
                raise exc
            text = bounded(str(exc))
            if isinstance(exc, NotImplementedError):
                if _raised_by_target(exc):
                    raise Unsupported(f"{what} raised NotImplementedError: {text}") from exc
                raise Violation(
                    f"{what} raised NotImplementedError from inside a torch operator it called: {text} "
                    "(a torch operator that does not support these arguments is a defect of the target, "
                    "not a declined configuration; a target declines with its own raise NotImplementedError)"
                ) from exc
            raise Violation(f"{what} raised {type(exc).__name__}: {text}") from exc
        return box.get("value")

    def __call__(self, args: Args) -> torch.Tensor:
        """Call the target on ``args`` and check that it returned a tensor."""
        if self.kind == "corr2d":
            out = self._run("corr2d(X, K)", lambda: self.fn(args.input, args.weight))
        else:
            params = args.params()
            out = self._run("the call", lambda: self.fn(args.input, args.weight, args.bias, **params))
        if not isinstance(out, torch.Tensor):
            raise Violation(f"the call returned a {type(out).__name__}, but should return a torch.Tensor")
        return out

    def backward(self, output: torch.Tensor, inputs: list[torch.Tensor], grad_output: torch.Tensor) -> list:
        """``torch.autograd.grad`` through the target's graph, under the same time limit."""
        return self._run(
            "backward",
            lambda: torch.autograd.grad(output, inputs, grad_output, allow_unused=True),
        )
