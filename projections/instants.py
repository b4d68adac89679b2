"""Instants and windows as the audit queries take them (ISO 8601 with a timezone, in µs), and
their answers' µs turned back into the one output format (``ledger.isotime.iso``).

One place for the CLI, the HTTP admin API and the reports, so they accept and refuse
exactly the same input with the same one-line errors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger.errors import InvalidInput
from ledger.rules import aware_instant
from projections.temporal import iso, to_micros


def instant(value: str, field: str) -> int:
    """An ISO 8601 instant with a timezone, as µs since the epoch."""
    return to_micros(aware_instant(value, field))


def window(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """``from``/``to`` in µs (both or neither); the end must come after the start."""
    if (start is None) != (end is None):
        raise InvalidInput("--from and --to go together", field="from" if start is None else "to")
    if start is None or end is None:
        return None, None
    lo, hi = instant(start, "from"), instant(end, "to")
    if hi <= lo:
        raise InvalidInput(f"--to ({end}) must be after --from ({start})", field="to")
    return lo, hi


def when(at: str | None, start: str | None, end: str | None) -> tuple[int | None, int | None, int | None]:
    """(at, from, to) in µs: either an instant (default now) or a window."""
    if at is not None and (start is not None or end is not None):
        raise InvalidInput("use either --at or --from/--to, not both", field="at")
    lo, hi = window(start, end)
    if lo is not None:
        return None, lo, hi
    if at is None:
        return to_micros(datetime.now(UTC)), None, None
    return instant(at, "at"), None, None


def with_iso_bounds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interval rows with their ``start``/``end`` as UTC ISO 8601 (in place)."""
    for r in rows:
        r["start"], r["end"] = iso(r["start"]), iso(r["end"])
    return rows


def with_iso_until(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Point rows (who could call / access at an instant) with ``grant_until`` as UTC ISO 8601 (in place)."""
    for r in rows:
        r["grant_until"] = iso(r["grant_until"])
    return rows
