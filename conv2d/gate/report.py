"""What a verdict looks like: a conformance table for people, JSON for machines, Markdown for CI summaries."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path
from typing import Any

from conv2d.gate import upstream
from conv2d.gate.capabilities import Capabilities
from conv2d.gate.coverage import Coverage, unreached
from conv2d.gate.engine import PropertyResult
from conv2d.gate.environment import cpu_model, environment
from conv2d.gate.suite import SuiteReport
from conv2d.gate.target import bounded

__all__ = [
    "SCHEMA_VERSION",
    "causes",
    "cpu_model",
    "environment",
    "known_bugs",
    "render_markdown",
    "render_text",
    "to_json",
    "write_json",
]

SCHEMA_VERSION = "1"


def _cell(result: PropertyResult | None) -> str:
    if result is None:
        return "-"
    if result.status in ("holds", "xpass"):
        extra = f" ({result.examples})"
        if result.unsupported:
            extra = f" ({result.examples}; {sum(result.unsupported.values())} unsupported)"
        return result.status + extra + (" (note)" if result.notes else "")
    if result.failure is not None and result.failure.known:
        return f"{result.status} (known torch bug)"
    return result.status


def _grid(report: SuiteReport) -> tuple[list[str], dict[tuple[str, str], PropertyResult]]:
    names: list[str] = []
    cells: dict[tuple[str, str], PropertyResult] = {}
    for r in report.results:
        if r.property not in names:
            names.append(r.property)
        cells[(r.property, r.device)] = r
    return names, cells


def known_bugs(result: PropertyResult) -> tuple[str, ...]:
    """The known torch bugs (present on this host) a failing result's calls touched; empty for a new failure."""
    return result.failure.known if result.failure is not None else ()


def _verdict_line(report: SuiteReport) -> str:
    total = len({r.property for r in report.results})
    failing = sorted({r.property for r in report.failed})
    if not failing:
        return f"verdict: PASS — no property fails ({report.seconds:.1f} s)"
    known = sorted({r.property for r in report.failed if known_bugs(r)})
    split = ""
    if known:
        new = sorted(set(failing) - set(known))
        bugs = sorted({b for r in report.failed for b in known_bugs(r)})
        split = (
            f"; {len(known)} in known torch bugs ({', '.join(bugs)}), "
            f"{len(new)} new{': ' + ', '.join(new) if new else ''}"
        )
    return (
        f"verdict: FAIL — {len(failing)} of {total} properties fail: {', '.join(failing)}{split} "
        f"({report.seconds:.1f} s)"
    )


def _known_lines(result: PropertyResult) -> list[str]:
    """What the registry says of a failure's calls: the known torch bugs they hit, or a region the host lacks."""
    failure = result.failure
    if failure is None or not failure.regions:
        return []
    lines = []
    for name in failure.regions:
        bug = upstream.entry(name)
        if name in failure.known:
            lines.append(
                f"    known torch {bug.kind} `{name}` ({upstream.README_SECTION}): {bug.summary}; "
                "this host has it (probed), so this failure is not new"
            )
        else:
            lines.append(
                f"    the failing calls lie in the region of known torch {bug.kind} `{name}`, but this host's "
                "probe does not reproduce it: counted as new"
            )
    return lines


def causes(report: SuiteReport) -> list[tuple[PropertyResult, list[PropertyResult]]]:
    """Failures grouped by cause: each group's first result and all results it took down.

    A failure without a cause (a law broken by a wrong value) is a group of its own;
    failures whose cause is the same exception, crash or time-out form one group.
    """
    groups: dict[str, list[PropertyResult]] = {}
    for r in report.results:
        if r.failure is None:
            continue
        key = r.failure.cause or f"{r.property}[{r.device}]"
        groups.setdefault(key, []).append(r)
    return [(members[0], members) for members in groups.values()]


