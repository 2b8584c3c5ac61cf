"""The price of crash isolation: the full default verdict on a target, in-process vs in worker processes.

Both runs use the same code, profile and seed; the only difference is
``isolate=False`` (every call in the gate's own process, as before isolation)
against ``isolate=True`` (each property in a spawned worker process). They are
interleaved and repeated, and the medians compared.

    python benchmarks/isolation.py                              # F.conv2d, 3 repeats
    python benchmarks/isolation.py --write-readme README.md     # refresh the README's line
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _verdict(spec: str, isolate: bool) -> tuple[float, str]:
    from conv2d.gate import Target, run_suite

    start = time.perf_counter()
    report = run_suite(Target.load(spec), isolate=isolate)
    return time.perf_counter() - start, "pass" if not report.failed else "fail"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="torch.nn.functional:conv2d")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-readme", metavar="README")
    ns = parser.parse_args(argv)
    import torch

    from conv2d.gate.environment import cpu_model

    torch.set_num_threads(1)
    times: dict[bool, list[float]] = {False: [], True: []}
    verdicts = set()
    for _ in range(ns.repeats):
        for isolate in (False, True):
            seconds, verdict = _verdict(ns.target, isolate)
            times[isolate].append(seconds)
            verdicts.add(verdict)
            print(f"  isolate={isolate!s:5s} {seconds:6.1f} s {verdict}", file=sys.stderr, flush=True)
    inproc, isolated = statistics.median(times[False]), statistics.median(times[True])
    text = (
        f"Full default verdict on `{ns.target}`: {inproc:.1f} s in-process, {isolated:.1f} s crash-isolated "
        f"(**{isolated / inproc:.2f}x**; median of {ns.repeats} interleaved runs each, same verdict: "
        f"{'/'.join(sorted(verdicts))}), measured by `python benchmarks/isolation.py` with torch "
        f"{torch.__version__}, CPU: {cpu_model()}."
    )
    print(text)
    if ns.write_readme:
        from benchmarks._readme import replace_block

        replace_block(Path(ns.write_readme), "isolation", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
