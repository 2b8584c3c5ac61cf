"""Sanity tests of the zoo itself: mutants show their bugs, correct alternatives are correct.

These tests check the zoo against F.conv2d in float64 directly (on contiguous copies);
whether the gate catches the mutants is the gate's own tests' business.

Many zoo entries run the host's float16/bfloat16 GEMMs or its F.conv2d in float32,
which must not run in the pytest process (``tests/_tripwire.py``): the zoo entries are
called in a worker process (``tests/_isolation.py``), and a worker the host's torch
kills skips the test, naming the signal.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import random
from collections.abc import Callable
from typing import Any

import _isolation
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from conv2d.gate.laws import signature_differences
from conv2d.gate.vocabulary import Category
from conv2d.zoo import CORRECT, MUTANTS, ZooEntry, by_name
from conv2d.zoo import corr2d as zoo_corr2d
from conv2d.zoo import mutants as zoo_mutants
from conv2d.zoo import spatial as zoo_spatial
from conv2d.zoo import transposed as zoo_transposed

DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)

#: Largest allowed error, as a ratio to |x| * |w| + |b| (the scale of each output element).
#: Correct float16/bfloat16 results are off by up to one rounding (2**-11, 2**-8).
THRESHOLDS = {torch.float64: 1e-9, torch.float32: 1e-5, torch.float16: 5e-3, torch.bfloat16: 3e-2}

#: Mutants whose trigger covers the generic easy input, so the easy-input check is skipped.
TRIGGER_EVERYWHERE = {
    "grad_bias_batch_mean": "wrong whenever the batch has more than one sample",
    "float64_via_float32": "wrong for every float64 input, and the easy input is float64",
    "off_by_one_corr2d": "wrong output size for every input",
    "flipped_kernel_corr2d": "wrong for every kernel that is not point-symmetric",
    "transposed_kernel_corr2d": "wrong for every kernel that is not symmetric",
    "inplace_flip_corr2d": "mutates every kernel that is not point-symmetric",
    "kernel_not_flipped_conv_transpose2d": "wrong for every kernel that is not point-symmetric",
    "conv2d_weight_layout_conv_transpose2d": "wrong whenever both C_in and C_out/groups exceed 1",
    "weight_flipped_in_place_conv_transpose2d": "mutates every kernel that is not point-symmetric",
    "grad_weight_not_flipped_conv_transpose2d": "a wrong weight gradient for every kernel that is not point-symmetric",
    "causal_padding_conv1d": "wrong whenever the padding is not zero, and the easy input is padded",
    "depth_kernel_reversed_conv3d": "wrong for every kernel that is not symmetric in depth",
    "weight_grad_first_sample_conv3d": "a wrong weight gradient whenever the batch has more than one sample",
}

Args = tuple[tuple[Any, ...], dict[str, Any]]


def _corr2d_reference(x: Tensor, k: Tensor) -> Tensor:
    return F.conv2d(x[None, None], k[None, None])[0, 0]


def _reference_fn(kind: str) -> Callable[..., Tensor]:
    """F.conv2d, F.conv_transpose2d (or corr2d through F.conv2d), for float64 contiguous arguments only."""
    return {
        "conv2d": F.conv2d,
        "conv_transpose2d": F.conv_transpose2d,
        "conv1d": F.conv1d,
        "conv3d": F.conv3d,
    }.get(kind, _corr2d_reference)


def _rounded_exact(kind: str) -> Callable[..., Tensor]:
    """A correct implementation: F.conv2d in float64 on contiguous copies, rounded once to the input's dtype.

    Differentiable: the gradients flow back through the casts, each rounded once too.
    """

    def fn(*args: Any, **kwargs: Any) -> Tensor:
        dtype = next(a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)).dtype
        wide = _replace_tensors((args, kwargs), lambda t: t.double().contiguous())
        return _reference_fn(kind)(*wide[0], **wide[1]).to(dtype)

    return fn


# -- the deviation detector -----------------------------------------------------------------------
def _replace_tensors(args: Args, make: Callable[[Tensor], Tensor]) -> Args:
    def swap(value: Any) -> Any:
        return make(value) if isinstance(value, Tensor) else value

    positional, keywords = args
    return tuple(swap(v) for v in positional), {k: swap(v) for k, v in keywords.items()}


def _tensors(args: Args) -> list[Tensor]:
    return [v for v in (*args[0], *args[1].values()) if isinstance(v, Tensor)]


def _same_storage(a: Tensor, b: Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _bitwise_equal(a: Tensor, b: Tensor) -> bool:
    a, b = a.detach(), b.detach()
    return a.shape == b.shape and a.dtype == b.dtype and bool(((a == b) | (a.isnan() & b.isnan())).all())


def _normalised_error(got: Tensor, exact: Tensor, scale: Tensor) -> float:
    ratio = (got.detach().double() - exact).abs() / (scale + 1e-300)
    return float(ratio.nan_to_num(nan=float("inf")).max()) if ratio.numel() else 0.0


@dataclasses.dataclass
class _Exact:
    """The float64 reference of a call, with the per-element scale |x| * |w| + |b|."""

    kind: str
    args: Args  # float64 copies of the arguments as they were before the call

    def value(self) -> tuple[Tensor, Tensor]:
        fn = _reference_fn(self.kind)
        absolute = _replace_tensors(self.args, torch.abs)
        return fn(*self.args[0], **self.args[1]), fn(*absolute[0], **absolute[1])

    def _grads(self, which: list[int], grad_output: Tensor, transform: Callable[[Tensor], Tensor]) -> tuple:
        leaves: list[Tensor] = []

        def leaf(t: Tensor) -> Tensor:
            leaves.append(transform(t).detach().requires_grad_(len(leaves) in which))
            return leaves[-1]

        positional, keywords = _replace_tensors(self.args, leaf)
        out = _reference_fn(self.kind)(*positional, **keywords)
        return torch.autograd.grad(out, [leaves[i] for i in which], grad_output)

    def grads(self, which: list[int], grad_output: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Exact gradients of <call, grad_output> w.r.t. the tensors at ``which``, and their scales."""
        values = self._grads(which, grad_output, lambda t: t)
        scales = self._grads(which, grad_output.abs(), torch.abs)
        return list(zip(values, scales, strict=True))


