"""The auth index: who may call what, answered from memory in a few dict lookups.

A projection of the ledger's log (see ``projections.events``), applied event by event:

- AppKey → app id, and AppKey → plaintext AppSecret (decrypted with the SecretBox when
  one is given; only for pairs of live apps — a deleted app's secrets are dropped).
- AppCode → app id, keyed by the AppCode's keyed hash (``SecretBox.code_hash``); the
  plaintext code never enters the index.
- per app: owner, enabled/deleted, extension, and its grants as
  ``{api_id: {stage: end}}`` with ``end`` in float epoch seconds (``inf`` = never expires).
- per API: its security settings (``ApiSettings``).

``check`` answers app-model.md's "could call at T" with one reason, in this precedence:

    unknown_key > app_deleted > app_disabled > unknown_api > appcode_not_allowed
        > not_authorized | stage_not_authorized > authorization_expired > ok

- ``unknown_key``: no such credential now (never existed, deleted pair, replaced by a
  reset). An old *secret* after a reset is the verifier's matter (signature mismatch).
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
import json
import math
import time
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.crypto import SecretBox, keypair_context
from ledger.errors import LedgerError
from projections.decision import ApiSettings, Decision, Reason
from projections.events import ProjectionError, apply_from, read

_INF = math.inf
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
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the prebuilt decisions after a change of extension or status."""
        a = self.app_id
        self.allowed = Decision(True, Reason.OK, a, self.extension)
        self.expired = Decision(False, Reason.AUTHORIZATION_EXPIRED, a)
        self.not_authorized = Decision(False, Reason.NOT_AUTHORIZED, a)
        self.stage_not_authorized = Decision(False, Reason.STAGE_NOT_AUTHORIZED, a)
        self.unknown_api = Decision(False, Reason.UNKNOWN_API, a)
        self.appcode_not_allowed = Decision(False, Reason.APPCODE_NOT_ALLOWED, a)
        if self.deleted:
            self.blocked: Decision | None = Decision(False, Reason.APP_DELETED, a)
        elif not self.enabled:
            self.blocked = Decision(False, Reason.APP_DISABLED, a)
        else:
            self.blocked = None


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
        self._handlers = {
            "authledger:ApiRegistered": self._api_registered,
            "authledger:AppCreated": self._app_created,
            "authledger:AppModified": self._app_modified,
            "authledger:AppDisabled": self._app_disabled,
            "authledger:AppEnabled": self._app_enabled,
            "authledger:AppDeleted": self._app_deleted,
            "authledger:KeyPairAdded": self._key_pair_added,
            "authledger:KeyPairDeleted": self._key_pair_deleted,
            "authledger:KeyPairReset": self._key_pair_reset,
            "authledger:AppCodeAdded": self._app_code_added,
            "authledger:AppCodeDeleted": self._app_code_deleted,
            "authledger:AppCodeReset": self._app_code_reset,
            "authledger:GrantGiven": self._grant_set,
            "authledger:GrantEndChanged": self._grant_set,
            "authledger:GrantRevoked": self._grant_revoked,
            "authledger:AppKeyClaimed": _ignore,
            "authledger:AppCodeClaimed": _ignore,
            # Admin API bearer tokens (ledger.tokens): not gateway credentials.
            "authledger:TokenIssued": _ignore,
            "authledger:TokenRevoked": _ignore,
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
            apply_from(ledger.recorder, index, until=until_position)
            return index
        limit = epoch(until_time)
        for position, topic, originator_id, state in read(ledger.recorder, 0, until_position):
            stamp = state.get("timestamp")
            if not isinstance(stamp, (datetime, float)):
                raise ProjectionError(position, topic, "event has no timestamp")
            if epoch(stamp) <= limit:
                index.apply(position, topic, originator_id, state)
            else:
                index.position = position
        return index

    def apply(self, position: int, topic: str, originator_id: UUID | str, state: dict[str, Any]) -> None:
        """Apply one decoded event (its stored state) at its ledger position."""
        handler = self._handlers.get(topic)
        if handler is None:
            raise ProjectionError(position, topic, "unknown event topic")
        try:
            handler(originator_id if type(originator_id) is str else str(originator_id), state)
        except ProjectionError:
            raise
        except LedgerError as e:  # e.g. a secret that does not open with this key
            raise ProjectionError(position, topic, e.message) from None
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ProjectionError(position, topic, f"malformed state ({type(e).__name__}: {e})") from None
        self.position = position

    # -- event handlers -----------------------------------------------------------------

    def _app(self, app_id: str) -> _App:
        app = self._apps.get(app_id)
        if app is None:
            raise ValueError(f"event for unknown app {app_id}")
        return app

    def _api_registered(self, api_id: str, s: dict[str, Any]) -> None:
        self._apis[api_id] = ApiSettings(
            api_id=api_id,
            owner=s["owner"],
            auth_type=s["auth_type"],
            appcode_mode=s["appcode_mode"],
            signature_methods=tuple(s["signature_methods"]),
            nonce_required=bool(s["nonce_required"]),
            http_method=s["http_method"],
            path_pattern=s["path_pattern"],
        )

    def _app_created(self, app_id: str, s: dict[str, Any]) -> None:
        self._apps[app_id] = _App(app_id, s["owner"], s["extension"])

    def _app_modified(self, app_id: str, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        app.extension = s["extension"]
        app.refresh()

    def _app_disabled(self, app_id: str, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        app.enabled = False
        app.refresh()

    def _app_enabled(self, app_id: str, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        app.enabled = True
        app.refresh()

    def _app_deleted(self, app_id: str, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        app.deleted = True
        app.refresh()
        for key in app.keys:  # credentials stay (→ app_deleted); secrets go
            self._secrets.pop(key, None)

    def _add_key(self, app: _App, app_key: str, sealed: bytes) -> None:
        self._keys[app_key] = app
        app.keys.add(app_key)
        if self._box is not None and not app.deleted:
            self._secrets[app_key] = (app.app_id, self._box.open(sealed, keypair_context(app.app_id)))

    def _drop_key(self, app: _App, app_key: str) -> None:
        if self._keys.get(app_key) is app:
            del self._keys[app_key]
        self._secrets.pop(app_key, None)
        app.keys.discard(app_key)

    def _key_pair_added(self, app_id: str, s: dict[str, Any]) -> None:
        self._add_key(self._app(app_id), s["app_key"], s["secret_sealed"])

    def _key_pair_deleted(self, app_id: str, s: dict[str, Any]) -> None:
        self._drop_key(self._app(app_id), s["app_key"])

    def _key_pair_reset(self, app_id: str, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        self._drop_key(app, s["app_key"])
        self._add_key(app, s["new_app_key"], s["secret_sealed"])

    def _app_code_added(self, app_id: str, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        self._codes[s["code_hash"]] = app
        app.codes.add(s["code_hash"])

    def _drop_code(self, app: _App, code_hash: str) -> None:
        if self._codes.get(code_hash) is app:
            del self._codes[code_hash]
        app.codes.discard(code_hash)

    def _app_code_deleted(self, app_id: str, s: dict[str, Any]) -> None:
        self._drop_code(self._app(app_id), s["code_hash"])

    def _app_code_reset(self, app_id: str, s: dict[str, Any]) -> None:
        app = self._app(app_id)
        self._drop_code(app, s["code_hash"])
        self._codes[s["new_code_hash"]] = app
        app.codes.add(s["new_code_hash"])

    def _grant_set(self, app_id: str, s: dict[str, Any]) -> None:
        # Most of a long log is grants given and renewed: kept lean on purpose.
        until = s["until"]
        end = _INF if until is None else until.timestamp() if type(until) is datetime else epoch(until)
        app = self._apps.get(app_id)
        if app is None:
            raise ValueError(f"event for unknown app {app_id}")
        stages = app.grants.get(s["api_id"])
        if stages is None:
            stages = app.grants[s["api_id"]] = {}
        stages[s["stage"]] = end

    def _grant_revoked(self, app_id: str, s: dict[str, Any]) -> None:
        grants = self._app(app_id).grants
        stages = grants.get(s["api_id"])
        if stages is not None:
            stages.pop(s["stage"], None)
            if not stages:
                del grants[s["api_id"]]

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
        """May this credential call the API in the stage at ``at`` (None: now)?"""
        # The hot path (an AppKey) is written out inline: every call and lookup counts.
        if kind == "app_key":
            app = self._keys.get(credential)
            if app is None:
                return _UNKNOWN_KEY
        else:
            app = self._app_for_code_kind(credential, kind)
            if app is None:
                return _UNKNOWN_KEY
            if app.blocked is not None:
                return app.blocked
            api = self._apis.get(api_id)
            if api is None:
                return app.unknown_api
            if api.appcode_mode == "DISABLE":
                return app.appcode_not_allowed
        if app.blocked is not None:
            return app.blocked
        stages = app.grants.get(api_id)
        if stages is None:
            return app.not_authorized if api_id in self._apis else app.unknown_api
        end = stages.get(stage)
        if end is None:
            return app.stage_not_authorized
        if type(at) is not float:
            at = epoch(at)
        return app.allowed if at < end else app.expired  # type: ignore[operator]

    def _app_for_code_kind(self, credential: str, kind: str) -> _App | None:
        if kind == "app_code_hash":
            return self._codes.get(credential)
        if kind == "app_code":
            return None if self._box is None else self._codes.get(self._box.code_hash(credential))
        raise ValueError(f"unknown credential kind {kind!r}")

    def check_app(self, app_id: str, api_id: str, stage: str, at: float) -> Decision:
        """The verifier's question, once it has authenticated the app (``at`` epoch seconds)."""
        app = self._apps.get(app_id)
        if app is None:
            return _UNKNOWN_KEY
        if app.blocked is not None:
            return app.blocked
        stages = app.grants.get(api_id)
        if stages is None:
            return app.not_authorized if api_id in self._apis else app.unknown_api
        end = stages.get(stage)
        if end is None:
            return app.stage_not_authorized
        if type(at) is not float:
            at = epoch(at)
        return app.allowed if at < end else app.expired

    # -- AuthIndexView (gateway.verifier) -----------------------------------------------

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
        return {
            "apis": {
                a: {
                    "owner": s.owner, "auth_type": s.auth_type, "appcode_mode": s.appcode_mode,
                    "signature_methods": list(s.signature_methods), "nonce_required": s.nonce_required,
                    "http_method": s.http_method, "path_pattern": s.path_pattern,
                }
                for a, s in self._apis.items()
            },
            "apps": apps,
            "key_app": {k: a.app_id for k, a in self._keys.items()},
            "secrets": {k: list(v) for k, v in self._secrets.items()},
            "code_app": {h: a.app_id for h, a in self._codes.items()},
        }

    def digest(self) -> str:
        """sha256 over a canonical serialisation of the whole index (not of its position)."""
        text = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()


def _ignore(_originator_id: str, _state: dict[str, Any]) -> None:
    """Claims only enforce uniqueness in the ledger; the index learns keys from app events."""
