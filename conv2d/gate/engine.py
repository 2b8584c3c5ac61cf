"""Running the catalogue: one Hypothesis search per property and device, one verdict each.

Both front doors — ``python -m conv2d verify`` and ``pytest --conv-impl`` — call
:func:`run_property` with the same profile and seed, so they reach the same
verdict. Hypothesis settings are built here from the gate's own profile, never
from whatever profile the surrounding process loaded, and the search is seeded
and database-free, so a verdict is reproducible from its seed.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Flaky, HypothesisException

from conv2d.gate import hostcalls
from conv2d.gate.case import INPUT_LAYOUTS, ConvCase
from conv2d.gate.coverage import Coverage
from conv2d.gate.determinism import seeded_search
from conv2d.gate.diagnosis import explain
from conv2d.gate.laws import Note, Property, applicable, collect_notes
from conv2d.gate.reference import GateError
from conv2d.gate.strategies import cases_for
from conv2d.gate.target import CallTimeout, Target, Unsupported, Violation

__all__ = [
    "FAILING",
    "PROFILES",
    "Failure",
    "GateProfile",
    "PropertyResult",
    "Status",
    "cause_of",
    "cuda_available",
    "describe_declined",
    "properties_for",
    "repro_snippet",
    "run_property",
]

Status = Literal[
    "holds",
    "fails",
    "crashed",
    "timeout",
    "incomplete",
    "not verified",
    "unsupported",
    "skipped",
    "not run",
    "error",
    "xfail",
    "xpass",
]
#: The statuses that fail a run. ``error`` is the gate's own fault (exit code 2), the rest the target's (1).
FAILING: frozenset[str] = frozenset(
    {"fails", "crashed", "timeout", "incomplete", "not verified", "not run", "error"}
)


@dataclasses.dataclass(frozen=True)
class GateProfile:
    """How hard the gate searches.

    The number of cases comes from the profile and the seed alone, so the same seed
    gives the same verdict on any machine and under any load. The time budgets are
    guards against runaway targets only: reaching one gives the explicit status
    ``incomplete``, never a silent "holds".

    Attributes:
        name: the profile's name.
        scale: multiplies each property's example count.
        budget: seconds of search per property before it is reported ``incomplete``.
        shrink_limit: calls allowed for shrinking a counterexample (a count, so shrinking
            reaches the same case on any machine).
        shrink_budget: further seconds allowed for shrinking (a guard; reaching it is noted).
    """

    name: str
    scale: float
    budget: float
    shrink_limit: int
    shrink_budget: float
    description: str


PROFILES: dict[str, GateProfile] = {
    p.name: p
    for p in (
        GateProfile("quick", 0.25, 120.0, 100, 60.0, "a smoke test: a quarter of the cases"),
        GateProfile("default", 1.0, 300.0, 300, 120.0, "the verdict: every property at its full case count"),
        GateProfile("thorough", 10.0, 3600.0, 1000, 600.0, "a hunt: ten times the cases, for nightly runs"),
    )
}


@dataclasses.dataclass(frozen=True)
class Failure:
    """The smallest counterexample found for a property.

    ``cause`` names a misbehaviour that is not a law's violation — an exception the
    target raised, a crash, a time-out — so that one cause taking down several
    properties is reported once. ``regions`` names the known torch bugs
    (:mod:`conv2d.gate.upstream`) whose regions the failing calls of the host's
    convolution touched, and ``known`` those of them this host has: a failure with
    ``known`` is a known torch bug, reported apart from new failures.
    """

    case: ConvCase
    message: str
    repro: str
    blob: str | None
    cause: str | None = None
    regions: tuple[str, ...] = ()
    known: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class PropertyResult:
    """The verdict on one property on one device.

    ``examples`` counts the cases on which the law held (for a failing property,
    those checked before and while shrinking); ``unsupported`` counts declined
    cases by the reason the target gave, and ``declined`` describes them: the
    first declined case and what every declined case had in common; ``coverage``
    counts the generated cases per region of the problem space
    (:class:`conv2d.gate.coverage.Coverage`, as JSON); ``notes`` holds what the laws
    reported without failing (a platform behaviour such as flushed half-precision
    subnormals), each with the number of cases it was seen on.
    """

    property: str
    law: str
    device: str
    status: Status
    examples: int = 0
    unsupported: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""
    failure: Failure | None = None
    declined: dict[str, str] = dataclasses.field(default_factory=dict)
    coverage: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: tuple[Note, ...] = ()

    def with_status(self, status: Status, note: str) -> PropertyResult:
        return dataclasses.replace(self, status=status, note=note)


def cuda_available() -> bool:
    """True if torch sees a CUDA device (checked lazily, never at import)."""
    return torch.cuda.is_available()


def properties_for(kind: str, names: Iterable[str] | None = None) -> list[Property]:
    """The catalogue's properties that apply to targets of ``kind``, optionally only ``names``."""
    return applicable(kind, names)


