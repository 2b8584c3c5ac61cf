"""The catalogue's registry: what a law is, where it runs in the order, and which targets it applies to.

Each law is registered by the :func:`law` decorator, with its :class:`Stage` and its
``order`` within the stage; :data:`PROPERTIES` is kept sorted by both, so the run and
report order is written once, next to each law. Whether a law applies to a target is
decided here too: :func:`applicable` by the target's kind (and a chosen list of
names), :meth:`Property.unsupported_by` by its declared capabilities.

Laws may also report what they observe without failing (:func:`notice`), collected
by :func:`collect_notes` around a search.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import enum
from collections.abc import Callable, Iterable, Iterator, Sequence

from conv2d.gate.capabilities import Capabilities
from conv2d.gate.case import ConvCase
from conv2d.gate.target import Target
from conv2d.gate.vocabulary import LARGE_ELEMENTS

__all__ = [
    "PROPERTIES",
    "Check",
    "Note",
    "Property",
    "Stage",
    "applicable",
    "collect_notes",
    "law",
    "notice",
]

#: A law's check: raises :class:`~conv2d.gate.target.Violation` when the law does not hold on the case.
Check = Callable[[Target, ConvCase], None]


class Stage(enum.IntEnum):
    """Where a law runs in the catalogue's order.

    A fail-fast run stops at the first failing law, so the checks most bugs fail come
    first, then the short contract checks, then the metamorphic laws (which catch what a
    shared reference could hide), and the slow ones (repeats, threads) last.
    """

    #: Shape, values and first derivatives against the float64 reference.
    REFERENCE = 1
    #: The calling contract: an empty batch, invalid arguments, calling conventions.
    API = 2
    #: IEEE arithmetic: special values, overflow, subnormals.
    IEEE = 3
    #: The rest of the contract: global state, partial and second-order autograd, large sizes, memory.
    CONTRACT = 4
    #: Laws that relate two computed results (linearity, groups, strides, layouts...).
    METAMORPHIC = 5
    #: The slow ones: repeated calls, threads, devices.
    RUNTIME = 6


_LARGE = f"2**{LARGE_ELEMENTS.bit_length() - 1}"


@dataclasses.dataclass(frozen=True)
class Property:
    """One law of the catalogue.

    Attributes:
        name: short kebab-case identifier, used on the command line and in reports.
        check: the function that checks one case.
        stage: where it runs in the catalogue's order.
        order: its place within the stage (lower first).
        kinds: target kinds it applies to.
        require: constraints on the cases it is checked on (see ``strategies.REQUIREMENTS``).
        examples: cases drawn under the default profile.
        needs: capability fields that must be declared (true, or non-empty) for the law to apply.
        devices: devices the law needs all of at once (``("cpu", "cuda")`` for a parity law).
        layouts: whether the law needs a layout other than contiguous.
    """

    name: str
    check: Check
    stage: Stage
    order: int
    kinds: tuple[str, ...]
    require: frozenset[str]
    examples: int
    needs: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    layouts: bool = False

    @property
    def law(self) -> str:
        """The law in one sentence (the first line of the check's docstring)."""
        return (self.check.__doc__ or "").strip().splitlines()[0]

    def unsupported_by(self, caps: Capabilities) -> str | None:
        """Why the declared capabilities rule this property out, or None."""
        if self.devices and not set(self.devices) <= set(caps.devices):
            return f"declared devices {list(caps.devices)} do not include all of {list(self.devices)}"
        if self.layouts and set(caps.layouts) == {"contiguous"}:
            return "declared layouts are contiguous only"
        if "large" in self.require and caps.max_elements is not None and caps.max_elements < LARGE_ELEMENTS:
            return f"declared max_elements={caps.max_elements}, below the {_LARGE} elements this law needs"
        for field in self.needs:
            value = getattr(caps, field)
            if not value:
                return f"declared {field}={value!r}"
        return None


#: The catalogue, by name, in run and report order (by stage, then order within the stage).
PROPERTIES: dict[str, Property] = {}


def _register(prop: Property) -> None:
    """Add ``prop`` to :data:`PROPERTIES`, keeping it sorted by stage and order."""
    if prop.name in PROPERTIES:
        raise ValueError(f"the law {prop.name!r} is registered twice")
    clash = [p.name for p in PROPERTIES.values() if (p.stage, p.order) == (prop.stage, prop.order)]
    if clash:
        raise ValueError(
            f"the laws {clash[0]!r} and {prop.name!r} share stage {prop.stage.name}, order {prop.order}"
        )
    ordered = sorted([*PROPERTIES.values(), prop], key=lambda p: (p.stage, p.order))
    PROPERTIES.clear()
    PROPERTIES.update((p.name, p) for p in ordered)


def law(
    name: str,
    *,
    stage: Stage,
    order: int,
    kinds: Sequence[str] = ("conv2d", "corr2d", "conv_transpose2d", "conv1d", "conv3d"),
    require: Sequence[str] = (),
    examples: int = 40,
    needs: Sequence[str] = (),
    devices: Sequence[str] = (),
    layouts: bool = False,
) -> Callable[[Check], Check]:
    """Register the decorated check as the law ``name`` (see :class:`Property` for the fields)."""

    def add(check: Check) -> Check:
        _register(
            Property(
                name,
                check,
                stage,
                order,
                tuple(kinds),
                frozenset(require),
                examples,
                tuple(needs),
                tuple(devices),
                layouts,
            )
        )
        return check

    return add


def applicable(kind: str, names: Iterable[str] | None = None) -> list[Property]:
    """The catalogue's properties that apply to targets of ``kind``, optionally only ``names``."""
    chosen = [p for p in PROPERTIES.values() if kind in p.kinds]
    if names is not None:
        wanted = list(names)
        unknown = [n for n in wanted if n not in PROPERTIES]
        if unknown:
            raise ValueError(f"unknown property {unknown[0]!r}; known properties are {sorted(PROPERTIES)}")
        chosen = [p for p in chosen if p.name in wanted]
    return chosen


@dataclasses.dataclass(frozen=True)
class Note:
    """Something a law observed that is reported but does not fail it (a platform behaviour).

    Attributes:
        text: what was observed, the same for every case it was observed on.
        behaviour: the name of the host behaviour it is (:mod:`conv2d.gate.upstream`), or ``""``.
        cases: on how many cases it was observed.
    """

    text: str
    behaviour: str = ""
    cases: int = 1

    def render(self) -> str:
        """The note as one report line, with the number of cases it was observed on."""
        return f"{self.text} (on {self.cases} case{'s' if self.cases != 1 else ''})"


_NOTES: contextvars.ContextVar[list[Note] | None] = contextvars.ContextVar("conv2d_notes", default=None)


def notice(text: str, *, behaviour: str = "") -> None:
    """Report ``text`` on the verdict without failing the law (outside :func:`collect_notes`, nothing happens)."""
    seen = _NOTES.get()
    if seen is not None:
        seen.append(Note(text, behaviour))


# A context-local collector, alike in form to judge.record_ratios (each collects its own kind).
@contextlib.contextmanager
def collect_notes() -> Iterator[list[Note]]:
    """Collect the notes the laws make inside the block."""
    seen: list[Note] = []
    token = _NOTES.set(seen)
    try:
        yield seen
    finally:
        _NOTES.reset(token)
