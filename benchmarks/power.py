"""Measure the gate's power on a zoo: kill rate, time to kill, false alarms, verdict time.

For every buggy implementation in the zoo, the gate runs with the default
profile and ``--fail-fast`` (as a CI gate would) and we record whether it is
killed and how long that took (one bug at a time unless ``--kill-workers``
says otherwise, so the time is not inflated by the other runs). For every correct implementation, the whole
catalogue runs under several seeds and any failure is a false alarm. The same
zoo goes through the anchor — PyTorch's own conv2d OpInfo samples checked with
``torch.testing.assert_close`` defaults (``benchmarks/anchor.py``) — for
comparison.

    python benchmarks/power.py                          # the tuning zoo (conv2d.zoo)
    python benchmarks/power.py --zoo holdout            # the hold-out zoo (benchmarks/holdout)
    python benchmarks/power.py --write-readme README.md # refresh the README's table

The README's numbers come from this script; the block between
``<!-- power:start -->`` and ``<!-- power:end -->`` (``holdout`` for the
hold-out zoo) is rewritten by ``--write-readme``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _entries(zoo: str) -> list[Any]:
    if zoo == "holdout":
        from benchmarks.holdout.spatial import SPATIAL_HOLDOUT
        from benchmarks.holdout.transposed import TRANSPOSED_HOLDOUT
        from benchmarks.holdout.zoo import HOLDOUT

        return list(HOLDOUT) + list(TRANSPOSED_HOLDOUT) + list(SPATIAL_HOLDOUT)
    from conv2d.zoo import CORRECT, MUTANTS

    return list(MUTANTS) + list(CORRECT)


def _job(target: str, kind: str, correct: bool, seed: int, anchor: bool) -> dict[str, Any]:
    """Run one entry through the gate (and, once per entry, the anchor) in a fresh process."""
    import torch

    torch.set_num_threads(1)
    from conv2d.gate import Target, run_suite

    gate_target = Target.load(target, kind=kind)  # type: ignore[arg-type]
    start = time.perf_counter()
    report = run_suite(gate_target, profile="default", seed=seed, fail_fast=not correct)
    seconds = time.perf_counter() - start
    failing = [r for r in report.failed]
    row: dict[str, Any] = {
        "target": target,
        "kind": kind,
        "correct": correct,
        "seed": seed,
        "gate_failed": bool(failing),
        "gate_seconds": round(seconds, 2),
        "gate_property": failing[0].property if failing else "",
        "gate_message": failing[0].failure.message[:200]
        if failing and failing[0].failure
        else (failing[0].note[:200] if failing else ""),
    }
    if anchor:
        from benchmarks.anchor import anchor_verdict

        verdict = anchor_verdict(gate_target.fn, kind=kind)
        row.update(
            anchor_failed=verdict.killed,
            anchor_seconds=round(verdict.seconds, 3),
            anchor_first=verdict.first_failure[:120],
        )
    return row


def _table(rows: list[dict[str, Any]], seeds: list[int]) -> str:
    bugs = [r for r in rows if not r["correct"]]
    good = [r for r in rows if r["correct"]]
    killed = [r for r in bugs if r["gate_failed"]]
    times = [r["gate_seconds"] for r in killed]
    alarms = [r for r in good if r["gate_failed"]]
    anchor_bugs = [r for r in bugs if "anchor_failed" in r]
    anchor_killed = [r for r in anchor_bugs if r["anchor_failed"]]
    anchor_good = [r for r in good if "anchor_failed" in r]
    anchor_alarms = [r for r in anchor_good if r["anchor_failed"]]
    anchor_times = [r["anchor_seconds"] for r in anchor_killed]
    correct_names = sorted({r["target"] for r in good})
    verdict_times = [
        r["gate_seconds"]
        for r in good
        if r["target"].rpartition(":")[2] in ("core", "core_corr2d", "core_conv_transpose2d")
    ]
    pct = lambda a, b: f"{len(a)}/{len(b)} ({100 * len(a) / max(1, len(b)):.0f}%)"  # noqa: E731
    med = lambda xs: f"{statistics.median(xs):.1f} s / {max(xs):.1f} s" if xs else "-"  # noqa: E731
    lines = [
        "| measure | conv2d gate (default profile) | anchor: OpInfo samples + `assert_close` |",
        "|---|---|---|",
        f"| buggy implementations killed | **{pct(killed, bugs)}** | {pct(anchor_killed, anchor_bugs)} |",
        f"| time to kill, median / max | {med(times)} | {med(anchor_times)} |",
        f"| false alarms on correct implementations | **{len(alarms)} of {len(good)} runs** ({len(correct_names)} implementations x seeds {','.join(map(str, seeds))}) | {len(anchor_alarms)} of {len(anchor_good)} implementations |",
        f"| full verdict of a correct implementation (all properties), median / max | "
        f"{med([r['gate_seconds'] for r in good])} | - |",
        *(
            [f"| full verdict on the core (all properties) | {med(verdict_times)} | - |"]
            if verdict_times
            else []
        ),
        "",
        "| implementation | kind | correct | gate | killed by | gate s | anchor |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["correct"] and r["seed"] != seeds[0]:
            continue
        if r["correct"]:
            runs = [x for x in good if x["target"] == r["target"]]
            gate = "false alarm" if any(x["gate_failed"] for x in runs) else f"passes ({len(runs)} seeds)"
            secs = statistics.median(x["gate_seconds"] for x in runs)
        else:
            gate = "killed" if r["gate_failed"] else "**survived**"
            secs = r["gate_seconds"]
        anchor = "-" if "anchor_failed" not in r else ("rejects" if r["anchor_failed"] else "passes")
        name = r["target"].split(":")[1]
        lines.append(
            f"| `{name}` | {r['kind']} | {'yes' if r['correct'] else 'no'} | {gate} | {r['gate_property']} | {secs:.1f} | {anchor} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", choices=("tuning", "holdout"), default="tuning")
    parser.add_argument(
        "--seeds", default="0,1,2", help="seeds for the correct implementations (default 0,1,2)"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes for the correct implementations"
    )
    parser.add_argument(
        "--kill-workers", type=int, default=1, help="processes timing the bugs (default 1: one at a time)"
    )
    parser.add_argument("--no-anchor", action="store_true", help="skip the anchor comparison")
    parser.add_argument("--only", nargs="*", help="only these entry names")
    parser.add_argument(
        "--kind",
        help="only the entries of this kind, in their own README block (e.g. power-conv_transpose2d); "
        "default: conv2d and corr2d",
    )
    parser.add_argument("--json", metavar="FILE", help="write the raw rows as JSON")
    parser.add_argument("--write-readme", metavar="README", help="rewrite the table in README")
    ns = parser.parse_args(argv)
    seeds = [int(s) for s in ns.seeds.split(",")]
    entries = [e for e in _entries(ns.zoo) if not ns.only or e.name in ns.only]
    # by default the conv2d and corr2d kinds; each other kind has its own table (--kind conv_transpose2d)
    entries = [
        e for e in entries if e.kind == ns.kind or (ns.kind is None and e.kind in ("conv2d", "corr2d"))
    ]
    jobs = []
    for e in entries:
        for i, seed in enumerate(seeds if e.correct else seeds[:1]):
            jobs.append((e.target, e.kind, e.correct, seed, not ns.no_anchor and i == 0))
    # the correct implementations (each runs the whole catalogue) share the pool; the bugs are
    # then timed one at a time, so a time to kill is what a user waits on an otherwise idle machine
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    rows: list[dict[str, Any]] = []
    phases = [([j for j in jobs if j[2]], ns.workers), ([j for j in jobs if not j[2]], ns.kill_workers)]
    for phase, workers in phases:
        if not phase:
            continue
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(_job, *job): job for job in phase}
            for future in concurrent.futures.as_completed(futures):
                row = future.result()
                rows.append(row)
                status = "FAILED" if row["gate_failed"] else "passed"
                print(
                    f"  {row['target']:55s} seed {row['seed']} {status:6s} {row['gate_seconds']:6.1f} s {row['gate_property']}",
                    file=sys.stderr,
                    flush=True,
                )
    order = {e.target: i for i, e in enumerate(entries)}
    rows.sort(key=lambda r: (order[r["target"]], r["seed"]))
    import torch

    from conv2d.gate.environment import cpu_model

    table = _table(rows, seeds)
    footer = (
        f"\nMeasured by `python benchmarks/power.py{' --zoo holdout' if ns.zoo == 'holdout' else ''}"
        f"{f' --kind {ns.kind}' if ns.kind else ''}` "
        f"in {time.perf_counter() - start:.0f} s on {os.cpu_count()} cores: the correct implementations in "
        f"{ns.workers} processes, the bugs {'one at a time' if ns.kill_workers == 1 else f'in {ns.kill_workers} processes'}; "
        f"every verdict crash-isolated (its own worker process, torch imported there); "
        f"torch {torch.__version__}, CPU: {cpu_model()}."
    )
    print(table + footer)
    if ns.json:
        Path(ns.json).write_text(json.dumps(rows, indent=2) + "\n")
    if ns.write_readme:
        from benchmarks._readme import replace_block

        block = ("power" if ns.zoo == "tuning" else "holdout") + (f"-{ns.kind}" if ns.kind else "")
        replace_block(Path(ns.write_readme), block, table + footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
