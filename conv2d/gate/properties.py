"""The property catalogue: each law a convolution must obey, as a short checked function.

Every property takes a :class:`~conv2d.gate.target.Target` and a
:class:`~conv2d.gate.case.ConvCase` and raises
:class:`~conv2d.gate.target.Violation` when the law does not hold. They are
plain functions, usable outside pytest and outside Hypothesis::

    from conv2d.gate import PROPERTIES, ConvCase, Target
    PROPERTIES["matches-reference"].check(Target.load("mypkg.conv:conv2d"), ConvCase(...))

Laws that relate two computed results (linearity, groups, strides...) are
judged exactly like the reference comparison: each computed tensor may differ
from its exact value by its rounding bound (see :mod:`conv2d.gate.tolerance`),
so the two sides may differ by the sum of their bounds, and by nothing more.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
import math
import threading
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from conv2d.gate.capabilities import Capabilities
from conv2d.gate.case import INPUT_LAYOUTS, Args, ConvCase, as_pair, resolve_padding
from conv2d.gate.judge import check_meta as _check_meta
from conv2d.gate.judge import contract as _precision
from conv2d.gate.judge import may_flush, note_ratio, record_ratios
from conv2d.gate.judge import transform_length as _transformed
from conv2d.gate.judge import within as _within
from conv2d.gate.reference import Exact, exact_conv, reference, reference_grads, second_order_scales
from conv2d.gate.target import Target, Unsupported, Violation
from conv2d.gate.tolerance import Precision, bound

__all__ = ["PROPERTIES", "Note", "Property", "collect_notes", "may_flush", "notice", "record_ratios"]

Check = Callable[[Target, ConvCase], None]


@dataclasses.dataclass(frozen=True)
class Property:
    """One law of the catalogue.

    Attributes:
        name: short kebab-case identifier, used on the command line and in reports.
        check: the function that checks one case.
        kinds: target kinds it applies to.
        require: constraints on the cases it is checked on (see ``strategies.REQUIREMENTS``).
        examples: cases drawn under the default profile.
        needs: capability fields that must be declared (true, or non-empty) for the law to apply.
        devices: devices the law needs all of at once (``("cpu", "cuda")`` for a parity law).
        layouts: whether the law needs a layout other than contiguous.
    """

    name: str
    check: Check
    kinds: tuple[str, ...]
    require: frozenset[str]
    examples: int
    needs: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    layouts: bool = False

    @property
    def law(self) -> str:
        """The law in one sentence (the first line of the check's docstring)."""
        return (self.check.__doc__ or "").strip().splitlines()[0]

    def unsupported_by(self, caps: Capabilities) -> str | None:
        """Why the declared capabilities rule this property out, or None."""
        if self.devices and not set(self.devices) <= set(caps.devices):
            return f"declared devices {list(caps.devices)} do not include all of {list(self.devices)}"
        if self.layouts and set(caps.layouts) == {"contiguous"}:
            return "declared layouts are contiguous only"
        if "large" in self.require and caps.max_elements is not None and caps.max_elements < 2**16:
            return f"declared max_elements={caps.max_elements}, below the 2**16 elements this law needs"
        for field in self.needs:
            value = getattr(caps, field)
            if not value:
                return f"declared {field}={value!r}"
        return None


PROPERTIES: dict[str, Property] = {}


def _law(
    name: str,
    *,
    kinds: Sequence[str] = ("conv2d", "corr2d"),
    require: Sequence[str] = (),
    examples: int = 40,
    needs: Sequence[str] = (),
    devices: Sequence[str] = (),
    layouts: bool = False,
) -> Callable[[Check], Check]:
    def add(check: Check) -> Check:
        PROPERTIES[name] = Property(
            name, check, tuple(kinds), frozenset(require), examples, tuple(needs), tuple(devices), layouts
        )
        return check

    return add


# -- shared judgement helpers -----------------------------------------------------------------


def _bound_of(
    target: Target,
    case: ConvCase,
    exact: Exact,
    *,
    reduction: int | None = None,
    backward: bool = False,
    precision: Precision | None = None,
) -> torch.Tensor:
    return bound(
        exact.value,
        exact.magnitude,
        reduction=case.reduction_length if reduction is None else reduction,
        precision=precision or _precision(target, case, backward=backward),
        transformed=_transformed(case),
        scale=exact.scale,
        unbiased=exact.unbiased,
    )


@dataclasses.dataclass(frozen=True)
class Note:
    """Something a law observed that is reported but does not fail it (a platform behaviour).

    Attributes:
        text: what was observed, the same for every case it was observed on.
        behaviour: the name of the host behaviour it is (:mod:`conv2d.gate.upstream`), or ``""``.
        cases: on how many cases it was observed.
    """

    text: str
    behaviour: str = ""
    cases: int = 1

    def render(self) -> str:
        return f"{self.text} (on {self.cases} case{'s' if self.cases != 1 else ''})"


_NOTES: contextvars.ContextVar[list[Note] | None] = contextvars.ContextVar("conv2d_notes", default=None)


def notice(text: str, *, behaviour: str = "") -> None:
    """Report ``text`` on the verdict without failing the law (outside :func:`collect_notes`, nothing happens)."""
    seen = _NOTES.get()
    if seen is not None:
        seen.append(Note(text, behaviour))


@contextlib.contextmanager
def collect_notes() -> Iterator[list[Note]]:
    """Collect the notes the laws make inside the block."""
    seen: list[Note] = []
    token = _NOTES.set(seen)
    try:
        yield seen
    finally:
        _NOTES.reset(token)


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(device="cpu", dtype=torch.float64)


def _storage_span(t: torch.Tensor) -> tuple[int, int]:
    start = t.untyped_storage().data_ptr()
    return start, start + t.untyped_storage().nbytes()


def _overlaps(a: torch.Tensor, b: torch.Tensor) -> bool:
    (a0, a1), (b0, b1) = _storage_span(a), _storage_span(b)
    return a0 < b1 and b0 < a1 and a1 > a0 and b1 > b0


def _tensors(args: Args) -> list[tuple[str, torch.Tensor]]:
    """The tensor arguments of a call, by name."""
    named = (("input", args.input), ("weight", args.weight), ("bias", args.bias))
    return [(name, t) for name, t in named if t is not None]


def _call_checked(target: Target, case: ConvCase, args: Args, what: str = "output") -> torch.Tensor:
    """Call the target; check the output's shape, dtype and device, and that it is a fresh tensor."""
    out = target(args)
    _check_meta(out, case.output_shape, case, what)
    for name, t in _tensors(args):
        if _overlaps(out, t):
            raise Violation(f"{what} shares memory with the {name} argument, but should be a fresh tensor")
    return out


# -- the laws ---------------------------------------------------------------------------------


@_law("output-shape", examples=60)
def output_shape(target: Target, case: ConvCase) -> None:
    """The output has F.conv2d's shape (the output-size formula), the input's dtype and its device."""
    _call_checked(target, case, case.materialize())


@_law("matches-reference", examples=150)
def matches_reference(target: Target, case: ConvCase) -> None:
    """Every output element is within its rounding bound of F.conv2d computed exactly in float64."""
    args = case.materialize()
    out = _call_checked(target, case, args)
    exact = reference(args)
    _within_reference(target, case, exact, out, "output vs float64 reference")


@_law("large-input", require=("large",), examples=6)
def large_input(target: Target, case: ConvCase) -> None:
    """Inputs of 2**16 elements and more (past narrow-index and size-threshold limits) match the reference.

    Size thresholds also switch allocators: the output must stay intact when the
    target is called again on a problem of the same size.
    """
    args = case.materialize()
    out = _call_checked(target, case, args)
    exact = reference(args)
    _within_reference(target, case, exact, out, "output vs float64 reference")
    kept = out.detach().clone()
    again = _call_checked(target, case, case.replace(seed=case.seed + 1).materialize(), "second output")
    if _overlaps(out, again) or not torch.equal(out, kept):
        raise Violation(
            "the first output changed when the target was called again on a problem of the same size: "
            "the target reuses its output buffer for large outputs"
        )


def _linear_combination(target: Target, case: ConvCase, vary: str) -> None:
    a, b = 0.5, -2.0  # powers of two: scaling is exact, only the sum rounds
    args = case.materialize()
    other = case.replace(seed=case.seed + 1).materialize()
    first, second = getattr(args, vary), getattr(other, vary)
    mixed = a * first + b * second
    y_mixed = _call_checked(target, case, args.replace(**{vary: mixed}), "output of the combination")
    y1 = _call_checked(target, case, args, "output")
    y2 = _call_checked(target, case, args.replace(**{vary: second}), "output of the second operand")
    exact_mixed = reference(args.replace(**{vary: mixed}))
    exact1 = reference(args)
    exact2 = reference(args.replace(**{vary: second}))
    # what rounding ``mixed`` to the dtype changed, computed exactly
    rounding = _f64(mixed) - (a * _f64(first) + b * _f64(second))
    correction = reference(args.replace(**{vary: rounding})).value
    expected = a * _f64(y1) + b * _f64(y2) + correction

    def allowed(p: Precision) -> torch.Tensor:
        return (
            _bound_of(target, case, exact_mixed, precision=p)
            + abs(a) * _bound_of(target, case, exact1, precision=p)
            + abs(b) * _bound_of(target, case, exact2, precision=p)
        )

    what = f"conv(a*{vary}1 + b*{vary}2) vs a*conv({vary}1) + b*conv({vary}2)"
    _within(y_mixed, expected, allowed, what, target=target, case=case)


@_law("linearity-input", require=("no-bias",), examples=40)
def linearity_input(target: Target, case: ConvCase) -> None:
    """conv(a*x1 + b*x2, w) = a*conv(x1, w) + b*conv(x2, w)."""
    _linear_combination(target, case, "input")


@_law("linearity-weight", require=("no-bias",), examples=40)
def linearity_weight(target: Target, case: ConvCase) -> None:
    """conv(x, a*w1 + b*w2) = a*conv(x, w1) + b*conv(x, w2)."""
    _linear_combination(target, case, "weight")


def _rot180(t: torch.Tensor) -> torch.Tensor:
    return t.flip(-2, -1)


@_law("flipped-kernel", require=("unit-stride", "symmetric-padding"), examples=40)
def flipped_kernel(target: Target, case: ConvCase) -> None:
    """Convolution is correlation with the flipped kernel: rotating input and kernel by 180° rotates the output."""
    args = case.materialize()
    out = _call_checked(target, case, args)
    turned = _call_checked(
        target,
        case,
        args.replace(input=_rot180(args.input), weight=_rot180(args.weight)),
        "output of the rotated call",
    )
    exact = reference(args)

    def allowed(p: Precision) -> torch.Tensor:
        # turned[i] and rot180(out)[i] both approximate rot180(exact)[i]: each within rot180(bound)[i]
        return 2 * _rot180(_bound_of(target, case, exact, precision=p))

    what = "conv(rot180 x, rot180 w) vs rot180 conv(x, w)"
    _within(turned, _rot180(_f64(out)), allowed, what, target=target, case=case)


@_law("bias-superposition", kinds=("conv2d",), require=("bias",), examples=30, needs=("bias",))
def bias_superposition(target: Target, case: ConvCase) -> None:
    """conv(x, w, b) = conv(x, w) + b, with b broadcast over batch and space."""
    args = case.materialize()
    assert args.bias is not None
    with_bias = _call_checked(target, case, args)
    without = _call_checked(target, case, args.replace(bias=None), "output without bias")
    exact_with, exact_without = reference(args), reference(args.replace(bias=None))
    expected = _f64(without) + _f64(args.bias)[:, None, None]

    def allowed(p: Precision) -> torch.Tensor:
        return _bound_of(target, case, exact_with, precision=p) + _bound_of(
            target, case, exact_without, precision=p
        )

    _within(with_bias, expected, allowed, "conv(x, w, b) vs conv(x, w) + b", target=target, case=case)


@_law("groups-concat", kinds=("conv2d",), require=("grouped",), examples=40, needs=("groups",))
def groups_concat(target: Target, case: ConvCase) -> None:
    """A grouped convolution is the concatenation of per-group convolutions with groups=1."""
    args = case.materialize()
    out = _call_checked(target, case, args)
    g, cin, cout = case.groups, case.in_channels // case.groups, case.out_channels // case.groups
    parts = []
    for i in range(g):
        part_case = case.replace(in_channels=cin, out_channels=cout, groups=1)
        part_args = args.replace(
            input=args.input.narrow(-3, i * cin, cin),
            weight=args.weight[i * cout : (i + 1) * cout],
            bias=None if args.bias is None else args.bias[i * cout : (i + 1) * cout],
            groups=1,
        )
        parts.append(_f64(_call_checked(target, part_case, part_args, f"output of group {i}")))
    exact = reference(args)
    _within(
        out,
        torch.cat(parts, dim=-3),
        lambda p: 2 * _bound_of(target, case, exact, precision=p),
        f"groups={g} output vs concatenated per-group outputs",
        target=target,
        case=case,
    )


@_law("batch-independence", kinds=("conv2d",), examples=30)
def batch_independence(target: Target, case: ConvCase) -> None:
    """Each sample's output depends on that sample alone: a batch equals its samples, one by one and unbatched."""
    args = case.materialize()
    out = _call_checked(target, case, args)
    exact = reference(args)
    allowed = 2 * _bound_of(target, case, exact)
    if case.batch is None:  # unbatched: compare with the same sample as a batch of one
        one = case.replace(batch=1)
        batched = _call_checked(
            target, one, args.replace(input=args.input.unsqueeze(0)), "output of the batch of one"
        )
        _within(out, _f64(batched)[0], allowed, "unbatched output vs the same input as a batch of one")
        return
    for n in range(case.batch):
        single = _call_checked(
            target, case.replace(batch=1), args.replace(input=args.input[n : n + 1]), f"output of sample {n}"
        )
        _within(out[n : n + 1], _f64(single), allowed[n : n + 1], f"batch output[{n}] vs sample {n} alone")
        if target.capabilities.unbatched:
            alone = _call_checked(
                target,
                case.replace(batch=None),
                args.replace(input=args.input[n]),
                f"unbatched output of sample {n}",
            )
            _within(out[n], _f64(alone), allowed[n], f"batch output[{n}] vs sample {n} as unbatched input")


@_law("padding-forms", kinds=("conv2d",), examples=40, needs=("padding",))
def padding_forms(target: Target, case: ConvCase) -> None:
    """Any padding ("same", "valid", an int, a pair) equals zero-padding the input explicitly and using padding=0."""
    args = case.materialize()
    out = _call_checked(target, case, args)
    top, bottom, left, right = resolve_padding(case.padding, case.kernel, as_pair(case.dilation))
    padded = F.pad(args.input, (left, right, top, bottom))
    flat = case.replace(height=case.height + top + bottom, width=case.width + left + right, padding=0)
    explicit = _call_checked(
        target, flat, args.replace(input=padded, padding=0), "output with explicit padding"
    )
    exact = reference(args)
    _within(
        out,
        _f64(explicit),
        lambda p: 2 * _bound_of(target, case, exact, precision=p),
        f"padding={case.padding!r} vs explicit zero padding",
        target=target,
        case=case,
    )


@_law("stride-subsampling", kinds=("conv2d",), require=("strided",), examples=40, needs=("stride",))
def stride_subsampling(target: Target, case: ConvCase) -> None:
    """A strided convolution is the stride-1 convolution subsampled every stride rows and columns."""
    args = case.materialize()
    out = _call_checked(target, case, args)
    sh, sw = as_pair(case.stride)
    dense_case = case.replace(stride=1)
    dense = _call_checked(target, dense_case, args.replace(stride=1), "stride-1 output")
    exact, exact_dense = reference(args), reference(args.replace(stride=1))

    def allowed(p: Precision) -> torch.Tensor:
        dense_allowed = _bound_of(target, dense_case, exact_dense, precision=p)[..., ::sh, ::sw]
        return _bound_of(target, case, exact, precision=p) + dense_allowed

    what = f"stride={case.stride!r} vs stride-1 output subsampled"
    _within(out, _f64(dense)[..., ::sh, ::sw], allowed, what, target=target, case=case)


def _dilate(weight: torch.Tensor, dilation: tuple[int, int]) -> torch.Tensor:
    dh, dw = dilation
    kh, kw = weight.shape[-2:]
    out = weight.new_zeros(*weight.shape[:-2], dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    out[..., ::dh, ::dw] = weight
    return out


@_law("dilation-zero-insert", kinds=("conv2d",), require=("dilated",), examples=40, needs=("dilation",))
def dilation_zero_insert(target: Target, case: ConvCase) -> None:
    """A dilated kernel equals the kernel with dilation-1 zeros inserted between its taps, at dilation 1."""
    args = case.materialize()
    out = _call_checked(target, case, args)
    d = as_pair(case.dilation)
    wide = _dilate(args.weight, d)
    wide_case = case.replace(kernel=(wide.shape[-2], wide.shape[-1]), dilation=1)
    plain = _call_checked(
        target, wide_case, args.replace(weight=wide, dilation=1), "output with the zero-inserted kernel"
    )
    exact, exact_wide = reference(args), reference(args.replace(weight=wide, dilation=1))

    def allowed(p: Precision) -> torch.Tensor:
        return _bound_of(target, case, exact, precision=p) + _bound_of(
            target, wide_case, exact_wide, precision=p
        )

    what = f"dilation={case.dilation!r} vs zero-inserted kernel"
    _within(out, _f64(plain), allowed, what, target=target, case=case)


def _delta_weight(case: ConvCase, args: Args) -> torch.Tensor:
    """A kernel with one tap of 1 per output channel, at a case-chosen position and input channel."""
    weight = torch.zeros_like(args.weight)
    kh, kw = case.kernel
    i, j = case.seed % kh, (case.seed // kh) % kw
    if weight.dim() == 2:
        weight[i, j] = 1
        return weight
    cin = weight.shape[1]
    shift = 0 if case.seed % 2 == 0 else case.seed  # shift 0: the identity when C_out == C_in
    for o in range(weight.shape[0]):
        weight[o, (o + shift) % cin, i, j] = 1
    return weight


@_law("delta-identity", examples=30)
def delta_identity(target: Target, case: ConvCase) -> None:
    """A kernel with a single tap of 1 copies the (padded, strided, dilated) input: conv(x, δ) = shifted x."""
    args = case.materialize()
    args = args.replace(weight=_delta_weight(case, args))
    out = _call_checked(target, case, args)
    exact = reference(args)
    _within_reference(target, case, exact, out, "output for a single-tap kernel vs the shifted input")


@_law("shift-equivariance", require=("no-padding",), examples=30)
def shift_equivariance(target: Target, case: ConvCase) -> None:
    """Cropping whole strides off the input's top-left crops the same number of rows and columns off the output."""
    out_h, out_w = case.out_spatial
    if out_h == 1 and out_w == 1:  # nothing to crop: the law reduces to a well-formed output
        _call_checked(target, case, case.materialize())
        return
    a, b = (case.seed % out_h), ((case.seed // 7) % out_w)
    if a == 0 and b == 0:
        a, b = (1, 0) if out_h > 1 else (0, 1)
    sh, sw = as_pair(case.stride)
    args = case.materialize()
    out = _call_checked(target, case, args)
    cropped = case.replace(height=case.height - a * sh, width=case.width - b * sw)
    shifted = _call_checked(
        target,
        cropped,
        args.replace(input=args.input[..., a * sh :, b * sw :]),
        "output of the cropped input",
    )
    exact = reference(args)
    _within(
        out[..., a:, b:],
        _f64(shifted),
        lambda p: 2 * _bound_of(target, case, exact, precision=p)[..., a:, b:],
        f"output[..., {a}:, {b}:] vs output of input[..., {a * sh}:, {b * sw}:]",
        target=target,
        case=case,
    )


def _grad_case(case: ConvCase, args: Args) -> tuple[list[torch.Tensor], torch.Tensor]:
    leaves = [t.detach().requires_grad_() for t in (args.input, args.weight, args.bias) if t is not None]
    generator = torch.Generator().manual_seed(case.seed + 17)
    grad = (torch.rand(case.output_shape, generator=generator, dtype=torch.float64) * 2 - 1).to(
        dtype=case.torch_dtype, device=case.device
    )
    return leaves, grad


def target_grads(target: Target, case: ConvCase, args: Args) -> tuple[Args, torch.Tensor, torch.Tensor, list]:
    leaves, grad_output = _grad_case(case, args)
    args = args.replace(input=leaves[0], weight=leaves[1], bias=leaves[2] if args.bias is not None else None)
    with torch.enable_grad():
        out = _call_checked(target, case, args)
        if out.grad_fn is None:
            raise Violation(
                "output.grad_fn=None, but should carry autograd history (input and weight require grad); "
                "declare autograd=False if the target does not support autograd"
            )
        grads = target.backward(out, leaves, grad_output)
    names = ("input", "weight", "bias")
    for name, leaf, grad in zip(names, leaves, grads, strict=False):
        if grad is None:
            raise Violation(
                f"{name}.grad=None, but should be a tensor: the output does not depend on {name} through autograd"
            )
        if tuple(grad.shape) != tuple(leaf.shape) or grad.dtype != leaf.dtype:
            raise Violation(
                f"{name}.grad has shape {tuple(grad.shape)} and dtype {grad.dtype}, "
                f"but should have {tuple(leaf.shape)} and {leaf.dtype}"
            )
    return args, out, grad_output, list(grads)


def _grad_reductions(case: ConvCase) -> tuple[int, int, int]:
    """Products summed per element of grad_input, grad_weight and grad_bias."""
    out_h, out_w = case.out_spatial
    per_plane = (case.batch or 1) * out_h * out_w
    return (case.out_channels // case.groups) * case.kernel[0] * case.kernel[1], per_plane, per_plane


def _bound_of_precision(target: Target, case: ConvCase, exact: Exact, precision: Precision) -> torch.Tensor:
    return _bound_of(target, case, exact, precision=precision)


def _within_reference(target: Target, case: ConvCase, exact: Exact, out: torch.Tensor, what: str) -> float:
    """Raise unless ``out`` is within its bound of the exact result (naming a weaker precision it fits)."""
    return _within(
        out,
        exact.value,
        functools.partial(_bound_of_precision, target, case, exact),
        what,
        target=target,
        case=case,
    )


def _twice_bound(target: Target, case: ConvCase, exact: Exact, precision: Precision) -> torch.Tensor:
    """The bound on the difference of two computed results, each within its own bound."""
    return 2 * _bound_of(target, case, exact, precision=precision)


def _grad_bound(
    target: Target, case: ConvCase, exact: Exact, reduction: int, precision: Precision
) -> torch.Tensor:
    return _bound_of(target, case, exact, reduction=reduction, precision=precision)


@_law("gradients", require=(), examples=40, needs=("autograd",))
def gradients(target: Target, case: ConvCase) -> None:
    """Input, weight and bias gradients are within their rounding bounds of the exact float64 gradients."""
    args = case.materialize()
    args, _, grad_output, grads = target_grads(target, case, args)
    exact = reference_grads(args, grad_output)
    reductions = _grad_reductions(case)
    pairs = [("input", exact.input), ("weight", exact.weight), ("bias", exact.bias)]
    for (name, ex), grad, k in zip(pairs, grads, reductions, strict=False):
        assert ex is not None
        _within(
            grad,
            ex.value,
            functools.partial(_grad_bound, target, case, ex, k),
            f"{name}.grad vs float64 reference gradient",
            target=target,
            case=case,
            backward=True,
        )


@_law("adjoint", examples=30, needs=("autograd",))
def adjoint(target: Target, case: ConvCase) -> None:
    """Backward is the adjoint of forward: <conv(x, w) + b, g> = <x, dx> + <b, db> = <w, dw> + <b, db>."""
    args = case.materialize()
    args, out, g, grads = target_grads(target, case, args)
    exact_out = reference(args)
    exact = reference_grads(args, g)
    g64 = _f64(g)
    lhs = (_f64(out) * g64).sum()
    bias_term = torch.zeros((), dtype=torch.float64)
    bias_slack = torch.zeros((), dtype=torch.float64)
    reductions = _grad_reductions(case)
    if args.bias is not None and exact.bias is not None:
        bias_term = (_f64(args.bias) * _f64(grads[2])).sum()
        bias_slack = (
            _f64(args.bias).abs()
            * _bound_of(target, case, exact.bias, reduction=reductions[2], backward=True)
        ).sum()
    slack_out = (g64.abs() * _bound_of(target, case, exact_out)).sum()
    for name, leaf, grad, ex, k in (
        ("input", args.input, grads[0], exact.input, reductions[0]),
        ("weight", args.weight, grads[1], exact.weight, reductions[1]),
    ):
        rhs = (_f64(leaf) * _f64(grad)).sum() + bias_term
        slack = (
            slack_out
            + (_f64(leaf).abs() * _bound_of(target, case, ex, reduction=k, backward=True)).sum()
            + bias_slack
        )
        # the three inner products are sums of many terms, each rounded once in float64
        slack = slack + 4 * torch.finfo(torch.float64).eps * (g64.abs() * exact_out.magnitude).sum()
        note_ratio(float((lhs - rhs).abs() / (slack + torch.finfo(torch.float64).tiny)))
        if not (lhs - rhs).abs() <= slack:
            raise Violation(
                f"<out, g>={float(lhs):.9g}, but <{name}, d{name}> + <b, db>={float(rhs):.9g}; "
                f"difference {float((lhs - rhs).abs()):.3g} exceeds the bound {float(slack):.3g}"
            )


@_law("layout-invariance", examples=40, layouts=True)
def layout_invariance(target: Target, case: ConvCase) -> None:
    """The result does not depend on memory layout: channels_last, strided views and offsets give the contiguous result."""
    if case.input_layout == case.weight_layout == "contiguous":
        alternatives = [x for x in INPUT_LAYOUTS if x != "contiguous"]
        usable = [
            x
            for x in alternatives
            if case.replace(input_layout=x).layout_capabilities <= {*target.capabilities.layouts}
        ]
        case = case.replace(input_layout=usable[case.seed % len(usable)])
    args = case.materialize()
    out = _call_checked(target, case, args)
    plain_case = case.replace(input_layout="contiguous", weight_layout="contiguous", bias_layout="contiguous")
    plain = _call_checked(target, plain_case, plain_case.materialize(), "output for contiguous arguments")
    exact = reference(args)
    _within(
        out,
        _f64(plain),
        lambda p: 2 * _bound_of(target, case, exact, precision=p),
        f"layouts {case.input_layout}/{case.weight_layout} vs contiguous",
        target=target,
        case=case,
    )


@_law("input-immutability", examples=30)
def input_immutability(target: Target, case: ConvCase) -> None:
    """The call leaves its arguments unchanged: same values, same strides."""
    args = case.materialize()
    before = [(name, t.detach().clone(), t.stride(), t.storage_offset()) for name, t in _tensors(args)]
    target(args)
    for (name, now), (_, saved, stride, offset) in zip(_tensors(args), before, strict=True):
        if now.stride() != stride or now.storage_offset() != offset:
            raise Violation(f"{name}.stride()={now.stride()}, but should still be {stride} after the call")
        if not torch.equal(now, saved):
            changed = int(torch.ne(now, saved).sum())
            raise Violation(f"{name} was modified by the call: {changed} of {now.numel()} elements changed")


@_law("no-aliasing", examples=30)
def no_aliasing(target: Target, case: ConvCase) -> None:
    """The output is a fresh tensor: it shares memory with no argument and is not overwritten by the next call."""
    args = case.materialize()
    out = target(args)
    for name, t in _tensors(args):
        if _overlaps(out, t):
            raise Violation(f"output shares memory with {name}, but should be a fresh tensor")
    kept = out.detach().clone()
    again = target(case.replace(seed=case.seed + 1).materialize())
    if _overlaps(out, again):
        raise Violation(
            "the second call's output shares memory with the first call's output, but should be fresh"
        )
    if not torch.equal(out, kept):
        raise Violation(
            "the first output changed when the target was called again: the target reuses its output buffer"
        )


@_law("determinism", examples=30, needs=("deterministic",))
def determinism(target: Target, case: ConvCase) -> None:
    """Two calls on equal arguments give bitwise equal results, also for long (split) reductions."""
    variants = [case]
    if case.kind == "conv2d":  # split-K and atomic reductions live in wide channel counts
        variants.append(case.replace(in_channels=case.groups * 33))
    for variant in variants:
        first = target(variant.materialize())
        second = target(variant.materialize())
        if first.shape != second.shape or not torch.equal(first, second):
            differ = int((first != second).sum()) if first.shape == second.shape else first.numel()
            raise Violation(
                f"two calls on equal arguments differ in {differ} of {first.numel()} elements "
                f"(C_in={variant.in_channels}), but should be bitwise equal"
            )


# -- the rest of the contract: empty and special values, autograd paths, threads, state, invalid input


@_law("empty-batch", kinds=("conv2d",), require=("batched",), examples=12)
def empty_batch(target: Target, case: ConvCase) -> None:
    """A batch of zero images gives F.conv2d's empty (0, C_out, H', W') output, dtype and device, and zero gradients."""
    empty = case.replace(batch=0)
    args = empty.materialize()
    out = _call_checked(target, empty, args, "output for a batch of 0")
    if not target.capabilities.autograd:
        return
    leaves, grad_output = _grad_case(empty, args)
    call = args.replace(input=leaves[0], weight=leaves[1], bias=leaves[2] if args.bias is not None else None)
    with torch.enable_grad():
        out = _call_checked(target, empty, call, "output for a batch of 0")
        if out.grad_fn is None:
            raise Violation("output.grad_fn=None for a batch of 0, but should carry autograd history")
        grads = target.backward(out, leaves, grad_output)
    for name, leaf, grad in zip(("input", "weight", "bias"), leaves, grads, strict=False):
        if grad is None or tuple(grad.shape) != tuple(leaf.shape):
            shape = None if grad is None else tuple(grad.shape)
            raise Violation(
                f"{name}.grad={shape} for a batch of 0, but should be zeros of shape {tuple(leaf.shape)}"
            )
        if name != "input" and bool(grad.detach().ne(0).any()):
            raise Violation(f"{name}.grad is nonzero for a batch of 0, but a sum over no images is 0")


def _contiguous(case: ConvCase) -> ConvCase:
    return case.replace(input_layout="contiguous", weight_layout="contiguous", bias_layout="contiguous")


def _plant(t: torch.Tensor, seed: int, values: Sequence[float]) -> torch.Tensor:
    """A copy of ``t`` with ``values`` written at seed-chosen, distinct flat positions."""
    out = t.detach().clone().contiguous()
    flat = out.view(-1)
    for i, v in enumerate(values[: flat.numel()]):
        flat[(seed * (2 * i + 1) + 7 * i) % flat.numel()] = v
    return out


_IM2COL = torch.ops.aten.im2col.default
_PAD = torch.ops.aten.constant_pad_nd.default


def _implicit_padding_products(case: ConvCase, args: Args) -> torch.Tensor:
    """The float64 result as a sum of the products of *real* input elements with the kernel.

    Padding is implicit, as in F.conv2d and cuDNN: a padded position contributes no
    product at all, so an infinite weight tap over the padding gives no ``inf * 0``.
    Every product of real elements is formed, so NaN * 0 and inf * 0 inside the input are NaN.
    """
    if case.kind == "corr2d":  # no padding: every product is of real elements
        return reference(args).value
    x, w = _f64(args.input), _f64(args.weight)
    x4 = x if x.dim() == 4 else x[None]
    top, bottom, left, right = resolve_padding(case.padding, case.kernel, as_pair(case.dilation))
    pads = [left, right, top, bottom]
    kernel, dilation, stride = list(case.kernel), list(as_pair(case.dilation)), list(as_pair(case.stride))
    cols = _IM2COL(_PAD(x4, pads, 0.0), kernel, dilation, [0, 0], stride)
    real = _IM2COL(_PAD(torch.ones_like(x4), pads, 0.0), kernel, dilation, [0, 0], stride) > 0
    n, g = x4.shape[0], case.groups
    taps = w.shape[1] * case.kernel[0] * case.kernel[1]
    cols, real = cols.view(n, g, taps, -1), real.view(n, g, taps, -1)
    per_group = case.out_channels // g
    planes = []
    for o in range(case.out_channels):
        group = o // per_group
        products = w[o].reshape(taps)[None, :, None] * cols[:, group]
        planes.append(torch.where(real[:, group], products, torch.zeros_like(products)).sum(dim=1))
    out = torch.stack(planes, dim=1).reshape(n, case.out_channels, *case.out_spatial)
    if args.bias is not None:
        out = out + _f64(args.bias).view(1, -1, 1, 1)
    return out if x.dim() == 4 else out[0]


@_law("special-values", examples=30, needs=("ieee",))
def special_values(target: Target, case: ConvCase) -> None:
    """NaN and ±inf in the input, weight or bias propagate as IEEE arithmetic says (NaN·0 = NaN): as in F.conv2d."""
    case = _contiguous(case)
    args = case.materialize()
    where = case.seed % 4  # 0: input, 1: weight, 2: bias, 3: all three
    nan, inf = float("nan"), float("inf")
    x = _plant(args.input, case.seed, (nan, inf, -inf)) if where in (0, 3) else args.input
    w = args.weight
    if where == 0:  # zero taps too: NaN * 0 and inf * 0 are NaN, so skipping zero weights shows
        w = w.detach().clone().contiguous()
        w.view(-1)[case.seed % 2 :: 2] = 0
    if where in (1, 3):
        w = _plant(w, case.seed + 1, (inf,) if where == 1 else (nan,))
    b = args.bias
    if b is not None and where in (2, 3):
        b = _plant(b, case.seed + 2, (nan,))
    special = args.replace(input=x, weight=w, bias=b)
    out = _f64(_call_checked(target, case, special))
    exact = _implicit_padding_products(case, special).to(case.torch_dtype).to(torch.float64)  # dtype overflow
    padded = reference(special).value.to(case.torch_dtype).to(torch.float64)  # padding multiplied in
    # Padding may be skipped (F.conv2d, cuDNN) or multiplied in (im2col): an infinite weight over
    # the padding gives NaN one way and a finite value the other, and both are right. An infinite
    # result may also come out NaN: blocked kernels multiply it by a zero pad (inf * 0 = NaN).
    nan_out = torch.isnan(out)
    checks = (
        ("NaN", torch.isnan(exact), nan_out),
        ("+inf", torch.isposinf(exact), torch.isposinf(out) | nan_out),
        ("-inf", torch.isneginf(exact), torch.isneginf(out) | nan_out),
        ("finite", torch.isfinite(exact), torch.isfinite(out) | (nan_out & torch.isnan(padded))),
    )
    for what, expected, got in checks:
        wrong = expected & ~got
        if bool(wrong.any()):
            index = tuple(int(i) for i in wrong.nonzero()[0])
            raise Violation(
                f"output{index}={float(out[index])!r}, but should be {float(exact[index])!r}: {int(wrong.sum())} "
                f"elements that should be {what} are not (NaN and infinities in the arguments must propagate, "
                "and nothing else may become non-finite; declare ieee=False for a fast-math kernel)"
            )


def _power_of_two_above(value: float) -> float:
    return 2.0 ** math.ceil(math.log2(value))


@_law("overflow-to-inf", kinds=("conv2d",), require=("no-bias",), examples=15, needs=("ieee",))
def overflow_to_inf(target: Target, case: ConvCase) -> None:
    """A result beyond the dtype's largest finite value is ±inf (IEEE overflow), not saturated to the largest value."""
    case = _contiguous(case)
    args = case.materialize()
    big = _power_of_two_above(math.sqrt(torch.finfo(case.torch_dtype).max))  # big * big overflows
    sign = -1.0 if case.seed % 2 else 1.0
    x = torch.full_like(args.input, big)
    w = torch.full_like(args.weight, sign * big)
    over = args.replace(input=x, weight=w)
    out = _f64(_call_checked(target, case, over))
    exact = reference(over).value.to(case.torch_dtype).to(torch.float64)
    wrong = (exact != out) & ~(torch.isnan(exact) & torch.isnan(out))
    if bool(wrong.any()):
        index = tuple(int(i) for i in wrong.nonzero()[0])
        raise Violation(
            f"output{index}={float(out[index])!r}, but should be {float(exact[index])!r}: a result past the "
            f"largest finite {case.dtype} overflows to infinity (declare ieee=False for a saturating kernel)"
        )


@_law("subnormals-kept", kinds=("conv2d",), require=("no-bias",), examples=15, needs=("ieee",))
def subnormals_kept(target: Target, case: ConvCase) -> None:
    """Subnormal inputs give subnormal outputs: a single-tap kernel copies them exactly, nothing is flushed to zero (float16/bfloat16 may flush unless subnormals="keep" is declared: a note, not a failure)."""
    case = _contiguous(case)
    args = case.materialize()
    tiny = torch.finfo(case.torch_dtype).tiny
    generator = torch.Generator().manual_seed(case.seed)
    steps = torch.randint(1, 8, args.input.shape, generator=generator).to(torch.float64)
    x = (steps * tiny / 8).to(case.torch_dtype)  # k/8 of the smallest normal: exact subnormals
    sub = args.replace(input=x, weight=_delta_weight(case, args))
    out = _call_checked(target, case, sub)
    exact = reference(sub)
    flushed = (out.detach().to("cpu", torch.float64) == 0) & (exact.value != 0)
    if bool(flushed.any()):
        if not may_flush(target.capabilities, case.torch_dtype):
            keep = " or subnormals='half-may-flush'" if case.dtype in ("float16", "bfloat16") else ""
            raise Violation(
                f"{int(flushed.sum())} of {flushed.numel()} subnormal results were flushed to zero "
                f"(denormals-are-zero or flush-to-zero mode); declare ieee=False{keep} if intended"
            )
        notice(
            f"{case.dtype} subnormals are flushed to zero (a platform behaviour in half precision: "
            "reported, not failed; declare subnormals='keep' to be held to gradual underflow)",
            behaviour=f"{case.dtype}-subnormals-flushed",
        )
    _within_reference(target, case, exact, out, "subnormal output")


_SUBSETS = (("input",), ("weight",), ("bias",), ("input", "bias"), ("weight", "bias"), ("input", "weight"))


@_law("gradient-subsets", require=(), examples=30, needs=("autograd",))
def gradient_subsets(target: Target, case: ConvCase) -> None:
    """With only some of input, weight and bias requiring grad (a frozen weight, a frozen input), each of those gets its exact gradient."""
    args = case.materialize()
    names = ["input", "weight"] + (["bias"] if args.bias is not None else [])
    subsets = [s for s in _SUBSETS if set(s) <= set(names)]
    wanted = subsets[case.seed % len(subsets)]
    generator = torch.Generator().manual_seed(case.seed + 17)
    grad_output = (torch.rand(case.output_shape, generator=generator, dtype=torch.float64) * 2 - 1).to(
        dtype=case.torch_dtype, device=case.device
    )
    tensors = {n: getattr(args, n).detach().requires_grad_(n in wanted) for n in names}
    call = args.replace(**tensors)
    with torch.enable_grad():
        out = _call_checked(target, case, call)
        if out.grad_fn is None:
            raise Violation(
                f"output.grad_fn=None with only {', '.join(wanted)} requiring grad, but should carry autograd history"
            )
        grads = target.backward(out, [tensors[n] for n in wanted], grad_output)
    exact = reference_grads(call, grad_output)
    reductions = dict(zip(("input", "weight", "bias"), _grad_reductions(case), strict=True))
    for name, grad in zip(wanted, grads, strict=True):
        if grad is None:
            raise Violation(
                f"{name}.grad=None with only {', '.join(wanted)} requiring grad, but should be a tensor: "
                f"the gradient is lost when the other arguments are frozen"
            )
        ex = getattr(exact, name)
        _within(
            grad,
            ex.value,
            functools.partial(_grad_bound, target, case, ex, reductions[name]),
            f"{name}.grad (only {', '.join(wanted)} requiring grad) vs float64 reference gradient",
            target=target,
            case=case,
            backward=True,
        )


def _second_order(
    call: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x, w, v, u_x, u_w
) -> list[torch.Tensor]:
    """d/d(x, w) of <d<call(x, w), v>/dx, u_x> + <d<call(x, w), v>/dw, u_w>: the double-backward products."""
    out = call(x, w)
    gx, gw = torch.autograd.grad(out, [x, w], v, create_graph=True)
    inner = (gx * u_x).sum() + (gw * u_w).sum()
    return list(torch.autograd.grad(inner, [x, w], allow_unused=True))


@_law(
    "double-backward",
    kinds=("conv2d",),
    require=("no-bias",),
    examples=20,
    needs=("autograd", "double_backward"),
)
def double_backward(target: Target, case: ConvCase) -> None:
    """Gradients are differentiable: second derivatives (double backward) match the exact float64 ones."""
    args = case.materialize()
    generator = torch.Generator().manual_seed(case.seed + 29)

    def rand(shape: Sequence[int]) -> torch.Tensor:
        return (torch.rand(tuple(shape), generator=generator, dtype=torch.float64) * 2 - 1).to(
            dtype=case.torch_dtype, device=case.device
        )

    v, u_x, u_w = rand(case.output_shape), rand(case.input_shape), rand(case.weight_shape)
    x, w = args.input.detach().requires_grad_(), args.weight.detach().requires_grad_()

    def target_call(xx: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
        return _call_checked(target, case, args.replace(input=xx, weight=ww))

    with torch.enable_grad():
        got = target._run("double backward", lambda: _second_order(target_call, x, w, v, u_x, u_w))
    f64 = [_f64(t) for t in (args.input, args.weight, v, u_x, u_w)]
    with torch.enable_grad():
        leaves = [f64[0].clone().requires_grad_(), f64[1].clone().requires_grad_()]
        want = _second_order(lambda xx, ww: exact_conv(args, xx, ww), *leaves, *f64[2:])
        mags = _second_order(
            lambda xx, ww: exact_conv(args, xx, ww),
            f64[0].abs().requires_grad_(),
            f64[1].abs().requires_grad_(),
            *(t.abs() for t in f64[2:]),
        )
    # every second-derivative element sums at most all products of v with u_x or u_w
    reduction = math.prod(case.output_shape) * case.kernel[0] * case.kernel[1]
    scales = second_order_scales(v, u_x, u_w, case.groups)
    for name, g, exact, mag, like, scale in zip(
        ("input", "weight"), got, want, mags, f64[:2], scales, strict=True
    ):
        if g is None:
            raise Violation(
                f"the second derivative with respect to {name} is None, but should be a tensor: "
                "the first-order gradients are computed outside autograd (declare double_backward=False if intended)"
            )
        zero = torch.zeros_like(like)
        ex = Exact(zero if exact is None else exact.detach(), zero if mag is None else mag.detach(), scale)
        _within(
            g,
            ex.value,
            functools.partial(_grad_bound, target, case, ex, reduction),
            f"double backward: d/d{name} of the input and weight gradients vs float64 reference",
            target=target,
            case=case,
            backward=True,
        )


@_law("concurrency", kinds=("conv2d",), examples=15, needs=("thread_safe",))
def concurrency(target: Target, case: ConvCase) -> None:
    """Calls from four threads at once give the results of the same calls made one after another."""
    calls = [case.replace(seed=case.seed + i).materialize() for i in range(4)]
    serial = [_f64(_call_checked(target, case, a)) for a in calls]
    barrier = threading.Barrier(len(calls))
    results: list[torch.Tensor | BaseException | None] = [None] * len(calls)

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=target.timeout)
            results[i] = _f64(_call_checked(target, case, calls[i]))
        except BaseException as exc:  # reported below, in this thread
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(4 * target.timeout)
    for i, (alone, together) in enumerate(zip(serial, results, strict=True)):
        if isinstance(together, BaseException):
            raise Violation(f"call {i} of 4 concurrent calls raised {type(together).__name__}: {together}")
        if together is None:
            raise Violation(f"call {i} of 4 concurrent calls did not finish")
        exact = reference(calls[i])
        _within(
            together,
            alone,
            functools.partial(_twice_bound, target, case, exact),
            f"call {i} of 4 made at once from threads vs the same call alone (declare thread_safe=False if intended)",
            target=target,
            case=case,
        )


@_law("no-side-effects", examples=20)
def no_side_effects(target: Target, case: ConvCase) -> None:
    """A call leaves torch's global settings (default dtype, grad mode, flush-denormal, deterministic and TF32 flags, threads) as it found them."""
    target(case.materialize())  # Target checks the state around every call, in the calling thread too
    target.backward  # noqa: B018  (the same check guards backward calls)


def _invalid_variants(case: ConvCase, args: Args) -> list[tuple[str, Args]]:
    """Calls that F.conv2d rejects, each with what is wrong about it."""
    x, w = args.input, args.weight
    cin = x.shape[-3]
    other = torch.float32 if case.torch_dtype != torch.float32 else torch.float64
    kh, kw = case.kernel
    out = [
        (
            f"an input with {cin + case.groups} channels for a weight expecting {cin}",
            args.replace(input=torch.cat([x, x.narrow(-3, 0, case.groups)], dim=-3)),
        ),
        ("a weight of rank 3", args.replace(weight=w[:, 0])),
        (f"a weight of dtype {other} for an input of {case.torch_dtype}", args.replace(weight=w.to(other))),
        ("negative padding", args.replace(padding=-1)),
        ("stride 0", args.replace(stride=0, padding=0 if args.padding == "same" else args.padding)),
        (
            "a kernel larger than the padded input",
            args.replace(
                weight=torch.zeros(
                    *w.shape[:-2], x.shape[-2] + 2 * 8 + kh, kw, dtype=w.dtype, device=w.device
                ),
                padding=0,
                dilation=1,
            ),
        ),
    ]
    if case.out_channels % (case.groups + 1) or cin % (case.groups + 1):
        out.append(
            (
                f"groups={case.groups + 1}, which does not divide the channels",
                args.replace(groups=case.groups + 1),
            )
        )
    return out


@_law("invalid-input", kinds=("conv2d",), examples=30)
def invalid_input(target: Target, case: ConvCase) -> None:
    """Arguments F.conv2d rejects (channel mismatch, bad groups, weight rank, dtype mismatch, negative padding, stride 0, kernel too large) raise an error."""
    args = case.materialize()
    variants = _invalid_variants(case, args)
    what, bad = variants[case.seed % len(variants)]
    try:
        out = target(bad)
    except (Violation, Unsupported):  # the target raised: it rejected the call
        return
    raise Violation(
        f"the call with {what} returned a tensor of shape {tuple(out.shape)}, but should raise an error, as F.conv2d does"
    )


_F_CONV2D_PARAMETERS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_F_CONV2D_DEFAULTS = {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}


def signature_differences(fn: Callable[..., object]) -> list[str]:
    """How ``fn``'s signature differs from F.conv2d's in names, order and defaults (empty when it does not, or cannot be read)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return []
    names = [p.name for p in params]
    out = []
    if names[: len(_F_CONV2D_PARAMETERS)] != list(_F_CONV2D_PARAMETERS):
        out.append(f"parameters are {names}, but F.conv2d's are {list(_F_CONV2D_PARAMETERS)}")
    for p in params:
        if (
            p.name in _F_CONV2D_DEFAULTS
            and p.default is not inspect.Parameter.empty
            and p.default != _F_CONV2D_DEFAULTS[p.name]
        ):
            out.append(f"default {p.name}={p.default!r}, but F.conv2d's is {_F_CONV2D_DEFAULTS[p.name]!r}")
    return out


@_law("calling-conventions", kinds=("conv2d",), examples=25)
def calling_conventions(target: Target, case: ConvCase) -> None:
    """Positional arguments, keywords and omitted defaults all call the same convolution as F.conv2d's signature says."""
    args = case.materialize()
    exact = reference(args)
    p = args.params()
    forms: list[tuple[str, Callable[[], object]]] = [
        (
            "all positional",
            lambda: target.fn(
                args.input, args.weight, args.bias, p["stride"], p["padding"], p["dilation"], p["groups"]
            ),
        ),
        ("all keywords", lambda: target.fn(input=args.input, weight=args.weight, bias=args.bias, **p)),
    ]
    omitted = {k: v for k, v in p.items() if v != _F_CONV2D_DEFAULTS[k]}
    if args.bias is None:
        forms.append(("defaults omitted", lambda: target.fn(args.input, args.weight, **omitted)))
    for name, call in forms:
        try:
            out = target._run(f"the call ({name})", call)
            if not isinstance(out, torch.Tensor):
                raise Violation(
                    f"the call ({name}) returned a {type(out).__name__}, but should return a torch.Tensor"
                )
            _check_meta(out, case.output_shape, case, f"output ({name})")
            _within_reference(target, case, exact, out, f"output ({name}) vs float64 reference")
        except Violation as exc:
            differences = signature_differences(target.fn)
            raise Violation(f"{exc}\nsignature: {'; '.join(differences) or 'same as F.conv2d'}") from exc


@_law("device-parity", examples=20, devices=("cpu", "cuda"))
def device_parity(target: Target, case: ConvCase) -> None:
    """CUDA and CPU results agree: each is within its bound of the exact result, so they differ by at most both bounds."""
    cpu_case, cuda_case = case.replace(device="cpu"), case.replace(device="cuda")
    on_cpu = _call_checked(target, cpu_case, cpu_case.materialize(), "CPU output")
    on_cuda = _call_checked(target, cuda_case, cuda_case.materialize(), "CUDA output")
    exact = reference(cpu_case.materialize())
    _within(
        on_cuda,
        _f64(on_cpu),
        lambda p: 2 * _bound_of(target, case, exact, precision=p),
        "CUDA output vs CPU output",
        target=target,
        case=case,
    )


#: The order properties run and report in. A fail-fast run stops at the first failing
#: property, so the checks most bugs fail come first (shape, values and first derivatives
#: against the reference), then the short contract checks, then the metamorphic laws (which
#: catch what a shared reference could hide), and the slow ones (repeats, threads) last.
_ORDER = (
    "output-shape",
    "matches-reference",
    "gradients",
    "empty-batch",
    "invalid-input",
    "calling-conventions",
    "special-values",
    "overflow-to-inf",
    "subnormals-kept",
    "no-side-effects",
    "gradient-subsets",
    "double-backward",
    "large-input",
    "input-immutability",
    "no-aliasing",
    "linearity-input",
    "linearity-weight",
    "flipped-kernel",
    "bias-superposition",
    "groups-concat",
    "batch-independence",
    "padding-forms",
    "stride-subsampling",
    "dilation-zero-insert",
    "delta-identity",
    "shift-equivariance",
    "adjoint",
    "layout-invariance",
    "determinism",
    "concurrency",
    "device-parity",
)
assert set(_ORDER) == set(PROPERTIES), sorted(set(PROPERTIES) ^ set(_ORDER))
PROPERTIES = {name: PROPERTIES[name] for name in _ORDER}
