"""Every correct implementation passes the whole default verdict, on this host and on a hostile one.

python scripts/correct_on_hosts.py                           # plain and hostile hosts, seeds 0 1 2
python scripts/correct_on_hosts.py --hosts hostile --seeds 0 --write-readme README.md

Each verdict is ``python -m conv2d verify TARGET --seed S`` in a child process (the hostile host:
``CONV2D_HOSTILE_HOST=1``, :mod:`conv2d.hostile`), for the core and every correct entry of the zoo
and of the hold-out zoo. Prints one line per implementation and host with the seeds that passed,
and the CPU it ran on; exits 1 if any verdict is not a pass.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _verify(target: str, kind: str, seed: int, host: str) -> tuple[str, str, int, str, float]:
    env = {k: v for k, v in os.environ.items() if k != "CONV2D_HOST_FACTS"}
    env["CONV2D_HOSTILE_HOST"] = "1" if host == "hostile" else ""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "conv2d", "verify", target, "--kind", kind, "--seed", str(seed)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    verdict = next(
        (line for line in done.stdout.splitlines() if line.startswith("verdict:")), done.stderr[-300:]
    )
    return target, host, seed, verdict, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", nargs="+", choices=("plain", "hostile"), default=["plain", "hostile"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("-j", type=int, default=2, help="verdicts at once")
    parser.add_argument("--write-readme", metavar="README")
    ns = parser.parse_args(argv)
    import torch

    from benchmarks.holdout.zoo import HOLDOUT
    from conv2d.gate.environment import cpu_model
    from conv2d.zoo import CORRECT

    targets = [(e.target, e.kind) for e in CORRECT] + [(e.target, e.kind) for e in HOLDOUT if e.correct]
    targets.insert(0, ("conv2d.functional:conv2d", "conv2d"))
    jobs = [(t, k, s, h) for t, k in targets for h in ns.hosts for s in ns.seeds]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(ns.j) as pool:
        results = list(pool.map(lambda job: _verify(*job), jobs))
    wall = time.perf_counter() - start
    lines = ["| implementation | host | seeds passed | slowest verdict |", "|---|---|---|---|"]
    failures = []
    for target, _ in targets:
        for host in ns.hosts:
            mine = [r for r in results if r[0] == target and r[1] == host]
            passed = [str(r[2]) for r in mine if r[3].startswith("verdict: PASS")]
            failures += [
                f"{target} on the {host} host, seed {r[2]}: {r[3]}"
                for r in mine
                if r[2] not in map(int, passed)
            ]
            lines.append(
                f"| `{target}` | {host} | {', '.join(passed) or 'none'} | {max(r[4] for r in mine):.0f} s |"
            )
    lines += ["", *[f"- NOT PASSED: {f}" for f in failures]]
    lines.append(
        f"{len(results) - len(failures)} of {len(results)} verdicts pass. Printed by `python scripts/correct_on_hosts.py "
        f"--hosts {' '.join(ns.hosts)} --seeds {' '.join(map(str, ns.seeds))}` in {wall:.0f} s ({ns.j} at once), "
        f"torch {torch.__version__}, CPU: {cpu_model()}."
    )
    text = "\n".join(lines)
    print(text)
    if ns.write_readme:
        from benchmarks._readme import replace_block

        replace_block(Path(ns.write_readme), "hosts", text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
