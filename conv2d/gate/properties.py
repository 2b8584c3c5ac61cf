"""Compatibility names for the catalogue of laws, which lives in :mod:`conv2d.gate.laws`.

Every name here is re-exported: the laws' registry (every public name of
:mod:`conv2d.gate.laws.registry`, the notes among them), :func:`target_grads` and
:func:`signature_differences` from :mod:`conv2d.gate.laws`, and :func:`may_flush` and
:func:`record_ratios` from :mod:`conv2d.gate.judge`.
"""

from __future__ import annotations

from conv2d.gate.judge import may_flush, record_ratios
from conv2d.gate.laws import registry, signature_differences, target_grads
from conv2d.gate.laws.registry import *  # noqa: F403  (the registry's public names, as it lists them)

__all__ = [*registry.__all__, "may_flush", "record_ratios", "signature_differences", "target_grads"]
