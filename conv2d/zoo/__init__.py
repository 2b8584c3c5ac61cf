"""The zoo: known-buggy conv2d/corr2d implementations (mutants) and correct alternatives.

It proves the gate's power: every mutant must be caught, every correct
alternative must pass. Each entry is a module-level function, loadable by the
gate's CLI as ``"conv2d.zoo.<module>:<name>"`` (its ``target``).

* :data:`MUTANTS` — bugs modelled on real bug classes, each filed under a
  :class:`~conv2d.gate.vocabulary.Category` and with a witness input in its module's
  ``WITNESSES``: the conv2d mutants in the family modules (``conv2d.zoo.geometry``,
  ``channels``, ``contract``, ``kernels``, ``layout``, ``precision``, ``backward``,
  ``runtime``; ``conv2d.zoo.mutants`` gathers them all, and their witnesses), the
  corr2d ones in ``conv2d.zoo.corr2d``, the conv_transpose2d ones in ``conv2d.zoo.transposed``,
  the conv1d and conv3d ones in ``conv2d.zoo.spatial``;
* :data:`CORRECT` — alternatives that round differently from F.conv2d, each with its
  algorithm ``family`` (``conv2d.zoo.correct``, ``conv2d.zoo.corr2d``, ``conv2d.zoo.transposed``,
  ``conv2d.zoo.spatial``).
"""

from __future__ import annotations

from conv2d.zoo import corr2d, correct, mutants, spatial, transposed
from conv2d.zoo._entry import REGISTRY, ZooEntry

__all__ = ["CORRECT", "MUTANTS", "ZooEntry", "by_name"]

#: Where each module's entries come in the zoo's order: the conv2d families, correct, corr2d, transposed, spatial.
_MODULES = (
    *(family.__name__ for family in mutants.FAMILIES),
    correct.__name__,
    corr2d.__name__,
    transposed.__name__,
    spatial.__name__,
)

_ALL: tuple[ZooEntry, ...] = tuple(sorted(REGISTRY, key=lambda e: _MODULES.index(e.fn.__module__)))

#: Every buggy entry, of every kind.
MUTANTS: tuple[ZooEntry, ...] = tuple(entry for entry in _ALL if not entry.correct)
#: Every correct alternative, of every kind.
CORRECT: tuple[ZooEntry, ...] = tuple(entry for entry in _ALL if entry.correct)


def by_name(name: str) -> ZooEntry:
    """The entry called ``name`` (a function name such as ``"tail_drop_w8"``, or its full target)."""
    for entry in _ALL:
        if name in (entry.name, entry.target):
            return entry
    raise KeyError(f"no zoo entry named {name!r}; known entries: {', '.join(e.name for e in _ALL)}")
