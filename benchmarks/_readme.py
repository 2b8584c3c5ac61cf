"""Rewriting the README's measured blocks: the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["has_block", "replace_block"]


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def has_block(path: Path, name: str) -> bool:
    """True if ``path`` exists and holds both markers of block ``name``."""
    start, end = _markers(name)
    content = path.read_text() if path.is_file() else ""
    return start in content and end in content


def replace_block(path: Path, name: str, text: str) -> None:
    """Replace block ``name`` in ``path`` with ``text``, leaving everything else untouched."""
    start, end = _markers(name)
    if not has_block(path, name):
        raise SystemExit(f"{path} has no {start} ... {end} block to rewrite")
    head, rest = path.read_text().split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}")