def _declined_lines(report: SuiteReport) -> list[str]:
    lines = []
    for r in report.results:
        for reason, count in r.unsupported.items():
            where = r.declined.get(reason, "")
            lines.append(
                f"  {r.property}[{r.device}]: {count} cases declined ({bounded(reason, 200)}): {where}"
            )
    return lines


def _message_lines(message: str) -> list[str]:
    """A failure message indented for the terminal: prose wrapped, maps and tables kept as they are."""
    out: list[str] = []
    for line in bounded(message, 8000).splitlines():
        if len(line) > 110 and not line.startswith((" ", "|", ".", "X", "!")):
            out += textwrap.wrap(line, 110, initial_indent="    ", subsequent_indent="      ")
        else:
            out.append(f"    {line}")
    return out


def coverage_of(report: SuiteReport) -> Coverage:
    """The regions reached by every property's generated cases together."""
    merged = Coverage()
    for r in report.results:
        if r.coverage:
            merged = merged.merge(Coverage.from_json(r.coverage))
    return merged


def unreached_regions(report: SuiteReport) -> list[str]:
    """Declared configurations that no generated case of any property reached."""
    described = {k: tuple(v) if isinstance(v, list) else v for k, v in report.capabilities.items()}
    return unreached(coverage_of(report), Capabilities.from_mapping(described))


def render_text(report: SuiteReport, *, coverage: bool = False) -> str:
    """The conformance table, then each cause of failure once, with its case, error, repro snippet and seed."""
    env = report.environment
    gpu = env.get("gpu") or "no CUDA device"
    lines = [
        f"conv2d verify: {report.target} (kind {report.kind}), profile {report.profile}, seed {report.seed}",
        f"torch {env['torch']}, hypothesis {env['hypothesis']}, CPU {env['cpu']}, {gpu}",
        "",
    ]
    names, cells = _grid(report)
    width = max([len(n) for n in names] + [8])
    header = f"{'property':<{width}}  " + "  ".join(f"{d:<28}" for d in report.devices)
    lines += [header.rstrip(), "-" * len(header)]
    for name in names:
        row = "  ".join(f"{_cell(cells.get((name, d))):<28}" for d in report.devices)
        lines.append(f"{name:<{width}}  {row}".rstrip())
    notes = [r for r in report.results if r.note and r.failure is None]
    observed = [(r, n) for r in report.results for n in r.notes]
    if notes or observed:
        lines += ["", "notes:"]
        lines += [f"  {r.property}[{r.device}]: {r.status}: {bounded(r.note, 400)}" for r in notes]
        lines += [f"  {r.property}[{r.device}]: note: {n.render()}" for r, n in observed]
    declined = _declined_lines(report)
    if declined:
        lines += ["", "declined (NotImplementedError raised by the target, not declared):", *declined]
    for i, (r, members) in enumerate(causes(report), start=1):
        assert r.failure is not None
        verb: str = "fails (a known failure, xfail)" if r.status == "xfail" else r.status
        if known_bugs(r):
            verb += f" (known torch bug: {', '.join(known_bugs(r))})"
        lines += ["", f"[{i}] {r.property} {verb} on {r.device}: {r.law}", *_known_lines(r)]
        if len(members) > 1:
            others = ", ".join(f"{m.property}[{m.device}]" for m in members[1:])
            lines.append(
                f"    one cause, {len(members)} properties: {bounded(r.failure.cause or '', 300)}; also {others}"
            )
        lines += [
            f"    case: {r.failure.case.describe()}",
            *_message_lines(r.failure.message),
            "    reproduce:",
            textwrap.indent(r.failure.repro, "      "),
            f"    replay this search: --seed {report.seed} --profile {report.profile} --property {r.property}",
        ]
        if r.failure.blob:
            lines.append(f"    Hypothesis: {r.failure.blob}")
    missing = unreached_regions(report)
    if coverage:
        lines += ["", coverage_of(report).text()]
    if missing:
        lines += ["", "declared but never reached by the search: " + ", ".join(missing)]
    if report.warnings:
        lines += ["", "warnings:", *[f"  {w}" for w in report.warnings]]
    lines += ["", _verdict_line(report)]
    return "\n".join(lines)


