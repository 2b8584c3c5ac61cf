"""Compatibility names for the catalogue of laws, which lives in :mod:`conv2d.gate.laws`.

Every name here is re-exported from :mod:`conv2d.gate.laws` (the laws' registry, the
notes, :func:`target_grads`, :func:`signature_differences`) or from
:mod:`conv2d.gate.judge` (:func:`may_flush`, :func:`record_ratios`).
"""

from __future__ import annotations

from conv2d.gate.judge import may_flush, record_ratios
from conv2d.gate.laws import (
    PROPERTIES,
    Check,
    Note,
    Property,
    Stage,
    applicable,
    collect_notes,
    law,
    notice,
    signature_differences,
    target_grads,
)

__all__ = [
    "PROPERTIES",
    "Check",
    "Note",
    "Property",
    "Stage",
    "applicable",
    "collect_notes",
    "law",
    "may_flush",
    "notice",
    "record_ratios",
    "signature_differences",
    "target_grads",
]