def _gradient_problems(out: Tensor, args: Args, exact: _Exact) -> list[str]:
    tensors = _tensors(args)
    which = [i for i, t in enumerate(tensors) if t.requires_grad]
    if not which:
        return []
    gen = torch.Generator().manual_seed(7)
    grad_output = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(out.dtype)
    try:
        got = torch.autograd.grad(out, [tensors[i] for i in which], grad_output, allow_unused=True)
    except RuntimeError as exc:
        return [f"no gradient: {exc}"]
    problems = []
    for i, g, (value, scale) in zip(which, got, exact.grads(which, grad_output.double()), strict=True):
        if g is None:
            problems.append(f"no gradient for argument {i}")
        elif g.shape != value.shape or _normalised_error(g, value, scale) > THRESHOLDS[tensors[i].dtype]:
            problems.append(f"wrong gradient for argument {i}")
    return problems


def deviations(entry: ZooEntry, args: Args) -> list[str]:
    """Every way a call of ``entry`` on ``args`` departs from the exact result and the call contract."""
    tensors = _tensors(args)
    before = [t.detach().clone() for t in tensors]
    try:
        out = entry.fn(*args[0], **args[1])
    except Exception as exc:
        return [f"raises {type(exc).__name__}: {exc}"]
    problems = []
    if any(not _bitwise_equal(t, b) for t, b in zip(tensors, before, strict=True)):
        problems.append("mutates an argument")
    originals = iter(before)
    exact = _Exact(entry.kind, _replace_tensors(args, lambda _: next(originals).double().contiguous()))
    value, scale = exact.value()
    dtype = tensors[0].dtype
    if out.dtype != dtype:
        problems.append(f"returns {out.dtype} for {dtype} input")
    if out.shape != value.shape:
        problems.append(f"shape {tuple(out.shape)}, expected {tuple(value.shape)}")
    else:
        if _normalised_error(out, value, scale) > THRESHOLDS[dtype]:
            problems.append("wrong values")
        problems += _gradient_problems(out, args, exact)
    if any(_same_storage(out, t) for t in tensors):
        problems.append("output aliases an argument")
    snapshot = out.detach().clone()
    again = entry.fn(*args[0], **args[1])
    if not _bitwise_equal(out, snapshot):
        problems.append("the next call overwrote this output")
    elif _same_storage(again, out):
        problems.append("two calls return the same storage")
    if not _bitwise_equal(again, snapshot):
        problems.append("not bitwise deterministic")
    return problems


