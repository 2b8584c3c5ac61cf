"""A well-known wrong convolution (:class:`Variant`) and the decorator that adds one to a family."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from conv2d.gate.diagnosis.problem import Call, Problem
from conv2d.gate.vocabulary import Category

__all__ = ["Categorised", "Variant", "VariantFn", "variant"]

#: A variant's computation: its call for a problem, or ``None`` where it does not apply.
VariantFn = Callable[[Problem], Call | None]


class Categorised:
    """A variant filed under a ``category`` and the further categories ``also`` whose bugs look the same."""

    category: Category
    also: tuple[Category, ...]

    @property
    def categories(self) -> tuple[Category, ...]:
        """The variant's category, then the further ones of :attr:`also`."""
        return (self.category, *self.also)


@dataclasses.dataclass(frozen=True)
class Variant(Categorised):
    """A well-known wrong convolution.

    Attributes:
        name: short kebab-case identifier.
        category: the bug category it corresponds to (that of the zoo bugs it names).
        sentence: what the output equals, as one sentence (``"the output equals ..."``).
        compute: the variant's call for a problem, or ``None`` where it does not apply or equals the right call.
        also: further bug categories whose bugs produce the same output.
    """

    name: str
    category: Category
    sentence: str
    compute: VariantFn
    also: tuple[Category, ...] = ()


def variant(
    family: list[Variant], name: str, category: Category, sentence: str, also: tuple[Category, ...] = ()
) -> Callable[[VariantFn], VariantFn]:
    """A decorator that appends the decorated computation to ``family`` as a :class:`Variant`."""

    def add(fn: VariantFn) -> VariantFn:
        family.append(Variant(name, category, sentence, fn, also))
        return fn

    return add
