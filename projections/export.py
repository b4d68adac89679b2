"""Export the whole history as JSON lines for offline audit, and load it back for queries.

    {"format": "authledger-export", "version": 1, "chain": "sha256-v1"}          header
    {"position": 7, "type": "GrantGiven", "timestamp": "2026-01-01T02:00:00Z",     one line
     "actor": "acct1", "source": "cli", "originator_id": "...", "originator_version": 4,
     "topic": "authledger:GrantGiven", "fields": {...}, "chain": "<link hex>"}      per event
    {"end": true, "events": N, "digest": "HEAD@POSITION"}                         trailer

Fields are the event's own, with sealed secrets (AppSecrets, AppCodes) and token hashes
left out; AppCodes appear masked (``****abcd``) and by keyed hash. ``chain`` is the link
of ``projections.chain`` over the stored bytes, so the last line's digest can be compared
with one an auditor kept; the trailer shows the export is complete. Loading an export
rebuilds the same temporal index in memory, so every query answers as on the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from ledger.errors import InvalidInput
from projections import chain
from projections.log import LogReader, rows
from projections.temporal import decode_fast, hex_to_uuid, to_micros
from projections.temporal_queries import ExportEvents, describe
from projections.temporal_store import TemporalStore

FORMAT = "authledger-export"
VERSION = 1


def lines(log: LogReader) -> Iterator[str]:
    """The export's lines (without newlines), events up to the log's position when it starts."""
    until = log.max_position()
    yield json.dumps({"format": FORMAT, "version": VERSION, "chain": "sha256-v1"})
    prev, last, n = chain.GENESIS, 0, 0
    for row in rows(log, 0, until):
        pos, oid, ver, topic, state = row
        prev = next(chain.links([row], prev))[1]
        d = describe(pos, hex_to_uuid(oid), topic, decode_fast(pos, topic, state))
        d["originator_version"] = ver
        d["topic"] = topic
        d["chain"] = prev.hex()
        last, n = pos, n + 1
        yield json.dumps(d, sort_keys=True, default=str)
    yield json.dumps({"end": True, "events": n, "digest": chain.format_digest(prev, last)})


def write(log: LogReader, out: IO[str]) -> int:
    """Write the export to ``out``; return the number of events."""
    n = -2
    for line in lines(log):
        out.write(line)
        out.write("\n")
        n += 1
    return n


def _micros(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def _state(d: dict[str, Any]) -> dict[str, Any]:
    """The builder's view of an exported event."""
    s = dict(d["fields"])
    s["timestamp"] = _micros(d["timestamp"])
    s["actor"], s["source"] = d.get("actor"), d.get("source")
    if s.get("until") is not None:
        s["until"] = _micros(s["until"])
    if "app_code" in s:
        s["hint"] = str(s.pop("app_code"))[4:]
    return s


DESCRIBED = ("position", "type", "timestamp", "actor", "source", "originator_id", "fields")


def load(path: str) -> tuple[TemporalStore, ExportEvents, dict[str, Any]]:
    """Rebuild the temporal index (in memory) and the event descriptions from an export."""
    rows: list[tuple[int, str, str, dict[str, Any]]] = []
    events: list[dict[str, Any]] = []
    trailer: dict[str, Any] | None = None
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except OSError as e:
        raise InvalidInput(f"cannot read export {path}: {e.strerror}", field="from_export") from None
    with f:
        for i, line in enumerate(f, 1):
            try:
                d = json.loads(line)
                if i == 1:
                    if d.get("format") != FORMAT or d.get("version") != VERSION:
                        raise ValueError("not an authledger export (version 1)")
                    continue
                if d.get("end"):
                    trailer = d
                    continue
                rows.append((d["position"], d["originator_id"], d["topic"], _state(d)))
                events.append({k: d[k] for k in DESCRIBED})
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise InvalidInput(f"{path}: line {i} is not a valid export line ({e})", field="from_export") from None
    if trailer is None or trailer.get("events") != len(events):
        raise InvalidInput(f"{path}: the export is truncated (no matching end line)", field="from_export")
    store = TemporalStore(":memory:")
    store.apply_rows(rows)  # type: ignore[arg-type]
    return store, ExportEvents(events), trailer
