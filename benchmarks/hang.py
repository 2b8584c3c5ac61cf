"""The price of a hang: a target that spins forever on every strided case, verified through the command line.

``conv2d.zoo.misbehaving:spins_on_strides`` runs ``while True: pass`` whenever a stride
is above 1 and returns F.conv2d's result otherwise, so every property that draws a
strided case hangs and the others hold. The script runs ``python -m conv2d verify
TARGET --timeout 10`` as a user would (a subprocess, timed from start to exit) and
prints the wall time, the count of each status, how many causes the time-outs were
reported under, the CPU and torch's version: one line for the README.

    python benchmarks/hang.py                               # the default target, --timeout 10
    python benchmarks/hang.py --write-readme README.md      # refresh the README's line
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _verify(target: str, timeout: float) -> tuple[float, int, dict]:
    """Run the gate on ``target`` in a subprocess: its wall time, exit code and JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "conv2d", "verify", target, "--timeout", f"{timeout:g}"]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, "-q", "--json", str(report)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if not report.is_file():
            raise SystemExit(f"{' '.join(command)} wrote no report (exit {done.returncode}):\n{done.stderr}")
        return seconds, done.returncode, json.loads(report.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="conv2d.zoo.misbehaving:spins_on_strides")
    parser.add_argument("--timeout", type=float, default=10.0, help="the --timeout given to verify")
    parser.add_argument("--write-readme", metavar="README")
    ns = parser.parse_args(argv)
    import torch

    from conv2d.gate.environment import cpu_model

    seconds, code, report = _verify(ns.target, ns.timeout)
    results = report["results"]
    counts = collections.Counter(r["status"] for r in results)
    statuses = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    causes = {r["failure"]["cause"] for r in results if r["status"] == "timeout" and r["failure"]}
    strided = sum(
        1
        for r in results
        if r["status"] == "timeout" and r["failure"] and "stride=" in r["failure"]["case_code"]
    )
    text = (
        f"A target that hangs on every strided case (`{ns.target}`), `verify --timeout {ns.timeout:g}`: "
        f"verdict in **{seconds:.1f} s** (exit {code}; {len(results)} properties: {statuses}; the time-outs "
        f"under {len(causes)} cause{'s' if len(causes) != 1 else ''}, {strided} of them on a strided case), "
        f"measured by `python benchmarks/hang.py` with torch {torch.__version__}, CPU: {cpu_model()}."
    )
    print(text)
    if ns.write_readme:
        from benchmarks._readme import replace_block

        replace_block(Path(ns.write_readme), "hang", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
