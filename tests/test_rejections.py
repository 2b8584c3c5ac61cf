"""conv2d.gate.rejections: the calls it returns are exactly ones F.conv2d rejects."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from conv2d.gate.case import Args, ConvCase
from conv2d.gate.rejections import candidates, rejected_calls, rejects

CASES = [
    ConvCase(batch=2, in_channels=4, out_channels=6, height=7, width=5, kernel=(3, 2), groups=2, bias=True),
    ConvCase(batch=None, in_channels=3, out_channels=3, height=5, width=5, kernel=(3, 3), padding="same", dtype="float64"),
    ConvCase(
        batch=1, in_channels=1, out_channels=2, height=4, width=9, kernel=(1, 3),
        stride=(2, 1), padding=(1, 0), dilation=(1, 2),
    ),
    ConvCase(batch=3, in_channels=6, out_channels=6, height=12, width=12, kernel=(5, 5), groups=6, padding="valid", bias=True),
]  # fmt: skip
#: Kinds of invalid call every case has, by the start of their description (the commonest mistakes).
COMMON_KINDS = (
    "an input with",
    "a weight of rank 3",
    "a weight of dtype",
    "negative padding",
    "stride 0",
    "a kernel larger than the padded input",
)
_CHILD = """
import json, sys, torch
for q in json.loads(sys.stdin.read()):
    t = [None if s is None else torch.zeros(*s, dtype=getattr(torch, d)) for s, d in zip(q["shapes"], q["dtypes"])]
    try:
        torch.nn.functional.conv2d(*t, *q["params"])
    except Exception:
        print("rejected")
    else:
        print("accepted")
"""


def _dtypes(args: Args) -> set[torch.dtype]:
    return {t.dtype for t in (args.input, args.weight, args.bias) if t is not None}


def _rejected_in_float64(args: Args) -> bool:
    as64 = [None if t is None else t.to(torch.float64) for t in (args.input, args.weight, args.bias)]
    try:
        F.conv2d(*as64, *args.params().values())  # type: ignore[arg-type,call-overload]
    except Exception:
        return True
    return False


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.describe()[:60])
def test_every_returned_call_of_one_dtype_is_rejected_by_f_conv2d(case: ConvCase) -> None:
    args = case.materialize()
    assert not _rejected_in_float64(args), "the case itself is valid"
    bad = rejected_calls(args)
    assert len(bad) >= 25
    wrongly = [what for what, call in bad if len(_dtypes(call)) == 1 and not _rejected_in_float64(call)]
    assert not wrongly


def test_mixed_dtype_calls_returned_are_rejected_in_a_child_process() -> None:
    """The tests may not run a non-float64 convolution here: a child interpreter checks the mixtures."""
    questions = []
    for case in CASES:
        for _, call in rejected_calls(case.materialize()):
            if len(_dtypes(call)) > 1:
                tensors = (call.input, call.weight, call.bias)
                questions.append(
                    {
                        "shapes": [None if t is None else list(t.shape) for t in tensors],
                        "dtypes": [
                            None if t is None else str(t.dtype).removeprefix("torch.") for t in tensors
                        ],
                        "params": list(call.params().values()),
                    }
                )
    assert questions
    answers = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(questions),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert answers == ["rejected"] * len(questions)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.describe()[:60])
def test_the_common_kinds_are_found_on_every_case(case: ConvCase) -> None:
    found = [what for what, _ in rejected_calls(case.materialize())]
    for kind in COMMON_KINDS:
        assert any(what.startswith(kind) for what in found), kind
    cin, cout, g = case.in_channels, case.out_channels, case.groups
    if cin % (g + 1) or cout % (g + 1):
        assert f"groups={g + 1}, which does not divide the channels" in found


def test_calls_torch_accepts_are_left_out() -> None:
    unbatched = CASES[1].materialize()
    offered = dict(candidates(unbatched))
    assert "an input of rank 4" in offered  # a batch of one: valid
    assert not rejects(offered["an input of rank 4"])
    assert "an input of rank 4" not in dict(rejected_calls(unbatched))


def test_the_descriptions_name_the_parameters() -> None:
    found = dict(rejected_calls(CASES[0].materialize()))
    assert found["negative padding"].padding == -1
    assert found["stride 0"].stride == 0
    assert found["dilation 0"].dilation == 0
    assert found["groups=0"].groups == 0
    assert found["padding='same' with stride 2"].padding == "same"
    assert found["a bias of length 7 for 6 output channels"].bias.shape == (7,)  # type: ignore[union-attr]
