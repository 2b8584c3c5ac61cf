"""pytest plugin: ``pytest --conv-impl package.module:function -n auto`` runs the gate's catalogue.

Registered through the ``pytest11`` entry point, so it is loaded in every pytest
session where conv2d is installed; it therefore imports nothing heavy until
``--conv-impl`` is given. Each property on each device becomes one test item
that runs the same search, with the same profile and seed, as
``python -m conv2d verify``, so both reach the same verdict. Known failures follow
the same policy as the CLI (:class:`conv2d.gate.known.KnownPolicy`).

Crash isolation: the items run in the pytest process; run them with
``pytest-xdist`` (``-n auto``), whose crash handling reports a worker that a
target killed ("worker 'gw0' crashed while running ...") and carries on with a
fresh worker. ``python -m conv2d verify`` isolates each property itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

_TARGET_CACHE: dict[tuple[str, str, float], Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    from conv2d.gate.options import PLUGIN_OPTIONS

    group = parser.getgroup("conv2d", "conv2d property verification")
    for option in PLUGIN_OPTIONS:
        flags, settings = option.render("plugin")
        group.addoption(*flags, **settings)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--hostile-host"):
        import os

        from conv2d import hostile

        os.environ[hostile.ENVIRONMENT_VARIABLE] = "1"  # inherited by every process the session starts
        hostile.install()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    spec = config.getoption("--conv-impl")
    if not spec:
        return None
    from conv2d.gate.environment import environment

    env = environment()
    return [
        f"conv2d gate: target {spec} ({config.getoption('--conv-kind')}), profile "
        f"{config.getoption('--conv-profile')}, seed {config.getoption('--conv-seed')}",
        f"conv2d gate: torch {env['torch']}, CPU {env['cpu']}, GPU {env['gpu'] or 'none'}, TF32 {env['tf32']}",
    ]


def _target(config: pytest.Config) -> Any:
    from conv2d.gate.target import DEFAULT_TIMEOUT, Target

    spec = config.getoption("--conv-impl")
    key = (spec, config.getoption("--conv-kind"), config.getoption("--conv-timeout") or DEFAULT_TIMEOUT)
    if key not in _TARGET_CACHE:
        _TARGET_CACHE[key] = Target.load(None if spec == "builtin" else spec, kind=key[1], timeout=key[2])
    return _TARGET_CACHE[key]


class ConvPropertyFailure(Exception):
    """A property of the catalogue does not hold; the message is the gate's failure report."""


class ConvPropertyItem(pytest.Item):
    """One property of the catalogue on one device."""

    def __init__(self, *, prop: str, device: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prop = prop
        self.device = device

    def runtest(self) -> None:
        from conv2d.gate.engine import run_property
        from conv2d.gate.known import KnownPolicy
        from conv2d.gate.laws import PROPERTIES

        config = self.config
        known = KnownPolicy(config.getoption("--conv-xfails-file"), config.getoption("--conv-skips-file"))
        skip = known.skip(self.prop, self.device)
        if skip is not None:
            pytest.skip(f"{skip.source}: {skip.reason}")
        target = _target(config)
        result = run_property(
            PROPERTIES[self.prop],
            target,
            device=self.device,
            profile=config.getoption("--conv-profile"),
            seed_value=config.getoption("--conv-seed"),
        )
        warnings: list[str] = []
        result = known.settle(result, warnings)
        if result.status in ("unsupported", "skipped"):
            pytest.skip(f"{result.status}: {result.note}")
        if result.status == "xfail":
            pytest.xfail(result.note)
        if result.status == "xpass":
            raise ConvPropertyFailure(warnings[0] if warnings else result.note)
        if result.failure is not None:
            failure = result.failure
            raise ConvPropertyFailure(
                f"{self.prop} {result.status} on {self.device}: {result.law}\n"
                f"case: {failure.case.describe()}\n{failure.message}\n"
                f"reproduce:\n{failure.repro}\n" + (f"Hypothesis: {failure.blob}\n" if failure.blob else "")
            )
        if result.status != "holds":
            raise ConvPropertyFailure(f"{self.prop} on {self.device}: {result.status}: {result.note}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConvPropertyFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, None, str]:
        return ("conv2d-gate", None, f"{self.prop}[{self.device}]")


class ConvSuite(pytest.Collector):
    """The catalogue for the target named by ``--conv-impl``."""

    def collect(self) -> Iterator[pytest.Item]:
        from conv2d.gate.engine import properties_for
        from conv2d.gate.vocabulary import expand_devices

        config = self.config
        devices = expand_devices(config.getoption("--conv-device"))
        for prop in properties_for(config.getoption("--conv-kind"), config.getoption("--conv-property")):
            for dev in devices:
                yield ConvPropertyItem.from_parent(
                    self, name=f"{prop.name}[{dev}]", prop=prop.name, device=dev
                )


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("--conv-impl"):
        return
    suite = ConvSuite.from_parent(session, name=f"conv2d-gate[{config.getoption('--conv-impl')}]")
    items.extend(suite.collect())
