"""``Conv2D``: the classic single-kernel lab layer that is also a drop-in ``nn.Conv2d``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from conv2d._validation import (
    Padding4,
    Pair,
    as_int,
    as_pair,
    check_padding_mode_fits,
    describe,
    require_floating_tensor,
    resolve_padding,
)
from conv2d.functional import conv2d, corr2d

__all__ = ["Conv2D"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2D(nn.Module):
    """A 2-D convolution layer with two modes, chosen by the arguments given.

    **Seed mode** (``kernel_size`` and/or ``weight`` only): the lab layer.
    ``Conv2D(kernel_size=(3, 3))`` (or ``Conv2D((3, 3))``) holds
    ``weight = nn.Parameter(torch.rand(kernel_size))`` and a one-element
    ``bias = nn.Parameter(torch.zeros(1))``; ``forward(x) = corr2d(x, weight) + bias``
    for a 2-D ``x``. ``weight=`` may pass the kernel tensor itself: an
    ``nn.Parameter`` is kept as is, any other floating tensor is wrapped in one
    (sharing its storage), and that Parameter is what training updates.

    **Multi-channel mode** (``in_channels`` and ``out_channels`` given): the
    arguments, parameter names, shapes and initialisation of ``nn.Conv2d``, so an
    ``nn.Conv2d`` state dict loads strictly and gives the same output;
    ``forward(x) = conv2d(x, weight, bias, stride, padding, dilation, groups)``.
    ``padding_mode`` is any of ``nn.Conv2d``'s: ``"zeros"`` (the default),
    ``"reflect"``, ``"replicate"`` or ``"circular"``; the last three pad the input
    with ``F.pad`` in that mode (the same padding, ``"same"`` included, and in the
    same order as ``nn.Conv2d``) and then convolve without padding, so outputs,
    gradients of every order and the inputs that are refused match ``nn.Conv2d``.

    Raises:
        ValueError: the call mixes the modes (one of ``in_channels``/``out_channels``
            without the other, or a multi-channel-only argument in seed mode), the
            kernel size is missing or disagrees with ``weight``, ``padding_mode``
            is unknown (or not ``"zeros"`` in seed mode), or a value is out of
            range; at call time, an input too small for ``"reflect"`` or
            ``"circular"`` padding (where ``nn.Conv2d`` raises too).
        TypeError: an argument has the wrong type.
    """

    weight: nn.Parameter
    bias: nn.Parameter | None

    # nn.Conv2d's parameters in its order, spelled out on purpose (as conv2d.testing spells F.conv2d's)
    def __init__(
        self,
        in_channels: int | Sequence[int] | None = None,
        out_channels: int | None = None,
        kernel_size: int | Sequence[int] | None = None,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        fn = "Conv2D"
        if not isinstance(bias, bool):
            raise TypeError(f"{fn}: bias must be True or False, got {bias!r} ({type(bias).__name__})")
        if isinstance(in_channels, Sequence) and out_channels is None and kernel_size is None:
            kernel_size, in_channels = in_channels, None
        self.multichannel = in_channels is not None or out_channels is not None
        if self.multichannel:
            if in_channels is None or out_channels is None:
                raise ValueError(
                    f"{fn}: got in_channels={in_channels!r} and out_channels={out_channels!r}; pass both for a "
                    f"multi-channel layer, or neither (just kernel_size=...) for the single-kernel layer"
                )
            self._init_channels(in_channels, out_channels, groups, padding_mode)
            self.stride = as_pair(fn, "stride", stride, minimum=1)
            self.dilation = as_pair(fn, "dilation", dilation, minimum=1)
            self._init_multichannel_weight(kernel_size, device, dtype, weight)
            self._init_padding_and_bias(padding, bias, fresh=weight is None)
        else:
            self._check_seed_arguments(stride, padding, dilation, groups, padding_mode)
            self._init_seed(kernel_size, bias, device, dtype, weight)

    @staticmethod
    def _check_seed_arguments(
        stride: object, padding: object, dilation: object, groups: object, padding_mode: object
    ) -> None:
        """The single-kernel layer takes the multi-channel arguments only at their defaults."""
        fn = "Conv2D"
        defaults = {
            "stride": (stride, 1),
            "padding": (padding, 0),
            "dilation": (dilation, 1),
            "groups": (groups, 1),
        }
        for name, (value, default) in defaults.items():
            if not (type(value) is int and value == default):
                raise ValueError(
                    f"{fn}: {name}={value!r} needs the multi-channel layer; pass in_channels and "
                    f"out_channels too, or drop {name} for the single-kernel layer"
                )
        if padding_mode != "zeros":
            raise ValueError(
                f"{fn}: padding_mode={padding_mode!r} needs the multi-channel layer (pass in_channels and "
                f"out_channels too); the single-kernel layer has no padding"
            )

    def _init_seed(
        self,
        kernel_size: int | Sequence[int] | None,
        bias: bool,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
        weight: torch.Tensor | None,
    ) -> None:
        fn = "Conv2D"
        if weight is None:
            if kernel_size is None:
                raise ValueError(
                    f"{fn}: give kernel_size (e.g. Conv2D(kernel_size=(3, 3))) or weight= for the single-kernel "
                    f"layer, or in_channels, out_channels and kernel_size for a multi-channel layer"
                )
            self.kernel_size = as_pair(fn, "kernel_size", kernel_size, minimum=1)
            self.weight = nn.Parameter(torch.rand(self.kernel_size, device=device, dtype=dtype))
        else:
            weight = require_floating_tensor(fn, "weight", weight)
            if weight.dim() != 2 or weight.numel() == 0:
                raise ValueError(
                    f"{fn}: weight must be a non-empty 2-D kernel (h, w), got {describe(weight)}"
                )
            self.kernel_size = (weight.shape[0], weight.shape[1])
            self._check_kernel_size_matches(kernel_size)
            self._check_factory_matches(weight, device, dtype)
            self.weight = weight if isinstance(weight, nn.Parameter) else nn.Parameter(weight)
        if bias:
            self.bias = nn.Parameter(torch.zeros(1, device=self.weight.device, dtype=self.weight.dtype))
        else:
            self.register_parameter("bias", None)

    def _init_channels(
        self, in_channels: int | Sequence[int], out_channels: int, groups: int, padding_mode: str
    ) -> None:
        """The channel counts, the groups dividing both, and the padding mode, checked."""
        fn = "Conv2D"
        self.in_channels = as_int(fn, "in_channels", in_channels, minimum=1)
        self.out_channels = as_int(fn, "out_channels", out_channels, minimum=1)
        self.groups = as_int(fn, "groups", groups, minimum=1)
        if self.in_channels % self.groups:
            raise ValueError(f"{fn}: in_channels={self.in_channels} is not divisible by groups={self.groups}")
        if self.out_channels % self.groups:
            raise ValueError(
                f"{fn}: out_channels={self.out_channels} is not divisible by groups={self.groups}"
            )
        if not isinstance(padding_mode, str) or padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{fn}: padding_mode={padding_mode!r} is unknown; expected one of "
                f"{', '.join(repr(m) for m in _PADDING_MODES)}"
            )
        self.padding_mode = padding_mode

    def _init_padding_and_bias(self, padding: int | tuple[int, int] | str, bias: bool, fresh: bool) -> None:
        """The padding (checked against the kernel, stride and dilation set before) and the bias;
        a ``fresh`` weight is initialised with it, a given one keeps its values."""
        fn = "Conv2D"
        self._pads: Padding4 = resolve_padding(fn, padding, self.kernel_size, self.dilation, self.stride)
        self.padding: Pair | str = (
            padding if isinstance(padding, str) else as_pair(fn, "padding", padding, minimum=0)
        )
        if bias:
            self.bias = nn.Parameter(
                torch.empty(self.out_channels, device=self.weight.device, dtype=self.weight.dtype)
            )
        else:
            self.register_parameter("bias", None)
        if fresh:
            self.reset_parameters()
        elif self.bias is not None:
            self._reset_bias(self.bias)

    def _init_multichannel_weight(
        self,
        kernel_size: int | Sequence[int] | None,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
        weight: torch.Tensor | None,
    ) -> None:
        """``weight`` (checked against the channel counts) and ``kernel_size``, or a fresh weight of that size."""
        fn = "Conv2D"
        shape = (self.out_channels, self.in_channels // self.groups)
        if weight is None:
            if kernel_size is None:
                raise ValueError(f"{fn}: kernel_size is required with in_channels and out_channels")
            self.kernel_size = as_pair(fn, "kernel_size", kernel_size, minimum=1)
            self.weight = nn.Parameter(torch.empty((*shape, *self.kernel_size), device=device, dtype=dtype))
        else:
            weight = require_floating_tensor(fn, "weight", weight)
            if weight.dim() != 4 or tuple(weight.shape[:2]) != shape or min(weight.shape[2:]) < 1:
                raise ValueError(
                    f"{fn}: weight must have shape ({shape[0]}, {shape[1]}, kH, kW) for in_channels="
                    f"{self.in_channels}, out_channels={self.out_channels}, groups={self.groups}; got {describe(weight)}"
                )
            self.kernel_size = (weight.shape[2], weight.shape[3])
            self._check_kernel_size_matches(kernel_size)
            self._check_factory_matches(weight, device, dtype)
            self.weight = weight if isinstance(weight, nn.Parameter) else nn.Parameter(weight)

    def _check_kernel_size_matches(self, kernel_size: int | Sequence[int] | None) -> None:
        if (
            kernel_size is not None
            and as_pair("Conv2D", "kernel_size", kernel_size, minimum=1) != self.kernel_size
        ):
            raise ValueError(
                f"Conv2D: kernel_size={kernel_size!r} disagrees with weight's kernel size {self.kernel_size}; "
                f"drop kernel_size or pass a matching weight"
            )

    @staticmethod
    def _check_factory_matches(
        weight: torch.Tensor, device: torch.device | str | None, dtype: torch.dtype | None
    ) -> None:
        if dtype is not None and weight.dtype != dtype:
            raise ValueError(f"Conv2D: dtype={dtype} disagrees with weight's dtype {weight.dtype}; drop one")
        if device is not None and weight.device != torch.device(device):
            raise ValueError(
                f"Conv2D: device={device!r} disagrees with weight's device {weight.device}; drop one"
            )

    def reset_parameters(self) -> None:
        """Re-initialise: ``nn.Conv2d``'s scheme (multi-channel) or ``rand``/zeros (seed mode)."""
        with torch.no_grad():
            if not self.multichannel:
                self.weight.uniform_(0.0, 1.0)
                if self.bias is not None:
                    self.bias.zero_()
                return
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            self._reset_bias(self.bias)

    def _reset_bias(self, bias: nn.Parameter) -> None:
        """``nn.Conv2d``'s bias initialisation: uniform within ``±1/sqrt(fan_in)``."""
        fan_in = self.weight.shape[1] * self.weight.shape[2] * self.weight.shape[3]
        nn.init.uniform_(bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Seed mode: ``corr2d(x, weight) + bias`` for a 2-D ``x``; otherwise ``conv2d`` with the layer's settings."""
        if not self.multichannel:
            y = corr2d(x, self.weight)
            return y if self.bias is None else y + self.bias
        if self.padding_mode == "zeros" or not _is_image(x):
            # conv2d raises the error for an input that is not a 3-D/4-D floating-point tensor.
            return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        top, bottom, left, right = self._pads
        check_padding_mode_fits("Conv2D", self.padding_mode, self._pads, x, self.kernel_size, self.dilation)
        padded = F.pad(x, (left, right, top, bottom), mode=self.padding_mode)
        return conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self) -> str:
        """``nn.Conv2d``-style summary of the settings."""
        if not self.multichannel:
            return f"kernel_size={self.kernel_size}, bias={self.bias is not None}"
        parts = [
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        ]
        if self.padding != (0, 0):
            parts.append(f"padding={self.padding!r}")
        if self.dilation != (1, 1):
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        if self.padding_mode != "zeros":
            parts.append(f"padding_mode={self.padding_mode!r}")
        return ", ".join(parts)


def _is_image(x: object) -> bool:
    """Whether ``x`` is a 3-D or 4-D dense floating-point tensor (anything else is left to conv2d to reject)."""
    return (
        isinstance(x, torch.Tensor)
        and x.layout == torch.strided
        and x.is_floating_point()
        and x.dim() in (3, 4)
    )
