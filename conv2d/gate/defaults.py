"""F.conv2d's signature as torch's schema states it, and the calls that test a target's defaults and keywords.

The reference signature is read from ``torch.ops.aten.conv2d.default._schema``:
parameter names and order, and which parameters have a default
(``Argument.has_default_value()`` tells "no default" from "default None": ``Tensor?
bias=None`` has one). The schema writes the pair parameters as lists, ``SymInt[2]
stride=[1, 1]``; :data:`DEFAULTS` holds them in the scalar form F.conv2d's
documentation and Python signature use (``stride=1``), which is the same call: torch
expands a single int to both axes. :data:`SCHEMA_DEFAULTS` keeps the schema's own
form. (The ``conv2d.padding`` overload, for string padding, defaults ``padding="valid"``:
the same as ``0``.)

:func:`omission_calls` leaves one defaulted argument out at a time and
:func:`keyword_calls` passes one argument at a time by keyword; each :class:`Call`
carries the :class:`~conv2d.gate.case.Args` whose reference is its expected result.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import torch

from conv2d.gate.case import Args, resolve_pads
from conv2d.gate.rejections import rejects

__all__ = [
    "DEFAULTS",
    "PARAMETERS",
    "REQUIRED",
    "SCHEMA_DEFAULTS",
    "Call",
    "keyword_calls",
    "omission_calls",
    "same_effect",
    "signature_differences",
]

_SCHEMA = torch.ops.aten.conv2d.default._schema
#: F.conv2d's parameters, in order, as torch's schema names them.
PARAMETERS: tuple[str, ...] = tuple(a.name for a in _SCHEMA.arguments)
#: The parameters without a default.
REQUIRED: tuple[str, ...] = tuple(a.name for a in _SCHEMA.arguments if not a.has_default_value())
#: The defaults as the schema writes them (``stride=[1, 1]``).
SCHEMA_DEFAULTS: dict[str, object] = {
    a.name: a.default_value for a in _SCHEMA.arguments if a.has_default_value()
}


def _python_form(value: object) -> object:
    """``[1, 1]`` -> ``1`` (F.conv2d's documented form); other lists become tuples."""
    if isinstance(value, list):
        return value[0] if value and all(v == value[0] for v in value) else tuple(value)
    return value


#: The defaults in F.conv2d's Python form: ``bias=None, stride=1, padding=0, dilation=1, groups=1``.
DEFAULTS: dict[str, object] = {name: _python_form(v) for name, v in SCHEMA_DEFAULTS.items()}


def _rank(args: Args | None) -> int:
    """The spatial axes of the call ``args`` (its weight's dims less two); 2 without a call."""
    return 2 if args is None else max(args.weight.dim() - 2, 1)


def _pair(value: object, rank: int = 2) -> object:
    """``v`` or ``(v,)`` -> ``(v,) * rank``; a tuple of ``rank`` as a tuple; anything else unchanged."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * rank
    if isinstance(value, tuple | list) and len(value) == 1:
        return (value[0],) * rank
    if isinstance(value, tuple | list) and len(value) == rank:
        return tuple(value)
    return value


def same_effect(name: str, a: object, b: object, args: Args | None = None) -> bool:
    """Whether values ``a`` and ``b`` of parameter ``name`` make the same call (``1`` and ``(1, 1)`` do).

    With ``args``, paddings are compared as the explicit padding they give this
    call's kernel (``"same"`` on a 1x1 kernel is ``0``); without, ``"valid"`` equals ``0``.
    """
    if name in ("input", "weight", "bias"):
        return a is b
    if name == "padding" and args is not None:
        return _explicit(a, args) == _explicit(b, args)
    if name == "padding":
        a, b = (0 if v == "valid" else v for v in (a, b))
    return _pair(a, _rank(args)) == _pair(b, _rank(args))


def _explicit(padding: object, args: Args) -> object:
    """``padding`` as the (before, after) per axis it gives ``args``'s kernel; itself if it is not a padding."""
    rank = _rank(args)
    kernel = tuple(args.weight.shape[-rank:])
    try:
        return resolve_pads(_pair(padding, rank), kernel, _pair(args.dilation, rank))  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError):
        return padding


