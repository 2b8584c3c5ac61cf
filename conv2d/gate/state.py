"""torch's global settings a call could change: read them, compare them, put them back.

The gate checks them around every call of a target (:meth:`conv2d.gate.target.Target._run`):
a call that changes the default dtype, grad mode, flush-denormal, the deterministic or
TF32 flags or the number of threads and leaves them changed fails on the spot, and the
settings are restored so that later checks run in the state they expect.
"""

from __future__ import annotations

import torch

__all__ = ["changes", "global_state", "restore"]


def global_state() -> dict[str, object]:
    """The torch settings a convolution call could change and leave changed."""
    probe = torch.tensor([2.0**-140], dtype=torch.float32)
    return {
        "default dtype": torch.get_default_dtype(),
        "grad mode": torch.is_grad_enabled(),
        "inference mode": torch.is_inference_mode_enabled(),
        "flush denormal": bool((probe * 1.0).item() == 0.0),
        "deterministic algorithms": torch.are_deterministic_algorithms_enabled(),
        "number of threads": torch.get_num_threads(),
        "float32 matmul precision": torch.get_float32_matmul_precision(),
        "cudnn.enabled": torch.backends.cudnn.enabled,
        "cudnn.benchmark": torch.backends.cudnn.benchmark,
        "cudnn.deterministic": torch.backends.cudnn.deterministic,
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "mkldnn.enabled": torch.backends.mkldnn.enabled,
        "anomaly detection": torch.is_anomaly_enabled(),
    }


def restore(state: dict[str, object]) -> None:
    torch.set_default_dtype(state["default dtype"])  # type: ignore[arg-type]
    torch.set_grad_enabled(bool(state["grad mode"]))
    torch.set_flush_denormal(bool(state["flush denormal"]))
    torch.use_deterministic_algorithms(bool(state["deterministic algorithms"]))
    torch.set_num_threads(int(state["number of threads"]))  # type: ignore[call-overload]
    torch.set_float32_matmul_precision(str(state["float32 matmul precision"]))
    for name in ("enabled", "benchmark", "deterministic", "allow_tf32"):
        setattr(torch.backends.cudnn, name, bool(state[f"cudnn.{name}"]))
    torch.backends.cuda.matmul.allow_tf32 = bool(state["cuda.matmul.allow_tf32"])
    setattr(torch.backends.mkldnn, "enabled", bool(state["mkldnn.enabled"]))  # noqa: B010
    torch.set_anomaly_enabled(bool(state["anomaly detection"]))


def changes(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """``"name: old -> new"`` for every setting that differs."""
    return [f"{k}: {before[k]!r} -> {after[k]!r}" for k in before if before[k] != after[k]]
