"""Known failures and skips, kept in files so they are visible, reviewed and never stale.

One entry per line: a property pattern, then ``#`` and the reason::

    gradients            # backward not written yet (issue 12)
    determinism[cuda]    # atomics in the split-K path
    linearity-*          # shell patterns match several properties

``name`` matches the property on every device; ``name[device]`` on one device.
An *xfail* entry turns a failure into ``xfail`` and reports ``xpass`` when the
property starts to hold; a *skip* entry does not run the property at all.
Entries that match no property of the catalogue are reported as stale, and a
known failure that holds is reported as ``xpass``. :class:`KnownPolicy` applies
both lists; the CLI's suite and the pytest plugin go through it alike.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conv2d.gate.engine import PropertyResult

__all__ = ["KnownEntry", "KnownList", "KnownPolicy", "apply_known", "load_known", "stale_entries"]


@dataclasses.dataclass(frozen=True)
class KnownEntry:
    """One line of a known-failures or skips file."""

    pattern: str
    reason: str
    source: str  # "file:line"

    def matches(self, prop: str, device: str) -> bool:
        name, bracket, rest = self.pattern.partition("[")
        wanted_device = rest.removesuffix("]") if bracket else "*"
        return fnmatch.fnmatchcase(prop, name) and fnmatch.fnmatchcase(device, wanted_device)


@dataclasses.dataclass
class KnownList:
    """The entries of one file."""

    entries: list[KnownEntry] = dataclasses.field(default_factory=list)

    def match(self, prop: str, device: str) -> KnownEntry | None:
        """The first entry matching ``prop`` on ``device``, or None."""
        return next((e for e in self.entries if e.matches(prop, device)), None)


def load_known(path: str | Path | None) -> KnownList:
    """Parse a known-failures/skips file; a line without a reason is an error naming the line."""
    if path is None:
        return KnownList()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"known-failures file {str(path)!r} does not exist")
    entries = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, sep, reason = line.partition("#")
        pattern, reason = pattern.strip(), reason.strip()
        if not sep or not reason:
            raise ValueError(
                f"{path}:{number}: {line!r} has no reason; write it as '{pattern}  # why it is known'"
            )
        if " " in pattern:
            raise ValueError(f"{path}:{number}: pattern {pattern!r} contains a space; one pattern per line")
        entries.append(KnownEntry(pattern, reason, f"{path}:{number}"))
    return KnownList(entries)


def apply_known(result: PropertyResult, xfails: KnownList, warnings: list[str]) -> PropertyResult:
    """The one policy for known failures, shared by the CLI and the pytest plugin.

    A listed property that fails becomes ``xfail``; one that holds becomes ``xpass``
    with a warning to remove the entry. Every other status is left as it is.
    """
    entry = xfails.match(result.property, result.device)
    if entry is None:
        return result
    if result.status == "fails":
        return dataclasses.replace(
            result, status="xfail", note=f"known failure ({entry.source}): {entry.reason}"
        )
    if result.status == "holds":
        warnings.append(
            f"{result.property}[{result.device}] holds but is listed as a known failure at {entry.source}; "
            "remove the entry"
        )
        return dataclasses.replace(
            result, status="xpass", note=f"listed as a known failure at {entry.source}, but holds"
        )
    return result


def stale_entries(lists: Iterable[KnownList], catalogue: Iterable[tuple[str, str]]) -> list[str]:
    """Warnings for entries of known-failures or skips files that match no (property, device) of the catalogue."""
    pairs = list(catalogue)
    return [
        f"stale entry {entry.pattern!r} at {entry.source}: it matches no property of the catalogue"
        for known in lists
        for entry in known.entries
        if not any(entry.matches(name, device) for name, device in pairs)
    ]


class KnownPolicy:
    """What a run does with the properties its known-failures and skips lists name.

    A property the skips list names on a device is not run (:meth:`skip`, :meth:`skipped`);
    the result of one the known-failures list names is settled by :func:`apply_known`
    (:meth:`settle`). Each list is given as a :class:`KnownList` or as the path of its
    file, read when the policy first needs it (so a skipped property never reads the
    known-failures file).
    """

    def __init__(
        self,
        xfails: KnownList | str | Path | None = None,
        skips: KnownList | str | Path | None = None,
    ) -> None:
        self._xfails = xfails
        self._skips = skips

    @functools.cached_property
    def xfails(self) -> KnownList:
        """The known failures."""
        return self._xfails if isinstance(self._xfails, KnownList) else load_known(self._xfails)

    @functools.cached_property
    def skips(self) -> KnownList:
        """The properties not to run."""
        return self._skips if isinstance(self._skips, KnownList) else load_known(self._skips)

    def skip(self, prop: str, device: str) -> KnownEntry | None:
        """The skips entry that keeps ``prop`` from running on ``device``, or None: run it."""
        return self.skips.match(prop, device)

    def skipped(self, prop: str, law: str, device: str) -> PropertyResult | None:
        """The ``skipped`` result of ``prop`` on ``device`` when the skips list names it, else None."""
        entry = self.skip(prop, device)
        if entry is None:
            return None
        from conv2d.gate.engine import PropertyResult

        note = f"skipped ({entry.source}): {entry.reason}"
        return PropertyResult(prop, law, device, "skipped", note=note)

    def settle(self, result: PropertyResult, warnings: list[str]) -> PropertyResult:
        """``result`` under the known failures (see :func:`apply_known`)."""
        return apply_known(result, self.xfails, warnings)

    def stale(self, catalogue: Iterable[tuple[str, str]]) -> list[str]:
        """Warnings for the entries of both lists that match no (property, device) of ``catalogue``."""
        return stale_entries([self.xfails, self.skips], catalogue)
