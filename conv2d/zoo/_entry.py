"""The record every zoo implementation is registered with."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["ZooEntry", "register"]


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One implementation in a zoo: a known bug (``correct=False``) or a correct alternative.

    Attributes:
        name: the attribute name in its module; ``target`` is ``"module:name"``.
        target: the string the gate's CLI takes to load it.
        kind: ``"conv2d"`` (F.conv2d's signature) or ``"corr2d"`` (``corr2d(X, K)`` on 2-D tensors).
        category: the bug class or algorithm family, e.g. ``"layout"`` or ``"fft"``.
        summary: one line saying what is wrong (or how it computes, for a correct one).
        modelled_on: the real bug it emulates (public issue if known), or ``""``.
        correct: True for correct alternatives.
        fn: the callable itself.
    """

    name: str
    target: str
    kind: Literal["conv2d", "corr2d"]
    category: str
    summary: str
    modelled_on: str
    correct: bool
    fn: Callable[..., Any]


def register(
    registry: list[ZooEntry],
    *,
    kind: Literal["conv2d", "corr2d"] = "conv2d",
    category: str,
    summary: str,
    modelled_on: str = "",
    correct: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that appends the decorated function to ``registry`` and returns it unchanged."""

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        registry.append(
            ZooEntry(
                name=fn.__name__,
                target=f"{fn.__module__}:{fn.__name__}",
                kind=kind,
                category=category,
                summary=summary,
                modelled_on=modelled_on,
                correct=correct,
                fn=fn,
            )
        )
        return fn

    return apply