# -- mutants --------------------------------------------------------------------------------------
CONV_MUTANTS = [e for e in MUTANTS if e.kind == "conv2d"]
CORR_MUTANTS = [e for e in MUTANTS if e.kind == "corr2d"]
TRANSPOSED_MUTANTS = [e for e in MUTANTS if e.kind == "conv_transpose2d"]
WITNESSES = {
    "conv2d": zoo_mutants.WITNESSES,
    "corr2d": zoo_corr2d.WITNESSES,
    "conv_transpose2d": zoo_transposed.WITNESSES,
    "conv1d": zoo_spatial.WITNESSES,
    "conv3d": zoo_spatial.WITNESSES,
}


def _witness(entry: ZooEntry) -> Args:
    return WITNESSES[entry.kind][entry.name]()


def _easy(kind: str) -> Args:
    """A generic input away from every narrow trigger: float64 conv (N=2, C=3, 16x16, 3x3, padding 1)."""
    gen = torch.Generator().manual_seed(3)
    if kind == "corr2d":
        x, k = (torch.randn(s, generator=gen) for s in ((16, 16), (3, 3)))
        return (x, k), {}
    if kind == "conv_transpose2d":  # stride 2, no padding, no output padding, one group
        shapes = ((2, 3, 8, 8), (3, 4, 3, 3), (4,))
        x, w, b = (torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in shapes)
        return (x, w, b), {"stride": 2}
    if kind in ("conv1d", "conv3d"):  # the same call over one or three axes (an 8x8x8 volume for conv3d)
        spatial = (16,) if kind == "conv1d" else (8, 8, 8)
        shapes = ((2, 3, *spatial), (4, 3, *(3,) * len(spatial)), (4,))
        x, w, b = (torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in shapes)
        return (x, w, b), {"stride": 1, "padding": 1}
    shapes = ((2, 3, 16, 16), (4, 3, 3, 3), (4,))
    x, w, b = (torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in shapes)
    return (x, w, b), {"stride": 1, "padding": 1}


#: Contract mutants (empty batch, special values, autograd paths, threads, state, input checks)
#: whose bugs the generic value detector cannot show; tests/test_contract.py kills each by its law.
CONTRACT = {
    "empty_batch_raises",
    "skips_zero_weights",
    "float16_saturates",
    "frozen_weight_loses_input_grad",
    "detached_double_backward",
    "shared_workspace",
    "leaves_deterministic_mode_on",
    "resets_default_dtype",
    "no_channel_check",
    "strided_same_accepted",
    "half_taps_in_dtype_conv_transpose2d",
    "no_output_padding_check_conv_transpose2d",
    "empty_batch_raises_conv_transpose2d",
    "stale_cache_conv_transpose2d",
    "strided_same_accepted_conv1d",
}
VALUE_MUTANTS = tuple(e for e in MUTANTS if e.name not in CONTRACT)


def _deviations_of(name: str, on: str) -> list[str]:
    """``deviations`` of the zoo entry ``name`` on its witness or on the easy input (run in the worker)."""
    entry = by_name(name)
    return deviations(entry, _witness(entry) if on == "witness" else _easy(entry.kind))


@pytest.mark.parametrize("entry", VALUE_MUTANTS, ids=lambda e: e.name)
def test_witness_shows_the_bug(entry: ZooEntry) -> None:
    """Each mutant's witness input makes it depart from the exact result (values, shape, dtype, gradient, state)."""
    assert _isolation.call(_deviations_of, entry.name, "witness", what=f"{entry.target} on its witness")


