"""The torch settings checked around every call: read them, compare them, put them back.

The gate checks them around every call of a target (:meth:`conv2d.gate.target.Target._run`):
a call that changes the default dtype, grad mode, flush-denormal, the deterministic or
TF32 flags or the number of threads and leaves them changed fails on the spot, and the
settings are restored so that later checks run in the state they expect.

These are the settings a convolution is most likely to touch, read in about 20 µs. Every
global setting torch exposes (:func:`conv2d.gate.settings.discover` finds about 70) is
checked by the ``no-side-effects`` law, which also sees a call that writes a setting to
the value it already had. Reading all of them around every call instead would cost about
90 µs more per call: 40 % of a call on a 1x1 case, over a second in a default verdict.

A getter torch refuses to answer (the legacy TF32 flags, after the newer
``fp32_precision`` settings were written in a way that mixes the two) reads as
:class:`~conv2d.gate.settings.Unreadable` instead of raising, so that the check itself
never fails on a state a target left.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from conv2d.gate.settings import Unreadable, flush_denormal_enabled

__all__ = ["changes", "global_state", "restore"]


_GETTERS: dict[str, Callable[[], object]] = {
    "default dtype": torch.get_default_dtype,
    "grad mode": torch.is_grad_enabled,
    "inference mode": torch.is_inference_mode_enabled,
    "flush denormal": flush_denormal_enabled,
    "deterministic algorithms": torch.are_deterministic_algorithms_enabled,
    "number of threads": torch.get_num_threads,
    "float32 matmul precision": torch.get_float32_matmul_precision,
    "cudnn.enabled": lambda: torch.backends.cudnn.enabled,
    "cudnn.benchmark": lambda: torch.backends.cudnn.benchmark,
    "cudnn.deterministic": lambda: torch.backends.cudnn.deterministic,
    "cudnn.allow_tf32": lambda: torch.backends.cudnn.allow_tf32,
    "cuda.matmul.allow_tf32": lambda: torch.backends.cuda.matmul.allow_tf32,
    "mkldnn.enabled": lambda: torch.backends.mkldnn.enabled,
    "anomaly detection": torch.is_anomaly_enabled,
}


def _set_cudnn(name: str) -> Callable[[object], None]:
    return lambda v: setattr(torch.backends.cudnn, name, bool(v))


def _set_matmul_tf32(value: object) -> None:
    torch.backends.cuda.matmul.allow_tf32 = bool(value)


def _set_mkldnn(value: object) -> None:
    setattr(torch.backends.mkldnn, "enabled", bool(value))  # noqa: B010


_SETTERS: dict[str, Callable[[object], object]] = {
    "default dtype": torch.set_default_dtype,  # type: ignore[dict-item]
    "grad mode": lambda v: torch.set_grad_enabled(bool(v)),
    "flush denormal": lambda v: torch.set_flush_denormal(bool(v)),
    "deterministic algorithms": lambda v: torch.use_deterministic_algorithms(bool(v)),
    "number of threads": lambda v: torch.set_num_threads(int(v)),  # type: ignore[call-overload]
    "float32 matmul precision": lambda v: torch.set_float32_matmul_precision(str(v)),
    **{f"cudnn.{name}": _set_cudnn(name) for name in ("enabled", "benchmark", "deterministic", "allow_tf32")},
    "cuda.matmul.allow_tf32": _set_matmul_tf32,
    "mkldnn.enabled": _set_mkldnn,
    "anomaly detection": lambda v: torch.set_anomaly_enabled(bool(v)),
}


def _read(getter: Callable[[], object]) -> object:
    try:
        return getter()
    except Exception as exc:  # torch refuses some reads in a mixed TF32 state
        first = str(exc).splitlines()[0][:160] if str(exc) else ""
        return Unreadable(f"{type(exc).__name__}: {first}")


def global_state() -> dict[str, object]:
    """The torch settings a convolution call could change and leave changed (:class:`Unreadable` where torch refuses)."""
    return {name: _read(getter) for name, getter in _GETTERS.items()}


def restore(state: dict[str, object]) -> None:
    """Put back every setting of ``state`` that differs now and was readable; a write torch refuses is skipped."""
    now = global_state()
    for name, setter in _SETTERS.items():
        value = state[name]
        if isinstance(value, Unreadable) or now[name] == value:
            continue
        try:
            setter(value)
        except Exception:  # a setter that refuses the old value: the change was reported already
            continue


def changes(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """``"name: old -> new"`` for every setting that differs."""
    return [f"{k}: {before[k]!r} -> {after[k]!r}" for k in before if before[k] != after[k]]
