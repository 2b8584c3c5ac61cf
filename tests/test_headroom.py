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


@pytest.mark.xfail(
    strict=True,
    reason=(
        "known gap: the norm-wise term does not cover Winograd F(6x6, 3x3)'s transform amplification; "
        "a correct F(6x6) kernel exceeds the bound on a dominant value summed over 63 channels"
    ),
)
def test_large_winograd_tile_on_a_dominant_value() -> None:
    """matches-reference holds for the zoo's Winograd F(6x6, 3x3) in float32 where the headroom search found 0.80.

    Over seeds 0-299 of this configuration the ratio reached 1.26 (25 seeds above 1). It fails
    today; strict, so that the test says so once a derived Winograd term fixes it.
    """
    from conv2d.gate.case import ConvCase
    from conv2d.gate.laws import PROPERTIES
    from conv2d.gate.target import Target

    target = Target.load("conv2d.zoo.correct:winograd_f6x3")
    case = ConvCase(
        batch=1, in_channels=63, out_channels=32, height=2, width=2, kernel=(3, 3), stride=2, padding=1,
        input_layout="strided", weight_layout="channels_last", bias_layout="strided", values="dominant",
        dtype="float32", seed=39,
    )  # fmt: skip
    PROPERTIES["matches-reference"].check(target, case)
