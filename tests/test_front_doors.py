"""Both front doors work as documented: ``python -m conv2d verify TARGET`` and the installed ``conv2d-verify TARGET``."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from conv2d.gate.cli import main, program_name, verify_main

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["conv2d.functional:conv2d", "--profile", "quick", "--property", "output-shape"]


def _usage(capsys: pytest.CaptureFixture[str], run) -> str:
    with pytest.raises(SystemExit) as done:
        run()
    assert done.value.code == 0
    return capsys.readouterr().out.splitlines()[0]


def test_console_script_takes_the_target_directly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under its own name the command takes TARGET without the word verify, and its usage names it."""
    monkeypatch.setattr(sys, "argv", ["/venv/bin/conv2d-verify"])
    usage = _usage(capsys, lambda: verify_main(["--help"]))
    assert usage.startswith("usage: conv2d-verify [-h]") and " verify " not in usage
    assert verify_main([*QUICK, "-q"]) == 0
    assert "verdict: PASS" in capsys.readouterr().out


def test_console_script_still_accepts_the_word_verify(capsys: pytest.CaptureFixture[str]) -> None:
    """A leading 'verify', as in the module's usage, is accepted by the console script too."""
    assert main(["verify", *QUICK, "-q"], prog="conv2d-verify") == 0
    assert "verdict: PASS" in capsys.readouterr().out


def test_module_door_keeps_its_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """As ``python -m conv2d`` the usage names the module and the verify subcommand; no command is a usage error."""
    usage = _usage(capsys, lambda: main(["--help"], prog="python -m conv2d"))
    assert usage.startswith("usage: python -m conv2d [-h] verify")
    assert main([], prog="python -m conv2d") == 2
    assert main(["verify", *QUICK, "-q"], prog="python -m conv2d") == 0


def test_program_name_is_taken_from_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """The program is named as invoked: the script's basename, or 'python -m conv2d' when run as a module."""
    monkeypatch.setattr(sys, "argv", ["/somewhere/bin/conv2d-verify", "x"])
    assert program_name() == "conv2d-verify"
    monkeypatch.setattr(sys, "argv", ["/work/conv2d/__main__.py"])
    assert program_name() == "python -m conv2d"
    assert program_name(default="conv2d-verify") == "conv2d-verify"


def test_python_dash_m_conv2d() -> None:
    """``python -m conv2d verify TARGET`` runs in a fresh interpreter and gives a verdict; its usage names it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "conv2d", "verify", *QUICK, "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "verdict: PASS" in done.stdout
    helped = subprocess.run(
        [sys.executable, "-m", "conv2d", "--help"], capture_output=True, text=True, env=env
    )
    assert helped.stdout.startswith("usage: python -m conv2d")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the project's wheel installed (offline), and torch from this one.

    The wheel is built from a copy of the package, so the checkout gets no build
    output; the new environment sees this environment's site-packages (torch,
    hypothesis) through a ``.pth`` line, after its own.
    """
    base = tmp_path_factory.mktemp("front-doors")
    source = base / "src"
    source.mkdir()
    shutil.copytree(ROOT / "conv2d", source / "conv2d", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    quiet = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    pip = [sys.executable, "-m", "pip"]
    offline = ["--no-index", "--no-deps", "-q"]
    subprocess.run(
        [*pip, "wheel", *offline, "--no-build-isolation", "-w", str(base / "wheels"), str(source)],
        check=True, env=quiet, timeout=300,
    )  # fmt: skip
    env = base / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    packages = next(env.glob("lib/python*/site-packages"))
    (packages / "parent.pth").write_text(site.getsitepackages()[0] + "\n")
    wheel = next((base / "wheels").glob("conv2d-*.whl"))
    subprocess.run(
        [*pip, "--python", str(env / "bin" / "python"), "install", *offline, str(wheel)],
        check=True, env=quiet, timeout=300,
    )  # fmt: skip
    return env


def _run_installed(env: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(env / "bin" / "conv2d-verify"), *args],
        capture_output=True, text=True, env=clean, cwd=env, timeout=300,
    )  # fmt: skip


def test_installed_console_script(installed: Path) -> None:
    """The wheel's ``conv2d-verify`` names itself in its usage and verifies ``conv2d-verify TARGET`` (exit 0)."""
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import conv2d; print(conv2d.__file__)"],
        capture_output=True, text=True, cwd=installed, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(installed)), "the installed wheel, not the checkout, must be imported"
    helped = _run_installed(installed, "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: conv2d-verify"), helped.stderr
    done = _run_installed(installed, *QUICK)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: PASS" in done.stdout and "output-shape" in done.stdout