@dataclasses.dataclass(frozen=True, eq=False)
class Call:
    """One way to call a target, and the arguments whose reference is its expected result.

    Attributes:
        what: what the call tests ("dilation omitted (default 1)").
        positional: the positional arguments.
        keywords: the keyword arguments.
        expected: the call whose reference result this call must give.
    """

    what: str
    positional: tuple[object, ...]
    keywords: dict[str, object]
    expected: Args

    def __call__(self, fn: Callable[..., object]) -> object:
        """Call ``fn`` this way."""
        return fn(*self.positional, **self.keywords)

    def code(self, name: str = "conv2d") -> str:
        """The call as source: tensors by their parameter's name, other values by repr."""
        names = PARAMETERS[: len(self.positional)]
        shown = [
            p if isinstance(v, torch.Tensor) else repr(v) for p, v in zip(names, self.positional, strict=True)
        ]
        shown += [f"{k}={k if isinstance(v, torch.Tensor) else repr(v)}" for k, v in self.keywords.items()]
        return f"{name}({', '.join(shown)})"


def _values(args: Args) -> dict[str, object]:
    return {"input": args.input, "weight": args.weight, "bias": args.bias, **args.params()}


def omission_calls(args: Args, *, only_changed: bool = False) -> list[Call]:
    """For each defaulted parameter, the call without it (the tensors positional, the rest by keyword).

    The expected result is that of ``args`` with the parameter set to its default; an
    omission whose defaulted call F.conv2d rejects (groups omitted when ``groups > 1``) is
    left out. A call whose value equals the default tests the default too: a target
    with another default computes something else. ``only_changed`` keeps only the
    omissions that change the expected result (the value differs from the default).
    """
    values, out = _values(args), []
    for name, default in DEFAULTS.items():
        expected = args.replace(**{name: default})
        if rejects(expected, _rank(args)):
            continue
        changed = not same_effect(name, values[name], default, args)
        if name == "bias":
            changed = args.bias is not None and bool(args.bias.ne(0).any())
        if only_changed and not changed:
            continue
        keywords = {k: v for k, v in values.items() if k not in (*REQUIRED, name)}
        what = f"{name} omitted (default {default!r}{'' if changed else ', the value the call has'})"
        out.append(Call(what, (args.input, args.weight), keywords, expected))
    return out


def keyword_calls(args: Args) -> list[Call]:
    """For each parameter, the call with it by keyword and the ones before it positional.

    The parameters after it are left out where their value has its default's effect
    (so the keyword is tested alone) and passed by keyword otherwise.
    """
    values, out = _values(args), []
    for i, name in enumerate(PARAMETERS):
        later = PARAMETERS[i + 1 :]
        kept = [k for k in later if not (k in DEFAULTS and same_effect(k, values[k], DEFAULTS[k], args))]
        keywords = {name: values[name], **{k: values[k] for k in later if k in kept}}
        left_out = [k for k in later if k not in kept]
        what = f"{name} by keyword" + (f", {', '.join(kept)} too" if kept else "")
        what += f" ({', '.join(left_out)} omitted: the call has their defaults)" if left_out else ""
        out.append(Call(what, tuple(values[k] for k in PARAMETERS[:i]), keywords, args))
    return out


def signature_differences(fn: Callable[..., object]) -> list[str]:
    """How ``fn``'s signature differs from the schema's in names, order and defaults (empty: it does not,
    or it cannot be read, or it takes ``*args``/``**kwargs``)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return []
    names, out = [p.name for p in params], []
    if names[: len(PARAMETERS)] != list(PARAMETERS):
        out.append(f"parameters are {names}, but F.conv2d's are {list(PARAMETERS)}")
    for p in params:
        if p.name not in DEFAULTS:
            continue
        if p.default is inspect.Parameter.empty:
            out.append(f"{p.name} has no default, but F.conv2d's is {DEFAULTS[p.name]!r}")
        elif not same_effect(p.name, p.default, DEFAULTS[p.name]):
            out.append(f"default {p.name}={p.default!r}, but F.conv2d's is {DEFAULTS[p.name]!r}")
    return out