def repro_snippet(target: Target, prop: Property, case: ConvCase) -> str:
    """Runnable Python that replays the counterexample: the call by hand, then the gate's check."""
    module, _, attribute = target.name.partition(":")
    first, dot, _rest = attribute.partition(".")
    imports = (
        [f"from {module} import {first} as fn"]
        if not dot
        else [f"from {module} import {first}", f"fn = {attribute}"]
    )
    call = (
        "fn(args.input, args.weight)"
        if target.kind == "corr2d"
        else "fn(args.input, args.weight, args.bias, **args.params())"
    )
    return "\n".join(
        [
            "import torch",
            "from conv2d.gate import PROPERTIES, ConvCase, Target",
            *imports,
            f"case = {case.to_code()}",
            "args = case.materialize()  # the exact tensors: shapes, dtype, layout, values",
            f"out = {call}",
            f"target = Target.load({target.name!r}, kind={target.kind!r})",
            f"PROPERTIES[{prop.name!r}].check(target, case)  # raises Violation with the message above",
        ]
    )


_RAISED = re.compile(
    r"^(?:the call(?: \([^)]*\))?|backward|double backward|corr2d\(X, K\)) raised "
    r"(NotImplementedError from inside a torch operator it called|[\w.]+): (.*)",
    re.S,
)


def cause_of(message: str) -> str | None:
    """The exception a failure message reports the target raised (``"raised ValueError: ..."``), if any."""
    found = _RAISED.match(message)
    if found is None:
        return None
    return f"raised {found.group(1)}: {found.group(2).splitlines()[0][:120]}"


def describe_declined(cases: list[ConvCase]) -> str:
    """The first declined case, and the features every declined case shared (a silently dropped region)."""
    features: list[tuple[str, Callable[[ConvCase], bool]]] = [
        ("with a bias", lambda c: c.bias),
        ("without a bias", lambda c: not c.bias),
        ("grouped", lambda c: c.groups > 1),
        ("unbatched", lambda c: c.batch is None),
        ("strided", lambda c: c.stride not in (1, (1, 1))),
        ("dilated", lambda c: c.dilation not in (1, (1, 1))),
        *((f"in {d}", (lambda c, d=d: c.dtype == d)) for d in ("float64", "float32", "float16", "bfloat16")),
        *((f"with {x} input", (lambda c, x=x: c.input_layout == x)) for x in INPUT_LAYOUTS[1:]),
    ]
    common = [name for name, has in features if all(has(c) for c in cases)]
    shared = f"every one {', '.join(common)}; " if common and len(cases) > 1 else ""
    return f"{shared}e.g. {cases[0].describe()}"


_BLOB = re.compile(r"@reproduce_failure\([^)]*\)")


