"""conv2d: a 2-D convolution core and a property-based gate that verifies any conv2d.

The core (``corr2d``, ``convolve2d``, ``conv2d``, ``Conv2D``, and the family's
``conv_transpose2d``, ``conv1d`` and ``conv3d``) is importable from here; the gate lives in :mod:`conv2d.gate`. Names are resolved on first use, so
importing the package (as the pytest plugin does in every session) costs nothing
until the core is needed. With ``CONV2D_HOSTILE_HOST`` set, importing it makes this
process a hostile host (:mod:`conv2d.hostile`).
"""

from __future__ import annotations

import importlib
import os as _os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conv2d.family import conv1d, conv3d, conv_transpose2d
    from conv2d.functional import conv2d, convolve2d, corr2d
    from conv2d.layers import Conv2D

__all__ = ["Conv2D", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "convolve2d", "corr2d"]
__version__ = "0.1.0"

if _os.environ.get("CONV2D_HOSTILE_HOST", "") not in ("", "0"):  # see conv2d.hostile
    from conv2d import hostile as _hostile

    _hostile.install()

# Lazy names, the same mechanism as conv2d.gate's: importing the package stays free until a name is used.
_HOMES = {
    "conv2d": "functional",
    "convolve2d": "functional",
    "corr2d": "functional",
    "Conv2D": "layers",
    "conv1d": "family",
    "conv3d": "family",
    "conv_transpose2d": "family",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"conv2d.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'conv2d' has no attribute {name!r}")
