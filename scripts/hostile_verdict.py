"""Verify torch's own F.conv2d on a hostile host, and print (or write) the README's block of the verdict.

python scripts/hostile_verdict.py                            # seed 0, default profile
python scripts/hostile_verdict.py --seeds 0 1 2 --write-readme README.md

Each run is ``python -m conv2d verify torch.nn.functional:conv2d`` in a child process with
``CONV2D_HOSTILE_HOST=1`` (:mod:`conv2d.hostile`): the emulated faults are known by construction,
so every failure should be labelled with a registered entry. The block lists, per seed, each
failing property with the entries its failure is labelled with, the notes, the verdict line and
the time, with the CPU it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_FAILING = ("fails", "crashed", "timeout", "incomplete", "not verified", "not run", "error")


def _verdict(seed: int, profile: str) -> tuple[dict, float, str]:
    env = {k: v for k, v in os.environ.items() if k != "CONV2D_HOST_FACTS"}
    env["CONV2D_HOSTILE_HOST"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "verdict.json"
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "conv2d",
                "verify",
                "torch.nn.functional:conv2d",
                "--seed",
                str(seed),
                "--profile",
                profile,
                "--json",
                str(path),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        seconds = time.perf_counter() - start
        verdict_line = next((line for line in done.stdout.splitlines() if line.startswith("verdict:")), "")
        return json.loads(path.read_text()), seconds, verdict_line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--write-readme", metavar="README")
    ns = parser.parse_args(argv)
    import torch

    from conv2d.gate.environment import cpu_model

    lines = ["| seed | labelled as | failing properties |", "|---|---|---|"]
    summary = []
    unlabelled = 0
    notes: set[str] = set()
    for seed in ns.seeds:
        report, seconds, verdict_line = _verdict(seed, ns.profile)
        by_label: dict[str, list[str]] = {}
        for r in report["results"]:
            notes.update(n["text"] for n in r["notes"])
            if r["status"] not in _FAILING:
                continue
            known = (r["failure"] or {}).get("known") or []
            unlabelled += not known
            label = ", ".join(f"`{k}`" for k in known) or "**new (not labelled)**"
            by_label.setdefault(label, []).append(f"`{r['property']}` ({r['status']})")
        for label, members in by_label.items():
            lines.append(f"| {seed} | {label} | {len(members)}: {', '.join(members)} |")
        summary.append(f"- seed {seed}: {verdict_line.removeprefix('verdict: ')} — {seconds:.0f} s in all")
    lines += ["", *summary, ""]
    lines += [f"Notes (reported, not failed): {'; '.join(sorted(notes))}." if notes else "No notes.", ""]
    lines.append(
        f"{unlabelled} failing properties without a label. Printed by `python scripts/hostile_verdict.py "
        f"--seeds {' '.join(map(str, ns.seeds))}` (profile {ns.profile}), torch {torch.__version__}, "
        f"CPU: {cpu_model()}."
    )
    text = "\n".join(lines)
    print(text)
    if ns.write_readme:
        from benchmarks._readme import replace_block

        replace_block(Path(ns.write_readme), "hostile", text)
    return 0 if unlabelled == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
