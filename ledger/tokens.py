"""Bearer tokens for the HTTP admin API: issued and revoked as events, stored only as hashes.

A token is ``alt_`` + 43 URL-safe characters (256 random bits). The ledger keeps only its
SHA-256 (hex) — plain, unkeyed: with 256 bits of entropy there is nothing to brute-force,
and a hash keeps lookups working without the secret key. The token's id is uuid5 of that
hash, so ``principal_for_token`` is one aggregate read. The plaintext is revealed once, in
the receipt of ``issue_token``.

Roles and scopes (issue 14.1). A token acts for one account with one role:

- ``owner``: the account's own apps and APIs (what every token could do before roles);
- ``auditor``: reads everything of every account, writes nothing;
- ``admin``: issues and revokes tokens for any account, reads everything, and the
  break-glass actions on any account's apps and grants (authledger.service.admin says which);
  every event it writes carries the admin's own account as its actor.

Scopes narrow a token further: ``read-only`` (no writes), and at most one of ``app:<id>``
or ``api:<id>`` (only requests about that app or API; owner tokens only, and the account
must own it). An optional expiry ends it. All of it is in the ``TokenIssued`` event
(its actor is whoever issued it); ``TokenRevoked`` ends it early. Scopes never change
after issuance: to narrow a token, issue a narrower one and revoke the old. Tokens issued
before roles existed read as role ``owner``, no scope, no expiry.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger import rules
from ledger.domain import NAMESPACE, LedgerEvent
from ledger.errors import ApiNotFound, AppNotFound, InvalidInput, NotFound, NotPermitted
from ledger.idempotency import Request
from ledger.isotime import iso

if TYPE_CHECKING:
    from ledger.application import Ledger, Receipt

PREFIX = "alt_"
TOKEN_ISSUED = "authledger:TokenIssued"
TOKEN_REVOKED = "authledger:TokenRevoked"
MAX_LABEL = 128
_MAX_TOKEN_LENGTH = 128  # anything longer is not one of ours; don't hash it
PAGE = 500

OWNER, AUDITOR, ADMIN = "owner", "auditor", "admin"
ROLES = (OWNER, AUDITOR, ADMIN)
READ_ONLY = "read-only"


class TokenNotFound(NotFound):
    def __init__(self, token_id: object) -> None:
        super().__init__(f"token not found: {token_id}", field="token_id")


def token_hash(token: str) -> str:
    """SHA-256 of the token, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Token(Aggregate):
    """A bearer token bound to one account; its id is uuid5 of the token's hash."""

    TOPIC = "authledger:Token"

    class Event(LedgerEvent):
        TOPIC = "authledger:Token.Event"

    @event("TokenIssued", topic=TOKEN_ISSUED)
    def __init__(self, token_hash: str, account: str, label: str, role: str = OWNER,
                 scopes: tuple[str, ...] = (), expires_at: datetime | None = None) -> None:
        # role/scopes/expires_at: absent from tokens issued before roles (owner, none, never).
        self.token_hash = token_hash
        self.account = account
        self.label = label
        self.role = role
        self.scopes = tuple(scopes)
        self.expires_at = expires_at
        self.revoked = False
        self.revoked_at: datetime | None = None
        self.revoked_by: str | None = None

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return uuid5(NAMESPACE, "token:" + token_hash)

    class Revoked(Event):
        TOPIC = TOKEN_REVOKED

        def apply(self, token: Token) -> None:
            token.revoked = True
            token.revoked_at = self.timestamp
            token.revoked_by = self.actor

    def revoke(self) -> bool:
        if self.revoked:
            return False
        self.trigger_event(Token.Revoked)
        return True


@dataclass(frozen=True)
class Principal:
    """Who a live token acts as: its account, role and scopes (the admin API's caller)."""

    token_id: str
    account: str
    role: str = OWNER
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None

    @property
    def read_only(self) -> bool:
        return READ_ONLY in self.scopes or self.role == AUDITOR

    @property
    def app_id(self) -> str | None:
        return _scoped(self.scopes, "app")

    @property
    def api_id(self) -> str | None:
        return _scoped(self.scopes, "api")

    @property
    def resource_scoped(self) -> bool:
        return self.app_id is not None or self.api_id is not None

    @property
    def sees_all(self) -> bool:
        """Reads every account's apps, APIs, grants and history (auditor, admin)."""
        return self.role in (AUDITOR, ADMIN)


def _scoped(scopes: tuple[str, ...], kind: str) -> str | None:
    for s in scopes:
        if s.startswith(kind + ":"):
            return s[len(kind) + 1:]
    return None


