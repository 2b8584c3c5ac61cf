"""Error maps show the pattern of the wrong elements: a tail, alternate rows, a border."""

from __future__ import annotations

import json

import pytest
import torch

from conv2d.gate.case import ConvCase
from conv2d.gate.errormap import error_map
from conv2d.gate.judge import transform_length as _transformed
from conv2d.gate.reference import reference
from conv2d.gate.tolerance import bound, precision_for
from conv2d.zoo import by_name


def _exact(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


ALLOWED = torch.tensor(1e-6, dtype=torch.float64)


def test_tail_bug_marks_the_last_column() -> None:
    """A mutant that drops the vector loop's tail (here the last W_out % 8 = 1 column) marks exactly that column."""
    case = ConvCase(2, 3, 4, 10, 11, (3, 3), bias=True, dtype="float64")
    args = case.materialize()
    out = by_name("tail_drop_w8").fn(args.input, args.weight, args.bias)
    exact = reference(args)
    allowed = bound(
        exact.value,
        exact.magnitude,
        reduction=case.reduction_length,
        precision=precision_for(torch.float64),
        transformed=_transformed(case),
        scale=exact.scale,
        unbiased=exact.unbiased,
    )
    emap = error_map(out, exact.value, allowed)
    assert emap.shape == (8, 9) and emap.block == (1, 1)
    assert emap.rows == ("........X",) * 8
    assert emap.violations == 8 and emap.total_violations == 64 and emap.planes == 8


def test_stride_bug_marks_alternate_rows() -> None:
    """Every other row wrong (a stride applied to half the rows) shows as alternating marked rows."""
    expected = _exact((1, 2, 6, 5))
    actual = expected.clone()
    actual[0, 1, 1::2] += 1
    emap = error_map(actual, expected, ALLOWED)
    assert emap.plane == (0, 1)
    assert emap.rows == (".....", "XXXXX") * 3


def test_border_bug_marks_the_border() -> None:
    """A padding bug (every border element wrong) marks the border and leaves the interior clean."""
    expected = _exact((7, 6))
    actual = expected.clone()
    actual[0, :] += 1
    actual[-1, :] += 1
    actual[:, 0] += 1
    actual[:, -1] += 1
    emap = error_map(actual, expected, ALLOWED)
    assert emap.plane == ()
    assert emap.rows == ("XXXXXX", *("X....X",) * 5, "XXXXXX")


def test_worst_plane_is_the_one_with_the_largest_ratio() -> None:
    """Of several wrong planes, the map shows the one holding the worst element."""
    expected = _exact((2, 3, 4, 4))
    actual = expected.clone()
    actual[0, 0, 0, 0] += 1
    actual[1, 2, 3, 3] += 5
    emap = error_map(actual, expected, ALLOWED)
    assert emap.plane == (1, 2)
    assert emap.marked[3][3] and sum(map(sum, emap.marked)) == 1
    assert emap.total_violations == 2


def test_big_planes_are_summarised_by_blocks() -> None:
    """A plane larger than the grid is drawn by blocks, and the block holding the wrong element is marked."""
    expected = _exact((100, 200))
    actual = expected.clone()
    actual[99, 0] += 1
    emap = error_map(actual, expected, ALLOWED, max_rows=32, max_cols=64)
    assert emap.block == (4, 4)
    assert len(emap.rows) == 25 and all(len(r) == 50 for r in emap.rows)
    assert emap.rows[-1][0] == "X" and sum(map(sum, emap.marked)) == 1


def test_not_finite_values_are_marked_apart() -> None:
    """A NaN where the exact value is finite is marked '!', not 'X'."""
    expected = _exact((2, 3))
    actual = expected.clone()
    actual[1, 2] = float("nan")
    actual[0, 0] += 1
    assert error_map(actual, expected, ALLOWED).rows == ("X..", "..!")


def test_text_markdown_and_json() -> None:
    """The text form has rulers and numbered rows, Markdown a code block, JSON plain data."""
    expected = _exact((12, 12))
    actual = expected.clone()
    actual[11, 11] += 1
    emap = error_map(actual, expected, ALLOWED)
    lines = emap.text().splitlines()
    assert lines[0].startswith("worst plane of 12 x 12: 1 of 144 elements past their bound")
    assert lines[2].strip() == "000000000011" and lines[3].strip() == "012345678901"
    assert lines[-1] == "11  ...........X"
    assert "```" in emap.markdown()
    data = json.loads(json.dumps(emap.as_json()))
    assert data["shape"] == [12, 12] and data["marked"][11][11] is True and data["violations"] == 1


def test_shapes_must_match() -> None:
    """A map of results of different shapes is refused, naming both shapes."""
    with pytest.raises(ValueError, match=r"actual.shape=\(2, 3\) but expected.shape=\(3, 2\)"):
        error_map(torch.zeros(2, 3), torch.zeros(3, 2, dtype=torch.float64), ALLOWED)
