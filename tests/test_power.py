"""The gate's self-test: it kills every bug in the zoo and passes every correct alternative.

This is the regression guard for the gate itself: each buggy implementation must
fail the default profile (first failing property, as ``--fail-fast`` would stop),
and each correct implementation — FFT, Winograd, im2col, float64-then-cast, a
slow loop, shifted matmuls and the core — must pass the whole catalogue.

Every run is crash-isolated (the gate's worker processes): many zoo entries run
the host's float16/bfloat16 GEMMs or its F.conv2d, which must not run in the
pytest process. A worker the host's torch kills with a signal skips the test,
naming the signal (``tests/_isolation.py``).
"""

from __future__ import annotations

import _isolation
import pytest

from conv2d.zoo import CORRECT, MUTANTS, ZooEntry


def _ids(entries: tuple[ZooEntry, ...]) -> list[str]:
    return [f"{e.kind}:{e.name}" for e in entries]


@pytest.mark.parametrize("entry", MUTANTS, ids=_ids(MUTANTS))
def test_every_bug_is_killed(entry: ZooEntry) -> None:
    """The default profile finds a counterexample for this known bug."""
    report = _isolation.suite(entry.target, kind=entry.kind, profile="default", fail_fast=True)
    assert report.failed, f"{entry.target} survived the gate: {entry.summary}"
    assert report.failed[0].status == "fails", report.failed[0].note


@pytest.mark.parametrize("entry", CORRECT, ids=_ids(CORRECT))
def test_every_correct_alternative_passes(entry: ZooEntry) -> None:
    """The whole catalogue holds for this correct implementation that rounds differently."""
    report = _isolation.suite(entry.target, kind=entry.kind, profile="default")
    failures = [(r.property, r.failure.message if r.failure else r.note) for r in report.failed]
    assert not failures, f"false alarm on {entry.target}: {failures}"
