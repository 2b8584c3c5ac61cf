"""The package keeps its layout rules (docs/architecture.md): module and function sizes, no private names across modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_layout.py"


def _checker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("check_layout", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layout"] = module
    spec.loader.exec_module(module)
    return module


def test_no_breach_in_the_package() -> None:
    checker = _checker()
    found = [b for path in sorted(checker.ROOT.rglob("*.py")) for b in checker.breaches(path)]
    assert found == []


def test_the_checker_sees_each_kind_of_breach(tmp_path: Path) -> None:
    checker = _checker()
    long_body = "\n".join(f"    x{i} = {i}" for i in range(checker.MAX_FUNCTION_LINES + 1))
    source = f"from conv2d.gate.judge import _RATIOS\nimport conv2d.gate.judge as j\n\n\ndef f():\n{long_body}\n\n\ny = j._RATIOS\n"
    path = checker.ROOT / "gate" / "_layout_probe_tmp.py"
    path.write_text(source + "\n" * checker.MAX_MODULE_LINES)
    try:
        found = list(checker.breaches(path))
    finally:
        path.unlink()
    kinds = {
        "lines (limit",
        "function f is",
        "imports the private name _RATIOS",
        "reads the private name j._RATIOS",
    }
    assert all(any(k in b for b in found) for k in kinds), found
