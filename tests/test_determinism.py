"""A seeded search draws the same cases whatever else the process imported.

Hypothesis draws constants it harvests from the local modules in ``sys.modules``;
:mod:`conv2d.gate.determinism` switches that off around the gate's searches. The test
imports a local module full of literals (integers and floats of the ranges cases draw) into
one process and not the other, and compares the cases a seeded search checked. A third
process imports the module with the switch disabled, to show that the comparison would
see a harvest: without that, the test could not fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conv2d.gate.determinism import harvests_local_constants

_SCRIPT = """
import contextlib, json, sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] != "plain":
    import constants_galore  # noqa: F401  (a local module: Hypothesis harvests its literals)
from conv2d.gate import engine
from conv2d.gate.laws import PROPERTIES
from conv2d.gate.target import Target

if sys.argv[2] == "unswitched":
    engine.seeded_search = contextlib.nullcontext
cases = []
engine.run_property(
    PROPERTIES["matches-reference"], Target.load(None), seed_value=0, on_case=lambda c: cases.append(repr(c))
)
print(json.dumps(cases))
"""

#: Literals of the kinds Hypothesis harvests (it skips integers below 100): seeds, sizes, scales.
_CONSTANTS = (
    "SEEDS = [101, 137, 1009, 4099, 65521, 123457, 2**31 - 19]\nSCALES = [0.1234567, 1.7e-5, 3.5e3]\n"
)


def _cases(folder: Path, mode: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(folder), mode],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cases: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return cases


def test_cases_do_not_depend_on_the_local_modules_imported(tmp_path: Path) -> None:
    """The same seed checks the same cases with and without one more local module imported."""
    (tmp_path / "constants_galore.py").write_text(_CONSTANTS)
    plain = _cases(tmp_path, "plain")
    assert len(plain) >= 20
    assert _cases(tmp_path, "imported") == plain


@pytest.mark.skipif(not harvests_local_constants(), reason="this Hypothesis harvests no local constants")
def test_without_the_switch_the_import_changes_the_cases(tmp_path: Path) -> None:
    """The comparison above can fail: with the harvest on, the local modules' literals change the cases drawn."""
    (tmp_path / "constants_galore.py").write_text(_CONSTANTS)
    assert _cases(tmp_path, "unswitched") != _cases(tmp_path, "plain")