@dataclass(frozen=True)
class TokenView:
    token_id: str
    account: str
    label: str
    issued_at: datetime
    revoked: bool
    revoked_at: datetime | None
    role: str = OWNER
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None
    issued_by: str | None = None
    revoked_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "account": self.account,
            "label": self.label,
            "role": self.role,
            "scopes": list(self.scopes),
            "expires_at": iso(self.expires_at),
            "issued_at": iso(self.issued_at),
            "issued_by": self.issued_by,
            "revoked": self.revoked,
            "revoked_at": iso(self.revoked_at),
            "revoked_by": self.revoked_by,
        }


def _label(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_LABEL or not value.isprintable():
        raise InvalidInput(f"label must be printable text of at most {MAX_LABEL} characters", field="label")
    return value


def _role(value: object) -> str:
    if value not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {rules._short(value)!r}", field="role")
    return str(value)


def _scopes(ledger: Ledger, value: object, account: str, role: str) -> tuple[str, ...]:
    """Validated scopes, canonical order: read-only first, then the one app or API."""
    from ledger.application import parse_id

    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(s, str) for s in value):
        raise InvalidInput("scopes must be a list of: read-only, app:<app id>, api:<api id>", field="scopes")
    read_only = False
    resource: str | None = None
    for s in value:
        kind, sep, ident = s.partition(":")
        if s == READ_ONLY:
            read_only = True
            continue
        if not sep or kind not in ("app", "api"):
            raise InvalidInput(f"unknown scope {rules._short(s)!r} (read-only, app:<app id>, api:<api id>)",
                               field="scopes")
        uid = parse_id(ident, kind)
        scope = f"{kind}:{uid}"
        if resource is not None and resource != scope:
            raise InvalidInput("a token is scoped to at most one app or one API", field="scopes")
        if role != OWNER:
            raise InvalidInput(f"only owner tokens take an app or API scope (an {role} reads every account)",
                               field="scopes")
        thing = ledger.get_app(uid) if kind == "app" else ledger.get_api(uid)
        if thing.owner != account:
            # The same answer as an unknown id: no oracle on other accounts' apps and APIs.
            raise AppNotFound(uid) if kind == "app" else ApiNotFound(uid)
        resource = scope
    return ((READ_ONLY,) if read_only else ()) + ((resource,) if resource else ())


def issue_token(ledger: Ledger, account: str, label: str = "", *, role: str = OWNER, scopes: object = None,
                expires_at: object = None, issuer: Principal | None = None, actor: str | None = None,
                source: str = "cli", idempotency: Request | None = None) -> Receipt:
    """Issue a bearer token for ``account``; the receipt reveals the token once.

    ``issuer``: the token issuing it over HTTP (None: the CLI on the server's machine,
    which may issue anything, recorded as ``actor`` — by default the account itself). An
    owner issues owner tokens for its own account, never outliving its own expiry; an admin
    issues any role for any account; an auditor and a scoped or read-only token issue none.
    """
    from ledger.core import Changes, Receipt

    rules.account(account, "account")
    label = _label(label)
    role = _role(role)
    expires = None if expires_at is None else rules.aware_instant(expires_at, "expires_at")
    if expires is not None and expires <= datetime.now(UTC):
        raise InvalidInput(f"expires_at must be in the future, got {expires.isoformat()}", field="expires_at")
    if issuer is not None:
        actor = issuer.account
        if issuer.role == AUDITOR or issuer.read_only or issuer.resource_scoped:
            raise NotPermitted("this token may not issue tokens", field="authorization")
        if issuer.role != ADMIN:
            if account != issuer.account:
                raise NotPermitted("an owner issues tokens for its own account only (an admin for any)",
                                   field="account")
            if role != OWNER:
                raise NotPermitted(f"only an admin issues {role} tokens", field="role")
            if issuer.expires_at is not None:  # a token cannot mint one that outlives it
                if expires is None or expires > issuer.expires_at:
                    expires = issuer.expires_at
    actor = rules.account(actor if actor is not None else account, "actor")
    scope_list = _scopes(ledger, scopes, account, role)

    def command() -> Changes:
        plaintext = PREFIX + secrets.token_urlsafe(32)
        token = Token(token_hash=token_hash(plaintext), account=account, label=label, role=role,
                      scopes=scope_list, expires_at=expires)
        receipt = Receipt(ids={"token_id": str(token.id), "account": account, "label": label, "role": role,
                               "scopes": list(scope_list),
                               "expires_at": iso(expires)},
                          revealed={"token": plaintext})
        return Changes(token, receipt=receipt)

    return ledger._run(actor, source, None, command, idempotency)


def _get(ledger: Ledger, token_id: UUID) -> Token | None:
    return ledger._get(token_id, Token)


