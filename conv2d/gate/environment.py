"""Where a verdict was reached: versions, CPU, GPU and the TF32 switches that change float32 results."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch

__all__ = ["cpu_model", "environment"]


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """The execution target: versions, CPU, GPU and the TF32 switches that change float32 results."""
    import hypothesis

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "hypothesis": hypothesis.__version__,
        "cpu": cpu_model(),
        "cpu_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "gpu": None,
        "tf32": {
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        },
    }
    if env["cuda_available"]:
        env["gpu"] = torch.cuda.get_device_name(0)
    return env
