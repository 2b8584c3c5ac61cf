"""What makes a seeded search draw the same cases in every process, however the gate was installed.

Hypothesis (6.131 and later) draws, with a small probability per value, constants it
harvested from the source of the *local* modules in ``sys.modules``: every imported
module outside site-packages and the standard library. Which those are depends on the
process, not on the seed:

* on how the package was installed (an editable install is local, a wheel is not);
* on what the process imported before the search (the CLI, a worker, a test session);
* on the target's own module and the literals in the gate's source.

A verdict on seed 0 then changes when a test file imports one more module, when a
worker process runs the search instead of the parent, or when a refactoring moves a
literal. Measured here: ``matches-reference`` on ``batch_tile16_remainder`` with seed 0
failed in-process and held in a worker, the two searches parting at the 28th case.

:func:`seeded_search` switches the harvest off for the duration of a search. The
constants Hypothesis ships with (its global constants) are still drawn, and they are the
same in every process for a given Hypothesis version.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["harvests_local_constants", "seeded_search"]

_LOCK = threading.Lock()
_DEPTH = 0
_SAVED: Any = None


def _providers() -> Any:
    """Hypothesis's providers module, or ``None`` where it has no local-constants harvest (before 6.131)."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:
        return None
    return (
        providers if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants") else None
    )


def harvests_local_constants() -> bool:
    """Whether this Hypothesis draws constants from local modules (and so needs :func:`seeded_search`)."""
    return _providers() is not None


@contextmanager
def seeded_search() -> Iterator[None]:
    """Within the block, Hypothesis draws no constant harvested from the process's local modules.

    Nested and concurrent blocks share one switch; the harvest is back once the last ends.
    """
    global _DEPTH, _SAVED
    providers = _providers()
    if providers is None:
        yield
        return
    with _LOCK:
        if _DEPTH == 0:
            _SAVED = providers._get_local_constants
            empty = providers.Constants()
            providers._get_local_constants = lambda: empty
            providers.CONSTANTS_CACHE.cache.clear()  # entries filtered from the harvest made so far
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                providers._get_local_constants = _SAVED
                providers.CONSTANTS_CACHE.cache.clear()
