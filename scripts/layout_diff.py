"""Diff the gate's JSON reports before and after a change that must not change behaviour.

``python scripts/layout_diff.py record DIR`` runs the full default verdict on the
core and on five zoo entries (seeds 0 and 1 by default) and writes one JSON report
per run under DIR. ``python scripts/layout_diff.py diff OLD NEW`` compares two such
folders and prints every difference; it exits 1 when there is one.

Fields that measure time (``seconds``) and the environment block (which names the
host and the versions) are dropped before comparing; everything else (statuses,
case counts, failures, cases, messages, repros, coverage, notes) must be identical.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

TARGETS = (
    "conv2d.functional:conv2d",
    "conv2d.zoo.correct:fft",
    "conv2d.zoo.mutants:same_even_kernel_wrong_side",
    "conv2d.zoo.mutants:group_weight_slice",
    "conv2d.zoo.mutants:grad_input_ignores_dilation",
    "conv2d.zoo.mutants:weight_flipped_in_place",
)
VOLATILE = {"seconds", "environment"}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _name(target: str, seed: int) -> str:
    return f"{target.replace(':', '.')}.seed{seed}.json"


def record(folder: Path, seeds: list[int], targets: list[str]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for target in targets:
        for seed in seeds:
            out = folder / _name(target, seed)
            cmd = [sys.executable, "-m", "conv2d", "verify", target, "--seed", str(seed), "--json", str(out)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            print(f"{target} seed {seed}: exit {done.returncode}", flush=True)
            if done.returncode == 2:
                print(done.stderr[-2000:], file=sys.stderr)
                return 2
    return 0


def _walk(a: Any, b: Any, where: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{where}.{key}: only in {'new' if key not in a else 'old'}")
            else:
                _walk(a[key], b[key], f"{where}.{key}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{where}[{i}]", out)
    elif a != b:
        out.append(f"{where}: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}")


def diff(old: Path, new: Path) -> int:
    names = sorted({p.name for p in old.glob("*.json")} | {p.name for p in new.glob("*.json")})
    differences: list[str] = []
    for name in names:
        if not (old / name).exists() or not (new / name).exists():
            differences.append(f"{name}: missing in {'old' if not (old / name).exists() else 'new'}")
            continue
        a = _strip(json.loads((old / name).read_text()))
        b = _strip(json.loads((new / name).read_text()))
        _walk(a, b, name, differences)
    for line in differences:
        print(line)
    print(f"{len(names)} reports compared, {len(differences)} differences")
    return 1 if differences else 0


def tree(commit: str, folder: Path, patch: Path | None) -> int:
    """Check ``commit`` out into ``folder`` as a git worktree and apply ``patch`` there."""
    root = Path(__file__).resolve().parent.parent
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(folder), commit], check=True)
    if patch is not None:
        subprocess.run(["git", "-C", str(folder), "apply", str(patch.resolve())], check=True)
    print(f"{folder}: {commit}{f' with {patch}' if patch else ''}; run record from inside it")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run the verdicts and write the JSON reports")
    rec.add_argument("folder", type=Path)
    rec.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    rec.add_argument("--targets", nargs="+", default=list(TARGETS))
    wt = sub.add_parser("tree", help="check a commit out into a folder, with a patch applied")
    wt.add_argument("commit")
    wt.add_argument("folder", type=Path)
    wt.add_argument("--patch", type=Path)
    cmp = sub.add_parser("diff", help="compare two folders of reports")
    cmp.add_argument("old", type=Path)
    cmp.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        return record(args.folder, args.seeds, args.targets)
    if args.command == "tree":
        return tree(args.commit, args.folder, args.patch)
    return diff(args.old, args.new)


if __name__ == "__main__":
    sys.exit(main())