def revoke_token(ledger: Ledger, token_id: object, actor: str, *, admin: bool = False,
                 source: str = "cli", idempotency: Request | None = None) -> Receipt:
    """Revoke a token (its own account may, or an admin: ``admin=True``); twice changes nothing.

    Another account's token answers as an unknown one: token ids are no oracle."""
    from ledger.core import Changes, Receipt, parse_id

    uid = parse_id(token_id, "token")
    rules.account(actor, "actor")

    def command() -> Changes:
        token = _get(ledger, uid)
        if token is None or (token.account != actor and not admin):
            raise TokenNotFound(uid)
        token.revoke()
        return Changes(token, receipt=Receipt(ids={"token_id": str(uid), "account": token.account,
                                                   "revoked": True}))

    return ledger._run(actor, source, None, command, idempotency)


def principal_for_token(ledger: Ledger, token: object, now: datetime | None = None) -> Principal | None:
    """Who a live token acts as, else None (unknown, revoked, expired or malformed)."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        return None
    hashed = token_hash(token)
    found = _get(ledger, Token.create_id(hashed))
    if found is None or found.revoked:
        return None
    # The id is derived from the hash; compare anyway so a uuid5 collision cannot pass.
    if not secrets.compare_digest(found.token_hash, hashed):
        return None
    expires = getattr(found, "expires_at", None)
    if expires is not None and (now or datetime.now(UTC)) >= expires:
        return None
    return Principal(str(found.id), found.account, getattr(found, "role", OWNER),
                     tuple(getattr(found, "scopes", ())), expires)


def account_for_token(ledger: Ledger, token: object) -> str | None:
    """The account a live token acts for, else None (unknown, revoked, expired or malformed)."""
    p = principal_for_token(ledger, token)
    return None if p is None else p.account


def _view(token: Token, issued_by: str | None) -> TokenView:
    return TokenView(str(token.id), token.account, token.label, token.created_on, token.revoked, token.revoked_at,
                     getattr(token, "role", OWNER), tuple(getattr(token, "scopes", ())),
                     getattr(token, "expires_at", None), issued_by, token.revoked_by)


def _issued(ledger: Ledger) -> Any:
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, PAGE, topics=[TOKEN_ISSUED])
        for n in page:
            yield n, ledger.mapper.to_domain_event(n)
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def list_tokens(ledger: Ledger, account: str | None) -> list[TokenView]:
    """An account's tokens (every account's: None), revoked ones included, oldest first;
    never the token itself."""
    if account is not None:
        rules.account(account, "account")
    found: list[TokenView] = []
    for n, issued in _issued(ledger):
        if account is not None and getattr(issued, "account", None) != account:
            continue
        token = _get(ledger, UUID(str(n.originator_id)))
        if token is None:  # pragma: no cover - the event exists, so does the token
            continue
        found.append(_view(token, getattr(issued, "actor", None)))
    return found


def tokens_at(ledger: Ledger, at: datetime | str, account: str | None = None) -> list[dict[str, Any]]:
    """Who could administer what at ``at``: every token live then (issued, not yet revoked,
    not expired), of one account or all, with its role, scopes and what it could do.

    Answered from the token events alone (issued and revoked instants), so a past instant
    gives the answer as it was, the same way who-could-call does for API calls."""
    if account is not None:
        rules.account(account, "account")
    at = rules.aware_instant(at, "at")
    revoked: dict[str, tuple[datetime, str | None]] = {}
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, PAGE, topics=[TOKEN_REVOKED])
        for n in page:
            e = ledger.mapper.to_domain_event(n)
            revoked.setdefault(str(n.originator_id), (e.timestamp, getattr(e, "actor", None)))
        if len(page) < PAGE:
            break
        start = page[-1].id + 1
    found = []
    for n, issued in _issued(ledger):
        tid = str(n.originator_id)
        if issued.timestamp > at or (account is not None and issued.account != account):
            continue
        end = revoked.get(tid)
        expires = getattr(issued, "expires_at", None)
        if (end is not None and end[0] <= at) or (expires is not None and expires <= at):
            continue
        role = getattr(issued, "role", OWNER)
        scopes = tuple(getattr(issued, "scopes", ()))
        found.append({
            "token_id": tid, "account": issued.account, "label": issued.label, "role": role,
            "scopes": list(scopes), "expires_at": iso(expires),
            "issued_at": iso(issued.timestamp), "issued_by": getattr(issued, "actor", None),
            "revoked_at": iso(end[0]) if end else None,
            "can": powers(issued.account, role, scopes),
        })
    return found


def powers(account: str, role: str, scopes: tuple[str, ...]) -> str:
    """In words: what a token of this role and scopes could do."""
    p = Principal("", account, role, scopes)
    if role == ADMIN:
        what = ("read every account" if p.read_only else
                "issue and revoke tokens for any account, break-glass on any account, read every account")
    elif role == AUDITOR:
        what = "read every account"
    else:
        over = f"app {p.app_id}" if p.app_id else f"API {p.api_id}" if p.api_id else f"account {account}"
        what = ("read " if p.read_only else "administer ") + over
    return what
