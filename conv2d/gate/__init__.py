"""The verification gate: cases, properties, tolerances, and the engine behind both front doors.

Public surface:

* :func:`declare` / :class:`Capabilities` — what a target claims to support;
* :class:`ConvCase`, :func:`conv_cases`, :func:`corr2d_cases`, :func:`conv_transpose_cases` — problems
  and their strategies;
* :data:`PROPERTIES` — the catalogue of laws, each usable on its own;
* :class:`Target`, :func:`run_property`, :func:`run_suite` — running the catalogue.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conv2d.gate.capabilities import Capabilities, capabilities_of, declare
    from conv2d.gate.case import Args, ConvCase
    from conv2d.gate.engine import PROFILES, Failure, GateProfile, PropertyResult, run_property
    from conv2d.gate.laws import PROPERTIES, Property
    from conv2d.gate.strategies import conv_cases, conv_transpose_cases, corr2d_cases
    from conv2d.gate.suite import SuiteReport, run_suite
    from conv2d.gate.target import LoadError, Target, Unsupported, Violation

#: Where each public name lives; resolved on first use, so that importing one light module of the
#: gate (the host-bug registry, in every process the hostile host starts) does not import them all.
# Lazy names, the same mechanism as conv2d's own __init__: importing the gate stays free until a name is used.
_HOMES = {
    "Capabilities": "capabilities",
    "capabilities_of": "capabilities",
    "declare": "capabilities",
    "Args": "case",
    "ConvCase": "case",
    "PROFILES": "engine",
    "Failure": "engine",
    "GateProfile": "engine",
    "PropertyResult": "engine",
    "run_property": "engine",
    "PROPERTIES": "laws",
    "Property": "laws",
    "conv_cases": "strategies",
    "corr2d_cases": "strategies",
    "conv_transpose_cases": "strategies",
    "SuiteReport": "suite",
    "run_suite": "suite",
    "LoadError": "target",
    "Target": "target",
    "Unsupported": "target",
    "Violation": "target",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"conv2d.gate.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'conv2d.gate' has no attribute {name!r}")


__all__ = [
    "PROFILES",
    "PROPERTIES",
    "Args",
    "Capabilities",
    "ConvCase",
    "Failure",
    "GateProfile",
    "LoadError",
    "Property",
    "PropertyResult",
    "SuiteReport",
    "Target",
    "Unsupported",
    "Violation",
    "capabilities_of",
    "conv_cases",
    "conv_transpose_cases",
    "corr2d_cases",
    "declare",
    "run_property",
    "run_suite",
]
