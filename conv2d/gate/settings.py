"""torch's global settings, enumerated from torch itself, and canaries that show a call changed one.

A hand-written list of settings misses every setting nobody thought of, and a
before/after comparison misses a call that sets a setting *to* the value it
already had. :func:`discover` therefore enumerates the settings mechanically:

* every ``torch.set_X`` / ``torch.use_X`` with a matching getter (``get_X``, ``is_X``,
  ``is_X_enabled``, ``are_X``, ``are_X_enabled``); a getter that takes a device type
  (autocast) gives one setting per device type it answers for;
* every getter ``is_X_K_enabled`` without a setter of its own whose value is the
  keyword ``K`` of the setter of ``X`` (``use_deterministic_algorithms(warn_only=)``);
  other getter-only states (inference mode) are watched without being written;
* every flag of ``torch.backends``, its submodules and ``torch.utils.deterministic``
  (:func:`conv2d.gate.backend_flags.backend_flags`);
* flush-denormal, which has a setter and no getter: read by multiplying a subnormal.

Whatever is found and not used is recorded in :data:`EXCLUDED` with its reason.
:func:`with_canaries` sets every setting to a *canary* (an unusual value different
from the current one and from the one the process started with), runs the body, and
reports every setting that no longer holds its armed value, then restores all.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from conv2d.gate.backend_flags import HAND_EXCLUDED, backend_flags

__all__ = [
    "EXCLUDED",
    "CanaryReport",
    "Setting",
    "Unreadable",
    "changes",
    "discover",
    "flush_denormal_enabled",
    "restore",
    "snapshot",
    "with_canaries",
]

#: Settings found in torch and deliberately not used, with why. Holds the hand-written entries below from
#: import on; :func:`discover` adds the mechanical ones (deprecated aliases, read-only, unreadable values).
EXCLUDED: dict[str, str] = {
    "torch.set_num_interop_threads": (
        "may be called only once, before any inter-op parallel work starts; the count is still watched"
    ),
    "torch.set_rng_state": "the random generator's position, not a setting: every random draw advances it",
    "torch.set_printoptions": "no getter in torch's namespace; it changes only how tensors print",
    "torch.set_default_tensor_type": "deprecated since 2.1 in favour of set_default_dtype/set_default_device",
    **HAND_EXCLUDED,
}
#: Setters of the excluded whose getter is still read and compared (never written).
_WATCHED_ONLY = ("torch.set_num_interop_threads",)
#: Settings that are read, compared and restored, but never given a canary, with why.
_NO_CANARY: dict[str, str] = {
    "autocast_enabled": (
        "enabling autocast makes the call's own torch operations run in float16/bfloat16 "
        "(on some CPUs a bfloat16 convolution crashes)"
    ),
    "default_device": "any other device breaks tensor creation without device= (meta) or moves it (cuda)",
}
_GETTER_FORMS = ("get_{}", "is_{}", "is_{}_enabled", "are_{}", "are_{}_enabled")


@dataclasses.dataclass(frozen=True)
class Unreadable:
    """The value of a setting whose getter raised (torch refuses some reads in mixed API states)."""

    error: str

    def __repr__(self) -> str:
        return f"<unreadable: {self.error}>"


@dataclasses.dataclass(frozen=True, eq=False)
class Setting:
    """One global setting: how to read it, write it, and which unusual values it may take.

    Attributes:
        name: how torch spells it (``"torch.set_default_dtype"``, ``"torch.backends.cudnn.benchmark"``).
        getter: returns the current value.
        setter: sets a value; ``None`` when the setting can only be watched.
        choices: canary candidates in order of preference; empty when it gets no canary.
        note: why it has no canary or no setter (empty otherwise).
        normal: its value when the settings were discovered (the process's own setting).
        thread_local: whether another thread sees a different value (``None``: not probed).
    """

    name: str
    getter: Callable[[], object]
    setter: Callable[..., object] | None = None
    choices: tuple[object, ...] = ()
    note: str = ""
    normal: object = None
    thread_local: bool | None = None

    def read(self) -> object:
        """The current value, or :class:`Unreadable` when the getter raises."""
        try:
            return self.getter()
        except Exception as exc:  # torch raises RuntimeError for legacy reads of a mixed TF32 state
            return Unreadable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")

    def write(self, value: object) -> None:
        """Set ``value`` (warnings torch emits about the write itself are silenced)."""
        if self.setter is None:
            raise TypeError(f"{self.name} cannot be written ({self.note})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.setter(value)

    def canary(self, current: object) -> object | None:
        """An unusual value unlike ``current`` and, where possible, unlike :attr:`normal`; ``None``: none."""
        if self.setter is None:
            return None
        others = [c for c in self.choices if c != current]
        preferred = [c for c in others if c != self.normal]
        return (preferred or others or [None])[0]


def _order(setting: Setting) -> tuple[int, str]:
    """Coarse before fine: torch-level functions, then backend-wide flags, then per-operator ones."""
    name = setting.name
    for prefix in ("torch.set_", "torch.use_"):
        name = name.replace(prefix, "torch.")
    return (setting.name.count("."), name)


def _set_default_device(device: object) -> None:
    """torch.set_default_device, writing cpu (torch's own default) as ``None``: no device context stays installed."""
    torch.set_default_device(None if device == torch.device("cpu") else device)  # type: ignore[arg-type]


def _use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """torch.use_deterministic_algorithms, without importing torch's compiler only to mirror the flag in its config.

    torch.use_deterministic_algorithms also writes ``torch._inductor.config.deterministic``,
    importing the compiler to do so (one to three seconds, once per process). Where that
    config is not loaded there is nothing to mirror, and torch's own flag is written alone.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


#: Setters used in place of torch's, by the X of ``set_X`` / ``use_X`` (see each one's docstring).
_SETTERS: dict[str, Callable[..., object]] = {
    "default_device": _set_default_device,
    "deterministic_algorithms": _use_deterministic_algorithms,
}


def _getter(x: str) -> tuple[str, Callable[..., object]] | None:
    for form in _GETTER_FORMS:
        name = form.format(x)
        if callable(getattr(torch, name, None)):
            return name, getattr(torch, name)
    return None


def _deprecation(call: Callable[[], object]) -> str | None:
    """The deprecation message ``call`` warns with, if it does."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except Exception:
            return None
    for w in caught:
        if issubclass(w.category, FutureWarning | DeprecationWarning) or "deprecated" in str(w.message):
            return f"deprecated: {str(w.message).splitlines()[0]}"
    return None


def _device_types() -> list[str]:
    """Every device type torch names (its profiler's DeviceType enumeration), lower-cased."""
    names = [name.lower() for name in torch._C._autograd.DeviceType.__members__]
    return [name for name in names if name != "privateuse1"] + [torch._C._get_privateuse1_backend_name()]


def _per_device(x: str, setter: Callable[..., object], getter: Callable[..., object]) -> list[Setting]:
    """One setting per device type the getter answers for (``get_autocast_dtype('cpu')``)."""
    out = []
    for device in _device_types():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch warns about device types it keeps for compatibility
                value = getter(device)
        except Exception:
            continue
        out.append(
            Setting(
                f"torch.set_{x}({device!r})",
                functools.partial(getter, device),
                functools.partial(setter, device),
                () if x in _NO_CANARY else _choices(x, value),
                _NO_CANARY.get(x, ""),
            )
        )
    return out


def _torch_pairs(used_getters: set[str]) -> list[Setting]:
    """``torch.set_X``/``torch.use_X`` with a getter; records what it skips in :data:`EXCLUDED`."""
    out = []
    for setter_name in sorted(n for n in dir(torch) if n.startswith(("set_", "use_"))):
        setter, qualified, x = getattr(torch, setter_name), f"torch.{setter_name}", setter_name[4:]
        found = _getter(x)
        if not callable(setter) or setter_name == "set_flush_denormal":
            continue
        if found is None:
            EXCLUDED.setdefault(qualified, "no getter in torch's namespace")
            continue
        getter_name, getter = found
        used_getters.add(getter_name)
        setter = _SETTERS.get(x, setter)
        deprecated = _deprecation(getter) or _deprecation(functools.partial(getter, "cpu"))
        if qualified in EXCLUDED or deprecated:
            EXCLUDED.setdefault(qualified, deprecated or "")
            if qualified in _WATCHED_ONLY:
                out.append(Setting(qualified, getter, note=EXCLUDED[qualified]))
            continue
        try:
            getter("cpu")
        except Exception:
            value = getter()
            choices = () if x in _NO_CANARY else _choices(x, value)
            out.append(Setting(qualified, getter, setter, choices, _NO_CANARY.get(x, "")))
        else:
            out.extend(_per_device(x, setter, getter))
    return out


def _keyword_settings(pairs: list[Setting], used_getters: set[str]) -> list[Setting]:
    """Getter-only states: a keyword of another setter (``is_X_K_enabled``) or watched only."""
    out = []
    for name in sorted(n for n in dir(torch) if n.startswith(("is_", "are_")) and n.endswith("_enabled")):
        if name in used_getters:
            continue
        getter = getattr(torch, name)
        try:
            value = getter()
        except Exception:
            continue
        out.append(_keyword_setting(name, getter, value, pairs))
    return out


def _keyword_setting(name: str, getter: Callable[[], object], value: object, pairs: list[Setting]) -> Setting:
    stem = name.split("_", 1)[1].removesuffix("_enabled")
    for pair in pairs:
        x = pair.name.split(".", 1)[1][4:]
        base = x.removesuffix("_enabled")
        if "(" in x or not stem.startswith(base + "_") or pair.setter is None:
            continue
        keyword, setter, read = stem[len(base) + 1 :], pair.setter, pair.getter

        def write(
            v: object, keyword: str = keyword, setter: Callable = setter, read: Callable = read
        ) -> None:
            setter(read(), **{keyword: v})

        try:
            write(value)
        except Exception:
            continue
        return Setting(f"{pair.name}({keyword}=)", getter, write, _choices(keyword, value))
    return Setting(f"torch.{name}", getter, note="no setter in torch's namespace: watched only")


#: Canary candidates by setting (the X of ``set_X`` or a flag's attribute name), most unusual first.
#: Bools take the other value and enumerations another member; a setting absent here gets no canary.
_CHOICES: dict[str, tuple[object, ...]] = {
    "default_dtype": (torch.float64, torch.float32),
    "autocast_dtype": (torch.float16, torch.bfloat16),
    "num_threads": (1, 2),
    "float32_matmul_precision": ("high", "highest"),
    "deterministic_debug_mode": (1, 0),  # warn; never 2, which makes nondeterministic operations raise
    "fp32_precision": ("ieee", "none"),
    "depthwise_kernel": ("native", "auto"),
    "strategy": ("greedy", "auto"),
    # Not Ck or cuBLASLt: torch prints an "experimental feature" warning to stderr on writing Ck,
    # and refuses cuBLASLt in a build without it.
    "preferred_blas_library": tuple(
        getattr(torch._C._BlasBackend, m) for m in ("Default", "Cublas") if hasattr(torch._C._BlasBackend, m)
    ),
}


def _choices(key: str, value: object) -> tuple[object, ...]:
    """Canary candidates for the setting ``key`` now holding ``value`` (empty: none known)."""
    if key == "engine":
        return tuple(torch.backends.quantized.supported_engines)
    if key in _CHOICES:
        return _CHOICES[key]
    if isinstance(value, bool):
        return (True, False)
    members = getattr(type(value), "__members__", None)
    return tuple(members.values()) if isinstance(members, dict) else ()


def flush_denormal_enabled() -> bool:
    """Whether float32 subnormals are flushed: a subnormal times one comes out zero."""
    probe = torch.tensor([2.0**-140], dtype=torch.float32, device="cpu")  # whatever the default device
    return bool((probe * 1.0).item() == 0.0)


def _probe_threads(settings: list[Setting]) -> list[Setting]:
    """Arm every canary, read all settings in a fresh thread, restore: a differing read is thread-local."""
    before = {s.name: s.read() for s in settings}
    armed = _arm(settings, before)[0]
    seen: dict[str, object] = {}
    reader = threading.Thread(target=lambda: seen.update({s.name: s.read() for s in settings}))
    reader.start()
    reader.join()
    _put_back(settings, before)
    return [
        dataclasses.replace(s, thread_local=seen[s.name] != armed[s.name])
        if s.setter is not None and armed[s.name] != before[s.name]
        else s
        for s in settings
    ]


def _verified(setting: Setting, value: object) -> Setting:
    """``setting`` with a setter only if it takes back its own value, and the canary choices it accepts."""
    if setting.setter is None or isinstance(value, Unreadable):
        return dataclasses.replace(setting, normal=value)
    try:
        setting.write(value)
    except Exception as exc:
        return dataclasses.replace(
            setting, setter=None, choices=(), note=f"cannot be set: {type(exc).__name__}: {exc}"
        )
    accepted = []
    for choice in setting.choices:
        try:
            setting.write(choice)
        except Exception:
            continue
        accepted.append(choice)
    setting.write(value)
    note = setting.note or ("" if accepted else "no canary known for its values: watched and restored only")
    return dataclasses.replace(setting, choices=tuple(accepted), note=note, normal=value)


_DISCOVERY = threading.Lock()


@functools.cache
def _discovered() -> tuple[Setting, ...]:
    used: set[str] = set()
    pairs = _torch_pairs(used)
    found = sorted(
        [
            *pairs,
            *_keyword_settings(pairs, used),
            Setting(
                "torch.set_flush_denormal", flush_denormal_enabled, torch.set_flush_denormal, (True, False)
            ),
            *(Setting(f.name, f.getter, f.setter, _choices(f.key, f.value)) for f in backend_flags(EXCLUDED)),
        ],
        key=_order,
    )
    before = snapshot(found)
    found = [_verified(s, before[s.name]) for s in found]
    _put_back(found, before)
    return tuple(_probe_threads(found))


def discover() -> list[Setting]:
    """Every global setting torch exposes, coarse before fine (the order writes must follow).

    The enumeration runs once per process; it reads every setting, writes each canary
    once to learn which settings are thread-local, and puts everything back.
    """
    with _DISCOVERY:  # two threads must not probe the settings at once
        return list(_discovered())


def snapshot(settings: list[Setting] | None = None) -> dict[str, object]:
    """The value of every setting, by name (:class:`Unreadable` for a getter that raises)."""
    return {s.name: s.read() for s in (discover() if settings is None else settings)}


def changes(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """``"name: old -> new"`` for every setting that differs."""
    return [f"{k}: {before[k]!r} -> {after.get(k)!r}" for k in before if after.get(k) != before[k]]


def _put_back(settings: list[Setting], state: dict[str, object]) -> list[str]:
    """Write ``state`` in order, then once more for what did not take (settings that are views of others)."""
    for _ in range(3):
        wrong = [
            s
            for s in settings
            if s.setter is not None
            and not isinstance(state[s.name], Unreadable)
            and s.read() != state[s.name]
        ]
        for s in wrong:
            try:
                s.write(state[s.name])
            except Exception:  # a setter that refuses its own earlier value: reported below
                continue
        if not wrong:
            break
    return changes(state, snapshot(settings))


def restore(state: dict[str, object], settings: list[Setting] | None = None) -> list[str]:
    """Put every setting back to ``state``; returns ``"name: wanted -> found"`` for what would not go back."""
    return _put_back(discover() if settings is None else settings, state)


def _arm(settings: list[Setting], before: dict[str, object]) -> tuple[dict[str, object], list[str]]:
    """Write every canary; returns the state read afterwards and the canaries that did not take.

    A canary that would leave torch in a state it refuses to read back (a legacy TF32 flag
    after a mixed legacy/new precision setting) is taken back: torch may refuse such a
    state inside the call too.
    """
    missed = []
    readable = [s for s in settings if not isinstance(before[s.name], Unreadable)]
    for s in settings:
        canary = s.canary(before[s.name])
        if canary is None:
            continue
        previous = s.read()
        try:
            s.write(canary)
        except Exception as exc:
            missed.append(f"{s.name}: cannot set canary {canary!r} ({type(exc).__name__}: {exc})")
            continue
        broken = [r.name for r in readable if isinstance(r.read(), Unreadable)]
        if broken:
            s.write(previous)
            missed.append(
                f"{s.name}: canary {canary!r} not set: torch would refuse to read {', '.join(broken)}"
            )
    armed = snapshot(settings)
    for s in settings:
        canary = s.canary(before[s.name])
        if (
            canary is not None
            and armed[s.name] != canary
            and not any(m.startswith(f"{s.name}:") for m in missed)
        ):
            missed.append(f"{s.name}: canary {canary!r} reads {armed[s.name]!r} (another setting governs it)")
    return armed, missed


@dataclasses.dataclass
class CanaryReport:
    """What :func:`with_canaries` armed and found.

    Attributes:
        armed: every setting's value after the canaries were set (what the body must leave).
        not_held: canaries that did not take when armed (a setting that another one overrides);
            those settings are still compared with their armed value.
        changed: filled on exit: ``"name: armed -> found"`` for every setting the body changed.
        unrestored: filled on exit: settings that could not be put back to their original value.
    """

    armed: dict[str, object]
    not_held: list[str]
    changed: list[str] = dataclasses.field(default_factory=list)
    unrestored: list[str] = dataclasses.field(default_factory=list)


@contextmanager
def with_canaries(settings: list[Setting] | None = None) -> Iterator[CanaryReport]:
    """Set every setting to its canary, run the body, report what it changed, restore the originals.

    Thread-local settings (:attr:`Setting.thread_local`: grad mode, autocast) are seen
    only by the thread that enters this context: enter it in the thread that makes the call.
    """
    chosen = discover() if settings is None else settings
    original = snapshot(chosen)
    armed, not_held = _arm(chosen, original)
    report = CanaryReport(armed, not_held)
    try:
        yield report
    finally:
        report.changed = changes(armed, snapshot(chosen))
        report.unrestored = _put_back(chosen, original)
