"""Bearer tokens for the HTTP admin API: issued and revoked as events, stored only as hashes.

A token is ``alt_`` + 43 URL-safe characters (256 random bits). The ledger keeps only its
SHA-256 (hex) — plain, unkeyed: with 256 bits of entropy there is nothing to brute-force,
and a hash keeps lookups working without the secret key. The token's id is uuid5 of that
hash, so ``account_for_token`` is one aggregate read. The plaintext is revealed once, in
the receipt of ``issue_token``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger import rules
from ledger.domain import NAMESPACE, LedgerEvent
from ledger.errors import InvalidInput, NotFound, NotPermitted
from ledger.isotime import iso

if TYPE_CHECKING:
    from ledger.application import Ledger, Receipt

PREFIX = "alt_"
TOKEN_ISSUED = "authledger:TokenIssued"
MAX_LABEL = 128
_MAX_TOKEN_LENGTH = 128  # anything longer is not one of ours; don't hash it
PAGE = 500


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
    def __init__(self, token_hash: str, account: str, label: str) -> None:
        self.token_hash = token_hash
        self.account = account
        self.label = label
        self.revoked = False
        self.revoked_at: datetime | None = None
        self.revoked_by: str | None = None

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return uuid5(NAMESPACE, "token:" + token_hash)

    class Revoked(Event):
        TOPIC = "authledger:TokenRevoked"

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
class TokenView:
    token_id: str
    account: str
    label: str
    issued_at: datetime
    revoked: bool
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "account": self.account,
            "label": self.label,
            "issued_at": iso(self.issued_at),
            "revoked": self.revoked,
            "revoked_at": iso(self.revoked_at),
        }


def _label(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_LABEL or not value.isprintable():
        raise InvalidInput(f"label must be printable text of at most {MAX_LABEL} characters", field="label")
    return value


def issue_token(ledger: Ledger, account: str, label: str = "", *, source: str = "cli") -> Receipt:
    """Issue a bearer token for ``account``; the receipt reveals the token once."""
    from ledger.application import Receipt

    rules.account(account, "account")
    label = _label(label)

    def command() -> Receipt:
        plaintext = PREFIX + secrets.token_urlsafe(32)
        token = Token(token_hash=token_hash(plaintext), account=account, label=label)
        receipt = Receipt(ids={"token_id": str(token.id), "account": account, "label": label},
                          revealed={"token": plaintext})
        return ledger._commit(token, receipt=receipt)

    return ledger._run(account, source, None, command)


def _get(ledger: Ledger, token_id: UUID) -> Token | None:
    return ledger._get(token_id, Token)


def revoke_token(ledger: Ledger, token_id: object, actor: str, *, source: str = "cli") -> Receipt:
    """Revoke a token (only its own account may); revoking twice changes nothing."""
    from ledger.application import Receipt, parse_id

    uid = parse_id(token_id, "token")
    rules.account(actor, "actor")

    def command() -> Receipt:
        token = _get(ledger, uid)
        if token is None:
            raise TokenNotFound(uid)
        if token.account != actor:
            raise NotPermitted(f"account {actor} does not own token {uid}", field="actor")
        token.revoke()
        return ledger._commit(token, receipt=Receipt(ids={"token_id": str(uid), "revoked": True}))

    return ledger._run(actor, source, None, command)


def account_for_token(ledger: Ledger, token: object) -> str | None:
    """The account a live token acts for, else None (unknown, revoked or malformed)."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        return None
    found = _get(ledger, Token.create_id(token_hash(token)))
    if found is None or found.revoked:
        return None
    # The id is derived from the hash; compare anyway so a uuid5 collision cannot pass.
    if not secrets.compare_digest(found.token_hash, token_hash(token)):
        return None
    return found.account


def list_tokens(ledger: Ledger, account: str) -> list[TokenView]:
    """An account's tokens (revoked ones included), oldest first; never the token itself."""
    rules.account(account, "account")
    found: list[TokenView] = []
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, PAGE, topics=[TOKEN_ISSUED])
        for n in page:
            issued = ledger.mapper.to_domain_event(n)
            if getattr(issued, "account", None) != account:
                continue
            token = _get(ledger, UUID(str(n.originator_id)))
            if token is None:  # pragma: no cover - the event exists, so does the token
                continue
            found.append(TokenView(str(token.id), token.account, token.label, token.created_on,
                                   token.revoked, token.revoked_at))
        if len(page) < PAGE:
            return found
        start = page[-1].id + 1
