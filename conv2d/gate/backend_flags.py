"""Where torch keeps its backend flags: every flag of ``torch.backends``, found by looking, not by listing.

:func:`backend_flags` walks ``torch.backends``, each of its public submodules and
``torch.utils.deterministic``, and returns each flag with how to read and write it:

* settable descriptors of the module's class (``cudnn.benchmark``, ``quantized.engine``,
  ``utils.deterministic.fill_uninitialized_memory``) and plain lower-case module
  attributes (``opt_einsum.enabled``);
* the attributes of flag objects defined in ``torch.backends`` (``cuda.matmul``,
  ``cudnn.conv``): their settable descriptors and the names their ``__getattr__`` answers,
  read from its source;
* function pairs ``set_X``/``get_X``, ``enable_X``/``X_enabled``, ``allow_X``/``X_allowed``,
  functions ``preferred_X(backend=None)`` that read when called bare, and a
  ``set_flags(_enabled)`` with no reader (read by setting and putting back the old value).

A flag is kept when it holds a bool, int, str, dtype or enumeration; everything else
found is recorded, with why, in the ``excluded`` dictionary the caller passes.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import pkgutil
import textwrap
import types
from collections.abc import Callable

import torch

__all__ = ["HAND_EXCLUDED", "Flag", "backend_flags"]

#: Found in torch.backends and excluded by hand, with why.
HAND_EXCLUDED: dict[str, str] = {
    "torch.backends.cuda.cufft_plan_cache": (
        "per CUDA device (cufft_plan_cache[i].max_size): a plan cache's capacity, changes no result"
    ),
    "torch.backends.python_native": (
        "per-DSL and per-operator overrides by Python DSL kernels (triton, cutedsl), switched by methods "
        "and controllers made on demand, not by flags"
    ),
}
_PAIR_FORMS = (("set_", "get_{}"), ("enable_", "{}_enabled"), ("allow_", "{}_allowed"))


@dataclasses.dataclass(frozen=True)
class Flag:
    """One backend flag: its name, how to read and write it, the key its canary is chosen by, its value now."""

    name: str
    getter: Callable[[], object]
    setter: Callable[..., object]
    key: str
    value: object


def _flag_modules(excluded: dict[str, str]) -> list[tuple[str, types.ModuleType]]:
    """torch.backends, its public submodules and torch.utils.deterministic."""
    out: list[tuple[str, types.ModuleType]] = [("torch.backends", torch.backends)]
    for info in sorted(pkgutil.iter_modules(getattr(torch.backends, "__path__", [])), key=lambda i: i.name):
        if info.name.startswith("_"):  # private (_coreml, _nnapi): no user-facing settings
            continue
        name = f"torch.backends.{info.name}"
        try:
            out.append((name, importlib.import_module(name)))
        except Exception as exc:
            excluded.setdefault(name, f"cannot be imported: {type(exc).__name__}: {exc}")
    out.append(("torch.utils.deterministic", importlib.import_module("torch.utils.deterministic")))
    return out


def _namespace(module: types.ModuleType) -> dict[str, object]:
    """Public module-level members: the wrapped module's (a PropModule keeps it in ``m``) and the wrapper's."""
    inner = vars(module).get("m")
    found = dict(vars(inner)) if isinstance(inner, types.ModuleType) else {}
    found.update(vars(module))
    return {k: v for k, v in found.items() if not k.startswith("_") and k != "m"}


def _getattr_names(cls: type) -> list[str]:
    """The attribute names a class's own ``__getattr__`` answers (the strings it compares ``name`` with)."""
    method = vars(cls).get("__getattr__")
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(method)))  # type: ignore[arg-type]
    except (OSError, TypeError, SyntaxError):
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name):
            for c in node.comparators:
                if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value not in names:
                    names.append(c.value)
    return names


def _checked(
    name: str, getter: Callable[[], object], setter: Callable[..., object], key: str, excluded: dict[str, str]
) -> list[Flag]:
    """The flag ``name`` if its getter returns a flag value (bool, int, str, dtype, enumeration)."""
    try:
        value = getter()
    except Exception as exc:
        excluded.setdefault(name, f"cannot be read on this build: {type(exc).__name__}: {exc}")
        return []
    if isinstance(value, bool | int | str | torch.dtype) or isinstance(
        getattr(type(value), "__members__", None), dict
    ):
        return [Flag(name, getter, setter, key, value)]
    excluded.setdefault(name, f"holds {value!r} on this build, not a flag value")
    return []


