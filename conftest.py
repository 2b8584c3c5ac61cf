"""Test-suite configuration: Hypothesis profiles for our own tests, and a torch warm-up.

Profiles are registered here and loaded explicitly. With ``CI`` set,
Hypothesis would otherwise pick its built-in ``ci`` profile on its own;
we load ``conv2d-ci`` instead (derandomised, no deadline, no database), which
keeps the same guarantees with settings chosen for this suite.
``--hypothesis-profile NAME`` (or ``CONV2D_TEST_PROFILE``) overrides the choice.

The gate's own searches (``python -m conv2d verify``, ``pytest --conv-impl``)
do not use these profiles: they build their settings from the gate profile.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "conv2d-dev",
    max_examples=30,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "conv2d-ci",
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "conv2d-thorough",
    max_examples=1000,
    deadline=None,
    phases=tuple(Phase),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(
    os.environ.get("CONV2D_TEST_PROFILE") or ("conv2d-ci" if os.environ.get("CI") else "conv2d-dev")
)


@pytest.fixture(scope="session", autouse=True)
def _warm_torch() -> None:
    """Pay torch's first-call costs (dispatcher, assert_close) once, outside any deadline."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2))
    torch.testing.assert_close(torch.ones(1), torch.ones(1))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that runs on CUDA with ``cuda``, so that ``pytest -m cuda`` selects exactly those.

    A test runs on CUDA when one of its parameters is the device ``"cuda"`` (however it is
    spelled in the parametrisation) or when it lives in ``tests/test_cuda.py``.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        on_cuda = any(str(v) == "cuda" or getattr(v, "type", None) == "cuda" for v in params)
        if on_cuda or item.path.name == "test_cuda.py":
            item.add_marker(pytest.mark.cuda)