def to_json(report: SuiteReport) -> dict[str, Any]:
    """The machine-readable report (see ``docs/report.schema.json``)."""
    results = []
    for r in report.results:
        item = dataclasses.asdict(r)
        item["seconds"] = round(r.seconds, 3)
        if r.failure is not None:
            item["failure"] = {
                "case": r.failure.case.describe(),
                "case_code": r.failure.case.to_code(),
                "message": r.failure.message,
                "repro": r.failure.repro,
                "blob": r.failure.blob,
                "cause": r.failure.cause,
                "regions": list(r.failure.regions),
                "known": list(r.failure.known),
            }
        results.append(item)
    return {
        "schema_version": SCHEMA_VERSION,
        "target": report.target,
        "kind": report.kind,
        "verdict": "fail" if report.failed else "pass",
        "exit_code": report.exit_code,
        "profile": report.profile,
        "seed": report.seed,
        "devices": report.devices,
        "seconds": round(report.seconds, 3),
        "capabilities": report.capabilities,
        "environment": report.environment,
        "results": results,
        "coverage": coverage_of(report).to_json(),
        "unreached": unreached_regions(report),
        "warnings": report.warnings,
    }


def write_json(report: SuiteReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_json(report), indent=2) + "\n")


#: The mark of each status in a Markdown summary.
_ICONS = {
    "holds": "✅",
    "fails": "❌",
    "unsupported": "➖",
    "skipped": "⏭️",
    "xfail": "⚠️",
    "xpass": "❗",
    "error": "💥",
    "not run": "⛔",
    "crashed": "💀",
    "timeout": "⏱️",
    "incomplete": "⌛",
    "not verified": "❔",
}


def render_markdown(report: SuiteReport) -> str:
    """A summary for a CI job page: the table, then each failure folded with its repro."""
    env = report.environment
    names, cells = _grid(report)
    lines = [
        f"### conv2d verify: `{report.target}` — {'FAIL' if report.failed else 'PASS'}",
        "",
        f"profile `{report.profile}`, seed `{report.seed}`, torch {env['torch']}, {env.get('gpu') or env['cpu']}, {report.seconds:.1f} s",
        "",
        "| property | " + " | ".join(report.devices) + " |",
        "|---|" + "---|" * len(report.devices),
    ]
    for name in names:
        row = []
        for d in report.devices:
            r = cells.get((name, d))
            row.append("-" if r is None else f"{_ICONS.get(r.status, '')} {_cell(r)}")
        lines.append(f"| `{name}` | " + " | ".join(row) + " |")
    for r, members in causes(report):
        assert r.failure is not None
        also = "".join(f", <code>{m.property}</code>" for m in members[1:])
        lines += [
            "",
            f"<details><summary>{_ICONS.get(r.status, '')} <code>{r.property}</code>{also} on {r.device}"
            f"{' (known torch bug: ' + ', '.join(known_bugs(r)) + ')' if known_bugs(r) else ''}: "
            f"{r.failure.case.describe()}</summary>",
            "",
            "```",
            bounded(r.failure.message),
            "```",
            "",
            "```python",
            r.failure.repro,
            "```",
            "</details>",
        ]
    observed = [(r, n) for r in report.results for n in r.notes]
    if observed:
        lines += ["", "Notes (reported, not failed):", ""]
        lines += [f"- `{r.property}` on {r.device}: {n.render()}" for r, n in observed]
    missing = unreached_regions(report)
    lines += ["", "<details><summary>coverage</summary>", "", coverage_of(report).markdown(), "</details>"]
    if missing:
        lines += ["", "Declared but never reached by the search: " + ", ".join(f"`{m}`" for m in missing)]
    if report.warnings:
        lines += ["", *[f"- ⚠️ {w}" for w in report.warnings]]
    return "\n".join(lines) + "\n"
