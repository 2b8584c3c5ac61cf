"""Thin adapters that give other libraries' convolutions F.conv2d's (or corr2d's) signature.

Each adapter only translates: torch tensors to the library's arrays and back, and
F.conv2d's arguments to the library's spelling of the same thing. It checks nothing
itself, so an argument the library accepts and F.conv2d refuses (a negative padding,
say) reaches the library, and the verdict is the library's. Each declares only what the
library documents: its dtypes, whether it takes unbatched input, and no autograd (the
arrays leave torch's graph).

The libraries are imported on first call, so this module imports without them;
``benchmarks/libraries.py`` installs them into a separate environment and runs the gate
on every adapter.
"""

from __future__ import annotations

import functools
import numbers
import os
import threading
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from conv2d.gate import declare

__all__ = [
    "jax_conv1d",
    "jax_conv2d",
    "jax_conv3d",
    "jax_conv_transpose2d",
    "onnxruntime_conv1d",
    "onnxruntime_conv2d",
    "onnxruntime_conv3d",
    "onnxruntime_conv_transpose2d",
    "opencv_filter2d",
    "scipy_correlate2d",
    "scipy_ndimage_correlate",
    "tinygrad_conv2d",
    "tinygrad_conv_transpose2d",
    "torch_channels_last",
    "torch_without_onednn",
]

_FLOATS = ("float64", "float32")


def _axes(value: Any, rank: int = 2) -> tuple[Any, ...]:
    """An int as one value per axis; a sequence as it is, whatever its length (the library judges it)."""
    return (value,) * rank if isinstance(value, numbers.Integral) else tuple(value)


def _padding_word(padding: str, stride: Any, words: dict[str, Any], library: str, rank: int = 2) -> Any:
    """F.conv2d's padding string in the library's spelling.

    A string F.conv2d refuses has no counterpart, nor has 'same' with a stride other than 1:
    F.conv2d defines it for stride 1 only, where the libraries' SAME agrees with it.
    """
    if padding not in words or (padding == "same" and set(_axes(stride, rank)) != {1}):
        raise ValueError(
            f"padding={padding!r} with stride={stride!r} has no counterpart in {library} (F.conv2d refuses it too)"
        )
    return words[padding]


def _numpy(t: torch.Tensor) -> np.ndarray:
    """The values of ``t`` as a numpy array (bfloat16 widened to float32, exactly)."""
    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _torch(array: Any, like: torch.Tensor) -> torch.Tensor:
    """``array`` back as a tensor of ``like``'s dtype and device."""
    values = np.asarray(array)
    if values.dtype.name == "bfloat16":
        values = values.astype(np.float32)
    return torch.from_numpy(np.array(values, copy=True)).to(dtype=like.dtype, device=like.device)  # writable


# -- JAX ---------------------------------------------------------------------------------------------
@functools.cache
def _jax() -> Any:
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 stays float64
    return jax


def _jax_array(t: torch.Tensor) -> Any:
    """``t`` as a JAX array of its own dtype (never converted to another tensor's)."""
    jnp = _jax().numpy
    array = jnp.asarray(_numpy(t))
    return array.astype(jnp.bfloat16) if t.dtype == torch.bfloat16 else array


