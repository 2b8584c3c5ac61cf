"""The gate's vocabulary, one table per policy: dtypes, devices, size regimes and bug categories.

Every module that names a dtype, a device choice, the "large" threshold or a bug
category takes it from here, so that a new dtype, device or category is added in
one place.
"""

from __future__ import annotations

import enum

import torch

__all__ = [
    "DEVICES",
    "DEVICE_CHOICES",
    "DTYPES",
    "HALF_DTYPES",
    "LARGE_ELEMENTS",
    "LARGE_MAX_ELEMENTS",
    "Category",
    "expand_devices",
]

#: The dtypes the gate verifies, by name, in report order.
DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
#: The half-precision dtypes (accumulated in float32 by F.conv2d's contract; subnormals may flush).
HALF_DTYPES: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16)

#: The devices the gate knows.
DEVICES: tuple[str, ...] = ("cpu", "cuda")
#: What ``--device`` accepts: a device, or ``"all"`` (every device present).
DEVICE_CHOICES: tuple[str, ...] = (*DEVICES, "all")


def expand_devices(choice: str) -> list[str]:
    """The devices a ``--device`` choice names: ``"all"`` is every device of :data:`DEVICES`."""
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"device={choice!r}; expected one of {DEVICE_CHOICES}")
    return list(DEVICES) if choice == "all" else [choice]


#: Inputs of at least this many elements are "large" (past 16-bit index and size-threshold limits).
LARGE_ELEMENTS = 2**16
#: The largest inputs the "large" regime draws.
LARGE_MAX_ELEMENTS = 2**21


class Category(enum.StrEnum):
    """The class of a bug: what the zoo's and the hold-out's bugs are filed under, and what diagnosis names."""

    OUTPUT_SIZE = "output-size"
    PADDING = "padding"
    PER_AXIS = "per-axis"
    GROUPS = "groups"
    BIAS = "bias"
    BATCH = "batch"
    BATCH_TILING = "batch-tiling"
    EMPTY_BATCH = "empty-batch"
    TILE_REMAINDER = "tile-remainder"
    KERNEL_ORIENTATION = "kernel-orientation"
    SPECIAL_SHAPE_KERNEL = "special-shape-kernel"
    FAST_PATH = "fast-path"
    PRODUCTION_FAST_PATH = "production-fast-path"
    LAYOUT = "layout"
    PRECISION = "precision"
    DTYPE = "dtype"
    SPECIAL_VALUES = "special-values"
    BACKWARD = "backward"
    AUTOGRAD_PATH = "autograd-path"
    INPUT_MUTATION = "input-mutation"
    BUFFER_REUSE = "buffer-reuse"
    NONDETERMINISM = "nondeterminism"
    THREAD_SAFETY = "thread-safety"
    GLOBAL_STATE = "global-state"
    INPUT_VALIDATION = "input-validation"
    CALLING_CONVENTION = "calling-convention"
