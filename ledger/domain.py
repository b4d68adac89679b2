"""The domain model: APIs, apps (with key pairs, AppCodes and grants) and uniqueness claims.

Aggregates hold only what their invariants need. Secrets reach them already sealed
(AES-GCM, see ``ledger.crypto``): the domain never sees a plaintext AppSecret or AppCode.
Every event records who acted and through what (``actor``, ``source``), taken from the
``acting`` context the application sets around each command. Every stored topic is an
explicit, stable name (``authledger:<EventName>``) so renaming code never orphans events.

Grants live inside the App aggregate: the app is the consistency boundary for its
credentials and its authorizations, so a grant racing a delete (or a disable, or a key
reset) is serialised by the app's version and never half-applied.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.errors import (
    ApiNotFound,
    AppCodeNotFound,
    AppIsDeleted,
    DefaultKeyPairUndeletable,
    GrantNotFound,
    KeyPairLimitReached,
    KeyPairNotFound,
)
from ledger import rules
from ledger.rules import MAX_KEY_PAIRS

NAMESPACE = uuid5(NAMESPACE_URL, "https://authledger.invalid/")


@dataclass(frozen=True)
class Acting:
    """Who is acting, through which source, and (tests, imports) at what instant."""

    actor: str
    source: str = "cli"
    at: datetime | None = None


acting: ContextVar[Acting] = ContextVar("authledger_acting", default=Acting("system", "system"))


def _actor() -> str:
    return acting.get().actor


def _source() -> str:
    return acting.get().source


class LedgerEvent(Aggregate.Event):
    """Base of every ledger event: carries the acting account and the source."""

    actor: str = field(default_factory=_actor, init=False)
    source: str = field(default_factory=_source, init=False)

    @staticmethod
    def create_timestamp() -> datetime:
        at = acting.get().at
        return at if at is not None else datetime.now(timezone.utc)


# Each aggregate names its creation event (``@event("AppCreated")`` on ``__init__``), yet
# the library still generates a ``Created`` class per aggregate; left alone it would inherit
# ``Event``'s explicit topic and be registered under it. Every aggregate therefore declares
# its ``Created`` with a topic of its own, so each topic names exactly one class.


def _topic(name: str) -> dict[str, str]:
    return {"topic": f"authledger:{name}"}


class Api(Aggregate):
    """An API registered by its owner account, with its security settings."""

    TOPIC = "authledger:Api"

    class Event(LedgerEvent):
        TOPIC = "authledger:Api.Event"

    class Created(Event, Aggregate.Created):  # never stored (see above)
        TOPIC = "authledger:Api.Created"

    @event("ApiRegistered", **_topic("ApiRegistered"))
    def __init__(
        self,
        owner: str,
        name: str,
        group: str,
        auth_type: str,
        appcode_mode: str,
        signature_methods: tuple[str, ...],
        nonce_required: bool,
        http_method: str | None,
        path_pattern: str | None,
        group_id: str | None = None,
    ) -> None:
        self.owner = owner
        self.name = name
        self.group = group
        self.auth_type = auth_type
        self.appcode_mode = appcode_mode
        self.signature_methods = signature_methods
        self.nonce_required = nonce_required
        self.http_method = http_method
        self.path_pattern = path_pattern
        self.deleted = False
        # The API group (ApiGroup) it belongs to. Absent from events written before groups
        # (and None when registered without one): the owner's default group.
        self.group_id = group_id

    @property
    def effective_group_id(self) -> str:
        """The group the API is routed in: its own, else its owner's default group."""
        return self.group_id or rules.default_group_id(self.owner)

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    SETTINGS = ("name", "group", "auth_type", "appcode_mode", "signature_methods", "nonce_required",
                "http_method", "path_pattern")

    class Modified(Event):
        """The owner changed the API's settings: the event carries all of them as they are now
        (and the owner, which never changes), so a reader needs no earlier event to apply it."""

        TOPIC = "authledger:ApiModified"
        owner: str
        name: str
        group: str
        auth_type: str
        appcode_mode: str
        signature_methods: tuple[str, ...]
        nonce_required: bool
        http_method: str | None
        path_pattern: str | None

        def apply(self, api: Api) -> None:
            for k in Api.SETTINGS:
                setattr(api, k, getattr(self, k))

    class Deleted(Event):
        """The owner deleted the API: every grant on it ends at this instant (docs/app-model.md)."""

        TOPIC = "authledger:ApiDeleted"

        def apply(self, api: Api) -> None:
            api.deleted = True

    def require_live(self) -> None:
        if self.deleted:
            raise ApiNotFound(self.id, deleted=True)

    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in Api.SETTINGS}

    def modify(self, **settings: Any) -> bool:
        """Change the settings given (all of them are recorded); False when nothing changes."""
        self.require_live()
        new = {**self.settings(), **settings}
        if new == self.settings():
            return False
        self.trigger_event(Api.Modified, owner=self.owner, **new)
        return True

    def delete(self) -> None:
        self.require_live()
        self.trigger_event(Api.Deleted)


