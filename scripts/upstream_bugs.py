"""Probe this host's torch for the upstream bugs the gate found, and print (or write) the README's section.

python scripts/upstream_bugs.py                          # print the status of each bug here
python scripts/upstream_bugs.py --write-readme README.md # refresh the README's block "upstream"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", metavar="README")
    parser.add_argument("--seeds", type=int, default=10, help="seeds to try for a bug this host has")
    ns = parser.parse_args(argv)
    import torch

    from conv2d.gate import PROPERTIES, Target, run_property
    from conv2d.gate.environment import cpu_model
    from conv2d.gate.upstream import BUGS, present

    lines = []
    for bug in BUGS:
        here = "present" if present(bug.name) else "absent"
        if here == "present":
            target = Target.load("torch.nn.functional:conv2d")
            found = next(
                (
                    seed
                    for seed in range(ns.seeds)
                    if (r := run_property(PROPERTIES[bug.law], target, seed_value=seed)).failure is not None
                    and bug.affects(r.failure.case)
                ),
                None,
            )
            here += (
                f", and `--seed {found}` finds it (the first of seeds 0-{ns.seeds - 1} that does)"
                if found is not None
                else f", but none of seeds 0-{ns.seeds - 1} draws a case in its region"
            )
        lines += [
            f"**{bug.summary}** (`{bug.name}`). Found on {bug.found}.",
            "",
            "```python",
            bug.reproducer,
            "```",
            "",
            f"Caught by `{bug.command}` where a case falls in its region; on the machine that wrote this section: **{here}**.",
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