@declare(
    dtypes=("float64", "float32", "float16", "bfloat16"),
    devices=("cpu",),
    unbatched=False,
    autograd=False,
    bias=False,
)
def jax_conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``jax.lax.conv_general_dilated`` in NCHW/OIHW, float16/bfloat16 accumulated in float32 as documented.

    lax's convolution takes no bias, so none is declared (a bias added by the adapter would be
    the adapter's arithmetic, and its broadcasting would accept biases F.conv2d refuses).
    """
    return _jax_conv(2, input, weight, bias, stride, padding, dilation, groups)


#: lax's dimension numbers (input, kernel, output) for one, two and three spatial axes.
_JAX_LAYOUTS = {1: ("NCH", "OIH", "NCH"), 2: ("NCHW", "OIHW", "NCHW"), 3: ("NCDHW", "OIDHW", "NCDHW")}


def _jax_conv(
    rank: int,
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> torch.Tensor:
    """``jax.lax.conv_general_dilated`` over ``rank`` spatial axes (the JAX adapters' one translation)."""
    if bias is not None:
        raise NotImplementedError("jax.lax.conv_general_dilated takes no bias")
    if isinstance(padding, str):
        pads = _padding_word(padding, stride, {"same": "SAME", "valid": "VALID"}, "jax.lax", rank)
    else:
        pads = [(p, p) for p in _axes(padding, rank)]
    return _lax(
        input, _jax_array(weight), _axes(stride, rank), pads, (1,) * rank, _axes(dilation, rank), groups
    )


def _lax(
    input: torch.Tensor, w: Any, strides: Any, pads: Any, lhs_dilation: Any, rhs_dilation: Any, groups: int
) -> torch.Tensor:
    """``jax.lax.conv_general_dilated`` of ``input`` and the lax array ``w`` in NC...: the JAX adapters' one call.

    float16/bfloat16 are accumulated in float32 (``preferred_element_type``), as lax documents,
    and the result comes back in the input's dtype.
    """
    jax = _jax()
    x = _jax_array(input)
    wide = jax.numpy.float32 if input.dtype in (torch.float16, torch.bfloat16) else None
    out = jax.lax.conv_general_dilated(
        x,
        w,
        window_strides=strides,
        padding=pads,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=_JAX_LAYOUTS[w.ndim - 2],
        feature_group_count=groups,
        preferred_element_type=wide,
    )
    return _torch(out.astype(x.dtype), input)


_JAX_DECLARED: dict[str, Any] = {
    "dtypes": ("float64", "float32", "float16", "bfloat16"),
    "devices": ("cpu",),
    "unbatched": False,
    "autograd": False,
    "bias": False,
}


@declare(**_JAX_DECLARED)
def jax_conv1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``jax.lax.conv_general_dilated`` in NCH/OIH (F.conv1d's signature), as :func:`jax_conv2d`."""
    return _jax_conv(1, input, weight, bias, stride, padding, dilation, groups)


@declare(**_JAX_DECLARED)
def jax_conv3d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``jax.lax.conv_general_dilated`` in NCDHW/OIDHW (F.conv3d's signature), as :func:`jax_conv2d`."""
    return _jax_conv(3, input, weight, bias, stride, padding, dilation, groups)


@declare(**_JAX_DECLARED)
def jax_conv_transpose2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> torch.Tensor:
    """A transposed convolution in lax's spelling: ``conv_general_dilated`` with ``lhs_dilation``.

    lax documents ``lhs_dilation`` as "also known as transposed convolution" (its own
    ``conv_transpose`` takes no groups). The adapter only re-indexes: the weight
    ``(C_in, C_out/groups, kH, kW)`` becomes ``(C_out, C_in/groups, kH, kW)`` group by group and
    is reversed along both axes, and each axis is padded by ``dilation·(k−1) − padding`` before
    and that plus ``output_padding`` after. A pad that comes out negative reaches lax as it is
    (lax crops), and an ``output_padding`` F.conv_transpose2d refuses is lax's to judge. A
    padding or output_padding of the wrong length has no translation (lax takes one pair per
    axis) and raises, as lax does for one.
    """
    jax = _jax()
    if bias is not None:
        raise NotImplementedError("jax.lax.conv_general_dilated takes no bias")
    w = _jax_array(weight)
    c_in, per_group, *kernel = weight.shape
    w = w.reshape(groups, c_in // groups, per_group, *kernel).swapaxes(1, 2)
    w = jax.numpy.flip(w.reshape(groups * per_group, c_in // groups, *kernel), axis=(2, 3))
    strides, dilations = _axes(stride, 2), _axes(dilation, 2)
    pads = [
        (d * (k - 1) - p, d * (k - 1) - p + extra)
        for k, d, p, extra in zip(kernel, dilations, _axes(padding, 2), _axes(output_padding, 2), strict=True)
    ]
    return _lax(input, w, (1, 1), pads, strides, dilations, groups)


# -- ONNX Runtime ------------------------------------------------------------------------------------
@functools.cache
def _onnx_session(
    bias: bool, attributes: tuple[tuple[str, Any], ...], rank: int = 2, op: str = "Conv"
) -> Any:
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper

    names = ["X", "W", "B"] if bias else ["X", "W"]
    node = helper.make_node(op, names, ["Y"], **dict(attributes))
    axes = ["d", "h", "w"][3 - rank :]
    first = "c" if op == "ConvTranspose" else "o"  # ConvTranspose's weight leads with the input channels
    shapes = {"X": ["n", "c", *axes], "W": [first, "g", *(f"k{a}" for a in axes)], "B": ["o"]}
    graph = helper.make_graph(
        [node],
        op.lower(),
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shapes[name]) for name in names],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["n", "o", *(f"{a}o" for a in axes)])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@declare(dtypes=("float32",), devices=("cpu",), unbatched=False, autograd=False)
def onnxruntime_conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor:
    """ONNX ``Conv`` (opset 17) on ONNX Runtime's CPU provider: 'same' is ``auto_pad=SAME_UPPER``."""
    return _onnx_conv(2, input, weight, bias, stride, padding, dilation, groups)


def _onnx_conv(
    rank: int,
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> torch.Tensor:
    """ONNX ``Conv`` over ``rank`` spatial axes (the ONNX Runtime adapters' one translation)."""
    kernel = list(weight.shape[2:])
    attributes: dict[str, Any] = {
        "strides": list(_axes(stride, rank)),
        "dilations": list(_axes(dilation, rank)),
    }
    attributes.update({"group": groups, "kernel_shape": kernel})
    if isinstance(padding, str):
        attributes["auto_pad"] = _padding_word(
            padding, stride, {"same": "SAME_UPPER", "valid": "VALID"}, "ONNX", rank
        )
    else:
        pads = list(_axes(padding, rank))
        attributes["pads"] = pads + pads  # ONNX: all begins, then all ends
    return _onnx_run("Conv", rank, attributes, input, weight, bias)


def _onnx_run(
    op: str, rank: int, attributes: dict[str, Any], input: torch.Tensor, weight: torch.Tensor, bias: Any
) -> torch.Tensor:
    """One ONNX ``op`` node with ``attributes`` on the arrays of the tensors: the ONNX Runtime adapters' one call."""
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in attributes.items()))
    session = _onnx_session(bias is not None, frozen, rank, op)
    feeds = {"X": _numpy(input), "W": _numpy(weight)}
    if bias is not None:
        feeds["B"] = _numpy(bias)
    return _torch(session.run(["Y"], feeds)[0], input)


@declare(dtypes=("float32",), devices=("cpu",), unbatched=False, autograd=False)
def onnxruntime_conv1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor:
    """ONNX ``Conv`` on a 1-D input (F.conv1d's signature), as :func:`onnxruntime_conv2d`."""
    return _onnx_conv(1, input, weight, bias, stride, padding, dilation, groups)


@declare(dtypes=("float32",), devices=("cpu",), unbatched=False, autograd=False)
def onnxruntime_conv3d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor:
    """ONNX ``Conv`` on a 3-D input (F.conv3d's signature), as :func:`onnxruntime_conv2d`."""
    return _onnx_conv(3, input, weight, bias, stride, padding, dilation, groups)


@declare(dtypes=("float32",), devices=("cpu",), unbatched=False, autograd=False)
def onnxruntime_conv_transpose2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> torch.Tensor:
    """ONNX ``ConvTranspose`` (opset 17) on ONNX Runtime's CPU provider.

    Its weight is ``(C, M/group, kH, kW)``, as F.conv_transpose2d's; ``pads`` are the begins,
    then the ends, and ``output_padding`` adds to the end, as F.conv_transpose2d's does.
    """
    pads = list(_axes(padding, 2))
    attributes = {
        "strides": tuple(_axes(stride, 2)),
        "dilations": tuple(_axes(dilation, 2)),
        "output_padding": tuple(_axes(output_padding, 2)),
        "pads": tuple(pads + pads),
        "group": groups,
        "kernel_shape": tuple(weight.shape[2:]),
    }
    return _onnx_run("ConvTranspose", 2, attributes, input, weight, bias)


# -- tinygrad ---------------------------------------------------------------------------------------
def _tinygrad(
    method: str, input: torch.Tensor, weight: torch.Tensor, bias: Any, **params: Any
) -> torch.Tensor:
    """``tinygrad.Tensor.<method>`` on its default device, its disk cache off (``CACHELEVEL=0``).

    tinygrad keeps compiled kernels in an SQLite cache that only the thread which opened it
    may use; the gate calls a target from a thread of its own, so the cache is switched off
    by tinygrad's documented environment variable before tinygrad is imported.
    """
    os.environ.setdefault("CACHELEVEL", "0")
    from tinygrad import Tensor

    b = None if bias is None else Tensor(_numpy(bias))
    out = getattr(Tensor(_numpy(input)), method)(Tensor(_numpy(weight)), b, **params)
    return _torch(out.numpy(), input)


_TINYGRAD_DECLARED: dict[str, Any] = {
    "dtypes": ("float32",),
    "devices": ("cpu",),
    "unbatched": False,
    "autograd": False,
    "padding": ("int", "pair"),
}


@declare(**_TINYGRAD_DECLARED)
def tinygrad_conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``tinygrad.Tensor.conv2d`` (see :func:`_tinygrad` for the cache).

    tinygrad documents its conv2d for any number of spatial axes, so this adapter serves the
    conv1d and conv3d rows too: F.conv1d's and F.conv3d's signatures are F.conv2d's.
    """
    return _tinygrad(
        "conv2d", input, weight, bias, groups=groups, stride=stride, dilation=dilation, padding=padding
    )


@declare(**_TINYGRAD_DECLARED)
def tinygrad_conv_transpose2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> torch.Tensor:
    """``tinygrad.Tensor.conv_transpose2d``, whose weight is F.conv_transpose2d's ``(C_in, C_out/groups, kH, kW)``."""
    return _tinygrad(
        "conv_transpose2d",
        input,
        weight,
        bias,
        groups=groups,
        stride=stride,
        dilation=dilation,
        padding=padding,
        output_padding=output_padding,
    )


# -- corr2d kind: OpenCV and scipy -------------------------------------------------------------------
def _valid(full: Any, X: torch.Tensor, K: torch.Tensor, start: tuple[int, int]) -> torch.Tensor:
    """The valid positions of a same-size correlation whose position ``start`` is valid position 0."""
    rows, cols = X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1
    return _torch(np.asarray(full)[start[0] : start[0] + rows, start[1] : start[1] + cols], X)


@declare(dtypes=_FLOATS, devices=("cpu",), autograd=False)
def opencv_filter2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``cv2.filter2D`` (a correlation) anchored at the kernel's corner, zero border, cropped to the valid part."""
    import cv2

    full = cv2.filter2D(_numpy(X), -1, _numpy(K), anchor=(0, 0), delta=0, borderType=cv2.BORDER_CONSTANT)
    return _valid(full, X, K, (0, 0))


@declare(dtypes=_FLOATS, devices=("cpu",), autograd=False)
def scipy_correlate2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``scipy.signal.correlate2d(X, K, mode='valid')``."""
    from scipy import signal

    return _torch(signal.correlate2d(_numpy(X), _numpy(K), mode="valid"), X)


@declare(dtypes=_FLOATS, devices=("cpu",), autograd=False)
def scipy_ndimage_correlate(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``scipy.ndimage.correlate`` with a zero border, cropped to the valid part (its centre is ``K.shape // 2``)."""
    from scipy import ndimage

    full = ndimage.correlate(_numpy(X), _numpy(K), mode="constant", cval=0.0)
    return _valid(full, X, K, (K.shape[0] // 2, K.shape[1] // 2))


_MKLDNN_SWITCH = threading.Lock()


# -- torch's own paths -------------------------------------------------------------------------------
@declare(thread_safe=False)  # mkldnn.flags switches a process-wide setting for the call
def torch_without_onednn(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor:
    """F.conv2d with oneDNN (mkldnn) switched off for the call: torch's native CPU kernels.

    The switch is process-wide, so calls from several threads take turns: two overlapping
    ``mkldnn.flags`` blocks would restore each other's value and leave it changed.
    """
    with _MKLDNN_SWITCH, torch.backends.mkldnn.flags(enabled=False):
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def torch_channels_last(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> torch.Tensor:
    """F.conv2d on channels_last copies of a batched input and its weight: torch's channels_last kernels."""
    if input.dim() == 4:
        input = input.contiguous(memory_format=torch.channels_last)
        weight = weight.contiguous(memory_format=torch.channels_last)
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


#: name -> (target string, kind, the library's own name for what is verified).
ADAPTERS: dict[str, tuple[str, str, str]] = {
    "torch (default)": ("torch.nn.functional:conv2d", "conv2d", "torch.nn.functional.conv2d"),
    "torch, oneDNN off": (f"{__name__}:torch_without_onednn", "conv2d", "F.conv2d under mkldnn.flags(False)"),
    "torch, channels_last": (f"{__name__}:torch_channels_last", "conv2d", "F.conv2d on channels_last"),
    "JAX": (f"{__name__}:jax_conv2d", "conv2d", "jax.lax.conv_general_dilated"),
    "ONNX Runtime": (f"{__name__}:onnxruntime_conv2d", "conv2d", "ONNX Conv, CPUExecutionProvider"),
    "torch conv1d": ("torch.nn.functional:conv1d", "conv1d", "torch.nn.functional.conv1d"),
    "torch conv3d": ("torch.nn.functional:conv3d", "conv3d", "torch.nn.functional.conv3d"),
    "torch conv_transpose2d": (
        "torch.nn.functional:conv_transpose2d",
        "conv_transpose2d",
        "torch.nn.functional.conv_transpose2d",
    ),
    "JAX conv1d": (f"{__name__}:jax_conv1d", "conv1d", "jax.lax.conv_general_dilated, NCH"),
    "JAX conv3d": (f"{__name__}:jax_conv3d", "conv3d", "jax.lax.conv_general_dilated, NCDHW"),
    "ONNX Runtime conv1d": (f"{__name__}:onnxruntime_conv1d", "conv1d", "ONNX Conv, 1-D"),
    "ONNX Runtime conv3d": (f"{__name__}:onnxruntime_conv3d", "conv3d", "ONNX Conv, 3-D"),
    "tinygrad": (f"{__name__}:tinygrad_conv2d", "conv2d", "tinygrad.Tensor.conv2d"),
    "JAX conv_transpose2d": (
        f"{__name__}:jax_conv_transpose2d",
        "conv_transpose2d",
        "jax.lax.conv_general_dilated, lhs_dilation",
    ),
    "ONNX Runtime conv_transpose2d": (
        f"{__name__}:onnxruntime_conv_transpose2d",
        "conv_transpose2d",
        "ONNX ConvTranspose",
    ),
    "tinygrad conv1d": (f"{__name__}:tinygrad_conv2d", "conv1d", "tinygrad.Tensor.conv2d, 1-D"),
    "tinygrad conv3d": (f"{__name__}:tinygrad_conv2d", "conv3d", "tinygrad.Tensor.conv2d, 3-D"),
    "tinygrad conv_transpose2d": (
        f"{__name__}:tinygrad_conv_transpose2d",
        "conv_transpose2d",
        "tinygrad.Tensor.conv_transpose2d",
    ),
    "OpenCV": (f"{__name__}:opencv_filter2d", "corr2d", "cv2.filter2D"),
    "scipy.signal": (f"{__name__}:scipy_correlate2d", "corr2d", "scipy.signal.correlate2d"),
    "scipy.ndimage": (f"{__name__}:scipy_ndimage_correlate", "corr2d", "scipy.ndimage.correlate"),
}
