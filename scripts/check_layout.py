"""Check the package's layout rules: module size, function size, no private name across modules.

``python scripts/check_layout.py`` prints every breach under ``conv2d/`` and exits 1
when there is one. The limits are the ones ``docs/architecture.md`` states.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "conv2d"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_module(importer: Path, module: str) -> bool:
    """True unless ``module`` is private and ``importer`` lies outside the package that holds it.

    A private module (``conv2d/zoo/_common.py``) is shared by its own package; its public
    names are that package's internals, not the project's API.
    """
    parts = module.split(".")
    for i, part in enumerate(parts):
        if _private(part):
            package = ROOT.parent.joinpath(*parts[:i])
            return package in importer.parents
    return True


def _imported_modules(tree: ast.Module) -> set[str]:
    """Local names bound to modules of this package by ``import`` / ``from ... import``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("conv2d"):
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("conv2d"):
            for alias in node.names:
                names.add(alias.asname or alias.name)
    return names


def breaches(path: Path) -> Iterator[str]:
    text = path.read_text()
    where = path.relative_to(ROOT.parent)
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        yield f"{where}: {lines} lines (limit {MAX_MODULE_LINES})"
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            size = node.end_lineno - first + 1
            if size > MAX_FUNCTION_LINES:
                yield f"{where}:{node.lineno}: function {node.name} is {size} lines (limit {MAX_FUNCTION_LINES})"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("conv2d"):
            for alias in node.names:
                if _private(alias.name) and not _package_module(path, f"{node.module}.{alias.name}"):
                    yield f"{where}:{node.lineno}: imports the private name {alias.name} from {node.module}"
            if not _package_module(path, node.module or ""):
                yield f"{where}:{node.lineno}: imports from the private module {node.module} outside its package"
    modules = _imported_modules(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and _private(node.attr)
        ):
            yield f"{where}:{node.lineno}: reads the private name {node.value.id}.{node.attr}"


def main() -> int:
    found = [b for path in sorted(ROOT.rglob("*.py")) for b in breaches(path)]
    for line in found:
        print(line)
    print(f"{len(found)} breaches")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
