"""Admin API handlers that answer questions: the gateway's (check, verify a request) and the
auditor's (who could call, access, history, replay, digest) — the same answers as the CLI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from ledger.errors import Busy, InvalidInput, NotFound, NotPermitted
from ledger.isotime import iso
from authledger.service.operations import Call, _now, _one

# -- gateway queries --------------------------------------------------------------------


def _instant(value: Any) -> float:
    if value is None:
        return _now().timestamp()
    from ledger import rules

    return rules.aware_instant(value, "at").timestamp()


_PAST_REPLAY = threading.Lock()  # one replay-to-an-instant at a time per server


def _index_at(c: Call, at: float, asked: bool) -> Any:
    """The index that answers at ``at``: the live one for now and later; for a past instant
    the ledger as it stood then (``AuthIndex.build(until_time=)``, issue 17.3).

    A past instant replays the whole log, so any token holder could keep a core (and the GIL
    /authz shares) busy: one such replay runs at a time, and a second one asked meanwhile
    gets 503 ``busy`` at once instead of queueing."""
    if not asked or at >= _now().timestamp():
        return c.service.index
    from projections.auth_index import AuthIndex

    if not _PAST_REPLAY.acquire(blocking=False):
        raise Busy("another question about a past instant is being answered; retry shortly")
    try:
        return AuthIndex.build(c.ledger, until_time=datetime.fromtimestamp(at, UTC))
    finally:
        _PAST_REPLAY.release()


def _api_owner(c: Call, api_id: str) -> str | None:
    try:
        return str(c.ledger.get_api(api_id).owner)
    except (NotFound, InvalidInput):  # unknown or not an id: nobody's
        return None


_PROBE = ("{what} answers about your own APIs and your own credentials only "
          "(auditors and admins: any)")


def _may_probe(c: Call, what: str, api_id: str, app_key: Any, app_code: Any) -> tuple[bool, bool]:
    """(the caller owns the credential, the caller owns the API); NotPermitted when neither
    (and the caller does not read every account). One answer whether the credential or the
    API exists or not: probing another tenant's credentials learns nothing (issue 14.3)."""
    from authledger.service.permissions import credential_owner

    mine_cred = credential_owner(c.ledger, app_key, app_code) == c.actor
    mine_api = _api_owner(c, api_id) == c.actor
    if not (mine_cred or mine_api or c.sees_all):
        raise NotPermitted(_PROBE.format(what=what), field="api_id")
    return mine_cred or c.sees_all, mine_api


def check(c: Call) -> dict[str, Any]:
    """The gateway's question for one credential. Owners ask about their own credentials
    (on any API) or about any credential on their own APIs; for a credential not theirs,
    the API owner learns only what the API's list of authorized apps shows: allowed with
    the app's id, or denied — one denial, whatever the credential is or whether it exists
    — and never the app's owner-only extension."""
    from ledger import rules

    b = c.body
    if (b.get("app_key") is None) == (b.get("app_code") is None):
        raise InvalidInput("give exactly one of app_key or app_code", field="app_key")
    stage = rules.stage(b.get("stage", "RELEASE"))
    api_id = b["api_id"]
    at = _instant(b.get("at"))
    mine_cred, _mine_api = _may_probe(c, "check", api_id, b.get("app_key"), b.get("app_code"))
    index = _index_at(c, at, b.get("at") is not None)
    if b.get("app_key") is not None:
        decision = index.check(b["app_key"], api_id, stage, at)
    else:
        decision = index.check(c.ledger.box.code_hash(b["app_code"]), api_id, stage, at, kind="app_code_hash")
    data = decision.to_dict()
    if not mine_cred:  # the API's owner, about someone else's credential (or none at all)
        data.update(extension=None)
        if not data["allowed"]:
            data.update(reason="not_authorized", app_id=None)
    data.update(api_id=api_id, stage=stage, at=iso(datetime.fromtimestamp(at, UTC)),
                position=index.position)
    return data


