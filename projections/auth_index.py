"""The auth index: who may call what, answered from memory in a few dict lookups.

A projection of the ledger's log (see ``projections.events``), applied event by event:
each event is translated into index changes (``projections.changes``) which
``apply_change`` applies — gateways fed over Redis apply the same changes (``projections.wire``).

- AppKey → app id, and AppKey → plaintext AppSecret (decrypted with the SecretBox when
  one is given; only for pairs of live apps — a deleted app's secrets are dropped).
- AppCode → app id, keyed by the AppCode's keyed hash (``SecretBox.code_hash``); the
  plaintext code never enters the index.
- per app: owner, enabled/deleted, extension, and its grants as
  ``{api_id: {stage: end}}`` with ``end`` in float epoch seconds (``inf`` = never expires).
- per API: its security settings (``ApiSettings``), replaced whole when the API is
  modified. A deleted API leaves the index with every grant on it (``api_removed``): its
  checks answer ``unknown_api``, and a grant on it that a racing writer saved after the
  deletion grants nothing (the index remembers deleted API ids).
- per API: its security settings (``ApiSettings``), with its API group (``group_id``; the
  owner's default group when its event names none).
- per created API group: owner and name; per bound host (normal form): its group
  (``hosts()``, what ``authledger.service.authz.Router`` routes by).

``check`` answers docs/app-model.md's "could call at T" with one reason, in this precedence:

    unknown_key > app_deleted > app_disabled > unknown_api > appcode_not_allowed
        > not_authorized | stage_not_authorized > authorization_expired > ok

- ``unknown_key``: no such credential now (never existed, deleted pair, replaced by a
  reset; for ``kind="app_id"``, no such app). An old *secret* after a reset is the
  verifier's matter (signature mismatch).
- Deleted apps keep their AppKeys and AppCodes in the index (not their secrets), so a
  deleted app's credential answers ``app_deleted`` rather than ``unknown_key``.
- ``appcode_not_allowed`` applies only to AppCode checks on an API whose AppCode mode is
  ``DISABLE``.
- ``not_authorized``: no grant for this API in any stage; ``stage_not_authorized``: a
  grant for this API exists, in another stage.
- ``authorization_expired``: the grant exists and ``at >= end``. Expiry has no event: it
  is evaluated against ``at`` at check time (``at=None`` → the clock now).

Decisions are immutable and prebuilt per app, so ``check`` allocates nothing on the hot
path. Events are applied by one writer (the follower thread); readers see each dict
update atomically (GIL). An unknown topic or a state missing a field raises
``ProjectionError`` (a newer writer's event could change authorization: refuse, never guess).
``build(until_time=T)`` applies the events stamped at or before T (writer clocks), so it
answers "as the ledger stood at T"; the position still advances over later events.

``digest()`` covers the decrypted secrets (a change of secret must change it): it is a
convergence check between replicas, not a value to publish.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import datetime
from dataclasses import replace
from typing import Any
from uuid import UUID

from ledger.crypto import SecretBox, keypair_context
from ledger.errors import LedgerError
from ledger.rules import default_group_id
from ledger.transcoder import unpack
from projections.changes import APP_FIELDS, TRANSLATORS, Change
from projections.decision import ApiSettings, Decision, Reason
from projections.events import ProjectionError, read, replay_from
from projections.log import log_for

_INF = math.inf
_GRANT_TOPICS = frozenset(("authledger:GrantGiven", "authledger:GrantEndChanged"))


def _shared(name: Any) -> Any:
    """One str object per API id / stage name across all grants (sys.intern), not one per event.

    A grant's keys are what each check compares against: 50,000 grants then touch ~1,000
    API-id strings and 3 stage strings instead of 100,000 copies (fewer cache misses on a
    check over many apps, less memory). Only exact str: equality, hence answers, unchanged.
    """
    return sys.intern(name) if type(name) is str else name
_UNKNOWN_KEY = Decision(False, Reason.UNKNOWN_KEY)


def epoch(at: datetime | float | None) -> float:
    """An instant as float epoch seconds (None → now)."""
    if at is None:
        return time.time()
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("naive datetime: give a timezone-aware instant")
        return at.timestamp()
    return float(at)


class _App:
    """One app as the index sees it, with its decisions prebuilt."""

    __slots__ = (
        "allowed",
        "app_id",
        "appcode_not_allowed",
        "blocked",
        "codes",
        "deleted",
        "enabled",
        "expired",
        "extension",
        "grants",
        "keys",
        "not_authorized",
        "owner",
        "stage_not_authorized",
        "unknown_api",
    )

    def __init__(self, app_id: str, owner: str, extension: str) -> None:
        self.app_id = app_id
        self.owner = owner
        self.extension = extension
        self.enabled = True
        self.deleted = False
        self.keys: set[str] = set()
        self.codes: set[str] = set()
        self.grants: dict[str, dict[str, float]] = {}
        self.expired: Decision | None = None  # denials: built by deny() on first use
        self.not_authorized: Decision | None = None
        self.stage_not_authorized: Decision | None = None
        self.unknown_api: Decision | None = None
        self.appcode_not_allowed: Decision | None = None
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the prebuilt decisions after a change of extension or status."""
        a = self.app_id
        self.allowed = Decision(True, Reason.OK, a, self.extension)
        if self.deleted:
            self.blocked: Decision | None = Decision(False, Reason.APP_DELETED, a)
        elif not self.enabled:
            self.blocked = Decision(False, Reason.APP_DISABLED, a)
        else:
            self.blocked = None

    def deny(self, name: str) -> Decision:
        """A denial that depends on the app id only, built on first use and kept in its slot.

        ``check`` reads ``app.<denial> or app.deny("<denial>")``: one truth test on a denial
        path, nothing on the allowed path, and ~5 fewer objects per app (a 100,000-app
        gateway bootstrap builds none of them). A ``__getattr__`` would do the same but
        slow every attribute read of the class (no LOAD_ATTR_SLOT specialisation).
        """
        decision = Decision(False, _LAZY_DENIALS[name], self.app_id)
        setattr(self, name, decision)
        return decision