@pytest.mark.parametrize("entry", VALUE_MUTANTS, ids=lambda e: e.name)
def test_reference_is_clean_on_witness(entry: ZooEntry) -> None:
    """A correct result (F.conv2d in float64, rounded once) passes the detector on every witness,
    so a witness's deviation is the mutant's bug."""
    reference = ZooEntry("reference", "", entry.kind, None, "", "", True, _rounded_exact(entry.kind), "exact")
    assert deviations(reference, _witness(entry)) == []


@pytest.mark.parametrize("entry", MUTANTS, ids=lambda e: e.name)
def test_easy_input_is_clean(entry: ZooEntry) -> None:
    """Away from its trigger (a generic easy input), each mutant is indistinguishable from the exact result."""
    if entry.name in TRIGGER_EVERYWHERE:
        pytest.skip(TRIGGER_EVERYWHERE[entry.name])
    assert _isolation.call(_deviations_of, entry.name, "easy", what=f"{entry.target} on the easy input") == []


# -- correct alternatives -------------------------------------------------------------------------
CONV_CORRECT = [e for e in CORRECT if e.kind == "conv2d"]
CORR_CORRECT = [e for e in CORRECT if e.kind == "corr2d"]
TRANSPOSED_CORRECT = [e for e in CORRECT if e.kind == "conv_transpose2d"]


PADDINGS: list[int | tuple[int, int] | str] = [0, 1, (1, 2), "same", "valid"]
DILATIONS: list[int | tuple[int, int]] = [1, 2, (1, 2)]


def _padding_pair(padding: int | tuple[int, int] | str, h: int, w: int) -> tuple[int, int]:
    """Per-axis padding of a config; 'same' counts as enough padding for any kernel."""
    if isinstance(padding, str):
        return (h, w) if padding == "same" else (0, 0)
    return (padding, padding) if isinstance(padding, int) else padding


def _configs(count: int, seed: int) -> list[dict[str, Any]]:
    """Random valid conv2d configurations: groups, stride, dilation, 'same'/'valid', unbatched, no bias."""
    rng = random.Random(seed)
    configs: list[dict[str, Any]] = []
    while len(configs) < count:
        groups, kh, kw = rng.choice([1, 1, 2, 3]), rng.randint(1, 4), rng.randint(1, 4)
        padding = rng.choice(PADDINGS)
        stride = 1 if padding == "same" else rng.choice([1, 2, (2, 3)])
        dilation = rng.choice(DILATIONS)
        h, w = rng.randint(5, 11), rng.randint(5, 11)
        d = (dilation, dilation) if isinstance(dilation, int) else dilation
        ph, pw = _padding_pair(padding, h, w)
        if h + 2 * ph <= d[0] * (kh - 1) or w + 2 * pw <= d[1] * (kw - 1):
            continue
        batch = rng.choice([(), (1,), (2,)])
        configs.append(
            dict(
                x_shape=(*batch, groups * rng.randint(1, 2), h, w),
                out_channels=groups * rng.randint(1, 2),
                kernel=(kh, kw),
                bias=rng.random() < 0.6,
                layout=rng.choice(["contiguous", "channels_last", "transposed"]) if batch else "contiguous",
                params=dict(stride=stride, padding=padding, dilation=d, groups=groups),
            )
        )
    return configs


CONFIGS = _configs(20, seed=2024)


def test_configs_cover_the_contract() -> None:
    """The random configurations include groups, stride, dilation, every padding form, unbatched, no bias, layouts."""
    params = [c["params"] for c in CONFIGS]
    assert any(p["groups"] > 1 for p in params)
    assert any(p["stride"] != 1 for p in params) and any(max(p["dilation"]) > 1 for p in params)
    assert {"same", "valid"} <= {p["padding"] for p in params if isinstance(p["padding"], str)}
    assert any(isinstance(p["padding"], tuple) for p in params)
    assert any(len(c["x_shape"]) == 3 for c in CONFIGS) and not all(c["bias"] for c in CONFIGS)
    assert {"channels_last", "transposed"} <= {c["layout"] for c in CONFIGS}


