"""What the crash-isolating runner and its worker processes say to each other over a pipe.

The parent gives each worker :class:`Assign` orders (a :class:`Job` and the per-call time
limit it runs under) and a :class:`Stop` when it has no more work. A worker says
:class:`Ready` once its target is loaded; then, while a job runs, which case it checks
(:class:`CaseStarted`), when a call of the target is entered and left
(:class:`CallEntered`, :class:`CallReturned`), which regions of known torch bugs a call
of the host's convolution is about to touch (:class:`Regions`), and at last the
job's :class:`Result`. A worker started only to check a failing case once more gets one
:class:`Recheck` instead of jobs, and answers :class:`Rechecked`.

Every message is a frozen dataclass defined at module level, so that it pickles
across a ``multiprocessing`` pipe. A worker's message names its handler in the
parent by ``kind``: :class:`conv2d.gate.runner` hands it to ``_on_<kind>``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from conv2d.gate.case import ConvCase

if TYPE_CHECKING:
    from conv2d.gate.engine import PropertyResult

__all__ = [
    "Assign",
    "CallEntered",
    "CallReturned",
    "CaseStarted",
    "Job",
    "Ready",
    "Recheck",
    "Rechecked",
    "Regions",
    "Result",
    "Stop",
    "WorkerMessage",
]


@dataclasses.dataclass(frozen=True)
class Job:
    """One property to search on one device, under a profile and a seed."""

    property: str
    device: str
    profile: str
    seed: int


@dataclasses.dataclass(frozen=True)
class Assign:
    """The parent's order: run ``job``, giving each call of the target ``limit`` seconds."""

    job: Job
    limit: float


@dataclasses.dataclass(frozen=True)
class Recheck:
    """The parent's order to a fresh worker: check ``property`` once on ``case``, each call given ``limit`` seconds."""

    property: str
    case: ConvCase
    limit: float


@dataclasses.dataclass(frozen=True)
class Stop:
    """The parent's order to a worker that gets no more jobs: return."""


@dataclasses.dataclass(frozen=True)
class Ready:
    """The worker has loaded the target and waits for a job."""

    kind: ClassVar[str] = "ready"


@dataclasses.dataclass(frozen=True)
class CaseStarted:
    """The worker is about to check ``case`` (what a crash from now on happened on)."""

    kind: ClassVar[str] = "case"
    case: ConvCase


@dataclasses.dataclass(frozen=True)
class CallEntered:
    """Thread ``thread`` of the worker entered a call of the target, ``what`` (``"the call"``, ``"backward"``...)."""

    kind: ClassVar[str] = "call"
    what: str
    thread: int


@dataclasses.dataclass(frozen=True)
class CallReturned:
    """Thread ``thread`` left its call of the target.

    ``timing`` is the call's ``(seconds, cpu_seconds)``, or None for a call that ended
    because a call nested in it timed out (it did not return on its own).
    """

    kind: ClassVar[str] = "return"
    timing: tuple[float, float] | None
    thread: int


@dataclasses.dataclass(frozen=True)
class Regions:
    """A call of the host's convolution about to run lies in the regions of these known torch bugs."""

    kind: ClassVar[str] = "regions"
    names: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Result:
    """The verdict on the job the worker was given."""

    kind: ClassVar[str] = "result"
    result: PropertyResult


@dataclasses.dataclass(frozen=True)
class Rechecked:
    """What a :class:`Recheck` found: ``"holds"``, ``"fails"`` or ``"inconclusive"`` (the target declined, timed out...)."""

    kind: ClassVar[str] = "rechecked"
    outcome: str


#: What a worker sends its parent.
WorkerMessage: TypeAlias = Ready | CaseStarted | CallEntered | CallReturned | Regions | Result | Rechecked
