"""The hostile host: other machines' kernel faults, emulated here, and what the gate makes of them.

Every emulation runs in a child process (``CONV2D_HOSTILE_HOST=1``): one of them
is a segfault. The checks: each emulated fault does what it says, the gate's
verdict on the core does not change under it, and the verdict on the hostile
``F.conv2d`` fails only by registered entries, each labelled as known.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conv2d import hostile
from conv2d.gate.upstream import BUGS

_EMULATIONS = """
import json, torch, torch.nn.functional as F
import conv2d
from conv2d.gate.state import global_state
out = {}
for name in ("bfloat16", "float16", "float32"):
    dtype = getattr(torch, name)
    x = torch.full((1, 1, 2, 2), torch.finfo(dtype).tiny / 4, dtype=dtype)
    out[name] = float(F.conv2d(x, torch.ones(1, 1, 1, 1, dtype=dtype)).abs().max())
    out[name + " matmul"] = float((x.view(2, 2) @ torch.eye(2, dtype=dtype)).abs().max())
before = global_state()
x = torch.randn(8, 2, 3, 3).contiguous(memory_format=torch.channels_last)[:, 1:2]
w = torch.randn(1, 1, 2, 3)
exact = torch.ops.aten.convolution.default(
    x.double().contiguous(), w.double(), None, [1, 2], [0, 0], [1, 1], False, [0, 0], 1)
out["slice error"] = float((F.conv2d(x, w, stride=(1, 2)).double() - exact).abs().max())
out["state kept"] = global_state() == before
print(json.dumps(out))
"""

_SEGFAULT = """
import torch, torch.nn.functional as F
import conv2d
x = torch.randn(2, 32, 1, 7, dtype=torch.bfloat16); w = torch.randn(16, 4, 2, 2, dtype=torch.bfloat16)
F.conv2d(x, w, stride=(2, 1), padding=(2, 1), dilation=(3, 1), groups=8)
print("returned")
"""


def _child(
    code: str, *args: str, hostile_host: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CONV2D_HOST_FACTS"}
    env[hostile.ENVIRONMENT_VARIABLE] = "1" if hostile_host else ""
    env["PYTHONFAULTHANDLER"] = ""
    return subprocess.run(
        [sys.executable, *(["-c", code] if code else []), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_every_emulated_fault_is_a_registered_entry() -> None:
    """The hostile host emulates only faults the registry names, so a verdict can label each one."""
    assert set(hostile.FAULTS) <= {b.name for b in BUGS}


def test_the_emulations_flush_corrupt_and_keep_the_global_state() -> None:
    """Half-precision and float32 subnormals are flushed (convolution and half matmul), the channels_last slice is
    off by one, and torch's global settings are as before the call."""
    done = _child(_EMULATIONS)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["bfloat16"] == out["float16"] == out["float32"] == 0.0
    assert out["bfloat16 matmul"] == out["float16 matmul"] == 0.0
    assert out["float32 matmul"] > 0  # float32 matrix products are left alone
    assert out["slice error"] >= 0.5 and out["state kept"]


def test_the_plain_host_is_not_hostile() -> None:
    """Without the variable, importing conv2d leaves torch's F.conv2d alone."""
    done = _child(
        "import conv2d, torch; print(getattr(torch.nn.functional.conv2d, '__conv2d_hostile__', False))",
        hostile_host=False,
    )
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_the_emulated_segfault_kills_its_process() -> None:
    """In the registered bfloat16 dilated region the hostile F.conv2d dies with SIGSEGV."""
    done = _child(_SEGFAULT)
    assert done.returncode == -signal.SIGSEGV and "returned" not in done.stdout


def _verdict(tmp_path: Path, target: str, *args: str, hostile_host: bool, seed: int = 0) -> dict:
    path = tmp_path / f"{'hostile' if hostile_host else 'plain'}-{seed}.json"
    done = _child(
        "",
        "-m",
        "conv2d",
        "verify",
        target,
        "--profile",
        "quick",
        "--seed",
        str(seed),
        "--json",
        str(path),
        *args,
        hostile_host=hostile_host,
    )
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(path.read_text())


def test_the_core_gets_the_same_verdict_on_a_hostile_host(tmp_path: Path) -> None:
    """The core calls none of the swapped kernels: every property's status is the one it has on this host."""
    plain = _verdict(tmp_path, "conv2d.functional:conv2d", hostile_host=False)
    hostile_run = _verdict(tmp_path, "conv2d.functional:conv2d", hostile_host=True)
    statuses = {r["property"]: r["status"] for r in plain["results"]}
    assert {r["property"]: r["status"] for r in hostile_run["results"]} == statuses
    assert plain["verdict"] == hostile_run["verdict"] == "pass"


@pytest.mark.parametrize("seed", [0, 1])
def test_the_hostile_f_conv2d_fails_only_by_known_entries(tmp_path: Path, seed: int) -> None:
    """Every property the hostile F.conv2d fails is labelled with a registered entry this host has, the float32
    flush among them (a crash in the emulated segfault takes down most of the rest, labelled as that entry)."""
    report = _verdict(tmp_path, "torch.nn.functional:conv2d", hostile_host=True, seed=seed)
    failed = [r for r in report["results"] if r["status"] in ("fails", "crashed", "timeout", "error")]
    assert report["verdict"] == "fail" and failed
    for r in failed:
        assert r["failure"] is not None and r["failure"]["known"], (r["property"], r["failure"])
    known = {name for r in failed for name in r["failure"]["known"]}
    assert "float32-subnormals-flushed" in known and "bfloat16-dilated-segfault" in known


def test_a_half_precision_flush_is_a_note_that_names_the_host(tmp_path: Path) -> None:
    """On the hostile host the zoo's im2col flushes half-precision subnormals in its GEMMs: subnormals-kept holds,
    with a note naming the dtype and saying the host's F.conv2d does the same."""
    report = _verdict(
        tmp_path, "conv2d.zoo.correct:im2col", "--property", "subnormals-kept", hostile_host=True, seed=0
    )
    (result,) = report["results"]
    assert result["status"] == "holds" and result["notes"], result
    for note in result["notes"]:
        assert note["behaviour"] in ("float16-subnormals-flushed", "bfloat16-subnormals-flushed")
        assert note["behaviour"].split("-")[0] in note["text"]
        assert note["text"].endswith("as this host's F.conv2d does")