def verify_request(c: Call) -> dict[str, Any]:
    """Verify a raw HTTP/1.1 request as the gateway would (its own nonce store: nothing burnt)."""
    from authledger.gateway.verifier import Verifier
    from authledger.gateway.raw_request import verify_raw_request

    from authledger.service.permissions import request_credential

    b = c.body
    # Owners verify as the gateway would now: the server's signature window, an instant
    # within it of now. Auditors and admins may replay any instant with up to a year's window.
    normal = float(getattr(c.service, "window", 900))
    widest = 86400 * 366 if c.sees_all else normal
    window = b.get("window", normal)
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 <= window <= widest:
        raise InvalidInput(f"window must be a number of seconds from 0 to {widest:g}"
                           + ("" if c.sees_all else " (the server's signature window)"), field="window")
    raw = b["request"].encode("utf-8", "surrogatepass")
    at = _instant(b.get("at"))
    if not c.sees_all and abs(at - _now().timestamp()) > normal:
        raise InvalidInput(f"at must be within {normal:g} s of now (auditors and admins may ask about any "
                           "instant)", field="at")
    cred = request_credential(b["request"]) or (None, None)
    mine_cred, _mine_api = _may_probe(c, "verify-request", b["api_id"], *cred)
    index = _index_at(c, at, b.get("at") is not None)
    data = verify_raw_request(Verifier(index, window_seconds=window, clock=lambda: at), raw, b["api_id"])
    if not mine_cred and not data["accepted"]:
        # The API's owner, about a refused request with someone else's credential: the
        # gateway's answer (status, message), not whose app the credential is.
        data.update(app_id=None, system_parameters={})
    data["position"] = index.position
    return data


# -- audit queries (projections.temporal*, the same answers as `authledger who-could-call` ...) --


@contextmanager
def _audit(c: Call) -> Iterator[Any]:
    """Audit queries over the server's ledger: its temporal index, caught up, closed after
    the request. On PostgreSQL the log is read through the server's own recorder (its pool),
    not a connection of its own per request."""
    from ledger.store import is_url
    from projections.log import log_for
    from projections.temporal_queries import AuditQueries, LedgerEvents
    from projections.temporal_store import open_index

    if c.service.db_path is None:
        raise NotFound("audit queries need a ledger file or database (this server's ledger is in memory)",
                       field="db")
    reader = log_for(c.ledger) if is_url(c.service.db_path) else None
    store, log = open_index(c.service.db_path, log=reader)
    try:
        yield AuditQueries(store, LedgerEvents(log))
    finally:
        store.close()
        log.close()  # a PostgreSQL reader borrows the server's pool: closing it leaves the pool open


def _owned_api(c: Call, api_id: str) -> str:
    api = c.ledger.get_api(api_id)
    if api.owner != c.actor and not c.sees_all:
        raise NotPermitted(f"only the owner of API {api.id} may audit it", field="actor")
    return str(api.id)


def _owned_app(c: Call, app_id: str) -> str:
    app = c.ledger.get_app(app_id)
    if app.owner != c.actor and not c.sees_all:
        raise NotPermitted(f"only the owner of app {app.id} may audit it", field="actor")
    return str(app.id)


def _owned_key(c: Call, app_key: str) -> str:
    from ledger import rules

    from ledger.errors import KeyPairNotFound

    rules.app_key(app_key)
    app = c.ledger.get_app(c.ledger.app_id_for_key(app_key))
    if app.owner != c.actor and not c.sees_all:  # as for an unknown AppKey: no oracle (issue 14.3)
        raise KeyPairNotFound(app_key)
    return str(app.id)


def who_could_call(c: Call) -> dict[str, Any]:
    from ledger import rules
    from projections.instants import when, with_iso_bounds, with_iso_until

    api_id = _owned_api(c, _one(c, "api_id") or "")
    stage = _one(c, "stage")
    if stage is not None:
        rules.stage(stage)
    t, lo, hi = when(_one(c, "at"), _one(c, "from"), _one(c, "to"))
    with _audit(c) as q:
        group = q.api_group(api_id)  # the API group the API is routed in (id and name)
        if t is not None:
            return {"api_id": api_id, **group, "stage": stage, "at": iso(t),
                    "could_call": with_iso_until(q.who_could_call_at(api_id, t, stage))}
        rows = with_iso_bounds(q.who_could_call_between(api_id, lo, hi, stage))
    return {"api_id": api_id, **group, "stage": stage, "from": iso(lo), "to": iso(hi), "intervals": rows}


