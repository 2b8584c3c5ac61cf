"""How many zoo bugs the diagnosis catalogue names, on each bug's witness input.

python scripts/diagnosis_rate.py                          # print the rate and the misses
python scripts/diagnosis_rate.py --write-readme README.md # refresh the README's block "diagnosis"
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
    ns = parser.parse_args(argv)
    import torch

    from conv2d.gate.diagnosis import hit_rate
    from conv2d.gate.environment import cpu_model

    hits, total, missed = hit_rate()
    lines = [
        f"**{hits} of {total}** zoo bugs whose class the catalogue has are named by it ({hits / total:.0%}); "
        f"not named: {', '.join(f'`{m}`' for m in missed) or 'none'}.",
        f"Measured by `python scripts/diagnosis_rate.py`, torch {torch.__version__}, CPU: {cpu_model()}.",
    ]
    text = "\n".join(lines)
    print(text)
    if ns.write_readme:
        from benchmarks._readme import replace_block

        replace_block(Path(ns.write_readme), "diagnosis", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
