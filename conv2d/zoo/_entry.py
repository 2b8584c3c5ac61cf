"""The record every zoo implementation is registered with, and the registry the zoo's entries share."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from conv2d.gate.case import Kind
from conv2d.gate.vocabulary import Category

__all__ = ["REGISTRY", "ZooEntry", "register"]


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One implementation in a zoo: a known bug (``correct=False``) or a correct alternative.

    A bug is filed under a :class:`~conv2d.gate.vocabulary.Category`; a correct
    alternative is no bug, so it has no category but an algorithm ``family``.

    Attributes:
        name: the attribute name in its module; ``target`` is ``"module:name"``.
        target: the string the gate's CLI takes to load it.
        kind: ``"conv2d"`` (F.conv2d's signature), ``"corr2d"`` (``corr2d(X, K)`` on 2-D tensors) or
            ``"conv_transpose2d"`` (F.conv_transpose2d's signature).
        category: the bug class, e.g. ``Category.LAYOUT``; ``None`` for a correct alternative.
        summary: one line saying what is wrong (or how it computes, for a correct one).
        modelled_on: the real bug it emulates (public issue if known), or ``""``.
        correct: True for correct alternatives.
        fn: the callable itself.
        family: a correct alternative's algorithm family, e.g. ``"fft"`` or ``"winograd"``; ``""`` for a bug.
    """

    name: str
    target: str
    kind: Kind
    category: Category | None
    summary: str
    modelled_on: str
    correct: bool
    fn: Callable[..., Any]
    family: str = ""


#: Every entry of the zoo (``conv2d.zoo``), in registration order; ``conv2d.zoo`` orders and splits it.
REGISTRY: list[ZooEntry] = []


def register(
    registry: list[ZooEntry],
    *,
    kind: Kind = "conv2d",
    category: Category | None = None,
    family: str = "",
    summary: str,
    modelled_on: str = "",
    correct: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that appends the decorated function to ``registry`` and returns it unchanged.

    A bug needs a ``category`` and no ``family``; a correct alternative a ``family`` and no ``category``.
    """
    if correct and (category is not None or not family):
        raise ValueError(f"a correct alternative has a family and no category, got {category!r}, {family!r}")
    if not correct and (category is None or family):
        raise ValueError(f"a bug has a category and no family, got {category!r}, {family!r}")

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        registry.append(
            ZooEntry(
                name=fn.__name__,
                target=f"{fn.__module__}:{fn.__name__}",
                kind=kind,
                category=None if category is None else Category(category),
                summary=summary,
                modelled_on=modelled_on,
                correct=correct,
                fn=fn,
                family=family,
            )
        )
        return fn

    return apply