def default_group_id(owner: str) -> UUID:
    """The id of an account's default API group (ledger.rules.default_group_id)."""
    return UUID(rules.default_group_id(owner))


class ApiGroup(Aggregate):
    """An API group owned by one account, with the host names it is bound to.

    A request whose (forwarded) host is bound to a group is routed only among that group's
    APIs; each host is claimed ledger-wide by a ``HostClaim`` saved with the binding.
    """

    TOPIC = "authledger:ApiGroup"

    class Event(LedgerEvent):
        TOPIC = "authledger:ApiGroup.Event"

    class Created(Event, Aggregate.Created):  # never stored (see above)
        TOPIC = "authledger:ApiGroup.Created"

    @event("ApiGroupCreated", **_topic("ApiGroupCreated"))
    def __init__(self, owner: str, name: str, description: str) -> None:
        self.owner = owner
        self.name = name
        self.description = description
        self.hosts: list[str] = []

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    class HostBound(Event):
        TOPIC = "authledger:HostBound"
        host: str

        def apply(self, group: ApiGroup) -> None:
            group.hosts.append(self.host)

    class HostUnbound(Event):
        TOPIC = "authledger:HostUnbound"
        host: str

        def apply(self, group: ApiGroup) -> None:
            group.hosts.remove(self.host)

    def bind(self, host: str) -> bool:
        if host in self.hosts:
            return False
        self.trigger_event(ApiGroup.HostBound, host=host)
        return True

    def unbind(self, host: str) -> None:
        self.trigger_event(ApiGroup.HostUnbound, host=host)


class HostClaim(Aggregate):
    """Claims a host name for one group while it is bound: its id is uuid5 of the normal host.

    Unlike an AppKey, a host is released when unbound (``HostReleased``) and can be claimed
    again later (``HostReclaimed``): each claim and release is a new version of the same
    aggregate, so two accounts racing for one host meet the store's unique key and one loses.
    """

    TOPIC = "authledger:HostClaim"

    class Event(LedgerEvent):
        TOPIC = "authledger:HostClaim.Event"

    class Created(Event, Aggregate.Created):  # never stored (see above)
        TOPIC = "authledger:HostClaim.Created"

    @event("HostClaimed", **_topic("HostClaimed"))
    def __init__(self, host: str, group_id: str) -> None:
        self.host = host
        self.group_id: str | None = group_id

    @staticmethod
    def create_id(host: str) -> UUID:
        return uuid5(NAMESPACE, "host:" + host)

    class Released(Event):
        TOPIC = "authledger:HostReleased"

        def apply(self, claim: HostClaim) -> None:
            claim.group_id = None

    class Reclaimed(Event):
        TOPIC = "authledger:HostReclaimed"
        group_id: str

        def apply(self, claim: HostClaim) -> None:
            claim.group_id = self.group_id

    def release(self) -> None:
        self.trigger_event(HostClaim.Released)

    def reclaim(self, group_id: str) -> None:
        self.trigger_event(HostClaim.Reclaimed, group_id=group_id)


@dataclass
class KeyPair:
    app_key: str
    secret_sealed: bytes
    is_default: bool
    added_at: datetime
    secret_set_at: datetime


@dataclass
class AppCode:
    code_hash: str
    code_sealed: bytes
    hint: str
    added_at: datetime


@dataclass
class Grant:
    api_id: str
    stage: str
    until: datetime | None
    granted_by: str
    granted_at: datetime
    changed_at: datetime
    description: str | None  # given with the grant (GrantGiven v2); None before it (upcast)


