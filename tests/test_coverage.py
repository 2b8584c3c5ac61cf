"""Coverage regions: the strategies reach every region they aim at, and unreached declarations are named."""

from __future__ import annotations

import json

import torch
from hypothesis import HealthCheck, given, settings

from conv2d.gate.capabilities import Capabilities
from conv2d.gate.case import ConvCase
from conv2d.gate.coverage import DIMENSIONS, Coverage, regions, unreached
from conv2d.gate.strategies import conv_cases


def _sampled(capabilities: Capabilities | None = None, examples: int = 300) -> Coverage:
    coverage = Coverage()

    @settings(
        max_examples=examples,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(conv_cases(capabilities))
    def draw(case: ConvCase) -> None:
        coverage.add(case)

    draw()
    return coverage


def test_strategy_sample_covers_the_expected_regions() -> None:
    """A few hundred drawn cases reach every dtype, groups kind, parameter form, padding form, batch and bias region."""
    coverage = _sampled()
    for dim in ("dtype", "groups", "stride", "dilation", "padding", "bias", "kernel"):
        for region in DIMENSIONS[dim]:
            assert coverage.reached(dim, region), f"{dim}: {region} never reached\n{coverage.text()}"
    for region in ("unbatched", "1", "2-4", "5+"):
        assert coverage.reached("batch", region), coverage.text()
    for region in ("tiny", "small", "tile-edge"):
        assert coverage.reached("size", region), coverage.text()
    assert unreached(coverage, Capabilities()) == []


def test_regions_of_one_case() -> None:
    """A case is sorted into the region of each dimension by the form its parameters were passed in."""
    case = ConvCase(
        None, 4, 8, 9, 16, (3, 1), stride=(1, 2), padding="same", dilation=2, groups=4,
        bias=True, dtype="bfloat16", input_layout="transposed",
    )  # fmt: skip
    assert regions(case) == {
        "kind": "conv2d",
        "dtype": "bfloat16",
        "input layout": "transposed",
        "weight layout": "contiguous",
        "groups": "depthwise",
        "stride": "pair",
        "dilation": "int",
        "padding": "same",
        "kernel": "rectangular",
        "batch": "unbatched",
        "size": "tile-edge",
        "bias": "yes",
    }
    assert regions(ConvCase(300, 1, 1, 16, 16, (1, 1)))["size"] == "large"
    assert regions(ConvCase(7, 2, 2, 2, 2, (1, 1), groups=2))["batch"] == "5+"


def test_declared_but_unreached_dtype_is_named() -> None:
    """A search restricted to float32 leaves the declared float64, float16 and bfloat16 unreached, by name."""
    coverage = _sampled(Capabilities(dtypes=(torch.float32,)), examples=60)
    assert not [
        m for m in unreached(coverage, Capabilities(dtypes=(torch.float32,))) if m.startswith("dtype")
    ]
    missing = unreached(coverage, Capabilities())
    assert {"dtype: float64", "dtype: float16", "dtype: bfloat16"} <= set(missing)
    assert "dtype: float32" not in missing


def test_undeclared_configurations_are_not_asked_for() -> None:
    """A target declaring no groups, stride, bias or unbatched input is not told those were unreached."""
    coverage = Coverage()
    coverage.add(ConvCase(1, 1, 1, 5, 5, (3, 3)))
    caps = Capabilities(
        dtypes=(torch.float32,), layouts=("contiguous",), padding=(), groups=False, stride=False,
        dilation=False, unbatched=False, bias=False,
    )  # fmt: skip
    assert unreached(coverage, caps) == []
    assert "groups: grouped" in unreached(coverage, Capabilities())


def test_transposed_views_count_as_strided_layouts() -> None:
    """A transposed input view reaches the declared 'strided' layout."""
    coverage = Coverage()
    coverage.add(ConvCase(1, 1, 1, 5, 5, (3, 3), input_layout="transposed"))
    assert "layout: strided" not in unreached(coverage, Capabilities())
    assert "layout: offset" in unreached(coverage, Capabilities())


def test_merge_json_and_tables() -> None:
    """Merging adds counts; the JSON form round-trips; the tables show every dimension with counts."""
    a, b = Coverage(), Coverage()
    a.add(ConvCase(1, 1, 1, 5, 5, (3, 3), dtype="float64"))
    b.add(ConvCase(2, 2, 2, 5, 5, (3, 3), groups=2, bias=True))
    both = a.merge(b)
    assert both.cases == 2 and both.counts["dtype"]["float64"] == 1 and both.counts["dtype"]["float32"] == 1
    again = Coverage.from_json(json.loads(json.dumps(both.to_json())))
    assert again.to_json() == both.to_json()
    text = both.text()
    assert text.startswith("coverage of 2 cases") and all(dim in text for dim in DIMENSIONS)
    assert "| groups | plain 1  grouped 0  depthwise 1 |" in both.markdown()