def access(c: Call) -> dict[str, Any]:
    from projections.instants import when, with_iso_bounds, with_iso_until

    app_id, app_key = _one(c, "app_id"), _one(c, "app_key")
    if (app_id is None) == (app_key is None):
        raise InvalidInput("give exactly one of app_id or app_key", field="app_id")
    app_id = _owned_app(c, app_id) if app_id is not None else _owned_key(c, app_key or "")
    t, lo, hi = when(_one(c, "at"), _one(c, "from"), _one(c, "to"))
    with _audit(c) as q:
        if t is not None:
            return {"app_id": app_id, "app_key": app_key, "at": iso(t),
                    "could_call": with_iso_until(q.access_at(app_id, t, app_key))}
        rows = with_iso_bounds(q.access_between(app_id, lo, hi, app_key))
    return {"app_id": app_id, "app_key": app_key, "from": iso(lo), "to": iso(hi), "intervals": rows}


def history(c: Call) -> dict[str, Any]:
    app_id, api_id, app_key = _one(c, "app_id"), _one(c, "api_id"), _one(c, "app_key")
    if sum(x is not None for x in (app_id, api_id, app_key)) != 1:
        raise InvalidInput("give exactly one of app_id, api_id or app_key", field="app_id")
    if app_id is not None:
        app_id = _owned_app(c, app_id)
    elif api_id is not None:
        api_id = _owned_api(c, api_id)
    else:
        _owned_key(c, app_key or "")
    with _audit(c) as q:
        return {"events": q.history(app_id=app_id, api_id=api_id, app_key=app_key)}


def replay(c: Call) -> dict[str, Any]:
    from projections.instants import instant

    app_id, api_id = _one(c, "app_id"), _one(c, "api_id")
    if app_id is None and api_id is None and not c.sees_all:
        raise InvalidInput("give app_id or api_id (one you own): the whole ledger is not any one account's",
                           field="app_id")
    app_id = _owned_app(c, app_id) if app_id is not None else None
    api_id = _owned_api(c, api_id) if api_id is not None else None
    until = _one(c, "until")
    if until is None:
        raise InvalidInput("until is required", field="until")
    with _audit(c) as q:
        return q.replay(instant(until, "until"), app_id=app_id, api_id=api_id)


_RECOMPUTE = threading.Lock()  # one digest recomputed from the whole log at a time per server


def audit_digest(c: Call) -> dict[str, Any]:
    """The chain head recomputed from the log (not the recorded one), as `authledger digest`:
    it reads the whole log, so one at a time; another asked meanwhile gets 503 ``busy``."""
    from projections.temporal_store import recomputed_digest

    with _audit(c) as q:
        if not _RECOMPUTE.acquire(blocking=False):
            raise Busy("another digest is being recomputed from the log; retry shortly")
        try:
            return recomputed_digest(q.store, q.events.log)
        finally:
            _RECOMPUTE.release()


def audit_tokens(c: Call) -> dict[str, Any]:
    """Who could administer what at an instant: the tokens live then (ledger.tokens.tokens_at).
    Owners see their own account's; auditors and admins every account's, or one."""
    from ledger import rules
    from ledger.tokens import tokens_at

    at, account = _one(c, "at"), _one(c, "account")
    t = _now() if at is None else rules.aware_instant(at, "at")
    if account is not None:
        rules.account(account, "account")
    if not c.sees_all:
        if account is not None and account != c.actor:
            raise NotPermitted("owners see their own account's tokens only", field="account")
        account = c.actor
    rows = tokens_at(c.ledger, t, account)
    return {"at": iso(t), "account": account, "tokens": rows, "count": len(rows)}
