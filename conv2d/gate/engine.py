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
from collections.abc import Iterable
from typing import Any, Literal

import torch
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Flaky, HypothesisException

from conv2d.gate.case import ConvCase
from conv2d.gate.properties import PROPERTIES, Property
from conv2d.gate.strategies import conv_cases, corr2d_cases
from conv2d.gate.target import Target, Unsupported, Violation

__all__ = [
    "PROFILES",
    "Failure",
    "GateProfile",
    "PropertyResult",
    "Status",
    "cuda_available",
    "properties_for",
    "repro_snippet",
    "run_property",
]

Status = Literal["holds", "fails", "unsupported", "skipped", "not run", "error", "xfail", "xpass"]


@dataclasses.dataclass(frozen=True)
class GateProfile:
    """How hard the gate searches.

    Attributes:
        name: the profile's name.
        scale: multiplies each property's example count.
        budget: seconds of search per property before it stops drawing new cases.
        shrink_budget: further seconds allowed for shrinking a counterexample.
    """

    name: str
    scale: float
    budget: float
    shrink_budget: float
    description: str


PROFILES: dict[str, GateProfile] = {
    p.name: p
    for p in (
        GateProfile("quick", 0.25, 5.0, 10.0, "a smoke test: a quarter of the cases"),
        GateProfile("default", 1.0, 20.0, 30.0, "the verdict: every property at its full case count"),
        GateProfile("thorough", 10.0, 600.0, 120.0, "a hunt: ten times the cases, for nightly runs"),
    )
}


@dataclasses.dataclass(frozen=True)
class Failure:
    """The smallest counterexample found for a property."""

    case: ConvCase
    message: str
    repro: str
    blob: str | None


@dataclasses.dataclass(frozen=True)
class PropertyResult:
    """The verdict on one property on one device.

    ``examples`` counts the cases on which the law held (for a failing property,
    those checked before and while shrinking); ``unsupported`` counts declined
    cases by the reason the target gave.
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

    def with_status(self, status: Status, note: str) -> PropertyResult:
        return dataclasses.replace(self, status=status, note=note)


def cuda_available() -> bool:
    """True if torch sees a CUDA device (checked lazily, never at import)."""
    return torch.cuda.is_available()


def properties_for(kind: str, names: Iterable[str] | None = None) -> list[Property]:
    """The catalogue's properties that apply to targets of ``kind``, optionally only ``names``."""
    chosen = [p for p in PROPERTIES.values() if kind in p.kinds]
    if names is not None:
        wanted = list(names)
        unknown = [n for n in wanted if n not in PROPERTIES]
        if unknown:
            raise ValueError(f"unknown property {unknown[0]!r}; known properties are {sorted(PROPERTIES)}")
        chosen = [p for p in chosen if p.name in wanted]
    return chosen


def repro_snippet(target: Target, prop: Property, case: ConvCase) -> str:
    """Runnable Python that replays the counterexample: the call by hand, then the gate's check."""
    module, _, attribute = target.name.partition(":")
    call = (
        "fn(args.input, args.weight)"
        if target.kind == "corr2d"
        else "fn(args.input, args.weight, args.bias, **args.params())"
    )
    return "\n".join(
        [
            "import torch",
            "from conv2d.gate import PROPERTIES, ConvCase, Target",
            f"from {module} import {attribute.split('.')[0]} as fn",
            f"case = {case.to_code()}",
            "args = case.materialize()  # the exact tensors: shapes, dtype, layout, values",
            f"out = {call}",
            f"target = Target.load({target.name!r}, kind={target.kind!r})",
            f"PROPERTIES[{prop.name!r}].check(target, case)  # raises Violation with the message above",
        ]
    )


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


def run_property(
    prop: Property,
    target: Target,
    *,
    device: str = "cpu",
    profile: GateProfile | str = "default",
    seed_value: int = 0,
) -> PropertyResult:
    """Search for a counterexample to ``prop`` on ``target`` and return the verdict."""
    profile = PROFILES[profile] if isinstance(profile, str) else profile
    base = PropertyResult(prop.name, prop.law, device, "holds")
    caps = target.capabilities
    if target.hung:
        return base.with_status("not run", f"the target hung earlier: {target.hung}")
    declined = prop.unsupported_by(caps)
    if declined:
        return base.with_status("unsupported", declined)
    if device not in caps.devices:
        return base.with_status("unsupported", f"declared devices are {list(caps.devices)}")
    if device == "cuda" and not cuda_available():
        return base.with_status("skipped", "no CUDA device is available")
    if prop.name == "device-parity" and not (device == "cuda" and cuda_available()):
        return base.with_status("skipped", "needs a CUDA device beside the CPU")

    make = corr2d_cases if target.kind == "corr2d" else conv_cases
    strategy = make(caps, device=device, require=prop.require)
    examples = round(prop.examples * profile.scale)
    state: dict[str, Any] = {"run": 0, "case": None, "message": None, "budget": False}
    unsupported: collections.Counter[str] = collections.Counter()
    start = time.perf_counter()

    @_hypothesis_settings(examples)
    @seed(seed_value)
    @given(case=strategy)
    def search(case: ConvCase) -> None:
        elapsed = time.perf_counter() - start
        if state["case"] is None and elapsed > profile.budget:
            state["budget"] = True
            return
        if state["case"] is not None and elapsed > profile.budget + profile.shrink_budget:
            return
        try:
            prop.check(target, case)
        except Unsupported as exc:
            unsupported[str(exc)] += 1
            return
        except Violation as exc:
            state["case"], state["message"] = case, str(exc)
            raise
        state["run"] += 1

    status: Status = "holds"
    failure: Failure | None = None
    note = ""
    try:
        search()
    except (Violation, Flaky) as exc:
        if state["case"] is None:
            status, note = "error", f"the search ended without a recorded case: {exc}"
        else:
            status = "fails"
            failure = Failure(
                case=state["case"],
                message=state["message"],
                repro=repro_snippet(target, prop, state["case"]),
                blob=_blob(exc),
            )
    except HypothesisException as exc:
        status, note = "error", f"Hypothesis stopped the search: {type(exc).__name__}: {exc}"
    except Exception:  # a defect in the gate itself: report it, never hide it
        status, note = "error", "the gate itself raised:\n" + traceback.format_exc(limit=6)
    seconds = time.perf_counter() - start
    if status == "holds":
        if state["run"] == 0 and unsupported:
            status, note = "unsupported", "the target raised NotImplementedError on every case"
        elif state["budget"]:
            note = f"time budget of {profile.budget:g} s reached after {state['run']} cases"
    return PropertyResult(
        property=prop.name,
        law=prop.law,
        device=device,
        status=status,
        examples=state["run"],
        unsupported=dict(unsupported),
        seconds=seconds,
        note=note,
        failure=failure,
    )
