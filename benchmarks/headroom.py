"""Adversarial headroom: how close can a search aimed at it push a correct implementation to its bound?

For every correct alternative in the zoo and every dtype, Hypothesis draws a
property that compares two results (the reference comparison, every
metamorphic law, gradients, the adjoint identity) and a case for it, runs the
check, and steers toward the largest error-to-bound ratio the check measured
(``hypothesis.target``, one label per property). A bound with the required
2x headroom keeps every ratio at or below 0.5, whatever the search tries.

    python benchmarks/headroom.py                          # the full search (300 cases per cell)
    python benchmarks/headroom.py --examples 40            # a shorter one
    python benchmarks/headroom.py --write-readme README.md # refresh the README's table

The README's numbers come from this script (block ``headroom``); a shorter
search with the same code runs in CI (``tests/test_headroom.py``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conv2d.gate.properties import Property

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The properties that judge a computed result against an exact or a second computed one, in the
#: order the search draws them (each must name a law of the registry: see :func:`comparing_laws`).
COMPARING = (
    "matches-reference",
    "linearity-input",
    "linearity-weight",
    "flipped-kernel",
    "bias-superposition",
    "groups-concat",
    "batch-independence",
    "padding-forms",
    "stride-subsampling",
    "dilation-zero-insert",
    "delta-identity",
    "shift-equivariance",
    "gradients",
    "adjoint",
    "layout-invariance",
    "subnormals-kept",
    "gradient-subsets",
    "double-backward",
    "concurrency",
    "calling-conventions",
    "conv2d-adjoint",
    "stride-zero-insert",
    "padding-crop",
    "tap-accumulation",
    "dynamic-range",
)
LIMIT = 0.5


def comparing_laws() -> list[Property]:
    """The registry's laws named in :data:`COMPARING`, in its order; a name the registry lacks is an error."""
    from conv2d.gate import PROPERTIES

    unknown = [name for name in COMPARING if name not in PROPERTIES]
    if unknown:
        raise ValueError(f"COMPARING names {unknown}, which the law registry does not hold")
    return [PROPERTIES[name] for name in COMPARING]


@dataclasses.dataclass(frozen=True)
class Worst:
    """The largest ratio a search reached for one implementation and dtype."""

    target: str
    dtype: str
    ratio: float
    property: str
    case: str
    examples: int


def search(target_spec: str, kind: str, dtype: str, *, examples: int, seed: int = 0) -> Worst:
    """Drive Hypothesis toward the largest error-to-bound ratio of ``target_spec`` in ``dtype``."""
    from hypothesis import HealthCheck, Phase, given, settings, target
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from conv2d.gate import Target, Unsupported, Violation
    from conv2d.gate.judge import record_ratios
    from conv2d.gate.strategies import cases_for

    gate_target = Target.load(target_spec, kind=kind)  # type: ignore[arg-type]
    gate_target.capabilities = dataclasses.replace(gate_target.capabilities, dtypes=(dtype,))
    caps = gate_target.capabilities
    props = [p for p in comparing_laws() if kind in p.kinds and p.unsupported_by(caps) is None]
    make = cases_for(kind)
    pairs = st.sampled_from(props).flatmap(lambda p: st.tuples(st.just(p), make(caps, require=p.require)))
    worst = {"ratio": 0.0, "property": "", "case": "", "n": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=(Phase.generate, Phase.target),
        suppress_health_check=list(HealthCheck),
    )
    @hseed(seed)
    @given(pair=pairs)
    def run(pair: Any) -> None:
        prop, case = pair
        with record_ratios() as ratios, contextlib.suppress(Violation, Unsupported):
            prop.check(gate_target, case)
        ratio = max(ratios, default=0.0)
        worst["n"] += 1
        target(min(ratio, 1e12), label=prop.name)  # a non-finite ratio (a false alarm) is still the worst
        if ratio > worst["ratio"]:
            worst.update(ratio=ratio, property=prop.name, case=case.to_code())

    run()
    return Worst(target_spec, dtype, worst["ratio"], worst["property"], worst["case"], worst["n"])


