"""The choices a front door offers: the kinds of target and the devices.

This part of the gate's vocabulary imports nothing but the standard library, so
that the pytest plugin, loaded in every pytest session, can offer the choices
without importing torch. :mod:`conv2d.gate.vocabulary` exports the same names.
"""

from __future__ import annotations

__all__ = ["DEVICES", "DEVICE_CHOICES", "KINDS", "expand_devices"]

#: The signatures a target may have: F.conv2d's, a seed-style ``corr2d(X, K)``, F.conv_transpose2d's, F.conv1d's or F.conv3d's.
KINDS: tuple[str, ...] = ("conv2d", "corr2d", "conv_transpose2d", "conv1d", "conv3d")

#: The devices the gate knows.
DEVICES: tuple[str, ...] = ("cpu", "cuda")
#: What ``--device`` accepts: a device, or ``"all"`` (every device present).
DEVICE_CHOICES: tuple[str, ...] = (*DEVICES, "all")


def expand_devices(choice: str) -> list[str]:
    """The devices a ``--device`` choice names: ``"all"`` is every device of :data:`DEVICES`."""
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"device={choice!r}; expected one of {DEVICE_CHOICES}")
    return list(DEVICES) if choice == "all" else [choice]
