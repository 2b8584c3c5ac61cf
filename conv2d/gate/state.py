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

import functools

from conv2d.gate.settings import Setting, discover, snapshot
from conv2d.gate.settings import changes as changes
from conv2d.gate.settings import restore as _restore_settings

__all__ = ["WATCHED", "changes", "global_state", "restore", "watched"]

#: The settings read around every call, by the names :func:`conv2d.gate.settings.discover` gives them.
WATCHED = (
    "torch.set_default_dtype",
    "torch.set_grad_enabled",
    "torch.is_inference_mode_enabled",
    "torch.set_flush_denormal",
    "torch.use_deterministic_algorithms",
    "torch.set_num_threads",
    "torch.set_float32_matmul_precision",
    "torch.backends.cudnn.enabled",
    "torch.backends.cudnn.benchmark",
    "torch.backends.cudnn.deterministic",
    "torch.backends.cudnn.allow_tf32",
    "torch.backends.cuda.matmul.allow_tf32",
    "torch.backends.mkldnn.enabled",
    "torch.set_anomaly_enabled",
)


@functools.cache
def watched() -> tuple[Setting, ...]:
    """The discovered settings named in :data:`WATCHED` that this torch has, in the order writes must follow."""
    return tuple(s for s in discover() if s.name in WATCHED)


def global_state() -> dict[str, object]:
    """The watched settings' values (:class:`~conv2d.gate.settings.Unreadable` where torch refuses a read)."""
    return snapshot(list(watched()))


def restore(state: dict[str, object]) -> None:
    """Put back every watched setting that differs now and was readable; a write torch refuses is skipped."""
    _restore_settings(state, list(watched()))