class App(Aggregate):
    """An app: its attributes, key pairs, AppCodes and the grants it holds.

    Its state is snapshotted (``ledger.snapshots``) in a plain form: ``snapshot_state``
    turns the key pairs, AppCodes and grants (keyed by (API, stage)) into lists of dicts,
    ``restore_state`` turns them back. ``class_version`` is the version of that form:
    2 added the grants' ``description`` (``upcast_v1_v2`` reads a version-1 state).
    """

    TOPIC = "authledger:App"
    class_version = 2

    @staticmethod
    def snapshot_state(state: dict[str, Any]) -> dict[str, Any]:
        state["key_pairs"] = [dict(vars(kp)) for kp in state["key_pairs"].values()]
        state["app_codes"] = [dict(vars(c)) for c in state["app_codes"].values()]
        state["grants"] = [dict(vars(g)) for g in state["grants"].values()]
        return state

    @staticmethod
    def restore_state(state: dict[str, Any]) -> None:
        state["key_pairs"] = {kp["app_key"]: KeyPair(**kp) for kp in state["key_pairs"]}
        state["app_codes"] = {c["code_hash"]: AppCode(**c) for c in state["app_codes"]}
        state["grants"] = {(g["api_id"], g["stage"]): Grant(**g) for g in state["grants"]}

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot's state from before grant descriptions: each grant has none."""
        for g in state["grants"]:
            g.setdefault("description", None)

    class Event(LedgerEvent):
        TOPIC = "authledger:App.Event"

    class Created(Event, Aggregate.Created):  # never stored (see above)
        TOPIC = "authledger:App.Created"

    @event("AppCreated", **_topic("AppCreated"))
    def __init__(
        self, owner: str, name: str, description: str, tags: dict[str, str], extension: str
    ) -> None:
        self.owner = owner
        self.name = name
        self.description = description
        self.tags = tags
        self.extension = extension
        self.enabled = True
        self.deleted = False
        self.key_pairs: dict[str, KeyPair] = {}
        self.app_codes: dict[str, AppCode] = {}
        self.grants: dict[tuple[str, str], Grant] = {}

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    # -- events ---------------------------------------------------------------------

    class Modified(Event):
        TOPIC = "authledger:AppModified"
        name: str
        description: str
        tags: dict[str, str]
        extension: str

        def apply(self, app: App) -> None:
            app.name, app.description = self.name, self.description
            app.tags, app.extension = self.tags, self.extension

    class Disabled(Event):
        TOPIC = "authledger:AppDisabled"

        def apply(self, app: App) -> None:
            app.enabled = False

    class Enabled(Event):
        TOPIC = "authledger:AppEnabled"

        def apply(self, app: App) -> None:
            app.enabled = True

    class Deleted(Event):
        TOPIC = "authledger:AppDeleted"

        def apply(self, app: App) -> None:
            app.deleted = True

    class KeyPairAdded(Event):
        TOPIC = "authledger:KeyPairAdded"
        app_key: str
        secret_sealed: bytes
        is_default: bool

        def apply(self, app: App) -> None:
            ts = self.timestamp
            app.key_pairs[self.app_key] = KeyPair(self.app_key, self.secret_sealed, self.is_default, ts, ts)

    class KeyPairDeleted(Event):
        TOPIC = "authledger:KeyPairDeleted"
        app_key: str

        def apply(self, app: App) -> None:
            del app.key_pairs[self.app_key]

    class KeyPairReset(Event):
        """A new secret (and possibly a new AppKey) for a pair; the old secret stops working."""

        TOPIC = "authledger:KeyPairReset"
        app_key: str
        new_app_key: str
        secret_sealed: bytes

        def apply(self, app: App) -> None:
            old = app.key_pairs[self.app_key]
            pair = KeyPair(self.new_app_key, self.secret_sealed, old.is_default, old.added_at, self.timestamp)
            # Keep the pair's place in the order under its (possibly new) AppKey.
            app.key_pairs = {
                (pair.app_key if k == self.app_key else k): (pair if k == self.app_key else v)
                for k, v in app.key_pairs.items()
            }

    class AppCodeAdded(Event):
        TOPIC = "authledger:AppCodeAdded"
        code_hash: str
        code_sealed: bytes
        hint: str

        def apply(self, app: App) -> None:
            app.app_codes[self.code_hash] = AppCode(self.code_hash, self.code_sealed, self.hint, self.timestamp)

    class AppCodeDeleted(Event):
        TOPIC = "authledger:AppCodeDeleted"
        code_hash: str

        def apply(self, app: App) -> None:
            del app.app_codes[self.code_hash]

    class AppCodeReset(Event):
        TOPIC = "authledger:AppCodeReset"
        code_hash: str
        new_code_hash: str
        code_sealed: bytes
        hint: str

        def apply(self, app: App) -> None:
            del app.app_codes[self.code_hash]
            app.app_codes[self.new_code_hash] = AppCode(
                self.new_code_hash, self.code_sealed, self.hint, self.timestamp
            )

    class GrantGiven(Event):
        """The API's owner lets the app call the API in a stage (until an end time, or forever)."""

        TOPIC = "authledger:GrantGiven"
        # Version 2 added ``description`` (optional: what the grant is for, as the vendor's
        # SetAppsAuthorities takes). Events written before it are read through upcast_v1_v2.
        class_version = 2
        api_id: str
        stage: str
        until: datetime | None
        description: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["description"] = None

        def apply(self, app: App) -> None:
            ts = self.timestamp
            app.grants[(self.api_id, self.stage)] = Grant(
                self.api_id, self.stage, self.until, self.actor, ts, ts, self.description
            )

    class GrantEndChanged(Event):
        """A grant given again: its end time is renewed or shortened."""

        TOPIC = "authledger:GrantEndChanged"
        api_id: str
        stage: str
        until: datetime | None

        def apply(self, app: App) -> None:
            g = app.grants[(self.api_id, self.stage)]
            g.until, g.changed_at = self.until, self.timestamp

    class GrantRevoked(Event):
        """A grant taken back, by the API's owner (provider) or the app's owner (consumer)."""

        TOPIC = "authledger:GrantRevoked"
        api_id: str
        stage: str
        role: str

        def apply(self, app: App) -> None:
            del app.grants[(self.api_id, self.stage)]

    # -- guards ---------------------------------------------------------------------

    def require_live(self) -> None:
        if self.deleted:
            raise AppIsDeleted(self.id)

    def key_pair(self, app_key: str) -> KeyPair:
        try:
            return self.key_pairs[app_key]
        except KeyError:
            raise KeyPairNotFound(app_key) from None

    def app_code(self, code_hash: str) -> AppCode:
        try:
            return self.app_codes[code_hash]
        except KeyError:
            raise AppCodeNotFound(f" on app {self.id}") from None

    # -- commands (each returns False when nothing would change) ----------------------

    def modify(self, name: str, description: str, tags: dict[str, str], extension: str) -> bool:
        self.require_live()
        if (name, description, tags, extension) == (self.name, self.description, self.tags, self.extension):
            return False
        self.trigger_event(App.Modified, name=name, description=description, tags=tags, extension=extension)
        return True

    def disable(self) -> bool:
        self.require_live()
        if not self.enabled:
            return False
        self.trigger_event(App.Disabled)
        return True

    def enable(self) -> bool:
        self.require_live()
        if self.enabled:
            return False
        self.trigger_event(App.Enabled)
        return True

    def delete(self) -> None:
        self.require_live()
        self.trigger_event(App.Deleted)

    def add_key_pair(self, app_key: str, secret_sealed: bytes) -> None:
        self.require_live()
        if len(self.key_pairs) >= MAX_KEY_PAIRS:
            raise KeyPairLimitReached(MAX_KEY_PAIRS)
        self.trigger_event(
            App.KeyPairAdded, app_key=app_key, secret_sealed=secret_sealed, is_default=not self.key_pairs
        )

    def delete_key_pair(self, app_key: str) -> None:
        self.require_live()
        if self.key_pair(app_key).is_default:
            raise DefaultKeyPairUndeletable(app_key)
        self.trigger_event(App.KeyPairDeleted, app_key=app_key)

    def reset_key_pair(self, app_key: str, new_app_key: str, secret_sealed: bytes) -> None:
        self.require_live()
        self.key_pair(app_key)
        self.trigger_event(App.KeyPairReset, app_key=app_key, new_app_key=new_app_key, secret_sealed=secret_sealed)

    def add_app_code(self, code_hash: str, code_sealed: bytes, hint: str) -> None:
        self.require_live()
        self.trigger_event(App.AppCodeAdded, code_hash=code_hash, code_sealed=code_sealed, hint=hint)

    def delete_app_code(self, code_hash: str) -> None:
        self.require_live()
        self.app_code(code_hash)
        self.trigger_event(App.AppCodeDeleted, code_hash=code_hash)

    def reset_app_code(self, code_hash: str, new_code_hash: str, code_sealed: bytes, hint: str) -> None:
        self.require_live()
        self.app_code(code_hash)
        self.trigger_event(
            App.AppCodeReset, code_hash=code_hash, new_code_hash=new_code_hash, code_sealed=code_sealed, hint=hint
        )

    def grant(self, api_id: str, stage: str, until: datetime | None, description: str | None = None) -> bool:
        """Give a grant, or give it again with a new end time (a grant keeps the description
        it was given with: giving it again changes only its end time)."""
        self.require_live()
        current = self.grants.get((api_id, stage))
        if current is None:
            self.trigger_event(App.GrantGiven, api_id=api_id, stage=stage, until=until, description=description)
            return True
        if current.until == until:
            return False
        self.trigger_event(App.GrantEndChanged, api_id=api_id, stage=stage, until=until)
        return True

    def revoke(self, api_id: str, stage: str, role: str) -> None:
        self.require_live()
        if (api_id, stage) not in self.grants:
            raise GrantNotFound(self.id, api_id, stage)
        self.trigger_event(App.GrantRevoked, api_id=api_id, stage=stage, role=role)


