"""The catalogue's registry: the run order, the applicability of laws, and the compatibility module."""

from __future__ import annotations

import dataclasses

import pytest

from conv2d.gate import Capabilities
from conv2d.gate import properties as compat
from conv2d.gate.engine import properties_for
from conv2d.gate.laws import PROPERTIES, Stage, applicable, law, signature_differences, target_grads
from conv2d.gate.vocabulary import LARGE_ELEMENTS

#: The run and report order (a fail-fast run stops at the first failing law): written out
#: here, so that a change to any law's stage or order shows as a change to this list.
ORDER = (
    "output-shape",
    "matches-reference",
    "gradients",
    "tap-accumulation",
    "empty-batch",
    "invalid-input",
    "calling-conventions",
    "invalid-transposed-input",
    "special-values",
    "overflow-to-inf",
    "subnormals-kept",
    "dynamic-range",
    "no-side-effects",
    "gradient-subsets",
    "double-backward",
    "large-input",
    "input-immutability",
    "no-aliasing",
    "output-layout",
    "linearity-input",
    "linearity-weight",
    "flipped-kernel",
    "bias-superposition",
    "groups-concat",
    "batch-independence",
    "padding-forms",
    "stride-subsampling",
    "dilation-zero-insert",
    "delta-identity",
    "shift-equivariance",
    "adjoint",
    "layout-invariance",
    "conv2d-adjoint",
    "stride-zero-insert",
    "padding-crop",
    "determinism",
    "concurrency",
    "device-parity",
)


def test_catalogue_runs_in_the_recorded_order() -> None:
    assert tuple(PROPERTIES) == ORDER


def test_order_is_by_stage_then_order_within_it() -> None:
    keys = [(p.stage, p.order) for p in PROPERTIES.values()]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert {p.stage for p in PROPERTIES.values()} == set(Stage)


def test_every_law_states_itself_in_one_sentence() -> None:
    for prop in PROPERTIES.values():
        assert prop.law, prop.name
        assert prop.check.__module__.startswith("conv2d.gate.laws."), prop.name


def test_registering_a_name_or_a_place_twice_is_refused() -> None:
    def check(target: object, case: object) -> None:
        """A law that is never registered."""

    with pytest.raises(ValueError, match="registered twice"):
        law("output-shape", stage=Stage.RUNTIME, order=999)(check)
    with pytest.raises(ValueError, match="share stage REFERENCE, order 10"):
        law("not-a-law", stage=Stage.REFERENCE, order=10)(check)
    assert tuple(PROPERTIES) == ORDER


def test_applicable_filters_by_kind_and_keeps_the_catalogue_order() -> None:
    corr = applicable("corr2d")
    assert [p.name for p in corr] == [n for n in ORDER if "corr2d" in PROPERTIES[n].kinds]
    assert "groups-concat" not in {p.name for p in corr}
    chosen = applicable("conv2d", ["flipped-kernel", "matches-reference"])
    assert [p.name for p in chosen] == ["matches-reference", "flipped-kernel"]
    assert [p.name for p in applicable("corr2d", ["groups-concat"])] == []
    with pytest.raises(ValueError, match="unknown property 'no-such-law'"):
        applicable("conv2d", ["no-such-law"])
    assert properties_for("conv2d", ["gradients"]) == applicable("conv2d", ["gradients"])


def test_unsupported_by_reads_the_declared_capabilities() -> None:
    caps = Capabilities(autograd=False)
    assert PROPERTIES["gradients"].unsupported_by(caps) == "declared autograd=False"
    assert PROPERTIES["matches-reference"].unsupported_by(caps) is None
    small = dataclasses.replace(caps, max_elements=LARGE_ELEMENTS - 1)
    assert PROPERTIES["large-input"].unsupported_by(small) == (
        f"declared max_elements={LARGE_ELEMENTS - 1}, below the 2**16 elements this law needs"
    )
    assert (
        PROPERTIES["large-input"].unsupported_by(dataclasses.replace(caps, max_elements=LARGE_ELEMENTS))
        is None
    )


def test_compatibility_module_names_the_same_objects() -> None:
    assert compat.PROPERTIES is PROPERTIES
    assert compat.Property is PROPERTIES["gradients"].__class__
    assert compat.target_grads is target_grads
    assert compat.signature_differences is signature_differences
