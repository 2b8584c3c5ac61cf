"""Where a result is wrong: a compact map of its worst plane, marking the elements past their bound.

A failure message names the worst element; the *pattern* of the wrong ones
often names the bug. A dropped vector tail marks the last columns, a stride bug
every other row, a padding bug the border::

    >>> print(error_map(actual, exact.value, allowed).text())
    worst plane (0, 1) of 6 x 9: 6 of 54 elements past their bound
    'X' past its bound, '!' not finite, '.' within; one cell per element
        000000000
        012345678
     0  ........X
     1  ........X
    ...

Planes larger than ``max_rows x max_cols`` are summarised by blocks: a cell is
marked when any element of its block is past its bound.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor

__all__ = ["MAX_COLS", "MAX_ROWS", "ErrorMap", "error_map"]

#: The largest grid drawn; bigger planes are summarised by blocks.
MAX_ROWS, MAX_COLS = 32, 64
_WITHIN, _PAST, _NOT_FINITE = ".", "X", "!"


@dataclasses.dataclass(frozen=True)
class ErrorMap:
    """The worst plane of a result, one character per element or per block of elements.

    Attributes:
        plane: the plane's index in the leading dimensions (``()`` for a 2-D result).
        shape: the plane's ``(rows, columns)``.
        block: the elements each cell covers, ``(rows, columns)``; ``(1, 1)`` when the map is exact.
        rows: the grid, one string per row of cells: ``'X'`` some element past its bound,
            ``'!'`` some element not finite (where the exact value is finite), ``'.'`` all within.
        violations: elements of this plane past their bound.
        total_violations: elements of the whole result past their bound.
        planes: how many planes the result has.
    """

    plane: tuple[int, ...]
    shape: tuple[int, int]
    block: tuple[int, int]
    rows: tuple[str, ...]
    violations: int
    total_violations: int
    planes: int

    @property
    def marked(self) -> list[list[bool]]:
        """The grid as booleans: True where a cell is marked past its bound."""
        return [[c != _WITHIN for c in row] for row in self.rows]

    def _head(self) -> list[str]:
        where = "" if not self.plane else f" {self.plane}"
        elements = self.shape[0] * self.shape[1]
        cells = (
            "one cell per element"
            if self.block == (1, 1)
            else f"one cell per {self.block[0]} x {self.block[1]} block of elements"
        )
        head = f"worst plane{where} of {self.shape[0]} x {self.shape[1]}: {self.violations} of {elements} elements past their bound"
        if self.planes > 1:
            head += f" ({self.total_violations} in all {self.planes} planes)"
        return [head, f"'X' past its bound, '!' not finite, '.' within; {cells}"]

    def _grid(self) -> list[str]:
        width = len(self.rows[0]) if self.rows else 0
        label = len(str(max(len(self.rows) - 1, 0)))
        pad = " " * (label + 2)
        tens = "".join(str(c // 10 % 10) for c in range(width))
        units = "".join(str(c % 10) for c in range(width))
        lines = [pad + tens] if width > 10 else []
        lines.append(pad + units)
        lines += [f"{r:>{label}}  {row}" for r, row in enumerate(self.rows)]
        return lines

    def text(self) -> str:
        """The map for a terminal: a header, column rulers (tens, units) and numbered rows."""
        return "\n".join([*self._head(), *self._grid()])

    def markdown(self) -> str:
        """The map for a Markdown page: the header, then the grid in a code block."""
        head = self._head()
        return "\n".join([f"**{head[0]}** — {head[1]}", "", "```", *self._grid(), "```", ""])

    def as_json(self) -> dict[str, Any]:
        """Plain data: lists and numbers only."""
        return {
            "plane": list(self.plane),
            "shape": list(self.shape),
            "block": list(self.block),
            "rows": list(self.rows),
            "marked": self.marked,
            "violations": self.violations,
            "total_violations": self.total_violations,
            "planes": self.planes,
        }


def _as_planes(t: Tensor) -> Tensor:
    """``t`` as a stack of 2-D planes: ``(P, H, W)``."""
    if t.dim() == 0:
        return t.reshape(1, 1, 1)
    if t.dim() == 1:
        return t.reshape(1, 1, -1)
    return t.reshape(-1, t.shape[-2], t.shape[-1])


def error_map(
    actual: Tensor, expected: Tensor, allowed: Tensor, *, max_rows: int = MAX_ROWS, max_cols: int = MAX_COLS
) -> ErrorMap:
    """The map of the plane of ``actual`` holding its worst element (as a ratio to ``allowed``).

    Args:
        actual: the computed result (any dtype and device).
        expected: the exact result, of the same shape (float64).
        allowed: the allowed absolute error of each element, broadcastable to ``expected``.
        max_rows, max_cols: the largest grid drawn; bigger planes are summarised by blocks.
    """
    if tuple(actual.shape) != tuple(expected.shape):
        raise ValueError(
            f"actual.shape={tuple(actual.shape)} but expected.shape={tuple(expected.shape)}; "
            "an error map compares results of the same shape"
        )
    if max_rows < 1 or max_cols < 1:
        raise ValueError(f"max_rows={max_rows}, max_cols={max_cols}; both must be at least 1")
    got = actual.detach().to(device="cpu", dtype=torch.float64)
    expected = expected.detach().to(device="cpu", dtype=torch.float64)
    finite = torch.isfinite(got) | ~torch.isfinite(expected)
    error = torch.where(finite, (got - expected).abs(), torch.full_like(got, math.inf))
    ratio = torch.nan_to_num(error / allowed.to(device="cpu", dtype=torch.float64), nan=math.inf)
    past, broken, ratio = _as_planes(~(ratio <= 1)), _as_planes(~finite), _as_planes(ratio)
    if ratio.numel() == 0:
        return ErrorMap((), (0, 0), (1, 1), (), 0, 0, 0)
    worst = int(ratio.amax(dim=(1, 2)).argmax())
    lead = expected.shape[:-2] if expected.dim() >= 2 else ()
    plane = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), lead)) if lead else ()
    h, w = past.shape[-2:]
    bh, bw = math.ceil(h / max_rows), math.ceil(w / max_cols)
    rows = []
    for r0 in range(0, h, bh):
        cells = []
        for c0 in range(0, w, bw):
            if bool(broken[worst, r0 : r0 + bh, c0 : c0 + bw].any()):
                cells.append(_NOT_FINITE)
            elif bool(past[worst, r0 : r0 + bh, c0 : c0 + bw].any()):
                cells.append(_PAST)
            else:
                cells.append(_WITHIN)
        rows.append("".join(cells))
    return ErrorMap(
        plane=plane,
        shape=(h, w),
        block=(bh, bw),
        rows=tuple(rows),
        violations=int(past[worst].sum()),
        total_violations=int(past.sum()),
        planes=past.shape[0],
    )
