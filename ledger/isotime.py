"""The one way an instant leaves authledger: ISO 8601 in UTC with a ``Z``.

``2026-01-31T12:00:00Z``, with ``.ffffff`` only when the instant has microseconds
(``2026-01-31T12:00:00.250000Z``). Every answer uses it — the HTTP admin API (resources,
receipts, audit answers), the CLI's text and ``--json`` output, reports, exports — so the
same instant is the same string everywhere and the strings sort as the instants do.
(The hash-chained log keeps its own encodings: this is presentation only.)

Input is what the code holds: a timezone-aware ``datetime`` (the ledger's aggregates and
receipts) or integer microseconds since the epoch (the audit index, ``projections.temporal``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What every formatted instant matches (tests hold answers to it).
PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z$"


def iso(value: datetime | int | None) -> str | None:
    """An instant as ISO 8601 UTC with ``Z`` (µs only when non-zero); None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (datetime, int)):
        raise TypeError(f"an instant is a datetime or integer microseconds, not {type(value).__name__}")
    if isinstance(value, int):
        value = _EPOCH + timedelta(microseconds=value)
    elif value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a naive datetime is not an instant")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
