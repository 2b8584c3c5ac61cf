"""The gate's vocabulary, one table per policy: dtypes, layouts, devices, size regimes and bug categories.

Every module that names a dtype, a memory layout, a device choice, the "large"
threshold or a bug category takes it from here, so that a new dtype, layout,
device or category is added in one place. The kinds of target and the devices
live in :mod:`conv2d.gate.choices`, which imports no torch (the pytest plugin
offers them in every pytest session), and are exported here too.
"""

from __future__ import annotations

import enum

import torch

from conv2d.gate.choices import DEVICE_CHOICES, DEVICES, KINDS, expand_devices

__all__ = [
    "DEVICES",
    "DEVICE_CHOICES",
    "DTYPES",
    "HALF_DTYPES",
    "KINDS",
    "LARGE_ELEMENTS",
    "LARGE_MAX_ELEMENTS",
    "LAYOUTS",
    "LAYOUT_CAPABILITIES",
    "Category",
    "dtype_name",
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


def dtype_name(dtype: torch.dtype) -> str:
    """The name of a torch dtype as :data:`DTYPES` and the reports spell it: ``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


#: The memory layouts a case's tensors are drawn in, in draw order, each with the capability
#: (:data:`LAYOUT_CAPABILITIES`) a target must declare to be given it: views are "strided". A
#: "channel_slice" is a run of channels sliced out of a wider channels_last tensor, as a grouped
#: model hands each group's input to a kernel.
LAYOUTS: dict[str, str] = {
    "contiguous": "contiguous",
    "channels_last": "channels_last",
    "strided": "strided",
    "transposed": "strided",
    "offset": "offset",
    "channel_slice": "strided",
}
#: The layouts a target declares it accepts (``Capabilities.layouts``), in report order.
LAYOUT_CAPABILITIES: tuple[str, ...] = tuple(dict.fromkeys(LAYOUTS.values()))

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
    STALE_CACHE = "stale-cache"
    NONDETERMINISM = "nondeterminism"
    THREAD_SAFETY = "thread-safety"
    GLOBAL_STATE = "global-state"
    INPUT_VALIDATION = "input-validation"
    CALLING_CONVENTION = "calling-convention"
