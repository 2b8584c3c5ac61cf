"""conv2d.gate.settings: every global setting torch exposes is found, canaried, compared and restored."""

from __future__ import annotations

import sys
import threading
import types

import torch

from conv2d.functional import conv2d
from conv2d.gate import settings
from conv2d.gate.settings import EXCLUDED, discover, snapshot, with_canaries
from conv2d.gate.state import WATCHED

_GETTER_FORMS = ("get_{}", "is_{}", "is_{}_enabled", "are_{}", "are_{}_enabled")


def _names() -> set[str]:
    """Setting names without a device argument or keyword (``torch.set_autocast_dtype('cpu')`` -> its setter)."""
    return {s.name.split("(")[0] for s in discover()}


def test_every_setter_getter_pair_in_torch_is_a_setting_or_excluded() -> None:
    pairs = [
        f"torch.{name}"
        for name in dir(torch)
        if name.startswith(("set_", "use_"))
        and any(callable(getattr(torch, form.format(name[4:]), None)) for form in _GETTER_FORMS)
    ]
    assert len(pairs) >= 15
    missing = [name for name in pairs if name not in _names() and name not in EXCLUDED]
    assert not missing, f"setters torch has that are neither a Setting nor EXCLUDED: {missing}"


def test_every_setter_in_torch_is_accounted_for() -> None:
    setters = [
        f"torch.{n}" for n in dir(torch) if n.startswith(("set_", "use_")) and callable(getattr(torch, n))
    ]
    missing = [name for name in setters if name not in _names() and name not in EXCLUDED]
    assert not missing, missing
    assert all(EXCLUDED[name] for name in EXCLUDED), "every exclusion records a reason"


def test_every_settable_backend_descriptor_is_a_setting_or_excluded() -> None:
    """An enumeration independent of the module's: data descriptors of the torch.backends module classes."""
    discover()
    found = []
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("torch.backends.") or module_name.count(".") != 2:
            continue
        if module_name.split(".")[-1].startswith("_") or type(module) is types.ModuleType:
            continue
        for attr, raw in vars(type(module)).items():
            if not attr.startswith("_") and hasattr(type(raw), "__set__"):
                found.append(f"{module_name}.{attr}")
    assert "torch.backends.cudnn.benchmark" in found
    missing = [name for name in found if name not in _names() and name not in EXCLUDED]
    assert not missing, missing


def test_discovery_covers_the_hand_written_list_and_more() -> None:
    names = _names()
    expected = {
        *WATCHED,  # the per-call check's list (conv2d.gate.state)
        "torch.set_warn_always",
        "torch.set_autocast_dtype",
        "torch.set_autocast_enabled",
        "torch.set_deterministic_debug_mode",
        "torch.set_default_device",
        "torch.backends.opt_einsum.enabled",
        "torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction",
    }
    assert expected <= names, expected - names


def test_canaries_differ_from_the_normal_values() -> None:
    canaried = [s for s in discover() if s.canary(s.normal) is not None]
    assert len(canaried) >= 40
    assert all(s.canary(s.normal) != s.normal for s in canaried)
    by_name = {s.name: s for s in discover()}
    assert by_name["torch.set_default_dtype"].canary(torch.float32) == torch.float64
    assert by_name["torch.set_deterministic_debug_mode"].canary(0) == 1


def test_grad_mode_is_found_thread_local() -> None:
    by_name = {s.name: s for s in discover()}
    assert by_name["torch.set_grad_enabled"].thread_local is True
    assert by_name["torch.set_default_dtype"].thread_local is False


def _pure(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return conv2d(x, w, None, 1, 1)


def test_a_pure_call_changes_nothing_and_everything_is_restored() -> None:
    before = snapshot()
    x, w = torch.ones(1, 2, 4, 4, dtype=torch.float64), torch.ones(3, 2, 3, 3, dtype=torch.float64)
    with with_canaries() as report:
        out = _pure(x, w)
    assert out.shape == (1, 3, 4, 4)
    assert report.changed == []
    assert report.unrestored == []
    assert settings.changes(before, snapshot()) == []


def test_setting_the_default_dtype_to_its_usual_value_is_caught() -> None:
    before = snapshot()
    with with_canaries() as report:
        torch.set_default_dtype(torch.float32)  # the value the process runs with: invisible before/after
    assert any(
        line.startswith("torch.set_default_dtype: torch.float64 -> torch.float32") for line in report.changed
    )
    assert settings.changes(before, snapshot()) == []


def test_warn_always_and_backend_flags_are_caught() -> None:
    before = snapshot()
    with with_canaries() as report:
        torch.set_warn_always(torch.is_warn_always_enabled())  # a write of the value it holds: not a change
        torch.set_warn_always(False)
        torch.backends.opt_einsum.enabled = False
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = True
    changed = {line.split(":")[0] for line in report.changed}
    assert {
        "torch.set_warn_always",
        "torch.backends.opt_einsum.enabled",
        "torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction",
    } <= changed
    assert settings.changes(before, snapshot()) == []


def test_a_change_in_a_thread_is_caught_in_that_thread() -> None:
    seen: list[str] = []

    def work() -> None:
        with with_canaries() as report:
            torch.set_grad_enabled(True)
        seen.extend(report.changed)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert seen == ["torch.set_grad_enabled: False -> True"]
    assert torch.is_grad_enabled()


def test_a_raising_body_still_restores() -> None:
    before = snapshot()
    try:
        with with_canaries():
            torch.set_num_threads(3)
            raise ValueError("boom")
    except ValueError:
        pass
    assert settings.changes(before, snapshot()) == []


def test_a_default_device_left_set_is_caught_and_undone() -> None:
    with with_canaries() as report:
        torch.set_default_device("meta")
    assert report.changed == ["torch.set_default_device: device(type='cpu') -> device(type='meta')"]
    assert torch.zeros(1).device.type == "cpu"
