"""The gate on real libraries' convolutions: one verdict per library, one column per property.

``python benchmarks/libraries.py`` makes a separate environment (``.conformance/venv``,
the project plus the libraries pinned in ``benchmarks/library_requirements.txt``), then
runs the full default verdict of the gate on every adapter of
``benchmarks/library_adapters.py``, each in its own process with a wall-clock limit
(``--limit``, 300 s by default; a verdict not reached by then is reported as such).
It prints a Markdown table, one row per library and one column per property, and the
first line of every failure; ``--write-readme README.md`` rewrites the README's
``libraries`` block with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._readme import replace_block  # noqa: E402
from benchmarks.library_adapters import ADAPTERS  # noqa: E402
from conv2d.gate.recheck import FRESH_HOLDS_SHORT  # noqa: E402

VENV = ROOT / ".conformance" / "venv"
REQUIREMENTS = ROOT / "benchmarks" / "library_requirements.txt"
#: The distributions whose versions the table names.
DISTRIBUTIONS = (
    "torch",
    "jax",
    "jaxlib",
    "onnxruntime",
    "opencv-python-headless",
    "scipy",
    "tinygrad",
    "numpy",
)
#: Programs a library needs on the machine (tinygrad's CPU device compiles its kernels with clang).
NEEDS = {"tinygrad": "clang"}
CELL = {
    "holds": "✓",
    "fails": "**✗**",
    "crashed": "crash",
    "timeout": "time-out",
    "unsupported": "–",
    "skipped": "–",
    "not run": "not run",
    "not verified": "–",
    "incomplete": "incomplete",
    "error": "error",
}


def _python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> None:
    """Create the separate environment with the project and the pinned libraries, once."""
    if not _python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(_python()), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    subprocess.run([*pip, "-e", str(ROOT), "-r", str(REQUIREMENTS)], check=True)


def versions() -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json\n"
        f"names = {list(DISTRIBUTIONS)!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([str(_python()), "-c", code], capture_output=True, text=True, check=True)
    found: dict[str, str] = json.loads(done.stdout)
    return found


def verdict(target: str, kind: str, seed: int, limit: float) -> tuple[dict[str, Any] | None, float, str]:
    """The gate's JSON report on ``target`` (None when it gave none within ``limit``), its seconds, and why not."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.json"
        cmd = [str(_python()), "-m", "conv2d", "verify", target, "--kind", kind, "--seed", str(seed)]
        cmd += ["--json", str(out), "-q"]
        start = time.perf_counter()
        process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, err = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return None, time.perf_counter() - start, f"no verdict within {limit:g} s"
        seconds = time.perf_counter() - start
        if not out.exists():
            return (
                None,
                seconds,
                f"exit {process.returncode}: {err.strip().splitlines()[-1] if err.strip() else ''}",
            )
        report: dict[str, Any] = json.loads(out.read_text())
        return report, seconds, ""


def table(rows: list[tuple[str, str, dict[str, Any] | None, float, str]], names: list[str]) -> str:
    head = "| library | verified | verdict | " + " | ".join(f"`{n}`" for n in names) + " |"
    lines = [head, "|" + "---|" * (len(names) + 3)]
    for library, what, report, seconds, why in rows:
        if report is None:
            cells = ["" for _ in names]
            summary = why
        else:
            status = {r["property"]: r["status"] for r in report["results"]}
            cells = [CELL.get(status[n], status[n]) if n in status else "n/a" for n in names]
            failing = sum(1 for s in status.values() if s in ("fails", "crashed", "timeout", "error"))
            summary = f"{'passes' if not failing else f'{failing} fail'} ({seconds:.0f} s)"
        lines.append(f"| {library} | `{what}` | {summary} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failures(rows: list[tuple[str, str, dict[str, Any] | None, float, str]]) -> list[str]:
    """The first line of every failing property's message, by library; properties that fail with the
    same line share it."""
    out = []
    for library, _, report, _, why in rows:
        if report is None:
            out.append(f"- **{library}**: {why}")
            continue
        by_line: dict[tuple[str, str], list[str]] = {}
        for r in report["results"]:
            if r["status"] in ("fails", "crashed", "timeout", "error"):
                message = ((r.get("failure") or {}).get("message") or r.get("note") or "").strip()
                first = message.splitlines()[0][:700] if message else ""
                if FRESH_HOLDS_SHORT in (r.get("note") or ""):  # its recheck in a fresh worker held
                    first += f" ({FRESH_HOLDS_SHORT})"
                by_line.setdefault((r["status"], first), []).append(f"`{r['property']}`")
        for (status, first), names in by_line.items():
            out.append(f"- **{library}**, {', '.join(names)} ({status}): {first}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=float, default=300.0, help="seconds a verdict may take")
    parser.add_argument("--only", nargs="*", help="these libraries (the table's names)")
    parser.add_argument("--write-readme", type=Path, metavar="README")
    args = parser.parse_args(argv)
    ensure_venv()
    found = versions()
    rows = []
    for library, (target, kind, what) in ADAPTERS.items():
        if args.only and library not in args.only:
            continue
        needed = NEEDS.get(library)
        if needed and shutil.which(needed) is None:
            rows.append((library, what, None, 0.0, f"not run: it needs `{needed}`, which this machine lacks"))
            continue
        report, seconds, why = verdict(target, kind, args.seed, args.limit)
        print(f"{library}: {why or 'verdict'} in {seconds:.0f} s", file=sys.stderr, flush=True)
        rows.append((library, what, report, seconds, why))
    names: list[str] = []
    for _, _, report, _, _ in rows:
        for r in report["results"] if report else []:
            if r["property"] not in names:
                names.append(r["property"])
    cpu = _cpu()
    text = "\n".join(
        [
            table(rows, names),
            "",
            "✓ holds, **✗** fails, – unsupported (not declared, or not applicable), n/a: not a law of the "
            "row's kind (corr2d, conv1d, conv_transpose2d...), crash: the library's process died.",
            "",
            *failures(rows),
            "",
            f"Printed by `python benchmarks/libraries.py` (seed {args.seed}, default profile, "
            f"{args.limit:g} s per verdict), "
            + ", ".join(f"{k} {v}" for k, v in sorted(found.items()))
            + f"; CPU: {cpu}.",
        ]
    )
    print(text)
    if args.write_readme:
        replace_block(args.write_readme, "libraries", text)
    return 0


def _cpu() -> str:
    try:
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