def _job(spec: str, kind: str, dtype: str, examples: int, seed: int) -> Worst:
    import torch

    torch.set_num_threads(1)
    return search(spec, kind, dtype, examples=examples, seed=seed)


def cells() -> list[tuple[str, str, str]]:
    """(target, kind, dtype) for every correct alternative and every dtype it supports."""
    from conv2d.gate.capabilities import capabilities_of
    from conv2d.gate.vocabulary import dtype_name
    from conv2d.zoo import CORRECT

    out = []
    for entry in CORRECT:
        for dtype in capabilities_of(entry.fn).dtypes:
            out.append((entry.target, entry.kind, dtype_name(dtype)))
    return out


def _table(rows: list[Worst], examples: int, seconds: float, workers: int, kind: str | None = None) -> str:
    import torch

    from conv2d.gate.report import cpu_model
    from conv2d.gate.vocabulary import DTYPES

    dtypes = list(DTYPES)
    names = list(dict.fromkeys(r.target for r in rows))
    by = {(r.target, r.dtype): r for r in rows}
    lines = [
        "| implementation | " + " | ".join(dtypes) + " | worst property |",
        "|---|" + "---|" * (len(dtypes) + 1),
    ]
    for name in names:
        cells_ = [by.get((name, d)) for d in dtypes]
        text = [("-" if c is None else f"{c.ratio:.3f}") for c in cells_]
        worst = max((c for c in cells_ if c is not None), key=lambda c: c.ratio)
        lines.append(f"| `{name.split(':')[1]}` | " + " | ".join(text) + f" | {worst.property} |")
    top = max(rows, key=lambda r: r.ratio)
    verdict = "within" if top.ratio <= LIMIT else "**above**"
    lines += [
        "",
        f"Worst ratio {top.ratio:.3f} ({verdict} the {LIMIT} limit): `{top.target.split(':')[1]}` in {top.dtype}, "
        f"`{top.property}`, on `{top.case}`.",
        f"Measured by `python benchmarks/headroom.py --examples {examples}{f' --kind {kind}' if kind else ''}` "
        f"({examples} targeted cases per cell) "
        f"in {seconds:.0f} s with {workers} worker processes, torch {torch.__version__}, CPU: {cpu_model()}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=300, help="targeted cases per implementation and dtype"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", nargs="*", help="only these entry names")
    parser.add_argument("--kind", help="only the alternatives of this kind (their own README block)")
    parser.add_argument("--json", metavar="FILE", help="write the raw rows as JSON")
    parser.add_argument("--write-readme", metavar="README", help="rewrite the README's headroom table")
    ns = parser.parse_args(argv)
    jobs = [c for c in cells() if not ns.only or c[0].split(":")[1] in ns.only]
    jobs = [c for c in jobs if ns.kind is None or c[1] == ns.kind]
    start = time.perf_counter()
    rows: list[Worst] = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(ns.workers, mp_context=context) as pool:
        futures = [pool.submit(_job, spec, kind, dtype, ns.examples, ns.seed) for spec, kind, dtype in jobs]
        for future in concurrent.futures.as_completed(futures):
            row = future.result()
            rows.append(row)
            print(
                f"  {row.target:45s} {row.dtype:9s} {row.ratio:8.4f} {row.property}",
                file=sys.stderr,
                flush=True,
            )
    order = {spec: i for i, (spec, _, _) in enumerate(jobs)}
    rows.sort(key=lambda r: order[r.target])
    table = _table(rows, ns.examples, time.perf_counter() - start, ns.workers, ns.kind)
    print(table)
    if ns.json:
        Path(ns.json).write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=2) + "\n")
    if ns.write_readme:
        from benchmarks._readme import replace_block

        replace_block(Path(ns.write_readme), "headroom" + (f"-{ns.kind}" if ns.kind else ""), table)
    return 0 if all(r.ratio <= LIMIT for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
