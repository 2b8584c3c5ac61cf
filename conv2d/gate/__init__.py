"""The verification gate: cases, properties, tolerances, and the engine behind both front doors.

Public surface:

* :func:`declare` / :class:`Capabilities` — what a target claims to support;
* :class:`ConvCase`, :func:`conv_cases`, :func:`corr2d_cases` — problems and their strategies;
* :data:`PROPERTIES` — the catalogue of laws, each usable on its own;
* :class:`Target`, :func:`run_property`, :func:`run_suite` — running the catalogue.
"""

from conv2d.gate.capabilities import Capabilities, capabilities_of, declare
from conv2d.gate.case import Args, ConvCase
from conv2d.gate.engine import PROFILES, Failure, GateProfile, PropertyResult, run_property
from conv2d.gate.properties import PROPERTIES, Property
from conv2d.gate.strategies import conv_cases, corr2d_cases
from conv2d.gate.suite import SuiteReport, run_suite
from conv2d.gate.target import LoadError, Target, Unsupported, Violation

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
    "corr2d_cases",
    "declare",
    "run_property",
    "run_suite",
]
