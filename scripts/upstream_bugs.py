"""Probe this host's torch for the registered bugs and behaviours, and print (or write) the README's section.

python scripts/upstream_bugs.py                          # print each entry's status on this host
python scripts/upstream_bugs.py --write-readme README.md # refresh the README's block "upstream"

Every probe runs in a child process (``conv2d.gate.upstream``), and the gate runs the host's
F.conv2d in its crash-isolated workers: a bug that crashes torch ends in a status, not in a
dead script. For each bug this host has, the script also looks for the first seed whose
default search fails the bug's law with a failure labelled as that bug.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _first_seed(name: str, law: str, seeds: int, op: str = "conv2d") -> int | None:
    """The first seed whose verdict on the host's F.conv2d (or ``op``) fails ``law`` with a failure labelled ``name``."""
    from conv2d.gate import Target, run_suite

    for seed in range(seeds):
        report = run_suite(Target.load(f"torch.nn.functional:{op}", kind=op), only=[law], seed=seed)
        if any(r.failure is not None and name in r.failure.known for r in report.failed):
            return seed
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", metavar="README")
    parser.add_argument("--seeds", type=int, default=5, help="seeds to try for a bug this host has")
    ns = parser.parse_args(argv)
    import torch

    from conv2d.gate.environment import cpu_model
    from conv2d.gate.upstream import BUGS, facts

    here = facts()
    lines = []
    for bug in BUGS:
        status = here[bug.name]
        if status == "present" and bug.kind == "bug":
            found = _first_seed(bug.name, bug.law, ns.seeds, bug.op)
            status += (
                f", and `--seed {found}` finds it, labelled as this bug (the first of seeds 0-{ns.seeds - 1} that does)"
                if found is not None
                else f", but none of seeds 0-{ns.seeds - 1} draws a case in its region"
            )
        lines += [
            f"**{bug.summary}** (`{bug.name}`, a {bug.kind}). Found on {bug.found}.",
            "",
            "```python",
            bug.reproducer,
            "```",
            "",
            f"Region: {bug.region}. Caught by `{bug.command}` where a case falls in its region; on the "
            f"machine that wrote this section: **{status}**.",
            "",
        ]
    lines.append(
        f"Probed by `python scripts/upstream_bugs.py` with torch {torch.__version__}, CPU: {cpu_model()}."
    )
    text = "\n".join(lines)
    print(text)
    if ns.write_readme:
        from benchmarks._readme import replace_block

        replace_block(Path(ns.write_readme), "upstream", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
