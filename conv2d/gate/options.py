"""The options of a verification run, in one table that both front doors render.

``python -m conv2d verify`` renders each :class:`Option` as an argparse argument
(``--kind``), the pytest plugin as a pytest option (``--conv-kind``). An option
carries what both doors share (type, default, choices, metavar, action) and, per
door, a :class:`Door`: its help and the settings only that door passes. An
option without a door for the command line or for the plugin is not offered
there.

This module imports nothing heavy: the pytest plugin reads it in every pytest
session. Settings that come from the engine (the profiles, the default time
limit) are :class:`Deferred` and computed when the command line renders them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from conv2d.gate.choices import DEVICE_CHOICES, KINDS

__all__ = ["CLI_OPTIONS", "OPTIONS", "PLUGIN_OPTIONS", "Deferred", "Door", "Option"]


@dataclasses.dataclass(frozen=True)
class Deferred:
    """A setting computed when the option is rendered, from a module too heavy to import for the table."""

    compute: Callable[[], Any]


@dataclasses.dataclass(frozen=True)
class Door:
    """How one front door offers an option.

    Attributes:
        help: the help text (or a :class:`Deferred` one).
        flags: the option strings; empty: ``--NAME`` (the plugin: ``--conv-NAME``).
        settings: keyword settings this door alone passes (``dest``, ``nargs``, a default).
        drop: shared settings this door does not pass (the plugin's profile takes any name).
    """

    help: str | Deferred
    flags: tuple[str, ...] = ()
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    drop: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a verification run, as the command line (``cli``) and the pytest plugin (``plugin``) offer it."""

    name: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple[str, ...] | Deferred | None = None
    metavar: str | None = None
    action: str | None = None
    cli: Door | None = None
    plugin: Door | None = None

    def render(self, door: str) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The option strings and keyword settings of this option at ``door`` (``"cli"`` or ``"plugin"``)."""
        spelling: Door | None = getattr(self, door)
        if spelling is None:
            raise ValueError(f"the option {self.name!r} is not offered by the {door} door")
        prefix = "--conv-" if door == "plugin" else "--"
        flags = spelling.flags or (f"{prefix}{self.name}",)
        shared = {
            "type": self.type,
            "default": self.default,
            "choices": self.choices,
            "metavar": self.metavar,
            "action": self.action,
        }
        settings = {k: v for k, v in shared.items() if v is not None and k not in spelling.drop}
        settings.update(spelling.settings, help=spelling.help)
        return flags, {k: v.compute() if isinstance(v, Deferred) else v for k, v in settings.items()}


def _profile_names() -> list[str]:
    from conv2d.gate.engine import PROFILES

    return sorted(PROFILES)


def _profile_help() -> str:
    from conv2d.gate.engine import PROFILES

    return "search effort: " + "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values())


def _default_timeout() -> float:
    from conv2d.gate.target import DEFAULT_TIMEOUT

    return DEFAULT_TIMEOUT


def _timeout_help() -> str:
    return (
        "time one call of the target may take before it is reported as a timeout "
        f"(default {_default_timeout():g})"
    )


_KNOWN_LINE = "'property[device]  # reason' per line"

# One Option per entry, alike by design: each is the one place its option is defined, for both doors.
#: Every option of a verification run, in the order the command line lists them.
OPTIONS: tuple[Option, ...] = (
    Option(
        "target",
        cli=Door(
            "'package.module:function' (default: the built-in core of the kind: conv2d.functional:conv2d, "
            ":corr2d or conv2d.family:conv_transpose2d)",
            flags=("target",),
            settings={"nargs": "?"},
        ),
        plugin=Door(
            "verify TARGET ('package.module:function'; 'builtin' for the core) with the conv2d gate",
            flags=("--conv-impl",),
            settings={"metavar": "TARGET"},
        ),
    ),
    Option(
        "kind",
        choices=KINDS,
        default="conv2d",
        cli=Door(
            "conv2d: F.conv2d's signature (default); corr2d: corr2d(X, K) on 2-D tensors; "
            "conv_transpose2d: F.conv_transpose2d's signature"
        ),
        plugin=Door("signature of the target: F.conv2d's (default), corr2d(X, K) or F.conv_transpose2d's"),
    ),
    Option(
        "device",
        choices=DEVICE_CHOICES,
        default="cpu",
        cli=Door("where to run the cases (all: cpu and, when present, cuda)"),
        plugin=Door("devices to check on (cuda items skip without a CUDA device)"),
    ),
    Option(
        "profile",
        default="default",
        choices=Deferred(_profile_names),
        cli=Door(Deferred(_profile_help)),
        plugin=Door("gate profile: quick, default or thorough", drop=frozenset({"choices"})),
    ),
    Option(
        "seed",
        type=int,
        default=0,
        cli=Door("seed of the search (default 0); same seed, same verdict"),
        plugin=Door("seed of the search (default 0)"),
    ),
    Option(
        "property",
        action="append",
        metavar="NAME",
        cli=Door("check only this property (repeatable); see --list", settings={"dest": "properties"}),
        plugin=Door("check only this property (repeatable)"),
    ),
    Option("fail-fast", action="store_true", cli=Door("stop at the first failing property")),
    Option("json", metavar="FILE", cli=Door("write the machine-readable report to FILE")),
    Option(
        "markdown", metavar="FILE", cli=Door("write a Markdown summary to FILE (e.g. $GITHUB_STEP_SUMMARY)")
    ),
    Option(
        "xfails-file",
        metavar="FILE",
        cli=Door(f"known failures, one {_KNOWN_LINE}"),
        plugin=Door(f"known failures: one {_KNOWN_LINE}"),
    ),
    Option(
        "skips-file",
        metavar="FILE",
        cli=Door(f"properties not to run, one {_KNOWN_LINE}"),
        plugin=Door(f"properties not to run: one {_KNOWN_LINE}"),
    ),
    Option(
        "timeout",
        type=float,
        cli=Door(
            Deferred(_timeout_help), settings={"default": Deferred(_default_timeout), "metavar": "SECONDS"}
        ),
        plugin=Door("seconds a single call may take (default 30)"),
    ),
    Option(
        "accept-incomplete",
        action="store_true",
        cli=Door("let a property stopped by its time guard (status incomplete) pass the run"),
    ),
    Option(
        "in-process",
        action="store_true",
        cli=Door(
            "run the target in this process instead of crash-isolating worker processes (faster to debug; "
            "a crash of the target then ends the gate too)"
        ),
    ),
    Option(
        "workers",
        type=int,
        default=1,
        metavar="WORKERS",
        cli=Door("processes to spread the properties over (default 1)", flags=("-n", "--workers")),
    ),
    Option("quiet", action="store_true", cli=Door("no progress lines on stderr", flags=("-q", "--quiet"))),
    Option("list", action="store_true", cli=Door("list the properties and exit")),
    Option(
        "coverage",
        action="store_true",
        cli=Door(
            "print which regions of the problem space (dtypes, layouts, groups, strides, sizes...) the cases reached"
        ),
    ),
    Option(
        "hostile-host",
        action="store_true",
        plugin=Door(
            "make this session a hostile host: torch's F.conv2d and matrix products swapped for emulations "
            "of other CPUs' and GPUs' faults (conv2d.hostile; the same as CONV2D_HOSTILE_HOST=1)",
            flags=("--hostile-host",),
        ),
    ),
)

_BY_NAME = {option.name: option for option in OPTIONS}

#: The command line's options, in the order its help lists them.
CLI_OPTIONS: tuple[Option, ...] = tuple(option for option in OPTIONS if option.cli is not None)

#: The pytest plugin's options, in the order its help lists them.
PLUGIN_OPTIONS: tuple[Option, ...] = tuple(
    _BY_NAME[name]
    for name in (
        "target",
        "kind",
        "device",
        "profile",
        "seed",
        "timeout",
        "property",
        "xfails-file",
        "skips-file",
        "hostile-host",
    )
)

_UNMATCHED = [option.name for option in OPTIONS if (option.plugin is not None) != (option in PLUGIN_OPTIONS)]
if _UNMATCHED:
    raise RuntimeError(f"PLUGIN_OPTIONS and the options with a plugin door disagree on {_UNMATCHED}")
