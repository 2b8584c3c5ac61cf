"""The bound's headroom, measured adversarially: a search aimed at it keeps every correct alternative at <= 0.5.

This is the short version of ``benchmarks/headroom.py`` (same code, fewer cases per
cell): for each correct alternative and dtype, Hypothesis steers toward the largest
error-to-bound ratio over every property that compares two results. Each cell's search
runs in a worker process (``tests/_isolation.py``): several alternatives run the host's
float16/bfloat16 GEMMs, which must not run in the pytest process (``tests/_tripwire.py``);
a worker the host's torch kills skips the cell, naming the signal.
"""

from __future__ import annotations

import sys
from pathlib import Path

import _isolation
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.headroom import LIMIT, cells, search  # noqa: E402

CELLS = cells()


@pytest.mark.parametrize(
    ("spec", "kind", "dtype"), CELLS, ids=[f"{s.split(':')[1]}-{d}" for s, _, d in CELLS]
)
def test_targeted_search_stays_within_half_the_bound(spec: str, kind: str, dtype: str) -> None:
    """Steered toward its largest error-to-bound ratio, a correct implementation stays at or below 0.5."""
    worst = _isolation.call(search, spec, kind, dtype, examples=12, what=f"{spec} in {dtype}")
    assert worst.examples == 12
    assert worst.ratio <= LIMIT, (
        f"{spec} in {dtype}: ratio {worst.ratio:.3g} on {worst.property}: {worst.case}"
    )


def test_the_search_measures_something() -> None:
    """The search records nonzero ratios for a correct float32 kernel (the metric is wired to the checks)."""
    worst = search("conv2d.zoo.correct:fft", "conv2d", "float32", examples=12)
    assert 0 < worst.ratio <= LIMIT and worst.property and worst.case.startswith("ConvCase(")
