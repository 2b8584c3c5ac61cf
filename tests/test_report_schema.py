"""The ``--json`` report matches docs/report.schema.json, for a passing and a failing run."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from conv2d.gate.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "docs" / "report.schema.json"
if str(ROOT) not in sys.path:  # the examples package lives at the repository root
    sys.path.insert(0, str(ROOT))

FAST = ["--profile", "default", "--property", "matches-reference", "--property", "output-shape", "-q"]

# -- a validator for the part of JSON Schema 2020-12 the schema uses ---------------------------------

KNOWN_KEYWORDS = frozenset(
    {
        "$schema",
        "$defs",
        "$ref",
        "title",
        "description",
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minimum",
        "oneOf",
    }
)

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
}


def _keywords(schema: Any) -> set[str]:
    """Every keyword used anywhere in ``schema`` (property names and $defs names excluded)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    found |= _keywords(sub)
            elif key in ("items", "additionalProperties"):
                found |= _keywords(value)
            elif key == "oneOf":
                for sub in value:
                    found |= _keywords(sub)
    return found


def _errors(value: Any, schema: Any, root: dict[str, Any], path: str = "$") -> list[str]:
    """Where ``value`` violates ``schema``, as 'path: reason' lines (empty when it conforms)."""
    if schema is True:
        return []
    if schema is False:
        return [f"{path}: not allowed"]
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        return _errors(value, root["$defs"][ref.removeprefix("#/$defs/")], root, path)
    errors: list[str] = []
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_TYPES[t](value) for t in types):
            return [f"{path}: {value!r} is not of type {types}"]
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        errors.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and not any(value == e and type(value) is type(e) for e in schema["enum"]):
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "minimum" in schema and _TYPES["number"](value) and value < schema["minimum"]:
        errors.append(f"{path}: {value!r} is below {schema['minimum']}")
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not _errors(value, s, root, path)]
        if len(matching) != 1:
            errors.append(f"{path}: matches {len(matching)} of the oneOf alternatives, not exactly 1")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{path}: missing {name!r}" for name in schema.get("required", []) if name not in value]
        for key, item in value.items():
            if key in props:
                errors += _errors(item, props[key], root, f"{path}.{key}")
            elif "additionalProperties" in schema:
                errors += _errors(item, schema["additionalProperties"], root, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += _errors(item, schema["items"], root, f"{path}[{i}]")
    return errors


def validate(report: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Schema violations of ``report``: with the jsonschema package when installed, else with ``_errors``."""
    try:
        import jsonschema
    except ImportError:
        return _errors(report, schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(report)]


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def _report(
    tmp_path_factory: pytest.TempPathFactory, name: str, target: str, expected_code: int
) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("reports") / f"{name}.json"
    code = main(["verify", target, *FAST, "--json", str(path)])
    assert code == expected_code
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _report(tmp_path_factory, "passing", "conv2d.zoo.correct:im2col", 0)


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _report(tmp_path_factory, "failing", "examples.my_kernels:conv2d_im2col_fast", 1)


# -- tests ----------------------------------------------------------------------------------------------


def test_schema_uses_only_keywords_the_fallback_validator_checks(schema: dict[str, Any]) -> None:
    """The schema is draft 2020-12 and uses no keyword the fallback validator would silently ignore."""
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert _keywords(schema) <= KNOWN_KEYWORDS, sorted(_keywords(schema) - KNOWN_KEYWORDS)
    try:
        import jsonschema
    except ImportError:
        return
    jsonschema.Draft202012Validator.check_schema(schema)


def test_passing_report_matches_schema(passing: dict[str, Any], schema: dict[str, Any]) -> None:
    """A passing run's report (a correct im2col kernel) conforms to the schema."""
    assert validate(passing, schema) == []
    assert passing["verdict"] == "pass" and passing["exit_code"] == 0
    assert {r["status"] for r in passing["results"]} == {"holds"}
    assert all(r["failure"] is None for r in passing["results"])


def test_failing_report_matches_schema(failing: dict[str, Any], schema: dict[str, Any]) -> None:
    """A failing run's report (the buggy example), failure object included, conforms to the schema."""
    assert validate(failing, schema) == []
    assert failing["verdict"] == "fail" and failing["exit_code"] == 1
    failed = [r for r in failing["results"] if r["status"] == "fails"]
    assert [r["property"] for r in failed] == ["matches-reference"]
    assert failed[0]["failure"]["case_code"].startswith("ConvCase(")


def test_schema_rejects_a_malformed_report(failing: dict[str, Any], schema: dict[str, Any]) -> None:
    """The check has teeth: an unknown status, a missing field and an extra field are each reported."""
    bad = json.loads(json.dumps(failing))
    bad["results"][0]["status"] = "passed"
    del bad["environment"]["tf32"]["cudnn.allow_tf32"]
    bad["extra"] = 1
    errors = "\n".join(validate(bad, schema))
    assert "passed" in errors
    assert "cudnn.allow_tf32" in errors
    assert "extra" in errors
    assert _errors(bad, schema, schema)  # the fallback agrees, whichever validator ran above


def test_schema_names_every_kind(schema: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    """The schema's kinds are the front doors' kinds, and a conv3d failure's report matches it."""
    from conv2d.gate.choices import KINDS

    assert schema["properties"]["kind"]["enum"] == list(KINDS)
    path = tmp_path_factory.mktemp("reports") / "conv3d.json"
    target = "conv2d.zoo.spatial:depth_height_swapped_conv3d"
    assert main(["verify", target, "--kind", "conv3d", *FAST, "--json", str(path)]) == 1
    report = json.loads(path.read_text())
    assert report["kind"] == "conv3d" and validate(report, schema) == []