def _attribute(name: str, owner: object, attr: str, excluded: dict[str, str]) -> list[Flag]:
    """The attribute ``attr`` of ``owner`` as a flag, if it holds a flag value."""
    return _checked(name, lambda: getattr(owner, attr), lambda v: setattr(owner, attr, v), attr, excluded)


def _flag_object(name: str, obj: object, excluded: dict[str, str]) -> list[Flag]:
    """The flags of a flag object (``cuda.matmul``, ``cudnn.conv``): settable descriptors and __getattr__ names."""
    settable = []
    for k, v in vars(type(obj)).items():
        if k.startswith("_"):
            continue
        if isinstance(v, property) and v.fset is None:
            excluded.setdefault(f"{name}.{k}", "a read-only property")
        elif isinstance(v, property) or hasattr(type(v), "__set__"):
            settable.append(k)
    settable += _getattr_names(type(obj))
    if not settable:
        excluded.setdefault(
            name, f"a {type(obj).__name__} with no flag names in its class or its __getattr__"
        )
    return [f for k in settable for f in _attribute(f"{name}.{k}", obj, k, excluded)]


def _member_flags(qualified: str, module: types.ModuleType, excluded: dict[str, str]) -> list[Flag]:
    """Flags held as attributes: class-level descriptors, plain values and flag objects."""
    members = _namespace(module)
    if type(module) is not types.ModuleType:
        members.update(vars(type(module)))
    out = []
    for k, raw in sorted(members.items()):
        name = f"{qualified}.{k}"
        if k.startswith("_") or k != k.lower() or isinstance(raw, types.ModuleType | type):
            continue
        if isinstance(raw, property) and raw.fset is None:
            excluded.setdefault(name, "a read-only property")
        elif isinstance(raw, property | bool | int | str) or hasattr(type(raw), "__set__") or raw is None:
            out += _attribute(name, module, k, excluded)
        elif type(raw).__module__.startswith("torch.backends") and not callable(raw):
            out += _flag_object(name, raw, excluded)
    return out


def _round_trip(set_flags: Callable[[bool], tuple[object, ...]]) -> object:
    """A flag with no reader: ``set_flags`` returns the old value when it sets a new one; put it back."""
    old = set_flags(True)[0]
    set_flags(old)  # type: ignore[arg-type]
    return old


def _function_flags(qualified: str, module: types.ModuleType, excluded: dict[str, str]) -> list[Flag]:
    """Flags behind function pairs (``enable_flash_sdp``/``flash_sdp_enabled``) and ``preferred_X(backend=None)``."""
    out = []
    for name in sorted(_namespace(module)):
        fn = getattr(module, name, None)
        if not callable(fn) or isinstance(fn, type):
            continue
        for prefix, get_form in _PAIR_FORMS:
            x = name.removeprefix(prefix)
            getter = getattr(module, get_form.format(x), None) if x != name else None
            if callable(getter):
                out += _checked(f"{qualified}.{name}", getter, fn, x, excluded)
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            continue
        if name.startswith("preferred_") and len(params) == 1 and params[0].default is None:
            out += _checked(f"{qualified}.{name}", fn, fn, name, excluded)
        if name == "set_flags" and len(params) == 1 and params[0].name.endswith("enabled"):
            reader = functools.partial(_round_trip, fn)
            out += _checked(f"{qualified}.set_flags({params[0].name})", reader, fn, params[0].name, excluded)
    return out


def backend_flags(excluded: dict[str, str]) -> list[Flag]:
    """Every flag of torch.backends, its submodules and torch.utils.deterministic.

    What is found and not a flag goes into ``excluded`` (name -> why), after :data:`HAND_EXCLUDED`.
    """
    for name, why in HAND_EXCLUDED.items():
        excluded.setdefault(name, why)
    out = []
    for qualified, module in _flag_modules(excluded):
        out += _member_flags(qualified, module, excluded)
        out += _function_flags(qualified, module, excluded)
    return out