def _materialise(
    config: dict[str, Any], dtype: torch.dtype, seed: int
) -> tuple[Tensor, Tensor, Tensor | None]:
    gen = torch.Generator().manual_seed(seed)
    x_shape, o = config["x_shape"], config["out_channels"]
    shapes = [x_shape, (o, x_shape[-3] // config["params"]["groups"], *config["kernel"]), (o,)]
    x, w, b = (torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes)
    if config["layout"] == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif config["layout"] == "transposed":
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    return x, w, b if config["bias"] else None


def _relative(got: Tensor, exact: Tensor) -> float:
    exact = exact.detach()
    return float((got.detach().double() - exact).abs().max() / exact.abs().max().clamp_min(1e-300))


def _check_alternative(fn: Callable[..., Tensor], dtype: torch.dtype, tol: float, grads: bool) -> None:
    for n, config in enumerate(CONFIGS):
        x, w, b = _materialise(config, dtype, seed=n)
        leaves = [t.requires_grad_(grads) for t in (x, w, b) if t is not None]
        leaves64 = [t.detach().double().contiguous().requires_grad_(grads) for t in leaves]
        got, exact = fn(x, w, b, **config["params"]), _reference_fn("conv2d")(*leaves64, **config["params"])
        assert got.shape == exact.shape, config
        assert _relative(got, exact) <= tol, config
        if grads:
            g = torch.randn(exact.shape, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
            have = torch.autograd.grad(got, leaves, g.to(dtype))
            want = torch.autograd.grad(exact, leaves64, g)
            for h, e in zip(have, want, strict=True):
                assert _relative(h, e) <= tol, config


@pytest.mark.parametrize("entry", CONV_CORRECT, ids=lambda e: e.name)
def test_correct_conv2d_float64(entry: ZooEntry) -> None:
    """Each correct conv2d alternative matches F.conv2d in float64 to 1e-9, gradients included."""
    _check_alternative(entry.fn, torch.float64, 1e-9, grads=True)


@pytest.mark.parametrize("entry", CONV_CORRECT, ids=lambda e: e.name)
def test_correct_conv2d_float32(entry: ZooEntry) -> None:
    """Each correct conv2d alternative matches the float64 result in float32 to 1e-4."""
    _check_alternative(entry.fn, torch.float32, 1e-4, grads=False)


def _keeps_dtype_case(dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor | None]:
    return _materialise(CONFIGS[0] | {"bias": True}, dtype, seed=0)


def _output_of(name: str, dtype: torch.dtype) -> Tensor:
    """The zoo entry ``name`` on the keeps-dtype case (run in the worker: it may call host half GEMMs)."""
    x, w, b = _keeps_dtype_case(dtype)
    return by_name(name).fn(x, w, b, **CONFIGS[0]["params"]).detach()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("entry", CONV_CORRECT, ids=lambda e: e.name)
def test_correct_conv2d_keeps_dtype(entry: ZooEntry, dtype: torch.dtype) -> None:
    """Each correct conv2d alternative returns the input dtype, with values close to the exact result."""
    x, w, b = _keeps_dtype_case(dtype)
    out = _isolation.call(_output_of, entry.name, dtype, what=f"{entry.target} in {dtype}")
    assert out.dtype == dtype
    exact = F.conv2d(*(t.double().contiguous() for t in (x, w, b)), **CONFIGS[0]["params"])  # type: ignore[union-attr]
    assert _relative(out, exact) <= 2e-2


CORR_SHAPES = [((6, 7), (2, 3)), ((5, 5), (5, 5)), ((9, 4), (1, 4)), ((8, 8), (3, 1))]


@pytest.mark.parametrize("entry", CORR_CORRECT, ids=lambda e: e.name)
def test_correct_corr2d(entry: ZooEntry) -> None:
    """Each correct corr2d alternative matches F.conv2d in float64 (values and gradients) and keeps the dtype."""
    gen = torch.Generator().manual_seed(11)
    for x_shape, k_shape in CORR_SHAPES:
        x, k = (
            torch.randn(s, generator=gen, dtype=torch.float64, requires_grad=True) for s in (x_shape, k_shape)
        )
        got, exact = entry.fn(x, k), _corr2d_reference(x, k)
        assert _relative(got, exact) <= 1e-9
        g = torch.randn(exact.shape, generator=gen, dtype=torch.float64)
        for have, want in zip(
            torch.autograd.grad(got, (x, k), g), torch.autograd.grad(exact, (x, k), g), strict=True
        ):
            assert _relative(have, want) <= 1e-9
    for dtype in DTYPES:
        x, k = (torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in ((7, 6), (3, 2)))
        out = entry.fn(x, k)
        assert out.dtype == dtype
        assert _relative(out, _corr2d_reference(x.double(), k.double())) <= 2e-2


def _ops_called(fn: Callable[..., Tensor], *args: Any, **kwargs: Any) -> set[str]:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        out = fn(*args, **kwargs)
        out.backward(torch.ones_like(out))
    return {event.name for event in prof.events()}


@pytest.mark.parametrize("entry", [e for e in CORRECT if e.family != "core"], ids=lambda e: e.name)
def test_correct_alternative_calls_no_convolution_op(entry: ZooEntry) -> None:
    """No correct alternative (besides the core wrapper) runs a convolution op, forward or backward."""
    if entry.kind == "conv2d":
        gen = torch.Generator().manual_seed(5)
        x, w, b = (
            torch.randn(s, generator=gen, requires_grad=True) for s in ((2, 4, 7, 7), (6, 2, 3, 3), (6,))
        )
        names = _ops_called(entry.fn, x, w, b, stride=2, padding=1, dilation=2, groups=2)
    elif entry.kind == "conv_transpose2d":
        gen = torch.Generator().manual_seed(5)
        x, w, b = (
            torch.randn(s, generator=gen, requires_grad=True) for s in ((2, 4, 5, 5), (4, 3, 3, 3), (6,))
        )
        names = _ops_called(entry.fn, x, w, b, stride=2, padding=1, output_padding=1, groups=2, dilation=2)
    elif entry.kind in ("conv1d", "conv3d"):
        gen = torch.Generator().manual_seed(5)
        spatial = (9,) if entry.kind == "conv1d" else (5, 6, 7)
        shapes = ((2, 4, *spatial), (6, 2, *(3,) * len(spatial)), (6,))
        x, w, b = (torch.randn(s, generator=gen, requires_grad=True) for s in shapes)
        names = _ops_called(entry.fn, x, w, b, stride=2, padding=1, dilation=2, groups=2)
    else:
        x, k = torch.randn(6, 6, requires_grad=True), torch.randn(2, 3, requires_grad=True)
        names = _ops_called(entry.fn, x, k)
    banned = sorted(n for n in names if any(word in n.lower() for word in ("conv", "cudnn", "mkldnn")))
    assert banned == []


# -- registries -----------------------------------------------------------------------------------
ALL = [*MUTANTS, *CORRECT]


def test_names_are_unique() -> None:
    """No two zoo entries share a name."""
    names = [e.name for e in ALL]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("entry", ALL, ids=lambda e: e.name)
def test_target_resolves_to_the_function(entry: ZooEntry) -> None:
    """Each entry's target string imports to the very same module-level function, exported, and by_name finds it."""
    module_name, _, attribute = entry.target.partition(":")
    module = importlib.import_module(module_name)
    assert getattr(module, attribute) is entry.fn and attribute in module.__all__
    assert entry.name == attribute == entry.fn.__name__
    assert by_name(entry.name) is entry and by_name(entry.target) is entry


@pytest.mark.parametrize("entry", ALL, ids=lambda e: e.name)
def test_entry_is_documented(entry: ZooEntry) -> None:
    """Each entry has a docstring whose first line is its summary; mutants also say what they model."""
    doc = entry.fn.__doc__ or ""
    assert doc.strip() and entry.summary and doc.strip().splitlines()[0] == entry.summary
    assert entry.correct or (entry.modelled_on and entry.modelled_on in doc)


def test_registry_sizes() -> None:
    """The zoo holds at least 34 conv2d, 6 corr2d and 15 conv_transpose2d mutants, and 7, 3 and 4 correct ones."""
    assert len(CONV_MUTANTS) >= 34 and len(CORR_MUTANTS) >= 6 and len(TRANSPOSED_MUTANTS) >= 15
    assert len(CONV_CORRECT) >= 7 and len(CORR_CORRECT) >= 3 and len(TRANSPOSED_CORRECT) >= 4


def test_every_mutant_has_exactly_one_witness() -> None:
    """The WITNESSES tables name exactly the registered mutants of their module; ``mutants`` gathers the families'."""
    assert set(zoo_mutants.WITNESSES) == {e.name for e in CONV_MUTANTS}
    assert set(zoo_corr2d.WITNESSES) == {e.name for e in CORR_MUTANTS}
    assert set(zoo_transposed.WITNESSES) == {e.name for e in TRANSPOSED_MUTANTS}
    for family in zoo_mutants.FAMILIES:
        assert set(family.WITNESSES) == {e.name for e in CONV_MUTANTS if e.fn.__module__ == family.__name__}
    assert sum(len(family.WITNESSES) for family in zoo_mutants.FAMILIES) == len(zoo_mutants.WITNESSES)


@pytest.mark.parametrize("entry", CONV_MUTANTS, ids=lambda e: e.name)
def test_mutants_alias_loads_every_mutant(entry: ZooEntry) -> None:
    """``conv2d.zoo.mutants:<name>`` loads each conv2d mutant, wherever its family module is."""
    assert getattr(zoo_mutants, entry.name) is entry.fn
    assert entry.fn.__module__ in {family.__name__ for family in zoo_mutants.FAMILIES}


#: Mutants whose bug is in their signature: they keep a signature of their own.
OWN_SIGNATURE = {"stride_two_by_default", "padding_before_stride"}


@pytest.mark.parametrize("entry", [e for e in ALL if e.kind == "conv2d"], ids=lambda e: e.name)
def test_conv2d_entry_has_the_conv2d_signature(entry: ZooEntry) -> None:
    """Each conv2d entry shows F.conv2d's parameters, order and defaults (but for the calling-convention bugs)."""
    differences = signature_differences(entry.fn)
    assert bool(differences) == (entry.name in OWN_SIGNATURE), differences
    assert list(inspect.signature(entry.fn).parameters)[:2] == ["input", "weight"]
    assert entry.fn.__qualname__ == entry.name


def test_registry_files_bugs_by_category_and_alternatives_by_family() -> None:
    """A bug has a Category and no family; a correct alternative has an algorithm family and no category."""
    assert all(isinstance(e.category, Category) and e.family == "" for e in MUTANTS)
    assert all(e.category is None and e.family for e in CORRECT)


def test_by_name_rejects_unknown_names() -> None:
    """by_name raises KeyError for a name the zoo does not hold."""
    with pytest.raises(KeyError):
        by_name("no_such_entry")


def _transposed_configs(count: int, seed: int) -> list[dict[str, Any]]:
    """Random valid conv_transpose2d configurations: groups, stride, dilation, output padding, unbatched, layouts."""
    rng = random.Random(seed)
    configs: list[dict[str, Any]] = []
    while len(configs) < count:
        groups, kh, kw = rng.choice([1, 1, 2, 3]), rng.randint(1, 4), rng.randint(1, 4)
        stride, dilation = (rng.randint(1, 3), rng.randint(1, 3)), (rng.randint(1, 2), rng.randint(1, 2))
        padding = (rng.randint(0, 2), rng.randint(0, 2))
        output_padding = tuple(rng.randint(0, max(s, d) - 1) for s, d in zip(stride, dilation, strict=True))
        h, w = rng.randint(1, 6), rng.randint(1, 6)
        sizes = [
            (n - 1) * s - 2 * p + d * (k - 1) + o + 1
            for n, s, p, d, k, o in zip(
                (h, w), stride, padding, dilation, (kh, kw), output_padding, strict=True
            )
        ]
        if min(sizes) < 1:
            continue
        batch = rng.choice([(), (1,), (2,)])
        configs.append(
            dict(
                x_shape=(*batch, groups * rng.randint(1, 2), h, w),
                per_group=rng.randint(1, 2),
                kernel=(kh, kw),
                bias=rng.random() < 0.6,
                layout=rng.choice(["contiguous", "channels_last", "transposed"]) if batch else "contiguous",
                params=dict(
                    stride=stride,
                    padding=padding,
                    output_padding=output_padding,
                    groups=groups,
                    dilation=dilation,
                ),
            )
        )
    return configs


TRANSPOSED_CONFIGS = _transposed_configs(20, seed=2026)


def _transposed_call(config: dict[str, Any], dtype: torch.dtype, seed: int) -> list[Tensor | None]:
    gen = torch.Generator().manual_seed(seed)
    cin, groups = config["x_shape"][-3], config["params"]["groups"]
    shapes = [
        config["x_shape"],
        (cin, config["per_group"], *config["kernel"]),
        (config["per_group"] * groups,),
    ]
    x, w, b = (torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes)
    if config["layout"] == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif config["layout"] == "transposed":
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    return [x, w, b if config["bias"] else None]


def _transposed_errors(name: str, dtype: torch.dtype, grads: bool) -> list[float]:
    """Relative errors of the entry ``name`` (values, then gradients) on every configuration (run in the worker)."""
    fn, errors = by_name(name).fn, []
    for n, config in enumerate(TRANSPOSED_CONFIGS):
        leaves = [
            t.requires_grad_(grads) if t is not None else None for t in _transposed_call(config, dtype, n)
        ]
        wide = [
            t.detach().double().contiguous().requires_grad_(grads) if t is not None else None for t in leaves
        ]
        got, exact = fn(*leaves, **config["params"]), F.conv_transpose2d(*wide, **config["params"])
        assert got.shape == exact.shape and got.dtype == dtype, config
        errors.append(_relative(got, exact))
        if grads:
            g = torch.randn(exact.shape, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
            have = torch.autograd.grad(got, [t for t in leaves if t is not None], g.to(dtype))
            want = torch.autograd.grad(exact, [t for t in wide if t is not None], g)
            errors += [_relative(h, e) for h, e in zip(have, want, strict=True)]
    return errors


@pytest.mark.parametrize(
    ("dtype", "tol", "grads"),
    [
        (torch.float64, 1e-9, True),
        (torch.float32, 1e-4, False),
        (torch.float16, 2e-2, False),
        (torch.bfloat16, 2e-2, False),
    ],
    ids=str,
)
@pytest.mark.parametrize("entry", TRANSPOSED_CORRECT, ids=lambda e: e.name)
def test_correct_conv_transpose2d(entry: ZooEntry, dtype: torch.dtype, tol: float, grads: bool) -> None:
    """Each correct conv_transpose2d alternative matches F.conv_transpose2d in float64 (gradients too) and keeps the dtype."""
    errors = _isolation.call(_transposed_errors, entry.name, dtype, grads, what=f"{entry.target} in {dtype}")
    assert max(errors) <= tol


def test_transposed_configs_cover_the_contract() -> None:
    """The random configurations include groups, strides, dilation, output padding, unbatched input and layouts."""
    params = [c["params"] for c in TRANSPOSED_CONFIGS]
    assert any(p["groups"] > 1 for p in params) and any(max(p["stride"]) > 1 for p in params)
    assert any(max(p["dilation"]) > 1 for p in params) and any(max(p["output_padding"]) > 0 for p in params)
    assert any(len(c["x_shape"]) == 3 for c in TRANSPOSED_CONFIGS)
    assert {"channels_last", "transposed"} <= {c["layout"] for c in TRANSPOSED_CONFIGS}
