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
    "as_tuple",
    "check_padding_mode_fits",
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


#: How messages name an n-tuple of per-axis values, by n.
_AXES = {1: "1-tuple (length,)", 2: "pair (height, width)", 3: "triple (depth, height, width)"}


def as_tuple(fn: str, name: str, value: object, minimum: int, n: int) -> tuple[int, ...]:
    """An int or an ``n``-sequence of ints, each ``>= minimum``, as one value per spatial axis."""
    what = _AXES[n]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(
                f"{fn}: {name} must be an int or a {what} of ints, got {len(value)} values: {value!r}"
            )
        bad = [v for v in value if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
        if bad:
            raise TypeError(
                f"{fn}: {name} must be an int or a {what} of ints, got {value!r} "
                f"(contains {bad[0]!r} of type {type(bad[0]).__name__})"
            )
        values = tuple(int(v) for v in value)
        if min(values) < minimum:
            raise ValueError(f"{fn}: {name} values must be >= {minimum}, got {value!r}")
        return values
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{fn}: {name} must be an int or a {what} of ints, got {value!r} ({type(value).__name__})"
        )
    if int(value) < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value!r}")
    return (int(value),) * n


def as_pair(fn: str, name: str, value: object, minimum: int) -> Pair:
    """An int or a 2-sequence of ints, each ``>= minimum``, as a ``(height, width)`` pair."""
    h, w = as_tuple(fn, name, value, minimum, 2)
    return (h, w)


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


def check_padding_mode_fits(
    fn: str, mode: str, pads: Padding4, x: torch.Tensor, kernel: Pair, dilation: Pair
) -> None:
    """Raise where ``nn.Conv2d`` refuses an input for ``padding_mode`` ``mode`` (with ``pads`` as (top, bottom, left, right)).

    ``"reflect"`` needs every padding smaller than the image side it pads,
    ``"circular"`` no larger than it (it wraps around once at most); every mode
    needs a non-empty image, and the (dilated) kernel must fit the padded image.
    """
    height, width = x.shape[-2:]
    if height == 0 or width == 0 or x.shape[-3] == 0:
        raise ValueError(
            f"{fn}: input must have at least one channel and a non-empty image, got {describe(x)}"
        )
    top, bottom, left, right = pads
    if mode in ("reflect", "circular"):
        limit = "smaller than" if mode == "reflect" else "at most"
        for side, pad, size in (
            ("top", top, height),
            ("bottom", bottom, height),
            ("left", left, width),
            ("right", right, width),
        ):
            if (pad >= size) if mode == "reflect" else (pad > size):
                dim = "height" if side in ("top", "bottom") else "width"
                raise ValueError(
                    f"{fn}: padding_mode={mode!r} needs each padding {limit} the input side it pads, got "
                    f"{side} padding {pad} for an input of {dim} {size} ({describe(x)}); use less padding, "
                    f"a larger input, or padding_mode='replicate' or 'zeros'"
                )
    span = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    padded = (height + top + bottom, width + left + right)
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(
            f"{fn}: the kernel of size {kernel} with dilation={dilation} spans {span}, larger than the "
            f"padded input {padded} (input {(height, width)} plus padding {pads} as (top, bottom, left, "
            f"right)); use a smaller kernel or dilation, or more padding"
        )