class AppKeyClaim(Aggregate):
    """Claims an AppKey for one app, forever: its id is uuid5 of the normalised AppKey."""

    TOPIC = "authledger:AppKeyClaim"

    class Event(LedgerEvent):
        TOPIC = "authledger:AppKeyClaim.Event"

    class Created(Event, Aggregate.Created):  # never stored (see above)
        TOPIC = "authledger:AppKeyClaim.Created"

    @event("AppKeyClaimed", **_topic("AppKeyClaimed"))
    def __init__(self, app_key: str, app_id: str) -> None:
        self.app_key = app_key
        self.app_id = app_id

    @staticmethod
    def create_id(app_key: str) -> UUID:
        return uuid5(NAMESPACE, "appkey:" + app_key.lower())


class AppCodeClaim(Aggregate):
    """Claims an AppCode (by its keyed hash) for one app, forever."""

    TOPIC = "authledger:AppCodeClaim"

    class Event(LedgerEvent):
        TOPIC = "authledger:AppCodeClaim.Event"

    class Created(Event, Aggregate.Created):  # never stored (see above)
        TOPIC = "authledger:AppCodeClaim.Created"

    @event("AppCodeClaimed", **_topic("AppCodeClaimed"))
    def __init__(self, code_hash: str, app_id: str) -> None:
        self.code_hash = code_hash
        self.app_id = app_id

    @staticmethod
    def create_id(code_hash: str) -> UUID:
        return uuid5(NAMESPACE, "appcode:" + code_hash)




