"""The gate's command line, behind two front doors that take the same options.

* ``python -m conv2d verify [TARGET] [options]``;
* ``conv2d-verify [TARGET] [options]``, the console script (a leading ``verify`` is accepted too).

Without TARGET both verify the built-in core. Usage lines name the program as
it was invoked.

Exit codes: 0 every property holds (unsupported, skipped and known failures
allowed), 1 some property fails, crashes, times out, is incomplete or not
verified, 2 a usage, loading or internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conv2d.gate.engine import PropertyResult
    from conv2d.gate.known import KnownList
    from conv2d.gate.target import Target

__all__ = ["MODULE_PROG", "main", "program_name", "verify_main"]

USAGE_ERROR = 2
#: The program name of the module front door.
MODULE_PROG = "python -m conv2d"
_DESCRIPTION = "Verify a 2-D convolution against torch.nn.functional.conv2d's contract."


def program_name(default: str = MODULE_PROG) -> str:
    """The program as it was invoked: the basename of ``sys.argv[0]``, or ``default`` when run as a module."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if invoked in ("", "-c", "-m", "__main__.py"):
        return default
    return invoked.removesuffix(".exe")


def _module_parser(prog: str) -> argparse.ArgumentParser:
    """``PROG verify [TARGET] [options]``."""
    parser = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="verify")
    verify = sub.add_parser(
        "verify",
        help="check every property of the catalogue on a target",
        description="Check every property of the catalogue on TARGET and print a conformance table.",
    )
    _add_verify_arguments(verify)
    return parser


def _verify_parser(prog: str) -> argparse.ArgumentParser:
    """``PROG [TARGET] [options]``: the console script's parser, without the subcommand."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"{_DESCRIPTION} Check every property of the catalogue on TARGET and print a conformance table.",
    )
    _add_verify_arguments(parser)
    return parser


def _add_verify_arguments(verify: argparse.ArgumentParser) -> None:
    from conv2d.gate.options import CLI_OPTIONS

    for option in CLI_OPTIONS:
        flags, settings = option.render("cli")
        verify.add_argument(*flags, **settings)


def _devices(choice: str) -> list[str] | str:
    """The devices ``--device choice`` runs on, or why it cannot run here."""
    from conv2d.gate.engine import cuda_available
    from conv2d.gate.vocabulary import expand_devices

    if choice == "cuda" and not cuda_available():
        return "--device cuda: torch sees no CUDA device here; use --device cpu or --device all"
    return expand_devices(choice)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the command line; returns the exit code.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
        prog: the program name for usage lines (default: as invoked, see :func:`program_name`).
            Named :data:`MODULE_PROG` it takes ``verify [TARGET] [options]``; under any other
            name (the ``conv2d-verify`` console script) ``[TARGET] [options]``, a leading
            ``verify`` being optional.
    """
    prog = prog or program_name()
    words = list(sys.argv[1:] if argv is None else argv)
    if prog == MODULE_PROG:
        parser = _module_parser(prog)
        ns = parser.parse_args(words)
        if ns.command != "verify":
            parser.print_help(sys.stderr)
            return USAGE_ERROR
    else:
        ns = _verify_parser(prog).parse_args(words[1:] if words[:1] == ["verify"] else words)
    return _verify(ns)


def verify_main(argv: Sequence[str] | None = None) -> int:
    """The ``conv2d-verify`` console script: ``conv2d-verify [TARGET] [options]``."""
    return main(argv, prog=program_name(default="conv2d-verify"))


def _verify(ns: argparse.Namespace) -> int:
    """Run ``verify`` with parsed options; returns the exit code."""
    from conv2d.gate.engine import properties_for
    from conv2d.gate.report import render_markdown, render_text, write_json
    from conv2d.gate.suite import run_suite

    if ns.list:
        for prop in properties_for(ns.kind):
            print(f"{prop.name:22s} {prop.law}")
        return 0
    loaded = _load(ns)
    if isinstance(loaded, str):
        print(f"error: {loaded}", file=sys.stderr)
        return USAGE_ERROR
    target, devices, xfails, skips = loaded
    if not ns.quiet:
        print(
            f"verifying {target.name} ({ns.kind}) with profile {ns.profile}, seed {ns.seed}", file=sys.stderr
        )
    report = run_suite(
        target,
        devices=devices,
        profile=ns.profile,
        seed=ns.seed,
        only=ns.properties,
        fail_fast=ns.fail_fast,
        xfails=xfails,
        skips=skips,
        workers=ns.workers,
        isolate=not ns.in_process,
        accept_incomplete=ns.accept_incomplete,
        on_result=None if ns.quiet else _progress,
    )
    print(render_text(report, coverage=ns.coverage))
    if ns.json:
        write_json(report, ns.json)
    if ns.markdown:
        with open(ns.markdown, "a", encoding="utf-8") as out:
            out.write(render_markdown(report))
    code = report.exit_code
    if target.hung:  # in-process only: a hung call still runs in a daemon thread; leave without waiting
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _load(ns: argparse.Namespace) -> tuple[Target, list[str], KnownList, KnownList] | str:
    """The target, devices and known-failures and skips lists the options name, or the usage error."""
    from conv2d.gate.engine import properties_for
    from conv2d.gate.known import load_known
    from conv2d.gate.target import LoadError, Target

    if ns.workers < 1:
        return f"-n/--workers={ns.workers}; use 1 or more"
    if ns.timeout <= 0:
        return f"--timeout={ns.timeout:g}; use a positive number of seconds"
    devices = _devices(ns.device)
    if isinstance(devices, str):
        return devices
    try:
        if ns.properties:
            properties_for(ns.kind, ns.properties)
        xfails = load_known(ns.xfails_file)
        skips = load_known(ns.skips_file)
        target = Target.load(ns.target, kind=ns.kind, timeout=ns.timeout)
    except (LoadError, ValueError, FileNotFoundError, TypeError) as exc:
        return str(exc)
    return target, devices, xfails, skips


def _progress(result: PropertyResult) -> None:
    """One progress line on stderr for a finished property."""
    r = result
    print(f"  {r.property:22s} {r.device:5s} {r.status:12s} {r.seconds:6.1f} s", file=sys.stderr)
