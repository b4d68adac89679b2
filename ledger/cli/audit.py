"""Audit commands: who-could-call, access, history, replay, digest, verify-log, export, rebuild-index.

They read the ledger's log directly (read-only) and its audit index — the file beside a
SQLite ledger (``<db>.audit.sqlite``), the ``audit_*`` tables in a PostgreSQL ledger's
database — catching up only new events, so a query never replays the whole log.
``--from-export FILE`` answers from an export instead, with no database.
No secret key is needed: auditors see history with secrets left out.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from uuid import UUID

import click

from ledger.cli.main import emit, global_options, settings
from ledger.cli.text import table
from ledger.errors import InvalidInput

STAGES = ("RELEASE", "PRE", "TEST")
_from_export = click.option("--from-export", "from_export", metavar="FILE", default=None,
                            help="Answer from a jsonl export instead of the database.")


def _db() -> str:
    # A SQLite path or a postgresql:// URL (ledger/store.py; no write-side imports: start-up time).
    return settings().target()


def _queries(from_export: str | None) -> Any:
    from projections.temporal_queries import AuditQueries, LedgerEvents

    if from_export:
        from projections.export import load

        store, events, _ = load(from_export)
        return AuditQueries(store, events)
    from projections.temporal_store import open_index

    store, log = open_index(_db())
    return AuditQueries(store, LedgerEvents(log))


def _id(value: str, what: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise InvalidInput(f"{what} id must be a UUID, got {value[:40]!r}", field=f"{what}_id") from None


def _iso(us: int | None) -> str | None:
    from ledger.isotime import iso

    return iso(us)


def _cause(c: dict[str, Any] | None) -> str:
    if c is None:
        return "-"
    if c["kind"] == "expiry":
        return f"expiry (end time set at #{c['end_set_at_position']})"
    return f"{c['type']} #{c['position']} by {c['actor']} ({c['source']})"


_POINT_COLS = [("APP ID", "app_id"), ("STAGE", "stage"), ("KIND", "kind"), ("CREDENTIAL", "credential"),
               ("GRANT UNTIL", "grant_until")]
_SPAN_COLS = [("APP ID", "app_id"), ("API ID", "api_id"), ("STAGE", "stage"), ("CREDENTIAL", "credential"),
              ("FROM", "start"), ("TO", "end"), ("STARTED BY", "started"), ("ENDED BY", "ended")]


def _span_table(rows: list[dict[str, Any]]) -> str:
    shown = [{**r, "start": ("<" if r["start_clipped"] else "") + str(r["start"]),
              "end": (str(r["end"]) + (">" if r["end_clipped"] else "")) if r["end"] else "open",
              "started": _cause(r["start_cause"]), "ended": _cause(r["end_cause"])} for r in rows]
    return table(shown, _SPAN_COLS, empty="(no access in this window)")


@click.command("who-could-call")
@click.option("--api", "api_id", required=True, metavar="API_ID")
@click.option("--stage", type=click.Choice(STAGES), default=None, help="One stage (default: all).")
@click.option("--at", default=None, metavar="ISO8601", help="The instant (default: now).")
@click.option("--from", "start", default=None, metavar="ISO8601", help="Window start (with --to).")
@click.option("--to", "end", default=None, metavar="ISO8601", help="Window end, exclusive.")
@_from_export
@global_options
def who_could_call(api_id: str, stage: str | None, at: str | None, start: str | None, end: str | None,
                   from_export: str | None) -> None:
    """Apps and credentials that could call an API at an instant, or their intervals in a window."""
    from projections.instants import when, with_iso_bounds, with_iso_until

    api_id = _id(api_id, "api")
    t, lo, hi = when(at, start, end)
    q = _queries(from_export)
    group = q.api_group(api_id)  # the API group the API is routed in (id and name)
    head = f"API {api_id} in group {group['group_name']} ({group['group_id']})\n"
    if t is not None:
        rows = with_iso_until(q.who_could_call_at(api_id, t, stage))
        emit({"api_id": api_id, **group, "stage": stage, "at": _iso(t), "could_call": rows},
             lambda d: head + f"at {d['at']}:\n" + table(d["could_call"], _POINT_COLS, empty="(nobody)"))
    else:
        rows = with_iso_bounds(q.who_could_call_between(api_id, lo, hi, stage))
        emit({"api_id": api_id, **group, "stage": stage, "from": _iso(lo), "to": _iso(hi), "intervals": rows},
             lambda d: head + f"from {d['from']} to {d['to']} (< > = clipped to the window):\n"
             + _span_table(d["intervals"]))


@click.command("access")
@click.option("--app", "app_id", default=None, metavar="APP_ID")
@click.option("--app-key", "app_key", default=None, metavar="APP_KEY")
@click.option("--at", default=None, metavar="ISO8601", help="The instant (default: now).")
@click.option("--from", "start", default=None, metavar="ISO8601")
@click.option("--to", "end", default=None, metavar="ISO8601")
@_from_export
@global_options
def access(app_id: str | None, app_key: str | None, at: str | None, start: str | None, end: str | None,
           from_export: str | None) -> None:
    """What an app (or one AppKey) could call, at an instant or over a window."""
    from projections.instants import when, with_iso_bounds, with_iso_until

    if (app_id is None) == (app_key is None):
        raise InvalidInput("give exactly one of --app or --app-key", field="app_id")
    if app_id is not None:
        app_id = _id(app_id, "app")
    t, lo, hi = when(at, start, end)
    q = _queries(from_export)
    if app_id is None:
        app_id = q.app_for_key(app_key)
    if t is not None:
        rows = with_iso_until(q.access_at(app_id, t, app_key))
        emit({"app_id": app_id, "app_key": app_key, "at": _iso(t), "could_call": rows},
             lambda d: f"app {d['app_id']} at {d['at']}:\n" + table(
                 d["could_call"], [("API ID", "api_id"), ("STAGE", "stage"), ("KIND", "kind"),
                                   ("CREDENTIAL", "credential"), ("GRANT UNTIL", "grant_until")], empty="(nothing)"))
    else:
        rows = with_iso_bounds(q.access_between(app_id, lo, hi, app_key))
        emit({"app_id": app_id, "app_key": app_key, "from": _iso(lo), "to": _iso(hi), "intervals": rows},
             lambda d: f"app {d['app_id']} from {d['from']} to {d['to']}:\n" + _span_table(d["intervals"]))


@click.command("history")
@click.option("--app", "app_id", default=None, metavar="APP_ID")
@click.option("--api", "api_id", default=None, metavar="API_ID")
@click.option("--app-key", "app_key", default=None, metavar="APP_KEY")
@_from_export
@global_options
def history(app_id: str | None, api_id: str | None, app_key: str | None, from_export: str | None) -> None:
    """The events of an app, an API or an AppKey, in order (secrets never shown)."""
    if sum(x is not None for x in (app_id, api_id, app_key)) != 1:
        raise InvalidInput("give exactly one of --app, --api or --app-key", field="app_id")
    app_id = _id(app_id, "app") if app_id else None
    api_id = _id(api_id, "api") if api_id else None
    events = _queries(from_export).history(app_id=app_id, api_id=api_id, app_key=app_key)
    emit({"events": events}, lambda d: table(
        [{**e, "fields": e["fields"]} for e in d["events"]],
        [("POS", "position"), ("TIMESTAMP", "timestamp"), ("EVENT", "type"), ("ACTOR", "actor"),
         ("SOURCE", "source"), ("FIELDS", "fields")], empty="(no events)"))


@click.command("replay")
@click.option("--until", "until", required=True, metavar="ISO8601", help="The instant to rebuild the state at.")
@click.option("--app", "app_id", default=None, metavar="APP_ID", help="Only this app.")
@click.option("--api", "api_id", default=None, metavar="API_ID", help="Only grants on this API.")
@_from_export
@global_options
def replay(until: str, app_id: str | None, api_id: str | None, from_export: str | None) -> None:
    """The full authorization state as of an instant: APIs, apps, masked credentials, grants."""
    from projections.instants import instant

    t = instant(until, "until")
    state = _queries(from_export).replay(t, app_id=_id(app_id, "app") if app_id else None,
                                         api_id=_id(api_id, "api") if api_id else None)
    emit(state, _human_replay)


def _human_replay(d: dict[str, Any]) -> str:
    out = [f"state at {d['at']}: {len(d['apis'])} API(s), {len(d['apps'])} app(s)"]
    for a in d["apps"]:
        creds = ", ".join(c["credential"] for c in a["credentials"]) or "-"
        out.append(f"app {a['app_id']} {a['name']} owner={a['owner']} "
                   f"{'enabled' if a['enabled'] else 'disabled'} credentials: {creds}")
        for g in a["grants"]:
            out.append(f"    {g['api_id']} {g['stage']} until {g['until'] or 'forever'}"
                       f"{'' if g['in_force'] else ' (expired)'}")
    return "\n".join(out)


@click.command("digest")
@global_options
def digest() -> None:
    """The chain head and its position (HEAD@POSITION), for auditors to keep elsewhere."""
    from projections.chain import format_digest
    from projections.temporal_store import open_index

    store, _ = open_index(_db())
    head, pos = store.chain_head()
    d = format_digest(head, pos)
    emit({"digest": d, "head": head.hex(), "position": pos}, d)


@click.command("verify-log")
@click.option("--digest", "digest_", default=None, metavar="HEAD@POSITION", help="A digest kept outside.")
@global_options
def verify_log(digest_: str | None) -> None:
    """Recompute the hash chain; report the first position where the log no longer matches."""
    from projections import chain
    from projections.temporal_store import existing_index, open_log

    want = chain.parse_digest(digest_) if digest_ else None
    log = open_log(_db())
    recorded: Any = ()
    head = None
    store = existing_index(_db())
    if store is not None:
        recorded = chain.recorded_entries(store.conn)
        h, p = store.chain_head()
        head = (h, p) if p else None
    verdict = chain.verify(log.rows(), recorded, head, want)
    if not verdict.ok:
        raise chain.LogMismatch(f"log does not match at position {verdict.first_bad}: {verdict.why}",
                                verdict.first_bad or 0)
    emit(verdict.to_dict(), f"ok: {verdict.events} events verified, head {verdict.head}"
         + (f" ({verdict.checked_recorded} against the recorded chain)" if verdict.checked_recorded else "")
         + (" and the digest" if verdict.checked_digest else ""))


@click.command("rebuild-index")
@global_options
def rebuild_index() -> None:
    """Build the audit index again from the log, in one transaction (queries see the old one until then)."""
    from ledger.store import is_url
    from projections.chain import format_digest
    from projections.temporal_store import TemporalStore, index_path, open_index, open_log

    db = _db()
    log = open_log(db)  # refuses a missing ledger first
    if not is_url(db) and not os.path.exists(index_path(db)):
        store, _ = open_index(db, log=log)  # no index yet: the first build's bulk path
        n = store.position
    else:
        store = TemporalStore(index_path(db))
        n = store.rebuild(log)
    head, pos = store.chain_head()
    store.close()
    d = format_digest(head, pos)
    emit({"events": n, "position": pos, "digest": d}, f"rebuilt the audit index: {n} events, digest {d}")


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl")
@click.option("--out", "out", default=None, metavar="FILE", help="Write here (default: stdout).")
@global_options
def export(fmt: str, out: str | None) -> None:
    """Write the whole history as JSON lines (secrets left out, chain links included)."""
    from projections import export as ex
    from projections.temporal_store import open_log

    log = open_log(_db())
    if out is None:
        ex.write(log, sys.stdout)
        return
    tmp = out + ".part"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            n = ex.write(log, f)
    except OSError as e:
        raise InvalidInput(f"cannot write {out}: {e.strerror}", field="out") from None
    os.replace(tmp, out)
    emit({"out": out, "events": n, "format": fmt}, f"exported {n} events to {out}")


def register(cli: click.Group) -> None:
    for command in (who_could_call, access, history, replay, digest, verify_log, rebuild_index, export):
        cli.add_command(command)