_LAZY_DENIALS = {
    "expired": Reason.AUTHORIZATION_EXPIRED,
    "not_authorized": Reason.NOT_AUTHORIZED,
    "stage_not_authorized": Reason.STAGE_NOT_AUTHORIZED,
    "unknown_api": Reason.UNKNOWN_API,
    "appcode_not_allowed": Reason.APPCODE_NOT_ALLOWED,
}


_API_VERSIONS = itertools.count(1)

class AuthIndex:
    """In-memory answers to "may this credential call this API in this stage at T?"."""

    def __init__(self, box: SecretBox | None) -> None:
        self._box = box
        self.position = 0
        self._keys: dict[str, _App] = {}  # AppKey -> app
        self._secrets: dict[str, tuple[str, str]] = {}  # AppKey -> (app id, AppSecret), live apps only
        self._codes: dict[str, _App] = {}  # AppCode keyed hash -> app
        self._apps: dict[str, _App] = {}
        self._apis: dict[str, ApiSettings] = {}
        self._deleted_apis: set[str] = set()  # grants on these grant nothing (api_removed)
        self._groups: dict[str, tuple[str, str]] = {}  # created API group id -> (owner, name)
        self._hosts: dict[str, str] = {}  # normal host name -> group id
        # Changes whenever an API's settings do, unique across every index in the process (a
        # gateway swaps indexes on bootstrap): the router rebuilds its table only then, not
        # on every grant or key event.
        self.api_version = next(_API_VERSIONS)
        self._sealed: dict[str, bytes] = {}  # AppKey -> sealed AppSecret (for snapshots: changes())
        # One handler per kind of index change (projections.changes); events are translated first.
        self._change_handlers: dict[str, Callable[[Sequence[Any]], None]] = {
            "api_set": self._api_set,
            "api_removed": self._api_removed,
            "app_set": self._app_set,
            "key_set": self._key_set,
            "key_removed": self._key_removed,
            "code_set": self._code_set,
            "code_removed": self._code_removed,
            "grant_set": self._grant_set,
            "grant_removed": self._grant_removed,
            "api_group": self._api_group,
            "group_set": self._group_set,
            "host_set": self._host_set,
            "host_removed": self._host_removed,
        }

    def __repr__(self) -> str:
        return f"AuthIndex(position={self.position}, apps={len(self._apps)}, apis={len(self._apis)})"

    # -- building -----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        ledger: Any,
        *,
        until_position: int | None = None,
        until_time: datetime | None = None,
    ) -> AuthIndex:
        """Replay the ledger's log (up to a position, or events stamped at or before a time)."""
        index = cls(ledger.box)
        if until_time is None:
            with closing(log_for(ledger)) as log:
                replay_from(log, index, index._replay_rows, until=until_position)
            return index
        limit = epoch(until_time)
        with closing(log_for(ledger)) as log:
            for position, topic, originator_id, state in read(log, 0, until_position):
                stamp = state.get("timestamp")
                if not isinstance(stamp, (datetime, float)):
                    raise ProjectionError(position, topic, "event has no timestamp")
                if epoch(stamp) <= limit:
                    index.apply(position, topic, originator_id, state)
                else:
                    index.position = position
        return index

    def apply(self, position: int, topic: str, originator_id: UUID | str, state: dict[str, Any]) -> list[Change]:
        """Apply one decoded event (its stored state) at its ledger position: translate + apply_change.

        Returns the index changes it applied, in order (``[]`` for events the index ignores):
        the Redis publisher (authledger.distribution.publisher) sends exactly these, so the
        gateways' copies apply what this index applied. Any failure raises ProjectionError
        naming the position (an event half applied: the projection stops)."""
        translator = TRANSLATORS.get(topic)
        if translator is None:
            raise ProjectionError(position, topic, "unknown event topic")
        handlers = self._change_handlers
        try:
            changes = translator(originator_id if type(originator_id) is str else str(originator_id), state)
            for change in changes:
                handlers[change[0]](change)
        except ProjectionError:
            raise
        except LedgerError as e:  # e.g. a secret that does not open with this key
            raise ProjectionError(position, topic, e.message) from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise ProjectionError(position, topic, f"malformed state ({type(e).__name__}: {e})") from None
        self.position = position
        return changes

    def _replay_rows(self, rows: Sequence[Any], ids: dict[Any, str]) -> None:
        """Apply a page of raw rows (projections.events.replay_from): the bulk replay of ``build``.

        The same as decoding each row like ``events.apply_from`` and calling ``apply``, but
        grants given/renewed (most of a long log) are applied here directly, without the
        change-tuple indirection (translator → list of tuples → handler): the body below is
        ``changes._grant_set`` + ``_grant_set`` inlined. Anything it does not expect (a
        missing field, an unknown app, an ``until`` that is not None or a datetime, an
        unhashable id) goes to ``apply``, which raises exactly what the reference raises.
        tests/projections/test_replay.py proves both ways build the same index.
        """
        apps, grant_topics, apply = self._apps, _GRANT_TOPICS, self.apply
        for position, originator_id, _version, topic, data in rows:
            try:
                state = unpack(data)
            except Exception as e:  # noqa: BLE001 - see events.decode()
                raise ProjectionError(position, topic, f"undecodable state ({type(e).__name__})") from None
            if type(state) is not dict:
                raise ProjectionError(position, topic, "stored state is not a map")
            app_id = ids[originator_id]
            if topic in grant_topics:
                app = apps.get(app_id)
                until = state.get("until", _INF)  # _INF: missing (a stored None means never)
                if until is None:
                    end = _INF
                elif type(until) is datetime:
                    end = until.timestamp()
                else:
                    app = None
                if app is not None and "api_id" in state and "stage" in state and not (
                        self._deleted_apis and state["api_id"] in self._deleted_apis):
                    try:
                        api_id, stage = state["api_id"], state["stage"]
                        stages = app.grants.get(api_id)
                        if stages is None:
                            hash(stage)  # change nothing before the reference path takes over
                            stages = app.grants[_shared(api_id)] = {}
                        if stage in stages:
                            stages[stage] = end
                        else:
                            stages[_shared(stage)] = end
                    except TypeError:  # an unhashable id: the reference path raises the error
                        pass
                    else:
                        self.position = position
                        continue
            apply(position, topic, app_id, state)

    def apply_change(self, change: Sequence[Any]) -> None:
        """Apply one index change (projections.changes); raises KeyError/ValueError/TypeError if malformed."""
        handler = self._change_handlers.get(change[0]) if change else None
        if handler is None:
            raise ValueError(f"unknown index change {change[0] if change else None!r}")
        handler(change)

    # -- index changes (projections.changes) ----------------------------------------------

    def _app(self, app_id: str) -> _App:
        app = self._apps.get(app_id)
        if app is None:
            raise ValueError(f"change for unknown app {app_id}")
        return app

    def _api_set(self, c: Sequence[Any]) -> None:
        _kind, api_id, owner, auth_type, appcode_mode, methods, nonce_required, http_method, path_pattern = c
        if not isinstance(methods, (list, tuple)):
            raise TypeError("signature_methods must be a list")
        # The same str object as the grants' keys (_shared): the router resolves requests to
        # these ids, so the verifier's check finds its grant by identity, not by comparing text.
        api_id = _shared(api_id)
        before = self._apis.get(api_id)  # settings again (a modification): the group stays
        self._apis[api_id] = ApiSettings(
            api_id=api_id,
            owner=owner,
            auth_type=auth_type,
            appcode_mode=appcode_mode,
            signature_methods=tuple(methods),
            nonce_required=bool(nonce_required),
            http_method=http_method,
            path_pattern=path_pattern,
            group_id=before.group_id if before is not None else default_group_id(owner),
        )
        self.api_version = next(_API_VERSIONS)

    def _api_removed(self, c: Sequence[Any]) -> None:
        _kind, api_id = c
        if not isinstance(api_id, str):
            raise TypeError("api_removed needs a str API id")
        self._apis.pop(api_id, None)
        self._deleted_apis.add(api_id)
        for app in self._apps.values():  # rare (an API deleted): every app's grants on it end
            app.grants.pop(api_id, None)

    def _api_group(self, c: Sequence[Any]) -> None:
        _kind, api_id, group_id = c
        if not isinstance(group_id, str):
            raise TypeError("api_group needs a str group id")
        api = self._apis.get(api_id)
        if api is None:
            raise ValueError(f"api_group for unknown API {api_id}")
        self._apis[api_id] = replace(api, group_id=group_id)
        self.api_version = next(_API_VERSIONS)

    def _group_set(self, c: Sequence[Any]) -> None:
        _kind, group_id, owner, name = c
        if not isinstance(group_id, str) or not isinstance(owner, str) or not isinstance(name, str):
            raise TypeError("group_set needs str group id, owner and name")
        self._groups[group_id] = (owner, name)

    def _host_set(self, c: Sequence[Any]) -> None:
        _kind, host, group_id = c
        if not isinstance(host, str) or group_id not in self._groups:
            raise ValueError(f"host_set for unknown group {group_id}")
        self._hosts[host] = group_id
        self.api_version = next(_API_VERSIONS)  # routing changes: the router rebuilds

    def _host_removed(self, c: Sequence[Any]) -> None:
        _kind, host, group_id = c
        if self._hosts.get(host) == group_id:
            del self._hosts[host]
        self.api_version = next(_API_VERSIONS)

    def _app_set(self, c: Sequence[Any]) -> None:
        _kind, app_id, fields = c
        if not isinstance(fields, dict) or not fields.keys() <= APP_FIELDS:
            raise ValueError("app_set fields must be a map of owner/extension/enabled/deleted")
        app = self._apps.get(app_id)
        if app is None:
            if "owner" not in fields:
                raise ValueError(f"change for unknown app {app_id}")
            app = self._apps[app_id] = _App(app_id, fields["owner"], fields.get("extension", ""))
            if not fields.get("deleted") and fields.get("enabled", True):
                return  # a new live app: its decisions were just built (bootstraps: 100k of these)
        if "owner" in fields:
            app.owner = fields["owner"]
        if "extension" in fields:
            app.extension = fields["extension"]
        if "enabled" in fields:
            app.enabled = bool(fields["enabled"])
        if fields.get("deleted") and not app.deleted:
            app.deleted = True
            for key in app.keys:  # credentials stay (→ app_deleted); secrets go
                self._secrets.pop(key, None)
        app.refresh()

    def _key_set(self, c: Sequence[Any]) -> None:
        _kind, app_key, app_id, sealed = c
        app = self._app(app_id)
        if not isinstance(app_key, str) or not isinstance(sealed, bytes):
            raise TypeError("key_set needs a str AppKey and sealed bytes")
        self._keys[app_key] = app
        app.keys.add(app_key)
        self._sealed[app_key] = sealed
        if self._box is not None and not app.deleted:
            self._secrets[app_key] = (app.app_id, self._box.open(sealed, keypair_context(app.app_id)))

    def _key_removed(self, c: Sequence[Any]) -> None:
        _kind, app_key, app_id = c
        app = self._app(app_id)
        if self._keys.get(app_key) is app:
            del self._keys[app_key]
            self._sealed.pop(app_key, None)
        self._secrets.pop(app_key, None)
        app.keys.discard(app_key)

    def _code_set(self, c: Sequence[Any]) -> None:
        _kind, code_hash, app_id = c
        app = self._app(app_id)
        if not isinstance(code_hash, str):
            raise TypeError("code_set needs a str code hash")
        self._codes[code_hash] = app
        app.codes.add(code_hash)

    def _code_removed(self, c: Sequence[Any]) -> None:
        _kind, code_hash, app_id = c
        app = self._app(app_id)
        if self._codes.get(code_hash) is app:
            del self._codes[code_hash]
        app.codes.discard(code_hash)

    def _grant_set(self, c: Sequence[Any]) -> None:
        # Most of a long log is grants given and renewed: kept lean on purpose.
        _kind, app_id, api_id, stage, end = c
        app = self._apps.get(app_id)
        if app is None:
            raise ValueError(f"change for unknown app {app_id}")
        if self._deleted_apis and api_id in self._deleted_apis:
            return  # saved by a grant racing the API's deletion: it grants nothing
        if type(end) is not float:
            end = _INF if end is None else float(end)
        stages = app.grants.get(api_id)
        if stages is None:
            stages = app.grants[_shared(api_id)] = {}
        if stage in stages:
            stages[stage] = end
        else:
            stages[_shared(stage)] = end

    def _grant_removed(self, c: Sequence[Any]) -> None:
        _kind, app_id, api_id, stage = c
        app = self._app(app_id)
        grants = app.grants
        stages = grants.get(api_id)
        if stages is not None:
            stages.pop(stage, None)
            if not stages:
                del grants[api_id]

    def changes(self) -> Iterator[Change]:
        """The whole index as index changes which, applied to an empty index, rebuild it (snapshots)."""
        for group_id, (owner, name) in self._groups.items():
            yield ("group_set", group_id, owner, name)
        for host, group_id in self._hosts.items():
            yield ("host_set", host, group_id)
        for api_id, s in self._apis.items():
            yield ("api_set", api_id, s.owner, s.auth_type, s.appcode_mode, s.signature_methods,
                   s.nonce_required, s.http_method, s.path_pattern)
            if s.group_id != default_group_id(s.owner):
                yield ("api_group", api_id, s.group_id)
        for api_id in sorted(self._deleted_apis):
            yield ("api_removed", api_id)
        for app_id, app in self._apps.items():
            yield ("app_set", app_id, {"owner": app.owner, "extension": app.extension,
                                       "enabled": app.enabled, "deleted": app.deleted})
        for app_id, app in self._apps.items():
            for key in app.keys:
                sealed = self._sealed.get(key)
                if sealed is not None and self._keys.get(key) is app:
                    yield ("key_set", key, app_id, sealed)
            for code_hash in app.codes:
                yield ("code_set", code_hash, app_id)
            for api_id, stages in app.grants.items():
                for stage, end in stages.items():
                    yield ("grant_set", app_id, api_id, stage, None if end == _INF else end)

    # -- questions ----------------------------------------------------------------------

    def check(
        self,
        credential: str,
        api_id: str,
        stage: str,
        at: datetime | float | None = None,
        *,
        kind: str = "app_key",
    ) -> Decision:
        """May this credential call the API in the stage at ``at`` (None: now)?

        The one decision path, for every caller: ``kind`` says what ``credential`` is —
        ``"app_key"`` (the CLI, the query API), ``"app_id"`` (the verifier, once it has
        authenticated the app by signature or AppCode), ``"app_code_hash"`` or
        ``"app_code"`` (plaintext, hashed with the box). AppCode kinds also answer
        ``unknown_api`` before the grant and ``appcode_not_allowed`` on an API whose AppCode
        mode is ``DISABLE``; an unknown kind raises ValueError.
        """
        # The AppKey and app-id lookups come first and inline: a check is a handful of dict
        # reads and compares, so every call and attribute load counts (scripts/bench/auth_index.py).
        if kind == "app_key":
            app = self._keys.get(credential)
        elif kind == "app_id":
            app = self._apps.get(credential)
        else:
            app = self._app_for_code_kind(credential, kind)
            if app is not None and app.blocked is None:
                api = self._apis.get(api_id)
                if api is None:
                    return app.unknown_api or app.deny("unknown_api")
                if api.appcode_mode == "DISABLE":
                    return app.appcode_not_allowed or app.deny("appcode_not_allowed")
        if app is None:
            return _UNKNOWN_KEY
        if app.blocked is not None:
            return app.blocked
        stages = app.grants.get(api_id)
        if stages is None:
            return (app.not_authorized or app.deny("not_authorized")) if api_id in self._apis else (
                app.unknown_api or app.deny("unknown_api"))
        end = stages.get(stage)
        if end is None:
            return app.stage_not_authorized or app.deny("stage_not_authorized")
        if type(at) is not float:
            at = epoch(at)
        return app.allowed if at < end else (app.expired or app.deny("expired"))  # type: ignore[operator]

    def _app_for_code_kind(self, credential: str, kind: str) -> _App | None:
        if kind == "app_code_hash":
            return self._codes.get(credential)
        if kind == "app_code":
            return None if self._box is None else self._codes.get(self._box.code_hash(credential))
        raise ValueError(f"unknown credential kind {kind!r}")

    # -- AuthIndexView (authledger.gateway.verifier) -----------------------------------------------

    def secret_for(self, app_key: str) -> tuple[str, str] | None:
        """(app id, AppSecret) of a live key pair; None if unknown, deleted, or no box."""
        return self._secrets.get(app_key)

    def app_for_code(self, code: str) -> str | None:
        """The app id of a live AppCode (looked up by its keyed hash), else None."""
        if self._box is None:
            return None
        app = self._codes.get(self._box.code_hash(code))
        if app is None or app.deleted:
            return None
        return app.app_id

    def api_settings(self, api_id: str) -> ApiSettings | None:
        """The API's security settings, else None."""
        return self._apis.get(api_id)

    # -- inspection ---------------------------------------------------------------------

    def credentials(self) -> list[tuple[str, str, str]]:
        """Every credential the index knows: (kind, credential, app id), AppCodes by hash."""
        keys = [("app_key", k, a.app_id) for k, a in self._keys.items()]
        codes = [("app_code_hash", h, a.app_id) for h, a in self._codes.items()]
        return sorted(keys + codes)

    def api_ids(self) -> list[str]:
        return sorted(self._apis)

    def hosts(self) -> dict[str, str]:
        """Bound host (normal form) -> API group id (a copy)."""
        return dict(self._hosts)

    def group(self, group_id: str) -> tuple[str, str] | None:
        """(owner, name) of a created API group, else None (default groups are implicit)."""
        return self._groups.get(group_id)

    def snapshot(self) -> dict[str, Any]:
        """A canonical, JSON-able view of the whole index (secrets included: keep it private)."""
        apps = {}
        for app_id, app in self._apps.items():
            apps[app_id] = {
                "owner": app.owner,
                "extension": app.extension,
                "enabled": app.enabled,
                "deleted": app.deleted,
                "keys": sorted(app.keys),
                "codes": sorted(app.codes),
                "grants": {
                    api: {st: (None if end == _INF else end) for st, end in sorted(stages.items())}
                    for api, stages in sorted(app.grants.items())
                },
            }
        apis = {}
        for a, s in self._apis.items():
            apis[a] = {
                "owner": s.owner, "auth_type": s.auth_type, "appcode_mode": s.appcode_mode,
                "signature_methods": list(s.signature_methods), "nonce_required": s.nonce_required,
                "http_method": s.http_method, "path_pattern": s.path_pattern,
            }
            if s.group_id != default_group_id(s.owner):  # a ledger without groups digests as before
                apis[a]["group_id"] = s.group_id
        groups: dict[str, Any] = {}
        if self._groups or self._hosts:
            groups = {"groups": {g: {"owner": o, "name": n} for g, (o, n) in self._groups.items()},
                      "hosts": dict(self._hosts)}
        return {
            **groups,
            "apis": apis,
            **({"deleted_apis": sorted(self._deleted_apis)} if self._deleted_apis else {}),
            "apps": apps,
            "key_app": {k: a.app_id for k, a in self._keys.items()},
            "secrets": {k: list(v) for k, v in self._secrets.items()},
            "code_app": {h: a.app_id for h, a in self._codes.items()},
        }

    def digest(self) -> str:
        """sha256 over a canonical serialisation of the whole index (not of its position)."""
        text = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()
