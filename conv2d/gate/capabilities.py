"""What a target says it supports.

A target is judged only on the configurations it claims. It can claim them in
two ways, and may use both:

* declare them up front, with :func:`declare` (or by setting an attribute
  ``__conv2d_capabilities__`` to a :class:`Capabilities` or a plain ``dict``
  of the same fields);
* raise :class:`NotImplementedError` when called on a configuration it does
  not support.

Either way the configuration is reported as *unsupported*, never as a
failure, and never silently dropped from the report. Every other exception
on a valid input is a failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import torch

from conv2d.gate.vocabulary import DEVICES, DTYPES, LAYOUT_CAPABILITIES, dtype_name

__all__ = [
    "ACCUMULATIONS",
    "ALL_DEVICES",
    "ALL_DTYPES",
    "ALL_LAYOUTS",
    "ALL_PADDING",
    "SUBNORMALS",
    "Capabilities",
    "capabilities_of",
    "declare",
]

ALL_DTYPES: tuple[torch.dtype, ...] = tuple(DTYPES.values())
ALL_DEVICES: tuple[str, ...] = DEVICES
ALL_LAYOUTS: tuple[str, ...] = LAYOUT_CAPABILITIES
ALL_PADDING: tuple[str, ...] = ("int", "pair", "same", "valid")
ACCUMULATIONS: tuple[str, ...] = ("float32", "dtype")
#: What a target promises about subnormal numbers: ``"half-may-flush"`` (float16 and bfloat16 may
#: flush them to zero, as AMX and GPU fast paths do; float32 and float64 keep them) or ``"keep"``
#: (gradual underflow in every dtype).
SUBNORMALS: tuple[str, ...] = ("half-may-flush", "keep")

#: Other names a dtype may be declared by, as torch spells them.
_DTYPE_ALIASES = {"double": "float64", "float": "float32", "half": "float16"}

F = TypeVar("F", bound=Callable[..., Any])


def _as_dtype(value: object) -> torch.dtype:
    if isinstance(value, torch.dtype):
        if value not in ALL_DTYPES:
            raise ValueError(f"dtypes contains {value}, but only {ALL_DTYPES} are verified")
        return value
    if isinstance(value, str):
        name = value.removeprefix("torch.")
        name = _DTYPE_ALIASES.get(name, name)
        if name in DTYPES:
            return DTYPES[name]
    raise ValueError(f"dtypes contains {value!r}; use torch dtypes or names such as 'float32'")


def _subset(name: str, values: Iterable[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = tuple(values)
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"{name} contains {unknown!r}; allowed values are {allowed}")
    return tuple(v for v in allowed if v in values)


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """The configurations a conv2d target claims to support.

    The defaults claim the whole ``torch.nn.functional.conv2d`` contract.

    Attributes:
        dtypes: floating dtypes accepted (inputs, weight and output share one dtype).
        devices: ``"cpu"`` and/or ``"cuda"``.
        stride, dilation, groups: whether values other than 1 are supported.
        padding: padding forms supported: ``"int"``, ``"pair"`` (per-axis tuple),
            ``"same"``, ``"valid"``. Zero padding (``0``) is always supported.
        bias: whether a bias tensor may be passed.
        unbatched: whether 3-D ``(C, H, W)`` input is supported.
        layouts: memory layouts accepted for input, weight and bias:
            ``"contiguous"``, ``"channels_last"``, ``"strided"`` (non-contiguous
            views), ``"offset"`` (non-zero storage offset).
        autograd: whether gradients flow to input, weight and bias.
        deterministic: whether two calls on the same arguments give bitwise equal results.
        tf32: float32 products may be computed from inputs rounded to TF32
            (10 mantissa bits); the target is then judged at that precision.
        accumulation: ``"float32"`` (F.conv2d's contract: float16 and bfloat16 are
            accumulated in float32 and rounded once) or ``"dtype"`` (accumulated in
            the input dtype itself); the target is judged at the declared precision.
        ieee: NaN and infinities propagate as IEEE arithmetic says, overflow gives inf and
            subnormals are kept (``False`` for fast-math kernels, and for FFT or Winograd
            algorithms, whose transforms spread a NaN over a whole plane or tile).
        subnormals: ``"half-may-flush"`` (the default): float16 and bfloat16 subnormals may
            be flushed to zero, a platform behaviour (AMX flushes bfloat16 denormals, GPU fast
            paths commonly flush float16), reported as a note and never failed; float32 and
            float64 keep them. ``"keep"``: gradual underflow is promised in every dtype, and a
            flush fails.
        double_backward: gradients are themselves differentiable (gradient penalties,
            Hessian-vector products).
        thread_safe: calls from several threads at once give the serial results.
        preserves_layout: the output of a channels_last input is channels_last, as F.conv2d's
            is (``False``, the default: a contiguous output is reported as a note, not failed).
        max_elements: the largest input (in elements) the target wants to be called on;
            the search stays below it (``None``: no limit). A slow target declares it
            instead of timing out on large cases.
    """

    dtypes: tuple[torch.dtype, ...] = ALL_DTYPES
    devices: tuple[str, ...] = ALL_DEVICES
    stride: bool = True
    dilation: bool = True
    groups: bool = True
    padding: tuple[str, ...] = ALL_PADDING
    bias: bool = True
    unbatched: bool = True
    layouts: tuple[str, ...] = ALL_LAYOUTS
    autograd: bool = True
    deterministic: bool = True
    tf32: bool = False
    accumulation: str = "float32"
    ieee: bool = True
    subnormals: str = "half-may-flush"
    double_backward: bool = True
    thread_safe: bool = True
    preserves_layout: bool = False
    max_elements: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtypes", tuple(_as_dtype(d) for d in self.dtypes))
        object.__setattr__(self, "devices", _subset("devices", self.devices, ALL_DEVICES))
        object.__setattr__(self, "padding", _subset("padding", self.padding, ALL_PADDING))
        object.__setattr__(self, "layouts", _subset("layouts", self.layouts, ALL_LAYOUTS))
        if self.accumulation not in ACCUMULATIONS:
            raise ValueError(
                f"accumulation={self.accumulation!r}; expected one of {ACCUMULATIONS} "
                "('float32': F.conv2d's float32 accumulation, 'dtype': accumulated in the input dtype)"
            )
        if self.subnormals not in SUBNORMALS:
            raise ValueError(
                f"subnormals={self.subnormals!r}; expected one of {SUBNORMALS} ('half-may-flush': "
                "float16/bfloat16 may flush subnormals to zero, noted but not failed; 'keep': gradual "
                "underflow in every dtype)"
            )
        if self.max_elements is not None and (
            isinstance(self.max_elements, bool)
            or not isinstance(self.max_elements, int)
            or self.max_elements < 1
        ):
            raise ValueError(
                f"max_elements={self.max_elements!r}; expected a positive int or None (no limit)"
            )
        if "contiguous" not in self.layouts:
            raise ValueError("layouts must include 'contiguous'")
        if not self.dtypes:
            raise ValueError("dtypes is empty; a target must support at least one dtype")
        for name in (
            "stride",
            "dilation",
            "groups",
            "bias",
            "unbatched",
            "autograd",
            "deterministic",
            "tf32",
            "ieee",
            "double_backward",
            "thread_safe",
            "preserves_layout",
        ):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"{name}={value!r}; expected True or False")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Capabilities:
        """Build from a ``dict`` of field names, naming any unknown key."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - fields)
        if unknown:
            raise ValueError(f"unknown capability {unknown[0]!r}; known ones are {sorted(fields)}")
        return cls(**dict(mapping))

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly view, used in reports."""
        out = dataclasses.asdict(self)
        out["dtypes"] = [dtype_name(d) for d in self.dtypes]
        for key in ("devices", "padding", "layouts"):
            out[key] = list(out[key])
        return out


def capabilities_of(target: object) -> Capabilities:
    """The capabilities a target declares, or the full contract if it declares none."""
    declared = getattr(target, "__conv2d_capabilities__", None)
    if declared is None:
        return Capabilities()
    if isinstance(declared, Capabilities):
        return declared
    if isinstance(declared, Mapping):
        return Capabilities.from_mapping(declared)
    raise TypeError(
        f"__conv2d_capabilities__={declared!r}; expected a conv2d.gate.Capabilities or a dict of its fields"
    )


def declare(**fields: Any) -> Callable[[F], F]:
    """Decorate a target with the configurations it supports.

    >>> @declare(dtypes=("float32",), devices=("cuda",), autograd=False)
    ... def my_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1): ...
    """
    caps = Capabilities.from_mapping(fields)

    def apply(fn: F) -> F:
        fn.__conv2d_capabilities__ = caps  # type: ignore[attr-defined]
        return fn

    return apply
