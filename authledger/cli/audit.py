"""Audit commands: who-could-call, access, history, replay, digest, verify-log, export, rebuild-index.

They read the ledger's log directly (read-only) and its audit index — the file beside a
SQLite ledger (``<db>.audit.sqlite``), the ``audit_*`` tables in a PostgreSQL ledger's
database — catching up only new events, so a query never replays the whole log.
``--from-export FILE`` answers from an export instead, with no database; ``--index FILE``
keeps the index elsewhere (a ledger this process cannot write gets one in memory otherwise:
docs/audit.md "Auditing a read-only copy").
No secret key is needed: auditors see history with secrets left out.
A log that a chain check (verify-log, digest, rebuild-index) found tampered with is refused
by every query (exit 6) until restored, or accepted with ``rebuild-index --accept-current-log``.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from uuid import UUID

import click

from authledger.cli.main import emit, global_options, settings
from authledger.cli.text import table
from ledger.errors import InvalidInput

STAGES = ("RELEASE", "PRE", "TEST")
_from_export = click.option("--from-export", "from_export", metavar="FILE", default=None,
                            help="Answer from a jsonl export instead of the database.")
_index = click.option("--index", "index", metavar="FILE", default=None,
                      help="Keep the audit index in this SQLite file (default: beside a SQLite ledger, "
                           "in memory when that folder is read-only; a PostgreSQL ledger's own tables).")


def _db() -> str:
    # A SQLite path or a postgresql:// URL (ledger/store.py; no write-side imports: start-up time).
    return settings().target()


def _queries(from_export: str | None, index: str | None = None) -> Any:
    from projections.temporal_queries import AuditQueries, LedgerEvents

    if from_export:
        from projections.export import load

        store, events, _ = load(from_export)
        return AuditQueries(store, events)
    store, log = _open_index(index)
    return AuditQueries(store, LedgerEvents(log))


def _open_index(index: str | None) -> Any:
    from projections.temporal_store import open_index

    store, log = open_index(_db(), index=index)
    if store.path == ":memory:":
        _note_in_memory()
    return store, log


def _note_in_memory() -> None:
    click.echo(f"authledger: note: {_db()} is read-only here: the audit index is kept in memory for this "
               "command (--index FILE keeps one in a writable place)", err=True)


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
@_index
@global_options
def who_could_call(api_id: str, stage: str | None, at: str | None, start: str | None, end: str | None,
                   from_export: str | None, index: str | None) -> None:
    """Apps and credentials that could call an API at an instant, or their intervals in a window."""
    from projections.instants import when, with_iso_bounds, with_iso_until

    api_id = _id(api_id, "api")
    t, lo, hi = when(at, start, end)
    q = _queries(from_export, index)
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
@_index
@global_options
def access(app_id: str | None, app_key: str | None, at: str | None, start: str | None, end: str | None,
           from_export: str | None, index: str | None) -> None:
    """What an app (or one AppKey) could call, at an instant or over a window."""
    from projections.instants import when, with_iso_bounds, with_iso_until

    if (app_id is None) == (app_key is None):
        raise InvalidInput("give exactly one of --app or --app-key", field="app_id")
    if app_id is not None:
        app_id = _id(app_id, "app")
    t, lo, hi = when(at, start, end)
    q = _queries(from_export, index)
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
@_index
@global_options
def history(app_id: str | None, api_id: str | None, app_key: str | None, from_export: str | None,
            index: str | None) -> None:
    """The events of an app, an API or an AppKey, in order (secrets never shown)."""
    if sum(x is not None for x in (app_id, api_id, app_key)) != 1:
        raise InvalidInput("give exactly one of --app, --api or --app-key", field="app_id")
    app_id = _id(app_id, "app") if app_id else None
    api_id = _id(api_id, "api") if api_id else None
    events = _queries(from_export, index).history(app_id=app_id, api_id=api_id, app_key=app_key)
    emit({"events": events}, lambda d: table(
        [{**e, "fields": e["fields"]} for e in d["events"]],
        [("POS", "position"), ("TIMESTAMP", "timestamp"), ("EVENT", "type"), ("ACTOR", "actor"),
         ("SOURCE", "source"), ("FIELDS", "fields")], empty="(no events)"))


@click.command("replay")
@click.option("--until", "until", required=True, metavar="ISO8601", help="The instant to rebuild the state at.")
@click.option("--app", "app_id", default=None, metavar="APP_ID", help="Only this app.")
@click.option("--api", "api_id", default=None, metavar="API_ID", help="Only grants on this API.")
@_from_export
@_index
@global_options
def replay(until: str, app_id: str | None, api_id: str | None, from_export: str | None, index: str | None) -> None:
    """The full authorization state as of an instant: APIs, apps, masked credentials, grants."""
    from projections.instants import instant

    t = instant(until, "until")
    state = _queries(from_export, index).replay(t, app_id=_id(app_id, "app") if app_id else None,
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
@_index
@global_options
def digest(index: str | None) -> None:
    """The chain head and its position (HEAD@POSITION), recomputed from the log, for auditors to keep elsewhere."""
    from projections.temporal_store import recomputed_digest

    store, log = _open_index(index)
    try:
        d = recomputed_digest(store, log)
    finally:
        store.close()
    emit(d, d["digest"])


@click.command("verify-log")
@click.option("--digest", "digest_", default=None, metavar="HEAD@POSITION", help="A digest kept outside.")
@_index
@global_options
def verify_log(digest_: str | None, index: str | None) -> None:
    """Recompute the hash chain; report the first position where the log no longer matches.

    Exit 0 when the log matched the recorded chain (and the digest), 6 at a mismatch (then
    queries refuse the log), 3 when there was nothing to compare it with (no recorded
    chain, no --digest): not verified."""
    from projections import chain
    from projections.log import open_log
    from projections.temporal_store import check_chain, existing_index

    want = chain.parse_digest(digest_) if digest_ else None
    log = open_log(_db())
    store = existing_index(_db(), index)
    try:
        verdict = check_chain(store, log, by="verify-log", digest=want)
    finally:
        if store is not None:
            store.close()
    if verdict.status == "not_verified":
        raise chain.NotVerified(
            f"not verified: no recorded chain to compare the log with (no audit index has recorded one) "
            f"and no --digest; recomputed {verdict.events} events, digest {verdict.head}: compare it with "
            "one kept outside (--digest), or keep it now (`authledger digest` starts recording)",
            verdict.head or "")
    against = []
    if verdict.checked_recorded:
        against.append(f"{verdict.checked_recorded} against the recorded chain")
    if verdict.checked_digest:
        against.append("the digest")
    text = f"ok: {verdict.events} events verified, head {verdict.head} ({' and '.join(against)})"
    if verdict.unchecked:
        text = (f"ok: {verdict.events - verdict.unchecked} of {verdict.events} events verified "
                f"({' and '.join(against)}), head {verdict.head}; the last {verdict.unchecked} were appended "
                "after the chain was last recorded and are not checked (a query or `digest` records them; "
                "a digest kept outside checks them)")
    emit(verdict.to_dict(), text)


@click.command("rebuild-index")
@click.option("--accept-current-log", "accept", is_flag=True,
              help="Rebuild even though the log does not match its recorded chain: the log as it is "
                   "becomes the new baseline (recorded with --actor and the time).")
@click.option("--actor", default=None, help="Who accepts the current log (required with --accept-current-log).")
@_index
@global_options
def rebuild_index(accept: bool, actor: str | None, index: str | None) -> None:
    """Build the audit index again from the log, in one transaction (queries see the old one until then).

    Refused (exit 6) when the log fails verification against the recorded chain, or a
    mismatch was recorded earlier (verify-log, digest): rebuilding would record the
    tampered log as the truth. --accept-current-log --actor NAME does it anyway, and says
    so in the index, on stderr and in the output."""
    from ledger import rules
    from projections import chain
    from projections.log import open_log
    from projections.temporal_store import existing_index, open_index, where_index

    if accept:
        if actor is None:
            raise InvalidInput("--accept-current-log needs --actor NAME: who accepts the log as it is",
                               field="actor")
        actor = rules.account(actor)
    elif actor is not None:
        raise InvalidInput("--actor goes with --accept-current-log (who accepts the log)", field="actor")
    db = _db()
    log = open_log(db)  # refuses a missing ledger first
    path = where_index(db, index)
    if path == ":memory:":
        raise InvalidInput(f"cannot rebuild the audit index beside {db}: that folder is read-only here; "
                           "give --index FILE", field="index")
    store = existing_index(db, index)  # (an --index not made yet starts as a copy of the ledger's own)
    if store is not None and index is not None and store.path != index:
        store.close()  # a PostgreSQL ledger's own tables: the --index file is built apart from them
        store = None
    if store is None:  # no index yet: the first build's bulk path; nothing recorded to check against
        store, _ = open_index(db, log=log, index=index)
        n, accepted = store.position, None
    else:
        try:
            problem = _rebuild_problem(store, log)
            accepted = None
            if problem is not None:
                if not accept:
                    raise chain.LogMismatch(
                        f"refusing to rebuild the audit index: the log does not match its recorded chain at "
                        f"position {problem['position']} ({problem['why']}); a rebuild would record the log as "
                        "it is now as the truth. Restore the ledger from a good copy, or, if this change is known "
                        "and accepted, run `authledger rebuild-index --accept-current-log --actor NAME`",
                        problem["position"])
                head, pos = store.chain_head()
                accepted = {"accepted_by": actor, "os_user": _os_user(), "accepted_at": _now(),
                            "mismatch": problem, "previous_digest": chain.format_digest(head, pos)}
            n = store.rebuild(log, accepted=accepted)
        except BaseException:
            store.close()
            raise
    head, pos = store.chain_head()
    store.close()
    d = chain.format_digest(head, pos)
    text = f"rebuilt the audit index: {n} events, digest {d}"
    if accepted:
        line = (f"authledger: audit: {accepted['accepted_at']} {accepted['accepted_by']} (os user "
                f"{accepted['os_user']}) accepted the current log as the new baseline: it did not match the "
                f"recorded chain at position {accepted['mismatch']['position']} ({accepted['mismatch']['why']}); "
                f"previous digest {accepted['previous_digest']}, new digest {d}")
        click.echo(line, err=True)
        text += (f"; accepted by {accepted['accepted_by']} at {accepted['accepted_at']} (the log did not match "
                 f"its recorded chain at position {accepted['mismatch']['position']})")
    emit({"events": n, "position": pos, "digest": d, "accepted": accepted}, text)


def _rebuild_problem(store: Any, log: Any) -> dict[str, Any] | None:
    """What stands against a rebuild: a mismatch found now against the recorded chain, or one
    recorded earlier (by verify-log with a digest, say) that no check has cleared since."""
    from projections import chain
    from projections.temporal_store import check_chain

    try:
        check_chain(store, log, by="rebuild-index")
    except chain.LogMismatch:
        pass
    return store.mismatch()


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl")
@click.option("--out", "out", default=None, metavar="FILE", help="Write here (default: stdout).")
@_index
@global_options
def export(fmt: str, out: str | None, index: str | None) -> None:
    """Write the whole history as JSON lines (secrets left out, chain links included)."""
    from projections import export as ex
    from projections.log import open_log
    from projections.temporal_store import existing_index

    log = open_log(_db())
    store = existing_index(_db(), index)
    if store is not None:  # a log that a chain check found tampered with is not exported as history
        try:
            store.refuse_if_broken()
        finally:
            store.close()
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
