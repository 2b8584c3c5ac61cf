"""A failing case checked again in a fresh worker: does the failure need the calls made before it?

A failure is checked once more in a fresh worker. The case a property failed on was
checked after every call the worker made before it, so a target that keeps state between
calls (a kernel cache keyed on too little, a buffer it reuses, a setting it changes) can
fail there and hold alone, and its reproduction would then not reproduce. So for each
failing property a worker is started for one :class:`~conv2d.gate.messages.Recheck`: the
property's check, once, on the failing case, as the reproduction runs it (once per cause:
of properties that fail with the same first line, the first is checked again). When that holds,
the failure stays a failure and its message and reproduction say that it needs the calls
made before it (:data:`FRESH_HOLDS`); when it fails again, or gives no answer (the target
declines, crashes or hangs there), the failure is left as it is. A run in-process
(``isolate=False``) has no fresh process to ask and checks nothing again.

A recheck changes a failure's message, never its status; whether it answers within its
limit, and with ``-n`` above 1 which of the properties failing alike is checked again,
can depend on timing.

The parent side is :meth:`conv2d.gate.runner._Runner._confirmed`; this module holds the
worker's check, the rule for which failures are checked again, and the words.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from conv2d.gate.laws import PROPERTIES
from conv2d.gate.target import Target, Violation, bounded

if TYPE_CHECKING:
    from conv2d.gate.case import ConvCase
    from conv2d.gate.engine import PropertyResult

__all__ = ["FRESH_HOLDS", "FRESH_HOLDS_SHORT", "START", "cause", "marked", "outcome"]

#: Seconds a worker started to check a failing case again may take to load the target, beyond the call limit.
START = 30.0
#: What a failure says when its case, checked again in a fresh process, holds.
FRESH_HOLDS = (
    "checked again in a fresh process (the target loaded anew, no call before it), this case holds: the "
    "failure depends on the calls made before it in the same process. Look for state the target keeps "
    "between calls: a cache or compiled kernel keyed on too little, a reused buffer, a global setting. "
    "The reproduction below needs that history; the same verdict (same seed, same properties) replays it"
)
FRESH_HOLDS_SHORT = "this case holds in a fresh process: the failure needs the calls made before it"


def outcome(name: str, target: Target, case: ConvCase) -> str:
    """Check property ``name`` once on ``case``, as the failure's reproduction does: holds, fails or inconclusive."""
    try:
        PROPERTIES[name].check(target, case)
    except Violation:
        return "fails"
    except Exception:  # declined (Unsupported), timed out, or a gate error: no answer either way
        return "inconclusive"
    return "holds"


def cause(result: PropertyResult) -> str | None:
    """What ``result`` failed of (its cause, or its message's first line), or None when it is no failure to recheck."""
    failure = result.failure
    if result.status != "fails" or failure is None:
        return None
    return failure.cause or failure.message.partition("\n")[0]


def marked(result: PropertyResult) -> PropertyResult:
    """``result`` with its message, reproduction and note saying that its failure needs earlier calls."""
    failure = result.failure
    assert failure is not None
    message = bounded(f"{failure.message}\n{FRESH_HOLDS}")
    repro = f"{failure.repro}\n# {FRESH_HOLDS_SHORT}" if failure.repro else failure.repro
    note = f"{result.note}; {FRESH_HOLDS_SHORT}" if result.note else FRESH_HOLDS_SHORT
    return dataclasses.replace(
        result, note=note, failure=dataclasses.replace(failure, message=message, repro=repro)
    )