class IdempotencyRecord(Aggregate):
    """A command done under a client's idempotency key: what was asked and what came of it.

    ``key`` is the keyed hash of the client's key (``h1:`` + hex; records older than that
    hold the key verbatim). Its id is uuid5 of (account, key), so one key of one account is recorded once, in the
    same transaction as the command's own events: a racing second use of the key loses at
    the save, like a second claim of an AppKey. ``fingerprint`` is a keyed hash of the
    request (it may carry a custom secret); ``result`` holds ids only, never a secret;
    ``withheld`` names the secrets the first response revealed (shown once, never again).
    """

    TOPIC = "authledger:IdempotencyRecord"

    class Event(LedgerEvent):
        TOPIC = "authledger:IdempotencyRecord.Event"

    class Created(Event, Aggregate.Created):  # never stored (see above)
        TOPIC = "authledger:IdempotencyRecord.Created"

    @event("IdempotencyKeyUsed", **_topic("IdempotencyKeyUsed"))
    def __init__(self, account: str, key: str, operation: str, fingerprint: str, result: dict[str, Any],
                 withheld: tuple[str, ...], events: int) -> None:
        self.account = account
        self.key = key
        self.operation = operation
        self.fingerprint = fingerprint
        self.result = result
        self.withheld = withheld
        self.events = events

    @staticmethod
    def create_id(account: str, key: str) -> UUID:
        return uuid5(NAMESPACE, "idempotency:" + account + "\n" + key)
