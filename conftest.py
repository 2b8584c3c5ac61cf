"""Test-suite configuration: the host-kernel tripwire, Hypothesis profiles for our own tests, a torch warm-up.

The tripwire (``tests/_tripwire.py``) is installed when this file is imported and
stays on for the whole session: inside the pytest process torch's convolutions
raise ``HostKernelInTestProcess`` on any floating argument that is not float64,
and its matrix products on float16/bfloat16 arguments, because the host's
kernels may crash the process or compute wrongly. A test that trips it fails,
even when the code it ran swallowed the exception (the gate turns a target's
exceptions into verdicts). The gate's crash-isolating workers are spawned
interpreters that never import this file, so they run torch's own functions.

Profiles are registered here and loaded explicitly. With ``CI`` set,
Hypothesis would otherwise pick its built-in ``ci`` profile on its own;
we load ``conv2d-ci`` instead (derandomised, no deadline, no database), which
keeps the same guarantees with settings chosen for this suite.
``--hypothesis-profile NAME`` (or ``CONV2D_TEST_PROFILE``) overrides the choice.

The gate's own searches (``python -m conv2d verify``, ``pytest --conv-impl``)
do not use these profiles: they build their settings from the gate profile.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings


def _load_tripwire():
    """``tests/_tripwire.py`` as the module ``_tripwire`` (tests import it under that name too: one copy)."""
    if "_tripwire" in sys.modules:
        return sys.modules["_tripwire"]
    spec = importlib.util.spec_from_file_location(
        "_tripwire", Path(__file__).parent / "tests" / "_tripwire.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_tripwire"] = module
    spec.loader.exec_module(module)
    return module


_tripwire = _load_tripwire()
_tripwire.install()

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
    """Pay torch's first-call costs (dispatcher, assert_close) once, outside any deadline.

    The convolution is the gate's float64 reference: no host kernel runs in another dtype.
    """
    import torch

    from conv2d.gate.case import Args
    from conv2d.gate.reference import reference

    torch.set_num_threads(1)
    ones = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    reference(Args(ones, torch.ones(1, 1, 2, 2, dtype=torch.float64), None))
    torch.testing.assert_close(torch.ones(1), torch.ones(1))


def _tripped(trips: list[str]) -> Exception:
    more = f" (and {len(trips) - 1} more)" if len(trips) > 1 else ""
    return _tripwire.HostKernelInTestProcess(f"{trips[0]}{more}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _fail_on_trips())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _fail_on_trips())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _fail_on_trips())


def _fail_on_trips() -> Generator[None, object, object]:
    """Fail the phase that tripped the tripwire, even if the code under test caught the exception."""
    before = _tripwire.trip_count()
    try:
        result = yield
    except _tripwire.HostKernelInTestProcess:
        raise
    except BaseException as exc:
        trips = _tripwire.trips_since(before)
        if trips:
            raise _tripped(trips) from exc
        raise
    trips = _tripwire.trips_since(before)
    if trips:
        raise _tripped(trips)
    return result


def pytest_configure(config: pytest.Config) -> None:
    """A session of the gate's plugin (``pytest --conv-impl TARGET``) verifies a target, not our code: its
    items run the target, host kernels included, in the pytest process by design (isolate with ``-n``)."""
    if config.getoption("conv_impl", default=None):
        _tripwire.uninstall()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What this host's torch does (probed in child processes, once per host): data, never a test outcome."""
    from conv2d import hostile
    from conv2d.gate.environment import cpu_model
    from conv2d.gate.upstream import facts

    here = facts()  # probed before xdist starts its workers, which read the file it names
    seen = [name for name, status in here.items() if status == "present"]
    odd = [f"{name}: {status}" for name, status in here.items() if status not in ("present", "absent")]
    return [
        f"host: CPU {cpu_model()}; {'a HOSTILE host (conv2d.hostile)' if hostile.active() else 'the plain host'}",
        f"host facts, present: {', '.join(seen) or 'none'}"
        + (f"; no answer: {', '.join(odd)}" if odd else ""),
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    _tripwire.uninstall()


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