def _blob(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", []):
        found = _BLOB.search(note)
        if found:
            return found.group(0)
    return None


def _hypothesis_settings(examples: int) -> settings:
    return settings(
        settings.get_profile("default"),
        max_examples=max(1, examples),
        deadline=None,
        database=None,
        derandomize=False,
        print_blob=True,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )


@dataclasses.dataclass
class _Search:
    """What one property's search has seen: the cases that held, the failing case, what cut it short.

    ``case`` and ``message`` are the counterexample (the latest case that broke the law, so
    after shrinking the smallest); ``touched`` the known-bug regions the latest check's host
    calls fell in, and ``regions`` those of the counterexample. ``notes``, ``unsupported``,
    ``declined`` and ``coverage`` tally the generated cases (the search's, not the shrinking's,
    for notes and coverage).
    """

    start: float
    run: int = 0
    case: ConvCase | None = None
    message: str = ""
    incomplete: bool = False
    shrinks: int = 0
    shrink_cut: str = ""
    timeout: tuple[ConvCase, str] | None = None
    touched: list[str] = dataclasses.field(default_factory=list)
    regions: list[str] = dataclasses.field(default_factory=list)
    notes: collections.Counter[tuple[str, str]] = dataclasses.field(default_factory=collections.Counter)
    unsupported: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    declined: dict[str, list[ConvCase]] = dataclasses.field(default_factory=dict)
    coverage: Coverage = dataclasses.field(default_factory=Coverage)

    def admit(self, case: ConvCase, profile: GateProfile) -> bool:
        """Whether to check ``case``: none after a time-out, none past the budget, shrinking within its limits."""
        if self.timeout is not None:
            return False
        elapsed = time.perf_counter() - self.start
        if self.case is None and elapsed > profile.budget:
            self.incomplete = True
            return False
        if self.case is not None and case != self.case:
            self.shrinks += 1
            if self.shrinks > profile.shrink_limit:
                self.shrink_cut = self.shrink_cut or f"shrinking stopped after {profile.shrink_limit} steps"
                return False
            if elapsed > profile.budget + profile.shrink_budget:
                self.shrink_cut = f"shrinking stopped by its {profile.shrink_budget:g} s time guard"
                return False
        return True

    def check(self, prop: Property, target: Target, case: ConvCase) -> None:
        """Check the law on ``case`` and tally the outcome; a violation is recorded, then raised on to Hypothesis.

        Every violation reaches Hypothesis as a new ``Violation`` raised from the one line
        below, outside any ``except`` block. Hypothesis tells failures apart by the type,
        the line that raised and the chained context; were the law's own exception passed
        on, which shrink steps count as "the same failure" would depend on where in the
        laws (and in which chain of handlers) the message was raised. Raised from one
        place, a law's search and shrinking depend only on the cases and their outcomes.
        """
        if self.case is None:
            self.coverage.add(case)
        try:
            with hostcalls.recording() as touched, collect_notes() as noted:
                try:
                    prop.check(target, case)
                finally:
                    if self.case is None:  # notes of the search, not of the shrinking
                        self.notes.update((n.text, n.behaviour) for n in noted)
                    self.touched = sorted(touched)
        except Unsupported as exc:
            reason = str(exc)
            self.unsupported[reason] += 1
            self.declined.setdefault(reason, []).append(case)
            return
        except CallTimeout as exc:
            self.timeout = (case, str(exc))
            return
        except Violation as exc:
            self.case, self.message, self.regions = case, str(exc), self.touched
        else:
            self.run += 1
            return
        raise Violation(self.message)

    def result(
        self, prop: Property, device: str, status: Status, note: str, failure: Failure | None, seconds: float
    ) -> PropertyResult:
        """The verdict on the search: ``status``, ``note`` and ``failure`` with what the search tallied."""
        return PropertyResult(
            property=prop.name,
            law=prop.law,
            device=device,
            status=status,
            examples=self.run,
            unsupported=dict(self.unsupported),
            seconds=seconds,
            note=note,
            failure=failure,
            declined={reason: describe_declined(cases) for reason, cases in self.declined.items()},
            coverage=self.coverage.to_json(),
            notes=tuple(Note(text, behaviour, cases) for (text, behaviour), cases in self.notes.items()),
        )


def run_property(
    prop: Property,
    target: Target,
    *,
    device: str = "cpu",
    profile: GateProfile | str = "default",
    seed_value: int = 0,
    on_case: Callable[[ConvCase], None] | None = None,
) -> PropertyResult:
    """Search for a counterexample to ``prop`` on ``target`` and return the verdict.

    Args:
        on_case: called with each case before it is checked (the crash-isolating
            runner uses it to know which case a crash happened on).
    """
    profile = PROFILES[profile] if isinstance(profile, str) else profile
    refused = _refusal(prop, target, device)
    if refused is not None:
        return PropertyResult(prop.name, prop.law, device, "holds").with_status(*refused)
    make = cases_for(target.kind)
    strategy = make(target.capabilities, device=device, require=prop.require)
    examples = round(prop.examples * profile.scale)
    state = _Search(start=time.perf_counter())

    @_hypothesis_settings(examples)
    @seed(seed_value)
    @given(case=strategy)
    def search(case: ConvCase) -> None:
        if not state.admit(case, profile):
            return
        if on_case is not None:
            on_case(case)
        state.check(prop, target, case)

    with seeded_search():
        status, note, failure = _outcome(prop, target, state, search)
    seconds = time.perf_counter() - state.start
    if status == "holds":
        status, note, failure = _unfinished(prop, target, state, examples, profile)
    return state.result(prop, device, status, note, failure, seconds)


def _refusal(prop: Property, target: Target, device: str) -> tuple[Status, str] | None:
    """Why ``prop`` is not searched on ``target`` on ``device`` (the status and its note), or None to search."""
    caps = target.capabilities
    if target.hung:
        return "not run", f"an earlier call did not return: {target.hung}"
    declined = prop.unsupported_by(caps)
    if declined:
        return "unsupported", declined
    if device not in caps.devices:
        return "unsupported", f"declared devices are {list(caps.devices)}"
    if device == "cuda" and not cuda_available():
        return "skipped", "no CUDA device is available"
    if prop.devices and not (device == "cuda" and cuda_available()):
        return "skipped", "needs a CUDA device beside the CPU"
    return None


def _outcome(
    prop: Property, target: Target, state: _Search, search: Callable[[], None]
) -> tuple[Status, str, Failure | None]:
    """Run the search; the status it ends in (``holds`` when no law broke), its note, and the counterexample."""
    try:
        search()
    except (Violation, Flaky) as exc:
        if state.case is None:
            return "error", f"the search ended without a recorded case: {exc}", None
        return "fails", state.shrink_cut, _failure(prop, target, state.case, state, exc)
    except GateError as exc:
        return "error", f"the gate cannot judge a case: {exc}", None
    except HypothesisException as exc:
        return "error", f"Hypothesis stopped the search: {type(exc).__name__}: {exc}", None
    except Exception:  # a defect in the gate itself: report it, never hide it
        return "error", "the gate itself raised:\n" + traceback.format_exc(limit=6), None
    return "holds", "", None


def _failure(prop: Property, target: Target, case: ConvCase, state: _Search, exc: BaseException) -> Failure:
    """The counterexample the search shrank to, with the diagnosis of a violation that names no cause."""
    failure = Failure(
        case=case,
        message=state.message,
        repro=repro_snippet(target, prop, case),
        blob=_blob(exc),
        cause=cause_of(state.message),
        regions=tuple(state.regions),
    )
    extra = explain(target, case, prop.name) if failure.cause is None else []
    if extra:
        failure = dataclasses.replace(failure, message="\n".join([failure.message, *extra]))
    return failure


def _unfinished(
    prop: Property, target: Target, state: _Search, examples: int, profile: GateProfile
) -> tuple[Status, str, Failure | None]:
    """The status of a search in which no law broke: holds, or why it did not check everything."""
    if state.timeout is not None:
        case, message = state.timeout
        size = case.materialize().input.numel()
        note = f"{message} on a case with {size} input elements, after {state.run} cases held"
        failure = Failure(case, note, repro_snippet(target, prop, case), None, cause="timeout")
        return "timeout", note, failure
    if state.run == 0:
        if state.unsupported:
            reasons = "; ".join(f"{n} x {r}" for r, n in state.unsupported.items())
            return "not verified", f"no case was checked: the target declined every one ({reasons})", None
        return "not verified", "no case was checked", None
    if state.incomplete:
        return (
            "incomplete",
            f"checked {state.run} of {examples} cases before the {profile.budget:g} s time guard",
            None,
        )
    return "holds", "", None
