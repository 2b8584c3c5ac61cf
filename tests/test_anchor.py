"""Tests of the anchor: PyTorch's OpInfo samples for conv2d, used as a baseline gate.

The anchor compares every target with the host's F.conv2d in float32, float16 and
bfloat16, which must not run in the pytest process (``tests/_tripwire.py``): each
anchor run happens in a worker process (``tests/_isolation.py``), and a worker the
host's torch kills skips the test, naming the signal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import _isolation
import pytest
import torch
import torch.nn.functional as F

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from benchmarks.anchor import AnchorVerdict, anchor_cases, anchor_verdict  # noqa: E402
from conv2d.gate.target import load_target  # noqa: E402

F_CONV2D = "torch.nn.functional:conv2d"


def bias_ignored(
    input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *args: Any, **kwargs: Any
) -> torch.Tensor:
    """F.conv2d with the bias dropped."""
    return F.conv2d(input, weight, None, *args, **kwargs)


def not_implemented(*args: Any, **kwargs: Any) -> torch.Tensor:
    """A target that supports no configuration at all."""
    raise NotImplementedError("nothing is supported")


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def fft_conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: str | int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """A correct conv2d computed with ``torch.fft.rfft2`` (float16/bfloat16 computed in float32)."""
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    compute = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    x, w = x.to(compute), weight.to(compute)
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    out_ch, in_per_group, kh, kw = w.shape
    if dh > 1 or dw > 1:
        dilated = w.new_zeros(out_ch, in_per_group, (kh - 1) * dh + 1, (kw - 1) * dw + 1)
        dilated[:, :, ::dh, ::dw] = w
        w = dilated
    kh, kw = w.shape[-2:]
    if padding == "valid":
        pads = (0, 0, 0, 0)
    elif padding == "same":
        pads = ((kw - 1) // 2, kw - 1 - (kw - 1) // 2, (kh - 1) // 2, kh - 1 - (kh - 1) // 2)
    else:
        ph, pw = _pair(padding)  # type: ignore[arg-type]
        pads = (pw, pw, ph, ph)
    x = F.pad(x, pads)
    n, c, h, wd = x.shape
    xf = torch.fft.rfft2(x.reshape(n, groups, c // groups, h, wd), s=(h, wd))
    kf = torch.fft.rfft2(w.flip(-2, -1).reshape(groups, out_ch // groups, in_per_group, kh, kw), s=(h, wd))
    full = torch.fft.irfft2(torch.einsum("ngchw,gochw->ngohw", xf, kf), s=(h, wd))
    out = full.reshape(n, out_ch, h, wd)[:, :, kh - 1 :: sh, kw - 1 :: sw]
    if bias is not None:
        out = out + bias.to(compute).view(1, -1, 1, 1)
    out = out.to(input.dtype)
    return out.squeeze(0) if unbatched else out


def unfold_corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """A correct 2-D cross-correlation through ``F.unfold``."""
    h, w = X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1
    columns = F.unfold(X[None, None], K.shape)
    return (K.reshape(1, -1) @ columns[0]).reshape(h, w)


def flipped_corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """True convolution where cross-correlation is asked for: the kernel is flipped."""
    return unfold_corr2d(X, K.flip(0, 1))


def _verdict_in_worker(spec: str, kind: str) -> AnchorVerdict:
    return anchor_verdict(load_target(spec), kind=kind)  # type: ignore[arg-type]


def verdict(target: str, kind: str = "conv2d") -> AnchorVerdict:
    """The anchor's verdict on ``target`` (the host's F.conv2d, or a function of this module by name),
    computed in the worker process."""
    spec = target if ":" in target else f"{__name__}:{target}"
    return _isolation.call(_verdict_in_worker, spec, kind, what=f"the anchor's run of {spec}")


def test_reference_is_not_killed() -> None:
    """F.conv2d passes every check the anchor runs."""
    result = verdict(F_CONV2D)
    assert isinstance(result, AnchorVerdict)
    assert not result.killed, result.first_failure
    assert result.first_failure == ""


def test_reference_runs_checks() -> None:
    """A full run on F.conv2d makes at least one check per sample and dtype, and skips none."""
    result = verdict(F_CONV2D)
    assert result.checks > 0
    assert result.checks == 180
    assert result.skipped == 0


def test_bias_ignored_is_killed() -> None:
    """A conv2d that drops its bias is rejected, and the failure names the sample."""
    result = verdict("bias_ignored")
    assert result.killed
    assert result.first_failure.startswith("float32 forward, sample 0")
    assert result.checks == 1


def test_not_implemented_is_skipped() -> None:
    """A target raising NotImplementedError everywhere is not killed: every check is a skip."""
    result = verdict("not_implemented")
    assert not result.killed
    assert result.checks == 0
    assert result.skipped == 180


def test_fft_conv2d_is_rejected_at_default_float32_tolerance() -> None:
    """A correct FFT conv2d matches F.conv2d on every float64 case yet is killed in float32."""
    for case in anchor_cases("conv2d", torch.float64):
        input, weight, bias = case.args
        assert input is not None and weight is not None
        torch.testing.assert_close(fft_conv2d(input, weight, bias, **case.kwargs), case.expected)
    result = verdict("fft_conv2d")
    assert result.killed
    assert result.first_failure.startswith("float32 forward")
    assert "Tensor-likes are not close" in result.first_failure


def test_corr2d_kind_accepts_a_correct_corr2d() -> None:
    """An unfold-based corr2d passes every corr2d check."""
    result = verdict("unfold_corr2d", kind="corr2d")
    assert not result.killed, result.first_failure
    assert result.checks > 0


def test_corr2d_kind_kills_a_flipped_kernel() -> None:
    """A corr2d that flips its kernel (convolution, not cross-correlation) is rejected."""
    result = verdict("flipped_corr2d", kind="corr2d")
    assert result.killed
    assert result.first_failure


def test_unknown_kind_is_refused() -> None:
    """A kind the anchor has no OpInfo for raises ValueError."""
    with pytest.raises(ValueError, match="kind"):
        anchor_verdict(F.conv2d, kind="conv4d")  # type: ignore[arg-type]


def _global_state_around_a_run() -> dict[str, Any]:
    """What a run of the anchor on F.conv2d leaves behind in its process (run in the worker)."""
    import hypothesis

    profile = hypothesis.settings.get_current_profile_name()
    anchor_verdict(F.conv2d)
    return {
        "flags_frozen": torch.backends.flags_frozen(),
        "profile_before": profile,
        "profile_after": hypothesis.settings.get_current_profile_name(),
        "expecttest_real": "expecttest" not in sys.modules or hasattr(sys.modules["expecttest"], "__file__"),
    }


def test_importing_torch_test_internals_leaves_no_global_state() -> None:
    """After a run, torch.backends flags are still settable and the Hypothesis profile is unchanged."""
    pytest.importorskip("hypothesis")
    state = _isolation.call(_global_state_around_a_run, what="the anchor's run of F.conv2d")
    assert not state["flags_frozen"]
    assert state["profile_after"] == state["profile_before"]
    assert state["expecttest_real"]
