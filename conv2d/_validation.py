"""Argument checking shared by the core's public functions and layers.

Every check raises :class:`TypeError` (wrong kind of value) or :class:`ValueError`
(right kind, wrong value) with a message that names the function, the argument,
the value received and what was expected. Nothing is silently coerced.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

__all__ = [
    "Padding4",
    "Pair",
    "as_int",
    "as_pair",
    "describe",
    "require_floating_tensor",
    "require_match",
    "resolve_padding",
]

Pair = tuple[int, int]
Padding4 = tuple[int, int, int, int]
"""Explicit padding as (top, bottom, left, right)."""

_FLOATING = "float16, bfloat16, float32 or float64"


def describe(t: torch.Tensor) -> str:
    """``"a 2-D tensor of shape (5, 5)"``: how error messages refer to a tensor."""
    return f"a {t.dim()}-D tensor of shape {tuple(t.shape)}"


def require_floating_tensor(fn: str, name: str, value: object) -> torch.Tensor:
    """``value`` itself if it is a dense floating-point tensor, else a ``TypeError``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(value).__name__} {value!r:.80}")
    if value.layout != torch.strided:
        raise TypeError(
            f"{fn}: {name} must be a dense (strided) tensor, got layout {value.layout}; "
            f"convert it with {name}.to_dense()"
        )
    if not value.is_floating_point():
        raise TypeError(
            f"{fn}: {name} must have a floating-point dtype ({_FLOATING}), got {value.dtype}; "
            f"convert it with {name}.float()"
        )
    return value


def require_match(fn: str, name: str, value: torch.Tensor, ref_name: str, ref: torch.Tensor) -> None:
    """Raise unless ``value`` has the dtype and device of ``ref``."""
    if value.dtype != ref.dtype:
        raise TypeError(
            f"{fn}: {name} has dtype {value.dtype} but {ref_name} has dtype {ref.dtype}; they must match "
            f"(convert with {name}.to({ref_name}.dtype))"
        )
    if value.device != ref.device:
        raise ValueError(
            f"{fn}: {name} is on device {value.device} but {ref_name} is on device {ref.device}; they must "
            f"be on the same device (move with {name}.to({ref_name}.device))"
        )


def as_int(fn: str, name: str, value: object, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn}: {name} must be an int >= {minimum}, got {value!r} ({type(value).__name__})")
    result = int(value)
    if result < minimum:
        raise ValueError(f"{fn}: {name} must be an int >= {minimum}, got {result}")
    return result


def as_pair(fn: str, name: str, value: object, minimum: int) -> Pair:
    """An int or a 2-sequence of ints, each ``>= minimum``, as a ``(height, width)`` pair."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(
                f"{fn}: {name} must be an int or a pair (height, width) of ints, "
                f"got {len(value)} values: {value!r}"
            )
        bad = [v for v in value if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
        if bad:
            raise TypeError(
                f"{fn}: {name} must be an int or a pair (height, width) of ints, got {value!r} "
                f"(contains {bad[0]!r} of type {type(bad[0]).__name__})"
            )
        pair = (int(value[0]), int(value[1]))
        if min(pair) < minimum:
            raise ValueError(f"{fn}: {name} values must be >= {minimum}, got {value!r}")
        return pair
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{fn}: {name} must be an int or a pair (height, width) of ints, "
            f"got {value!r} ({type(value).__name__})"
        )
    if int(value) < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value!r}")
    return (int(value), int(value))


def resolve_padding(fn: str, padding: object, kernel: Pair, dilation: Pair, stride: Pair) -> Padding4:
    """Explicit ``(top, bottom, left, right)`` padding for any accepted padding form.

    ``"valid"`` is no padding; ``"same"`` follows PyTorch: total padding
    ``dilation * (kernel - 1)`` per axis with the odd element at the bottom/right,
    and it requires stride 1.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"{fn}: padding='same' requires stride 1, got stride={stride}; "
                    f"pass explicit integer padding instead"
                )
            total_h = dilation[0] * (kernel[0] - 1)
            total_w = dilation[1] * (kernel[1] - 1)
            return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
        raise ValueError(
            f"{fn}: padding={padding!r} is not supported; expected an int, a pair, 'same' or 'valid'"
        )
    ph, pw = as_pair(fn, "padding", padding, minimum=0)
    return (ph, ph, pw, pw)
